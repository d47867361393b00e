"""Parsers of OneWeb responses into records, reading every field where `schema.SHAPES` (plus the
account's `fields:` overrides) says it is.

A parser takes one decoded JSON item and returns a record, or raises BadResponse naming the
field path that is missing or of the wrong type; list callers skip such items and say which.
Amounts come out in base units (bytes, bytes per second, ratios), times in Unix seconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leo_exporter.labeltext import intern
from leo_exporter.providers.common import json_object
from leo_exporter.providers.common import timestamp as _timestamp
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.oneweb.schema import (
    ACTIVE_PRODUCT_STATES,
    OFFLINE_STATES,
    ONLINE_STATES,
    OVERAGE_COUNTER_TYPES,
    USAGE_COUNTER_TYPES,
    Step,
    compile_path,
    get_path,
)
from leo_exporter.providers.oneweb.units import UNLIMITED, quantity

T = TypeVar("T")
Note = Callable[[str, str], object]

TRAFFIC_TYPES = ("cnx", "mgmt", "wan")
THROUGHPUT_CLASSES = {"ef": "expedited_forwarding", "af": "assured_forwarding", "be": "best_effort"}


def _ignore(kind: str, name: str) -> None:
    return None


class Shape:
    """The fields of one record kind: compiled paths and the unit of a bare number."""

    def __init__(self, kind: str, table: dict[str, tuple[str, str]]):
        self.kind = kind
        self.paths = {name: path for name, (path, _) in table.items()}
        self.units = {name: unit for name, (_, unit) in table.items()}
        self.steps: dict[str, tuple[Step, ...]] = {name: compile_path(path) for name, path in self.paths.items()}

    def raw(self, item: Any, name: str) -> Any:
        return get_path(item, self.steps[name])

    def text(self, item: Any, name: str, what: str, *, required: bool = False) -> str:
        value = self.raw(item, name)
        if value is None or value == "":
            if required:
                raise BadResponse(f"{what}: '{self.paths[name]}' is missing")
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)  # IMEIs and ids may come as numbers
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if not isinstance(value, str):
            raise BadResponse(f"{what}: '{self.paths[name]}' should be a string, got {type(value).__name__}")
        return intern(value.strip())  # one copy of what many records repeat (a plan, a status)

    def number(self, item: Any, name: str, what: str) -> float | None:
        value = self.raw(item, name)
        if value is None or value == "":
            return None
        if isinstance(value, dict):  # {"value": .., "unit": ..}
            value = value.get("value", value.get("amount"))
            if value is None:
                return None
        if isinstance(value, bool):
            raise BadResponse(f"{what}: '{self.paths[name]}' should be a number, got true/false")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            if value.strip().upper() in ("N/A", "NA", "-"):
                return None
            try:
                return float(value.strip().rstrip("%").strip())
            except ValueError:
                pass
        raise BadResponse(f"{what}: '{self.paths[name]}' should be a number")

    def amount(self, item: Any, name: str, what: str) -> float | None:
        return quantity(self.raw(item, name), self.units[name], f"{what}: '{self.paths[name]}'")

    def time(self, item: Any, name: str, what: str) -> float | None:
        return timestamp(self.raw(item, name), f"{what}: '{self.paths[name]}'")

    def flag(self, item: Any, name: str, what: str) -> bool | None:
        value = self.raw(item, name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        raise BadResponse(f"{what}: '{self.paths[name]}' should be true or false")

    def items(self, item: Any, name: str, what: str) -> list[Any]:
        value = self.raw(item, name)
        if value is None:
            return []
        if isinstance(value, dict):
            return [value]
        if not isinstance(value, list):
            raise BadResponse(f"{what}: '{self.paths[name]}' should be a list, got {type(value).__name__}")
        return value


def shapes_from(table: dict[str, dict[str, tuple[str, str]]]) -> dict[str, Shape]:
    """The compiled shapes of an account's field table. Accounts with the same fields share one
    Shape (read only): a thousand OneWeb accounts each compiled the same schema (about 10 KiB)."""
    return {kind: _shape(kind, tuple(fields.items())) for kind, fields in table.items()}


@functools.lru_cache(maxsize=1024)
def _shape(kind: str, fields: tuple[tuple[str, tuple[str, str]], ...]) -> Shape:
    return Shape(kind, dict(fields))


def label_value(name: str) -> str:
    """A provider's display name as a stable label value: `Monthly Data` -> `monthly_data`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _finite(value: float | None) -> float | None:
    return None if value is None or value == UNLIMITED else value


# ---- user terminals ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Component:
    type: str
    partition: str
    version: str


@dataclass(slots=True)
class UserTerminal:
    imei: str
    state: str
    online: bool
    product: str  # the product instance the terminal names itself, if any
    attrs: dict[str, str]
    first_seen: float | None = None
    last_seen: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    elevation: float | None = None
    location_problem: str = ""
    components: list[Component] = field(default_factory=list)


def parse_user_terminal(
    item: Any, shapes: dict[str, Shape], *, location_order: str, firmware_component: str
) -> UserTerminal:
    ut, comp = shapes["user_terminal"], shapes["component"]
    item = json_object(item, "user terminal")
    imei = ut.text(item, "imei", "user terminal") or ut.text(item, "id", "user terminal", required=True)
    what = f"user terminal {imei}"
    state = ut.text(item, "state", what)
    components = []
    for raw in ut.items(item, "components", what):
        raw = json_object(raw, f"{what} component")
        kind = comp.text(raw, "type", f"{what} component")
        if not kind:  # the id reads <IMEI>/<partition>/<TYPE>
            kind = comp.text(raw, "id", f"{what} component").rsplit("/", 1)[-1]
        if kind:
            components.append(
                Component(
                    kind, comp.text(raw, "partition", f"{what} {kind}"), comp.text(raw, "version", f"{what} {kind}")
                )
            )
    firmware = next((c.version for c in components if c.type.lower() == firmware_component.lower()), "")
    record = UserTerminal(
        imei=imei,
        state=state,
        online=state.lower() in ONLINE_STATES,
        product=ut.text(item, "product", what),
        attrs={
            "name": ut.text(item, "name", what),
            "serial": ut.text(item, "serial", what),
            "imsi": ut.text(item, "imsi", what),
            "manufacturer": ut.text(item, "manufacturer", what),
            "hardware_version": ut.text(item, "hardware_version", what),
            "software_version": firmware,
            "site": ut.text(item, "site", what),
            "organization": ut.text(item, "party", what),  # the glossary's name for a related party
            "organization_name": ut.text(item, "party_name", what),
        },
        first_seen=ut.time(item, "first_seen", what),
        last_seen=ut.time(item, "last_seen", what),
        components=components,
    )
    _location(record, ut.raw(item, "coordinates"), location_order, what)
    return record


def _location(record: UserTerminal, coords: Any, order: str, what: str) -> None:
    if coords is None:
        return
    if (
        not isinstance(coords, list)
        or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:3])
    ):
        record.location_problem = f"{what}: coordinates are not a list of numbers"
        return
    first, second = float(coords[0]), float(coords[1])
    lat, lon = (second, first) if order == "lon_lat" else (first, second)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        record.location_problem = (
            f"{what}: coordinates {coords[:2]} read as lat {lat}, lon {lon} are out of range; "
            f"is location_order ({order}) right?"
        )
        return
    record.latitude, record.longitude = lat, lon
    if len(coords) >= 3:
        record.elevation = float(coords[2])


def state_is_known(state: str) -> bool:
    lowered = state.lower()
    return not state or lowered in ONLINE_STATES or lowered in OFFLINE_STATES


# ---- products ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Product:
    product_id: str
    imei: str
    active: bool
    attrs: dict[str, str]
    allowance_bytes: float | None = None  # None: unlimited or unknown
    overage_increment_bytes: float | None = None
    max_downlink: float | None = None  # bytes per second
    max_uplink: float | None = None


def parse_product(item: Any, shapes: dict[str, Shape]) -> Product:
    pr = shapes["product"]
    item = json_object(item, "product")
    pid = pr.text(item, "id", "product", required=True)
    what = f"product {pid}"
    status = pr.text(item, "status", what)
    name = pr.text(item, "name", what)
    imei = pr.text(item, "imei", what)
    is_bundle = pr.flag(item, "is_bundle", what)
    return Product(
        product_id=pid,
        imei=imei,
        active=not status or status.lower() in ACTIVE_PRODUCT_STATES,
        attrs={
            "name": name,
            "product_name": name,  # `product` is an id everywhere; OneWeb names the product only
            "description": pr.text(item, "description", what),
            "terminal_id": imei,
            "site": pr.text(item, "site", what),
            "organization": pr.text(item, "customer", what),
            "provider_account": pr.text(item, "distribution_partner", what),
            "service_grade": pr.text(item, "service_grade", what),
            "ip_addressing_type": pr.text(item, "ip_addressing_type", what),
            "is_bundle": "" if is_bundle is None else str(is_bundle).lower(),
            "status": status,
        },
        allowance_bytes=_finite(pr.amount(item, "allowance", what)),
        overage_increment_bytes=_finite(pr.amount(item, "overage_increment", what)),
        max_downlink=_finite(pr.amount(item, "max_downlink", what)),
        max_uplink=_finite(pr.amount(item, "max_uplink", what)),
    )


# ---- organizations and sites ------------------------------------------------------------------------


@dataclass(slots=True)
class Organization:
    org_id: str
    name: str
    parent: str
    kind: str


def parse_organization(item: Any, shapes: dict[str, Shape]) -> Organization:
    org = shapes["organization"]
    item = json_object(item, "organization")
    oid = org.text(item, "id", "organization", required=True)
    what = f"organization {oid}"
    parent = org.text(item, "parent", what)
    kind = label_value(org.text(item, "kind", what)) or ("customer" if parent else "distribution_partner")
    return Organization(oid, org.text(item, "name", what), parent, kind)


@dataclass(slots=True)
class Site:
    site_id: str
    name: str
    organization: str


def parse_site(item: Any, shapes: dict[str, Shape]) -> Site:
    site = shapes["site"]
    item = json_object(item, "site")
    sid = site.text(item, "id", "site", required=True)
    what = f"site {sid}"
    return Site(sid, site.text(item, "name", what), site.text(item, "party", what))


# ---- performance reports ------------------------------------------------------------------------------


@dataclass(slots=True)
class TerminalReport:
    """One terminal's performance report; each group carries its own time (reports lag differently)."""

    imei: str
    link_availability: float | None = None  # ratio 0-1
    link_availability_time: float | None = None
    signal: dict[str, float] = field(default_factory=dict)  # rsrp_dbm, rssi_dbm, sinr_decibels
    signal_time: float | None = None
    state: str = ""
    traffic: dict[tuple[str, str], float] = field(default_factory=dict)  # (transmit|receive, cnx) -> bytes
    traffic_time: float | None = None


def parse_terminal_report(item: Any, shapes: dict[str, Shape], *, availability_scale: str) -> TerminalReport:
    tp = shapes["terminal_performance"]
    item = json_object(item, "user terminal performance")
    imei = tp.text(item, "terminal", "user terminal performance", required=True)
    what = f"performance of user terminal {imei}"
    report = TerminalReport(imei=imei, state=tp.text(item, "state", what))
    availability = tp.number(item, "link_availability", what)
    if availability is not None:
        ratio = availability / 100.0 if availability_scale == "percent" else availability
        report.link_availability = round(ratio, 9)
        report.link_availability_time = tp.time(item, "link_availability_time", what)
    for name, measure in (("rsrp", "rsrp_dbm"), ("rssi", "rssi_dbm"), ("sinr", "sinr_decibels")):
        value = tp.number(item, name, what)
        if value is not None:
            report.signal[measure] = value
    if report.signal:
        report.signal_time = tp.time(item, "signal_quality_time", what)
    for traffic in TRAFFIC_TYPES:
        for direction in ("transmit", "receive"):
            value = _finite(tp.amount(item, f"{traffic}_{direction}", what))
            if value is not None:
                report.traffic[(direction, traffic)] = value
    if report.traffic:
        report.traffic_time = tp.time(item, "traffic_time", what)
    return report


@dataclass(slots=True)
class ProductReport:
    product_id: str
    time: float | None
    throughput: dict[tuple[str, str], float]  # (downlink|uplink, expedited_forwarding) -> bytes/s


def parse_product_report(item: Any, shapes: dict[str, Shape]) -> ProductReport:
    pp = shapes["product_performance"]
    item = json_object(item, "product performance")
    pid = pp.text(item, "product", "product performance", required=True)
    what = f"performance of product {pid}"
    throughput = {}
    for short, cls in THROUGHPUT_CLASSES.items():
        for direction in ("downlink", "uplink"):
            value = _finite(pp.amount(item, f"{short}_{direction}", what))
            if value is not None:
                throughput[(direction, cls)] = value
    return ProductReport(pid, pp.time(item, "time", what), throughput)


# ---- usage consumption ----------------------------------------------------------------------------------


@dataclass(slots=True)
class UsageBucket:
    """One bucket of one product's usage report, in bytes and Unix seconds."""

    product_id: str
    usage_class: str
    time: float | None
    attrs: dict[str, str]
    used: float | None = None
    remaining: float | None = None
    entitlement: float | None = None
    balance: float | None = None
    overage_blocks: float | None = None
    cycle_start: float | None = None
    cycle_end: float | None = None


def parse_usage_report(item: Any, shapes: dict[str, Shape], note: Note = _ignore) -> list[UsageBucket]:
    """A TMF677-like report: buckets with balances and counters; one UsageBucket per product and bucket.

    A shared bucket (a sub-pool) may count several products: each gets its own used amount,
    and the bucket's remaining/entitlement/balance (the pool's) repeats on each of them.
    """
    rep, bk, bal, ctr = (shapes[k] for k in ("usage_report", "usage_bucket", "usage_balance", "usage_counter"))
    item = json_object(item, "usage report")
    rid = rep.text(item, "id", "usage report")
    what = f"usage report {rid}" if rid else "usage report"
    when = rep.time(item, "time", what)
    report_product = rep.text(item, "product", what)
    out: list[UsageBucket] = []
    for raw in rep.items(item, "buckets", what):
        bucket = json_object(raw, f"{what} bucket")
        bid = bk.text(bucket, "id", f"{what} bucket")
        bwhat = f"{what} bucket {bid or '?'}"
        name = bk.text(bucket, "name", bwhat)
        usage_type = bk.text(bucket, "usage_type", bwhat)
        usage_class = label_value(name) or label_value(usage_type) or "data"
        remaining = entitlement_text = None
        starts: list[float] = []
        ends: list[float] = []
        for raw_balance in bk.items(bucket, "balances", bwhat):
            balance = json_object(raw_balance, f"{bwhat} balance")
            value = _finite(bal.amount(balance, "remaining", bwhat))
            if value is not None:
                remaining = (remaining or 0.0) + value
            entitlement_text = entitlement_text or bal.text(balance, "name", bwhat)
            start, end = bal.time(balance, "valid_from", bwhat), bal.time(balance, "valid_until", bwhat)
            starts += [start] if start is not None else []
            ends += [end] if end is not None else []
        entitlement = _finite(bk.amount(bucket, "entitlement", bwhat))
        if entitlement is None and entitlement_text:
            try:  # "100 GB of data"
                entitlement = _finite(quantity(entitlement_text, "GB", bwhat))
            except BadResponse:  # a name that is not an amount is just a name
                entitlement = None
        renew = bk.time(bucket, "entitlement_renew", bwhat)
        bucket_product = bk.text(bucket, "product", bwhat) or report_product
        used: dict[str, float] = {}
        overage: dict[str, float] = {}
        for raw_counter in bk.items(bucket, "counters", bwhat):
            counter = json_object(raw_counter, f"{bwhat} counter")
            kind = ctr.text(counter, "type", bwhat).lower() or "usage"
            product = ctr.text(counter, "product", bwhat) or bucket_product
            if not product:
                raise BadResponse(f"{bwhat}: a counter names no product ('{ctr.paths['product']}')")
            if kind in USAGE_COUNTER_TYPES:
                value = _finite(ctr.amount(counter, "value", bwhat))
                if value is not None:
                    used[product] = used.get(product, 0.0) + value
            elif kind in OVERAGE_COUNTER_TYPES:
                value = _finite(quantity(ctr.raw(counter, "value"), "", f"{bwhat} overage counter"))
                if value is not None:
                    overage[product] = overage.get(product, 0.0) + value
            else:
                note("usage_counter_type", kind)
        products = list(dict.fromkeys([*used, *overage])) or ([bucket_product] if bucket_product else [])
        if not products:
            raise BadResponse(f"{bwhat}: names no product ('{bk.paths['product']}' or a counter's product)")
        shared = bk.flag(bucket, "shared", bwhat)
        attrs = {
            "bucket": bid,
            "bucket_name": name,
            "bucket_type": bk.text(bucket, "bucket_type", bwhat),
            "usage_type": usage_type,
            "sub_pool": bk.text(bucket, "sub_pool", bwhat),
            "shared": "" if shared is None else str(shared).lower(),
        }
        balance_value = _finite(bk.amount(bucket, "balance", bwhat))
        out.extend(
            UsageBucket(
                product_id=product,
                usage_class=usage_class,
                time=when,
                attrs=attrs,
                used=used.get(product),
                remaining=remaining,
                entitlement=entitlement,
                balance=balance_value,
                overage_blocks=overage.get(product),
                cycle_start=min(starts) if starts else None,
                cycle_end=max(ends) if ends else renew,
            )
            for product in products
        )
    return out


def timestamp(value: Any, what: str) -> float | None:
    """OneWeb dates: ISO 8601, or Unix seconds / milliseconds (the shapes are assumed)."""
    return _timestamp(value, what, numbers=True)
