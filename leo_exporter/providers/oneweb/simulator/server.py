"""A fake of the OneWeb enterprise API in the *assumed* shapes, over HTTP.

OneWeb publishes no specification, so apart from the confirmed parts (HTTP Basic on every
request, `GET hello/v1/oneweb/world`, the user terminal list as a JSON array with `fields=`)
everything served here is an assumption: paths from `schema.ENDPOINTS`, and every record
written field by field at the path `schema.SHAPES` gives for it. Correcting a shape in the
schema therefore corrects the simulator too. All values are synthetic.

What it simulates, per distribution partner account (its own client id and secret):
customers (child organizations), sites, user terminals with components and a GeoJSON location
(`[lon, lat, elevation]`), one product instance per terminal plus a spare and a suspended one,
a quarter-hourly performance report per terminal and product that becomes available only after
a delay (and drifts from period to period), and usage reports that grow through each product's
billing cycle from its own bill cycle reference date (the day of the month it was activated, see
calendar.py), one product over its allowance (overage blocks),
one customer's products sharing a sub-pool.

Lists answer a bare JSON array with `X-Total-Count`; with `offset`/`limit` they page. With
`page_default` set, a request without paging parameters gets only that many records (a server
that pages by itself). Faults (`faults.py`: 429, 5xx, slow, reset, truncated, malformed, wrong
shape, revoked) apply per distribution partner id, client id or index. Time comes from an
injectable clock; dates (activations, cycles, usage) from the simulated calendar.
"""

from __future__ import annotations

import base64
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from leo_exporter.providers.oneweb.schema import ENDPOINTS, SHAPES, compile_path, set_path
from leo_exporter.simulator.calendar import anchor_for, cycle_bounds, cycle_start, midnight
from leo_exporter.simulator.faults import FaultBook
from leo_exporter.simulator.hashing import key, pick, unit
from leo_exporter.simulator.plugin import SimulatorContext
from leo_exporter.simulator.responses import json_response

PERIOD = 900.0  # performance reports per quarter hour (the DataMiner screens show quarter hours)
SIGNAL_DELAY = 1200.0  # a period's link availability / signal report is served 20 min after it ends
TRAFFIC_DELAY = 1800.0
THROUGHPUT_DELAY = 1200.0
USAGE_DELAY = 3600.0  # usage reports refresh hourly, an hour late
MAX_PAGE = 1000
GB = 1e9

_S_ACCOUNT, _S_CUSTOMER, _S_SITE, _S_TERMINAL, _S_PRODUCT, _S_PERF, _S_USAGE = range(101, 108)

CUSTOMERS = (
    "Northern Fisheries",
    "Arctic Mining Co",
    "Coastal Rescue Service",
    "Sahel Solar",
    "Andes Geothermal",
    "Pacific Ferries",
)
PLACES = (  # name, lat, lon
    ("Tromso Harbour", 69.65, 18.96),
    ("Kiruna Mine", 67.85, 20.22),
    ("Svalbard Station", 78.22, 15.65),
    ("Reykjavik Depot", 64.14, -21.94),
    ("Nuuk Base", 64.18, -51.72),
    ("Agadez Field", 16.97, 7.99),
    ("Atacama Plant", -23.86, -69.13),
    ("Aleutian Post", 53.88, -166.54),
    ("Hebrides Pier", 57.76, -7.02),
    ("Yukon Camp", 64.06, -139.43),
)
HARDWARE = (  # manufacturer, hardware version, UT firmware
    ("OneWeb Ltd", "INSTER-RA01", "INSTER-RA01_2.0.3"),
    ("Intellian", "OW70L", "OW70L_1.9.8"),
    ("Kymeta", "Hawk u8", "KYM-U8_3.1.0"),
    ("Hughes", "HL1120W", "HL1120_4.2.1"),
)
COMPONENT_VERSIONS = {
    "SSM_BSP": ("SSM_BSP_4.0.24", "SSM_BSP_4.0.22"),
    "SSM": ("SSMv2_5.0.65", "SSMv2_5.0.61"),
    "MIM": ("MIM_1.4.2", "MIM_1.4.0"),
    "MDM": ("NOMAD_MPSS.OT.1.2", "NOMAD_MPSS.OT.1.1"),
}


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    allowance_gb: float | None  # None: unlimited
    downlink_mbps: float
    uplink_mbps: float
    grade: str


PLANS = (
    Plan("Site Connectivity Gold 100GB", 100.0, 195.0, 32.0, "Gold"),
    Plan("Site Connectivity Silver 50GB", 50.0, 100.0, 20.0, "Silver"),
    Plan("Site Connectivity Platinum Unlimited", None, 195.0, 32.0, "Platinum"),
)
OVERAGE_GB = 10.0
POOL_GB = 300.0


@dataclass(frozen=True, slots=True)
class SimCredentials:
    client_id: str
    client_secret: str
    partner_id: str
    partner_name: str


@dataclass(slots=True)
class Org:
    org_id: str
    name: str
    parent: str


@dataclass(slots=True)
class SimSite:
    site_id: str
    name: str
    customer: str
    lat: float
    lon: float


@dataclass(slots=True)
class SimTerminal:
    index: int
    imei: str
    imsi: str
    serial: str
    name: str
    site: SimSite
    manufacturer: str
    hardware_version: str
    components: list[tuple[str, str]]  # (type, version)
    lat: float
    lon: float
    elevation: float
    first_seen: float
    product_id: str = ""


@dataclass(slots=True)
class SimProduct:
    product_id: str
    plan: Plan
    imei: str
    customer: str
    site: str
    status: str
    billing_start: float  # its activation; its billing cycles start on this day of the month
    usage_level: float  # fraction of the allowance (or of 150 GB when unlimited) used per month
    pool: str = ""
    static_ip: bool = False
    cycle_day: int = 0  # billing cycles start on this day of the month; 0: the day it was activated

    @property
    def anchor(self) -> int:
        return self.cycle_day or datetime.fromtimestamp(self.billing_start, UTC).day


@dataclass(slots=True)
class SimAccount:
    index: int
    creds: SimCredentials
    partner: Org
    customers: list[Org]
    sites: list[SimSite]
    terminals: list[SimTerminal]
    products: list[SimProduct]
    offline: set[int] = field(default_factory=set)  # terminal indices


def _luhn(digits: str) -> str:
    total = 0
    for pos, char in enumerate(reversed(digits)):
        d = int(char)
        if pos % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return digits + str((10 - total % 10) % 10)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gb(amount: float) -> dict[str, Any]:
    """A TMF quantity in GB, as the usage report writes amounts."""
    return {"amount": round(amount / GB, 3), "units": "GB"}


def _render(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """A record of `kind` with each logical field written where the schema says it lives."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        set_path(out, compile_path(SHAPES[kind][name].path), value)
    return out


def build_account(seed: int, index: int, n_terminals: int, now: float) -> SimAccount:
    ha = key(seed, _S_ACCOUNT, index)
    partner = Org(f"DP-{1000 + ha % 9000}", f"Simulated Distribution Partner {index}", "")
    n_customers = max(1, min(3, n_terminals // 3 or 1))
    customers = [
        Org(
            f"CUST-{100000 + key(ha, _S_CUSTOMER, c) % 900000}",
            CUSTOMERS[(index + c) % len(CUSTOMERS)],
            partner.org_id,
        )
        for c in range(n_customers)
    ]
    n_sites = max(1, (n_terminals + 1) // 2)
    sites = []
    for s in range(n_sites):
        hs = key(ha, _S_SITE, s)
        name, lat, lon = PLACES[(index * 3 + s) % len(PLACES)]
        sites.append(
            SimSite(
                f"SITE-{100000 + hs % 900000}",
                name if s < len(PLACES) else f"{name} {s // len(PLACES) + 1}",
                customers[s % n_customers].org_id,
                lat + (unit(hs, 8) - 0.5) * 0.2,
                lon + (unit(hs, 24) - 0.5) * 0.2,
            )
        )
    terminals = []
    for t in range(n_terminals):
        ht = key(ha, _S_TERMINAL, t)
        site = sites[t % n_sites]
        maker, hardware, firmware = HARDWARE[pick(ht, len(HARDWARE))]
        older = unit(ht, 40) < 0.25
        components = [("UT", firmware)] + [(kind, v[1] if older else v[0]) for kind, v in COMPONENT_VERSIONS.items()]
        terminals.append(
            SimTerminal(
                index=t,
                imei=_luhn(f"35923517{ht % 1000000:06d}"),
                imsi=f"90159{(ht >> 20) % 10**10:010d}",
                serial=f"OW{(ht >> 8) % 10**9:09d}",
                name=f"{site.name} UT{t // n_sites + 1}",
                site=site,
                manufacturer=maker,
                hardware_version=hardware,
                components=components,
                lat=site.lat + (unit(ht, 16) - 0.5) * 0.01,
                lon=site.lon + (unit(ht, 32) - 0.5) * 0.01,
                elevation=round(5 + unit(ht, 48) * 400, 1),
                first_seen=now - 86400 * (30 + ht % 700),
            )
        )
    products: list[SimProduct] = []
    pool_anchor = 1 + key(ha, 78) % 31  # a pool's members share one cycle
    for t, term in enumerate(terminals):
        hp = key(ha, _S_PRODUCT, t)
        customer = term.site.customer
        pooled = len(customers) > 1 and customer == customers[1].org_id
        plan = PLANS[pick(hp, len(PLANS))]
        anchor = pool_anchor if pooled else anchor_for(sum(1 for p in products if not p.pool), key(hp, 9))
        if pooled:
            plan = PLANS[1]
        product = SimProduct(
            product_id=f"SC-{100000000000 + hp % 900000000000}",
            plan=plan,
            imei=term.imei,
            customer=customer,
            site=term.site.site_id,
            status="active",
            billing_start=cycle_start(anchor, midnight(now - 86400 * (20 + hp % 600))).timestamp(),
            usage_level=0.15 + 0.6 * unit(hp, 16),
            pool=f"POOL-{100000 + key(ha, 77) % 900000}" if pooled else "",
            static_ip=unit(hp, 40) < 0.3,
            cycle_day=anchor,
        )
        term.product_id = product.product_id
        products.append(product)
    heavy = next((p for p in products if p.plan.allowance_gb is not None and not p.pool), None)
    if heavy is not None:
        heavy.usage_level = 3.0  # over its allowance from about the 10th: overage blocks
    for j, status in enumerate(("active", "suspended")):  # a spare product awaiting a terminal, a suspended one
        hp = key(ha, _S_PRODUCT, 1000 + j)
        products.append(
            SimProduct(
                product_id=f"SC-{100000000000 + hp % 900000000000}",
                plan=PLANS[1],
                imei="",
                customer=customers[0].org_id,
                site=sites[0].site_id,
                status=status,
                billing_start=cycle_start(1 + hp % 31, midnight(now - 86400 * 40)).timestamp(),
                usage_level=0.0,
            )
        )
    order = sorted(range(n_terminals), key=lambda i: key(ha, 99, i))
    offline = set(order[: max(1, round(n_terminals * 0.2))] if n_terminals >= 3 else [])
    secret = f"{key(seed, index, 55):016x}{key(seed, index, 56):016x}"
    creds = SimCredentials(f"sim-oneweb-{index}", secret, partner.org_id, partner.name)
    return SimAccount(index, creds, partner, customers, sites, terminals, products, offline)


def _error(status: int, message: str, headers: Mapping[str, str]) -> Response:
    """A fault's error answer (the body shape is as assumed as the 401's)."""
    return json_response({"error": message}, status, headers)


class OneWebSimulator:
    """Simulated OneWeb distribution partner accounts; mount `routes()` at `/oneweb`."""

    def __init__(
        self,
        accounts: int = 1,
        terminals: int = 12,
        seed: int = 1,
        *,
        clock: Callable[[], float] = time.time,
        calendar: Callable[[], float] | None = None,
        page_default: int | None = None,
        total_count: bool = True,
        faults: FaultBook | None = None,
    ) -> None:
        if accounts < 1:
            raise ValueError("the simulator needs at least one account")
        self.seed = seed
        self._clock = clock  # live data: terminal status and performance reports
        self._calendar = calendar or clock  # dates: activations, billing cycles, usage reports
        self.page_default = page_default
        self.total_count = total_count
        self.report_shift = 0.0  # seconds to move every report back in time (tests: late, older reports)
        now = self._calendar()
        base, extra = divmod(max(terminals, 0), accounts)
        self.accounts = [build_account(seed, a + 1, base + (1 if a < extra else 0), now) for a in range(accounts)]
        self._by_client = {acc.creds.client_id: acc for acc in self.accounts}
        self.faults = faults if faults is not None else FaultBook()

    # ---- inspection ---------------------------------------------------------------------------------

    def credentials(self) -> list[SimCredentials]:
        return [acc.creds for acc in self.accounts]

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        """One exporter account per simulated distribution partner, with demo-short intervals."""
        jobs = {
            "user_terminals": {"interval": "30s"},
            "products": {"interval": "1m"},
            "organizations": {"interval": "5m"},
            "sites": {"interval": "5m"},
            "terminal_performance": {"interval": "1m"},
            "product_performance": {"interval": "1m"},
            "usage_consumption": {"interval": "5m"},
        }
        return [
            {
                "provider": "oneweb",
                "name": f"oneweb-{creds.partner_id}",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "api_url": base_url.rstrip("/"),
                "jobs": {name: dict(job) for name, job in jobs.items()},
            }
            for creds in self.credentials()
        ]

    def describe(self, prefix: str) -> list[str]:
        """Its block of the simulator's index page."""
        lines = [
            f"OneWeb (assumed shapes, HTTP Basic client_id:client_secret): {prefix} "
            f"(hello: {prefix}/hello/v1/oneweb/world)",
            f"  {len(self.accounts)} distribution partner(s), "
            f"{sum(len(a.terminals) for a in self.accounts)} terminals, seed {self.seed}",
            f"  controls: GET {prefix}/_sim/state, POST {prefix}/_sim/terminals/{{imei}}/offline|online, "
            f"POST {prefix}/_sim/reports/shift?seconds=N",
        ]
        return lines + [f"  client_id {c.client_id} -> {c.partner_id}" for c in self.credentials()]

    def account(self, client_id: str) -> SimAccount:
        return self._by_client[client_id]

    def set_online(self, imei: str, online: bool) -> None:
        for acc in self.accounts:
            for term in acc.terminals:
                if term.imei == imei:
                    (acc.offline.discard if online else acc.offline.add)(term.index)
                    return
        raise KeyError(imei)

    def state(self) -> dict[str, Any]:
        return {
            "accounts": [
                {
                    "clientId": acc.creds.client_id,
                    "distributionPartner": acc.partner.org_id,
                    "tradingName": acc.partner.name,
                    "customers": [c.org_id for c in acc.customers],
                    "sites": [s.site_id for s in acc.sites],
                    "terminals": [t.imei for t in acc.terminals],
                    "offline": sorted(acc.terminals[i].imei for i in acc.offline),
                    "products": [p.product_id for p in acc.products],
                    "pooledProducts": [p.product_id for p in acc.products if p.pool],
                    "overageProducts": [p.product_id for p in acc.products if p.usage_level > 1],
                }
                for acc in self.accounts
            ],
            "reportShift": self.report_shift,
        }

    # ---- time model ---------------------------------------------------------------------------------

    def report_period(self, delay: float) -> int:
        """Index of the newest quarter hour whose report is out (period k ends at (k+1)*PERIOD)."""
        return math.floor((self._clock() - self.report_shift - delay) / PERIOD) - 1

    @staticmethod
    def period_end(k: int) -> float:
        return (k + 1) * PERIOD

    def _wave(self, h: int, k: int) -> float:
        """A daily swing in [-1, 1] with a little noise: values drift from report to report."""
        phase = unit(h, 4) * 2 * math.pi
        return 0.85 * math.sin(2 * math.pi * k / 96 + phase) + 0.15 * (2 * unit(key(h, k)) - 1)

    # ---- records ------------------------------------------------------------------------------------

    def _terminal_json(self, acc: SimAccount, term: SimTerminal) -> dict[str, Any]:
        online = term.index not in acc.offline
        now = self._clock()
        components = [
            _render("component", {"id": f"{term.imei}/main/{kind}", "type": kind, "partition": "main", "version": v})
            for kind, v in term.components
        ]
        record = _render(
            "user_terminal",
            {
                "id": term.imei,
                "imei": term.imei,
                "imsi": term.imsi,
                "name": term.name,
                "serial": term.serial,
                "state": "online" if online else "offline",
                "first_seen": _iso(term.first_seen),
                "last_seen": _iso(now if online else now - 3600 * (2 + term.index % 20)),
                "site": term.site.site_id,
                "party": acc.partner.org_id,
                "party_name": acc.partner.name,
                "product": term.product_id,
                "coordinates": [round(term.lon, 5), round(term.lat, 5), term.elevation],  # GeoJSON order
                "hardware_version": term.hardware_version,
                "manufacturer": term.manufacturer,
                "components": components,
            },
        )
        location = record.get("location")
        if isinstance(location, dict):  # GeoJSON dressing
            location["type"] = "FeatureCollection"
            for feature in location.get("features", []):
                feature["type"] = "Feature"
                feature.get("geometry", {})["type"] = "Point"
        return record

    def _product_json(self, acc: SimAccount, p: SimProduct) -> dict[str, Any]:
        if p.pool:
            allowance = None  # the allowance is the sub-pool's, on its usage bucket
        else:
            allowance = f"{p.plan.allowance_gb:g} GB" if p.plan.allowance_gb is not None else "Unlimited"
        return _render(
            "product",
            {
                "id": p.product_id,
                "name": p.plan.name,
                "description": f"{p.plan.name} for {p.site}",
                "is_bundle": False,
                "status": p.status,
                "imei": p.imei or None,
                "customer": p.customer,
                "distribution_partner": acc.partner.org_id,
                "site": p.site,
                "allowance": allowance,
                "overage_increment": OVERAGE_GB,
                "max_downlink": p.plan.downlink_mbps,
                "max_uplink": p.plan.uplink_mbps,
                "service_grade": p.plan.grade,
                "ip_addressing_type": "Static" if p.static_ip else "Dynamic",
            },
        )

    def _organizations(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [
            _render("organization", {"id": o.org_id, "name": o.name, "parent": o.parent or None})
            for o in [acc.partner, *acc.customers]
        ]

    def _sites(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [_render("site", {"id": s.site_id, "name": s.name, "party": s.customer}) for s in acc.sites]

    def _terminal_report(self, acc: SimAccount, term: SimTerminal) -> dict[str, Any]:
        h = key(self.seed, acc.index, _S_PERF, term.index)
        online = term.index not in acc.offline
        k_sig = self.report_period(SIGNAL_DELAY)
        k_traffic = self.report_period(TRAFFIC_DELAY)
        values: dict[str, Any] = {"terminal": term.imei, "state": "online" if online else "offline"}
        w = self._wave(h, k_sig)
        values["link_availability"] = (
            round(min(100.0, 98.6 + 1.4 * w), 2) if online else round(5 * unit(key(h, k_sig)), 2)
        )
        values["link_availability_time"] = _iso(self.period_end(k_sig))
        if online:
            values.update(
                rsrp=round(-96 + 5 * w, 1),
                rssi=round(-64 + 4 * w, 1),
                sinr=round(11 + 4 * w, 1),
                signal_quality_time=_iso(self.period_end(k_sig)),
            )
        wt = self._wave(key(h, 1), k_traffic)
        rate = (1 + 7 * unit(h, 20)) * 1e6 / 8 * (0.55 + 0.45 * wt) if online else 0.0  # bytes/s
        values.update(
            wan_receive=int(rate * PERIOD),
            wan_transmit=int(rate * PERIOD / 5),
            cnx_receive=int(2.0e6 * (1 + wt * 0.2)) if online else 0,
            cnx_transmit=int(1.2e6 * (1 + wt * 0.2)) if online else 0,
            mgmt_receive=int(4.0e5 * (1 + wt * 0.1)) if online else 0,
            mgmt_transmit=int(6.0e5 * (1 + wt * 0.1)) if online else 0,
            traffic_time=_iso(self.period_end(k_traffic)),
        )
        return _render("terminal_performance", values)

    def _product_report(self, acc: SimAccount, p: SimProduct, term: SimTerminal) -> dict[str, Any]:
        h = key(self.seed, acc.index, _S_PERF, 500 + term.index)
        k = self.report_period(THROUGHPUT_DELAY)
        w = 0.55 + 0.45 * self._wave(h, k)
        on = 0.0 if term.index in acc.offline else 1.0
        down = {"ef": 96e3, "af": 1.5e6, "be": (3 + 12 * unit(h, 12)) * 1e6}
        values: dict[str, Any] = {"product": p.product_id, "time": _iso(self.period_end(k))}
        for cls, bps in down.items():
            values[f"{cls}_downlink"] = round(bps * w * on)
            values[f"{cls}_uplink"] = round(bps * w * on / 4)
        return _render("product_performance", values)

    def _usage_time(self) -> float:
        return math.floor((self._calendar() - self.report_shift - USAGE_DELAY) / 3600) * 3600

    @staticmethod
    def _cycle(p: SimProduct, ts: float) -> tuple[float, float]:
        """The product's billing cycle around `ts`: from the day of the month it was activated."""
        start, end = cycle_bounds(p.anchor, datetime.fromtimestamp(ts, UTC))
        return start.timestamp(), end.timestamp()

    def used_bytes(self, p: SimProduct, when: float) -> float:
        """Usage grows through the product's cycle from its bill cycle reference date."""
        start, end = self._cycle(p, when)
        reference = (p.plan.allowance_gb or 150.0) * GB
        return round(p.usage_level * reference * (when - start) / (end - start))

    def _usage_report(self, acc: SimAccount, p: SimProduct) -> dict[str, Any]:
        when = self._usage_time()
        start, end = self._cycle(p, when)
        used = self.used_bytes(p, when)
        h = key(self.seed, acc.index, _S_USAGE, int(p.product_id[3:]) % 10**9)
        counters = [
            _render(
                "usage_counter",
                {
                    "type": "usage",
                    "level": "global",
                    "value": _gb(used),
                    "product": p.product_id,
                    "user": p.site,
                },
            )
        ]
        bucket: dict[str, Any] = {
            "id": f"{1400000000 + h % 99999999}",
            "bucket_type": "cycle",
            "usage_type": "data",
            "product": p.product_id,
            "entitlement_renew": _iso(end)[:10],
            "counters": counters,
        }
        validity = {"valid_from": _iso(start), "valid_until": _iso(end)}
        if p.pool:
            members = [m for m in acc.products if m.pool == p.pool]
            pool_used = sum(self.used_bytes(m, when) for m in members)
            left = POOL_GB * GB - pool_used
            bucket.update(name="Shared Pool Data", shared=True, sub_pool=p.pool, balance=_gb(left))
            balance = {"name": f"{POOL_GB:g} GB of data", "remaining": _gb(max(0.0, left))}
        elif p.plan.allowance_gb is None:
            bucket.update(name="Monthly Data", shared=False)
            balance = {"name": "Unlimited data"}
        else:
            allowance = p.plan.allowance_gb * GB
            blocks = max(0, math.ceil((used - allowance) / (OVERAGE_GB * GB)))
            bucket.update(name="Monthly Data", shared=False)
            bucket["balance"] = _gb(allowance + blocks * OVERAGE_GB * GB - used)
            balance = {"name": f"{p.plan.allowance_gb:g} GB of data", "remaining": _gb(max(0.0, allowance - used))}
            overage = {"amount": blocks, "units": "blocks"}  # consumed overage blocks, 0 until needed
            counters.append(
                _render(
                    "usage_counter",
                    {"type": "overage", "level": "global", "value": overage, "product": p.product_id},
                )
            )
        bucket["balances"] = [_render("usage_balance", {**balance, **validity})]
        report = {
            "id": f"{1409000000 + h % 999999}-{191000000 + (h >> 24) % 999999}",
            "time": _iso(when),
            "buckets": [_render("usage_bucket", bucket)],
        }
        return _render("usage_report", report)

    # ---- lists --------------------------------------------------------------------------------------

    def user_terminals(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [self._terminal_json(acc, t) for t in acc.terminals]

    def products(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [self._product_json(acc, p) for p in acc.products]

    def terminal_reports(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [self._terminal_report(acc, t) for t in acc.terminals]

    def product_reports(self, acc: SimAccount) -> list[dict[str, Any]]:
        by_imei = {t.imei: t for t in acc.terminals}
        return [self._product_report(acc, p, by_imei[p.imei]) for p in acc.products if p.imei in by_imei]

    def usage_reports(self, acc: SimAccount) -> list[dict[str, Any]]:
        return [self._usage_report(acc, p) for p in acc.products if p.imei and p.status == "active"]

    # ---- HTTP ---------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Routes relative to the mount point (`/oneweb`)."""
        lists: dict[str, Callable[[SimAccount], list[dict[str, Any]]]] = {
            "user_terminals": self.user_terminals,
            "products": self.products,
            "organizations": self._organizations,
            "sites": self._sites,
            "terminal_performance": self.terminal_reports,
            "product_performance": self.product_reports,
            "usage_consumption": self.usage_reports,
        }
        routes: list[BaseRoute] = [Route("/" + ENDPOINTS["hello"].path, self._api(self._hello), methods=["GET"])]
        for name, build in lists.items():
            routes.append(Route("/" + ENDPOINTS[name].path, self._api(self._lister(build)), methods=["GET"]))
        routes += [
            Route("/_sim/state", self._sim_state, methods=["GET"]),
            Route("/_sim/terminals/{imei}/{action:str}", self._sim_terminal, methods=["POST"]),
            Route("/_sim/reports/shift", self._sim_shift, methods=["POST"]),
            *self.faults.routes("oneweb"),
            Route("/{rest:path}", self._api(self._not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        return routes

    def _authenticate(self, request: Request) -> SimAccount | None:
        """HTTP Basic client_id:client_secret, as MuleSoft's client id enforcement takes it."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except ValueError:
            return None
        acc = self._by_client.get(client_id)
        if acc is None or not secrets.compare_digest(acc.creds.client_secret, secret):
            return None
        return acc

    def _api(
        self, handler: Callable[[Request, SimAccount], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            acc = self._authenticate(request)
            if acc is None:  # the error body is an assumption (MuleSoft's policy answers 401)
                return json_response({"error": "Invalid client id or secret"}, 401)
            keys = (acc.creds.partner_id, acc.creds.client_id, str(acc.index))
            name = request.url.path[len(request.scope.get("root_path", "")) :] or "/"

            async def run() -> Response:
                return await handler(request, acc)

            return await self.faults.serve("oneweb", keys, acc.creds.partner_id, name, request, run, _error)

        return endpoint

    async def _hello(self, request: Request, acc: SimAccount) -> Response:
        return json_response({"message": "Hello OneWeb"})

    async def _not_found(self, request: Request, acc: SimAccount) -> Response:
        return json_response({"error": f"No resource at {request.url.path}"}, 404)

    def _lister(
        self, build: Callable[[SimAccount], list[dict[str, Any]]]
    ) -> Callable[[Request, SimAccount], Awaitable[Response]]:
        async def handler(request: Request, acc: SimAccount) -> Response:
            items = build(acc)
            query = request.query_params
            wanted = [f for f in query.get("fields", "").split(",") if f]
            if wanted:  # TMF attribute selection: only the fields asked for
                items = [{k: v for k, v in item.items() if k in wanted} for item in items]
            try:
                offset = int(query["offset"]) if "offset" in query else None
                limit = int(query["limit"]) if "limit" in query else None
            except ValueError:
                return json_response({"error": "offset and limit must be integers"}, 400)
            if (offset is not None and offset < 0) or (limit is not None and limit < 1):
                return json_response({"error": "offset must be >= 0 and limit >= 1"}, 400)
            total = len(items)
            if offset is not None or limit is not None:
                start = offset or 0
                items = items[start : start + min(limit or MAX_PAGE, MAX_PAGE)]
            elif self.page_default is not None:
                items = items[: self.page_default]
            headers = {"X-Result-Count": str(len(items))}
            if self.total_count:
                headers["X-Total-Count"] = str(total)
            return json_response(items, headers=headers)

        return handler

    async def _sim_state(self, request: Request) -> Response:
        return json_response(self.state())

    async def _sim_terminal(self, request: Request) -> Response:
        imei, action = request.path_params["imei"], request.path_params["action"]
        if action not in ("online", "offline"):
            return json_response({"error": f"unknown action {action!r}"}, 404)
        try:
            self.set_online(imei, action == "online")
        except KeyError:
            return json_response({"error": f"unknown terminal {imei!r}"}, 404)
        return json_response({"ok": True, "imei": imei, "action": action})

    async def _sim_shift(self, request: Request) -> Response:
        """`?seconds=N`: serve every report N seconds older than now would (an older report)."""
        try:
            self.report_shift = float(request.query_params.get("seconds", "0"))
        except ValueError:
            return json_response({"error": "seconds must be a number"}, 400)
        return json_response({"ok": True, "reportShift": self.report_shift})


def simulate(ctx: SimulatorContext) -> OneWebSimulator:
    """The OneWeb simulator of the simulator app (the provider's `SIMULATOR.factory`): its own
    number of accounts (`--oneweb-accounts`) and a quarter of the terminals, at least four."""
    return OneWebSimulator(
        ctx.options["oneweb_accounts"],
        max(4, ctx.terminals // 4),
        ctx.seed,
        faults=ctx.faults,
        clock=ctx.clock,
        calendar=ctx.calendar,
    )
