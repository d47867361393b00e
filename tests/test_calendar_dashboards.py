"""The shipped dashboards at the dates that break naive billing code, against a real Prometheus.

For each edge date the demo exporter runs with `--simulator.now` at that date while Prometheus,
its rules and the exporter keep the real clock; one date's stack at a time. Every dashboard query that
has data on an ordinary day must have data at each of them: billing cycles start on each line's
own day, so on any date some lines are on their first day and others well into their cycle.

No panel is exempt. A panel that shows only lines on the first day of their cycle would be empty
there legitimately (no day of the cycle is complete, so no daily figure of the cycle exists), but
the shipped dashboards have none: the daily figure is the newest complete day, which on a cycle's
first day is the previous cycle's last, and the fleet always has lines mid-cycle.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leo_exporter.simulator.calendar import parse_instant
from tests.conftest import free_port
from tests.promstack import (
    REPO,
    ProcessGroup,
    PromAPI,
    assignments,
    dashboards,
    empty_queries,
    poll,
    start_prometheus,
    wait_http,
)
from tests.test_calendar import EDGE_DATES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass
class DatedStack:
    prom: PromAPI
    date: str


@pytest.fixture(scope="module", params=sorted(EDGE_DATES))
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatedStack]:
    """One edge date's exporter and Prometheus, stopped before the next date's start: five stacks at
    once evaluating every rule each second took two cores for minutes and timed tests out."""
    date = EDGE_DATES[request.param]
    procs = ProcessGroup()
    try:
        tmp: Path = tmp_path_factory.mktemp(f"dated-{request.param}")
        port = free_port()
        exporter = procs.start(
            "exporter",
            [
                sys.executable,
                "-m",
                "leo_exporter",
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--simulator.now",
                date,
                # the Wi-Fi client panels of Terminal detail need this group, off by default
                "--collector.router_wifi",
            ],
            tmp / "exporter.log",
            cwd=REPO,
        )
        prom, prom_proc = start_prometheus(procs, tmp, f"127.0.0.1:{port}")
        wait_http(f"http://127.0.0.1:{port}/readyz", exporter, timeout=90)
        wait_http(f"{prom.url}/-/ready", prom_proc, timeout=90)
        yield DatedStack(prom, date)
    finally:
        procs.stop_all()


def test_no_dashboard_panel_is_empty_at_an_edge_date(stack: DatedStack) -> None:
    poll(
        "15 s of scrapes and firing alerts",
        lambda: (
            any(float(r["value"][1]) >= 15 for r in stack.prom.query('count_over_time(up{job="leo-exporter"}[1m])'))
            and stack.prom.query('ALERTS{alertstate="firing",alertname=~"Leo.+"}')
        ),
        timeout=90,
    )
    # the simulated date reached the exporter: the usage it reports is of cycles around that date
    starts = [float(r["value"][1]) for r in stack.prom.query("leo_service_line_billing_cycle_start_timestamp_seconds")]
    date = parse_instant(stack.date)
    assert starts and date - 31 * 86400 <= max(starts) <= date + 600, (stack.date, max(starts))
    empty = {}
    for name, dashboard in sorted(dashboards().items()):
        missing = empty_queries(stack.prom, assignments(stack.prom, dashboard), dashboard)
        if missing:
            empty[name] = missing
    assert not empty, f"queries without data at {stack.date}: {empty}"
