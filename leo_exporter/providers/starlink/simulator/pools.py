"""Simulated Starlink data pools (pre-release: `GET /data-pools`, `GET /data-pools/usage`) and the
account balance (`GET /billing/balance`).

An odd-numbered simulated account has one pool that a few of its active lines draw priority data
from; the even ones answer 403, as an account without the feature does. The pool's blocks run for
the calendar month (one included block and two recurring ones), sized so the members use about
90 % of it by the month's end. What a member consumed is the sum of its daily priority usage
(usage.py) since the month began, up to the end of yesterday like every usage figure.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from leo_exporter.providers.starlink.simulator.fleet import Account, ServiceLine
from leo_exporter.simulator.calendar import cycle_bounds, midnight
from leo_exporter.simulator.hashing import hash_str, key, unit
from leo_exporter.simulator.responses import iso

POOL_PRODUCT = "ENT-DATA-POOL-PRIORITY"
POOL_DAILY_GB = 6.0  # a member's mean priority use per day at usage_level 1
INCLUDED_SHARE = 0.8  # of the capacity; the rest in two recurring blocks
CURRENCY = "USD"


def pool_daily_gb(account: Account, line: ServiceLine, day: datetime) -> float:
    """Priority data a pool member draws on one day (a pure function of account, line and day)."""
    r = unit(key(account.seed_key, hash_str(line.number), day.toordinal(), 0x9003))
    return POOL_DAILY_GB * line.usage_level * (0.5 + r)


def members(account: Account) -> list[ServiceLine]:
    return [line for line in account.service_lines if account.pool and line.pool == account.pool]


def capacity_gb(account: Account) -> float:
    """About 10 % more than the members' expected use in a 30-day month, in whole 100 GB."""
    expected = sum(POOL_DAILY_GB * line.usage_level * 30 for line in members(account))
    return max(100.0, math.ceil(expected / 0.9 / 100) * 100)


def period(now: float) -> tuple[datetime, datetime]:
    """The pool blocks' current period: the calendar month."""
    return cycle_bounds(1, datetime.fromtimestamp(now, UTC))


def consumed_gb(account: Account, now: float) -> dict[str, float]:
    """What each member drew from the pool this month, up to the end of yesterday."""
    start, _ = period(now)
    today = midnight(now)
    out = {}
    for line in members(account):
        day, total = max(start, line.start), 0.0
        while day < today:
            total += pool_daily_gb(account, line, day)
            day += timedelta(days=1)
        out[line.number] = round(total, 2)
    return out


def _blocks(account: Account) -> list[tuple[str, int, float]]:
    """(block type, blocks count, GB per block)."""
    capacity = capacity_gb(account)
    return [
        ("IncludedWithBaseSubscription", 1, capacity * INCLUDED_SHARE),
        ("RecurringPerBillingCycle", 2, capacity * (1 - INCLUDED_SHARE) / 2),
    ]


def automatic_top_up(account: Account) -> bool:
    """Whether the pool buys top-ups by itself: on for accounts 1, 5, 9, ..., off for 3, 7, ..."""
    return account.index % 4 == 1


def pool_json(account: Account, now: float) -> dict[str, Any]:
    """A `DataPoolResponseV2`."""
    start, end = period(now)
    land = sum(1 for line in members(account) if not line.plan.mobile) >= len(members(account)) / 2
    used = sum(consumed_gb(account, now).values())
    return {
        "dataPoolId": account.pool,
        "nickname": f"{account.name} shared pool",
        "automaticTopUpEnabled": automatic_top_up(account),
        "restricted": used >= capacity_gb(account),
        "dataProductType": "Land" if land else "Ocean",
        "dataBlocks": [
            {
                "productId": f"{POOL_PRODUCT}-{kind.upper()[:9]}",
                "startDate": iso(start),
                "endDate": iso(end),
                "isPrepaid": kind == "IncludedWithBaseSubscription",
                "blocksCount": count,
                "type": kind,
                "dataAmountGB": per_block,
            }
            for kind, count, per_block in _blocks(account)
        ],
        "productId": POOL_PRODUCT,
    }


def _block_usage(account: Account, now: float, public: bool) -> list[dict[str, Any]]:
    """Each block's capacity and what each member drew from it; members fill the blocks in order."""
    start, end = period(now)
    used = consumed_gb(account, now)
    remaining = dict(used)
    blocks = []
    for n, (kind, count, per_block) in enumerate(_blocks(account)):
        room = count * per_block
        lines: list[dict[str, Any]] = []
        for sln in sorted(remaining):
            take = min(remaining[sln], room)
            room -= take
            remaining[sln] -= take
            lines.append({"serviceLineNumber": sln, "consumedAmountGB": round(take, 2)})
        consumed = round(sum(x["consumedAmountGB"] for x in lines), 2)
        block: dict[str, Any] = {
            "startDate": iso(start),
            "endDate": iso(end),
            "totalAmountGB": round(count * per_block, 2),
            "consumedAmountGB": consumed,
            "perBlockAmountGB": round(per_block, 2),
            "dataBlockType": kind,
            "productId": f"{POOL_PRODUCT}-{kind.upper()[:9]}",
            "blocksCount": count,
            "serviceLineUsage": lines,
            "monthlyUsage": [{"startDate": iso(start), "endDate": iso(end), "serviceLineUsage": lines}],
        }
        if public:
            price = 0.0 if n == 0 else 250.0
            block = {
                "dataBlockId": f"{account.pool}-B{n + 1}",
                "startDateUtc": block.pop("startDate"),
                "expirationDateUtc": block.pop("endDate"),
                **block,
                "perBlockPrice": price,
                "totalPrice": price * count,
                "isoCurrencyCode": CURRENCY,
            }
        blocks.append(block)
    return blocks


def pool_usage_json(account: Account, now: float) -> dict[str, Any]:
    """A `DataPoolUsageResponseV2`."""
    return {"dataPoolId": account.pool, "dataBlocks": _block_usage(account, now, public=False)}


def pool_usage_public(account: Account, now: float) -> dict[str, Any]:
    """A `DataPoolUsagePublicResponse`, as embedded in a member's data usage."""
    return {
        "accountNumber": account.number,
        "dataPoolId": account.pool,
        "lastUpdated": iso(midnight(now) - timedelta(seconds=1)),
        "dataBlocks": _block_usage(account, now, public=True),
    }


def balance_json(account: Account) -> dict[str, Any]:
    """An `AccountBalanceResponse`: odd accounts owe something, even ones nothing (one zero entry)."""
    due = round(100 + key(account.seed_key, 0xBA1) % 500000 / 100, 2) if account.index % 2 == 1 else 0.0
    return {"balances": [{"currency": CURRENCY, "dueAmount": due}]}
