"""Each service line's last billing cycles, as the providers' billing data gave them: the rows of
the monthly usage report (`usage-report`, `/usage.csv`, `/api/usage`).

Kept apart from the metric tables: a past cycle is no gauge (its figures are final, and
Prometheus' retention would lose them), it is a row to hand to billing. A cycle is known by its
line and its start; a newer report of the same cycle replaces it, and each line keeps its newest
`keep` cycles, so a provider that reports only the running cycle (OneWeb) builds its history as
the exporter runs, and one that reports many (Starlink) costs no more memory than asked for.
"""

from __future__ import annotations

from collections.abc import Iterable

from leo_exporter.records import BillingCycle


class CycleBook:
    """service line -> its newest billing cycles, oldest first."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = max(1, keep)
        self.lines: dict[str, dict[float, BillingCycle]] = {}

    def merge(self, records: Iterable[BillingCycle]) -> None:
        """Add or replace each record's cycle (by line and start); trim each line to `keep`."""
        touched: set[str] = set()
        for rec in records:
            self.lines.setdefault(rec.service_line, {})[rec.start] = rec
            touched.add(rec.service_line)
        for sln in touched:
            cycles = self.lines[sln]
            if len(cycles) > self.keep:
                for start in sorted(cycles)[: len(cycles) - self.keep]:
                    del cycles[start]

    def newest(self, sln: str, count: int) -> list[BillingCycle]:
        """A line's newest `count` cycles, oldest first."""
        cycles = self.lines.get(sln, {})
        return [cycles[start] for start in sorted(cycles)[-count:]] if count > 0 else []
