"""Decoder of the Starlink V2 telemetry stream (`POST /telemetry/stream`).

Column order is not stable and columns get added, so every response is read through its own
`columnNamesByDeviceType`: the index of each wanted column is looked up once per response and
rows are read by index, never turned into dicts. Only the newest row per device (by
`UtcTimestampNs`, not list position) is kept. Alert codes are resolved only through the same
response's `metadata.enums`, because Starlink re-points codes.

A malformed value costs that value and a malformed row that row, never the batch; a row stamped
more than FUTURE_TOLERANCE ahead of our clock is rejected (kept, it would hide every later row of
its device until a restart); alert names beyond MAX_ALERT_NAMES per account are folded into
`alert="other"` (`names.py`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import h3

from leo_exporter import catalog
from leo_exporter.catalog import MetricSpec, NoLabels
from leo_exporter.labeltext import intern
from leo_exporter.providers.common import FUTURE_TOLERANCE
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.names import LabelBound
from leo_exporter.providers.starlink import families
from leo_exporter.providers.starlink.alerts import KNOWN_ROUTER_ALERTS, KNOWN_TERMINAL_ALERTS, read_alert_enums
from leo_exporter.records import TelemetryColumns

MBPS = 125_000.0  # 1 Mbit/s in bytes per second
MAX_TIMESTAMP_NS = 2**63  # a signed 64-bit nanosecond clock; anything beyond is not a time
NUMBER = (int, float)
Note = Callable[[str, str, str], Any]
Problems = Counter[tuple[str, str]]  # (field, what is wrong) -> values that could not be read
NOT_A_NUMBER = "not a number"
MAX_ALERT_NAMES = 200  # alert names per account beyond the known ones; later new ones are `other`
# one set for every account's decoder (a union made per account cost 0.5 KiB each: 1.4 MiB at 3,000)
ALERTS_OF_EVERY_DEVICE = KNOWN_TERMINAL_ALERTS | KNOWN_ROUTER_ALERTS

Terminal = MetricSpec[Literal["terminal"], NoLabels]
Router = MetricSpec[Literal["router"], NoLabels]
RouterLabelled = MetricSpec[Literal["router"], Any]

# column -> (family, scale); scale None marks a boolean column
TERMINAL_MEASURES: dict[str, tuple[Terminal, float | None]] = {
    "DownlinkThroughput": (catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND, MBPS),
    "UplinkThroughput": (catalog.TERMINAL_UPLINK_THROUGHPUT_BYTES_PER_SECOND, MBPS),
    "PingDropRateAvg": (catalog.TERMINAL_POP_PING_DROP_RATIO, 1.0),
    "PingLatencyMsAvg": (catalog.TERMINAL_POP_PING_LATENCY_SECONDS, 0.001),
    "ObstructionPercentTime": (catalog.TERMINAL_OBSTRUCTION_RATIO, 0.01),
    "Uptime": (catalog.TERMINAL_UPTIME_SECONDS, 1.0),
    "SignalQuality": (catalog.TERMINAL_SIGNAL_QUALITY_RATIO, 1.0),
    "SecondsUntilSwupdateRebootPossible": (catalog.TERMINAL_SOFTWARE_UPDATE_REBOOT_DELAY_SECONDS, 1.0),
    "InTerritorialWaters": (catalog.TERMINAL_IN_TERRITORIAL_WATERS, None),
}
TERMINAL_ATTRIBUTES = {"RunningSoftwareVersion": "software_version", "CountryCode": "country_code"}

# columns whose negative value is a sentinel ("deferral off"), not a figure: no series then
SENTINEL_NEGATIVE = frozenset({"SecondsUntilSwupdateRebootPossible"})

ROUTER_MEASURES: dict[str, tuple[Router, float | None]] = {
    "WifiUptimeS": (catalog.ROUTER_UPTIME_SECONDS, 1.0),
    "WifiHopsFromController": (catalog.ROUTER_MESH_HOPS, 1.0),
    "WanRxBytes": (families.ROUTER_WAN_RECEIVE_BYTES_TOTAL, 1.0),
    "WanTxBytes": (families.ROUTER_WAN_TRANSMIT_BYTES_TOTAL, 1.0),
    "WifiIsRepeater": (catalog.ROUTER_WIFI_REPEATER, None),
    "WifiIsBypassed": (catalog.ROUTER_WIFI_BYPASSED, None),
}
# column -> (family, its extra label values, scale)
ROUTER_LABELLED: dict[str, tuple[RouterLabelled, tuple[str, ...], float]] = {
    "Clients": (catalog.ROUTER_CLIENTS, ("all",), 1.0),
    "Clients2Ghz": (catalog.ROUTER_CLIENTS, ("2ghz",), 1.0),
    "Clients5Ghz": (catalog.ROUTER_CLIENTS, ("5ghz",), 1.0),
    "ClientsEth": (catalog.ROUTER_CLIENTS, ("ethernet",), 1.0),
    "InternetPingDropRate": (families.ROUTER_PING_DROP_RATIO, ("internet",), 1.0),
    "WifiPopPingDropRate": (families.ROUTER_PING_DROP_RATIO, ("pop",), 1.0),
    "DishPingDropRate": (families.ROUTER_PING_DROP_RATIO, ("dish",), 1.0),
    "InternetPingLatencyMs": (families.ROUTER_PING_LATENCY_SECONDS, ("internet",), 0.001),
    "WifiPopPingLatencyMs": (families.ROUTER_PING_LATENCY_SECONDS, ("pop",), 0.001),
    "DishPingLatencyMs": (families.ROUTER_PING_LATENCY_SECONDS, ("dish",), 0.001),
}
# Per-band Wi-Fi client figures: Clients{2Ghz,5Ghz}{RxRateMbps,TxRateMbps,SignalStrength}{Min,Max,Avg}
_WIFI_FIGURES: dict[str, tuple[RouterLabelled, float]] = {
    "RxRateMbps": (families.ROUTER_WIFI_CLIENT_RECEIVE_RATE_BYTES_PER_SECOND, MBPS),
    "TxRateMbps": (families.ROUTER_WIFI_CLIENT_TRANSMIT_RATE_BYTES_PER_SECOND, MBPS),
    "SignalStrength": (families.ROUTER_WIFI_CLIENT_SIGNAL_STRENGTH_DBM, 1.0),
}
for _band in ("2Ghz", "5Ghz"):
    for _figure, (_family, _scale) in _WIFI_FIGURES.items():
        for _stat in ("Min", "Max", "Avg"):
            ROUTER_LABELLED[f"Clients{_band}{_figure}{_stat}"] = (_family, (_band.lower(), _stat.lower()), _scale)
ROUTER_ATTRIBUTES = {"WifiSoftwareVersion": "software_version", "WifiHardwareVersion": "hardware_version"}
ALERT_COLUMNS = ("ActiveAlerts", "ActiveAlert")
IP_COLUMNS = {"Ipv4": "ipv4", "Ipv6Ue": "ipv6_ue", "Ipv6Cpe": "ipv6_cpe"}

BASE_COLUMNS = {"DeviceType", "UtcTimestampNs", "DeviceId"}
# Columns read but deliberately not exported, with the reason. Everything else in KNOWN_COLUMNS
# is exported; a column in neither is logged once and counted as unknown.
IGNORED_COLUMNS: dict[str, dict[str, str]] = {
    "u": {},
    "r": {},
    "i": {"AccountNumber": "the account is already the `account` label and on leo_account_info"},
}
KNOWN_COLUMNS: dict[str, set[str]] = {
    "u": BASE_COLUMNS | set(TERMINAL_MEASURES) | set(TERMINAL_ATTRIBUTES) | {"H3CellId", *ALERT_COLUMNS},
    "r": BASE_COLUMNS
    | set(ROUTER_MEASURES)
    | set(ROUTER_LABELLED)
    | set(ROUTER_ATTRIBUTES)
    | {"DishId", *ALERT_COLUMNS},  # DishId: the router's terminal_id on leo_router_info
    "i": BASE_COLUMNS | set(IP_COLUMNS),
}
for _dt, _ignored in IGNORED_COLUMNS.items():
    KNOWN_COLUMNS[_dt] |= set(_ignored)
KNOWN_ALERTS = {"u": KNOWN_TERMINAL_ALERTS, "r": KNOWN_ROUTER_ALERTS}


@dataclass(slots=True)
class TelemetryBatch:
    terminals: TelemetryColumns
    routers: TelemetryColumns
    ips: dict[str, tuple[float, dict[tuple[str, str], float]]]  # terminal id -> (timestamp, {(kind, address): 1})
    rows: Counter[str] = field(default_factory=Counter)
    invalid_rows: int = 0
    invalid_values: Problems = field(default_factory=Counter)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values()) + self.invalid_rows


def strip_prefix(device_id: str, prefix: str) -> str:
    """The id without its prefix, interned: every batch names its devices again, and the state keys
    its stamps and alerts by these strings (two copies of each id at 10,000 terminals otherwise)."""
    return intern(device_id[len(prefix) :] if device_id.startswith(prefix) else device_id)


class _H3Cache:
    """H3 cell -> centre (lat, lon). Terminals sit in few cells, so this saves most h3 calls."""

    def __init__(self, limit: int = 200_000):
        self.limit = limit
        self.cells: dict[Any, tuple[float, float] | None] = {}

    def centre(self, cell: Any) -> tuple[float, float] | None:
        if not isinstance(cell, int | str) or isinstance(cell, bool):
            return None  # a list, an object, a number with a fraction: no cell (and not hashable)
        try:
            return self.cells[cell]
        except KeyError:
            pass
        result = None
        try:
            text = format(cell, "x") if isinstance(cell, int) and not isinstance(cell, bool) else cell
            if isinstance(text, str) and h3.is_valid_cell(text):
                result = h3.cell_to_latlng(text)
        except (ValueError, TypeError, OverflowError):  # h3's errors subclass ValueError; huge ints overflow
            result = None
        if len(self.cells) >= self.limit:
            self.cells.clear()
        self.cells[cell] = result
        return result


H3_CACHE = _H3Cache()


def _numbers(rows: list[list[Any]], index: int, scale: float, problems: Problems, name: str) -> list[float | None]:
    """The column as floats; null is "not reported", anything else that is no number is counted."""
    values: list[float | None] = []
    append = values.append
    bad = 0
    for row in rows:
        v = row[index]
        if type(v) is float:
            append(v * scale)
        elif type(v) is int:
            try:
                append(float(v) * scale)
            except OverflowError:  # an integer beyond any float: not a reading
                append(None)
                bad += 1
        else:
            append(None)
            if v is not None:
                bad += 1
    if bad:
        problems[(name, NOT_A_NUMBER)] += bad
    return values


def _booleans(rows: list[list[Any]], index: int, problems: Problems, name: str) -> list[float | None]:
    values = [1.0 if row[index] is True else 0.0 if row[index] is False else None for row in rows]
    bad = sum(1 for row, v in zip(rows, values, strict=True) if v is None and row[index] is not None)
    if bad:
        problems[(name, "not a boolean")] += bad
    return values


def _strings(rows: list[list[Any]], index: int, problems: Problems, name: str) -> list[str | None]:
    values = [row[index] if type(row[index]) is str else None for row in rows]
    bad = sum(1 for row, v in zip(rows, values, strict=True) if v is None and row[index] is not None)
    if bad:
        problems[(name, "not a string")] += bad
    return values


class StreamDecoder:
    """Decodes stream responses of one account; remembers which unknown names it has reported."""

    def __init__(self, note_unknown: Note, obstruction_scale: str = "percent", clock: Callable[[], float] = time.time):
        self.note_unknown = note_unknown
        self.obstruction_factor = 0.01 if obstruction_scale == "percent" else 1.0
        self.clock = clock
        self.alert_names = LabelBound(MAX_ALERT_NAMES, ALERTS_OF_EVERY_DEVICE)

    def decode(self, body: Any) -> TelemetryBatch:
        data, columns, enum_block = self._envelope(body)
        index = {dt: {name: i for i, name in enumerate(names)} for dt, names in columns.items()}
        for dt, names in columns.items():
            known = KNOWN_COLUMNS.get(dt)
            if known is not None:
                for name in names:
                    if name not in known:
                        self.note_unknown("column", name, f"device type {dt!r}")

        problems: Problems = Counter()
        enums = self._alert_enums(enum_block, problems)
        newest, rows_seen, invalid = self._newest_rows(data["values"], index, columns, problems)
        batch = TelemetryBatch(
            terminals=self._terminals(newest.get("u", {}), index.get("u", {}), enums.get("u", {}), problems),
            routers=self._routers(newest.get("r", {}), index.get("r", {}), enums.get("r", {}), problems),
            ips=self._ips(newest.get("i", {}), index.get("i", {}), problems),
            rows=rows_seen,
            invalid_rows=invalid,
            invalid_values=problems,
        )
        return batch

    def _alert_enums(self, enum_block: dict[str, Any], problems: Problems) -> dict[str, dict[str, str]]:
        enums, found = read_alert_enums(enum_block, self.note_unknown)
        for problem in found:
            problems[problem] += 1
        return enums

    def _envelope(self, body: Any) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, Any]]:
        what = "telemetry stream"
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise BadResponse(f"{what}: expected an object with a 'data' object")
        data = body["data"]
        if not isinstance(data.get("values"), list):
            raise BadResponse(f"{what}: 'data.values' is missing or not a list")
        columns = data.get("columnNamesByDeviceType")
        if not isinstance(columns, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names) for names in columns.values()
        ):
            raise BadResponse(f"{what}: 'data.columnNamesByDeviceType' must map device types to column name lists")
        for dt, names in columns.items():
            for needed in ("UtcTimestampNs", "DeviceId"):
                if dt in KNOWN_COLUMNS and needed not in names:
                    raise BadResponse(f"{what}: device type {dt!r} has no {needed} column")
        metadata = body.get("metadata")
        enums = metadata.get("enums") if isinstance(metadata, dict) else None
        enum_block: dict[str, Any] = enums if isinstance(enums, dict) else {}
        return data, columns, enum_block

    def _newest_rows(
        self, values: list[Any], index: dict[str, dict[str, int]], columns: dict[str, list[str]], problems: Problems
    ) -> tuple[dict[str, dict[str, list[Any]]], Counter[str], int]:
        newest: dict[str, dict[str, list[Any]]] = {}
        positions = {
            dt: (cols["UtcTimestampNs"], cols["DeviceId"], len(columns[dt]))
            for dt, cols in index.items()
            if dt in KNOWN_COLUMNS
        }
        rows_seen: Counter[str] = Counter()
        invalid = 0
        latest_ns = (self.clock() + FUTURE_TOLERANCE) * 1e9
        for row in values:
            if type(row) is not list or not row:
                invalid += 1
                continue
            dt = row[0]
            pos = positions.get(dt) if type(dt) is str else None  # a list there is no key (unhashable)
            if pos is None:
                if isinstance(dt, str):
                    self.note_unknown("device_type", dt, "rows skipped")
                invalid += 1
                continue
            ts_i, id_i, width = pos
            if len(row) != width:
                invalid += 1
                continue
            device, ts = row[id_i], row[ts_i]
            if type(device) is not str:
                problems[("DeviceId", "not a device id")] += 1
                invalid += 1
                continue
            if type(ts) not in NUMBER or not 0 <= ts < MAX_TIMESTAMP_NS:
                problems[("UtcTimestampNs", "not a timestamp")] += 1
                invalid += 1
                continue
            if ts > latest_ns:
                problems[("UtcTimestampNs", f"more than {FUTURE_TOLERANCE:g}s in the future")] += 1
                invalid += 1
                continue
            rows_seen[dt] += 1
            per_type = newest.get(dt)
            if per_type is None:
                per_type = newest[dt] = {}
            current = per_type.get(device)
            if current is None or ts > current[ts_i]:
                per_type[device] = row
        return newest, rows_seen, invalid

    def _alerts(
        self, rows: list[list[Any]], cols: dict[str, int], enum: dict[str, str], dt: str, problems: Problems
    ) -> list[tuple[str, ...] | None] | None:
        column = next((c for c in ALERT_COLUMNS if c in cols), None)
        if column is None:
            return None
        idx = cols[column]
        known = KNOWN_ALERTS[dt]
        cache: dict[tuple[Any, ...], tuple[str, ...]] = {}
        out: list[tuple[str, ...] | None] = []
        for row in rows:
            codes = row[idx]
            if codes is None:
                out.append(())
                continue
            if type(codes) is not list or not all(type(c) is int or type(c) is str for c in codes):
                problems[(column, "not a list of alert codes")] += 1  # this row's alerts only
                out.append(None)
                continue
            key = tuple(codes)
            names = cache.get(key)
            if names is None:
                resolved = []
                for code in codes:
                    name = enum.get(str(code))
                    if name is None:
                        self.note_unknown("alert_code", f"{dt}:{code}", "no name in this response's metadata.enums")
                        name = f"unknown_{code}"
                    elif name not in known:
                        self.note_unknown("alert", name, f"device type {dt!r}")
                    resolved.append(self.alert_names(name))
                names = cache[key] = tuple(sorted(set(resolved)))
            out.append(names)
        return out

    def _terminals(
        self, newest: dict[str, list[Any]], cols: dict[str, int], enum: dict[str, str], problems: Problems
    ) -> TelemetryColumns:
        rows = list(newest.values())
        ts_i = cols.get("UtcTimestampNs", 0)
        result = TelemetryColumns(
            ids=[strip_prefix(d, "ut") for d in newest],
            timestamps=[row[ts_i] / 1e9 for row in rows],
        )
        for column, (family, scale) in TERMINAL_MEASURES.items():
            if column in cols:
                if scale is None:
                    result.measures[family] = _booleans(rows, cols[column], problems, column)
                else:
                    if column == "ObstructionPercentTime":
                        scale = self.obstruction_factor
                    values = _numbers(rows, cols[column], scale, problems, column)
                    if column in SENTINEL_NEGATIVE:
                        values = [None if v is not None and v < 0 else v for v in values]
                    result.measures[family] = values
        for column, attr in TERMINAL_ATTRIBUTES.items():
            if column in cols:
                result.attributes[attr] = _strings(rows, cols[column], problems, column)
        if "H3CellId" in cols:
            idx = cols["H3CellId"]
            centres = [H3_CACHE.centre(row[idx]) if row[idx] is not None else None for row in rows]
            bad = sum(1 for row, c in zip(rows, centres, strict=True) if c is None and row[idx] is not None)
            if bad:
                problems[("H3CellId", "not an H3 cell")] += bad
            result.measures[catalog.TERMINAL_LATITUDE_DEGREES] = [c[0] if c else None for c in centres]
            result.measures[catalog.TERMINAL_LONGITUDE_DEGREES] = [c[1] if c else None for c in centres]
        result.alerts = self._alerts(rows, cols, enum, "u", problems)
        return result

    def _routers(
        self, newest: dict[str, list[Any]], cols: dict[str, int], enum: dict[str, str], problems: Problems
    ) -> TelemetryColumns:
        rows = list(newest.values())
        ts_i = cols.get("UtcTimestampNs", 0)
        result = TelemetryColumns(ids=list(newest), timestamps=[row[ts_i] / 1e9 for row in rows])
        for column, (family, scale) in ROUTER_MEASURES.items():
            if column in cols:
                if scale is None:
                    result.measures[family] = _booleans(rows, cols[column], problems, column)
                else:
                    result.measures[family] = _numbers(rows, cols[column], scale, problems, column)
        for column, (family, labels, scale) in ROUTER_LABELLED.items():
            if column in cols:
                values = _numbers(rows, cols[column], scale, problems, column)
                result.labelled.setdefault(family, {})[labels] = values
        for column, attr in ROUTER_ATTRIBUTES.items():
            if column in cols:
                result.attributes[attr] = _strings(rows, cols[column], problems, column)
        if "DishId" in cols:
            dishes = _strings(rows, cols["DishId"], problems, "DishId")
            result.parents = [strip_prefix(p, "ut") if p else None for p in dishes]
        result.alerts = self._alerts(rows, cols, enum, "r", problems)
        return result

    def _ips(
        self, newest: dict[str, list[Any]], cols: dict[str, int], problems: Problems
    ) -> dict[str, tuple[float, dict[tuple[str, str], float]]]:
        ts_i = cols.get("UtcTimestampNs", 0)
        out: dict[str, tuple[float, dict[tuple[str, str], float]]] = {}
        for device, row in newest.items():
            allocations: dict[tuple[str, str], float] = {}
            for column, kind in IP_COLUMNS.items():
                addresses = row[cols[column]] if column in cols else None
                if type(addresses) is list:
                    for address in addresses:
                        if type(address) is str:
                            allocations[(kind, address)] = 1.0
                        else:
                            problems[(column, "not an address")] += 1
                elif addresses is not None:
                    problems[(column, "not a list of addresses")] += 1
            out[strip_prefix(strip_prefix(device, "ip-"), "ut")] = (row[ts_i] / 1e9, allocations)
        return out
