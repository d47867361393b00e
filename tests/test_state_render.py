"""Fleet state and renderer: what a scrape shows as terminals come, go and raise alerts."""

from __future__ import annotations

import platform
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.stock import parse, render_stock, stock_registry
from leo_exporter import catalog
from leo_exporter import version as build
from leo_exporter.catalog import BY_NAME
from leo_exporter.jobstatus import JobStatus
from leo_exporter.records import (
    AccountRecord,
    CycleUsage,
    RouterRecord,
    ServiceLineRecord,
    TelemetryColumns,
    TerminalRecord,
    UsageRecord,
)
from leo_exporter.render import EXPORTER_BLOCK, SMALL_TABLE, TABLE_BLOCK, Chunk, Exposition, Renderer
from leo_exporter.state import AccountState, FleetState
from tests.conftest import render, require_tool

NOW = 1_763_700_000.0


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def fleet(clock: Clock) -> tuple[FleetState, AccountState]:
    state = FleetState(clock)
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    state.add_account(account)
    account.apply_account(AccountRecord("ACC-1", 'Nordic "Lines"'))
    account.replace_terminals(
        [
            TerminalRecord("T1", "SL-1", "MV Nordic Star", "KIT1", "DISH1"),
            TerminalRecord("T2", "SL-2", "Rig\\Alpha\n7", "KIT2", "DISH2"),
        ]
    )
    account.replace_service_lines(
        [ServiceLineRecord("SL-1", "Star", "P1", True), ServiceLineRecord("SL-2", "", "P1", False)]
    )
    return state, account


def telemetry(ids: list[str], ts: float, alerts: list[tuple[str, ...] | None] | None = None) -> TelemetryColumns:
    return TelemetryColumns(
        ids=ids,
        timestamps=[ts] * len(ids),
        measures={
            catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND: [1e6] * len(ids),
            catalog.TERMINAL_UPTIME_SECONDS: [100.0] * len(ids),
        },
        alerts=alerts,
        attributes={"software_version": ["2025.08.11"] * len(ids)},
    )


def scrape(state: FleetState) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = render(state).plain.decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def series(result: dict, metric: str, /, **labels: str) -> float | None:
    for key, value in result.get(metric, {}).items():
        if labels.items() <= dict(key).items():
            return value
    return None


def test_online_terminal_shows_telemetry_info_and_labels_escaped() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(
        telemetry(["T1", "T2"], NOW - 10, [("thermal_throttling",), ()]), catalog.TERMINAL_ALERT
    )
    result = scrape(state)
    assert series(result, "leo_terminal_online", terminal_id="T1") == 1.0
    assert series(result, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id="T1") == 1e6
    assert (
        series(result, "leo_terminal_info", terminal_id="T2", name="Rig\\Alpha\n7", software_version="2025.08.11") == 1
    )
    assert (
        series(
            result,
            "leo_account_info",
            account="north",
            provider_account="ACC-1",
            provider_account_name='Nordic "Lines"',
        )
        == 1
    )
    assert series(result, "leo_terminal_alert", terminal_id="T1", alert="thermal_throttling") == 1
    assert series(result, "leo_terminal_alert", terminal_id="T2") is None
    assert series(result, "leo_terminal_active_alerts", terminal_id="T1") == 1
    assert series(result, "leo_service_line_active", service_line="SL-2") == 0


def test_account_label_is_the_config_name_before_and_after_the_provider_names_its_account() -> None:
    state = FleetState(Clock())
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    state.add_account(account)
    account.replace_terminals([TerminalRecord("T1", "SL-1")])
    account.terminals.apply_columns(telemetry(["T1"], NOW - 10), catalog.TERMINAL_ALERT)
    before = scrape(state)
    assert series(before, "leo_account_info", provider="starlink", account="north") == 1
    account.apply_account(AccountRecord("ACC-1", "Nordic"))
    after = scrape(state)
    for result in (before, after):
        accounts = {dict(key).get("account") for name, family in result.items() for key in family}
        assert accounts - {None} == {"north"}  # None: the exporter's own families
    # data series are the same series; the provider's id is an attribute of the info series only
    assert before["leo_terminal_online"] == after["leo_terminal_online"]
    assert series(after, "leo_terminal_info", terminal_id="T1", provider_account="ACC-1") == 1
    assert series(after, "leo_account_info", provider_account="ACC-1", provider_account_name="Nordic") == 1
    assert len(after["leo_account_info"]) == 1


def test_one_account_info_series_per_provider_account_seen() -> None:
    state = FleetState(Clock())
    account = AccountState("kognitive", "dp-main", offline_after=180, online_from_telemetry=False)
    state.add_account(account)
    account.set_provider_accounts([AccountRecord("ACC-1"), AccountRecord("ACC-2")])
    infos = scrape(state)["leo_account_info"]
    assert sorted(dict(key).get("provider_account") for key in infos) == ["ACC-1", "ACC-2"]
    assert {dict(key)["account"] for key in infos} == {"dp-main"}


def test_offline_terminal_keeps_info_and_last_seen_but_its_telemetry_stops() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 10, [("thermal_throttling",)]), catalog.TERMINAL_ALERT)
    clock.now += 200  # past offline_after (180 s) without new telemetry
    result = scrape(state)
    assert series(result, "leo_terminal_online", terminal_id="T1") == 0
    assert series(result, "leo_terminal_info", terminal_id="T1") == 1
    assert series(result, "leo_terminal_last_seen_timestamp_seconds", terminal_id="T1") == NOW - 10
    assert series(result, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id="T1") is None
    assert series(result, "leo_terminal_alert", terminal_id="T1") is None
    # never seen in telemetry at all: known from inventory, offline
    assert series(result, "leo_terminal_online", terminal_id="T2") == 0


def fleet_lines(text: bytes) -> list[bytes]:
    """The exposition without the process_* families, which are read from /proc at every render
    (CPU time and memory move between two renders whatever the state does)."""
    return [line for line in text.splitlines() if b"process_" not in line]


def test_rendering_only_reads_the_state_ageing_is_the_ticks_job() -> None:
    """Online flags flip when the state is ticked, never as a side effect of rendering: two renders
    without a tick in between show the same fleet however much time passed."""
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 10), None)
    state.tick()
    before = fleet_lines(Renderer(state).render().plain)
    version = account.terminals.version
    clock.now += 200  # past offline_after
    assert fleet_lines(Renderer(state).render().plain) == before
    assert account.terminals.version == version
    after = scrape(state)  # ticks first
    assert series(after, "leo_terminal_online", terminal_id="T1") == 0


def test_alert_clears_when_the_device_no_longer_reports_it() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 20, [("actuator_motor_stuck",)]), catalog.TERMINAL_ALERT)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 5, [()]), catalog.TERMINAL_ALERT)
    result = scrape(state)
    assert series(result, "leo_terminal_alert", terminal_id="T1") is None
    assert series(result, "leo_terminal_active_alerts", terminal_id="T1") == 0


def test_older_rows_never_overwrite_newer_ones() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 5), None)
    stale = telemetry(["T1"], NOW - 60)
    stale.measures[catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND] = [5.0]
    account.terminals.apply_columns(stale, None)
    result = scrape(state)
    assert series(result, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id="T1") == 1e6
    assert series(result, "leo_terminal_last_seen_timestamp_seconds", terminal_id="T1") == NOW - 5


def test_terminal_that_leaves_the_inventory_disappears_entirely() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1", "T2"], NOW - 10), None)
    account.replace_terminals([TerminalRecord("T1", "SL-1", "MV Nordic Star", "KIT1", "DISH1")])
    result = scrape(state)
    assert not [k for fam in result.values() for k in fam if ("terminal_id", "T2") in k]
    assert series(result, "leo_terminal_online", terminal_id="T1") == 1


def test_usage_by_class_limit_and_cycle() -> None:
    clock = Clock()
    state, account = fleet(clock)
    end = 4_102_444_800.0  # 2100: a cycle still running whatever day the suite runs
    account.apply_usage(
        [UsageRecord("SL-1", {"priority": 5e9, "standard": 1e9}, limit_bytes=50e9, cycle_start=1.0, cycle_end=end)]
    )
    result = scrape(state)
    assert series(result, "leo_service_line_usage_bytes", service_line="SL-1", **{"class": "priority"}) == 5e9
    assert series(result, "leo_service_line_usage_limit_bytes", service_line="SL-1") == 50e9
    assert series(result, "leo_service_line_billing_cycle_end_timestamp_seconds", service_line="SL-1") == end


def test_a_report_of_a_cycle_that_has_ended_is_the_previous_cycles() -> None:
    """A lagging report (its cycle's end is past): the previous cycle's figures, no current ones."""
    clock = Clock()
    state, account = fleet(clock)
    account.clock = lambda: 3.0
    account.apply_usage([UsageRecord("SL-1", {"priority": 5e9}, limit_bytes=50e9, cycle_start=1.0, cycle_end=2.0)])
    result = scrape(state)
    assert series(result, "leo_service_line_usage_bytes", service_line="SL-1", **{"class": "priority"}) is None
    assert series(result, "leo_service_line_billing_cycle_start_timestamp_seconds", service_line="SL-1") is None
    prev = series(result, "leo_service_line_previous_cycle_usage_bytes", service_line="SL-1", **{"class": "priority"})
    assert prev == 5e9
    assert series(result, "leo_service_line_previous_cycle_end_timestamp_seconds", service_line="SL-1") == 2.0
    assert series(result, "leo_service_line_usage_limit_bytes", service_line="SL-1") == 50e9  # the plan's, kept


def usage_classes(result, family: str, line: str = "SL-1") -> dict[str, float]:
    return {
        dict(key)["class"]: value for key, value in result.get(family, {}).items() if dict(key)["service_line"] == line
    }


def test_a_usage_class_a_line_used_in_neither_cycle_is_not_exported_but_priority_always_is() -> None:
    """A priority plan's line never uses `standard`, and most lines never opt in: such zeros are
    not series. A class used this cycle, on the newest day or in the previous cycle is exported in
    all three families (so it does not vanish when a cycle starts), and `priority` always is."""
    state, account = fleet(Clock())
    end = 4_102_444_800.0
    zeros = {"priority": 0.0, "standard": 0.0, "opt_in_priority": 0.0, "non_billable": 0.0}
    account.apply_usage(
        [
            UsageRecord(
                "SL-1",
                {**zeros, "priority": 5e9, "non_billable": 1e6},
                cycle_start=1.0,
                cycle_end=end,
                daily_by_class={**zeros, "priority": 2e8},
                previous=CycleUsage(0.0, 1.0, {**zeros, "standard": 3e9}),
            ),
            UsageRecord("SL-2", dict(zeros), cycle_start=1.0, cycle_end=end),
        ]
    )
    result = scrape(state)
    shown = {"priority", "standard", "non_billable"}  # opt_in_priority: 0 everywhere
    for family in (
        "leo_service_line_usage_bytes",
        "leo_service_line_daily_usage_bytes",
        "leo_service_line_previous_cycle_usage_bytes",
    ):
        assert set(usage_classes(result, family)) == shown, family
    assert usage_classes(result, "leo_service_line_usage_bytes")["standard"] == 0.0  # used last cycle only
    assert usage_classes(result, "leo_service_line_previous_cycle_usage_bytes")["standard"] == 3e9
    # a line that used nothing keeps its priority figure, which the plan-limit rules read
    assert usage_classes(result, "leo_service_line_usage_bytes", "SL-2") == {"priority": 0.0}


def test_job_series_carry_provider_account_and_the_bare_call() -> None:
    clock = Clock()
    state, account = fleet(clock)
    job = JobStatus(account, "telemetry", 15.0, 60.0, up=0.0, last_run=NOW)
    state.jobs.append(job)
    result = scrape(state)
    labels = {"provider": "starlink", "account": "north", "call": "telemetry"}
    assert series(result, "leo_exporter_job_up", **labels) == 0
    assert series(result, "leo_exporter_job_interval_seconds", **labels) == 15
    assert series(result, "leo_exporter_job_last_success_timestamp_seconds", **labels) is None
    # `job` and `instance` are Prometheus' target labels: no series of ours may carry them
    assert not [key for family in result.values() for key in family if {"job", "instance"} & set(dict(key))]


def test_job_series_follow_every_run_and_change_of_a_job_under_one_renderer() -> None:
    """A job's chunks are kept between renderings (thousands of accounts' jobs are not made again
    every time) and made again as soon as a run or a change of the job is recorded."""
    state, account = fleet(Clock())
    job = JobStatus(account, "telemetry", 15.0, 60.0, up=1.0, last_run=NOW)
    state.jobs.append(job)
    renderer = Renderer(state)
    labels = {"provider": "starlink", "account": "north", "call": "telemetry"}

    def figures() -> dict[str, float | None]:
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(renderer.render().plain.decode()):
            for sample in family.samples:
                out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        names = ("up", "last_run_timestamp_seconds", "interval_seconds", "enabled")
        figures = {name: series(out, f"leo_exporter_job_{name}", **labels) for name in names}
        return {**figures, "runs": series(out, "leo_exporter_job_runs_total", result="success", **labels)}

    assert (
        figures()
        == figures()
        == {"up": 1, "last_run_timestamp_seconds": NOW, "interval_seconds": 15, "enabled": 1, "runs": 0}
    )
    job.up, job.last_run, job.successes = 0.0, NOW + 15, 1.0
    assert figures() == {
        "up": 0,
        "last_run_timestamp_seconds": NOW + 15,
        "interval_seconds": 15,
        "enabled": 1,
        "runs": 1,
    }
    job.interval, job.enabled = 60.0, False  # the admin API's changes
    assert figures()["interval_seconds"] == 60 and figures()["enabled"] == 0


def test_account_series_follow_their_changes_under_one_renderer() -> None:
    state, account = fleet(Clock())
    renderer = Renderer(state)

    def figures() -> tuple[float | None, float | None]:
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(renderer.render().plain.decode()):
            for sample in family.samples:
                out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        requests = series(out, "leo_exporter_api_requests_total", endpoint="telemetry", code="200")
        return series(out, "leo_exporter_account_authenticated", account="north"), requests

    account.set_authenticated(True)
    assert figures() == figures() == (1, None)
    account.set_authenticated(False)
    account.count_request("telemetry", "200")
    assert figures() == (0, 1)
    account.count_request("telemetry", "200")
    assert figures() == (0, 2)


def test_the_exporter_figures_of_many_accounts_are_a_few_chunks_remade_by_block() -> None:
    """Each account's jobs and request counters are rendered in blocks of EXPORTER_BLOCK accounts (a
    chunk each costs memory in both processes): 70 accounts make 3 chunks a family, each marked as
    holding several accounts so an `account[]` scrape filters its lines. A change remakes only
    the block of the account it happened to; the text is what one chunk an account gave."""
    state = FleetState(Clock())
    accounts = [
        AccountState("starlink", f"acct-{n:02}", offline_after=180, online_from_telemetry=True) for n in range(70)
    ]
    for account in accounts:
        state.add_account(account)
        state.jobs.append(JobStatus(account, "telemetry", 15.0, 60.0, up=1.0, last_run=NOW))
        account.count_request("telemetry", "200")
    renderer = Renderer(state)

    def chunks(exposition: Exposition, family: str) -> list[Chunk]:
        return [
            c for c, t in zip(exposition.chunks, exposition.tags, strict=True) if t.family == family and not t.header
        ]

    first = renderer.render()
    for family in ("leo_exporter_job_up", "leo_exporter_api_requests_total"):
        tags = [t for t in first.tags if t.family == family and not t.header]
        assert len(tags) == -(-70 // EXPORTER_BLOCK) == 3
        assert all(t.several and t.account is None for t in tags)
    lines = [line for line in first.plain.decode().splitlines() if line.startswith("leo_exporter_job_up{")]
    assert lines == [
        f'leo_exporter_job_up{{provider="starlink",account="acct-{n:02}",call="telemetry"}} 1.0' for n in range(70)
    ]
    accounts[40].count_request("telemetry", "429")  # in the second block
    state.jobs[5].up = 0.0  # in the first (a job's version moves with every change)
    second = renderer.render()
    for family, changed in (("leo_exporter_api_requests_total", 1), ("leo_exporter_job_up", 0)):
        before, after = chunks(first, family), chunks(second, family)
        assert [a is b for a, b in zip(before, after, strict=True)] == [i != changed for i in range(3)], family
    assert 'leo_exporter_job_up{provider="starlink",account="acct-05",call="telemetry"} 0.0' in second.plain.decode()
    counted = (
        'leo_exporter_api_requests_total{provider="starlink",account="acct-40",endpoint="telemetry",code="429"} 1.0'
    )
    assert counted in second.plain.decode()


def test_the_service_lines_of_small_accounts_share_chunks_in_blocks_with_the_same_text(monkeypatch) -> None:
    """Accounts of a few terminals each (a reseller's sites) had a chunk per family each, about
    500 bytes of objects a chunk in the worker. The tables that change only with the slow jobs
    (service lines, pools, sites, ...: kinds without live readings) of small accounts now share
    one chunk a family per slot of TABLE_BLOCK accounts, naming them as members and counting each
    one's series in a restarted worker (what the front reads to carry its missing data), from the
    first rendering on, whether or not an account's first runs are done; a large account and
    every terminal and router table (remade with each telemetry batch) keep chunks of their own.
    The text is the same, in the same order, as one chunk an account; a change remakes only the
    block it happened in, and a chunk no longer used is not kept."""
    state = FleetState(Clock())
    accounts = []
    for n in range(20):
        account = AccountState("starlink", f"site-{n:02}", offline_after=180, online_from_telemetry=True)
        state.add_account(account)
        size = SMALL_TABLE + 1 if n == 9 else 2  # site-09 is large
        account.replace_service_lines([ServiceLineRecord(f"SL{n}-{i}", "", "P1", True) for i in range(size)])
        account.replace_terminals([TerminalRecord(f"T{n}", f"SL{n}-0", f"T{n}", "", "")])
        state.jobs.append(JobStatus(account, "service_lines", 15.0, 60.0, up=1.0, last_run=NOW, last_success=NOW))
        accounts.append(account)
    state.jobs[15].last_success = None  # site-15's first run has not succeeded yet: in its block all the same
    family = "leo_service_line_active"

    def blocks(exposition: Exposition, family: str = family) -> list[tuple[str | None, tuple[str, ...]]]:
        return [(t.account, t.members) for t in exposition.tags if t.family == family and not t.header]

    def counts(exposition: Exposition) -> list[tuple[int, ...]]:
        return [t.member_series for t in exposition.tags if t.family == family and not t.header]

    state.tick()
    assert not any(counts(Renderer(state).render()))  # a first start: nothing to carry, nothing counted
    renderer = Renderer(state, restarted=True)
    first = renderer.render()
    names = [f"site-{n:02}" for n in range(20)]
    assert TABLE_BLOCK == 8  # slots: site-00 to 07, 08 to 15, 16 to 19
    assert (
        blocks(first)
        == [
            (None, tuple(names[0:8])),
            (None, (names[8],)),  # the run before the large account
            ("site-09", ()),
            (None, tuple(names[10:16])),
            (None, tuple(names[16:20])),
        ]
    )
    assert counts(first) == [(2,) * 8, (2,), (), (2,) * 6, (2,) * 4]  # two lines each; a chunk of its own: none
    info = [t.member_series for t in first.tags if t.family == "leo_service_line_info" and not t.header]
    assert info[0] is counts(first)[0]  # equal counts are one tuple, whichever family's block
    assert blocks(first, "leo_terminal_info") == [(name, ()) for name in names]
    monkeypatch.setattr("leo_exporter.render.TABLE_BLOCK", 1)
    monkeypatch.setattr("leo_exporter.render.SMALL_TABLE", 0)

    def samples(exposition: Exposition) -> list[str]:  # the process' own figures move meanwhile
        return [line for line in exposition.plain.decode().splitlines() if "process_" not in line]

    assert samples(render(state)) == samples(first)  # the text of one chunk an account
    monkeypatch.undo()

    def chunks(exposition: Exposition) -> list[Chunk]:
        tags = exposition.tags
        return [c for c, t in zip(exposition.chunks, tags, strict=True) if t.family == family and not t.header]

    accounts[3].replace_service_lines([ServiceLineRecord("SL3-0", "", "P1", False)])
    second = renderer.render()
    assert [a is b for a, b in zip(chunks(first), chunks(second), strict=True)] == [False, *[True] * 4]
    assert 'leo_service_line_active{provider="starlink",account="site-03",service_line="SL3-0"} 0.0' in (
        second.plain.decode().splitlines()
    )
    assert counts(second)[0] == (2, 2, 2, 1, 2, 2, 2, 2)
    accounts[12].replace_service_lines([])  # its table stays, with no line: a member without series
    third = renderer.render()
    assert blocks(third)[3] == (None, tuple(names[10:16])) and counts(third)[3] == (2, 2, 0, 2, 2, 2)
    assert "site-12" not in "".join(line for line in samples(third) if line.startswith(family))
    assert [a is b for a, b in zip(chunks(second), chunks(third), strict=True)] == [True, True, True, False, True]
    assert len(renderer._cache[family]) == 5


def test_a_kind_of_entity_an_account_gains_later_appears_under_the_same_renderer() -> None:
    state, account = fleet(Clock())
    renderer = Renderer(state)
    before = renderer.render().plain.decode()
    assert "leo_router_info" not in before
    assert set(account.tables) == {"terminal", "service_line"}  # no empty tables of unused kinds

    account.replace_routers([RouterRecord("R1", "T1", "bridge")])
    after = renderer.render().plain.decode()
    # made after the provider named its account, it still carries the account's id
    assert 'router_id="R1",terminal_id="T1",name="bridge",provider_account="ACC-1"} 1.0' in after


def test_every_rendered_family_is_in_the_catalogue_with_its_type() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 10, [("x",)]), catalog.TERMINAL_ALERT)
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/account", "200"))
    text = render(state).plain.decode()
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        assert name in BY_NAME, name
        assert BY_NAME[name].exposition_type == family.type


def test_output_equals_what_prometheus_client_renders_for_the_same_families() -> None:
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1", "T2"], NOW - 10, [("a",), ("b", "c")]), catalog.TERMINAL_ALERT)
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/account", "200"), 3)
    account.apply_usage([UsageRecord("SL-1", {"priority": 5e9}, limit_bytes=None, cycle_start=1.0)])
    ours = render(state).plain.decode()
    stock = render_stock(stock_registry(parse(ours))).decode()

    def canonical(text: str) -> dict:
        return {
            (f.name, f.type, f.documentation): sorted(
                (s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples
            )
            for f in parse(text)
        }

    assert canonical(ours) == canonical(stock)
    assert len(canonical(ours)) >= 14


@pytest.mark.e2e
def test_promtool_accepts_the_exposition(tmp_path) -> None:
    promtool = require_tool("promtool")
    clock = Clock()
    state, account = fleet(clock)
    account.terminals.apply_columns(telemetry(["T1"], NOW - 10, [("a",)]), catalog.TERMINAL_ALERT)
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/account", "200"))
    body = render(state).plain
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_gzip_variant_holds_the_same_bytes() -> None:
    import gzip

    state, _ = fleet(Clock())
    exposition = render(state)
    assert gzip.decompress(exposition.gzipped) == exposition.plain


def test_build_info_and_the_standard_process_families_are_in_the_exposition() -> None:
    state, _ = fleet(Clock())
    families = {f.name: f for f in text_string_to_metric_families(Renderer(state).render().plain.decode())}
    (info,) = families["leo_exporter_build_info"].samples
    # what the build recorded (leo_exporter/version.py: git tags and commit, or the image's build arguments)
    assert info.labels == {"version": build.version, "revision": build.revision, "python_version": build.python_version}
    assert info.labels["python_version"] == platform.python_version() and info.labels["revision"]
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert families["process_cpu_seconds"].type == "counter"
    assert families["process_start_time_seconds"].samples[0].value > 1e9
    assert not families["process_open_fds"].samples[0].labels  # no provider/account: the process is one
