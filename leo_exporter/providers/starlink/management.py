"""Parsers of Starlink V2 management responses into records.

Each parser takes one decoded JSON item and returns a record, or raises BadResponse naming the
field that is missing or of the wrong type. List parsers skip bad items and say which.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from leo_exporter.labeltext import intern
from leo_exporter.providers.common import json_object, timestamp
from leo_exporter.providers.errors import BadResponse
from leo_exporter.records import (
    AccountRecord,
    BillingCycle,
    CycleUsage,
    LineHistory,
    OverageRecord,
    PoolRecord,
    RouterRecord,
    ServiceLineRecord,
    TerminalRecord,
    UsageRecord,
)

GB = 1e9  # Starlink reports decimal gigabytes
T = TypeVar("T")


def _text(item: dict[str, Any], key: str, what: str, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None:
        if required:
            raise BadResponse(f"{what}: '{key}' is missing")
        return ""
    if not isinstance(value, str):
        raise BadResponse(f"{what}: '{key}' should be a string, got {type(value).__name__}")
    return intern(value)  # one copy of what many records repeat (a currency, a product id, a status)


def _number(item: dict[str, Any], key: str, what: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResponse(f"{what}: '{key}' should be a number, got {type(value).__name__}")
    return float(value)


def parse_account(content: Any) -> AccountRecord:
    item = json_object(content, "account")
    number = _text(item, "accountNumber", "account", required=True)
    suspensions = item.get("activeSuspensions")
    region = _text(item, "regionCode", "account")
    return AccountRecord(
        provider_account=number,
        name=_text(item, "accountName", "account"),
        attributes={"region": region} if region else {},
        active_suspensions=len(suspensions) if isinstance(suspensions, list) else None,
    )


def parse_service_line(item: Any) -> ServiceLineRecord:
    item = json_object(item, "service line")
    number = _text(item, "serviceLineNumber", "service line", required=True)
    what = f"service line {number}"
    active = item.get("active")
    if active is not None and not isinstance(active, bool):
        raise BadResponse(f"{what}: 'active' should be true or false")
    return ServiceLineRecord(
        service_line=number,
        name=_text(item, "nickname", what),
        product=_text(item, "productReferenceId", what),
        active=active,
    )


# `DataBlockSummaryResponse.dataUnitType` -> bytes; decimal, as Starlink counts data (GB = 10^9)
DATA_UNITS = {"MB": 1e6, "GB": 1e9, "TB": 1e12}
TOP_UP_PURCHASES = {"one_time": "topUpBlocksOneTimePurchase", "opt_in": "topUpBlocksOptInPurchase"}


@dataclass(frozen=True, slots=True)
class LineDataBlocks:
    """A `ServiceLineResponse.dataBlocks` (`ServiceLineDataBlocksSummaryResponse`), current cycle only:
    recurring blocks by product (count, bytes each) and top-ups by (product, purchase) (count, bytes
    of all of them)."""

    service_line: str
    recurring: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    top_ups: dict[tuple[str, str], tuple[float, float | None]] = field(default_factory=dict)


def _block_bytes(block: dict[str, Any], what: str) -> float | None:
    """One block's data (`dataAmount` in `dataUnitType`, GB when the unit is not given)."""
    amount = _number(block, "dataAmount", what)
    unit = _text(block, "dataUnitType", what).strip().upper() or "GB"
    if amount is None:
        return None
    if unit not in DATA_UNITS:
        raise BadResponse(f"{what}: unknown 'dataUnitType' {unit[:20]!r} (known: {', '.join(DATA_UNITS)})")
    return amount * DATA_UNITS[unit]


def _blocks(summary: dict[str, Any], key: str, what: str) -> dict[str, tuple[float, float | None, float | None]]:
    """One list of `DataBlockSummaryResponse`: per product, (blocks, data of each, data of all).
    Several entries of one product (two top-ups bought on different days) add up."""
    raw = summary.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise BadResponse(f"{what}: '{key}' should be a list, got {type(raw).__name__}")
    out: dict[str, tuple[float, float | None, float | None]] = {}
    for entry in raw:
        block = json_object(entry, f"{what} {key}")
        product = _text(block, "productId", f"{what} {key}")
        count = _number(block, "count", f"{what} {key}")
        count = 1.0 if count is None else count
        if count < 0:
            raise BadResponse(f"{what} {key}: 'count' is negative")
        each = _block_bytes(block, f"{what} {key}")
        held_count, held_each, held_total = out.get(product, (0.0, None, 0.0))
        total = None if each is None or held_total is None else held_total + each * count
        out[product] = (held_count + count, each if held_each is None else max(held_each, each or 0.0), total)
    return out


def parse_data_blocks(item: Any) -> LineDataBlocks:
    """The data blocks of one `ServiceLineResponse`: the current cycle's recurring blocks and the
    top-ups bought this cycle (by hand, or automatically when opted in). The next cycle's and a
    delayed product's blocks are plans, not data the line has: not read."""
    item = json_object(item, "service line")
    number = _text(item, "serviceLineNumber", "service line", required=True)
    what = f"service line {number} dataBlocks"
    summary = item.get("dataBlocks")
    if summary is None:
        return LineDataBlocks(number)
    summary = json_object(summary, what)
    top_ups = {
        (product, purchase): (count, total)
        for purchase, key in TOP_UP_PURCHASES.items()
        for product, (count, _, total) in _blocks(summary, key, what).items()
    }
    recurring = {
        product: (count, each)
        for product, (count, each, _) in _blocks(summary, "recurringBlocksCurrentBillingCycle", what).items()
    }
    return LineDataBlocks(number, recurring, top_ups)


@dataclass(frozen=True, slots=True)
class PlanUsage:
    """One line's usage and what its service plan says of overage (`isOptedIntoOverage`)."""

    record: UsageRecord
    opted_into_overage: bool | None

    @property
    def service_line(self) -> str:
        return self.record.service_line


def parse_plan_usage(item: Any) -> PlanUsage:
    """`parse_data_usage`, and `servicePlan.isOptedIntoOverage` (None when absent)."""
    record = parse_data_usage(item)
    plan = item.get("servicePlan")
    value = plan.get("isOptedIntoOverage") if isinstance(plan, dict) else None
    if value is not None and not isinstance(value, bool):
        raise BadResponse(f"data usage of {record.service_line}: 'isOptedIntoOverage' should be true or false")
    return PlanUsage(record, value)


def pool_automatic_top_up(item: Any) -> bool | None:
    """`DataPoolResponseV2.automaticTopUpEnabled` (None when absent)."""
    value = item.get("automaticTopUpEnabled") if isinstance(item, dict) else None
    if value is not None and not isinstance(value, bool):
        raise BadResponse("data pool: 'automaticTopUpEnabled' should be true or false")
    return value


def parse_user_terminal(item: Any) -> tuple[TerminalRecord, list[RouterRecord]]:
    item = json_object(item, "user terminal")
    terminal_id = _text(item, "userTerminalId", "user terminal", required=True)
    what = f"user terminal {terminal_id}"
    terminal = TerminalRecord(
        terminal_id=terminal_id,
        service_line=_text(item, "serviceLineNumber", what),
        name=_text(item, "nickname", what),
        kit_serial=_text(item, "kitSerialNumber", what),
        serial=_text(item, "dishSerialNumber", what),
    )
    routers = []
    for raw in item.get("routers") or []:
        router = json_object(raw, f"{what} router")
        router_id = _text(router, "routerId", f"{what} router", required=True)
        routers.append(
            RouterRecord(router_id=router_id, terminal_id=terminal_id, name=_text(router, "nickname", router_id))
        )
    return terminal, routers


CLASS_TOTALS = {
    "priority": "totalPriorityGB",
    "standard": "totalStandardGB",
    "opt_in_priority": "totalOptInPriorityGB",
    "non_billable": "totalNonBillableGB",
}
CLASS_DAILY = {
    "priority": "priorityGB",
    "standard": "standardGB",
    "opt_in_priority": "optInPriorityGB",
    "non_billable": "nonBillableGB",
}


def newest_day(cycles: list[Any], what: str) -> tuple[dict[str, float] | None, float | None]:
    """The newest day reported in any of the cycles, by class, and its date.

    On the first day of a cycle the current one has no days yet and the newest complete day is
    the previous cycle's last (when it was asked for); with no day anywhere there is no figure."""
    days = [
        day
        for cycle in cycles
        if isinstance(cycle, dict) and isinstance(cycle.get("dailyDataUsage"), list)
        for day in cycle["dailyDataUsage"]
        if isinstance(day, dict)
    ]
    dated = [(ts, day) for day in days if (ts := timestamp(day.get("date"), f"{what} daily usage")) is not None]
    if not dated:
        return None, None
    date, newest = max(dated, key=lambda pair: pair[0])
    daily = {}
    for cls, key in CLASS_DAILY.items():
        value = _number(newest, key, what)
        if value is not None:
            daily[cls] = value * GB or 0.0  # `or 0.0`: one shared zero, most classes of most lines
    return daily, date


def _class_totals(cycle: dict[str, Any], what: str) -> dict[str, float]:
    by_class = {}
    for cls, key in CLASS_TOTALS.items():
        value = _number(cycle, key, what)
        if value is not None:
            by_class[cls] = value * GB or 0.0  # one shared zero (10,000 lines: 65,000 zeros)
    return by_class


def _overage(cycle: dict[str, Any], currency: str, what: str) -> tuple[OverageRecord, ...]:
    """The cycle's `overageLines`, summed per overage product (a mid-cycle plan change gives
    several lines for one product)."""
    lines = cycle.get("overageLines")
    if lines is None:
        return ()
    if not isinstance(lines, list):
        raise BadResponse(f"{what}: 'overageLines' should be a list, got {type(lines).__name__}")
    totals: dict[str, list[float | None]] = {}
    for raw in lines:
        line = json_object(raw, f"{what} overage line")
        product = _text(line, "productId", f"{what} overage line")
        amount = _number(line, "overageAmountGB", f"{what} overage line")
        price = _number(line, "overagePrice", f"{what} overage line")
        limit = _number(line, "usageLimitGB", f"{what} overage line")
        if amount is None:
            continue
        total = totals.setdefault(product, [0.0, None, None])
        total[0] = (total[0] or 0.0) + amount * GB
        if price is not None:
            total[1] = (total[1] or 0.0) + price
        if limit is not None:
            total[2] = max(total[2] or 0.0, limit * GB)
    return tuple(
        OverageRecord(product, used or 0.0, cost, currency if cost is not None else "", limit)
        for product, (used, cost, limit) in totals.items()
    )


def _billing_cycle(
    number: str, cycle: dict[str, Any], plan: dict[str, Any], limit: float | None, what: str
) -> BillingCycle | None:
    """One `DataUsageBillingCycleV2` as a row of the usage report: totals by class, the limit (the
    cycle's overage lines name the plan's limit then, else the plan's now), the overage used and
    what it costs (`overageAmountGB`, `overagePrice` summed over the cycle's overage lines, in the
    plan's `isoCurrencyCode`); none without a start date, which is what names a cycle."""
    start = timestamp(cycle.get("startDate"), f"{what} startDate")
    if start is None:
        return None
    currency = _text(plan, "isoCurrencyCode", what)
    overage = _overage(cycle, currency, what)
    limits = [o.limit_bytes for o in overage if o.limit_bytes is not None]
    if limits:
        limit = max(limits)
    priced = [o.cost for o in overage if o.cost is not None]
    metered = limit is not None  # a plan with a limit: no overage line means no overage
    mobile = plan.get("isMobilePlan")
    return BillingCycle(
        service_line=number,
        start=start,
        end=timestamp(cycle.get("endDate"), f"{what} endDate"),
        by_class=_class_totals(cycle, what),
        limit_bytes=limit,
        overage_bytes=sum(o.bytes for o in overage) if overage else (0.0 if metered else None),
        overage_cost=sum(priced) if priced else (0.0 if metered and currency else None),
        currency=currency if priced or (metered and currency) else "",
        mobile=mobile if isinstance(mobile, bool) else None,
    )


def parse_data_usage(item: Any) -> UsageRecord:
    """One service line's usage; the current billing cycle is the last in `billingCycles`, the one
    before it (when asked for with `previousBillingCycles`) the one before that."""
    item = json_object(item, "data usage")
    number = _text(item, "serviceLineNumber", "data usage", required=True)
    what = f"data usage of {number}"
    cycles = item.get("billingCycles")
    if not isinstance(cycles, list) or not cycles:
        raise BadResponse(f"{what}: 'billingCycles' is missing or empty")
    current = json_object(cycles[-1], f"{what} current billing cycle")
    previous = None
    if len(cycles) >= 2:
        last = json_object(cycles[-2], f"{what} previous billing cycle")
        previous = CycleUsage(
            timestamp(last.get("startDate"), f"{what} previous startDate"),
            timestamp(last.get("endDate"), f"{what} previous endDate"),
            _class_totals(last, what),
        )
    daily, daily_date = newest_day(cycles, what)
    plan = item.get("servicePlan") if isinstance(item.get("servicePlan"), dict) else {}
    mobile = plan.get("isMobilePlan")
    # A Priority data plan's usageLimitGB is its pool's capacity, not a limit of the line's own.
    pooled = bool(plan.get("dataPoolUsage") or current.get("dataPoolUsage"))
    limit = None if pooled else _number(plan, "usageLimitGB", what)
    limit_bytes = limit * GB if limit is not None else None
    updated = timestamp(item.get("lastUpdated"), f"{what} lastUpdated")
    cycles = tuple(
        replace(found, updated=updated)
        for raw in cycles
        if (found := _billing_cycle(number, json_object(raw, f"{what} billing cycle"), plan, limit_bytes, what))
    )
    return UsageRecord(
        service_line=number,
        by_class=_class_totals(current, what),
        limit_bytes=limit_bytes,
        cycle_start=timestamp(current.get("startDate"), f"{what} startDate"),
        cycle_end=timestamp(current.get("endDate"), f"{what} endDate"),
        updated=updated,
        daily_by_class=daily,
        daily_date=daily_date,
        previous=previous,
        overage=_overage(current, _text(plan, "isoCurrencyCode", what), what),
        mobile=mobile if isinstance(mobile, bool) else None,
        cycles=cycles,
    )


def parse_history(item: Any) -> LineHistory:
    """Every day and cycle of one `ServiceLineDataUsageForBillingCycles` (for backfilling)."""
    item = json_object(item, "data usage")
    number = _text(item, "serviceLineNumber", "data usage", required=True)
    what = f"data usage of {number}"
    raw_cycles = item.get("billingCycles") or []
    if not isinstance(raw_cycles, list):
        raise BadResponse(f"{what}: 'billingCycles' should be a list, got {type(raw_cycles).__name__}")
    days: dict[float, dict[str, float]] = {}
    cycles = []
    for raw in raw_cycles:
        cycle = json_object(raw, f"{what} billing cycle")
        cycles.append(
            CycleUsage(
                timestamp(cycle.get("startDate"), f"{what} startDate"),
                timestamp(cycle.get("endDate"), f"{what} endDate"),
                _class_totals(cycle, what),
            )
        )
        for raw_day in cycle.get("dailyDataUsage") or []:
            day = json_object(raw_day, f"{what} daily usage")
            when = timestamp(day.get("date"), f"{what} daily usage")
            if when is None:
                continue
            days[when] = {
                cls: value * GB for cls, key in CLASS_DAILY.items() if (value := _number(day, key, what)) is not None
            }
    return LineHistory(number, tuple(sorted(days.items())), tuple(cycles))


def parse_pool(item: Any) -> PoolRecord:
    """A `DataPoolResponseV2`: the pool's name and product (capacity and use come from its usage)."""
    item = json_object(item, "data pool")
    pool = _text(item, "dataPoolId", "data pool", required=True)
    what = f"data pool {pool}"
    return PoolRecord(
        pool=pool,
        name=_text(item, "nickname", what),
        product=_text(item, "productId", what),
        kind=_text(item, "dataProductType", what),
    )


def parse_pool_usage(item: Any) -> PoolRecord:
    """A `DataPoolUsageResponseV2`: capacity and use summed over the pool's data blocks, and each
    service line's share of the use."""
    item = json_object(item, "data pool usage")
    pool = _text(item, "dataPoolId", "data pool usage", required=True)
    what = f"usage of data pool {pool}"
    blocks = item.get("dataBlocks") or []
    if not isinstance(blocks, list):
        raise BadResponse(f"{what}: 'dataBlocks' should be a list, got {type(blocks).__name__}")
    capacity = used = 0.0
    ends: list[float] = []
    by_line: dict[str, float] = {}
    for raw in blocks:
        block = json_object(raw, f"{what} data block")
        if (end := timestamp(block.get("endDate"), f"{what} data block endDate")) is not None:
            ends.append(end)
        capacity += (_number(block, "totalAmountGB", what) or 0.0) * GB
        used += (_number(block, "consumedAmountGB", what) or 0.0) * GB
        for raw_line in block.get("serviceLineUsage") or []:
            share = json_object(raw_line, f"{what} service line usage")
            sln = _text(share, "serviceLineNumber", f"{what} service line usage", required=True)
            by_line[sln] = by_line.get(sln, 0.0) + (_number(share, "consumedAmountGB", what) or 0.0) * GB
    return PoolRecord(
        pool=pool,
        capacity_bytes=capacity,
        usage_bytes=used,
        period_end=max(ends) if ends else None,
        by_service_line=by_line,
    )


def parse_balance(content: Any) -> dict[str, float]:
    """An `AccountBalanceResponse`: the amount due per currency."""
    content = json_object(content, "account balance")
    balances = content.get("balances") or []
    if not isinstance(balances, list):
        raise BadResponse(f"account balance: 'balances' should be a list, got {type(balances).__name__}")
    due: dict[str, float] = {}
    for raw in balances:
        entry = json_object(raw, "account balance entry")
        currency = _text(entry, "currency", "account balance entry", required=True)
        amount = _number(entry, "dueAmount", "account balance entry")
        if amount is not None:
            due[currency] = due.get(currency, 0.0) + amount
    return due
