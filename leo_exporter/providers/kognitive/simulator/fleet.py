"""The simulated Kognitive world: distribution partners (one auth key each), the Starlink accounts
their key covers, and those accounts' terminals, service lines, addresses, products and usage.

Generation is a pure function of (seed, partner, account): two simulators built alike serve the
same fleet. What changes later (pauses, resumes, new service lines, forced online flags) is kept
on the objects; usage is computed from the day and the line's pause history, never stored.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from leo_exporter.simulator.calendar import anchor_for, cycle_bounds, cycle_start, midnight

ACCOUNTS_PER_PARTNER = 2  # one auth key covers several Starlink accounts

_SITES = ("Depot", "Quarry", "Farm", "Clinic", "School", "Substation", "Camp", "Lodge", "Mine", "Pumping Station")
_PLACES = (
    ("Aberdeen", "Scotland", "SCT", "AB10 1XG", 57.1497, -2.0943),
    ("Inverness", "Scotland", "SCT", "IV1 1HT", 57.4778, -4.2247),
    ("Cardiff", "Wales", "WLS", "CF10 1EP", 51.4816, -3.1791),
    ("Penzance", "England", "ENG", "TR18 2QR", 50.1186, -5.5371),
    ("Kirkwall", "Scotland", "SCT", "KW15 1JY", 58.9810, -2.9605),
    ("Austin", "Texas", "TX", "78701", 30.2672, -97.7431),
    ("Casper", "Wyoming", "WY", "82601", 42.8501, -106.3252),
    ("Fairbanks", "Alaska", "AK", "99701", 64.8378, -147.7164),
)


def unit(*parts: object) -> float:
    """A deterministic float in [0, 1) from any parts (Python's own hash is salted per process)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(slots=True)
class DataBlock:
    product_id: str
    parent: str
    amount: float
    unit: str
    price: float
    currency: str


@dataclass(slots=True)
class Product:
    reference_id: str
    name: str
    price: float
    currency: str
    limit_gb: float | None
    blocks: list[DataBlock]
    alias: str = ""
    active: bool = True


@dataclass(slots=True)
class Address:
    reference_id: str
    lines: list[str]
    locality: str
    area: str
    area_code: str
    region: str
    region_code: str
    postal_code: str
    latitude: float
    longitude: float

    @property
    def formatted(self) -> str:
        return ", ".join([*self.lines, self.locality, self.postal_code, self.region])


@dataclass(slots=True)
class Terminal:
    terminal_id: str
    kit_serial: str
    account: str
    service_line: str | None = None
    base_offline: bool = False
    forced_online: bool | None = None
    status: bool = True


@dataclass(slots=True)
class Line:
    number: str
    nickname: str
    account: str
    product: str
    address: str | None  # served as address_reference_id only when `show_address`
    terminals: list[str]
    usage_level: float  # fraction of the plan limit used in a month
    created: float  # Unix seconds; no usage before
    pauses: list[list[float | None]] = field(default_factory=list)  # [start, end or None]
    pause_at: float | None = None  # a pause scheduled for the end of the billing cycle
    heavy: bool = False  # passes 90 % of its limit early in every cycle, its limit near the end
    opt_in: bool = False  # priority beyond the limit is bought per GB (opt-in priority)
    show_address: bool = True
    cycle_day: int = 0  # billing cycles start on this day of the month; 0: the day it was created

    @property
    def anchor(self) -> int:
        return self.cycle_day or datetime.fromtimestamp(self.created, UTC).day

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None

    def paused_on(self, day: datetime) -> bool:
        ts = day.timestamp()
        return any(start is not None and start <= ts and (end is None or end > ts) for start, end in self.pauses)


@dataclass(slots=True)
class StarlinkAccount:
    number: str
    name: str
    region_code: str
    pooled: bool
    terminals: list[Terminal]
    lines: list[Line]
    addresses: list[Address]
    products: list[Product]


@dataclass(slots=True)
class Partner:
    """One distribution partner: an auth key and the Starlink accounts it covers."""

    index: int
    name: str
    auth_key: str
    accounts: list[StarlinkAccount]


def _number(prefix: str, rng: random.Random) -> str:
    return f"{prefix}-{rng.randint(1000000, 9999999)}-{rng.randint(10000, 99999)}-{rng.randint(10, 99)}"


def products_for(region: str) -> list[Product]:
    rc = region.lower()

    def blocks(parent: str, sizes: tuple[tuple[int, int], ...]) -> list[DataBlock]:
        return [
            DataBlock(f"{rc}-enterprise-priority-{gb}gb-data-block-usd", parent, gb, "GB", price, "USD")
            for gb, price in sizes
        ]

    access = f"{rc}-enterprise-global-priority-terminal-access-fee-usd"
    p50 = f"{rc}-enterprise-local-priority-50gb-usd"
    p1tb = f"{rc}-enterprise-local-priority-1tb-usd"
    return [
        Product(
            access, "Global Priority Terminal Access Charge", 150, "USD", None, blocks(access, ((500, 500), (50, 100)))
        ),
        Product(p50, "Local Priority 50GB", 65, "USD", 50, blocks(p50, ((50, 100),))),
        Product(p1tb, "Local Priority 1TB", 250, "USD", 1000, blocks(p1tb, ((500, 500),)), alias="Fleet 1TB"),
    ]


def build_partner(seed: int, index: int, n_terminals: int, t0: float, seen: set[str]) -> Partner:
    accounts = []
    per_account = [
        n_terminals // ACCOUNTS_PER_PARTNER + (1 if a < n_terminals % ACCOUNTS_PER_PARTNER else 0)
        for a in range(ACCOUNTS_PER_PARTNER)
    ]
    for a, count in enumerate(per_account):
        region = "GB" if index % 2 == 1 or a == 1 else "US"
        accounts.append(_account(seed, index, a + 1, count, region, t0, seen))
    key = hashlib.blake2b(f"kognitive-key:{seed}:{index}".encode(), digest_size=16).hexdigest()
    return Partner(index, f"Simulated DP {index}", f"sim-kognitive-{index}-{key}", accounts)


def _unique(make: Callable[[random.Random], str], rng: random.Random, seen: set[str]) -> str:
    while True:
        value = make(rng)
        if value not in seen:
            seen.add(value)
            return value


def _account(seed: int, dp: int, a: int, n: int, region: str, t0: float, seen: set[str]) -> StarlinkAccount:
    rng = random.Random(f"kognitive:{seed}:{dp}:{a}")
    number = _unique(lambda r: _number("ACC", r), rng, seen)
    places = [p for p in _PLACES if (p[5] > -20) == (region == "GB")] or list(_PLACES)
    n_addresses = 1 if a % 2 == 1 else 3  # one address: lines join it without naming it
    addresses = []
    for i in range(n_addresses):
        city, area, code, postal, lat, lon = places[(dp + a + i) % len(places)]
        ref = _unique(lambda r: f"addr-{r.getrandbits(48):012x}", rng, seen)
        addresses.append(
            Address(
                ref,
                [f"{rng.randint(1, 200)} {rng.choice(('High', 'Station', 'Harbour', 'Mill'))} Road"],
                city,
                area,
                code,
                "United Kingdom" if region == "GB" else "United States",
                region,
                postal,
                round(lat + rng.uniform(-0.05, 0.05), 5),
                round(lon + rng.uniform(-0.05, 0.05), 5),
            )
        )
    products = products_for(region)
    if dp % 2 == 0 and a == 1:  # offers a single plan: every line is on it, so its limit is known
        products = [p for p in products if p.limit_gb == 50]
    plans = [p for p in products if p.limit_gb is not None]
    terminals: list[Terminal] = []
    lines: list[Line] = []
    order = list(range(n))
    rng.shuffle(order)
    unconfigured = set(order[: max(1, n // 10)]) if n >= 5 else set()
    paused = set(order[len(unconfigured) : len(unconfigured) + max(1, n * 15 // 100)]) if n >= 4 else set()
    rest = order[len(unconfigured) + len(paused) :]
    offline = set(rest[: max(1, n // 20)]) if n >= 8 else set()
    heavy = rest[-1] if rest else None
    for i in range(n):
        tid = _unique(lambda r: f"01000000-00000000-{r.getrandbits(32):08x}", rng, seen)
        kit = _unique(lambda r: f"KITP00{r.randint(100000, 999999)}", rng, seen)
        terminal = Terminal(tid, kit, number, base_offline=i in offline, status=i not in unconfigured or i % 2 == 0)
        terminals.append(terminal)
        if i in unconfigured:
            continue
        sln = _unique(lambda r: _number("AST", r), rng, seen)
        terminal.service_line = sln
        cycle_day = anchor_for(len(lines), int(unit(seed, dp, a, sln, "cycle") * 31))
        line = Line(
            number=sln,
            nickname=f"{_SITES[(i + a) % len(_SITES)]} {i + 1}",
            account=number,
            product=plans[rng.randrange(len(plans))].reference_id,
            address=addresses[i % len(addresses)].reference_id,
            terminals=[tid],
            usage_level=0.15 + 0.6 * rng.random(),
            created=cycle_start(cycle_day, midnight(t0 - 86400 * (200 + rng.randrange(900)))).timestamp(),
            heavy=i == heavy,
            show_address=n_addresses > 1,
            cycle_day=cycle_day,
        )
        if line.heavy:
            line.product = plans[0].reference_id  # 50 GB, more than 90 % used
            line.opt_in = True
        if i in paused:
            line.pauses.append([line.created, None])
        lines.append(line)
    spare = _unique(lambda r: _number("AST", r), rng, seen)
    lines.append(
        Line(
            spare,
            "Spare line",
            number,
            plans[-1].reference_id,
            addresses[0].reference_id,
            [],
            0.0,
            t0 - 86400 * 30,
            show_address=n_addresses > 1,
        )
    )
    return StarlinkAccount(number, f"Kognitive Org {dp}.{a}", region, a == 2, terminals, lines, addresses, products)


def build_partners(seed: int, partners: int, terminals: int, t0: float) -> list[Partner]:
    if partners < 1:
        raise ValueError("the simulator needs at least one partner")
    seen: set[str] = set()
    counts = [terminals // partners + (1 if p < terminals % partners else 0) for p in range(partners)]
    return [build_partner(seed, p + 1, n, t0, seen) for p, n in enumerate(counts)]


# ---- usage ------------------------------------------------------------------------------------------


def _gb(value: float) -> str:
    return f"{value:.2f}"


PREVIOUS_CYCLES = 2  # ASSUMED: getBillingUsage gives the current cycle and the two before it


def cycle_days(seed: int, line: Line, limit_gb: float | None, start: datetime, stop: datetime) -> list[dict[str, str]]:
    """The days of the cycle that begins at `start` reported by `stop` (exclusive), one per day the
    line existed and was not paused: the model the usage report's tests compute figures from."""
    end = cycle_bounds(line.anchor, start)[1]
    limit = limit_gb or 1000.0
    days = []
    used = 0.0
    day = start
    cycle_days = (end - start).days
    while day < min(stop, end):
        if day.timestamp() + 86400 <= line.created or line.paused_on(day):
            day += timedelta(days=1)
            continue
        r = unit(seed, line.number, day.toordinal())
        if line.heavy:
            want = limit * 0.92 if day == start else limit * 0.2 / max(cycle_days - 1, 1) * (0.5 + r)
        else:
            want = limit * line.usage_level / 30.0 * (0.5 + r)
        within = min(want, max(limit - used, 0.0))
        used += within
        excess = want - within
        opt_in = excess if line.opt_in else 0.0  # opt-in priority is a part of priority
        priority = within + opt_in
        standard = excess - opt_in + 0.2 * r
        days.append(
            {
                "date": day.strftime("%Y-%m-%dT00:00:00.000Z"),
                "priorityGB": _gb(priority),
                "optInPriorityGB": _gb(opt_in),
                "standardGB": _gb(standard),
                "nonBillableGB": _gb(0.01 + 0.2 * unit(seed, line.number, day.toordinal(), "nb")),
            }
        )
        day += timedelta(days=1)
    return days


def cycle_starts(line: Line, now: float) -> list[datetime]:
    """Starts of the cycles getBillingUsage reports, oldest first: the current one and up to
    PREVIOUS_CYCLES before it, none that ended before the line was created."""
    today = midnight(now)
    starts = [cycle_start(line.anchor, today, -back) for back in range(PREVIOUS_CYCLES, -1, -1)]
    return [s for s in starts if cycle_bounds(line.anchor, s)[1].timestamp() > line.created or s == starts[-1]]


def line_usage(seed: int, line: Line, limit_gb: float | None, now: float) -> dict[str, object]:
    """One getBillingUsage result: the line's cycles (from its own cycle day), the current one last,
    each with a day per finished day (usage lags a day)."""
    today = midnight(now)
    cycles = []
    for start in cycle_starts(line, now):
        days = cycle_days(seed, line, limit_gb, start, today)

        def total(key: str, days: list[dict[str, str]] = days) -> str:
            return _gb(sum(float(d[key]) for d in days))

        cycles.append(
            {
                "startDate": start.strftime("%Y-%m-%d"),
                "endDate": cycle_bounds(line.anchor, start)[1].strftime("%Y-%m-%d"),
                "dailyDataUsage": days,
                "totalPriorityGB": total("priorityGB"),
                "totalOptInPriorityGB": total("optInPriorityGB"),
                "totalStandardGB": total("standardGB"),
                "totalNonBillableGB": total("nonBillableGB"),
            }
        )
    start, end = cycle_bounds(line.anchor, today)
    return {
        "accountNumber": line.account,
        "serviceLineNumber": line.number,
        "startDate": start.strftime("%Y-%m-%d"),
        "endDate": end.strftime("%Y-%m-%d"),
        "billingCycles": cycles,
    }
