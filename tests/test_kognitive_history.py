"""Kognitive usage history: every cycle of `getBillingUsage` and every day of it, not only the newest.

A reseller on the first day of a cycle sees the cycle before it as `leo_service_line_previous_cycle_*`
(as for Starlink), the newest complete day (the previous cycle's last), and `backfill-usage` writes
all the days the provider still keeps. Mocked with respx in the documented shape (numbers as
strings), and against the simulator, whose billing history is known.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from leo_exporter.backfill import run as backfill
from leo_exporter.simulator.app import build_app
from leo_exporter.simulator.calendar import parse_instant
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import samples_by_name
from tests.test_kognitive_jobs import ACC, API, KEY, exporter, metrics, run

pytestmark = pytest.mark.anyio

SLN = "AST-0000000-00000-01"


def day(date: str, priority: str, standard: str = "0.00") -> dict[str, str]:
    return {
        "date": f"{date}T00:00:00.000Z",
        "priorityGB": priority,
        "optInPriorityGB": "0.00",
        "standardGB": standard,
        "nonBillableGB": "0.01",
    }


def cycle(days: list[dict[str, str]], priority: str, standard: str, **dates: str) -> dict[str, Any]:
    return {
        **dates,
        "dailyDataUsage": days,
        "totalPriorityGB": priority,
        "totalOptInPriorityGB": "0.00",
        "totalStandardGB": standard,
        "totalNonBillableGB": "0.02",
    }


def first_day_item(previous_dates: bool) -> dict[str, Any]:
    """A line on 2025-12-01, the first day of its cycle: the current cycle has no day yet."""
    dates = {"startDate": "2025-11-01", "endDate": "2025-12-01"} if previous_dates else {}
    return {
        "accountNumber": ACC,
        "serviceLineNumber": SLN,
        "startDate": "2025-12-01",
        "endDate": "2026-01-01",
        "billingCycles": [
            cycle([day("2025-11-29", "1.00", "0.50"), day("2025-11-30", "2.00", "0.25")], "40.00", "7.50", **dates),
            cycle([], "0.00", "0.00"),
        ],
    }


def answer(items: list[dict[str, Any]]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        chunk = items if request.url.params["page"] == "1" else []
        return httpx.Response(200, json={"success": True, "data": {"results": chunk}})

    return respond


def one(samples: list[Any], **labels: str) -> float:
    (found,) = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(found)


@pytest.mark.parametrize("previous_dates", [True, False], ids=["cycle-dates", "item-dates-only"])
async def test_first_day_of_a_cycle_shows_the_previous_cycle_and_its_last_day(previous_dates: bool) -> None:
    with respx.mock(base_url=API, assert_all_called=False) as api:
        api.get("/getBillingUsage").mock(side_effect=answer([first_day_item(previous_dates)]))
        exp = exporter()
        assert await run(exp, "billing_usage") == ""
        m = await metrics(exp)
    line = {"service_line": SLN}
    assert one(m["leo_service_line_usage_bytes"], **line, **{"class": "priority"}) == 0.0
    previous = m["leo_service_line_previous_cycle_usage_bytes"]
    assert one(previous, **line, **{"class": "priority"}) == 40e9
    assert one(previous, **line, **{"class": "standard"}) == 7.5e9
    # the previous cycle ends where the current one starts (its own endDate, or the next cycle's start)
    assert one(m["leo_service_line_previous_cycle_end_timestamp_seconds"], **line) == parse_instant(
        "2025-12-01T00:00:00Z"
    )
    start = (
        parse_instant("2025-11-01T00:00:00Z") if previous_dates else parse_instant("2025-11-29T00:00:00Z")
    )  # else: its first day
    assert one(m["leo_service_line_previous_cycle_start_timestamp_seconds"], **line) == start
    # the newest day reported anywhere: the previous cycle's last, not nothing
    assert one(m["leo_service_line_daily_usage_bytes"], **line, **{"class": "priority"}) == 2e9
    assert one(m["leo_service_line_daily_usage_date_timestamp_seconds"], **line) == parse_instant(
        "2025-11-30T00:00:00Z"
    )


CONFIG = f"""
accounts:
  - provider: kognitive
    name: reseller
    auth_key: {KEY}
    api_url: {API}
"""


def test_backfill_writes_every_day_and_the_cycle_totals(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    out = tmp_path / "usage.om"
    args = argparse.Namespace(
        config_file=str(config), since="2025-11-01", until=None, output=str(out), accounts=["reseller"]
    )
    with respx.mock(base_url=API, assert_all_called=False) as api:
        api.get("/getBillingUsage").mock(side_effect=answer([first_day_item(True)]))
        assert backfill(args, clock=lambda: parse_instant("2025-12-01T12:00:00Z")) == 0
    text = out.read_text()
    labels = f'provider="kognitive",account="reseller",service_line="{SLN}",class="priority"'
    nov29, nov30 = (int(parse_instant(f"{d}T23:59:59Z")) for d in ("2025-11-29", "2025-11-30"))
    daily = f"leo_service_line_daily_usage_bytes{{{labels}}}"
    assert f"{daily} 1000000000.0 {nov29}\n{daily} 2000000000.0 {nov30}\n" in text
    to_date = f"leo_service_line_usage_bytes{{{labels}}}"
    # the cycle to date, and on the cycle's last day the provider's total for it
    assert f"{to_date} 1000000000.0 {nov29}\n{to_date} 40000000000.0 {nov30}\n" in text


SIM_NOW = parse_instant("2026-03-15T12:00:00Z")


async def test_the_simulator_keeps_closed_cycles_and_the_exporter_shows_the_previous_one() -> None:
    exporter_, app = simulated_exporter(build_app(now=SIM_NOW))
    sim = app.state.kognitive
    partner = sim.partners[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        resp = await http.get(
            "http://simulator/kognitive/ext/v1/starlink/getBillingUsage",
            params={"page": 1, "limit": 100},
            headers={"X-Auth-Key": partner.auth_key},
        )
    items = resp.json()["data"]["results"]
    # up to two closed cycles (fewer for a line created since), then the current
    assert {len(item["billingCycles"]) for item in items} == {2, 3}
    await poll_all(exporter_)
    m = samples_by_name((await exporter_.render_now()).plain.decode())
    previous = [s for s in m["leo_service_line_previous_cycle_usage_bytes"] if s.labels["provider"] == "kognitive"]
    ends = {
        s.labels["service_line"]: s.value
        for s in m["leo_service_line_previous_cycle_end_timestamp_seconds"]
        if s.labels["provider"] == "kognitive"
    }
    starts = {s.labels["service_line"]: s.value for s in m["leo_service_line_billing_cycle_start_timestamp_seconds"]}
    for item in items:
        sln, before = item["serviceLineNumber"], item["billingCycles"][-2]
        assert ends[sln] == starts[sln] == parse_instant(item["startDate"] + "T00:00:00Z")
        got = {s.labels["class"]: s.value for s in previous if s.labels["service_line"] == sln}
        assert got["priority"] == pytest.approx(float(before["totalPriorityGB"]) * 1e9)
        # a class the line used in neither cycle is not exported (leo_exporter/state/billing.py)
        assert got.get("standard", 0.0) == pytest.approx(float(before["totalStandardGB"]) * 1e9)
