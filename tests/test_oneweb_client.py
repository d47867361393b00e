"""The OneWeb client and jobs against a mocked API (respx): Basic auth, the hello check, wrong
credentials, paging with and without X-Total-Count, malformed lists, config overrides."""

from __future__ import annotations

import base64
import contextlib
import logging
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.app import Exporter
from leo_exporter.config import ConfigError
from leo_exporter.providers import parse_config
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.oneweb.parse import (
    parse_organization,
    parse_product,
    parse_product_report,
    parse_site,
    parse_terminal_report,
    parse_usage_report,
    parse_user_terminal,
    shapes_from,
)
from leo_exporter.providers.oneweb.schema import SHAPES, compile_path, get_path, set_path
from leo_exporter.providers.oneweb.units import UNLIMITED, quantity

pytestmark = pytest.mark.anyio

API = "https://api.oneweb.test"
HELLO = f"{API}/hello/v1/oneweb/world"
UT = f"{API}/resourceInventory/v3/userTerminal"
PRODUCTS = f"{API}/api/webservices/productinventory/v2/product"
SITES = f"{API}/geographicSiteManagement/v4/geographicSite"
TERMINAL_PERF = f"{API}/performanceMonitoring/v2/userTerminalPerformance"
SECRET = "ow-very-secret-value-42"


def make_exporter(**extra: Any) -> Exporter:
    account = {
        "provider": "oneweb",
        "name": "dp-test",
        "client_id": "cid-1",
        "client_secret": SECRET,
        "api_url": API,
        "backoff_base": "1s",
        **extra,
    }
    return Exporter(parse_config({"accounts": [account]}))


async def run(exporter: Exporter, name: str) -> tuple[bool, str]:
    job = next(j for j in exporter.scheduler.jobs.values() if j.status.call == name)
    ok, _ = await exporter.scheduler.run_once(job)
    await exporter.render_now()
    return ok, job.status.last_error


def scrape(exporter: Exporter) -> dict[str, list[Any]]:
    assert exporter.exposition is not None
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(exporter.exposition.plain.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def terminal(imei: str, state: str = "online", **extra: Any) -> dict[str, Any]:
    return {"id": imei, "imei": imei, "name": f"UT {imei[-3:]}", "resourceState": state, **extra}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# ---- credentials --------------------------------------------------------------------------------------


@respx.mock
async def test_basic_auth_on_every_request_and_hello_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leo_exporter.oneweb")
    hello = respx.get(HELLO).respond(200, json={"message": "Hello OneWeb"})
    uts = respx.get(UT).respond(200, json=[terminal("359235170000011")])
    sites = respx.get(SITES).respond(200, json=[{"id": "SITE-1", "name": "Base"}])
    exporter = make_exporter()
    assert (await run(exporter, "user_terminals"))[0]
    assert (await run(exporter, "sites"))[0]
    assert (await run(exporter, "user_terminals"))[0]
    assert hello.call_count == 1
    for call in [*hello.calls, *uts.calls, *sites.calls]:
        assert call.request.headers["authorization"] == basic("cid-1", SECRET)
    fields = uts.calls[0].request.url.params["fields"].split(",")
    assert {"imei", "imsi", "resourceState", "location", "relatedParty", "place", "product"} <= set(fields)
    assert caplog.text.count("credentials accepted") == 1
    assert scrape(exporter)["leo_exporter_account_authenticated"][0].value == 1


@pytest.mark.parametrize("status", [401, 404])
@respx.mock
async def test_wrong_credentials_fail_clearly(status: int, caplog: pytest.LogCaptureFixture) -> None:
    hello = respx.get(HELLO).respond(status, json={"error": "Invalid client id or secret"})
    uts = respx.get(UT).respond(200, json=[])
    exporter = make_exporter()
    ok, error = await run(exporter, "user_terminals")
    assert not ok
    assert "refused the credentials of client_id 'cid-1'" in error and f"HTTP {status}" in error
    assert "client_secret" in error and SECRET not in error
    assert not uts.called
    got = scrape(exporter)
    assert got["leo_exporter_account_authenticated"][0].value == 0
    up = {(s.labels["account"], s.labels["call"]): s.value for s in got["leo_exporter_job_up"]}
    assert up[("dp-test", "user_terminals")] == 0
    assert "authentication failed" in caplog.text and SECRET not in caplog.text
    await run(exporter, "user_terminals")
    assert hello.call_count == 2  # checked again before every call until it passes


@respx.mock
async def test_credentials_refused_later_bring_the_hello_check_back() -> None:
    hello = respx.get(HELLO).respond(200)
    respx.get(UT).mock(
        side_effect=[httpx.Response(200, json=[]), httpx.Response(401, json={}), httpx.Response(200, json=[])]
    )
    exporter = make_exporter()
    assert (await run(exporter, "user_terminals"))[0]
    ok, error = await run(exporter, "user_terminals")
    assert not ok and "refused the credentials" in error
    assert scrape(exporter)["leo_exporter_account_authenticated"][0].value == 0
    assert (await run(exporter, "user_terminals"))[0]
    assert hello.call_count == 2
    assert scrape(exporter)["leo_exporter_account_authenticated"][0].value == 1


@respx.mock
async def test_a_broken_hello_endpoint_does_not_stop_the_data() -> None:
    respx.get(HELLO).respond(503, text="maintenance")
    respx.get(UT).respond(200, json=[terminal("359235170000011")])
    exporter = make_exporter()
    assert (await run(exporter, "user_terminals"))[0]
    assert "leo_exporter_account_authenticated" not in scrape(exporter)


@respx.mock
async def test_a_guessed_path_that_404s_says_which_key_to_set() -> None:
    respx.get(HELLO).respond(200)
    respx.get(SITES).respond(404, json={"error": "Resource not found"})
    respx.get(f"{API}/custom/sites").respond(200, json=[{"id": "SITE-9", "name": "Nine"}])
    ok, error = await run(make_exporter(), "sites")
    assert not ok and "paths.sites" in error and "assumption" in error
    exporter = make_exporter(paths={"sites": "/custom/sites"})
    assert (await run(exporter, "sites"))[0]
    assert scrape(exporter)["leo_site_info"][0].labels["site"] == "SITE-9"


# ---- paging -------------------------------------------------------------------------------------------


def pager(items: list[dict[str, Any]], *, default: int | None = None, count: bool = True, ignore: bool = False):
    """A fake list endpoint: offset/limit paging, X-Total-Count, optionally a default page size."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        chunk = items
        if not ignore and ("offset" in params or "limit" in params):
            start = int(params.get("offset", 0))
            chunk = items[start : start + int(params.get("limit", 1000))]
        elif default is not None:
            chunk = items[:default]
        headers = {"X-Total-Count": str(len(items))} if count else {}
        return httpx.Response(200, json=chunk, headers=headers)

    return handler


TERMINALS = [terminal(f"3592351700{n:05d}") for n in range(7)]


@pytest.mark.parametrize(
    ("config", "server", "calls"),
    [
        ({}, {}, 1),  # auto, the whole list at once (as the confirmed client sees it)
        ({"page_size": 3}, {"default": 2}, 3),  # auto: the server paged by itself, the rest by offset
        ({"pagination": "offset", "page_size": 3}, {}, 3),  # offset until X-Total-Count
        ({"pagination": "offset", "page_size": 3}, {"count": False}, 3),  # until a short page
        ({"pagination": "offset", "page_size": 7}, {"count": False}, 2),  # a full page, then an empty one
        ({"pagination": "none"}, {"count": False}, 1),
    ],
)
@respx.mock
async def test_paging(config: dict[str, Any], server: dict[str, Any], calls: int) -> None:
    respx.get(HELLO).respond(200)
    route = respx.get(UT).mock(side_effect=pager(TERMINALS, **server))
    exporter = make_exporter(**config)
    ok, error = await run(exporter, "user_terminals")
    assert ok, error
    assert len(scrape(exporter)["leo_terminal_info"]) == len(TERMINALS)
    assert route.call_count == calls


@respx.mock
async def test_paging_none_warns_when_the_count_says_more(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(HELLO).respond(200)
    respx.get(UT).mock(side_effect=pager(TERMINALS, default=4))
    exporter = make_exporter(pagination="none")
    assert (await run(exporter, "user_terminals"))[0]
    assert len(scrape(exporter)["leo_terminal_info"]) == 4
    assert "X-Total-Count says 7 records but 4 came" in caplog.text


@respx.mock
async def test_a_server_that_ignores_offset_is_caught() -> None:
    respx.get(HELLO).respond(200)
    respx.get(UT).mock(side_effect=pager(TERMINALS[:3], ignore=True, count=False))
    ok, error = await run(make_exporter(pagination="offset", page_size=3), "user_terminals")
    assert not ok and "ignores offset/limit" in error


# ---- bad data keeps the last good data --------------------------------------------------------------


@respx.mock
async def test_malformed_lists_keep_the_last_good_data() -> None:
    respx.get(HELLO).respond(200)
    good = [terminal("359235170000011"), terminal("359235170000029", "offline")]
    route = respx.get(UT).mock(
        side_effect=[
            httpx.Response(200, json=good),
            httpx.Response(200, content=b"<html>gateway</html>"),
            httpx.Response(200, json={"unexpected": "object"}),
            httpx.Response(200, json=[terminal("359235170000011", "offline"), "garbage", {"name": "no id"}]),
        ]
    )
    exporter = make_exporter()
    assert (await run(exporter, "user_terminals"))[0]
    baseline = {s.labels["terminal_id"]: s.value for s in scrape(exporter)["leo_terminal_online"]}
    for expected in ("not valid JSON", "expected a JSON array"):
        ok, error = await run(exporter, "user_terminals")
        assert not ok and expected in error
        assert {s.labels["terminal_id"]: s.value for s in scrape(exporter)["leo_terminal_online"]} == baseline
    ok, error = await run(exporter, "user_terminals")
    assert not ok and "2 user terminals could not be read" in error and "'imei'" not in error.split(":")[0]
    online = {s.labels["terminal_id"]: s.value for s in scrape(exporter)["leo_terminal_online"]}
    assert online == {"359235170000011": 0.0, "359235170000029": 0.0}  # updated one, removed nobody
    assert route.call_count == 4


@respx.mock
async def test_unknown_resource_state_is_counted_and_offline() -> None:
    respx.get(HELLO).respond(200)
    respx.get(UT).respond(200, json=[terminal("359235170000011", "degraded")])
    exporter = make_exporter()
    assert (await run(exporter, "user_terminals"))[0]
    got = scrape(exporter)
    assert got["leo_terminal_online"][0].value == 0
    kinds = {s.labels["kind"]: s.value for s in got["leo_exporter_unknown_fields_total"]}
    assert kinds == {"resource_state": 1.0}


@respx.mock
async def test_a_report_without_time_is_applied_but_traffic_is_not_guessed(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(HELLO).respond(200)
    respx.get(TERMINAL_PERF).respond(
        200,
        json=[
            {
                "userTerminalId": "359235170000011",
                "linkAvailability": {"value": "99.5%"},
                "traffic": {"wanRx": "1.5 GB"},
            }
        ],
    )
    exporter = make_exporter()
    assert (await run(exporter, "terminal_performance"))[0]
    got = scrape(exporter)
    assert got["leo_terminal_link_availability_ratio"][0].value == pytest.approx(0.995)
    assert "leo_terminal_receive_bytes_total" not in got
    assert "leo_terminal_report_timestamp_seconds" not in got
    assert "cannot be counted exactly once" in caplog.text


@respx.mock
async def test_cumulative_traffic_counters() -> None:
    respx.get(HELLO).respond(200)
    reports = [
        {"userTerminalId": "359235170000011", "traffic": {"wanRx": rx, "timestamp": ts}}
        for rx, ts in ((1000, "2026-03-17T10:00:00Z"), (1500, "2026-03-17T10:15:00Z"))
    ]
    respx.get(TERMINAL_PERF).mock(side_effect=[httpx.Response(200, json=[r]) for r in reports])
    exporter = make_exporter(traffic_counters="cumulative")
    await run(exporter, "terminal_performance")
    await run(exporter, "terminal_performance")
    assert scrape(exporter)["leo_terminal_receive_bytes_total"][0].value == 1500


# ---- assumed shapes are correctable from the config ------------------------------------------------------


@respx.mock
async def test_field_overrides_read_another_shape() -> None:
    """A TMF637-style product with characteristics, read by overriding three field paths."""
    respx.get(HELLO).respond(200)
    product = {
        "id": "SC-1001",
        "name": "Gold",
        "productCharacteristic": [
            {"name": "allowance", "value": "250 GB"},
            {"name": "maxDownlink", "value": 50000},
        ],
        "realizingResource": [{"id": "359235170000011", "@type": "UserTerminal"}],
    }
    respx.get(PRODUCTS).respond(200, json=[product])
    exporter = make_exporter(
        fields={
            "product": {
                "allowance": "productCharacteristic[name=allowance].value",
                "max_downlink": {"path": "productCharacteristic[name=maxDownlink].value", "unit": "kbps"},
                "imei": "realizingResource[@type=UserTerminal].id",
            }
        }
    )
    assert (await run(exporter, "products"))[0]
    got = scrape(exporter)
    assert got["leo_service_line_usage_limit_bytes"][0].value == 250e9
    assert got["leo_service_line_max_downlink_throughput_bytes_per_second"][0].value == 50000 * 1000 / 8
    assert got["leo_service_line_info"][0].labels["terminal_id"] == "359235170000011"


def test_config_rejects_unknown_fields_and_bad_paths_with_key_paths() -> None:
    account = {"provider": "oneweb", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "accounts": [
                    {
                        **account,
                        "fields": {"product": {"alowance": "x", "max_uplink": {"path": "a", "unit": "GB"}}},
                        "paths": {"sites": "https://elsewhere/sites"},
                        "location_order": "xy",
                    }
                ]
            }
        )
    text = "\n".join(err.value.problems)
    assert "accounts[0].fields" in text and "unknown field 'alowance'" in text and "unknown rate unit 'GB'" in text
    assert "accounts[0].paths.sites" in text and "accounts[0].location_order" in text
    config = parse_config({"accounts": [account]})
    assert config.accounts[0].api_url == "https://api.oneweb.net"
    assert [job.name for job in config.accounts[0].resolved_jobs()] == [
        "user_terminals",
        "products",
        "organizations",
        "sites",
        "terminal_performance",
        "product_performance",
        "usage_consumption",
    ]


def test_client_secret_from_a_file(tmp_path) -> None:
    secret = tmp_path / "oneweb"
    secret.write_text("from-a-file\n")
    config = parse_config({"accounts": [{"provider": "oneweb", "client_id": "c", "client_secret_file": str(secret)}]})
    assert config.accounts[0].client_secret.get_secret_value() == "from-a-file"


# ---- units and paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        (100, "GB", 100e9),
        ("100 GB", "GB", 100e9),
        ("100 GB of data", "GB", 100e9),
        ({"amount": 2.5, "units": "MB"}, "GB", 2.5e6),
        ({"value": 1, "unit": "GiB"}, "GB", 1024**3),
        ("Unlimited", "GB", UNLIMITED),
        ("N/A", "bps", None),
        (195, "Mbps", 195e6 / 8),
        ("64 kbps", "bps", 8000.0),
        ({"amount": 3, "units": "blocks"}, "", 3.0),
        (None, "GB", None),
    ],
)
def test_quantities(raw: Any, unit: str, expected: float | None) -> None:
    assert quantity(raw, unit, "x") == expected


@pytest.mark.parametrize("raw", ["100 furlongs", True, [1], "lots", {"amount": 1, "units": 5}])
def test_bad_quantities(raw: Any) -> None:
    with pytest.raises(BadResponse):
        quantity(raw, "GB", "x")


def test_paths_read_and_write_the_same_places() -> None:
    for kind, fields in SHAPES.items():
        record: dict[str, Any] = {}
        for name, spec in fields.items():
            set_path(record, compile_path(spec.path), f"{kind}.{name}")
        for name, spec in fields.items():
            assert get_path(record, compile_path(spec.path)) == f"{kind}.{name}", (kind, name)
    data = {"relatedParty": [{"id": "DP", "role": "distributionPartner"}, {"id": "C", "role": "customer"}]}
    assert get_path(data, compile_path("relatedParty[role=customer].id")) == "C"
    assert get_path(data, compile_path("relatedParty[5].id")) is None
    assert get_path({"a": "text"}, compile_path("a.b")) is None
    for bad in ("", "a..b", "a[]", "a[=x]", " a"):
        with pytest.raises(ValueError):
            compile_path(bad)


# ---- no input makes a parser raise anything but BadResponse ------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    sorted({part.split("[")[0] for fields in SHAPES.values() for f in fields.values() for part in f.path.split(".")})
)
_shaped = st.recursive(
    _json,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=30,
)


DEFAULT_SHAPES = shapes_from(
    parse_config({"accounts": [{"provider": "oneweb", "client_id": "c", "client_secret": "s"}]})
    .accounts[0]
    .field_paths()
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_shaped)
def test_parsers_only_ever_raise_bad_response(item: Any) -> None:
    shapes = DEFAULT_SHAPES
    parsers = (
        lambda i: parse_user_terminal(i, shapes, location_order="lon_lat", firmware_component="UT"),
        lambda i: parse_product(i, shapes),
        lambda i: parse_organization(i, shapes),
        lambda i: parse_site(i, shapes),
        lambda i: parse_terminal_report(i, shapes, availability_scale="percent"),
        lambda i: parse_product_report(i, shapes),
        lambda i: parse_usage_report(i, shapes),
    )
    for parse in parsers:
        with contextlib.suppress(BadResponse):
            parse(item)
