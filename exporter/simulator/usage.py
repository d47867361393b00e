"""Simulated Starlink data usage (`POST /data-usage/query`): monthly cycles, daily usage by class.

Each line's cycles start on its own day of the month (`ServiceLine.cycle_day`, see calendar.py).
Daily figures are a pure function of (account, service line, day), so a cycle's usage only grows
as days pass and earlier days never change. Usage lags like the real API: `lastUpdated` is the end
of yesterday (UTC), and days after it are not reported yet.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from exporter.simulator.calendar import cycle_bounds, cycle_start, midnight
from exporter.simulator.fleet import Account, ServiceLine
from exporter.simulator.hashing import hash_str, key, unit
from exporter.simulator.responses import iso

_UNLIMITED_SCALE_GB = 1000.0  # monthly standard usage of an unlimited line at usage_level 1


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
    if line.heavy:  # a large first-day transfer puts it past 90 % of the plan, then slow growth
        if day == cycle_start:
            return limit * 0.91, 0.0
        return limit * 0.14 / max(cycle_days - 1, 1) * (0.5 + r), 0.0
    return limit * line.usage_level / 30.0 * (0.5 + r), 0.0


def _cycle(account: Account, line: ServiceLine, start: datetime, end: datetime, until: datetime) -> dict[str, Any]:
    days: list[dict[str, Any]] = []
    limit = line.plan.limit_gb
    used_priority = 0.0
    cycle_days = (end - start).days
    day = max(start, line.start)
    stop = min(end, until + timedelta(seconds=1), line.end or end)
    while day < stop:
        want, standard = _daily(account, line, day.date(), start.date(), cycle_days)
        priority = opt_in = 0.0
        if limit is not None:
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
    return {
        "startDate": iso(start),
        "endDate": iso(end),
        "dailyDataUsage": days,
        "overageLines": [],
        "dataPoolUsage": [],
        "totalPriorityGB": round(sum(d["priorityGB"] for d in days), 2),
        "totalStandardGB": round(sum(d["standardGB"] for d in days), 2),
        "totalOptInPriorityGB": round(sum(d["optInPriorityGB"] for d in days), 2),
        "totalNonBillableGB": round(sum(d["nonBillableGB"] for d in days), 2),
    }


def service_plan(line: ServiceLine) -> dict[str, Any]:
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
        "dataPoolUsage": None,
        "productId": line.plan.product_id,
        "usageLimitGB": line.plan.limit_gb,
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
    cycles = [_cycle(account, line, s, cycle_bounds(anchor, s)[1], updated) for s in starts]
    return {
        "accountNumber": account.number,
        "serviceLineNumber": line.number,
        "startDate": cycles[0]["startDate"],
        "endDate": cycles[-1]["endDate"],
        "lastUpdated": iso(updated),
        "billingCycles": cycles,
        "servicePlan": service_plan(line),
    }
