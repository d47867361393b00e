"""Names that provider data makes up, kept to a bounded set, and the warnings about them to a bounded rate.

A provider answer can carry any number of new names (column names, `metadata.enums` keys,
alert codes): 2,000 new enum keys per answer made 60,000 `field` label values in a minute, and
20,000 new column names per answer wrote 243 MB of warnings a minute and grew the set of names
already reported without end. Here every such set is capped: a label value beyond the cap is
folded into `other` (and still counted), a name beyond the memory cap is counted but no longer
remembered, and warnings beyond `WARNINGS_PER_MINUTE` are summed up in one line a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from leo_exporter import catalog, lazyset
from leo_exporter.state import AccountState

OTHER = "other"  # the label value every name beyond a bound is folded into
MAX_FIELDS = 64  # distinct `field` values of leo_exporter_invalid_values_total per account
MAX_REMEMBERED = 10_000  # names remembered per account as already reported (then counted only)
MAX_NAME_LENGTH = 120  # longer names are shown cut in logs, and never become a label value
WARNINGS_PER_MINUTE = 20  # warning lines about provider data per account and minute


class LabelBound:
    """The first `limit` distinct values pass as they are; later new ones (and any value longer
    than MAX_NAME_LENGTH) become `other`. `folded` counts the values folded."""

    def __init__(self, limit: int, always: frozenset[str] = frozenset()):
        self.limit = limit
        self.always = always  # names known in advance: they pass without taking a place
        self.values: AbstractSet[str] = lazyset.EMPTY
        self.folded = 0

    def __call__(self, value: str) -> str:
        if value in self.always or value in self.values:
            return value
        if len(self.values) < self.limit and len(value) <= MAX_NAME_LENGTH:
            self.values = lazyset.with_added(self.values, value)
            return value
        self.folded += 1
        return OTHER


class WarningGate:
    """At most `per_minute` warnings a minute; the rest are counted and summed up in one line."""

    def __init__(
        self,
        log: logging.LoggerAdapter,
        per_minute: int = WARNINGS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log = log
        self.per_minute = per_minute
        self.clock = clock
        self.window = clock()
        self.sent = 0
        self.held = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self.window >= 60.0:
            if self.held:
                self.log.warning(
                    "%d more warnings about provider data in the last minute were not logged (see "
                    "leo_exporter_unknown_fields_total and leo_exporter_invalid_values_total)",
                    self.held,
                )
            self.window, self.sent, self.held = now, 0, 0
        if self.sent < self.per_minute:
            self.sent += 1
            self.log.warning(message, *args)
        else:
            self.held += 1


def shown(name: str) -> str:
    """A provider's name as a log shows it: cut to MAX_NAME_LENGTH characters."""
    return name if len(name) <= MAX_NAME_LENGTH else f"{name[:MAX_NAME_LENGTH]}…"


class UnknownNames:
    """Names the exporter does not know yet (columns, alerts, device types) and values it cannot
    read (an H3 cell that is no cell): logged once (within the bounds above), counted every time."""

    def __init__(self, account: AccountState, log: logging.LoggerAdapter, clock: Callable[[], float] = time.monotonic):
        self.account = account
        self.log = log
        self.gate = WarningGate(log, clock=clock)
        self.seen: AbstractSet[tuple[str, str]] = lazyset.EMPTY
        self.fields = LabelBound(MAX_FIELDS)

    def _first(self, key: tuple[str, str]) -> bool:
        """True the first time `key` is met; once MAX_REMEMBERED keys are held, every time
        (it can no longer be told apart: the warning gate bounds what that costs)."""
        if key in self.seen:
            return False
        if len(self.seen) < MAX_REMEMBERED:
            self.seen = lazyset.with_added(self.seen, key)
        return True

    def note(self, kind: str, name: str, where: str = "") -> bool:
        """Record a sighting (`kind` is the exporter's word, `name` the provider's); True the
        first time this (kind, name) is seen. Counted once per new name (every sighting once
        MAX_REMEMBERED names are held: they can no longer be told apart)."""
        if not self._first((kind, name)):
            return False
        self.account.count(catalog.EXPORTER_UNKNOWN_FIELDS_TOTAL, (kind,))
        self.gate.warning(
            "new %s %r in provider data%s; it is not exported yet", kind, shown(name), f" ({where})" if where else ""
        )
        return True

    def invalid(self, field: str, problem: str, count: int = 1) -> None:
        """Count values that could not be read (by field, folded into `other` beyond
        MAX_FIELDS fields); log once per (field, problem), never the value."""
        label = self.fields(field)
        self.account.count(catalog.EXPORTER_INVALID_VALUES_TOTAL, (label,), count)
        if self._first(("invalid", f"{field}\0{problem}")):
            self.gate.warning("unreadable %s in provider data: %s; such values are left out", shown(field), problem)
