"""The OneWeb simulator serves the assumed shapes (schema.SHAPES) the way the API is assumed to:
HTTP Basic, the hello check, bare JSON arrays with X-Total-Count, late quarter-hour reports."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from leo_exporter.providers.oneweb.schema import ENDPOINTS
from leo_exporter.providers.oneweb.simulator.server import PERIOD, SIGNAL_DELAY, OneWebSimulator
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW, FakeClock

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 17, 12, 7, tzinfo=UTC).timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> OneWebSimulator:
    return OneWebSimulator(accounts=2, terminals=12, seed=9, clock=clock)


@pytest.fixture
async def http(sim: OneWebSimulator) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/oneweb", routes=sim.routes())])
    creds = sim.credentials()[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim/oneweb",
        auth=httpx.BasicAuth(creds.client_id, creds.client_secret),
    ) as client:
        yield client


def path(job: str) -> str:
    return "/" + ENDPOINTS[job].path


async def test_every_call_needs_basic_credentials(sim: OneWebSimulator, http: httpx.AsyncClient) -> None:
    assert (await http.get(path("hello"))).status_code == 200
    creds = sim.credentials()[0]
    for headers in (
        {"Authorization": "Basic " + base64.b64encode(f"{creds.client_id}:wrong".encode()).decode()},
        {"Authorization": "Bearer x"},
        {"Authorization": "Basic %%%"},
    ):
        answer = await http.get(path("user_terminals"), headers=headers, auth=None)
        assert answer.status_code == 401
    async with httpx.AsyncClient(transport=http._transport, base_url="http://sim/oneweb") as anonymous:
        assert (await anonymous.get(path("hello"))).status_code == 401
    assert (await http.get("/no/such/thing")).status_code == 404


async def test_each_account_sees_its_own_fleet(sim: OneWebSimulator, http: httpx.AsyncClient) -> None:
    mine = {t["imei"] for t in (await http.get(path("user_terminals"))).json()}
    assert mine == {t.imei for t in sim.accounts[0].terminals}
    assert not mine & {t.imei for t in sim.accounts[1].terminals}


async def test_user_terminals_are_a_json_array_with_the_confirmed_fields(
    sim: OneWebSimulator, http: httpx.AsyncClient
) -> None:
    answer = await http.get(path("user_terminals"))
    body = answer.json()
    assert isinstance(body, list) and answer.headers["X-Total-Count"] == str(len(body))
    first = body[0]
    assert first["id"] == first["imei"] and len(first["imei"]) == 15 and first["imei"].isdigit()
    assert first["resourceState"] in ("online", "offline")
    assert first["place"]["externalId"].startswith("SITE-")
    assert first["product"][0]["id"].startswith("SC-")
    coords = first["location"]["features"][0]["geometry"]["coordinates"]
    term = sim.accounts[0].terminals[0]
    assert coords[:2] == [round(term.lon, 5), round(term.lat, 5)]  # GeoJSON order
    assert {c["type"] for c in first["components"]} == {"UT", "SSM_BSP", "SSM", "MIM", "MDM"}
    only = (await http.get(path("user_terminals"), params={"fields": "imei,resourceState"})).json()
    assert set(only[0]) == {"imei", "resourceState"}
    states = [t["resourceState"] for t in body]
    assert "online" in states and "offline" in states


async def test_offset_limit_paging_and_a_server_default_page(sim: OneWebSimulator, http: httpx.AsyncClient) -> None:
    full = (await http.get(path("products"))).json()
    pages = []
    for offset in range(0, len(full), 4):
        answer = await http.get(path("products"), params={"offset": offset, "limit": 4})
        assert answer.headers["X-Total-Count"] == str(len(full))
        pages += answer.json()
    assert pages == full
    assert (await http.get(path("products"), params={"limit": 0})).status_code == 400
    sim.page_default = 3
    answer = await http.get(path("products"))
    assert len(answer.json()) == 3 and answer.headers["X-Total-Count"] == str(len(full))
    sim.total_count = False
    assert "X-Total-Count" not in (await http.get(path("products"))).headers


async def test_reports_are_late_quarter_hours_and_can_be_shifted_back(
    sim: OneWebSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    reports = (await http.get(path("terminal_performance"))).json()
    stamp = datetime.fromisoformat(reports[0]["linkAvailability"]["timestamp"]).timestamp()
    assert stamp % PERIOD == 0 and clock.now - SIGNAL_DELAY - PERIOD <= stamp <= clock.now - SIGNAL_DELAY
    shifted = await http.post("/_sim/reports/shift", params={"seconds": 7200})
    assert shifted.json()["reportShift"] == 7200
    older = (await http.get(path("terminal_performance"))).json()
    assert datetime.fromisoformat(older[0]["linkAvailability"]["timestamp"]).timestamp() == stamp - 7200
    throughput = (await http.get(path("product_performance"))).json()
    assert set(throughput[0]["throughput"]) == {"expeditedForwarding", "assuredForwarding", "bestEffort"}


async def test_usage_grows_from_the_first_of_the_month(sim: OneWebSimulator, clock: FakeClock) -> None:
    acc = sim.accounts[0]
    product = next(p for p in acc.products if p.imei and not p.pool and p.plan.allowance_gb)
    first = sim.used_bytes(product, datetime(2026, 3, 1, 0, 30, tzinfo=UTC).timestamp())
    mid = sim.used_bytes(product, datetime(2026, 3, 15, tzinfo=UTC).timestamp())
    late = sim.used_bytes(product, datetime(2026, 3, 31, 23, tzinfo=UTC).timestamp())
    assert first < mid < late
    report = next(r for r in sim.usage_reports(acc) if r["bucket"][0]["product"]["id"] == product.product_id)
    bucket = report["bucket"][0]
    assert bucket["bucketBalance"][0]["validFor"]["startDateTime"] == "2026-03-01T00:00:00Z"
    assert bucket["bucketBalance"][0]["remainingValueName"].endswith("GB of data")
    assert {c["counterType"] for c in bucket["bucketCounter"]} == {"usage", "overage"}
    pooled = [r["bucket"][0] for r in sim.usage_reports(acc) if r["bucket"][0].get("subPool")]
    assert pooled and all(b["isShared"] for b in pooled)
    assert len({b["bucketBalance"][0]["remainingValue"]["amount"] for b in pooled}) == 1  # one pool


async def test_controls(sim: OneWebSimulator, http: httpx.AsyncClient) -> None:
    state = (await http.get("/_sim/state")).json()["accounts"][0]
    online = next(i for i in state["terminals"] if i not in state["offline"])
    assert (await http.post(f"/_sim/terminals/{online}/offline")).status_code == 200
    assert online in (await http.get("/_sim/state")).json()["accounts"][0]["offline"]
    terminals = {t["imei"]: t["resourceState"] for t in (await http.get(path("user_terminals"))).json()}
    assert terminals[online] == "offline"
    assert (await http.post("/_sim/terminals/000/online")).status_code == 404
    assert (await http.post(f"/_sim/terminals/{online}/explode")).status_code == 404


def test_same_seed_same_fleet(clock: FakeClock) -> None:
    one = OneWebSimulator(accounts=1, terminals=6, seed=4, clock=clock)
    two = OneWebSimulator(accounts=1, terminals=6, seed=4, clock=clock)
    assert one.user_terminals(one.accounts[0]) == two.user_terminals(two.accounts[0])
    assert one.usage_reports(one.accounts[0]) == two.usage_reports(two.accounts[0])
    other = OneWebSimulator(accounts=1, terminals=6, seed=5, clock=clock)
    assert one.credentials() != other.credentials()


def test_the_demo_config_has_a_oneweb_account() -> None:
    app = build_app(accounts=1, terminals=8, now=SIMULATED_NOW)
    accounts = [a for a in demo_config("http://sim", app)["accounts"] if a["provider"] == "oneweb"]
    creds = app.state.oneweb.credentials()
    assert [a["client_id"] for a in accounts] == [c.client_id for c in creds]
    assert accounts[0]["api_url"] == "http://sim/oneweb" and accounts[0]["name"] == f"oneweb-{creds[0].partner_id}"
