"""The Kognitive simulator serves the seed's shapes, pages both ways, and its write calls change
what later reads return; the exporter reads it through its real HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from leo_exporter.app import Exporter
from leo_exporter.providers import parse_config
from leo_exporter.providers.kognitive.simulator.server import KognitiveSimulator
from leo_exporter.simulator.calendar import cycle_bounds
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

API = "/kognitive/ext/v1/starlink"
START = datetime(2026, 3, 17, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> KognitiveSimulator:
    return KognitiveSimulator(partners=2, terminals=60, seed=5, clock=clock)


def app_of(sim: KognitiveSimulator) -> Starlette:
    return Starlette(routes=[Mount("/kognitive", routes=sim.routes())])


@pytest.fixture
async def http(sim: KognitiveSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Auth-Key": sim.credentials()[0][1], "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app_of(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=headers) as client:
        yield client


async def get(http: httpx.AsyncClient, endpoint: str, **params: Any) -> dict[str, Any]:
    response = await http.get(f"{API}/{endpoint}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True, body
    return body


async def post(http: httpx.AsyncClient, endpoint: str, body: Any, status: int = 200) -> dict[str, Any]:
    response = await http.post(f"{API}/{endpoint}", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def all_lines(http: httpx.AsyncClient, limit: int = 7) -> list[dict[str, Any]]:
    out, page = [], 1
    while True:
        data = (await get(http, "getServiceLineDetails", page=page, limit=limit))["data"]
        if not data:
            return out
        out += data
        page += 1


def first_line(sim: KognitiveSimulator, paused: bool = False) -> tuple[str, str]:
    account = sim.accounts(1)[0]
    line = next(line for line in account.lines if line.terminals and line.paused == paused)
    return account.number, line.number


# ---- auth --------------------------------------------------------------------------------------------


async def test_the_key_works_in_either_documented_header_and_nothing_else(sim: KognitiveSimulator) -> None:
    key = sim.credentials()[0][1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_of(sim)), base_url="http://sim") as http:
        for headers in ({"X-Auth-Key": key}, {"auth-key": key}):
            assert (await http.get(f"{API}/getAvailableProducts", headers=headers)).status_code == 200
        for headers in ({}, {"X-Auth-Key": "wrong"}, {"Authorization": f"Bearer {key}"}):
            response = await http.get(f"{API}/getAvailableProducts", headers=headers)
            assert response.status_code == 401
            assert response.json() == {"success": False, "message": "Unauthorized: missing or invalid auth key"}
    strict = KognitiveSimulator(partners=1, terminals=4, seed=5, auth_headers=("auth-key",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_of(strict)), base_url="http://sim") as http:
        key = strict.credentials()[0][1]
        assert (await http.get(f"{API}/getAvailableProducts", headers={"X-Auth-Key": key})).status_code == 401
        assert (await http.get(f"{API}/getAvailableProducts", headers={"auth-key": key})).status_code == 200


async def test_each_key_sees_only_its_own_accounts(sim: KognitiveSimulator, http: httpx.AsyncClient) -> None:
    mine = {a.number for a in sim.accounts(1)}
    theirs = {a.number for a in sim.accounts(2)}
    assert len(mine) == 2 and not mine & theirs
    lines = await all_lines(http)
    assert {line["account_number"] for line in lines} == mine


# ---- reads in the seed's shapes ----------------------------------------------------------------------


async def test_service_lines_page_with_page_and_limit_and_no_paging_fields(
    sim: KognitiveSimulator, http: httpx.AsyncClient
) -> None:
    first = await get(http, "getServiceLineDetails", page=1, limit=5)
    assert set(first) == {"success", "message", "data"}
    assert len(first["data"]) == 5
    item = first["data"][0]
    assert set(item) >= {
        "service_line_number",
        "nickname",
        "account_number",
        "account_name",
        "subscription_status",
        "userterminaldetails",
    }
    lines = await all_lines(http, limit=5)
    expected = sum(len(a.lines) for a in sim.accounts(1))
    assert len(lines) == expected == len({line["service_line_number"] for line in lines})
    assert {line["subscription_status"] for line in lines} == {"resumed", "paused"}
    default = await get(http, "getServiceLineDetails")
    assert len(default["data"]) == min(25, expected)
    capped = await get(http, "getServiceLineDetails", limit=1000)
    assert len(capped["data"]) == min(100, expected)


async def test_terminal_status_pages_with_page_number_and_a_string_total(
    sim: KognitiveSimulator, http: httpx.AsyncClient
) -> None:
    terminals = [t for a in sim.accounts(1) for t in a.terminals]
    body = await get(http, "getTerminalStatus", page_number=1, page_limit=4)
    assert body["total"] == str(len(terminals)) and isinstance(body["total"], str)
    assert body["totalPages"] == -(-len(terminals) // 4) and body["page"] == 1 and body["limit"] == 4
    seen = []
    for page in range(1, body["totalPages"] + 1):
        for group in (await get(http, "getTerminalStatus", page_number=page, page_limit=4))["data"]:
            assert set(group) == {"account_number", "account_name", "userTerminals"}
            seen += [t["user_terminal_id"] for t in group["userTerminals"]]
    assert sorted(seen) == sorted(t.terminal_id for t in terminals)
    entries = [t for g in (await get(http, "getTerminalStatus", page_limit=100))["data"] for t in g["userTerminals"]]
    assert any(t["service_line_number"] == "<NOT_CONFIGURED>" for t in entries)
    assert {type(t["is_terminal_online"]) for t in entries} == {bool}
    account = sim.accounts(1)[1].number
    only = await get(http, "getTerminalStatus", accountFilter=account, page_limit=100)
    assert [g["account_number"] for g in only["data"]] == [account]


async def test_usage_comes_as_strings_that_add_up(sim: KognitiveSimulator, http: httpx.AsyncClient) -> None:
    body = await get(http, "getBillingUsage", page=1, limit=100)
    results = body["data"]["results"]
    assert len(results) == sum(len(a.lines) for a in sim.accounts(1))
    anchors = {line.number: line.anchor for a in sim.accounts(1) for line in a.lines}
    assert len(set(anchors.values())) > 3  # each line's cycle starts on its own day of the month
    for item in results:
        start, end = cycle_bounds(anchors[item["serviceLineNumber"]], datetime(2026, 3, 17, tzinfo=UTC))
        assert (item["startDate"], item["endDate"]) == (f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
        cycle = item["billingCycles"][-1]
        days = cycle["dailyDataUsage"]
        assert all(isinstance(cycle[k], str) for k in cycle if k.startswith("total"))
        assert f"{sum(float(d['priorityGB']) for d in days):.2f}" == cycle["totalPriorityGB"]
        assert float(cycle["totalOptInPriorityGB"]) <= float(cycle["totalPriorityGB"])
        assert all(d["date"] < "2026-03-17" for d in days)  # today is not reported yet
    paused = {line.number for a in sim.accounts(1) for line in a.lines if line.paused}
    for item in results:
        if item["serviceLineNumber"] in paused:
            assert item["billingCycles"][-1]["totalPriorityGB"] == "0.00"


async def test_products_and_addresses_in_the_seed_shapes(sim: KognitiveSimulator, http: httpx.AsyncClient) -> None:
    products = (await get(http, "getAvailableProducts"))["data"]
    assert [g["account_number"] for g in products] == [a.number for a in sim.accounts(1)]
    product = products[0]["products"][0]
    assert set(product) == {
        "product_reference_id",
        "name",
        "alias",
        "price",
        "iso_currency_code",
        "usage_limit_gb",
        "active",
        "data_blocks",
    }
    assert set(product["data_blocks"][0]) >= {"product_id", "data_amount", "data_unit", "price"}
    body = await get(http, "getAddress", page=1, limit=2)
    assert body["total"] == sum(len(a.addresses) for a in sim.accounts(1))
    address = body["data"][0]["addresses"][0]
    assert set(address) >= {"address_reference_id", "formatted_address", "latitude", "longitude"}
    account = sim.accounts(1)[1].number
    only = await get(http, "getAddress", accountNumber=account)
    assert [g["accountNumber"] for g in only["data"]] == [account]


async def test_bad_paging_parameters_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/getServiceLineDetails", params={"page": "x"})
    assert response.status_code == 400 and response.json()["success"] is False
    response = await http.get(f"{API}/getTerminalStatus", params={"page_number": 0})
    assert response.status_code == 400
    assert (await http.get(f"{API}/nope")).status_code == 404


async def test_same_seed_same_fleet(clock: FakeClock) -> None:
    one = KognitiveSimulator(partners=2, terminals=30, seed=9, clock=clock)
    two = KognitiveSimulator(partners=2, terminals=30, seed=9, clock=clock)
    assert one.credentials() == two.credentials()
    assert one.state() == two.state()
    assert one.state() != KognitiveSimulator(partners=2, terminals=30, seed=10, clock=clock).state()


# ---- writes change later reads -------------------------------------------------------------------------


async def test_pause_and_resume_change_the_status_and_the_terminal(
    sim: KognitiveSimulator, http: httpx.AsyncClient
) -> None:
    account, number = first_line(sim)
    body = {"accountNumber": account, "serviceLineNumber": number, "endNow": True, "rejectReason": ""}
    assert (await post(http, "pause", body))["success"] is True
    line = next(line for line in await all_lines(http) if line["service_line_number"] == number)
    assert line["subscription_status"] == "paused"
    terminal_id = line["userterminaldetails"][0]["userTerminalId"]
    assert not sim.online(sim.terminal(terminal_id))
    again = await post(http, "pause", body)
    assert again == {"success": False, "message": f"Service line {number} is already paused"}

    product = sim.accounts(1)[0].products[2].reference_id
    resume = {"accountNumber": account, "serviceLineNumber": number, "productReferenceId": product}
    resume |= {
        "customPlanId": "CP-standby",
        "dataBlockProducts": [{"accountNumber": account, "serviceLineNumber": number}],
    }
    assert (await post(http, "resume", resume))["success"] is True
    line = next(line for line in await all_lines(http) if line["service_line_number"] == number)
    assert line["subscription_status"] == "resumed"
    assert "product_reference_id" not in line  # an assumed field: served only with --assume
    assert next(li for a in sim.accounts(1) for li in a.lines if li.number == number).product == product
    assert (await post(http, "resume", resume))["success"] is False


async def test_a_pause_at_the_end_of_the_cycle_happens_then(
    sim: KognitiveSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    account, number = first_line(sim)
    body = {"accountNumber": account, "serviceLineNumber": number, "endNow": False}
    assert (await post(http, "pause", body))["success"] is True
    status = {line["service_line_number"]: line["subscription_status"] for line in await all_lines(http)}
    assert status[number] == "resumed"
    clock.now = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    status = {line["service_line_number"]: line["subscription_status"] for line in await all_lines(http)}
    assert status[number] == "paused"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"serviceLineNumber": "AST-1", "endNow": True}, 400, "accountNumber is mandatory"),
        ({"accountNumber": "ACC-0", "serviceLineNumber": "AST-1", "endNow": True}, 200, "Account ACC-0 not found"),
        ({"accountNumber": "@", "serviceLineNumber": "@", "endNow": "yes"}, 400, "endNow must be true or false"),
    ],
)
async def test_pause_requests_are_validated(
    sim: KognitiveSimulator, http: httpx.AsyncClient, body: dict[str, Any], status: int, message: str
) -> None:
    account, number = first_line(sim)
    body = {k: (account if v == "@" and k == "accountNumber" else number if v == "@" else v) for k, v in body.items()}
    answer = await post(http, "pause", body, status)
    assert answer["success"] is False and message in answer["message"]


async def test_a_new_service_line_is_tracked_until_it_exists(
    sim: KognitiveSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    account = sim.accounts(1)[0]
    free = next(t.terminal_id for t in account.terminals if t.service_line is None)
    body = {
        "customPlanId": "CP-lodge",
        "Name": "New Lodge",
        "accountNumber": account.number,
        "addressReferenceId": account.addresses[0].reference_id,
        "userTerminalIds": free,
        "emailIds": ["ops@example.com"],
        "productReferenceId": account.products[1].reference_id,
        "dataBlockProducts": [],
    }
    created = await post(http, "newServiceLine", body)
    tracking_id = created["data"]["trackingId"]
    assert tracking_id.startswith("trk-")
    again = await post(http, "newServiceLine", body)
    assert again["success"] is False and "already has a service line" in again["message"]

    track = await post(http, "service_line_tracking", {"trackingId": tracking_id})
    assert track["status"] == "pending" and track["progress"] == 0 and track["success"] is True
    assert set(track) == {"success", "message", "status", "lastUpdated", "progress"}
    clock.now += 45
    track = await post(http, "service_line_tracking", {"trackingId": tracking_id})
    assert track["status"] == "in_progress" and 0 < track["progress"] < 100
    assert "New Lodge" not in {line["nickname"] for line in await all_lines(http)}
    clock.now += 60
    track = await post(http, "service_line_tracking", {"trackingId": tracking_id})
    assert track["status"] == "completed" and track["progress"] == 100
    line = next(line for line in await all_lines(http) if line["nickname"] == "New Lodge")
    assert line["subscription_status"] == "resumed"
    assert [t["userTerminalId"] for t in line["userterminaldetails"]] == [free]
    status = await get(http, "getTerminalStatus", page_limit=100)
    entry = next(t for g in status["data"] for t in g["userTerminals"] if t["user_terminal_id"] == free)
    assert entry["service_line_number"] == line["service_line_number"]
    unknown = await post(http, "service_line_tracking", {"trackingId": "trk-nope"})
    assert unknown == {"success": False, "message": "Tracking ID trk-nope not found"}


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        # resume: both plan ids are "mandatory to resume"
        ("resume", {"customPlanId": "CP-1", "accountNumber": "@", "serviceLineNumber": "@"}, "productReferenceId is mandatory"),
        ("resume", {"productReferenceId": "$", "accountNumber": "@", "serviceLineNumber": "@"}, "customPlanId is mandatory"),
        # dataBlockProducts items carry the fields the page's table lists under it, nothing else
        (
            "resume",
            {"customPlanId": "CP-1", "productReferenceId": "$", "accountNumber": "@", "serviceLineNumber": "@",
             "dataBlockProducts": [{"productId": "gb-500gb", "count": 2}]},
            "dataBlockProducts[0].productId is not a field of this call",
        ),
        # new service line: customPlanId mandatory; userTerminalIds a String; "Name" as the page spells it
        ("newServiceLine", {"Name": "X", "accountNumber": "@"}, "customPlanId is mandatory"),
        ("newServiceLine", {"customPlanId": "CP-1", "accountNumber": "@", "userTerminalIds": ["a"]}, "userTerminalIds must be a string"),
        ("newServiceLine", {"customPlanId": "CP-1", "accountNumber": "@", "name": "X"}, "name is not a field of this call"),
        ("newServiceLine", {"customPlanId": "CP-1", "accountNumber": "@", "emailIds": "a@b"}, "emailIds must be an array"),
        # pause: rejectReason is the pause call's own field, a string
        ("pause", {"accountNumber": "@", "serviceLineNumber": "@", "endNow": True, "rejectReason": 3}, "rejectReason must be a string"),
        ("service_line_tracking", {}, "trackingId is mandatory"),
    ],
)  # fmt: skip
async def test_write_bodies_that_break_the_api_pages_rules_are_refused(
    sim: KognitiveSimulator, http: httpx.AsyncClient, endpoint: str, body: dict[str, Any], message: str
) -> None:
    account, number = first_line(sim, paused=True)
    product = sim.accounts(1)[0].products[2].reference_id
    fill = {"accountNumber": account, "serviceLineNumber": number, "productReferenceId": product}
    body = {k: fill[k] if v in ("@", "$") else v for k, v in body.items()}
    before = {k: v for k, v in sim.state().items() if k != "requests"}
    answer = await post(http, endpoint, body, 400)
    assert answer["success"] is False and message in answer["message"]
    assert {k: v for k, v in sim.state().items() if k != "requests"} == before  # nothing happened


# ---- fault injection -----------------------------------------------------------------------------------


async def test_faults_are_injected_and_counted_down(sim: KognitiveSimulator, http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/kognitive/_sim/faults", json={"endpoint": "getAvailableProducts", "kind": "success_false"}
    )
    assert response.status_code == 200
    refused = await http.get(f"{API}/getAvailableProducts")
    assert refused.status_code == 200 and refused.json()["success"] is False
    assert (await get(http, "getAvailableProducts"))["data"]
    sim.inject("getTerminalStatus", "http_500", times=2)
    assert (await http.get(f"{API}/getTerminalStatus")).status_code == 500
    assert (await http.get(f"{API}/getTerminalStatus")).status_code == 500
    assert (await http.get(f"{API}/getTerminalStatus")).status_code == 200
    sim.inject("*", "no_data", times=None, partner=2)
    assert "data" in await get(http, "getAddress")  # partner 1 is not affected
    bad = await http.post("/kognitive/_sim/faults", json={"endpoint": "getAddress", "kind": "explode"})
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    assert (await http.delete("/kognitive/_sim/faults")).json() == {"ok": True}
    assert sim.faults == []


# ---- the exporter's own client reads it ------------------------------------------------------------------


def exporter_for(sim: KognitiveSimulator, **extra: Any) -> Exporter:
    account = {
        "provider": "kognitive",
        "name": "dp-1",
        "auth_key": sim.credentials()[0][1],
        "api_url": f"http://sim{API}",
        "page_limit": 4,
        "request_budget_per_minute": 10000,
        **extra,
    }
    return Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=app_of(sim)))


async def poll(exp: Exporter) -> dict[str, list[Any]]:
    for job in exp.scheduler.jobs.values():
        await exp.scheduler.run_once(job)
    text = (await exp.render_now()).plain.decode()
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


async def test_the_exporter_reads_every_page_and_sees_a_pause(sim: KognitiveSimulator, http: httpx.AsyncClient) -> None:
    exp = exporter_for(sim)
    m = await poll(exp)
    assert {(s.labels["account"], s.labels["call"]): s.value for s in m["leo_exporter_job_up"]} == {
        ("dp-1", call): 1.0 for call in ("terminal_status", "service_lines", "billing_usage", "products", "addresses")
    }
    accounts = sim.accounts(1)
    assert len(m["leo_terminal_info"]) == sum(len(a.terminals) for a in accounts)
    assert len(m["leo_service_line_info"]) == sum(len(a.lines) for a in accounts)
    active = {s.labels["service_line"]: s.value for s in m["leo_service_line_active"]}
    assert active == {line.number: float(not line.paused) for a in accounts for line in a.lines}
    online = {s.labels["terminal_id"]: s.value for s in m["leo_terminal_online"]}
    assert online == {t.terminal_id: float(sim.online(t)) for a in accounts for t in a.terminals}
    # each of this key's accounts offers several plans (or is pooled), and the listing names no
    # line's plan: the limit is unknown, so there is no series rather than a 0
    assert "leo_service_line_usage_limit_bytes" not in m and m["leo_service_line_latitude_degrees"]
    assert len(m["leo_product_info"]) == len({p for a in accounts for p in _product_ids(a)})

    account, number = first_line(sim)
    await post(http, "pause", {"accountNumber": account, "serviceLineNumber": number, "endNow": True})
    m = await poll(exp)
    assert {s.labels["service_line"]: s.value for s in m["leo_service_line_active"]}[number] == 0.0
    info = {s.labels["service_line"]: s.labels for s in m["leo_service_line_info"]}
    assert info[number]["status"] == "paused"
    await exp.aclose()


def _product_ids(account: Any) -> list[str]:
    return [p.reference_id for p in account.products] + [b.product_id for p in account.products for b in p.blocks]


async def test_the_exporter_survives_injected_faults_with_its_last_good_data(sim: KognitiveSimulator) -> None:
    exp = exporter_for(sim)
    before = await poll(exp)
    terminals = sorted(s.labels["terminal_id"] for s in before["leo_terminal_info"])
    sim.inject("getTerminalStatus", "page_drop", times=None)
    sim.inject("getServiceLineDetails", "unknown_status")
    sim.inject("getBillingUsage", "bad_number")
    sim.inject("getAddress", "success_false")
    sim.inject("getAvailableProducts", "bad_json")
    after = await poll(exp)
    up = {s.labels["call"]: s.value for s in after["leo_exporter_job_up"]}
    assert up == {
        "terminal_status": 1.0,  # a dropped item is not a failure: nothing is removed
        "service_lines": 0.0,
        "billing_usage": 0.0,
        "addresses": 0.0,
        "products": 0.0,
    }
    assert sorted(s.labels["terminal_id"] for s in after["leo_terminal_info"]) == terminals
    assert len(after["leo_product_info"]) == len(before["leo_product_info"])
    assert len(after["leo_service_line_latitude_degrees"]) == len(before["leo_service_line_latitude_degrees"])
    errors = {job.status.call: job.status.last_error for job in exp.scheduler.jobs.values()}
    assert "unknown subscription_status 'frozen'" in errors["service_lines"]
    assert "'totalPriorityGB' is not a number: 'n/a'" in errors["billing_usage"]
    assert "success=false" in errors["addresses"]
    assert "not valid JSON" in errors["products"]
    sim.clear_faults()
    assert all(s.value == 1.0 for s in (await poll(exp))["leo_exporter_job_up"])
    await exp.aclose()


# ---- documented shapes by default; assumptions only on request -----------------------------------------


async def test_service_lines_carry_an_assumed_address_field_only_when_asked_for(clock: FakeClock) -> None:
    for assumed, expected in (((), False), (("service_line_address",), True)):
        sim = KognitiveSimulator(partners=1, terminals=60, seed=5, clock=clock, assumed_fields=assumed)
        headers = {"X-Auth-Key": sim.credentials()[0][1]}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_of(sim)), base_url="http://sim") as http:
            http.headers.update(headers)
            lines = await all_lines(http, limit=100)
        assert any("address_reference_id" in line for line in lines) is expected
        documented = {"service_line_number", "nickname", "account_number", "account_name", "subscription_status"}
        assert all(documented <= set(line) for line in lines)
    with pytest.raises(ValueError, match="unknown assumed Kognitive field"):
        KognitiveSimulator(partners=1, terminals=4, assumed_fields=("service_line_colour",))


def test_the_simulator_command_refuses_an_unknown_assumption() -> None:
    from leo_exporter.cli import main

    assert main(["simulator", "--assume", "kognitive.nope", "--web.listen-address", "127.0.0.1:0"]) == 2
