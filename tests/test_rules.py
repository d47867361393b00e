"""The shipped Prometheus rules and Alertmanager config: promtool/amtool checks and conventions."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from leo_exporter.catalog import BY_NAME
from leo_exporter.providers import built_in
from tests.conftest import require_tool
from tests.promstack import (
    ALERTMANAGER_CONFIG,
    PROMETHEUS_BUILTINS,
    PROMETHEUS_DIR,
    REPO,
    alerting_rules,
    dashboards,
    metric_names,
    recorded_names,
    rule_files,
    rule_test_files,
    rules,
)

SEVERITIES = {"critical", "warning", "info"}

# Per built-in provider, the polling jobs whose data is terminal state (online flags, inventory,
# service line activity, performance reports), as their JobSpecs say. Their failure or staleness
# pages (LeoExporterDataStale critical) and silences the account's terminal alerts; every other
# job must not (scripts/gen-jobs.py writes the regexes; tests/test_job_specs.py holds them).
TERMINAL_STATE_JOBS = {
    name: {job.name for job in provider.jobs if job.terminal_state} for name, provider in built_in().items()
}
# Alerts that must work for every provider, each with a firing promtool case per provider.
EVERY_PROVIDER_ALERTS = {
    "LeoTerminalOffline",
    "LeoServiceLineUsageHigh",
    "LeoServiceLineUsageLimitReached",
    "LeoServiceLineUsageForecastExceedsLimit",
}


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


# --------------------------------------------------------------------------- the real tools


@pytest.mark.e2e
def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool")
    out = run([promtool, "check", "rules", *map(str, rule_files())]).stdout
    assert out.count("SUCCESS") == len(rule_files())


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_promtool_test_rules() -> None:
    promtool = require_tool("promtool")
    assert rule_test_files(), "no promtool tests in deploy/prometheus/tests"
    run([promtool, "test", "rules", *map(str, rule_test_files())])


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-split.yml", "prometheus-http-sd.yml"])
def test_promtool_check_config(name: str) -> None:
    promtool = require_tool("promtool")
    run([promtool, "check", "config", str(PROMETHEUS_DIR / name)])


@pytest.mark.e2e
def test_amtool_check_config() -> None:
    amtool = require_tool("amtool")
    run([amtool, "check-config", str(ALERTMANAGER_CONFIG)])


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical"], "leo-critical"),
        (["severity=warning"], "leo-warning"),
        (["severity=info"], "leo-null"),
        (["alertname=SomethingElse"], "leo-warning"),
    ],
)
@pytest.mark.e2e
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    amtool = require_tool("amtool")
    out = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            "--config.file",
            str(ALERTMANAGER_CONFIG),
            "provider=starlink",
            "account=fleet-north",
            *labels,
        ]
    ).stdout
    assert out.strip() == receiver


def test_prometheus_config_scrapes_the_exporter_and_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "leo-exporter"]
    # the exporter exports no `job` or `instance` label: the target labels stay Prometheus' own
    assert "honor_labels" not in job
    assert job["scrape_timeout"] < job["scrape_interval"] or job["scrape_timeout"] == job["scrape_interval"]
    assert config["rule_files"] and config["alerting"]["alertmanagers"]
    # LeoExporterDown selects the scrape job by this name
    down = next(r for r in alerting_rules() if r["alert"] == "LeoExporterDown")
    assert 'job="leo-exporter"' in down["expr"]


# --------------------------------------------------------------------------- conventions


def test_alert_names_severities_and_annotations() -> None:
    alerts = alerting_rules()
    assert alerts
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"Leo(?:[A-Z][a-z0-9]*)+", name), f"{name}: not CamelCase with the Leo prefix"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "dashboard"):
            assert annotations.get(key, "").strip(), f"{name}: no {key} annotation"
        assert "{{" in annotations["description"], f"{name}: description is not templated"


def _expected_template_labels(name: str) -> set[str]:
    if name.startswith("LeoTerminal"):
        return {"terminal_id", "name", "service_line", "account", "provider"}
    if name.startswith("LeoServiceLine"):
        return {"service_line", "account", "provider"}
    if name.startswith("LeoUsagePool"):
        return {"sub_pool", "account", "provider"}
    if name in (
        "LeoExporterDown",
        "LeoExporterWorkerDown",
        "LeoExporterWorkerRestarting",
        "LeoExporterTagsFileInvalid",
    ):
        return {"instance"}  # the exporter process as a whole: its scrape target
    if name in ("LeoExporterShardWithoutLeader", "LeoExporterShardLeadershipFlapping"):
        return {"job", "shard"}  # a shard of the scrape job's accounts, whichever replica leads it
    if name == "LeoExporterAbsent":
        return {"job"}  # absent() keeps the selector's labels: the scrape job with no target
    if name == "LeoGroupAvailabilityBelowObjective":
        return {"group_key", "group_value"}  # a group spans accounts and providers
    return {"account", "provider"}


def test_descriptions_name_the_terminal_service_line_and_account() -> None:
    for rule in alerting_rules():
        used = set(re.findall(r"\$labels\.(\w+)", rule["annotations"]["description"]))
        missing = _expected_template_labels(rule["alert"]) - used
        assert not missing, f"{rule['alert']}: description does not mention {sorted(missing)}"


def test_dashboard_annotations_point_at_shipped_dashboards() -> None:
    by_uid = {d["uid"]: d for d in dashboards().values()}
    for rule in alerting_rules():
        link = rule["annotations"]["dashboard"]
        m = re.fullmatch(r"/d/([\w-]+)/[\w-]+(?:\?(.*))?", link)
        assert m, f"{rule['alert']}: dashboard annotation {link!r} is not a Grafana /d/<uid>/<slug> path"
        uid, query = m.groups()
        assert uid in by_uid, f"{rule['alert']}: no dashboard with uid {uid}"
        variables = {v["name"] for v in by_uid[uid]["templating"]["list"]}
        for param in (query or "").split("&"):
            if param:
                var = param.split("=", 1)[0].removeprefix("var-")
                assert var in variables, f"{rule['alert']}: dashboard {uid} has no variable {var}"


def test_recording_rule_names_follow_level_metric_operation() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z_0-9]+", name), f"{name}: not level:metric:operation"


def test_rules_use_only_catalogued_metrics() -> None:
    known = set(BY_NAME) | recorded_names() | PROMETHEUS_BUILTINS
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown metrics {sorted(unknown)}"


def test_alerts_are_documented() -> None:
    doc = (REPO / "docs" / "alerting.md").read_text()
    for name in {r["alert"] for r in alerting_rules()}:
        assert f"`{name}`" in doc, f"{name} is not described in docs/alerting.md"


# --------------------------------------------------------------------------- promtool test coverage


def _rule_test_cases() -> dict[str, dict[str, int]]:
    """alertname -> number of firing and non-firing alert_rule_test cases in the promtool tests."""
    cases: dict[str, dict[str, int]] = {}
    for path in rule_test_files():
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                counts = cases.setdefault(case["alertname"], {"firing": 0, "silent": 0})
                counts["firing" if case.get("exp_alerts") else "silent"] += 1
    return cases


def test_every_alert_has_a_firing_and_a_non_firing_case() -> None:
    cases = _rule_test_cases()
    for name in sorted({r["alert"] for r in alerting_rules()}):
        counts = cases.get(name, {"firing": 0, "silent": 0})
        assert counts["firing"], f"{name}: no promtool case where it fires"
        assert counts["silent"], f"{name}: no promtool case where it must not fire"
    # and every severity variant of an alert (LeoExporterDataStale has two) fires somewhere
    fired = set()
    for path in rule_test_files():
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                fired |= {(case["alertname"], a["exp_labels"].get("severity")) for a in case.get("exp_alerts") or []}
    for rule in alerting_rules():
        assert (rule["alert"], rule["labels"]["severity"]) in fired, (
            f"{rule['alert']} ({rule['labels']['severity']}): no promtool case where this rule fires"
        )


def test_rule_tests_load_the_shipped_rule_files() -> None:
    shipped = {p.resolve() for p in rule_files()}
    for path in rule_test_files():
        doc = yaml.safe_load(path.read_text())
        loaded = {(path.parent / f).resolve() for f in doc["rule_files"]}
        assert loaded <= shipped and loaded, f"{path.name} loads rule files other than the shipped ones"


# --------------------------------------------------------------------------- alertmanager


def test_inhibition_matchers_name_existing_alerts() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    names = {r["alert"] for r in alerting_rules()}
    assert config["route"]["group_by"] == ["provider", "account"]
    for rule in config["inhibit_rules"]:
        for side in ("source_matchers", "target_matchers"):
            for matcher in rule[side]:
                m = re.fullmatch(r'alertname(=~|=)"(.*)"', matcher)
                if not m:
                    continue
                op, value = m.groups()
                pattern = value if op == "=~" else re.escape(value)
                assert any(re.fullmatch(pattern, n) for n in names), f"{side} {matcher} matches no alert"
        assert set(rule["equal"]) <= {"provider", "account", "terminal_id", "service_line", "sub_pool", "pool"}


def test_inhibition_equal_labels_are_carried_by_the_alerts() -> None:
    """An inhibition only works if source and target alerts both carry its `equal` labels: check that
    each alert's expression keeps them (by/on clauses, or the terminal info join)."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    carried: dict[str, set[str]] = {}
    for rule in alerting_rules():
        labels = set(re.findall(r"\b(provider|account|terminal_id|service_line|sub_pool|pool)\b", rule["expr"]))
        for level in ("sub_pool", "pool"):  # the <level>:* recording rules keep provider, account, <level>
            if re.search(rf"\b{level}:", rule["expr"]):
                labels |= {"provider", "account", level}
        carried.setdefault(rule["alert"], set()).update(labels)
    for rule in config["inhibit_rules"]:
        for side in ("source_matchers", "target_matchers"):
            pattern = next(
                (
                    re.fullmatch(r'alertname=~?"(.*)"', m).group(1)  # type: ignore[union-attr]
                    for m in rule[side]
                    if m.startswith("alertname")
                ),
                ".*",
            )
            for name, labels in carried.items():
                if re.fullmatch(pattern, name):
                    missing = set(rule["equal"]) - labels
                    assert not missing, f"{name} lacks {missing} needed by an inhibition ({side})"


def test_terminal_state_jobs_are_the_same_for_staleness_and_inhibition() -> None:
    """LeoExporterDataStale is critical exactly for the jobs whose failure silences terminal alerts."""
    critical = next(
        r for r in alerting_rules() if r["alert"] == "LeoExporterDataStale" and r["labels"]["severity"] == "critical"
    )
    rule_regex = re.search(r'call=~"([^"]+)"', critical["expr"]).group(1)  # type: ignore[union-attr]
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    sources = [m for rule in config["inhibit_rules"] for m in rule["source_matchers"] if m.startswith("call")]
    assert sources == [f'call=~"{rule_regex}"']
    for provider, definition in built_in().items():
        assert TERMINAL_STATE_JOBS[provider], f"{provider}: no job feeds terminal state"
        for job in sorted(job.name for job in definition.jobs):
            # the `call` label is the bare call name, shared across providers: a call named the same
            # on two providers must be terminal state on both or on neither
            expected = job in TERMINAL_STATE_JOBS[provider]
            assert bool(re.fullmatch(rule_regex, job)) == expected, (
                f"{provider} {job} {'must' if expected else 'must not'} match the terminal-state call regex "
                f"{rule_regex}"
            )


def test_recording_rules_are_documented() -> None:
    doc = (REPO / "docs" / "alerting.md").read_text()
    for name in recorded_names():
        assert f"`{name}`" in doc, f"{name} is not described in docs/alerting.md"


def test_offline_and_usage_alerts_fire_for_every_provider() -> None:
    """The provider-agnostic alerts have a firing promtool case with each provider's labels."""
    fired: dict[str, set[str]] = {}
    for path in rule_test_files():
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    fired.setdefault(case["alertname"], set()).add(alert["exp_labels"].get("provider"))
    for name in sorted(EVERY_PROVIDER_ALERTS):
        missing = set(TERMINAL_STATE_JOBS) - fired.get(name, set())
        assert not missing, f"{name}: no promtool case where it fires for {sorted(missing)}"
