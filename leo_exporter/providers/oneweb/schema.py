"""Every assumption about OneWeb's JSON, in one place.

OneWeb publishes no API specification (the portal is login-only). What is *confirmed* comes from
the one open-source client (MBashford/ZabbixOneWebHostCreator): the hosts, HTTP Basic
`client_id:client_secret`, the hello check, the user terminal list and its field names. The rest
is read from the DataMiner "OneWeb Enterprise" connector docs (column names in screenshots, an
ERD) and from the TM Forum Open APIs the vocabulary matches (TMF637 products, TMF632 parties,
TMF674 sites, TMF677 usage consumption). See `reference/oneweb-kognitive-dataminer.md` §1.

Status of each entry:

- `C` confirmed: a real client reads exactly this.
- `S` screenshot: DataMiner shows a column of this meaning; the JSON key is our guess.
- `E` ERD: DataMiner's entity diagram names the relation; the JSON key is our guess.
- `T` TM Forum: the field as the matching TMF Open API names it; OneWeb's use is not confirmed.
- `A` assumed: no source at all.

Correcting an assumption against the real API is a change here (or, without a release, a
`paths:` / `fields:` override in the account config). The parsers and the simulator both read
these tables, so the simulator follows a correction by itself.

Field paths are dotted keys with list selectors: `relatedParty[0].id` takes the first element,
`relatedParty[role=customer].id` the first element whose `role` is `customer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_API_URL = "https://api.oneweb.net"  # C (api.oneweb.training: the training environment, C)


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # relative to api_url
    status: str
    note: str


# Paths relative to `api_url`. Base paths are confirmed; the resource names below them mostly not.
ENDPOINTS: dict[str, Endpoint] = {
    "hello": Endpoint("hello/v1/oneweb/world", "C", "connectivity and credential check; 200 = ok"),
    "user_terminals": Endpoint("resourceInventory/v3/userTerminal", "C", "JSON array; `fields=` query"),
    "products": Endpoint(
        "api/webservices/productinventory/v2/product", "A", "base path C, resource `product` assumed (TMF637)"
    ),
    "organizations": Endpoint("partyManagement/v4/organization", "A", "no public path; TMF632 shape assumed"),
    "sites": Endpoint("geographicSiteManagement/v4/geographicSite", "A", "no public path; TMF674 shape assumed"),
    "terminal_performance": Endpoint(
        "performanceMonitoring/v2/userTerminalPerformance", "A", "base path C, report resource assumed"
    ),
    "product_performance": Endpoint(
        "performanceMonitoring/v2/productPerformance", "A", "base path C, report resource assumed"
    ),
    "usage_consumption": Endpoint(
        "usageManagement/v4/usageConsumptionReport", "A", "no public path; TMF677 shape assumed"
    ),
}

# The user terminal fields the confirmed client asks for with `fields=` (C), plus the three the
# DataMiner screens show and that we assume live on the same resource (A).
USER_TERMINAL_FIELDS: tuple[str, ...] = (
    "id",
    "imsi",
    "firstSeenDate",
    "lastSeenDate",
    "serialNumber",
    "name",
    "resourceState",
    "relatedParty",
    "imei",
    "place",
    "product",
    "location",
    "hardwareVersion",
    "manufacturer",
    "components",
)

# Where a list response is not a bare JSON array, the list is looked for under these keys (A).
LIST_KEYS: tuple[str, ...] = ("items", "data", "results", "content", "list")

ONLINE_STATES = frozenset({"online"})  # C: the confirmed client treats anything else as down
OFFLINE_STATES = frozenset({"offline", "ofline"})  # C ("online/ofline" in the client's comment)
ACTIVE_PRODUCT_STATES = frozenset({"active", "created", "inservice", "in service"})  # T (TMF637 status)
USAGE_COUNTER_TYPES = frozenset({"usage"})  # S: Counter Type "usage"
OVERAGE_COUNTER_TYPES = frozenset({"overage", "overageblocks", "overage_blocks"})  # A


@dataclass(frozen=True, slots=True)
class F:
    """One field of an assumed shape: where it is, how sure we are, and the unit of a bare number."""

    path: str
    status: str
    unit: str = ""
    note: str = ""


# kind -> logical field -> where it is. Sub-records (components, buckets, ...) are relative to
# the element of the list their parent field points at.
SHAPES: dict[str, dict[str, F]] = {
    "user_terminal": {
        "id": F("id", "C", note='"same as imei"'),
        "imei": F("imei", "C"),
        "imsi": F("imsi", "C"),
        "name": F("name", "C"),
        "serial": F("serialNumber", "C"),
        "state": F("resourceState", "C", note='"online" or "ofline"; anything but online is down'),
        "first_seen": F("firstSeenDate", "C", note="ISO 8601 assumed"),
        "last_seen": F("lastSeenDate", "C", note="ISO 8601 assumed"),
        "site": F("place.externalId", "C"),
        "party": F("relatedParty[0].id", "A", note="relatedParty is C ('will have hns details'), its shape A"),
        "party_name": F("relatedParty[0].name", "A"),
        "product": F("product[0].id", "A", note="product is C, its shape A; SC-... ids"),
        "coordinates": F(
            "location.features[0].geometry.coordinates",
            "C",
            note="GeoJSON; the confirmed client reads [0] as lat, GeoJSON says [lon, lat]: location_order",
        ),
        "hardware_version": F("hardwareVersion", "S"),
        "manufacturer": F("manufacturer", "S"),
        "components": F("components", "S", note="DataMiner 'User Terminal Components' table"),
    },
    "component": {
        "id": F("id", "S", note="<IMEI>/main/<TYPE>"),
        "type": F("type", "S", note="UT, SSM_BSP, SSM, MIM, MDM, ..."),
        "partition": F("partition", "S"),
        "version": F("version", "S"),
    },
    "product": {
        "id": F("id", "S", note="Instance, SC-..."),
        "name": F("name", "S"),
        "description": F("description", "S"),
        "is_bundle": F("isBundle", "S"),
        "status": F("status", "T", note="absent: a listed product counts as active"),
        "imei": F("imei", "E", note="the terminal using the product"),
        "customer": F("relatedParty[role=customer].id", "E", note="End Customer"),
        "distribution_partner": F("relatedParty[role=distributionPartner].id", "A"),
        "site": F("place.id", "E", note="Place ID"),
        "allowance": F("allowance", "S", "GB", note='GB or "Unlimited"'),
        "overage_increment": F("overageIncrement", "S", "GB"),
        "max_downlink": F("maxBandwidthDownlink", "S", "Mbps"),
        "max_uplink": F("maxBandwidthUplink", "S", "Mbps"),
        "service_grade": F("serviceGrade", "S", note="Gold, Silver, Platinum (column cut off)"),
        "ip_addressing_type": F("ipAddressingType", "S", note="Static or Dynamic"),
    },
    "organization": {
        "id": F("id", "E"),
        "name": F("tradingName", "E"),
        "parent": F("parentId", "E", note="empty for a distribution partner (the parent)"),
        "kind": F("organizationType", "A", note="absent: no parent = distribution_partner, else customer"),
    },
    "site": {
        "id": F("id", "E"),
        "name": F("name", "A"),
        "party": F("relatedParty[0].id", "E", note="Related Party ID"),
    },
    "terminal_performance": {
        "terminal": F("userTerminalId", "E", note="User Terminal ID (the IMEI)"),
        "link_availability": F("linkAvailability.value", "S", note="percent, see link_availability_scale"),
        "link_availability_time": F("linkAvailability.timestamp", "S"),
        "rsrp": F("signalQuality.rsrp", "S", note="dBm"),
        "rssi": F("signalQuality.rssi", "S", note="dBm"),
        "sinr": F("signalQuality.sinr", "S", note="dB"),
        "signal_quality_time": F("signalQuality.timestamp", "S"),
        "state": F("resourceState", "S"),
        "cnx_transmit": F("traffic.cnxTx", "S", "B"),
        "cnx_receive": F("traffic.cnxRx", "S", "B"),
        "mgmt_transmit": F("traffic.mgmtTx", "S", "B"),
        "mgmt_receive": F("traffic.mgmtRx", "S", "B"),
        "wan_transmit": F("traffic.wanTx", "S", "B"),
        "wan_receive": F("traffic.wanRx", "S", "B"),
        "traffic_time": F("traffic.timestamp", "S", note="volumes of the report period, see traffic_counters"),
    },
    "product_performance": {
        "product": F("productId", "E"),
        "time": F("timestamp", "S", note="Throughput Timestamp (quarter hours)"),
        "ef_uplink": F("throughput.expeditedForwarding.uplink", "S", "bps"),
        "ef_downlink": F("throughput.expeditedForwarding.downlink", "S", "bps"),
        "af_uplink": F("throughput.assuredForwarding.uplink", "S", "bps"),
        "af_downlink": F("throughput.assuredForwarding.downlink", "S", "bps"),
        "be_uplink": F("throughput.bestEffort.uplink", "S", "bps"),
        "be_downlink": F("throughput.bestEffort.downlink", "S", "bps"),
    },
    "usage_report": {
        "id": F("id", "T", note="Instance, e.g. 1409333333-191114444"),
        "time": F("effectiveDate", "T"),
        "buckets": F("bucket", "T"),
        "product": F("product.id", "A", note="fallback when neither bucket nor counter names the product"),
    },
    "usage_bucket": {
        "id": F("id", "T"),
        "name": F("name", "T", note="Bucket Name"),
        "bucket_type": F("bucketType", "S", note="cycle"),
        "usage_type": F("usageType", "T", note="data"),
        "shared": F("isShared", "T"),
        "sub_pool": F("subPool.id", "A", note="the shared allowance (sub-pool) the doc mentions"),
        "product": F("product.id", "T"),
        "entitlement": F("entitlement", "A", "GB", note="absent: read from remainingValueName"),
        "entitlement_renew": F("entitlementRenew", "S"),
        "balance": F("balance", "A", "GB", note="'current balance' of the doc"),
        "balances": F("bucketBalance", "T"),
        "counters": F("bucketCounter", "T"),
    },
    "usage_balance": {
        "name": F("remainingValueName", "T", note='e.g. "100 GB of data": the monthly entitlement'),
        "remaining": F("remainingValue", "T", "GB", note="{amount, units}"),
        "valid_from": F("validFor.startDateTime", "T", note="bill cycle reference date"),
        "valid_until": F("validFor.endDateTime", "T"),
    },
    "usage_counter": {
        "type": F("counterType", "T", note='"usage"; "overage" for consumed overage blocks (A)'),
        "level": F("level", "T"),
        "value": F("value", "T", "GB", note="{amount, units}"),
        "product": F("product.id", "T"),
        "user": F("user.id", "T", note="SITE-..."),
    },
}


# ---- paths ----------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"^([^\[\]=]*)((?:\[[^\[\]]+\])*)$")
_SELECTOR = re.compile(r"\[([^\[\]]+)\]")


@dataclass(frozen=True, slots=True)
class Step:
    key: str | None  # a dict key, or None for a pure selector step
    index: int | None = None  # [N]
    match: tuple[str, str] | None = None  # [key=value]


def compile_path(path: str) -> tuple[Step, ...]:
    """`a.b[0].c[role=x]` -> steps; raises ValueError with a reason on bad syntax."""
    if not path or path.strip() != path:
        raise ValueError("a field path must be a non-empty string without surrounding spaces")
    steps: list[Step] = []
    for part in path.split("."):
        found = _SEGMENT.match(part)
        if not found or (not found.group(1) and not found.group(2)):
            raise ValueError(f"bad path segment {part!r} in {path!r}")
        if found.group(1):
            steps.append(Step(found.group(1)))
        for selector in _SELECTOR.findall(found.group(2)):
            if selector.isdigit():
                steps.append(Step(None, index=int(selector)))
            elif "=" in selector:
                name, _, value = selector.partition("=")
                if not name:
                    raise ValueError(f"bad selector [{selector}] in {path!r}")
                steps.append(Step(None, match=(name, value)))
            else:
                raise ValueError(f"bad selector [{selector}] in {path!r}: use [N] or [key=value]")
    return tuple(steps)


def get_path(obj: Any, steps: tuple[Step, ...]) -> Any:
    """The value at `steps`, or None wherever the path does not lead."""
    for step in steps:
        if step.key is not None:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(step.key)
        elif step.index is not None:
            if not isinstance(obj, list) or step.index >= len(obj):
                return None
            obj = obj[step.index]
        else:
            assert step.match is not None
            if not isinstance(obj, list):
                return None
            name, value = step.match
            obj = next((e for e in obj if isinstance(e, dict) and str(e.get(name)) == value), None)
        if obj is None:
            return None
    return obj


def set_path(obj: dict[str, Any], steps: tuple[Step, ...], value: Any) -> None:
    """Put `value` at `steps`, creating what is missing (the simulator writes the assumed shapes so)."""
    container: Any = obj
    for pos, step in enumerate(steps):
        last = pos == len(steps) - 1
        following = None if last else steps[pos + 1]
        fresh: Any = [] if following is not None and following.key is None else {}
        if step.key is not None:
            if last:
                container[step.key] = value
                return
            container = container.setdefault(step.key, fresh)
        elif step.index is not None:
            while len(container) <= step.index:
                container.append([] if isinstance(fresh, list) else {})
            if last:
                container[step.index] = value
                return
            container = container[step.index]
        else:
            assert step.match is not None
            name, wanted = step.match
            element = next((e for e in container if isinstance(e, dict) and str(e.get(name)) == wanted), None)
            if element is None:
                element = {name: wanted}
                container.append(element)
            if last:
                element.clear()
                element.update(value if isinstance(value, dict) else {"value": value})
                element[name] = wanted
                return
            container = element
