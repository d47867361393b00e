"""Deterministic generation of a simulated Starlink fleet (accounts, terminals, routers, service lines).

Everything here is a pure function of (seed, account index, terminal index, start time), so two
simulators built with the same arguments serve the same fleet, and tests can name the terminals
that are offline or alerting without hard-coding ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import h3

from leo_exporter.simulator.calendar import anchor_for, cycle_start, midnight
from leo_exporter.simulator.hashing import key, pick, unit

# Salts keep the hash streams of different purposes independent.
_S_ACCOUNT, _S_TERMINAL, _S_LINE, _S_ROUTER, _S_SPARE = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class Region:
    """Where a group of terminals sits; `kind` drives naming, plans and movement."""

    name: str
    kind: str  # "land" | "rig" | "vessel"
    lat: tuple[float, float]
    lon: tuple[float, float]
    country: str
    territorial: bool
    weight: int


REGIONS: tuple[Region, ...] = (
    Region("us-midwest", "land", (38.0, 46.0), (-100.0, -88.0), "US", True, 20),
    Region("australia-outback", "land", (-30.0, -20.0), (120.0, 145.0), "AU", True, 10),
    Region("canada-west", "land", (50.0, 56.0), (-120.0, -105.0), "CA", True, 8),
    Region("chile-north", "land", (-27.0, -20.0), (-70.3, -68.5), "CL", True, 5),
    Region("gulf-of-mexico", "rig", (26.5, 28.5), (-94.0, -89.5), "US", False, 8),
    Region("north-sea", "rig", (56.0, 61.0), (1.8, 4.0), "NO", False, 6),
    Region("north-atlantic", "vessel", (40.0, 52.0), (-45.0, -20.0), "XZ", False, 10),
    Region("south-pacific", "vessel", (-30.0, -10.0), (-150.0, -110.0), "XZ", False, 5),
    Region("norwegian-sea", "vessel", (63.0, 67.0), (2.0, 6.0), "NO", True, 4),
)
_REGION_WHEEL: tuple[Region, ...] = tuple(r for r in REGIONS for _ in range(r.weight))

_ADJ = ("Nordic", "Atlantic", "Pacific", "Northern", "Silver", "Arctic", "Golden", "Coral", "Polar", "Southern")
_NOUN = ("Star", "Spirit", "Voyager", "Explorer", "Pioneer", "Horizon", "Trader", "Dawn", "Wind", "Crest")
_GREEK = ("Alpha", "Bravo", "Delta", "Echo", "Gamma", "Kappa", "Sigma", "Omega")

UT_VERSIONS = ("2025.08.11.mr61518", "2025.07.24.mr60237", "2025.09.02.mr62904")
ROUTER_VERSIONS = ("2025.08.19.mr58905", "2025.07.30.mr57710")


@dataclass(frozen=True, slots=True)
class Plan:
    """A subscription product; `limit_gb` None means unlimited (standard data)."""

    product_id: str
    limit_gb: float | None
    mobile: bool


LAND_PLANS = (
    Plan("ENT-LAND-PRIORITY-50GB", 50.0, False),
    Plan("ENT-LAND-PRIORITY-1TB", 1000.0, False),
    Plan("ENT-LAND-STANDARD-UNLIMITED", None, False),
    Plan("ENT-LAND-PRIORITY-5TB", 5000.0, False),
)
MOBILE_PLANS = (
    Plan("ENT-MARITIME-PRIORITY-50GB", 50.0, True),
    Plan("ENT-MARITIME-PRIORITY-1TB", 1000.0, True),
    Plan("ENT-MARITIME-PRIORITY-5TB", 5000.0, True),
    Plan("ENT-MARITIME-STANDARD-UNLIMITED", None, True),
)
OPT_IN_PRODUCT = "ENT-PRIORITY-OPT-IN-PER-GB"

# (code, window in ticks, percent of windows active). Most terminals carry none.
AlertProfile = tuple[tuple[int, int, int], ...]
_UT_PROFILES: tuple[tuple[int, AlertProfile], ...] = (  # (per-mille of terminals, profile)
    (30, ((81, 20, 35),)),  # thermal_throttling
    (40, ((66, 30, 45),)),  # high_time_obstruction
    (30, ((50, 60, 30),)),  # ethernet_slow_10mbps
    (20, ((82, 240, 60),)),  # software_update_reboot_pending
    (10, ((62, 8, 15),)),  # pop_change
    (8, ((54, 120, 50), (63, 20, 20))),  # mast_not_vertical + unable_to_align
)
_ROUTER_PROFILES: tuple[tuple[int, AlertProfile], ...] = (
    (20, ((52, 80, 40),)),  # sandbox_disabled
    (10, ((54, 80, 40),)),  # geo_fenced
    (10, ((55, 80, 40),)),  # offline_networks_disabled
)


@dataclass(frozen=True, slots=True)
class Router:
    router_id: str
    nickname: str
    terminal_id: str  # bare id of the dish it is bonded to
    config_id: str
    hardware_version: str
    software_version: str
    alert_profile: AlertProfile


@dataclass(frozen=True, slots=True)
class ServiceLine:
    number: str
    nickname: str
    plan: Plan
    active: bool
    start: datetime
    end: datetime | None
    public_ip: bool
    address_reference_id: str
    opt_in_product_id: str | None
    terminal_index: int | None
    usage_level: float  # fraction of the plan (or of 1 TB when unlimited) used per month
    cycle_day: int  # its billing cycles start on this day of the month (its activation day)
    heavy: bool = False  # crosses 90 % of its limit early in every cycle
    overage: bool = False  # opted into overage and past its limit from the first day of every cycle
    pool: str | None = None  # draws priority data from the account's shared data pool
    recurring_blocks: int = 0  # recurring data blocks added to its plan's data every cycle


@dataclass(frozen=True, slots=True)
class Terminal:
    index: int
    terminal_id: str  # bare, as the management API returns it
    nickname: str
    kit_serial: str
    dish_serial: str
    service_line: str
    region: Region
    lat: float
    lon: float
    moving: bool
    cell: int  # H3 res-5 cell of (lat, lon) as an integer
    software_version: str
    alert_profile: AlertProfile
    router: Router | None

    @property
    def device_id(self) -> str:
        """The stream's DeviceId: the bare id prefixed with `ut`."""
        return "ut" + self.terminal_id


@dataclass(slots=True)
class Account:
    """One simulated Starlink account and its service account (client id/secret)."""

    index: int  # 1-based
    number: str
    name: str
    client_id: str
    client_secret: str
    alert_column: str
    terminals: list[Terminal]
    service_lines: list[ServiceLine]
    base_offline: frozenset[int]  # terminal indices offline by default
    critical: int | None  # terminal index with a critical alert most of the time
    routers: list[tuple[int, Router]] = field(default_factory=list)  # (terminal index, router)
    seed_key: int = 0
    pool: str | None = None  # the account's shared data pool (pre-release API), if it has one


def cell_of(lat: float, lon: float) -> int:
    """H3 resolution-5 cell of a point, as the decimal integer the stream sends."""
    return int(h3.latlng_to_cell(lat, lon, 5), 16)


def _number(prefix: str, h: int) -> str:
    return f"{prefix}-{100000 + h % 900000}-{10000 + (h >> 20) % 90000}-{10 + (h >> 40) % 90}"


def _profile(h: int, table: tuple[tuple[int, AlertProfile], ...]) -> AlertProfile:
    slot = h % 1000
    for share, profile in table:
        if slot < share:
            return profile
        slot -= share
    return ()


def _site_name(region: Region, h: int, index: int) -> str:
    if region.kind == "vessel":
        return f"MV {_ADJ[h % len(_ADJ)]} {_NOUN[(h >> 8) % len(_NOUN)]}"
    if region.kind == "rig":
        return f"Rig {_GREEK[h % len(_GREEK)]} {1 + (h >> 8) % 12}"
    return f"Site {index + 1}"


class _Ids:
    """Fleet-wide unique identifiers drawn from hashes (collisions bump the hash)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def unique(self, make: Callable[[int], str], h: int) -> str:
        while True:
            value = make(h)
            if value not in self.seen:
                self.seen.add(value)
                return value
            h = key(h, 0x5EED)


def split(total: int, parts: int) -> list[int]:
    """`total` split evenly over `parts`, the remainder going to the first ones."""
    base, extra = divmod(max(total, 0), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_account(seed: int, index: int, n_terminals: int, t0: float, ids: _Ids, spares: int = 0) -> Account:
    """Generate account `index` (1-based) with `n_terminals` terminals, relative to start time t0.

    `spares` more terminals (indices from `n_terminals` on) are generated the same way for churn
    (see `churn.py`); they never carry the account's special roles (critical, offline)."""
    ha = key(seed, _S_ACCOUNT, index)
    number = ids.unique(lambda h: _number("ACC", h), ha)
    today = midnight(t0)

    # Choose the special terminals first so the choice does not depend on other draws.
    order = sorted(range(n_terminals), key=lambda i: key(seed, index, _S_TERMINAL, i, 99))
    critical = order[0] if n_terminals else None
    n_off = max(1, round(n_terminals * 0.04)) if n_terminals >= 2 else 0
    offline = order[1 : 1 + n_off]
    n_inactive = min(n_terminals // 40, max(n_off - 1, 0))
    inactive = set(offline[:n_inactive])  # offline because their service line was deactivated

    terminals: list[Terminal] = []
    lines: list[ServiceLine] = []
    routers: list[tuple[int, Router]] = []
    for i in range(n_terminals + spares):
        h = key(seed, index, _S_TERMINAL, i)
        region = _REGION_WHEEL[pick(h, len(_REGION_WHEEL))]
        lat = region.lat[0] + unit(h, 8) * (region.lat[1] - region.lat[0])
        lon = region.lon[0] + unit(h, 24) * (region.lon[1] - region.lon[0])
        moving = region.kind == "vessel" and (h >> 40) % 3 != 0
        tid = ids.unique(lambda x: f"01000000-00000000-{x & 0xFFFFFFFF:08x}", key(h, 1))
        name = _site_name(region, h >> 44, i)
        sln = ids.unique(lambda x: _number("AST", x), key(seed, index, _S_LINE, i))
        serial = 100000 + key(h, 2) % 900000
        profile = ((80 if key(h, 3) % 2 else 53, 40, 90),) if i == critical else _profile(key(h, 4), _UT_PROFILES)
        version = UT_VERSIONS[0 if unit(h, 52) < 0.6 else (1 if unit(h, 52) < 0.9 else 2)]
        if any(code == 82 for code, _, _ in profile):
            version = UT_VERSIONS[1]
        router = None
        hr = key(seed, index, _S_ROUTER, i)
        if unit(hr) < 0.7:
            rid = ids.unique(lambda x: f"Router-0100000000000000{x & 0xFFFFFFFF:08X}", key(hr, 1))
            router = Router(
                router_id=rid,
                nickname=f"{name} router",
                terminal_id=tid,
                config_id=str(uuid.UUID(int=key(hr, 2) << 64 | key(hr, 3), version=4)),
                hardware_version=("v1", "v2", "v3")[pick(hr >> 16, 3)],
                software_version=ROUTER_VERSIONS[pick(hr >> 24, 2)],
                alert_profile=_profile(key(hr, 4), _ROUTER_PROFILES),
            )
            routers.append((i, router))
        terminals.append(
            Terminal(
                index=i,
                terminal_id=tid,
                nickname=name,
                kit_serial=f"KIT00{serial}",
                dish_serial=f"2DHT00{serial}",
                service_line=sln,
                region=region,
                lat=lat,
                lon=lon,
                moving=moving,
                cell=cell_of(lat, lon),
                software_version=version,
                alert_profile=profile,
                router=router,
            )
        )
        lines.append(_line(seed, index, i, sln, name, region, today, i not in inactive, i))

    for j in range(1 + key(seed, index, _S_SPARE) % 2):  # spare lines awaiting a kit, the 2nd deactivated
        sln = ids.unique(lambda x: _number("AST", x), key(seed, index, _S_SPARE, j))
        lines.append(_line(seed, index, n_terminals + j, sln, f"Spare {j + 1}", REGIONS[0], today, j == 0, None))

    lines = _with_heavy_line(lines, index)
    pool = None
    if index % 2 == 1:  # odd accounts share a data pool among a few active lines (even ones lack the feature)
        pool = f"DP-{key(seed, index, 0x9001) % 10**10:010d}"
        lines = [
            replace(line, pool=pool, opt_in_product_id=None)
            if line.active
            and not (line.heavy or line.overage or line.recurring_blocks)
            and unit(key(seed, index, _S_LINE, n, 0x9002)) < 0.2
            else line
            for n, line in enumerate(lines)
        ]
    lines = _with_recurring_blocks(lines)
    secret = f"{key(seed, index, 77):016x}{key(seed, index, 78):016x}"
    return Account(
        index=index,
        number=number,
        name=f"Simulated Fleet {index}",
        client_id=f"sim-starlink-{index}",
        client_secret=secret,
        alert_column="ActiveAlert" if index % 2 == 0 else "ActiveAlerts",
        terminals=terminals,
        service_lines=lines,
        base_offline=frozenset(offline),
        critical=critical,
        routers=routers,
        seed_key=ha,
        pool=pool,
    )


def _line(
    seed: int,
    account: int,
    i: int,
    number: str,
    nickname: str,
    region: Region,
    today: datetime,
    active: bool,
    terminal_index: int | None,
) -> ServiceLine:
    h = key(seed, account, _S_LINE, i, 1)
    plans = LAND_PLANS if region.kind == "land" else MOBILE_PLANS
    cycle_day = anchor_for(i, key(h, 9))
    start = cycle_start(cycle_day, today - timedelta(days=90 + h % 1100))
    end = today - timedelta(days=3 + (h >> 16) % 40) if not active else None
    return ServiceLine(
        number=number,
        nickname=nickname,
        plan=plans[pick(h >> 24, len(plans))],
        active=active,
        start=start,
        end=end,
        public_ip=unit(h, 32) < 0.25,
        address_reference_id=str(uuid.UUID(int=key(h, 5) << 64 | key(h, 6), version=4)),
        opt_in_product_id=OPT_IN_PRODUCT if unit(h, 48) < 0.15 else None,
        terminal_index=terminal_index,
        usage_level=0.1 + 0.65 * unit(key(h, 7)),
        cycle_day=cycle_day,
    )


def _with_heavy_line(lines: list[ServiceLine], account: int) -> list[ServiceLine]:
    """Put the first active line with a terminal on a 50 GB plan and mark it heavy (>90 % used),
    and the second on a 50 GB plan, opted into overage and past its limit (overage billed)."""
    candidates = [n for n, line in enumerate(lines) if line.active and line.terminal_index is not None]
    if not candidates:
        return lines
    heavy = candidates[0]
    lines[heavy] = replace(lines[heavy], plan=_small(lines[heavy].plan), heavy=True)
    if len(candidates) > 1:
        # the overage line's cycle starts mid-month (near the 8th on odd accounts, the 23rd on even
        # ones), so that on any date some account shows overage: on its cycle's first day a line has
        # no complete day, hence no overage yet
        near = 8 if account % 2 else 23
        n = min(candidates[1:], key=lambda i: (abs(lines[i].cycle_day - near), i))
        lines[n] = replace(lines[n], plan=_small(lines[n].plan), overage=True, opt_in_product_id=OPT_IN_PRODUCT)
    return lines


RECURRING_BLOCKS = 2  # the recurring data blocks of the one line per account that has some


def _with_recurring_blocks(lines: list[ServiceLine]) -> list[ServiceLine]:
    """Give the first active line on a limited plan of its own (no pool) that is neither heavy nor
    past its limit recurring data blocks (a "top up plan" buys them per cycle; they raise its limit)."""
    for n, line in enumerate(lines):
        if line.active and line.plan.limit_gb is not None and not (line.heavy or line.overage or line.pool):
            lines[n] = replace(line, recurring_blocks=RECURRING_BLOCKS)
            break
    return lines


def _small(plan: Plan) -> Plan:
    return MOBILE_PLANS[0] if plan.mobile else LAND_PLANS[0]


def build_fleet(
    seed: int, accounts: int, terminals: int, t0: float, spares: Callable[[int], int] | None = None
) -> list[Account]:
    """All simulated accounts; `terminals` is the fleet total, split evenly. `spares(n)` is the
    number of extra terminals an account of `n` gets for churn (none by default)."""
    if accounts < 1:
        raise ValueError("the simulator needs at least one account")
    ids = _Ids()
    return [
        build_account(seed, a + 1, n, t0, ids, spares(n) if spares else 0)
        for a, n in enumerate(split(terminals, accounts))
    ]
