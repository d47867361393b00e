"""`leo-exporter backfill-usage`: the provider's usage history into Prometheus, the way a user does it.

The end-to-end tests run the README's three steps against the simulator and a real Prometheus, for
Starlink and for Kognitive: backfill to OpenMetrics, `promtool tsdb create-blocks-from openmetrics`,
start Prometheus on the blocks, and query a day of the month before the simulated date. The simulated date lies in the past
(2026-03-15), so the backfill's own "not in the future" check, which uses the machine's clock, holds
on any day the suite runs; Prometheus keeps the old blocks with a long retention.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
import yaml

from leo_exporter.backfill import run
from leo_exporter.simulator.calendar import parse_instant
from tests.conftest import free_port, require_tool
from tests.processes import run_module, wait_for
from tests.promstack import ProcessGroup, PromAPI, wait_http

BACKFILL = (sys.executable, "-m", "leo_exporter", "backfill-usage")
SIM_DATE = "2026-03-15T12:00:00Z"
DAY = "2026-02-10"  # a day of the month before


def provider_config(sim_url: str, tmp: Path, provider: str = "starlink") -> Path:
    config = yaml.safe_load(httpx.get(f"{sim_url}/exporter-config.yml", timeout=10).text)
    config["accounts"] = [a for a in config["accounts"] if a["provider"] == provider]
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def simulator_day(creds: dict[str, str]) -> tuple[str, dict[str, float]]:
    """A service line and what the simulator itself says it used on DAY (GB by field)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
    }
    token = httpx.post(creds["auth_url"], data=form, timeout=10).json()["access_token"]
    body = {"queryStartDate": f"{DAY}T00:00:00Z", "activeServiceLinesOnly": False}
    answer = httpx.post(
        f"{creds['api_url']}/data-usage/query", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    for item in answer["content"]["results"]:
        for cycle in item["billingCycles"]:
            for day in cycle["dailyDataUsage"]:
                if day["date"].startswith(DAY):
                    return item["serviceLineNumber"], day
    raise AssertionError(f"the simulator reports no line with usage on {DAY}")


def kognitive_day(account: dict[str, str]) -> tuple[str, dict[str, float]]:
    """A Kognitive line and what the simulator's getBillingUsage says it used on DAY (GB by field;
    Kognitive sends numbers as strings)."""
    header = account.get("auth_header", "X-Auth-Key")
    answer = httpx.get(
        f"{account['api_url']}/getBillingUsage",
        params={"page": 1, "limit": 100},
        headers={header: account["auth_key"]},
        timeout=10,
    ).json()
    for item in answer["data"]["results"]:
        for cycle in item["billingCycles"]:
            for day in cycle["dailyDataUsage"]:
                if day["date"].startswith(DAY):
                    return item["serviceLineNumber"], {k: float(v) for k, v in day.items() if k != "date"}
    raise AssertionError(f"the simulator reports no Kognitive line with usage on {DAY}")


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.parametrize("provider", ["starlink", "kognitive"])
def test_backfill_create_blocks_and_query_last_month_in_prometheus(tmp_path: Path, provider: str) -> None:
    promtool = require_tool("promtool")
    prometheus = require_tool("prometheus")
    with run_module(["simulator", "--simulator.now", SIM_DATE], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        config = provider_config(sim.url, tmp_path, provider)
        out = tmp_path / "usage.om"
        step1 = subprocess.run(
            [*BACKFILL, "--config.file", str(config), "--since", "2026-01-01", "--output", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert step1.returncode == 0, step1.stderr
        account = yaml.safe_load(config.read_text())["accounts"][0]
        line, want = simulator_day(account) if provider == "starlink" else kognitive_day(account)

    data = tmp_path / "prom-data"
    data.mkdir()
    step2 = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(out), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert step2.returncode == 0, step2.stderr + step2.stdout

    procs = ProcessGroup()
    try:
        port = free_port()
        (tmp_path / "prometheus.yml").write_text("global: {}\n")
        prom_proc = procs.start(
            "prometheus",
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            tmp_path / "prometheus.log",
        )
        prom = PromAPI(f"http://127.0.0.1:{port}")
        wait_http(f"{prom.url}/-/ready", prom_proc, timeout=60)
        at = parse_instant(f"{DAY}T23:59:59Z")
        selector = f'service_line="{line}"'
        daily = prom._get("/api/v1/query", query=f"leo_service_line_daily_usage_bytes{{{selector}}}", time=at)
        got = {r["metric"]["class"]: float(r["value"][1]) for r in daily["result"]}
        cycle = prom._get("/api/v1/query", query=f"leo_service_line_usage_bytes{{{selector}}}", time=at)
        to_date = {r["metric"]["class"]: float(r["value"][1]) for r in cycle["result"]}
    finally:
        procs.stop_all()

    assert got, f"no backfilled daily usage for {line} on {DAY}"
    fields = {"priority": "priorityGB", "standard": "standardGB", "opt_in_priority": "optInPriorityGB"}
    fields["non_billable"] = "nonBillableGB"
    assert got == {cls: pytest.approx(want[field] * 1e9) for cls, field in fields.items()}
    assert to_date and all(to_date[c] >= got[c] for c in got)  # the cycle to date includes the day


def args(config: Path, out: Path, **extra: str | list[str]) -> argparse.Namespace:
    values = {"config_file": str(config), "since": "2026-01-01", "until": None, "output": str(out), "accounts": []}
    values.update(extra)
    return argparse.Namespace(**values)


CONFIG = """
accounts:
  - provider: starlink
    name: north
    client_id: id
    client_secret: s3cret
    api_url: https://starlink.test/api/public/v2
    auth_url: https://starlink.test/api/auth/connect/token
  - provider: kognitive
    name: reseller
    auth_key: k3y
    api_url: https://kognitive.test/ext/v1/starlink
  - provider: oneweb
    name: partner
    client_id: id
    client_secret: s3cret
    api_url: https://oneweb.test
"""
NOW = parse_instant("2026-06-01T00:00:00Z")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"since": "2026-07-01"}, "is in the future"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "is not after --since"),
        ({"since": "yesterday"}, "is not a date"),
        ({"accounts": ["nobody"]}, "not in"),
    ],
)
def test_bad_ranges_and_names_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, str], words: str
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    out = tmp_path / "usage.om"
    assert run(args(config, out, **extra), clock=lambda: NOW) == 2
    assert words in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [config]


def starlink_mock(mock: respx.MockRouter, results: list[object]) -> None:
    mock.post("https://starlink.test/api/auth/connect/token").respond(
        json={"access_token": "t", "expires_in": 900, "token_type": "Bearer"}
    )
    page = {"pageIndex": 0, "limit": 250, "isLastPage": True, "totalCount": len(results), "results": results}
    mock.post("https://starlink.test/api/public/v2/data-usage/query").respond(
        json={"isValid": True, "errors": [], "content": page}
    )


def test_an_account_without_usage_in_the_range_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    out = tmp_path / "usage.om"
    with respx.mock() as mock:
        starlink_mock(mock, [])
        assert run(args(config, out, accounts=["north"]), clock=lambda: NOW) == 2
    assert "has no usage between" in capsys.readouterr().err
    assert not out.exists()


def test_an_account_whose_provider_keeps_no_history_is_refused_when_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    out = tmp_path / "usage.om"
    assert run(args(config, out, accounts=["partner"]), clock=lambda: NOW) == 2
    assert "keeps no past billing cycles" in capsys.readouterr().err
    assert not out.exists()


def test_openmetrics_has_a_sample_per_day_and_the_cycle_total_at_its_end(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    out = tmp_path / "usage.om"
    item = {
        "serviceLineNumber": "SL1",
        "billingCycles": [
            {
                "startDate": "2026-01-30T00:00:00Z",
                "endDate": "2026-02-01T00:00:00Z",
                "totalPriorityGB": 5.0,
                "dailyDataUsage": [
                    {"date": "2026-01-30T00:00:00Z", "priorityGB": 1.0},
                    {"date": "2026-01-31T00:00:00Z", "priorityGB": 3.99},
                ],
            },
            {
                "startDate": "2026-02-01T00:00:00Z",
                "endDate": "2026-03-01T00:00:00Z",
                "totalPriorityGB": 2.0,
                "dailyDataUsage": [{"date": "2026-02-01T00:00:00Z", "priorityGB": 2.0}],
            },
        ],
    }
    with respx.mock() as mock:
        starlink_mock(mock, [item])
        assert run(args(config, out, accounts=["north"], since="2026-01-01"), clock=lambda: NOW) == 0
    text = out.read_text()
    labels = 'provider="starlink",account="north",service_line="SL1",class="priority"'
    day = "leo_service_line_daily_usage_bytes{" + labels + "}"
    cycle = "leo_service_line_usage_bytes{" + labels + "}"
    jan30, jan31, feb1 = (int(parse_instant(f"{d}T23:59:59Z")) for d in ("2026-01-30", "2026-01-31", "2026-02-01"))
    assert f"{day} 1000000000.0 {jan30}\n{day} 3990000000.0 {jan31}\n{day} 2000000000.0 {feb1}\n" in text
    # the cycle to date, and on the cycle's last day the provider's total (5.0, not 1.0 + 3.99)
    assert f"{cycle} 1000000000.0 {jan30}\n{cycle} 5000000000.0 {jan31}\n{cycle} 2000000000.0 {feb1}\n" in text
    assert text.endswith("# EOF\n")
