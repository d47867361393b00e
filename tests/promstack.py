"""Helpers for the rule, dashboard and Prometheus end-to-end tests.

Reading the shipped deploy/ files, pulling metric names out of PromQL, substituting Grafana
variables, and running real Prometheus / Alertmanager / exporter processes on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"

# Series Prometheus itself makes, which dashboards and rules may use besides the exporter's.
PROMETHEUS_BUILTINS = {"ALERTS", "ALERTS_FOR_STATE", "up", "scrape_duration_seconds", "scrape_samples_scraped"}
ONEWEB_ONLY_MARK = "OneWeb only"
# Panels of the hourly availability rules: empty until the rules have run for hours (the
# end-to-end stacks run for minutes; tests/test_availability_history.py queries them on a month).
NEEDS_HISTORY_MARK = "Needs hours of history"

# --------------------------------------------------------------------------- shipped files


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.test.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every shipped rule file, each with the name of its group."""
    out = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend({**rule, "_group": group["name"], "_file": path.name} for rule in group["rules"])
    return out


def alerting_rules() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; row panels themselves excluded."""
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            yield from p.get("panels", [])
        else:
            yield p


# --------------------------------------------------------------------------- PromQL

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression (or a Grafana `label_values(...)` query) selects.

    Not a parser, but enough for our expressions: drops strings, label matchers, ranges and
    label lists, then keeps identifiers that are neither functions nor keywords.
    """
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\blabel_values\s*\(([^,()]+),[^)]*\)", r"(\1)", s)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\b(?!\s*\()", s):
        word = m.group(1)
        if word.lower() in _KEYWORDS or word.startswith("$"):
            continue
        names.add(word)
    return names


def grafana_variables_used(expr: str) -> set[str]:
    """Grafana variables an expression uses; `$1` (a label_replace reference) is none: Grafana leaves
    names it does not know alone, and variable names never start with a digit here."""
    return {name for name in re.findall(r"\$\{?(\w+)", expr) if not name[0].isdigit()}


def substitute(
    expr: str, values: dict[str, str], *, rate_interval: str = "1m", rng: str = "5m", interval: str = "15s"
) -> str:
    """Grafana-style variable substitution for a test query."""
    builtins = {"__rate_interval": rate_interval, "__range": rng, "__interval": interval}
    merged = {**builtins, **values}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name[0].isdigit():  # a label_replace reference such as $1, left alone like Grafana does
            return m.group(0)
        if name not in merged:
            raise KeyError(f"variable ${name} has no value in {expr!r}")
        return merged[name]

    # longest names first, e.g. $service_line before $service
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def rewrite_for_durations(text: str, duration: str) -> str:
    """A rule file with every `for:` and every group `interval:` (the hourly availability group)
    shortened, for end-to-end runs (never the shipped rules): the stacks run for seconds."""
    return re.sub(r"(?m)^(\s+(?:for|interval):\s*)\S+", rf"\g<1>{duration}", text)


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@dataclass
class ProcessGroup:
    """Processes started by a test, stopped in reverse order however the test ends."""

    procs: list[Process] = field(default_factory=list)

    def start(
        self, name: str, cmd: list[str], log_path: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> Process:
        log = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, **(env or {})},
            )
        finally:
            log.close()
        proc = Process(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()


def wait_http(url: str, proc: Process, *, timeout: float, status: int = 200) -> httpx.Response:
    """Poll `url` until it answers `status`; fail early with the log if the process died."""
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log()}")
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == status:
                return resp
            last = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready after {timeout:.0f}s ({last}); {proc.name} log:\n{proc.log()}")


class PromAPI:
    """The few Prometheus HTTP API calls the tests need."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=10)

    def _get(self, path: str, **params: Any) -> Any:
        resp = self.client.get(f"{self.url}{path}", params=params)
        body = resp.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr: str, seconds: float, step: float) -> list[dict[str, Any]]:
        end = time.time()
        data = self._get("/api/v1/query_range", query=expr, start=end - seconds, end=end, step=step)
        return [r for r in data["result"] if r.get("values")]

    def label_values(self, label: str, match: str) -> list[str]:
        return sorted(self._get(f"/api/v1/label/{label}/values", **{"match[]": match}))

    def rules(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/rules")["groups"]


# --------------------------------------------------------------------------- dashboards against Prometheus

RANGE_SECONDS = 30


def prometheus_config(
    exporter: str, rules_glob: str, alertmanager: str | None = None, file: str = "prometheus.yml"
) -> dict[str, Any]:
    """The shipped Prometheus config `file`, scraping and evaluating every second (a split config's
    slower jobs every `slow` seconds, SPLIT_SLOW), pointed at `exporter`."""
    config = yaml.safe_load((PROMETHEUS_DIR / file).read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [rules_glob]
    if alertmanager:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    else:
        config.pop("alerting", None)
    for job in config["scrape_configs"]:
        slow = job["job_name"] != "leo-exporter"
        for group in job.get("static_configs", []):
            group["targets"] = [exporter]
        for sd in job.get("http_sd_configs", []):  # the exporter's /http_sd, asked again every second
            sd["url"] = urllib.parse.urlsplit(sd["url"])._replace(netloc=exporter).geturl()
            sd["refresh_interval"] = "1s"
        interval = SPLIT_SLOW if slow else "1s"
        job.update(scrape_interval=interval, scrape_timeout="1s")
    return config


SPLIT_SLOW = "4s"  # the slow job of prometheus-split.yml in tests: four times the fast one, as 2m : 30s


def start_prometheus(
    procs: ProcessGroup, tmp: Path, exporter: str, alertmanager: str | None = None, file: str = "prometheus.yml"
) -> tuple[PromAPI, Process]:
    """A real Prometheus on a free port with the shipped config and rules (`for:` shortened to 1s)."""
    from tests.conftest import free_port, require_tool

    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    for path in rule_files():
        (rules_dir / path.name).write_text(rewrite_for_durations(path.read_text(), "1s"))
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(exporter, str(rules_dir / "*.yml"), alertmanager, file)))
    prom = procs.start(
        "prometheus",
        [
            require_tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp / "prometheus.log",
    )
    return PromAPI(f"http://127.0.0.1:{port}"), prom


@contextlib.contextmanager
def simulator_exporter_and_prometheus(tmp: Path, file: str) -> Iterator[tuple[PromAPI, str]]:
    """The exporter on its built-in simulator (the tests' fixed date), every first run rendered, and
    a real Prometheus with the shipped config `file` scraping it: (Prometheus, the exporter's URL)."""
    from tests.conftest import SIMULATED_DATE, free_port

    procs = ProcessGroup()
    try:
        port = free_port()
        argv = [sys.executable, "-m", "leo_exporter", "--web.listen-address", f"127.0.0.1:{port}"]
        exporter = procs.start("exporter", [*argv, "--simulator.now", SIMULATED_DATE], tmp / "exporter.log", cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz", exporter, timeout=60)
        deadline = time.monotonic() + 60
        while "first runs: all rendered" not in httpx.get(f"{url}/readyz?verbose", timeout=5).text:
            assert time.monotonic() < deadline, "the exporter's first runs did not all render"
            time.sleep(0.25)
        prom, proc = start_prometheus(procs, tmp, f"127.0.0.1:{port}", file=file)
        wait_http(f"{prom.url}/-/ready", proc, timeout=30)
        yield prom, url
    finally:
        procs.stop_all()


def assert_every_shipped_rule_evaluates(prom: PromAPI) -> None:
    """After 12 s of the fast job's scrapes, every shipped rule has evaluated without an error, and
    terminals (fast) join service lines (slow) across the targets."""
    poll(
        "12 s of scrapes",
        lambda: any(
            float(r["value"][1]) >= 12 for r in prom.query('count_over_time(up{job="leo-exporter",collect="fast"}[1m])')
        ),
        timeout=60,
    )

    def evaluated() -> list[dict[str, Any]] | None:
        flat = [r for g in prom.rules() for r in g["rules"]]
        return flat if flat and not any(r["lastEvaluation"].startswith("0001") for r in flat) else None

    flat = poll("every rule evaluated", evaluated, timeout=30)
    assert len(flat) == len(rules())
    broken = [(r["name"], r.get("lastError")) for r in flat if r["health"] != "ok"]
    assert not broken, f"rules failing to evaluate: {broken}"
    join = "leo_terminal_info * on (provider, account, service_line) group_left leo_service_line_active"
    assert prom.query(join)


def poll(what: str, check: Any, *, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def variable_values(prom: PromAPI, var: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The values Grafana's Prometheus data source offers for a query variable."""
    definition = substitute(var["query"].strip(), values)
    if definition == "label_names()":
        pattern = re.compile(var["regex"].strip("/"))
        return sorted(name for name in prom._get("/api/v1/labels") if pattern.search(name))
    if definition.startswith("label_values("):
        selector, _, label = definition.removeprefix("label_values(").removesuffix(")").rpartition(",")
        return prom.label_values(label.strip(), selector.strip())
    assert definition.startswith("query_result("), definition
    results = prom.query(definition.removeprefix("query_result(").removesuffix(")"))
    # Grafana formats each series as `name{label="value", ...} value timestamp` and applies the regex,
    # taking the `value` group (or the first group) as the variable's value
    lines = []
    for r in results:
        metric = dict(r["metric"])
        name = metric.pop("__name__", "")
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
        lines.append(f"{name}{{{labels}}} {r['value'][1]} {int(float(r['value'][0]) * 1000)}")
    if not var.get("regex"):
        return lines
    pattern = re.compile(var["regex"].strip("/").replace("(?<", "(?P<"))
    out = []
    for line in lines:
        m = pattern.search(line)
        if m:
            out.append(m.groupdict().get("value") or m.group(1))
    return sorted(set(out))


def assignments(prom: PromAPI, dashboard: dict[str, Any], limit: int = 400) -> list[dict[str, str]]:
    """Every combination of variable values Prometheus offers, resolved in order like Grafana does."""
    combos: list[dict[str, str]] = [{}]
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        resolved = []
        for combo in combos:
            resolved.extend({**combo, var["name"]: value} for value in variable_values(prom, var, combo))
        assert resolved, f"variable {var['name']} ({var['query']}) has no values"
        combos = resolved[:limit]
    return combos


def has_data(prom: PromAPI, target: dict[str, Any], values: dict[str, str]) -> bool:
    # $__interval is a day in the daily bars; 5 s keeps `offset $__interval` within the test's history
    expr = substitute(target["expr"], values, rate_interval="1m", rng="5m", interval="5s")
    if target.get("instant"):
        return bool(prom.query(expr))
    return bool(prom.query_range(expr, RANGE_SECONDS, 2))


def empty_queries(prom: PromAPI, combos: list[dict[str, str]], dashboard: dict[str, Any]) -> list[str]:
    """Every panel query of the dashboard that has no data for any of the variable combinations."""
    return [
        f"{panel['title']} [{target['refId']}]: {target['expr']}"
        for panel in panels(dashboard)
        if NEEDS_HISTORY_MARK not in panel.get("description", "")
        for target in panel["targets"]
        if not any(has_data(prom, target, values) for values in combos)
    ]
