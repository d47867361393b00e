"""End to end with the real tools: Prometheus scrapes the exporter in simulation mode with the shipped
config and rules, and sends alerts to a real Alertmanager running the shipped config.

The demo simulates Starlink, Kognitive and OneWeb accounts. Checks that every rule evaluates without
error and covers every provider, that every dashboard query returns data once its variables are
filled with values Prometheus knows, and that the alerts the simulator provokes (offline terminals
of each provider, a critical terminal alert) reach Alertmanager and its critical receiver.

Only the test's copies are changed: scrape and evaluation every second, `for:` shortened to 1s,
Alertmanager's group waits shortened and its webhooks pointed at a local recorder.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import SIMULATED_DATE, free_port, require_tool
from tests.promstack import (
    ALERTMANAGER_CONFIG,
    REPO,
    ProcessGroup,
    PromAPI,
    assignments,
    dashboards,
    empty_queries,
    poll,
    rules,
    start_prometheus,
    wait_http,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

# Alerts the simulator provokes: each provider has terminals offline while their service line is
# active, and a Starlink terminal has actuator_motor_stuck or thermal_shutdown most of the time.
PROVIDERS = {"starlink", "kognitive", "oneweb"}
OFFLINE = "LeoTerminalOffline"
CRITICAL_TERMINAL = {"LeoTerminalHardwareFault", "LeoTerminalThermalShutdown"}
ALERT_WAIT = 90


class Recorder(BaseHTTPRequestHandler):
    """Alertmanager webhook receiver: keeps (path, payload) of every notification."""

    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, json.loads(body or b"{}")))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Stack:
    prom: PromAPI
    am_url: str
    received: list[tuple[str, dict[str, Any]]]
    procs: ProcessGroup
    started: float


def _alertmanager_binary() -> str:
    import shutil

    return shutil.which("alertmanager") or require_tool("prometheus-alertmanager")


def _alertmanager_config(hook: str) -> dict[str, Any]:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())

    def shorten(route: dict[str, Any]) -> None:
        if "group_wait" in route:
            route["group_wait"] = "1s"
        if "group_interval" in route:
            route["group_interval"] = "1s"
        for sub in route.get("routes", []):
            shorten(sub)

    shorten(config["route"])
    for receiver in config["receivers"]:
        for hook_config in receiver.get("webhook_configs", []):
            path = httpx.URL(hook_config["url"]).path
            hook_config["url"] = f"{hook}{path}"
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    alertmanager = _alertmanager_binary()
    tmp: Path = tmp_path_factory.mktemp("promstack")
    started = time.monotonic()
    procs = ProcessGroup()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Recorder)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # the exporter, simulating its providers
        exporter_port = free_port()
        exporter = procs.start(
            "exporter",
            [
                sys.executable,
                "-m",
                "leo_exporter",
                "--web.listen-address",
                f"127.0.0.1:{exporter_port}",
                "--simulator.now",
                SIMULATED_DATE,
                # the Wi-Fi client panels of Terminal detail need this group, off by default
                "--collector.router_wifi",
            ],
            tmp / "exporter.log",
            cwd=REPO,
        )
        # Alertmanager with the shipped routing and inhibitions
        am_port = free_port()
        am_config = tmp / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(_alertmanager_config(f"http://127.0.0.1:{server.server_port}")))
        am = procs.start(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={am_config}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
        )
        # Prometheus with the shipped config and rules, `for:` shortened
        prom_api, prom = start_prometheus(procs, tmp, f"127.0.0.1:{exporter_port}", f"127.0.0.1:{am_port}")
        wait_http(f"http://127.0.0.1:{exporter_port}/readyz", exporter, timeout=60)
        first_runs = time.monotonic() + 60  # ready means serving; these tests want every job's first data
        verbose = f"http://127.0.0.1:{exporter_port}/readyz?verbose"
        while "first runs: all rendered" not in httpx.get(verbose, timeout=5).text and time.monotonic() < first_runs:
            time.sleep(0.25)
        wait_http(f"http://127.0.0.1:{am_port}/-/ready", am, timeout=30)
        wait_http(f"{prom_api.url}/-/ready", prom, timeout=30)
        yield Stack(prom_api, f"http://127.0.0.1:{am_port}", server.received, procs, started)
    finally:
        procs.stop_all()
        server.shutdown()
        server.server_close()


def enough_history(stack: Stack) -> None:
    """The exporter is scraped and the rules have run for a while: range functions have samples."""
    poll(
        "15 s of scrapes",
        lambda: any(
            float(r["value"][1]) >= 15 for r in stack.prom.query('count_over_time(up{job="leo-exporter"}[1m])')
        ),
        timeout=60,
    )


# --------------------------------------------------------------------------- rules


def test_rules_evaluate_without_error(stack: Stack) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = stack.prom.rules()
        flat = [r for g in groups for r in g["rules"]]
        if not flat or any(r["lastEvaluation"].startswith("0001") for r in flat):
            return None
        return flat

    enough_history(stack)
    evaluated_rules = poll("every rule to be evaluated", evaluated, timeout=30)
    assert len(evaluated_rules) == len(rules())
    broken = [(r["name"], r.get("lastError")) for r in evaluated_rules if r["health"] != "ok"]
    assert not broken, f"rules failing to evaluate: {broken}"
    # the fleet counts are there for every simulated account, of every provider
    accounts = stack.prom.query("count by (provider, account) (leo_terminal_online)")
    counted = stack.prom.query("provider_account:leo_terminals:count")
    assert accounts and len(counted) == len(accounts)
    assert {r["metric"]["provider"] for r in counted} == PROVIDERS


def _providers(stack: Stack, expr: str) -> set[str]:
    return {r["metric"].get("provider", "") for r in stack.prom.query(expr)}


def test_usage_rules_cover_every_provider(stack: Stack) -> None:
    """Usage against plan limits works for all three; OneWeb's shared pool is taken once."""
    enough_history(stack)
    poll(
        "usage limit ratios of every provider",
        lambda: _providers(stack, "service_line:leo_service_line_usage_limit:ratio") == PROVIDERS,
        timeout=30,
    )
    assert _providers(stack, "service_line:leo_service_line_usage_bytes:forecast_cycle_end") == PROVIDERS
    pools = stack.prom.query("sub_pool:leo_service_line_usage_remaining:ratio")
    assert pools and {r["metric"]["provider"] for r in pools} == {"oneweb"}
    for pool in pools:
        assert 0 <= float(pool["value"][1]) <= 1, pool
    # remaining is the pool's on every member: used + remaining = entitlement (the simulator rounds to
    # MB), where summing remaining over the members would be off by several times the entitlement
    balance = stack.prom.query(
        "abs(sub_pool:leo_service_line_usage_bytes:sum + sub_pool:leo_service_line_usage_remaining_bytes:min"
        " - sub_pool:leo_service_line_usage_entitlement_bytes:max) / sub_pool:leo_service_line_usage_entitlement_bytes:max"
    )
    assert balance and all(float(r["value"][1]) < 0.001 for r in balance), balance
    assert _providers(stack, "terminal:leo_terminal_organization:max") == {"oneweb"}


# --------------------------------------------------------------------------- alerts


def _am_alerts(stack: Stack) -> list[dict[str, Any]]:
    return httpx.get(f"{stack.am_url}/api/v2/alerts", timeout=5).json()


def test_simulated_alerts_reach_alertmanager(stack: Stack) -> None:
    seen: dict[str, dict[str, Any]] = {}

    offline: dict[str, dict[str, Any]] = {}

    def arrived() -> bool:
        for alert in _am_alerts(stack):
            seen.setdefault(alert["labels"]["alertname"], alert)
            if alert["labels"]["alertname"] == OFFLINE:
                offline.setdefault(alert["labels"].get("provider", ""), alert)
        return set(offline) == PROVIDERS and bool(CRITICAL_TERMINAL & set(seen))

    left = ALERT_WAIT - (time.monotonic() - stack.started)
    try:
        poll(
            "offline alerts of every provider and a critical terminal alert in Alertmanager",
            arrived,
            timeout=max(left, 20),
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Alertmanager has {sorted(seen)}, offline for {sorted(offline)}") from None
    for alert in [*offline.values(), *(seen[n] for n in CRITICAL_TERMINAL & set(seen))]:
        labels = alert["labels"]
        assert {"provider", "account", "terminal_id", "name", "severity"} <= set(labels), labels
        assert alert["annotations"]["dashboard"].startswith("/d/leo-terminal-detail/")
        assert labels["terminal_id"] in alert["annotations"]["description"]
    assert all(a["labels"]["severity"] == "warning" for a in offline.values())
    assert all(seen[n]["labels"]["severity"] == "critical" for n in CRITICAL_TERMINAL & set(seen))


def test_critical_alerts_are_routed_to_the_critical_receiver(stack: Stack) -> None:
    def notified() -> list[dict[str, Any]]:
        return [
            a
            for path, body in list(stack.received)
            if path == "/leo/critical"
            for a in body.get("alerts", [])
            if a["labels"].get("alertname") in CRITICAL_TERMINAL
        ]

    alerts = poll("a critical terminal alert notified on the critical webhook", notified, timeout=60)
    assert all(a["labels"]["severity"] == "critical" for a in alerts)
    for path, body in list(stack.received):
        severities = {a["labels"].get("severity") for a in body.get("alerts", [])}
        assert path != "/leo/critical" or severities == {"critical"}, (path, severities)
        assert "info" not in severities, "info alerts must not be notified"
        # grouped by provider and account
        assert set(body["groupLabels"]) <= {"provider", "account"}, body["groupLabels"]


# --------------------------------------------------------------------------- dashboards


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_dashboard_query_returns_data(stack: Stack, name: str) -> None:
    enough_history(stack)
    # ALERTS panels need alerts: wait until the simulated ones fire
    poll("firing alerts", lambda: stack.prom.query('ALERTS{alertstate="firing",alertname=~"Leo.+"}'), timeout=60)
    dashboard = dashboards()[name]
    combos = assignments(stack.prom, dashboard)
    if "terminal" in combos[0]:
        known = set(stack.prom.label_values("terminal_id", "leo_terminal_info"))
        assert {c["terminal"] for c in combos} <= known, "the terminal variable must select terminal ids"
    # every provider is offered by the provider variable (where the dashboard has one)
    if "provider" in combos[0]:
        assert {c["provider"] for c in combos} == PROVIDERS
    empty = empty_queries(stack.prom, combos, dashboard)
    assert not empty, "queries without data:\n" + "\n".join(empty)


# --------------------------------------------------------------------------- the metric contract


def test_the_metric_contract_holds_in_prometheus(stack: Stack) -> None:
    """No `job` or `instance` of the exporter's own (nothing renamed to exported_*), the account
    label is the config name everywhere, the provider's ids are attributes, and the standard
    self-metrics are there."""
    enough_history(stack)
    assert stack.prom.query('count({exported_job=~".+"})') == []
    assert stack.prom.query('count({exported_instance=~".+"})') == []
    assert stack.prom.label_values("job", '{__name__=~"leo_.+"}') == ["leo-exporter"]
    accounts = stack.prom.label_values("account", '{__name__=~"leo_.+"}')
    assert accounts and not [a for a in accounts if a.startswith("ACC-")], accounts
    ids = stack.prom.label_values("provider_account", '{__name__="leo_account_info",provider="starlink"}')
    assert ids and all(i.startswith("ACC-") for i in ids)
    calls = stack.prom.label_values("call", "leo_exporter_job_up")
    assert {"telemetry", "service_lines", "terminal_status", "terminal_performance"} <= set(calls)
    assert stack.prom.query('process_resident_memory_bytes{job="leo-exporter"} > 0')
    assert stack.prom.query('leo_exporter_build_info{revision!="",python_version!=""}')
