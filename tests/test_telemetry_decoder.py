"""The Starlink stream decoder, on payloads shaped like the captured real responses."""

from __future__ import annotations

import h3
import pytest

from leo_exporter import catalog
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.starlink import families
from leo_exporter.providers.starlink.telemetry import StreamDecoder

U_COLUMNS = [
    "DeviceType",
    "UtcTimestampNs",
    "DeviceId",
    "DownlinkThroughput",
    "UplinkThroughput",
    "PingDropRateAvg",
    "PingLatencyMsAvg",
    "ObstructionPercentTime",
    "Uptime",
    "SignalQuality",
    "H3CellId",
    "SecondsUntilSwupdateRebootPossible",
    "RunningSoftwareVersion",
    "ActiveAlerts",
]
R_COLUMNS = [
    "DeviceType",
    "UtcTimestampNs",
    "DeviceId",
    "WifiUptimeS",
    "WifiSoftwareVersion",
    "InternetPingDropRate",
    "InternetPingLatencyMs",
    "Clients",
    "Clients2Ghz",
    "WanRxBytes",
    "WanTxBytes",
    "DishId",
    "ActiveAlerts",
]
I_COLUMNS = ["DeviceType", "UtcTimestampNs", "DeviceId", "Ipv4", "Ipv6Ue", "Ipv6Cpe"]
ENUMS = {
    "DeviceType": {"u": "UserTerminal", "r": "Router", "i": "IpAllocs"},
    "AlertsByDeviceType": {
        "u": {"50": "ethernet_slow_10mbps", "53": "actuator_motor_stuck", "82": "software_update_reboot_pending"},
        "r": {"52": "sandbox_disabled"},
    },
}
CELL = int(h3.latlng_to_cell(59.91, 10.75, 5), 16)
T0 = 1_756_537_212_000_000_000


def u_row(device: str = "ut01000000-00000000-008b93f2", ts: int = T0, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "DeviceType": "u",
        "UtcTimestampNs": ts,
        "DeviceId": device,
        "DownlinkThroughput": 8.0,
        "UplinkThroughput": 0.5,
        "PingDropRateAvg": 0.01,
        "PingLatencyMsAvg": 31,
        "ObstructionPercentTime": 2.5,
        "Uptime": 676628,
        "SignalQuality": 0.9,
        "H3CellId": CELL,
        "SecondsUntilSwupdateRebootPossible": -1,
        "RunningSoftwareVersion": "2025.08.11.mr61518",
        "ActiveAlerts": [82],
    }
    values.update(overrides)
    return values


def payload(rows: list[dict[str, object]], columns: dict[str, list[str]] | None = None) -> dict[str, object]:
    """A stream response whose rows follow the given column order per device type."""
    columns = columns or {"u": U_COLUMNS, "r": R_COLUMNS, "i": I_COLUMNS}
    values = [[row.get(name) for name in columns[str(row["DeviceType"])]] for row in rows]
    return {"data": {"values": values, "columnNamesByDeviceType": columns}, "metadata": {"enums": ENUMS}}


class Unknown:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, kind: str, name: str, where: str = "") -> None:
        self.seen.append((kind, name))


@pytest.fixture
def unknown() -> Unknown:
    return Unknown()


@pytest.fixture
def decoder(unknown: Unknown) -> StreamDecoder:
    return StreamDecoder(unknown)


def test_values_are_converted_to_base_units_and_ids_lose_their_prefix(decoder: StreamDecoder) -> None:
    batch = decoder.decode(payload([u_row()]))
    cols = batch.terminals
    assert cols.ids == ["01000000-00000000-008b93f2"]
    assert cols.timestamps == [T0 / 1e9]
    assert cols.measures[catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND] == [1_000_000.0]
    assert cols.measures[catalog.TERMINAL_UPLINK_THROUGHPUT_BYTES_PER_SECOND] == [62_500.0]
    assert cols.measures[catalog.TERMINAL_POP_PING_LATENCY_SECONDS] == [pytest.approx(0.031)]
    assert cols.measures[catalog.TERMINAL_OBSTRUCTION_RATIO] == [pytest.approx(0.025)]
    assert cols.measures[catalog.TERMINAL_UPTIME_SECONDS] == [676628]
    lat, lon = h3.cell_to_latlng(format(CELL, "x"))
    assert cols.measures[catalog.TERMINAL_LATITUDE_DEGREES] == [pytest.approx(lat)]
    assert cols.measures[catalog.TERMINAL_LONGITUDE_DEGREES] == [pytest.approx(lon)]
    assert abs(lat - 59.91) < 0.5 and abs(lon - 10.75) < 0.5
    assert cols.attributes["software_version"] == ["2025.08.11.mr61518"]
    assert cols.alerts == [("software_update_reboot_pending",)]
    # -1 means "deferral off": a sentinel, not a delay, so there is no figure (and no series)
    assert cols.measures[catalog.TERMINAL_SOFTWARE_UPDATE_REBOOT_DELAY_SECONDS] == [None]


def test_a_reboot_delay_is_exported_in_seconds(decoder: StreamDecoder) -> None:
    batch = decoder.decode(payload([u_row(SecondsUntilSwupdateRebootPossible=259200)]))
    assert batch.terminals.measures[catalog.TERMINAL_SOFTWARE_UPDATE_REBOOT_DELAY_SECONDS] == [259200.0]


def test_obstruction_scale_ratio_is_taken_as_is(unknown: Unknown) -> None:
    batch = StreamDecoder(unknown, "ratio").decode(payload([u_row(ObstructionPercentTime=0.25)]))
    assert batch.terminals.measures[catalog.TERMINAL_OBSTRUCTION_RATIO] == [0.25]


def test_columns_are_read_by_name_whatever_their_order(decoder: StreamDecoder) -> None:
    shuffled = [U_COLUMNS[0], *reversed(U_COLUMNS[1:])]
    normal = decoder.decode(payload([u_row()]))
    reordered = decoder.decode(payload([u_row()], {"u": shuffled, "r": R_COLUMNS, "i": I_COLUMNS}))
    assert reordered.terminals.measures == normal.terminals.measures
    assert reordered.terminals.ids == normal.terminals.ids
    assert reordered.terminals.alerts == normal.terminals.alerts


def test_newest_row_per_device_wins_not_the_last_in_the_list(decoder: StreamDecoder) -> None:
    rows = [
        u_row(ts=T0 + 30_000_000_000, DownlinkThroughput=30.0),
        u_row(ts=T0, DownlinkThroughput=1.0),
        u_row(ts=T0 + 15_000_000_000, DownlinkThroughput=15.0),
    ]
    batch = decoder.decode(payload(rows))
    assert batch.terminals.measures[catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND] == [30.0 * 125_000]
    assert batch.rows["u"] == 3


def test_nulls_and_wrong_types_become_missing_values(decoder: StreamDecoder) -> None:
    batch = decoder.decode(payload([u_row(DownlinkThroughput=None, Uptime="12", SignalQuality=True, H3CellId=None)]))
    m = batch.terminals.measures
    assert m[catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND] == [None]
    assert m[catalog.TERMINAL_UPTIME_SECONDS] == [None]
    assert m[catalog.TERMINAL_SIGNAL_QUALITY_RATIO] == [None]
    assert m[catalog.TERMINAL_LATITUDE_DEGREES] == [None]


def test_both_alert_column_names_and_alerts_from_this_responses_enums(decoder: StreamDecoder) -> None:
    columns = [c if c != "ActiveAlerts" else "ActiveAlert" for c in U_COLUMNS]
    row = u_row(ActiveAlerts=None, ActiveAlert=[53, 50])
    batch = decoder.decode(payload([row], {"u": columns, "r": R_COLUMNS, "i": I_COLUMNS}))
    assert batch.terminals.alerts == [("actuator_motor_stuck", "ethernet_slow_10mbps")]


def test_alert_codes_follow_the_enum_of_the_response_not_a_fixed_table(decoder: StreamDecoder) -> None:
    body = payload([u_row(ActiveAlerts=[82])])
    body["metadata"]["enums"]["AlertsByDeviceType"]["u"] = {"82": "thermal_shutdown"}  # type: ignore[index]
    assert decoder.decode(body).terminals.alerts == [("thermal_shutdown",)]


def test_unknown_columns_alerts_and_device_types_are_reported(decoder: StreamDecoder, unknown: Unknown) -> None:
    columns = {"u": [*U_COLUMNS, "BrandNewColumn"], "r": R_COLUMNS, "i": I_COLUMNS}
    body = payload([u_row(BrandNewColumn=1, ActiveAlerts=[99])], columns)
    body["metadata"]["enums"]["AlertsByDeviceType"]["u"]["99"] = "new_fancy_alert"  # type: ignore[index]
    body["data"]["values"].append(["d", T0, "ut1", 5])  # type: ignore[index]
    batch = decoder.decode(body)
    assert ("column", "BrandNewColumn") in unknown.seen
    assert ("alert", "new_fancy_alert") in unknown.seen
    assert ("device_type", "d") in unknown.seen
    assert batch.terminals.alerts == [("new_fancy_alert",)]  # still exported, under its own name
    assert batch.invalid_rows == 1


def test_alert_code_missing_from_enums_is_exported_as_unknown_code(decoder: StreamDecoder, unknown: Unknown) -> None:
    batch = decoder.decode(payload([u_row(ActiveAlerts=[77])]))
    assert batch.terminals.alerts == [("unknown_77",)]
    assert ("alert_code", "u:77") in unknown.seen


def test_malformed_rows_are_skipped_and_counted(decoder: StreamDecoder) -> None:
    body = payload([u_row()])
    body["data"]["values"] += [[], "x", ["u", T0], ["u", "not-a-time", *[None] * 12]]  # type: ignore[index]
    batch = decoder.decode(body)
    assert batch.invalid_rows == 4
    assert batch.terminals.ids == ["01000000-00000000-008b93f2"]


def test_routers_link_to_their_dish_and_keep_band_and_target_labels(decoder: StreamDecoder) -> None:
    router = {
        "DeviceType": "r",
        "UtcTimestampNs": T0,
        "DeviceId": "Router-01000000000000000004CEB4",
        "WifiUptimeS": 245824,
        "WifiSoftwareVersion": "2025.08.19.mr58905",
        "InternetPingDropRate": 0.0,
        "InternetPingLatencyMs": 32.153,
        "Clients": 3,
        "Clients2Ghz": None,
        "WanRxBytes": 63131298780,
        "WanTxBytes": 21745032278,
        "DishId": "ut01000000-00000000-0009a6b5",
        "ActiveAlerts": [52],
    }
    batch = decoder.decode(payload([router]))
    cols = batch.routers
    assert cols.ids == ["Router-01000000000000000004CEB4"]
    assert cols.parents == ["01000000-00000000-0009a6b5"]
    assert cols.labelled[catalog.ROUTER_CLIENTS] == {("all",): [3], ("2ghz",): [None]}
    assert cols.labelled[families.ROUTER_PING_LATENCY_SECONDS][("internet",)] == [pytest.approx(0.032153)]
    assert cols.measures[families.ROUTER_WAN_RECEIVE_BYTES_TOTAL] == [63131298780]
    assert cols.alerts == [("sandbox_disabled",)]


def test_ip_rows_and_their_tombstone(decoder: StreamDecoder) -> None:
    rows = [
        {"DeviceType": "i", "UtcTimestampNs": T0, "DeviceId": "ip-ut01000000-00000000-00c4dfdb",
         "Ipv4": ["129.222.97.246"], "Ipv6Ue": ["2605:59c0:5600:6dc8::/64"], "Ipv6Cpe": []},
        {"DeviceType": "i", "UtcTimestampNs": T0, "DeviceId": "ip-ut2", "Ipv4": [], "Ipv6Ue": [], "Ipv6Cpe": []},
    ]  # fmt: skip
    ips = decoder.decode(payload(rows)).ips
    assert ips["01000000-00000000-00c4dfdb"][1] == {
        ("ipv4", "129.222.97.246"): 1.0,
        ("ipv6_ue", "2605:59c0:5600:6dc8::/64"): 1.0,
    }
    assert ips["2"][1] == {}


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"data": None},
        {"data": {"values": "x", "columnNamesByDeviceType": {}}},
        {"data": {"values": [], "columnNamesByDeviceType": {"u": "DeviceType"}}},
        {"data": {"values": [], "columnNamesByDeviceType": {"u": ["DeviceType", "DeviceId"]}}},
    ],
)
def test_wrong_shapes_are_a_bad_response(decoder: StreamDecoder, body: object) -> None:
    with pytest.raises(BadResponse, match="telemetry stream"):
        decoder.decode(body)


def test_empty_response_is_normal(decoder: StreamDecoder) -> None:
    batch = decoder.decode({"data": {"values": [], "columnNamesByDeviceType": {}}, "metadata": {}})
    assert batch.total_rows == 0
    assert batch.terminals.ids == []
