"""Availability and outages on a real Prometheus holding a month of generated history.

A small fleet's 30 days (March 2026, a fixed date: never the machine's clock) are written as
OpenMetrics with timestamps and turned into blocks with `promtool tsdb create-blocks-from
openmetrics`, as `backfill-usage` does. The shipped availability rules are then evaluated by that
Prometheus at their hourly steps over the month and their results loaded as the recorded series
(see `Month.record`), and the shipped queries and alert expressions are asserted against the
figures the history implies.

The history, one `leo_terminal_online` sample every 2 minutes at :30 seconds (30 an hour), the info,
tag and line-activity series every 5 minutes:

- the exporter is down on 5 March 06:00-09:00 for everyone (90 samples missing per terminal:
  unknown time, no outage);
- T1 (north, Blue Line) offline 3 March 10:00-12:00 (60 samples) and 10 March 14:00-14:30 (15);
- T2 (north, Blue Line) offline 20 March 10:00-11:00 (30);
- T3 (north, Blue Line) has an inactive line until 10 March 00:00 and flaps 0/1 meanwhile (no
  outage, no availability counted), then is online: 21 days, 504 hours, 15,120 samples;
- T4 (south, Zephyr, vessel Aurora) drops 6 times for 4 minutes on 15 March (12 samples);
- T5 (south, Zephyr) is always online.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from leo_exporter.simulator.calendar import parse_instant
from tests.conftest import free_port, require_tool
from tests.promstack import RULES_DIR, ProcessGroup, PromAPI, dashboards, panels, substitute, wait_http

START = int(parse_instant("2026-03-01T00:00:00Z"))
DAY = 86400
HOUR = 3600
END = START + 30 * DAY  # 2026-03-31T00:00:00Z: where the month's figures are read
DOWN = (START + 4 * DAY + 6 * HOUR, START + 4 * DAY + 9 * HOUR)
ONLINE_STEP, SLOW_STEP, OFFSET = 120, 300, 30
OBSERVED = 30 * 720 - 90  # every online sample of the month but the exporter's downtime
JOIN = "terminal:leo_terminal_info:max"


@dataclass
class Terminal:
    tid: str
    account: str
    provider: str
    line: str
    name: str
    tags: dict[str, str]
    info: dict[str, str] = field(default_factory=dict)
    offline: list[tuple[int, int]] = field(default_factory=list)
    active_from: int = START

    def online(self, t: int, index: int) -> int:
        if t < self.active_from:
            return index % 2  # flapping while its line is inactive: must count for nothing
        return 0 if any(a <= t < b for a, b in self.offline) else 1


def at(day: int, hour: int, minute: int = 0) -> int:
    """1 March is day 1."""
    return START + (day - 1) * DAY + hour * HOUR + minute * 60


FLEET = [
    Terminal(
        "T1",
        "north",
        "starlink",
        "L1",
        "MV Borealis",
        {"customer": "Blue Line"},
        {"provider_account": "ACC-N"},
        offline=[(at(3, 10), at(3, 12)), (at(10, 14), at(10, 14, 30))],
    ),
    Terminal(
        "T2",
        "north",
        "starlink",
        "L2",
        "MV Cygnus",
        {"customer": "Blue Line"},
        {"provider_account": "ACC-N"},
        offline=[(at(20, 10), at(20, 11))],
    ),
    Terminal(
        "T3",
        "north",
        "starlink",
        "L3",
        "Depot",
        {"customer": "Blue Line"},
        {"provider_account": "ACC-N"},
        active_from=at(10, 0),
    ),
    Terminal(
        "359000000000004",
        "south",
        "oneweb",
        "SC-4",
        "Aurora UT1",
        {"customer": "Zephyr", "vessel": "Aurora"},
        {"provider_account": "DP-S", "organization": "ORG-7"},
        offline=[(at(15, h), at(15, h, 4)) for h in range(8, 14)],
    ),
    Terminal(
        "359000000000005",
        "south",
        "oneweb",
        "SC-5",
        "Nuuk UT1",
        {"customer": "Zephyr"},
        {"provider_account": "DP-S", "organization": "ORG-7"},
    ),
]


def labels(**pairs: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in pairs.items())


def history() -> list[tuple[str, str, int]]:
    """The month's samples: (family, OpenMetrics line, timestamp)."""
    out: list[tuple[str, str, int]] = []

    def up(t: int) -> bool:
        return not DOWN[0] <= t < DOWN[1]

    for term in FLEET:
        ident = {"provider": term.provider, "account": term.account, "terminal_id": term.tid}
        line = labels(provider=term.provider, account=term.account, service_line=term.line)
        info = labels(**ident, service_line=term.line, name=term.name, **term.info)
        tags = labels(**ident, **{f"tag_{k}": v for k, v in term.tags.items()})
        for index, t in enumerate(range(START + OFFSET, END, ONLINE_STEP)):
            if up(t):
                row = f"leo_terminal_online{{{labels(**ident)}}} {term.online(t, index)} {t}\n"
                out.append(("leo_terminal_online", row, t))
        for t in range(START + OFFSET, END, SLOW_STEP):
            if up(t):
                out.append(("leo_terminal_info", f"leo_terminal_info{{{info}}} 1 {t}\n", t))
                out.append(("leo_terminal_tags", f"leo_terminal_tags{{{tags}}} 1 {t}\n", t))
                active = int(t >= term.active_from)
                out.append(("leo_service_line_active", f"leo_service_line_active{{{line}}} {active} {t}\n", t))
    return out


def recording_rules() -> dict[str, str]:
    """The shipped availability group's recording rules: name -> expression, in evaluation order."""
    doc = yaml.safe_load((RULES_DIR / "leo-exporter.availability.yml").read_text())
    group = next(g for g in doc["groups"] if g["name"] == "leo-exporter.availability")
    assert group["interval"] == "1h"
    return {r["record"]: r["expr"] for r in group["rules"] if "record" in r}


def inline(expr: str, recorded: dict[str, str]) -> str:
    """`expr` with each recorded series it reads replaced by the rule that records it, evaluated at
    the rule group's hourly steps (a subquery `[range:1h]` is aligned to whole hours, as the group is)."""
    for name, body in recorded.items():
        pattern = rf"(?<![\w:]){re.escape(name)}(?![\w:])"
        expr = re.sub(pattern + r"\[([^\]]+)\]", lambda m, b=body: f"({b})[{m.group(1)}:1h]", expr)
        expr = re.sub(pattern, lambda _, b=body: f"({b})", expr)
    return expr


def day_files(lines: list[tuple[str, str, int]], folder: Path) -> list[Path]:
    """OpenMetrics files, one per day, each family's series together (promtool 2.42 reads its input
    once per 2-hour block it writes: a month in one file is read 360 times)."""
    by_day: dict[int, dict[str, list[str]]] = {}
    for family, line, t in lines:
        by_day.setdefault((t - START) // DAY, {}).setdefault(family, []).append(line)
    folder.mkdir()
    paths = []
    for day, families in sorted(by_day.items()):
        path = folder / f"{day:02d}.om"
        path.write_text("".join(f"# TYPE {f} gauge\n{''.join(rows)}" for f, rows in families.items()) + "# EOF\n")
        paths.append(path)
    return paths


class Month:
    """Prometheus on the month's blocks: the history, then the recorded series of the rules over it."""

    def __init__(self, tmp: Path, prometheus: str, promtool: str):
        self.tmp, self.prometheus, self.promtool = tmp, prometheus, promtool
        self.data = tmp / "prom-data"
        self.data.mkdir()
        self.procs = ProcessGroup()
        self.port = free_port()
        (tmp / "prometheus.yml").write_text("global: {}\n")
        self.api = PromAPI(f"http://127.0.0.1:{self.port}")

    def start(self) -> None:
        proc = self.procs.start(
            "prometheus",
            [
                self.prometheus,
                f"--config.file={self.tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            self.tmp / "prometheus.log",
        )
        wait_http(f"{self.api.url}/-/ready", proc, timeout=90)

    def load(self, lines: list[tuple[str, str, int]], name: str) -> None:
        for path in day_files(lines, self.tmp / name):
            run([self.promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(path), str(self.data)])

    def record(self) -> None:
        """Evaluate every recording rule of the availability group at its hourly steps over the month
        and load the results as the recorded series: what Prometheus does live. (`promtool tsdb
        create-blocks-from rules` does the same for the past, but writes a block per rule and 2 hours,
        4,700 here, and needs a pass per level of rules; promtool 2.42's also lost a step.)"""
        recorded = recording_rules()
        lines = []
        for name, expr in recorded.items():
            data = self.api._get(
                "/api/v1/query_range", query=inline(expr, recorded), start=START + HOUR, end=END, step=HOUR
            )
            for series in data["result"]:
                text = ",".join(f'{k}="{v}"' for k, v in sorted(series["metric"].items()))
                lines.extend((name, f"{name}{{{text}}} {v} {int(t)}\n", int(t)) for t, v in series["values"])
        # the dashboards' name join (leo-exporter.rules.yml, evaluated every minute): its last hour
        info = yaml.safe_load((RULES_DIR / "leo-exporter.rules.yml").read_text())
        (join,) = [r["expr"] for g in info["groups"] for r in g["rules"] if r.get("record") == JOIN]
        data = self.api._get("/api/v1/query_range", query=join, start=END - HOUR, end=END, step=60)
        for series in data["result"]:
            text = ",".join(f'{k}="{v}"' for k, v in sorted(series["metric"].items()))
            lines.extend((JOIN, f"{JOIN}{{{text}}} {v} {int(t)}\n", int(t)) for t, v in series["values"])
        self.procs.stop_all()
        self.load(lines, "recorded")
        self.start()

    def value(self, expr: str, *by: str, when: int = END) -> dict[tuple[str, ...], float]:
        """The result at `when`, keyed by the values of the labels `by`."""
        data = self.api._get("/api/v1/query", query=expr, time=when)
        return {tuple(r["metric"].get(k, "") for k in by): float(r["value"][1]) for r in data["result"]}


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    promtool = require_tool("promtool")
    prometheus = require_tool("prometheus")
    m = Month(tmp_path_factory.mktemp("month"), prometheus, promtool)
    try:
        m.load(history(), "history")
        m.start()
        m.record()
        yield m
    finally:
        m.procs.stop_all()


MONTH = "[29d23h59m59s]"  # the 720 hourly steps of March (the availability rules' closed ranges)


def availability(level: str, selector: str = "") -> str:
    return (
        f"sum_over_time({level}:leo_terminal_online:sum1h{selector}{MONTH})"
        f" / sum_over_time({level}:leo_terminal_online:count1h{selector}{MONTH})"
    )


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_availability_per_terminal_over_the_month(month: Month) -> None:
    got = month.value(availability("terminal"), "terminal_id")
    want = {
        "T1": (OBSERVED - 75) / OBSERVED,  # 99.651 %: two outages, 75 samples; the downtime is not one
        "T2": (OBSERVED - 30) / OBSERVED,  # 99.861 %
        "T3": 15120 / 15120,  # only the 504 hours its line was active
        "359000000000004": (OBSERVED - 12) / OBSERVED,  # 99.944 %
        "359000000000005": 1.0,
    }
    assert {key[0]: value for key, value in got.items()} == pytest.approx(want, abs=1e-12)
    assert round(got[("T1",)] * 100, 3) == 99.651


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_outages_per_terminal_and_per_day(month: Month) -> None:
    month_outages = month.value(f"sum_over_time(terminal:leo_terminal_outages:count1h{MONTH})", "terminal_id")
    assert {key[0]: v for key, v in month_outages.items()} == {
        "T1": 2,
        "T2": 1,
        "T3": 0,  # flapping while its line was inactive: no outage
        "359000000000004": 6,
        "359000000000005": 0,
    }
    # per day: the 24 hourly steps up to each midnight; the exporter's downtime on 5 March is none
    per_day = {
        day: sum(month.value("terminal:leo_terminal_outages:count1d", "terminal_id", when=at(day + 1, 0)).values())
        for day in (3, 5, 10, 15, 20, 21)
    }
    assert per_day == {3: 1, 5: 0, 10: 1, 15: 6, 20: 1, 21: 0}


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_availability_and_outages_per_group_account_and_provider(month: Month) -> None:
    blue = (3 * OBSERVED - 75 - 30 + 15120 - OBSERVED) / (2 * OBSERVED + 15120)  # T1 + T2 + T3
    zephyr = (2 * OBSERVED - 12) / (2 * OBSERVED)
    groups = month.value(availability("group"), "group_key", "group_value")
    assert groups == pytest.approx(
        {
            ("tag_customer", "Blue Line"): blue,  # 99.8194 %
            ("tag_customer", "Zephyr"): zephyr,  # 99.9721 %
            ("tag_vessel", "Aurora"): (OBSERVED - 12) / OBSERVED,
            ("account", "north"): blue,
            ("account", "south"): zephyr,
            ("provider_account", "ACC-N"): blue,
            ("provider_account", "DP-S"): zephyr,
            ("organization", "ORG-7"): zephyr,
        },
        abs=1e-12,
    )
    assert round(groups[("tag_customer", "Blue Line")] * 100, 4) == 99.8194
    outages = month.value(
        f'sum_over_time(group:leo_terminal_outages:count1h{{group_key="tag_customer"}}{MONTH})',
        "group_key",
        "group_value",
    )
    assert outages == {("tag_customer", "Blue Line"): 3, ("tag_customer", "Zephyr"): 6}
    assert month.value(availability("provider_account"), "provider", "account") == pytest.approx(
        {("starlink", "north"): blue, ("oneweb", "south"): zephyr}, abs=1e-12
    )
    assert month.value(availability("provider"), "provider") == pytest.approx(
        {("starlink",): blue, ("oneweb",): zephyr}, abs=1e-12
    )


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_slo_alert_expressions_pick_the_groups_below_objective(month: Month) -> None:
    doc = yaml.safe_load((RULES_DIR / "leo-exporter.availability.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    # the shipped objective is 99 %: every group of this fleet meets it over March ...
    assert month.value(alerts["LeoGroupAvailabilityBelowObjective"], "group_key") == {}
    # ... and the month's worst, T1 at 99.651 %, misses 99.7 %
    stricter = alerts["LeoGroupAvailabilityBelowObjective"].replace("< 0.99", "< 0.999")
    assert set(month.value(stricter, "group_key", "group_value")) == {
        ("tag_customer", "Blue Line"),
        ("provider_account", "ACC-N"),
    }  # the account has its own alert
    account = alerts["LeoAccountAvailabilityBelowObjective"].replace("< 0.99", "< 0.999")
    assert set(month.value(account, "provider", "account")) == {("starlink", "north")}
    flapping = month.value(alerts["LeoTerminalFlapping"], "terminal_id", "name", when=at(16, 0))
    assert flapping == {("359000000000004", "Aurora UT1"): 6}


def dashboard_query(title: str, index: int = 0) -> str:
    """The query of a panel of the shipped Availability dashboard."""
    board = dashboards()["leo-availability.json"]
    (panel,) = [p for p in panels(board) if p["title"] == title]
    return panel["targets"][index]["expr"]


def shown(title: str, values: dict[str, str], *by: str, index: int = 0, month: Month) -> dict[tuple[str, ...], float]:
    """What the panel shows over March (Grafana's $__range for 30 days) with these variables."""
    expr = substitute(dashboard_query(title, index), values, rng="30d", interval="1d")
    return month.value(expr, *by)


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_availability_dashboard_shows_the_month(month: Month) -> None:
    blue = {"group_key": "tag_customer", "group_value": "Blue Line"}
    every = {"group_key": "tag_customer", "group_value": ".*"}
    total = (5 * OBSERVED - 75 - 30 - 12 - OBSERVED + 15120) / (4 * OBSERVED + 15120)
    assert shown("Fleet availability", every, month=month) == pytest.approx({(): total}, abs=1e-12)
    blue_ratio = (3 * OBSERVED - 105 + 15120 - OBSERVED) / (2 * OBSERVED + 15120)
    assert shown("Availability of the selected groups", blue, month=month) == pytest.approx({(): blue_ratio}, abs=1e-12)
    assert shown("Outages in the selected groups", blue, month=month) == {(): 3}
    by_group = shown("Availability by group", every, "group_value", month=month)
    assert by_group == pytest.approx(
        {("Blue Line",): blue_ratio, ("Zephyr",): (2 * OBSERVED - 12) / (2 * OBSERVED)}, abs=1e-12
    )
    worst = shown("The 20 worst terminals", blue, "terminal_id", "name", "group", month=month)
    assert worst == pytest.approx(
        {
            ("T1", "MV Borealis", "Blue Line"): (OBSERVED - 75) / OBSERVED,
            ("T2", "MV Cygnus", "Blue Line"): (OBSERVED - 30) / OBSERVED,
            ("T3", "Depot", "Blue Line"): 1.0,
        },
        abs=1e-12,
    )
    outages = shown("The 20 worst terminals", blue, "terminal_id", index=1, month=month)
    assert outages == {("T1",): 2, ("T2",): 1, ("T3",): 0}
    # outages per day, per customer: the bar of 15 March (the day up to 16 March 00:00)
    daily = substitute(dashboard_query("Outages per day"), every, interval="1d")
    assert month.value(daily, "group_value", when=at(16, 0)) == {("Blue Line",): 0, ("Zephyr",): 6}
    # a provider-native group: the provider account
    native = {"group_key": "provider_account", "group_value": "DP-S"}
    assert shown("Availability of the selected groups", native, month=month) == pytest.approx(
        {(): (2 * OBSERVED - 12) / (2 * OBSERVED)}, abs=1e-12
    )
