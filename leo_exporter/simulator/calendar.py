"""The simulated world's calendar: one injectable clock and billing cycles anchored per line.

Real billing cycles start on each service line's own day of the month (its activation day), not
on the 1st for everyone, so on any date some simulated lines are on their first day, some halfway
and some on their last. An anchor past the end of a short month (the 31st in April, the 29th in a
common February) falls on that month's last day, as a monthly subscription does.

The clock moves the calendar only: `SimCalendar.now()` is the machine's time shifted so that the
simulation starts at a chosen instant (`--simulator.now`), and it then runs at the real pace. Live
data (telemetry rows, token lifetimes, OneWeb performance reports) keeps the machine's clock,
because the exporter judges freshness by its own clock, as it must with real devices.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

ENV_VAR = "LEO_SIMULATOR_NOW"
EDGE_ANCHORS = (1, 29, 30, 31)  # every simulated fleet has lines anchored on these days


class SimCalendar:
    """`now()` is `real()` moved by a fixed offset, so the simulated date starts at `start`."""

    def __init__(self, start: float | None = None, real: Callable[[], float] = time.time) -> None:
        self.real = real
        self.offset = 0.0 if start is None else start - real()

    def now(self) -> float:
        return self.real() + self.offset

    def __call__(self) -> float:
        return self.now()


def parse_instant(text: str) -> float:
    """An ISO 8601 instant (`2027-03-01T00:30:00Z`, or with an offset) as Unix seconds.

    A date-time without a zone is refused: the simulated calendar is UTC and a local time would
    move it by the machine's zone."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {text!r} (e.g. 2027-03-01T00:30:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: end it with Z for UTC")
    return parsed.timestamp()


def midnight(ts: float) -> datetime:
    """Midnight UTC of the day `ts` falls on."""
    return datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def anchored(year: int, month: int, anchor: int) -> datetime:
    """Midnight UTC on `anchor` of that month, or its last day when the month is shorter."""
    months = year * 12 + month - 1
    year, month = months // 12, months % 12 + 1
    return datetime(year, month, min(anchor, calendar.monthrange(year, month)[1]), tzinfo=UTC)


def cycle_start(anchor: int, when: datetime, shift: int = 0) -> datetime:
    """Start of the billing cycle that contains `when`, moved by `shift` cycles."""
    start = anchored(when.year, when.month, anchor)
    months = when.month + shift - (1 if start > when else 0)
    return anchored(when.year, months, anchor)


def cycle_bounds(anchor: int, when: datetime, shift: int = 0) -> tuple[datetime, datetime]:
    """(start, end) of the cycle containing `when` (moved by `shift` cycles); end is exclusive."""
    start = cycle_start(anchor, when, shift)
    return start, anchored(start.year, start.month + 1, anchor)


def anchor_for(index: int, h: int) -> int:
    """A line's cycle day: the first lines of a fleet take the edge days, the rest are spread."""
    if index < len(EDGE_ANCHORS):
        return EDGE_ANCHORS[index]
    return 1 + h % 31


def days(start: datetime, stop: datetime) -> list[datetime]:
    """Midnights from `start` (inclusive) to `stop` (exclusive)."""
    out = []
    day = start
    while day < stop:
        out.append(day)
        day += timedelta(days=1)
    return out
