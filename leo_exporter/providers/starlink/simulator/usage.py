"""Simulated Starlink data usage (`POST /data-usage/query`): monthly cycles, daily usage by class.

Each line's cycles start on its own day of the month (`ServiceLine.cycle_day`, see calendar.py).
Daily figures are a pure function of (account, service line, day), so a cycle's usage only grows
as days pass and earlier days never change. Usage lags like the real API: `lastUpdated` is the end
of yesterday (UTC), and days after it are not reported yet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from leo_exporter.providers.starlink.simulator.fleet import Account, ServiceLine
from leo_exporter.providers.starlink.simulator.pools import capacity_gb, pool_daily_gb, pool_usage_public
from leo_exporter.providers.starlink.simulator.products import recurring_gb
from leo_exporter.simulator.calendar import cycle_bounds, cycle_start, midnight
from leo_exporter.simulator.hashing import hash_str, key, unit
from leo_exporter.simulator.responses import iso

_UNLIMITED_SCALE_GB = 1000.0  # monthly standard usage of an unlimited line at usage_level 1
OVERAGE_PRICE_PER_GB = {False: 1.0, True: 2.0}  # by mobile plan; made up


def last_updated(now: float) -> datetime:
    """When the usage cache was last refreshed: the end of yesterday, UTC."""
    return midnight(now) - timedelta(seconds=1)


def _daily(account: Account, line: ServiceLine, day: date, cycle_start: date, cycle_days: int) -> tuple[float, float]:
    """(priority-ish GB, standard GB) used on one day before any limit is applied."""
    h = key(account.seed_key, hash_str(line.number), day.toordinal())
    r = unit(h)
    limit = line.plan.limit_gb
    if limit is None:
        return 0.0, _UNLIMITED_SCALE_GB * line.usage_level / 30.0 * (0.5 + r)
    if line.overage:  # past the plan's limit on the first day, then steady: opted-in overage all cycle
        return (limit * 1.05 if day == cycle_start else limit * 0.01 * (0.5 + r)), 0.0
    if line.heavy:  # a large first-day transfer puts it past 90 % of the plan, then slow growth
        if day == cycle_start:
            return limit * 0.91, 0.0
        return limit * 0.14 / max(cycle_days - 1, 1) * (0.5 + r), 0.0
    return limit * line.usage_level / 30.0 * (0.5 + r), 0.0


def _cycle(
    account: Account, line: ServiceLine, start: datetime, end: datetime, until: datetime, now: float
) -> dict[str, Any]:
    days: list[dict[str, Any]] = []
    limit = None if line.pool or line.plan.limit_gb is None else line.plan.limit_gb + recurring_gb(line)
    used_priority = 0.0
    cycle_days = (end - start).days
    day = max(start, line.start)
    stop = min(end, until + timedelta(seconds=1), line.end or end)
    while day < stop:
        want, standard = _daily(account, line, day.date(), start.date(), cycle_days)
        priority = opt_in = 0.0
        if line.pool:  # a pool member: priority data from the pool, no limit of its own
            priority, standard = pool_daily_gb(account, line, day), 0.0
        elif limit is not None:
            room = max(limit - used_priority, 0.0)
            priority = min(want, room)
            extra = want - priority
            if extra > 0 and line.opt_in_product_id:  # opted in: overage stays priority, billed per GB
                priority += extra
                opt_in = extra
            else:
                standard += extra  # past the limit the line falls back to standard data
            used_priority += priority
        non_billable = 0.01 + 0.3 * unit(key(account.seed_key, day.toordinal(), 7))
        days.append(
            {
                "date": iso(day),
                "priorityGB": round(priority, 2),
                "optInPriorityGB": round(opt_in, 2),
                "standardGB": round(standard, 2),
                "nonBillableGB": round(non_billable, 2),
            }
        )
        day += timedelta(days=1)
    in_cycle = start <= datetime.fromtimestamp(now, UTC) < end
    return {
        "startDate": iso(start),
        "endDate": iso(end),
        "dailyDataUsage": days,
        "overageLines": _overage_lines(line, days),
        "dataPoolUsage": [pool_usage_public(account, now)] if line.pool and in_cycle else [],
        "totalPriorityGB": round(sum(d["priorityGB"] for d in days), 2),
        "totalStandardGB": round(sum(d["standardGB"] for d in days), 2),
        "totalOptInPriorityGB": round(sum(d["optInPriorityGB"] for d in days), 2),
        "totalNonBillableGB": round(sum(d["nonBillableGB"] for d in days), 2),
    }


def _overage_lines(line: ServiceLine, days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A `DataUsageOverageLine` for an opted-in line with priority data beyond its limit this
    cycle; none without overage use ("overage lines with no usage are dropped")."""
    over = round(sum(d["optInPriorityGB"] for d in days), 2)
    if line.opt_in_product_id is None or line.plan.limit_gb is None or over <= 0:
        return []
    price = OVERAGE_PRICE_PER_GB[line.plan.mobile]
    first = next(d["date"] for d in days if d["optInPriorityGB"] > 0)
    return [
        {
            "restricted": 1 if line.plan.mobile else 3,  # MobileRestricted / FixedRestricted
            "unrestricted": 2 if line.plan.mobile else 4,  # MobileUnrestricted / FixedUnrestricted
            "pricePerGB": price,
            "usageLimitGB": line.plan.limit_gb,
            "overageAmountGB": over,
            "consumedAmountGB": round(min(sum(d["priorityGB"] for d in days) - over, line.plan.limit_gb), 2),
            "overagePrice": round(over * price, 2),
            "productId": line.opt_in_product_id,
            "dataOverageType": 1,  # PriorityPerGb
            "activeFrom": first,
        }
    ]


def service_plan(line: ServiceLine, account: Account, now: float) -> dict[str, Any]:
    opted_in = line.opt_in_product_id is not None
    return {
        "isoCurrencyCode": "USD",
        "isMobilePlan": line.plan.mobile,
        "activeFrom": iso(line.start),
        "subscriptionActiveFrom": iso(line.start),
        "subscriptionEndDate": iso(line.end) if line.end else None,
        "overageName": "Priority Data Overage" if opted_in else None,
        "overageDescription": "Priority data beyond the plan, billed per GB" if opted_in else None,
        "isOptedIntoOverage": opted_in,
        "overageLineDeactivatedDate": None,
        "overageLine": None,
        "dataPoolUsage": pool_usage_public(account, now) if line.pool else None,
        "productId": line.plan.product_id,
        # for a Priority data (pool) plan the API gives the pool's capacity here
        # recurring data blocks raise the plan's limit every cycle (ASSUMED, as top-ups raise it)
        "usageLimitGB": capacity_gb(account)
        if line.pool
        else (None if line.plan.limit_gb is None else line.plan.limit_gb + recurring_gb(line)),
        "dataCategoryMapping": {},
    }


def line_usage(
    account: Account, line: ServiceLine, now: float, previous_cycles: int, query_start: datetime | None = None
) -> dict[str, Any]:
    """One `ServiceLineDataUsageForBillingCycles`: previous cycles first, the current cycle last.

    A line's cycles begin at its activation (none before it existed); a deactivated line keeps
    the cycles up to the one it ended in, which is then its last."""
    updated = last_updated(now)
    today = midnight(now)
    anchor = line.cycle_day
    current = cycle_start(anchor, min(today, line.end) if line.end else today)
    first = cycle_start(anchor, query_start or current, 0 if query_start else -previous_cycles)
    first = max(min(first, current), cycle_start(anchor, line.start))
    starts = []
    cursor = first
    while cursor <= current:
        starts.append(cursor)
        cursor = cycle_bounds(anchor, cursor)[1]
    cycles = [_cycle(account, line, s, cycle_bounds(anchor, s)[1], updated, now) for s in starts]
    return {
        "accountNumber": account.number,
        "serviceLineNumber": line.number,
        "startDate": cycles[0]["startDate"],
        "endDate": cycles[-1]["endDate"],
        "lastUpdated": iso(updated),
        "billingCycles": cycles,
        "servicePlan": service_plan(line, account, now),
    }
