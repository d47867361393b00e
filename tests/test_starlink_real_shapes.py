"""Starlink payloads shaped like real captured responses (tests/fixtures/starlink, our own values),
served through a mocked API to the real driver; assertions are on the rendered exposition."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import h3
import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.providers.starlink import telemetry as tm
from leo_exporter.providers.starlink.jobs import StarlinkDriver
from leo_exporter.records import TerminalRecord
from leo_exporter.state import FleetState
from tests.conftest import render
from tests.test_starlink_client import API, make_driver, page, token_route

FIXTURES = Path(__file__).parent / "fixtures" / "starlink"
T = 1_790_000_000  # device time of the fixtures' rows, in seconds
A, B, C = "02000000-00000000-00a1b2c3", "02000000-00000000-00d4e5f6", "02000000-00000000-0077aa10"
D, E = "02000000-00000000-0031c0de", "02000000-00000000-0042beef"
R1, R2 = "Router-02000000000000000000AB12", "Router-02000000000000000000CD34"
R_FULL = "Router-0200000000000000000EF567"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def driver_at(now: float) -> tuple[StarlinkDriver, FleetState, Clock]:
    driver, state = make_driver()
    clock = Clock(now)
    state.clock = clock
    return driver, state, clock


async def stream(driver: StarlinkDriver, *bodies: dict[str, Any]) -> None:
    """One telemetry run per body (each answers less than a full batch, so one call per run)."""
    with respx.mock() as mock:
        token_route(mock)
        for body in bodies:
            mock.post(f"{API}/telemetry/stream").mock(return_value=httpx.Response(200, json=body))
            await driver.poll_telemetry()


def scrape(state: FleetState) -> Samples:
    text = render(state).plain.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("provider", "account")))
            samples[(s.name, labels)] = s.value
    return samples


def of(samples: Samples, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one family whose labels include `labels`, keyed by their other labels."""
    out = {}
    for (family, pairs), value in samples.items():
        if family == name and set(labels.items()) <= set(pairs):
            out[tuple(p for p in pairs if p[0] not in labels)] = value
    return out


def ips(samples: Samples, terminal: str) -> set[tuple[str, str]]:
    return {(dict(k)["kind"], dict(k)["address"]) for k in of(samples, "leo_terminal_ip_info", terminal_id=terminal)}


C_IPS = {("ipv4", "198.51.100.17"), ("ipv6_ue", "2001:db8:10:20::/64"), ("ipv6_cpe", "2001:db8:ab00:1200::/56")}


# --- IP allocations: inventory-like, kept offline


@pytest.mark.anyio
async def test_a_terminal_with_only_ip_rows_keeps_them_while_known_and_loses_them_when_it_leaves() -> None:
    driver, state, _ = driver_at(T + 60)
    await stream(driver, fixture("stream_2025_enterprise.json"))
    for _ in range(2):  # the old bug dropped them at the first render after the terminal was created offline
        samples = scrape(state)
        assert ips(samples, C) == C_IPS
        assert of(samples, "leo_terminal_online", terminal_id=C) == {(): 0.0}
    account = state.accounts["north"]
    account.replace_terminals([TerminalRecord(A), TerminalRecord(B), TerminalRecord(C)])
    assert ips(scrape(state), C) == C_IPS
    account.replace_terminals([TerminalRecord(A), TerminalRecord(B)])
    samples = scrape(state)
    assert ips(samples, C) == set()
    assert of(samples, "leo_terminal_info", terminal_id=C) == {}


@pytest.mark.anyio
async def test_a_terminal_going_offline_stops_live_series_but_keeps_its_addresses() -> None:
    driver, state, clock = driver_at(T + 60)
    await stream(driver, fixture("stream_2025_enterprise.json"))
    state.accounts["north"].replace_terminals([TerminalRecord(A), TerminalRecord(B), TerminalRecord(C)])
    assert of(scrape(state), "leo_terminal_online", terminal_id=A) == {(): 1.0}
    clock.now = T + 3600  # no telemetry for an hour
    samples = scrape(state)
    assert of(samples, "leo_terminal_online", terminal_id=A) == {(): 0.0}
    assert of(samples, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id=A) == {}
    assert ips(samples, A) == {
        ("ipv4", "198.51.100.4"),
        ("ipv6_ue", "2001:db8:10:a0::/64"),
        ("ipv6_cpe", "2001:db8:ab00:3400::/56"),
    }


def _only(body: dict[str, Any], device_type: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["data"]["values"] = [row for row in body["data"]["values"] if row[0] == device_type]
    return body


@pytest.mark.anyio
async def test_ip_rows_in_an_earlier_batch_than_the_terminal_rows_survive_and_older_ones_do_not_win() -> None:
    driver, state, _ = driver_at(T + 60)
    body = fixture("stream_2025_enterprise.json")
    stale = _only(body, "i")
    for row in stale["data"]["values"]:
        row[1] -= 600_000_000_000  # ten minutes older, with another address
        row[3] = ["203.0.113.99"]
    await stream(driver, _only(body, "i"), _only(body, "u"), stale)
    samples = scrape(state)
    assert of(samples, "leo_terminal_online", terminal_id=A) == {(): 1.0}
    assert ("ipv4", "198.51.100.4") in ips(samples, A)
    assert ("ipv4", "203.0.113.99") not in ips(samples, A) | ips(samples, C)
    assert ips(samples, C) == C_IPS


# --- terminal rows


@pytest.mark.anyio
async def test_rows_listed_newer_first_export_the_newest_row() -> None:
    driver, state, _ = driver_at(T + 60)
    await stream(driver, fixture("stream_2025_enterprise.json"))
    samples = scrape(state)
    assert of(samples, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id=A) == {(): 12.5 * 125_000}
    assert of(samples, "leo_terminal_uptime_seconds", terminal_id=A) == {(): 90045.0}
    assert of(samples, "leo_terminal_last_seen_timestamp_seconds", terminal_id=A) == {(): T + 45.0}
    assert of(samples, "leo_terminal_alert", terminal_id=A) == {(("alert", "software_update_reboot_pending"),): 1.0}


@pytest.mark.anyio
async def test_an_h3_cell_that_is_no_cell_is_counted_and_logged_once_and_the_row_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver, state, _ = driver_at(T + 60)
    body = fixture("stream_2024_full_router.json")
    with caplog.at_level(logging.WARNING):
        await stream(driver, body, body)
    samples = scrape(state)
    assert of(samples, "leo_terminal_latitude_degrees", terminal_id=E) == {}
    assert of(samples, "leo_terminal_downlink_throughput_bytes_per_second", terminal_id=E) == {(): 8.5 * 125_000}
    lat, lon = h3.cell_to_latlng(h3.latlng_to_cell(-33.87, 151.21, 5))
    assert of(samples, "leo_terminal_latitude_degrees", terminal_id=D) == {(): pytest.approx(lat)}
    assert of(samples, "leo_terminal_longitude_degrees", terminal_id=D) == {(): pytest.approx(lon)}
    assert of(samples, "leo_exporter_invalid_values_total") == {(("field", "H3CellId"),): 2.0}
    lines = [r.getMessage() for r in caplog.records if "H3CellId" in r.getMessage()]
    assert lines == ["unreadable H3CellId in provider data: not an H3 cell; such values are left out"]


@pytest.mark.anyio
async def test_a_timestamp_that_is_no_time_and_a_number_that_is_no_number_are_counted_by_field() -> None:
    driver, state, _ = driver_at(T + 60)
    body = fixture("stream_2024_full_router.json")
    body["data"]["values"][0][1] = "2026-09-21T00:00:00Z"
    body["data"]["values"][1][3] = "fast"
    await stream(driver, body)
    samples = scrape(state)
    assert of(samples, "leo_exporter_invalid_values_total") == {
        (("field", "UtcTimestampNs"),): 1.0,
        (("field", "DownlinkThroughput"),): 1.0,
        (("field", "H3CellId"),): 1.0,
    }
    assert of(samples, "leo_terminal_info", terminal_id=D) == {}  # its only row had no time
    assert of(samples, "leo_terminal_uplink_throughput_bytes_per_second", terminal_id=E) == {(): 0.75 * 125_000}


# --- router rows


@pytest.mark.anyio
async def test_a_full_router_row_exports_every_wifi_client_figure_in_base_units() -> None:
    driver, state, _ = driver_at(T + 60)
    await stream(driver, fixture("stream_2024_full_router.json"))
    samples = scrape(state)
    mbps = 125_000
    rates = {
        "receive": {"2ghz": (3.5, 20.25, 48.0), "5ghz": (144.0, 600.5, 866.0)},
        "transmit": {"2ghz": (2.0, 30.5, 66.0), "5ghz": (120.0, 520.25, 780.0)},
    }
    for direction, bands in rates.items():
        expected = {
            (("band", band), ("stat", stat)): value * mbps
            for band, values in bands.items()
            for stat, value in zip(("min", "avg", "max"), values, strict=True)
        }
        family = f"leo_router_wifi_client_{direction}_rate_bytes_per_second"
        assert of(samples, family, router_id=R_FULL) == expected
    assert of(samples, "leo_router_wifi_client_signal_strength_dbm", router_id=R_FULL) == {
        (("band", "2ghz"), ("stat", "min")): -71.0,
        (("band", "2ghz"), ("stat", "avg")): -60.5,
        (("band", "2ghz"), ("stat", "max")): -48.0,
        (("band", "5ghz"), ("stat", "min")): -66.0,
        (("band", "5ghz"), ("stat", "avg")): -58.75,
        (("band", "5ghz"), ("stat", "max")): -51.0,
    }
    assert of(samples, "leo_router_wifi_repeater", router_id=R_FULL) == {(): 1.0}
    assert of(samples, "leo_router_wifi_bypassed", router_id=R_FULL) == {(): 0.0}
    assert of(samples, "leo_router_clients", router_id=R_FULL)[(("band", "5ghz"),)] == 2.0
    info = of(samples, "leo_router_info", router_id=R_FULL)
    assert [dict(k)["terminal_id"] for k in info] == [D]
    assert of(samples, "leo_exporter_unknown_fields_total") == {}  # every 2024 column is known


@pytest.mark.anyio
async def test_null_router_statistics_are_absent_not_zero_and_not_invalid() -> None:
    driver, state, _ = driver_at(T + 60)
    await stream(driver, fixture("stream_2025_enterprise.json"))
    samples = scrape(state)
    for router in (R1, R2):
        for direction in ("receive", "transmit"):
            assert of(samples, f"leo_router_wifi_client_{direction}_rate_bytes_per_second", router_id=router) == {}
        assert of(samples, "leo_router_wifi_client_signal_strength_dbm", router_id=router) == {}
        assert of(samples, "leo_router_clients", router_id=router)[(("band", "all"),)] == 1.0
        assert of(samples, "leo_router_wifi_repeater", router_id=router) == {(): 0.0}
    assert of(samples, "leo_exporter_invalid_values_total") == {}


# --- alert enums


@pytest.mark.anyio
async def test_router_codes_nested_under_enums_r_r_name_router_alerts() -> None:
    driver, state, _ = driver_at(T + 60)
    await stream(driver, fixture("stream_2025_enterprise.json"))
    samples = scrape(state)
    assert of(samples, "leo_router_alert", router_id=R1) == {(("alert", "sandbox_disabled"),): 1.0}
    assert of(samples, "leo_router_active_alerts", router_id=R1) == {(): 1.0}
    assert of(samples, "leo_router_active_alerts", router_id=R2) == {(): 0.0}
    assert of(samples, "leo_terminal_alert", terminal_id=B) == {
        (("alert", "disabled_no_active_service_line"),): 1.0,
        (("alert", "software_update_reboot_pending"),): 1.0,
    }
    assert of(samples, "leo_exporter_invalid_values_total") == {}
    assert of(samples, "leo_exporter_unknown_fields_total") == {(("kind", "enum_nesting"),): 2.0}


def _enums(body: dict[str, Any]) -> dict[str, Any]:
    return body["metadata"]["enums"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "field", "router_alert"),
    [
        # the nested codes contradict the documented block: the documented one is used
        (lambda e: e["AlertsByDeviceType"].update(r={"52": "geo_fenced"}), "metadata.enums", "geo_fenced"),
        # a nesting that could mean two things is not guessed at
        (lambda e: e["r"].update(u={"52": "pop_change"}), "metadata.enums", "unknown_52"),
        # loose codes that repeat no device type's codes: whose are they?
        (
            lambda e: e["AlertsByDeviceType"].update({"52": "sandbox_disabled"}),
            "metadata.enums.AlertsByDeviceType",
            None,
        ),
    ],
)
async def test_ambiguous_enum_nesting_is_counted_not_guessed(change: Any, field: str, router_alert: str | None) -> None:
    driver, state, _ = driver_at(T + 60)
    body = fixture("stream_2025_enterprise.json")
    change(_enums(body))
    await stream(driver, body)
    samples = scrape(state)
    assert of(samples, "leo_exporter_invalid_values_total") == {(("field", field),): 1.0}
    if router_alert:
        assert of(samples, "leo_router_alert", router_id=R1) == {(("alert", router_alert),): 1.0}


# --- the decoder's column list


def _sample_value(column: str) -> Any:
    if column in ("ActiveAlerts", "ActiveAlert"):
        return [50]
    if column == "H3CellId":
        return int(h3.latlng_to_cell(10.0, 10.0, 5), 16)
    if column in tm.IP_COLUMNS:
        return ["192.0.2.1"]
    if column in ("DishId", *tm.TERMINAL_ATTRIBUTES, *tm.ROUTER_ATTRIBUTES):
        return "x1"
    scale = {**tm.TERMINAL_MEASURES, **tm.ROUTER_MEASURES}.get(column, ("", 1.0))[1]
    return True if scale is None else 7.0


@pytest.mark.parametrize(
    ("device_type", "column"),
    sorted(
        (dt, c) for dt, known in tm.KNOWN_COLUMNS.items() for c in known - tm.BASE_COLUMNS - set(tm.IGNORED_COLUMNS[dt])
    ),
)
def test_every_known_column_that_is_not_deliberately_ignored_reaches_the_output(device_type: str, column: str) -> None:
    columns = ["DeviceType", "UtcTimestampNs", "DeviceId", column]
    enums = {"AlertsByDeviceType": {"u": {"50": "ethernet_slow_10mbps"}, "r": {"50": "sandbox_disabled"}}}

    def decode(value: Any) -> tm.TelemetryBatch:
        row = {"DeviceType": device_type, "UtcTimestampNs": T * 10**9, "DeviceId": "ut1", column: value}
        body = {
            "data": {"values": [[row[c] for c in columns]], "columnNamesByDeviceType": {device_type: columns}},
            "metadata": {"enums": enums},
        }
        return tm.StreamDecoder(lambda *_: None).decode(body)

    with_value, without = decode(_sample_value(column)), decode(None)
    assert (with_value.terminals, with_value.routers, with_value.ips) != (
        without.terminals,
        without.routers,
        without.ips,
    )


def test_every_ignored_column_says_why() -> None:
    for ignored in tm.IGNORED_COLUMNS.values():
        for column, reason in ignored.items():
            assert len(reason.split()) >= 4, column


# --- paging: the OpenAPI document marks every page's `results` nullable


@pytest.mark.anyio
async def test_a_page_whose_results_are_null_is_an_empty_page() -> None:
    driver, state, _ = driver_at(T + 60)
    with respx.mock() as mock:
        token_route(mock)
        mock.get(f"{API}/user-terminals").mock(
            return_value=httpx.Response(200, json=page(None, 0, True))  # type: ignore[arg-type]
        )
        mock.get(f"{API}/service-lines").mock(
            return_value=httpx.Response(200, json=page(None, 0, False))  # type: ignore[arg-type]
        )
        await driver.poll_user_terminals()
        await driver.poll_service_lines()
    account = state.accounts["north"]
    assert account.terminals.inventory == set()
    assert account.service_lines.inventory == set()


@pytest.mark.parametrize("body", [{"data": {"results": None}}, {"data": {"results": None, "totalCount": 0}}])
def test_kognitive_nested_results_null_is_an_empty_page(body: dict[str, Any]) -> None:
    from leo_exporter.providers.kognitive.client import _items

    assert _items(body, "GET /x")[0] == []


def test_oneweb_list_null_is_an_empty_page_but_an_object_without_a_list_is_still_an_error() -> None:
    from leo_exporter.providers.errors import BadResponse
    from leo_exporter.providers.oneweb.client import as_list

    assert as_list({"results": None}, "GET /x") == []
    with pytest.raises(BadResponse, match="expected a JSON array"):
        as_list({"name": "x"}, "GET /x")


@pytest.mark.parametrize(
    ("enums", "router_codes", "problems"),
    [
        # documented: AlertsByDeviceType.r
        ({"AlertsByDeviceType": {"r": {"52": "sandbox_disabled"}}}, {"52": "sandbox_disabled"}, []),
        # codes directly under enums.r, or under enums.r.r: one device type, so unambiguous
        ({"r": {"52": "sandbox_disabled"}}, {"52": "sandbox_disabled"}, []),
        ({"r": {"r": {"54": "geo_fenced"}}}, {"54": "geo_fenced"}, []),
        # agreeing with the documented block: merged
        (
            {"AlertsByDeviceType": {"r": {"52": "sandbox_disabled"}}, "r": {"r": {"54": "geo_fenced"}}},
            {"52": "sandbox_disabled", "54": "geo_fenced"},
            [],
        ),
        # a block that is no object at all
        ({"AlertsByDeviceType": ["r"]}, None, [("metadata.enums.AlertsByDeviceType", "not an object")]),
    ],
)
def test_alert_enum_blocks_are_read_tolerantly(
    enums: dict[str, Any], router_codes: dict[str, str] | None, problems: list[tuple[str, str]]
) -> None:
    from leo_exporter.providers.starlink.alerts import read_alert_enums

    seen: list[tuple[str, str]] = []
    result, found = read_alert_enums(enums, lambda kind, name, where: seen.append((kind, name)))
    assert result.get("r") == router_codes
    assert found == problems
