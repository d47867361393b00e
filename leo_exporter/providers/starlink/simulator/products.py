"""Simulated Starlink products (`GET /products`) and one-time top-ups
(`POST /service-lines/{sln}/data/top-up`).

Every plan of the simulated fleet is a `SubscriptionProductResponse`. Priority plans (those with
a data limit) are "top up plans": they offer one `topUpProduct`; unlimited standard plans offer
none, so a top-up of their lines is refused the way the API documents ("Service line must be on
a top up plan"). A top-up adds a block to the line's `topUpBlocksOneTimePurchase` until the end
of the billing cycle and raises the cycle's `usageLimitGB` in `POST /data-usage/query`, so the
exporter's next poll shows the bigger limit. One line per account has recurring data blocks of its
plan's `dataBlockProducts` (`recurringBlocksCurrentBillingCycle` and `…NextBillingCycle`), which
raise its limit every cycle the same way, and buys one top-up block on each cycle's first day. Prices are made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leo_exporter.providers.starlink.simulator.fleet import LAND_PLANS, MOBILE_PLANS, Plan, ServiceLine
from leo_exporter.simulator.calendar import cycle_bounds
from leo_exporter.simulator.responses import iso

CURRENCY = "USD"
MAX_COUNT = 10  # blocks per top-up request (ASSUMED: the API documents no maximum)
_PLAN_PRICE = {  # monthly price by (mobile, limit GB)
    (False, 50.0): 65.0,
    (False, 1000.0): 165.0,
    (False, 5000.0): 540.0,
    (False, None): 250.0,
    (True, 50.0): 250.0,
    (True, 1000.0): 1000.0,
    (True, 5000.0): 5000.0,
    (True, None): 2500.0,
}
_TOP_UP = {50.0: (50.0, 25.0), 1000.0: (100.0, 50.0), 5000.0: (500.0, 200.0)}  # limit -> (GB, price)


@dataclass(frozen=True, slots=True)
class TopUpProduct:
    product_id: str
    price: float
    amount_gb: float

    def json(self) -> dict[str, Any]:
        return {
            "productId": self.product_id,
            "price": self.price,
            "isoCurrencyCode": CURRENCY,
            "dataAmount": self.amount_gb,
            "dataUnit": "GB",
        }


@dataclass(slots=True)
class TopUpBlock:
    product_id: str
    count: int
    amount_gb: float
    start: float
    expires: float

    def json(self) -> dict[str, Any]:
        return {
            "productId": self.product_id,
            "startDate": iso(datetime.fromtimestamp(self.start, UTC)),
            "expirationDate": iso(datetime.fromtimestamp(self.expires, UTC)),
            "count": self.count,
            "dataAmount": self.amount_gb,
            "dataUnitType": "GB",
        }


def top_up_product(plan: Plan) -> TopUpProduct | None:
    """The one-time top-up a plan offers; None for plans without a data limit."""
    if plan.limit_gb is None or plan.limit_gb not in _TOP_UP:
        return None
    amount, price = _TOP_UP[plan.limit_gb]
    return TopUpProduct(f"{plan.product_id}-TOPUP-{amount:g}GB", price, amount)


def recurring_block_product(plan: Plan) -> TopUpProduct | None:
    """The recurring data block a plan offers (its `dataBlockProducts` entry); None without a limit."""
    top = top_up_product(plan)
    return None if top is None else TopUpProduct(top.product_id.replace("TOPUP", "BLOCK"), top.price, top.amount_gb)


def recurring_gb(line: ServiceLine) -> float:
    """Data the line's recurring blocks add to every cycle's limit."""
    product = recurring_block_product(line.plan)
    return 0.0 if product is None else product.amount_gb * line.recurring_blocks


def recurring_blocks_json(line: ServiceLine, now: float) -> dict[str, list[dict[str, Any]]]:
    """The line's `recurringBlocksCurrentBillingCycle` and `recurringBlocksNextBillingCycle`."""
    product = recurring_block_product(line.plan)
    if product is None or not line.recurring_blocks:
        return {"recurringBlocksCurrentBillingCycle": [], "recurringBlocksNextBillingCycle": []}
    start, end = cycle_bounds(line.cycle_day, datetime.fromtimestamp(now, UTC))
    following = cycle_bounds(line.cycle_day, end)[1]

    def block(first: datetime, last: datetime) -> dict[str, Any]:
        return TopUpBlock(
            product.product_id, line.recurring_blocks, product.amount_gb, first.timestamp(), last.timestamp()
        ).json()

    return {
        "recurringBlocksCurrentBillingCycle": [block(start, end)],
        "recurringBlocksNextBillingCycle": [block(end, following)],
    }


def standing_top_ups(line: ServiceLine, now: float) -> list[TopUpBlock]:
    """The top-up the line with recurring blocks buys on the first day of every cycle (one block),
    so that the demo shows a one-time top-up without anyone buying one."""
    product = top_up_product(line.plan)
    if product is None or not line.recurring_blocks:
        return []
    start, end = cycle_bounds(line.cycle_day, datetime.fromtimestamp(now, UTC))
    return [TopUpBlock(product.product_id, 1, product.amount_gb, start.timestamp(), end.timestamp())]


def _name(plan: Plan) -> str:
    words = plan.product_id.split("-")[1:]
    return "Enterprise " + " ".join(w if any(c.isdigit() for c in w) else w.capitalize() for w in words)


def product_json(plan: Plan) -> dict[str, Any]:
    """A `SubscriptionProductResponse`."""
    top = top_up_product(plan)
    return {
        "productReferenceId": plan.product_id,
        "name": _name(plan),
        "price": _PLAN_PRICE.get((plan.mobile, plan.limit_gb), 100.0),
        "isoCurrencyCode": CURRENCY,
        "isSla": False,
        "maxNumberOfUserTerminals": 1,
        "dataProducts": {
            "topUpProduct": top.json() if top else None,
            "dataBlockProducts": [block.json()] if (block := recurring_block_product(plan)) else [],
        },
    }


def catalog() -> list[dict[str, Any]]:
    return [product_json(plan) for plan in (*LAND_PLANS, *MOBILE_PLANS)]


def new_block(product: TopUpProduct, count: int, cycle_day: int, now: float) -> TopUpBlock:
    """A block bought now, valid to the end of the line's current billing cycle."""
    ends = cycle_bounds(cycle_day, datetime.fromtimestamp(now, UTC))[1].timestamp()
    return TopUpBlock(product.product_id, count, product.amount_gb, now, ends)


def current(blocks: list[TopUpBlock], now: float) -> list[TopUpBlock]:
    return [b for b in blocks if b.start <= now < b.expires]


def extra_gb(blocks: list[TopUpBlock], now: float) -> float:
    """Data the top-ups of the current cycle add to the line's limit."""
    return sum(b.amount_gb * b.count for b in current(blocks, now))
