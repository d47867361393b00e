"""Parsers of Kognitive responses into records.

Each parser takes one decoded JSON item and returns what it read, or raises BadResponse naming
the item and the field. Grouped responses (terminals, products and addresses come grouped by
Starlink account) keep the good entries of a group and record a problem for each bad one.
Field names come from `fields`; numbers may arrive as strings ("0.00") and are read either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from leo_exporter.labeltext import intern
from leo_exporter.providers.common import json_object, parse_items, timestamp
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.kognitive import fields as F
from leo_exporter.records import BillingCycle, CycleUsage, LineHistory, ProductRecord, UsageRecord

GB = 1e9  # decimal gigabytes, as Starlink reports them (ASSUMED for Kognitive too)


# --- field readers


def text(item: dict[str, Any], key: str, what: str, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None or (required and value == ""):
        if required:
            raise BadResponse(f"{what}: '{key}' is missing")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # an id sent as a number is still the id
    if not isinstance(value, str):
        raise BadResponse(f"{what}: '{key}' should be a string, got {type(value).__name__}")
    return intern(value.strip())  # one copy of what many records repeat (a currency, a product, a status)


def first_text(item: dict[str, Any], keys: tuple[str, ...], what: str) -> str:
    for key in keys:
        if item.get(key) is not None:
            return text(item, key, what)
    return ""


def number(item: dict[str, Any], key: str, what: str) -> float | None:
    """A number sent as a JSON number or a numeric string; None when absent or null."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponse(f"{what}: '{key}' should be a number, got a boolean")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise BadResponse(f"{what}: '{key}' is not a number: {value[:40]!r}") from None
    else:
        raise BadResponse(f"{what}: '{key}' should be a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise BadResponse(f"{what}: '{key}' is not a finite number: {value!r}")
    return result


def flag(item: dict[str, Any], key: str, what: str, *, required: bool = False) -> bool | None:
    """true/false, also as the strings "true"/"false" (the API sends other scalars as strings)."""
    value = item.get(key)
    if value is None:
        if required:
            raise BadResponse(f"{what}: '{key}' is missing")
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadResponse(f"{what}: '{key}' should be true or false, got {str(value)[:40]!r}")


def terminal_id(value: str) -> str:
    """The bare Starlink user terminal id, as the Starlink provider exports it (no `ut` prefix)."""
    return value[2:] if value.startswith("ut") else value


def bool_text(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _group(item: Any, kind: str, account_key: str, list_key: str, noun: str) -> tuple[str, str, list[Any]]:
    """One Starlink account's entry of a grouped listing: (its account, how to name it, its items)."""
    group = json_object(item, f"{kind} account")
    account = text(group, account_key, f"{kind} account")
    what = f"{noun} of account {account or '?'}"
    items = group.get(list_key)
    if not isinstance(items, list):
        raise BadResponse(f"{what}: '{list_key}' is missing or not a list")
    return account, what, items


# --- service lines


class StatusMap:
    """subscription_status -> active flag; None for a word nobody taught us."""

    def __init__(self, active: Iterable[str] = (), inactive: Iterable[str] = ()):
        self.active = F.ACTIVE_STATUSES | {s.strip().lower() for s in active}
        self.inactive = (F.INACTIVE_STATUSES | {s.strip().lower() for s in inactive}) - self.active

    def classify(self, status: str) -> bool | None:
        word = status.strip().lower()
        if word in self.active:
            return True
        if word in self.inactive:
            return False
        return None


@dataclass(frozen=True, slots=True)
class Line:
    number: str
    nickname: str
    account: str
    account_name: str
    status: str
    active: bool | None  # None: missing or unknown status
    product: str
    address: str
    terminals: tuple[tuple[str, str], ...]  # (terminal id, kit serial)


def parse_service_line(item: Any, statuses: StatusMap) -> Line:
    item = json_object(item, "service line")
    num = text(item, F.SL_NUMBER, "service line", required=True)
    what = f"service line {num}"
    status = text(item, F.SL_STATUS, what)
    raw_terminals = item.get(F.SL_TERMINALS)
    if raw_terminals is not None and not isinstance(raw_terminals, list):
        raise BadResponse(f"{what}: '{F.SL_TERMINALS}' should be a list")
    terminals = []
    for raw in raw_terminals or []:
        entry = json_object(raw, f"{what} terminal")
        tid = text(entry, F.SL_TERMINAL_ID, f"{what} terminal", required=True)
        terminals.append((terminal_id(tid), text(entry, F.SL_TERMINAL_KIT, f"{what} terminal {tid}")))
    return Line(
        number=num,
        nickname=text(item, F.SL_NICKNAME, what),
        account=text(item, F.SL_ACCOUNT, what),
        account_name=text(item, F.SL_ACCOUNT_NAME, what),
        status=status,
        active=statuses.classify(status) if status else None,
        product=first_text(item, F.SL_PRODUCT, what),
        address=first_text(item, F.SL_ADDRESS, what),
        terminals=tuple(terminals),
    )


# --- terminal status


@dataclass(frozen=True, slots=True)
class TerminalState:
    terminal_id: str
    kit_serial: str
    service_line: str  # "" for <NOT_CONFIGURED>
    account: str
    online: bool
    status: bool | None


def parse_terminal_group(item: Any, problems: list[str]) -> list[TerminalState]:
    """One account's terminals; a bad terminal is recorded in `problems`, the others are kept."""
    account, what, terminals = _group(item, "terminal status", F.TS_ACCOUNT, F.TS_TERMINALS, "terminal status")

    def entry(raw: Any) -> TerminalState:
        item = json_object(raw, f"{what}: terminal")
        tid = text(item, F.TS_ID, f"{what}: terminal", required=True)
        where = f"terminal {tid}"
        line = text(item, F.TS_SERVICE_LINE, where)
        return TerminalState(
            terminal_id=terminal_id(tid),
            kit_serial=text(item, F.TS_KIT, where),
            service_line="" if line == F.NOT_CONFIGURED else line,
            account=account,
            online=bool(flag(item, F.TS_ONLINE, where, required=True)),
            status=flag(item, F.TS_STATUS, where),
        )

    return parse_items(terminals, entry, problems)


# --- billing usage


@dataclass(frozen=True, slots=True)
class LineUsage:
    account: str
    record: UsageRecord


def _gigabytes(item: dict[str, Any], key: str, what: str) -> float | None:
    value = number(item, key, what)
    if value is not None and value < 0:
        raise BadResponse(f"{what}: '{key}' is negative: {item.get(key)!r}")
    return None if value is None else value * GB


@dataclass(frozen=True, slots=True)
class _Cycle:
    start: float | None
    end: float | None
    by_class: dict[str, float]
    days: list[tuple[float, dict[str, Any]]]  # (date, the day's entry), as listed


def _cycles(item: dict[str, Any], what: str) -> list[_Cycle]:
    """Every entry of `billingCycles`, oldest first, the current cycle last (ASSUMED, as in
    Starlink's API; the sample shows one). A cycle's bounds are its own `startDate`/`endDate`
    (ASSUMED) where it has them; else the current cycle takes the item's (as in the sample) and an
    earlier one ends where the next begins and starts on its first reported day."""
    raw = item.get(F.BU_CYCLES)
    if not isinstance(raw, list) or not raw:
        raise BadResponse(f"{what}: '{F.BU_CYCLES}' is missing or empty")
    cycles: list[_Cycle] = []
    last = len(raw) - 1
    for n, entry in enumerate(raw):
        label = what if n == last else f"{what}, billing cycle {n + 1} of {last + 1}"
        cycle = json_object(entry, label)
        by_class: dict[str, float] = {}
        for cls, (total_key, _) in F.USAGE_CLASSES.items():
            value = _gigabytes(cycle, total_key, label)
            if value is not None:
                by_class[cls] = value
        days = cycle.get(F.BU_DAILY)
        if days is not None and not isinstance(days, list):
            raise BadResponse(f"{label}: '{F.BU_DAILY}' should be a list")
        dated = []
        for day in days or []:
            day_entry = json_object(day, f"{label}, daily usage")
            when = timestamp(day_entry.get(F.BU_DATE), f"{label}, daily usage date")
            if when is not None:
                dated.append((when, day_entry))
        start = timestamp(
            cycle.get(F.BU_START) or (item.get(F.BU_START) if n == last else None), f"{label}, {F.BU_START}"
        )
        end = timestamp(cycle.get(F.BU_END) or (item.get(F.BU_END) if n == last else None), f"{label}, {F.BU_END}")
        cycles.append(_Cycle(start, end, by_class, dated))
    for n in range(len(cycles) - 2, -1, -1):  # an earlier cycle without dates: from the next one's start
        earlier, following = cycles[n], cycles[n + 1]
        if earlier.end is None and following.start is not None:
            earlier = _Cycle(earlier.start, following.start, earlier.by_class, earlier.days)
        if earlier.start is None and earlier.days:
            earlier = _Cycle(min(when for when, _ in earlier.days), earlier.end, earlier.by_class, earlier.days)
        cycles[n] = earlier
    return cycles


def _day_usage(entry: dict[str, Any], what: str) -> dict[str, float]:
    out = {}
    for cls, (_, day_key) in F.USAGE_CLASSES.items():
        value = _gigabytes(entry, day_key, what)
        if value is not None:
            out[cls] = value
    return out


def _billing_cycles(num: str, cycles: list[_Cycle], updated: float | None) -> tuple[BillingCycle, ...]:
    """Every cycle with a start, for the usage report; Kognitive gives no limit or overage per cycle."""
    return tuple(
        BillingCycle(num, c.start, c.end, dict(c.by_class), updated=updated) for c in cycles if c.start is not None
    )


def parse_usage(item: Any) -> LineUsage:
    """One service line's current cycle (totals by class), the cycle before it, and the newest day
    reported in any cycle (on a cycle's first day, the previous cycle's last)."""
    item = json_object(item, "billing usage")
    num = text(item, F.BU_SERVICE_LINE, "billing usage", required=True)
    what = f"billing usage of {num}"
    cycles = _cycles(item, what)
    current = cycles[-1]
    if not current.by_class:
        raise BadResponse(f"{what}: the current billing cycle has no usage totals")
    daily, daily_date = None, None
    dated = [day for cycle in cycles for day in cycle.days]
    if dated:
        daily_date, newest = max(dated, key=lambda pair: pair[0])
        daily = _day_usage(newest, f"{what}, daily usage")
    previous = None
    if len(cycles) >= 2:
        before = cycles[-2]
        previous = CycleUsage(before.start, before.end, before.by_class)
    updated = timestamp(item.get(F.BU_UPDATED), f"{what}, {F.BU_UPDATED}")
    record = UsageRecord(
        service_line=num,
        by_class=current.by_class,
        cycle_start=current.start,
        cycle_end=current.end,
        updated=updated,
        daily_by_class=daily,
        daily_date=daily_date,
        previous=previous,
        cycles=_billing_cycles(num, cycles, updated),
    )
    return LineUsage(text(item, F.BU_ACCOUNT, what), record)


@dataclass(frozen=True, slots=True)
class AccountHistory:
    account: str  # the Starlink account the line belongs to
    history: LineHistory


def parse_history(item: Any) -> AccountHistory:
    """Every day and cycle of one line's billing usage (for `backfill-usage`)."""
    item = json_object(item, "billing usage")
    num = text(item, F.BU_SERVICE_LINE, "billing usage", required=True)
    what = f"billing usage of {num}"
    cycles = _cycles(item, what)
    days = {when: _day_usage(entry, f"{what}, daily usage") for cycle in cycles for when, entry in cycle.days}
    history = LineHistory(
        num, tuple(sorted(days.items())), tuple(CycleUsage(c.start, c.end, c.by_class) for c in cycles)
    )
    return AccountHistory(text(item, F.BU_ACCOUNT, what), history)


# --- products


def parse_product_group(item: Any, problems: list[str]) -> list[ProductRecord]:
    """One account's products and their data blocks, as product records (`kind` tells them apart)."""
    account, what, products = _group(item, "products", F.PR_ACCOUNT, F.PR_PRODUCTS, "products")

    def product_and_blocks(raw: Any) -> list[ProductRecord]:
        product = json_object(raw, f"{what}: product")
        pid = text(product, F.PR_ID, f"{what}: product", required=True)
        where = f"product {pid}"
        limit = number(product, F.PR_LIMIT_GB, where)
        record = ProductRecord(
            product=pid,
            name=text(product, F.PR_NAME, where),
            price=number(product, F.PR_PRICE, where),
            currency=text(product, F.PR_CURRENCY, where),
            data_bytes=limit * GB if limit is not None else None,
            attributes=_clean(
                {
                    "kind": "product",
                    "alias": text(product, F.PR_ALIAS, where),
                    "active": bool_text(flag(product, F.PR_ACTIVE, where)),
                    "provider_account": account,
                }
            ),
        )
        blocks = product.get(F.PR_BLOCKS)
        if blocks is not None and not isinstance(blocks, list):  # the product stands; its blocks cannot be read
            problems.append(f"{where}: '{F.PR_BLOCKS}' should be a list")
            blocks = None
        return [record, *parse_items(blocks or [], lambda block: _data_block(block, pid, account), problems)]

    return [record for records in parse_items(products, product_and_blocks, problems) for record in records]


def plan_limit(group: Any, records: list[ProductRecord]) -> float | None:
    """The data limit of every service line of one account, where getAvailableProducts alone says it.

    The service line listing names no product (the seed's sample has none), so a line's plan is
    only known when its account offers exactly one active plan; that plan's `usage_limit_gb` is
    then every line's limit. A pooled account (`is_pooled`) shares its data: no line has a limit
    of its own. Anything else: unknown (no series, never 0)."""
    if not isinstance(group, dict) or flag(group, F.PR_POOLED, "products account"):
        return None
    plans = [r for r in records if r.attributes.get("kind") == "product" and r.attributes.get("active") != "false"]
    if len(plans) != 1:
        return None
    return plans[0].data_bytes


def _data_block(raw: Any, parent: str, account: str) -> ProductRecord:
    block = json_object(raw, f"data block of product {parent}")
    bid = text(block, F.DB_ID, f"data block of product {parent}", required=True)
    where = f"data block {bid}"
    amount = number(block, F.DB_AMOUNT, where)
    unit = text(block, F.DB_UNIT, where).upper() or "GB"
    if amount is not None and unit not in F.DATA_UNITS:
        raise BadResponse(f"{where}: unknown '{F.DB_UNIT}' {unit[:20]!r} (known: {', '.join(F.DATA_UNITS)})")
    amount_text = f"{amount:g} {unit}" if amount is not None else ""
    return ProductRecord(
        product=bid,
        name=f"{amount_text} data block" if amount_text else "data block",
        price=number(block, F.PR_PRICE, where),
        currency=text(block, F.PR_CURRENCY, where),
        data_bytes=amount * F.DATA_UNITS[unit] if amount is not None else None,
        attributes=_clean(
            {
                "kind": "data_block",
                "parent_product": text(block, F.DB_PARENT, where) or parent,
                "active": bool_text(flag(block, F.PR_ACTIVE, where)),
                "provider_account": text(block, F.PR_ACCOUNT, where) or account,
            }
        ),
    )


def _clean(attrs: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attrs.items() if v}


# --- addresses


@dataclass(frozen=True, slots=True)
class Address:
    reference: str
    account: str
    formatted: str
    latitude: float | None
    longitude: float | None


def parse_address_group(item: Any, problems: list[str]) -> list[Address]:
    account, what, addresses = _group(item, "address", F.AD_ACCOUNT, F.AD_ADDRESSES, "addresses")

    def address(raw: Any) -> Address:
        entry = json_object(raw, f"{what}: address")
        ref = text(entry, F.AD_ID, f"{what}: address", required=True)
        where = f"address {ref}"
        lat, lon = number(entry, F.AD_LATITUDE, where), number(entry, F.AD_LONGITUDE, where)
        if lat is not None and lon is not None:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise BadResponse(f"{where}: coordinates out of range ({lat}, {lon})")
            if lat == 0 and lon == 0:  # the sample's placeholder: no position, not Null Island
                lat = lon = None
        else:
            lat = lon = None
        return Address(ref, account, text(entry, F.AD_FORMATTED, where), lat, lon)

    return parse_items(addresses, address, problems)
