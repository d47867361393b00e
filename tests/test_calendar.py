"""The simulated calendar: billing cycles on each line's own day, at the dates that break naive code.

Every test here sets the simulated date itself (`build_app(now=...)`), so the outcome is the same
on any day the suite runs. The exporter and the simulator run in one process (tests/inprocess.py).
"""

from __future__ import annotations

import calendar as cal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leo_exporter.simulator.app import build_app
from leo_exporter.simulator.calendar import SimCalendar, cycle_bounds, parse_instant
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import samples_by_name

pytestmark = pytest.mark.anyio

# The dates the issue names: a month's first minutes, a 31-day month's last, a leap day, a year's
# end, and a day that an anchor (31) does not have (April).
EDGE_DATES = {
    "first-of-month": "2027-03-01T00:30:00Z",
    "last-of-31-day-month": "2027-01-31T23:50:00Z",
    "leap-day": "2028-02-29T12:00:00Z",
    "new-years-eve": "2026-12-31T23:59:00Z",
    "april-30-no-31st": "2027-04-30T12:00:00Z",
}
DAY = 86400.0


def utc(text: str) -> datetime:
    return datetime.fromtimestamp(parse_instant(text), UTC)


# ---- cycle arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "when", "start", "end"),
    [
        (1, "2027-03-01T00:30:00Z", "2027-03-01", "2027-04-01"),  # the first minutes of a cycle
        (1, "2027-02-28T23:59:00Z", "2027-02-01", "2027-03-01"),
        (31, "2027-04-15T00:00:00Z", "2027-03-31", "2027-04-30"),  # April has no 31st: its last day
        (31, "2027-04-30T12:00:00Z", "2027-04-30", "2027-05-31"),
        (31, "2027-02-28T00:00:00Z", "2027-02-28", "2027-03-31"),
        (30, "2028-02-29T12:00:00Z", "2028-02-29", "2028-03-30"),  # leap year: the 29th is February's last
        (29, "2027-02-28T12:00:00Z", "2027-02-28", "2027-03-29"),  # common year: the 28th is
        (29, "2028-02-29T12:00:00Z", "2028-02-29", "2028-03-29"),
        (31, "2026-12-31T23:59:00Z", "2026-12-31", "2027-01-31"),  # the year rolls over inside the cycle
        (15, "2027-01-01T00:00:00Z", "2026-12-15", "2027-01-15"),
    ],
)
def test_cycle_bounds(anchor: int, when: str, start: str, end: str) -> None:
    got = cycle_bounds(anchor, utc(when))
    assert (got[0].date().isoformat(), got[1].date().isoformat()) == (start, end)


def test_cycles_follow_each_other_without_gaps_for_every_anchor() -> None:
    """Over four years (a leap year included) every day of every anchor is in exactly one cycle."""
    day = datetime(2027, 1, 1, tzinfo=UTC)
    for anchor in range(1, 32):
        start, end = cycle_bounds(anchor, day)
        for _ in range(48):
            next_start, next_end = cycle_bounds(anchor, end)
            assert next_start == end
            assert 28 <= (end - start).days <= 31
            expected = min(anchor, cal.monthrange(start.year, start.month)[1])
            assert start.day == expected
            start, end = next_start, next_end


def test_the_calendar_starts_at_the_given_instant_and_runs_at_the_real_pace() -> None:
    ticks = iter([1000.0, 1000.0, 1060.5])
    calendar = SimCalendar(parse_instant("2027-03-01T00:30:00Z"), real=lambda: next(ticks))
    assert calendar.now() == parse_instant("2027-03-01T00:30:00Z")
    assert calendar.now() == parse_instant("2027-03-01T00:31:00.5Z")


@pytest.mark.parametrize("text", ["2027-03-01", "2027-03-01T00:30:00", "yesterday", "2027-02-30T00:00:00Z"])
def test_an_instant_needs_a_date_a_time_and_a_zone(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601|time zone"):
        parse_instant(text)


def test_every_provider_has_lines_anchored_on_the_edge_days() -> None:
    app = build_app(now=parse_instant("2027-03-15T12:00:00Z"))
    starlink_days = {line.cycle_day for acc in app.state.starlink.accounts for line in acc.service_lines}
    kognitive_days = {line.anchor for acc in app.state.kognitive.accounts() for line in acc.lines}
    oneweb_days = {p.anchor for a in app.state.oneweb.accounts for p in a.products}
    assert {1, 29, 30, 31} <= starlink_days and len(starlink_days) >= 10
    assert {1, 29, 30, 31} <= kognitive_days
    assert {1, 29, 30, 31} <= oneweb_days


# ---- what a user sees at each edge date --------------------------------------------------------------


def per_line(samples: list[Any]) -> dict[tuple[str, str, str], Any]:
    return {(s.labels["provider"], s.labels["account"], s.labels["service_line"]): s for s in samples}


async def exposition_at(instant: str) -> tuple[dict[str, list[Any]], Any]:
    app = build_app(now=parse_instant(instant))
    exporter, app = simulated_exporter(app, every_collector=True)  # the cycle figures of `details` too
    await poll_all(exporter)
    exposition = await exporter.render_now()
    return samples_by_name(exposition.plain.decode()), app


@pytest.mark.parametrize("name", sorted(EDGE_DATES))
async def test_usage_is_sensible_at_every_edge_date(name: str) -> None:
    now = parse_instant(EDGE_DATES[name])
    m, _ = await exposition_at(EDGE_DATES[name])
    starts = per_line(m["leo_service_line_billing_cycle_start_timestamp_seconds"])
    ends = per_line(m["leo_service_line_billing_cycle_end_timestamp_seconds"])
    usage = m["leo_service_line_usage_bytes"]
    assert {s.labels["provider"] for s in usage} == {"starlink", "kognitive", "oneweb"}
    assert {k[0] for k in starts} == {"starlink", "kognitive", "oneweb"}

    # usage is never negative, and each class's cycle to date is at least its newest day
    assert all(s.value >= 0 for s in usage), [s for s in usage if s.value < 0]
    for s in m["leo_service_line_daily_usage_bytes"]:
        assert s.value >= 0
    active = {k for k, s in per_line(m["leo_service_line_active"]).items() if s.value == 1}
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    # the current cycle holds now, for every line of an active service (a deactivated line keeps
    # the cycle it ended in); OneWeb's usage report lags, and its cycle is the report's
    updated = per_line(m["leo_service_line_usage_updated_timestamp_seconds"])
    first_days = 0
    for key, start in starts.items():
        end = ends[key]
        if key in active or key[0] == "oneweb":
            when = updated[key].value if key[0] == "oneweb" else now
            assert when <= now
            assert start.value <= when < end.value, (key, start.value, end.value, when)
            assert 28 * DAY <= end.value - start.value <= 31 * DAY
        first_days += start.value == midnight.timestamp()

    # Starlink reports daily usage for the newest complete day (yesterday), also on a cycle's first
    # day, and the cycle-to-date usage of a line on its first day is zero
    yesterday = (midnight - timedelta(days=1)).timestamp()
    dates = per_line(m["leo_service_line_daily_usage_date_timestamp_seconds"])
    sl_active = [k for k in active if k[0] == "starlink"]
    assert sl_active
    assert all(dates[k].value == yesterday for k in sl_active), {k: dates.get(k) for k in sl_active}
    for key in sl_active:
        if starts[key].value == midnight.timestamp():
            cycle = [s.value for s in usage if per_line([s]).popitem()[0] == key]
            assert cycle and all(v == 0 for v in cycle), (key, cycle)
    if name == "first-of-month":
        assert first_days > 0, "some lines begin their cycle on the 1st"


async def test_a_cycle_rolls_over_at_midnight_on_new_years_eve() -> None:
    """A line anchored on the 1st: on 31 December its cycle is December's; a minute past midnight
    it is January's, with no usage yet and December's last day as the newest daily figure."""
    app = build_app(now=parse_instant("2026-12-31T23:59:00Z"))
    exporter, app = simulated_exporter(app, every_collector=True)  # the cycle figures of `details` too
    await poll_all(exporter)
    before = samples_by_name((await exporter.render_now()).plain.decode())
    app.state.calendar.offset += 120.0  # two minutes later: 1 January, 00:01
    await poll_all(exporter)
    after = samples_by_name((await exporter.render_now()).plain.decode())

    line = next(
        line.number
        for acc in app.state.starlink.accounts
        for line in acc.service_lines
        if line.cycle_day == 1 and line.active
    )
    key = next(k for k in per_line(after["leo_service_line_billing_cycle_start_timestamp_seconds"]) if k[2] == line)
    start_before = per_line(before["leo_service_line_billing_cycle_start_timestamp_seconds"])[key].value
    start_after = per_line(after["leo_service_line_billing_cycle_start_timestamp_seconds"])[key].value
    assert start_before == parse_instant("2026-12-01T00:00:00Z")
    assert start_after == parse_instant("2027-01-01T00:00:00Z")
    used = [s.value for s in after["leo_service_line_usage_bytes"] if s.labels["service_line"] == line]
    assert used and all(v == 0 for v in used)
    assert per_line(after["leo_service_line_daily_usage_date_timestamp_seconds"])[key].value == parse_instant(
        "2026-12-31T00:00:00Z"
    )
