"""Usage and billing records -> an account's figures: each service line's usage (this cycle, the newest
day, the previous cycle), its limit and overage, the data pools, the products and the balance due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

from leo_exporter import catalog
from leo_exporter.labeltext import label_fragment
from leo_exporter.records import CycleUsage, PoolRecord, ProductRecord, UsageRecord
from leo_exporter.state.checks import finite
from leo_exporter.state.tables import EntityTable


def lagging(rec: UsageRecord, now: float | None) -> UsageRecord:
    """A report whose cycle has already ended (a provider's report lags the cycle's end: at 00:30
    on a cycle's first day the newest one may still be the last cycle's) is the previous cycle's:
    its figures move there, and the current cycle has none until a report of it arrives."""
    if now is None or rec.cycle_end is None or rec.cycle_end > now:
        return rec
    return replace(
        rec,
        by_class={},
        cycle_start=None,
        cycle_end=None,
        previous=CycleUsage(rec.cycle_start, rec.cycle_end, rec.by_class),
        overage=(),
    )


# Always exported where a provider reports it, even at 0: the plan-limit rules read it
# (`service_line:leo_service_line_usage_bytes:counted` falls back to the other classes without it).
ALWAYS_SHOWN_CLASSES = frozenset({"priority"})


def shown_classes(rec: UsageRecord) -> frozenset[str]:
    """The usage classes a line has used this cycle, on the newest day or in the previous cycle,
    and `priority`. A class that stayed 0 for two cycles is not exported: a line's plan uses
    `priority` or `standard`, almost never both, and most never opt in (issue 29: 5.4 of the 45.6
    series a Starlink terminal had were such zeros). Two cycles, so a class does not vanish at
    each cycle's start and come back with its first byte."""
    cycles = (rec.by_class, rec.daily_by_class or {}, rec.previous.by_class if rec.previous else {})
    reported = {k for figures in cycles for k in figures}
    used = {k for figures in cycles for k, v in figures.items() if v}
    return frozenset(used | (ALWAYS_SHOWN_CLASSES & reported))


def _by_class(figures: dict[str, float] | None, shown: frozenset[str]) -> dict[tuple[str], float]:
    return {(k,): v for k, v in (figures or {}).items() if k in shown}


def apply_usage(
    table: EntityTable[Literal["service_line"]], records: Iterable[UsageRecord], now: float | None = None
) -> None:
    """Each line's usage this cycle, the newest day, the previous cycle, its limit and overage."""
    for rec in records:
        rec = lagging(rec, now)
        sln = rec.service_line
        shown = shown_classes(rec)
        table.set_labelled(catalog.SERVICE_LINE_USAGE_BYTES, sln, _by_class(rec.by_class, shown))
        # No reported day (a cycle's first day, the previous cycle not asked for): no daily
        # figure, rather than the last one seen, which would pass for the newest day.
        table.set_labelled(catalog.SERVICE_LINE_DAILY_USAGE_BYTES, sln, _by_class(rec.daily_by_class, shown))
        table.set(catalog.SERVICE_LINE_DAILY_USAGE_DATE_TIMESTAMP_SECONDS, sln, rec.daily_date)
        table.set(catalog.SERVICE_LINE_USAGE_LIMIT_BYTES, sln, rec.limit_bytes)
        table.set(catalog.SERVICE_LINE_BILLING_CYCLE_START_TIMESTAMP_SECONDS, sln, rec.cycle_start)
        table.set(catalog.SERVICE_LINE_BILLING_CYCLE_END_TIMESTAMP_SECONDS, sln, rec.cycle_end)
        table.set(catalog.SERVICE_LINE_USAGE_UPDATED_TIMESTAMP_SECONDS, sln, rec.updated)
        previous = rec.previous
        table.set_labelled(
            catalog.SERVICE_LINE_PREVIOUS_CYCLE_USAGE_BYTES,
            sln,
            _by_class(previous.by_class if previous else None, shown),
        )
        table.set(
            catalog.SERVICE_LINE_PREVIOUS_CYCLE_START_TIMESTAMP_SECONDS, sln, previous.start if previous else None
        )
        table.set(catalog.SERVICE_LINE_PREVIOUS_CYCLE_END_TIMESTAMP_SECONDS, sln, previous.end if previous else None)
        table.set_labelled(catalog.SERVICE_LINE_OVERAGE_BYTES, sln, {(o.product,): o.bytes for o in rec.overage})
        table.set_labelled(
            catalog.SERVICE_LINE_OVERAGE_LIMIT_BYTES,
            sln,
            {(o.product,): o.limit_bytes for o in rec.overage if o.limit_bytes is not None},
        )
        table.set_labelled(
            catalog.SERVICE_LINE_OVERAGE_COST,
            sln,
            {(o.product, o.currency): o.cost for o in rec.overage if o.cost is not None},
        )
        if rec.mobile is not None:
            table.update_attrs(sln, {"mobile": "true" if rec.mobile else "false"})


def replace_pools(table: EntityTable[Literal["pool"]], records: Iterable[PoolRecord]) -> None:
    """The account's data pools: info, capacity and use this period, and each line's share."""
    records = list(records)
    table.replace_inventory({r.pool: {"name": r.name, "product": r.product, "type": r.kind} for r in records})
    table.replace_family(
        catalog.DATA_POOL_CAPACITY_BYTES,
        {r.pool: r.capacity_bytes for r in records if r.capacity_bytes is not None},
    )
    table.replace_family(
        catalog.DATA_POOL_USAGE_BYTES, {r.pool: r.usage_bytes for r in records if r.usage_bytes is not None}
    )
    table.replace_family(
        catalog.DATA_POOL_PERIOD_END_TIMESTAMP_SECONDS,
        {r.pool: r.period_end for r in records if r.period_end is not None},
    )
    for r in records:
        table.set_labelled(
            catalog.DATA_POOL_SERVICE_LINE_USAGE_BYTES, r.pool, {(sln,): v for sln, v in r.by_service_line.items()}
        )


def balance(due: dict[str, float]) -> dict[str, float]:
    """The amount the account owes, per currency: `currency="EUR"` label text -> amount."""
    return {label_fragment([("currency", currency)]): amount for currency, amount in due.items() if finite(amount)}


def replace_products(table: EntityTable[Literal["product"]], records: Iterable[ProductRecord]) -> None:
    """The products (plans) on offer: info, price and data included."""
    records = list(records)
    inventory = {rec.product: {"name": rec.name, "currency": rec.currency, **rec.attributes} for rec in records}
    table.replace_inventory(inventory)
    table.replace_family(catalog.PRODUCT_PRICE, {r.product: r.price for r in records if r.price is not None})
    table.replace_family(
        catalog.PRODUCT_DATA_BYTES, {r.product: r.data_bytes for r in records if r.data_bytes is not None}
    )
