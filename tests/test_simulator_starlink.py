"""The Starlink V2 simulator serves the shapes and semantics of the reference (§1 stream, §2 management)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import h3
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from leo_exporter.providers.starlink.simulator.server import SimAccount, StarlinkSimulator
from leo_exporter.simulator.app import build_app, demo_config
from leo_exporter.simulator.calendar import cycle_bounds
from leo_exporter.simulator.responses import iso
from tests.conftest import SIMULATED_NOW

pytestmark = pytest.mark.anyio

API = "/starlink/api/public/v2"
TOKEN_URL = "/starlink/api/auth/connect/token"
START = datetime(2026, 3, 17, 12, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """Time that only moves when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> StarlinkSimulator:
    return StarlinkSimulator(accounts=2, terminals=40, seed=7, clock=clock, row_interval=15.0, token_ttl=900.0)


@pytest.fixture
async def client(sim: StarlinkSimulator) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/starlink", routes=sim.routes())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        yield http


async def bearer(http: httpx.AsyncClient, creds: SimAccount) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
    resp = await http.post(TOKEN_URL, data=form)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def stream(http: httpx.AsyncClient, headers: dict[str, str], batch: int = 65000) -> dict[str, Any]:
    resp = await http.post(f"{API}/telemetry/stream", json={"batchSize": batch, "maxLingerMs": 0}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def decode(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts, looked up by column name the way a consumer must."""
    columns = body["data"]["columnNamesByDeviceType"]
    out = []
    for row in body["data"]["values"]:
        names = columns[row[0]]
        assert len(names) == len(row)
        out.append(dict(zip(names, row, strict=True)))
    return out


def alerts_of(row: dict[str, Any]) -> list[int]:
    return row.get("ActiveAlerts", row.get("ActiveAlert"))


# ---- auth -------------------------------------------------------------------------------------------------


async def test_token_flow_and_expiry(client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock) -> None:
    creds = sim.credentials()[0]
    assert creds.client_id == "sim-starlink-1"
    assert [c.client_id for c in sim.credentials()] == ["sim-starlink-1", "sim-starlink-2"]
    resp = await client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    token = resp.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert token["scope"] == ""
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await client.get(f"{API}/account", headers=headers)).status_code == 200

    wrong = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": "nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client"}
    grant = await client.post(TOKEN_URL, data={"grant_type": "password", "client_id": creds.client_id})
    assert grant.status_code == 400
    assert grant.json() == {"error": "unsupported_grant_type"}
    basic = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    assert basic.status_code == 200

    assert (await client.get(f"{API}/account")).status_code == 401
    assert (await client.get(f"{API}/account", headers={"Authorization": "Bearer forged"})).status_code == 401
    clock.advance(899)
    assert (await client.get(f"{API}/account", headers=headers)).status_code == 200
    clock.advance(2)
    expired = await client.post(f"{API}/telemetry/stream", json={}, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["isValid"] is False


# ---- telemetry stream -------------------------------------------------------------------------------------


async def test_stream_cursor_returns_only_new_rows(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    creds = sim.credentials()[0]
    headers = await bearer(client, creds)
    first = decode(await stream(client, headers))
    # One tick already happened: every online terminal and its router reported once.
    online = set(sim.terminal_ids(creds.account_number)) - sim.offline_terminal_ids(creds.account_number)
    assert {r["DeviceId"] for r in first if r["DeviceType"] == "u"} == {"ut" + t for t in online}
    assert all(r["UtcTimestampNs"] <= clock() * 1e9 for r in first)

    again = await stream(client, headers)
    assert again["data"]["values"] == []  # nothing new: at-most-once, no replay

    clock.advance(15)
    second = decode(await stream(client, headers))
    assert {r["DeviceId"] for r in second if r["DeviceType"] == "u"} == {"ut" + t for t in online}
    newest_first = max(r["UtcTimestampNs"] for r in first)
    assert min(r["UtcTimestampNs"] for r in second if r["DeviceType"] == "u") > newest_first - 2e9
    by_device = {r["DeviceId"]: r["UtcTimestampNs"] for r in first}
    assert all(r["UtcTimestampNs"] > by_device[r["DeviceId"]] for r in second if r["DeviceId"] in by_device)


async def test_two_service_accounts_have_independent_cursors(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    primary = sim.credentials()[0]
    second = sim.add_service_account(primary.account_number)
    assert second.account_number == primary.account_number
    assert second.client_id != primary.client_id
    h1, h2 = await bearer(client, primary), await bearer(client, second)
    rows1 = decode(await stream(client, h1))
    assert (await stream(client, h1))["data"]["values"] == []
    rows2 = decode(await stream(client, h2))  # the first reader did not consume the second's rows
    key = lambda r: (r["DeviceId"], r["UtcTimestampNs"])
    assert sorted(map(key, rows1)) == sorted(map(key, rows2))
    other = decode(await stream(client, await bearer(client, sim.credentials()[1])))
    assert not {r["DeviceId"] for r in other} & {r["DeviceId"] for r in rows1}  # accounts do not mix


async def test_full_batches_when_behind_and_batch_size_respected(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    headers = await bearer(client, sim.credentials()[0])
    clock.advance(15 * 10)  # 11 ticks waiting
    sizes, seen = [], set()
    for _ in range(200):
        rows = decode(await stream(client, headers, batch=37))
        sizes.append(len(rows))
        seen.update((r["DeviceId"], r["UtcTimestampNs"]) for r in rows)
        if len(rows) < 37:
            break
    assert sizes[0] == 37
    assert all(s == 37 for s in sizes[:-1])
    assert sizes[-1] < 37
    assert len(seen) == sum(sizes)  # no row delivered twice
    u_rows = [k for k in seen if k[0].startswith("ut")]
    online = len(sim.terminal_ids(sim.credentials()[0].account_number)) - len(
        sim.offline_terminal_ids(sim.credentials()[0].account_number)
    )
    assert len(u_rows) == 11 * online
    ip_rows = [k for k in seen if k[0].startswith("ip-ut")]
    assert ip_rows
    assert all(k[0][3:] in {u[0] for u in u_rows} for k in ip_rows)


async def test_retention_skips_rows_older_than_eight_hours(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    headers = await bearer(client, sim.credentials()[1])
    clock.advance(9 * 3600)
    headers = await bearer(client, sim.credentials()[1])
    rows = decode(await stream(client, headers, batch=50))
    assert min(r["UtcTimestampNs"] for r in rows) >= (clock() - 8 * 3600 - 2) * 1e9


@pytest.mark.serial
async def test_long_poll_waits_at_most_max_linger(client: httpx.AsyncClient, sim: StarlinkSimulator) -> None:
    headers = await bearer(client, sim.credentials()[0])
    await stream(client, headers)
    started = time.monotonic()
    resp = await client.post(f"{API}/telemetry/stream", json={"batchSize": 10, "maxLingerMs": 120}, headers=headers)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert resp.json()["data"]["values"] == []
    assert 0.1 <= elapsed < 1.0


async def test_columns_reorder_between_responses_and_rows_follow(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    headers = await bearer(client, sim.credentials()[0])
    orders, future_seen = [], 0
    for _ in range(6):
        body = await stream(client, headers)
        columns = body["data"]["columnNamesByDeviceType"]
        assert all(columns[code][0] == "DeviceType" for code in ("u", "r", "i"))
        orders.append(tuple(columns["u"]))
        future_seen += "SimFutureMetric" in columns["u"]
        for row in decode(body):
            if row["DeviceType"] == "u":
                assert row["DeviceId"].startswith("ut")
                assert isinstance(row["UtcTimestampNs"], int)
                assert 0 <= row["DownlinkThroughput"] <= 200
                assert 0 <= row["UplinkThroughput"] <= 30
                assert row["RunningSoftwareVersion"].startswith("20")
                assert isinstance(alerts_of(row), list)
                assert h3.get_resolution(f"{row['H3CellId']:x}") == 5
            elif row["DeviceType"] == "r":
                assert row["DeviceId"].startswith("Router-")
                assert row["DishId"].startswith("ut")
                assert row["WanRxBytes"] > 1e9
                assert row["Clients"] == row["Clients2Ghz"] + row["Clients5Ghz"] + row["ClientsEth"]
            else:
                assert row["DeviceId"].startswith("ip-ut")
                assert isinstance(row["Ipv6Ue"], list)
        clock.advance(15)
    assert len(set(orders)) > 1
    assert future_seen == 1  # the 5th response carries an extra, unknown column


async def test_alert_column_spelling_differs_by_account(client: httpx.AsyncClient, sim: StarlinkSimulator) -> None:
    spellings = []
    for creds in sim.credentials():
        body = await stream(client, await bearer(client, creds))
        u, r = body["data"]["columnNamesByDeviceType"]["u"], body["data"]["columnNamesByDeviceType"]["r"]
        spellings.append({c for c in u if c.startswith("ActiveAlert")})
        assert {c for c in r if c.startswith("ActiveAlert")} == spellings[-1]
        enums = body["metadata"]["enums"]
        assert enums["AlertsByDeviceType"]["u"]["53"] == "actuator_motor_stuck"
        assert enums["AlertsByDeviceType"]["u"]["82"] == "software_update_reboot_pending"
        assert enums["AlertsByDeviceType"]["r"] == {
            "52": "sandbox_disabled",
            "54": "geo_fenced",
            "55": "offline_networks_disabled",
        }
    assert spellings == [{"ActiveAlerts"}, {"ActiveAlert"}]


async def test_each_account_has_a_critical_alert_and_offline_terminal(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    for creds in sim.credentials():
        headers = await bearer(client, creds)
        critical = sim.critical_terminal_id(creds.account_number)
        offline = sim.offline_terminal_ids(creds.account_number)
        lines = {line["serviceLineNumber"]: line for line in await all_pages(client, headers, "service-lines")}
        terminals = {t["userTerminalId"]: t for t in await all_pages(client, headers, "user-terminals")}
        assert any(lines[terminals[t]["serviceLineNumber"]]["active"] for t in offline)
        hits = 0
        for _ in range(8):
            rows = decode(await stream(client, headers))
            assert not {r["DeviceId"] for r in rows} & {"ut" + t for t in offline}
            crit = [r for r in rows if r["DeviceId"] == f"ut{critical}"]
            hits += bool(set(alerts_of(crit[0])) & {53, 80})
            clock.advance(15)
        assert hits >= 5


# ---- management ------------------------------------------------------------------------------------------


async def all_pages(http: httpx.AsyncClient, headers: dict[str, str], what: str) -> list[dict[str, Any]]:
    results, page = [], 0
    while True:
        body = (await http.get(f"{API}/{what}", params={"page": page}, headers=headers)).json()
        assert body["isValid"] is True
        assert body["errors"] == []
        results += body["content"]["results"]
        if body["content"]["isLastPage"]:
            return results
        page += 1


async def test_paging_to_last_page_with_fixed_page_size(clock: FakeClock) -> None:
    sim = StarlinkSimulator(accounts=1, terminals=230, seed=3, clock=clock)
    app = Starlette(routes=[Mount("/starlink", routes=sim.routes())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        headers = await bearer(http, sim.credentials()[0])
        number = sim.credentials()[0].account_number
        pages = []
        for page in range(3):
            content = (await http.get(f"{API}/user-terminals?page={page}", headers=headers)).json()["content"]
            assert content["pageIndex"] == page
            assert content["limit"] == 100
            assert content["totalCount"] == 230
            pages.append(content)
        assert [len(p["results"]) for p in pages] == [100, 100, 30]
        assert [p["isLastPage"] for p in pages] == [False, False, True]
        beyond = (await http.get(f"{API}/user-terminals?page=9", headers=headers)).json()["content"]
        assert beyond["results"] == []
        assert beyond["isLastPage"] is True

        terminals = [t for p in pages for t in p["results"]]
        assert [t["userTerminalId"] for t in terminals] == sim.terminal_ids(number)
        ut = terminals[0]
        assert ut["kitSerialNumber"].startswith("KIT")
        assert ut["dishSerialNumber"].startswith("2DHT")
        assert ut["l2VpnCircuits"] == []
        assert "active" not in ut
        routers = [r for t in terminals for r in t["routers"]]
        assert [r["routerId"] for r in routers] == sim.router_ids(number)
        assert 0.55 < len(routers) / len(terminals) < 0.85
        assert all(r["hardwareVersion"] is None and r["lastBonded"] is None for r in routers)

        lines = await all_pages(http, headers, "service-lines")
        assert [line["serviceLineNumber"] for line in lines] == sim.service_lines(number)
        assert len(lines) > len(terminals)  # spare lines without a terminal
        assert any(not line["active"] and line["endDate"] for line in lines)
        assert all(line["endDate"] is None for line in lines if line["active"])
        assert all(line["serviceLineNumber"].startswith("AST-") for line in lines)
        assert set(lines[0]["dataBlocks"]) == {
            "recurringBlocksCurrentBillingCycle",
            "recurringBlocksNextBillingCycle",
            "delayedProductRecurringBlocksNextCycle",
            "topUpBlocksOptInPurchase",
            "topUpBlocksOneTimePurchase",
        }


async def test_account_and_unknown_path(client: httpx.AsyncClient, sim: StarlinkSimulator) -> None:
    headers = await bearer(client, sim.credentials()[1])
    content = (await client.get(f"{API}/account", headers=headers)).json()["content"]
    assert content["accountNumber"] == sim.credentials()[1].account_number
    assert content["accountNumber"].startswith("ACC-")
    assert len(content["accountNumber"]) == len("ACC-511274-31364-54")
    assert content["regionCode"] == "US"
    assert content["activeSuspensions"] == []
    missing = await client.get(f"{API}/routers/Router-0", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["isValid"] is False
    assert missing.json()["content"] is None


async def test_data_usage_shape_and_totals(client: httpx.AsyncClient, sim: StarlinkSimulator) -> None:
    headers = await bearer(client, sim.credentials()[0])
    resp = await client.post(f"{API}/data-usage/query?page=0&limit=250", json={}, headers=headers)
    content = resp.json()["content"]
    results = content["results"]
    assert content["isLastPage"] is True
    assert content["totalCount"] == len(results)
    listed = await all_pages(client, headers, "service-lines")
    active = {line["serviceLineNumber"] for line in listed if line["active"]}
    # recurring data blocks and this cycle's top-ups raise a line's limit (by count x GB each)
    recurring = {
        line["serviceLineNumber"]: sum(b["count"] * b["dataAmount"] for b in blocks)
        for line in listed
        if (
            blocks := line["dataBlocks"]["recurringBlocksCurrentBillingCycle"]
            + line["dataBlocks"]["topUpBlocksOneTimePurchase"]
        )
    }
    assert recurring, "a line of the account has recurring data blocks"
    assert {r["serviceLineNumber"] for r in results} == active  # activeServiceLinesOnly defaults to true
    near_limit = overage = 0
    pools = {line.number: line.pool for acc in sim.accounts for line in acc.service_lines if line.pool}
    # each line's cycles start on its own day of the month (the clock says 2026-03-17, 12:00)
    anchors = {line.number: line.cycle_day for acc in sim.accounts for line in acc.service_lines}
    assert len(set(anchors.values())) > 10
    for result in results:
        cycles = result["billingCycles"]
        assert len(cycles) == 2  # previousBillingCycles defaults to 1, plus the current one
        anchor = anchors[result["serviceLineNumber"]]
        start, end = cycle_bounds(anchor, datetime(2026, 3, 17, 12, tzinfo=UTC))
        assert (cycles[-1]["startDate"], cycles[-1]["endDate"]) == (iso(start), iso(end))
        assert cycles[0]["endDate"] == cycles[-1]["startDate"]
        assert result["lastUpdated"] == "2026-03-16T23:59:59Z"
        current = cycles[-1]["dailyDataUsage"]
        assert len(current) == (datetime(2026, 3, 17, tzinfo=UTC) - start).days
        if current:
            assert current[0]["date"] == iso(start)
            assert current[-1]["date"] == "2026-03-16T00:00:00Z"
        else:  # the first day of its cycle: yesterday closed the previous one
            assert cycles[0]["dailyDataUsage"][-1]["date"] == "2026-03-16T00:00:00Z"
        for cycle in cycles:
            days = cycle["dailyDataUsage"]
            for total, field in (
                ("totalPriorityGB", "priorityGB"),
                ("totalStandardGB", "standardGB"),
                ("totalOptInPriorityGB", "optInPriorityGB"),
                ("totalNonBillableGB", "nonBillableGB"),
            ):
                assert cycle[total] == pytest.approx(sum(d[field] for d in days), abs=0.011)
            assert all(d["optInPriorityGB"] <= d["priorityGB"] for d in days)
            # overage lines only with opt-in use beyond the limit ("lines with no usage are dropped")
            if cycle["totalOptInPriorityGB"] > 0:
                (over,) = cycle["overageLines"]
                assert over["overageAmountGB"] == pytest.approx(cycle["totalOptInPriorityGB"], abs=0.011)
                assert over["overagePrice"] == pytest.approx(over["overageAmountGB"] * over["pricePerGB"], abs=0.011)
                assert over["consumedAmountGB"] <= over["usageLimitGB"]
                overage += 1
            else:
                assert cycle["overageLines"] == []
        pooled = [p["dataPoolId"] for p in cycles[-1]["dataPoolUsage"]]
        assert pooled == ([pools[result["serviceLineNumber"]]] if result["serviceLineNumber"] in pools else [])
        plan = result["servicePlan"]
        if result["serviceLineNumber"] in pools:  # a Priority data plan: the pool's capacity
            assert (
                plan["usageLimitGB"] >= 100
                and plan["dataPoolUsage"]["dataPoolId"] == pools[result["serviceLineNumber"]]
            )
        else:
            extra = recurring.get(result["serviceLineNumber"], 0.0)
            assert plan["usageLimitGB"] in (50.0 + extra, 1000.0 + extra, 5000.0 + extra, None)
        assert plan["dataCategoryMapping"] == {}
        if plan["usageLimitGB"] and cycles[-1]["totalPriorityGB"] > 0.9 * plan["usageLimitGB"]:
            near_limit += 1
    assert near_limit >= 1
    assert overage >= 1

    one = sorted(active)[0]
    body = {"serviceLineNumbers": [one], "previousBillingCycles": 3, "activeServiceLinesOnly": True}
    only = (await client.post(f"{API}/data-usage/query", json=body, headers=headers)).json()["content"]
    assert [r["serviceLineNumber"] for r in only["results"]] == [one]
    assert len(only["results"][0]["billingCycles"]) == 4
    everything = (
        await client.post(f"{API}/data-usage/query", json={"activeServiceLinesOnly": False}, headers=headers)
    ).json()["content"]
    assert everything["totalCount"] == len(sim.service_lines(sim.credentials()[0].account_number))
    assert everything["limit"] == 50

    too_big = await client.post(f"{API}/data-usage/query?limit=251", json={}, headers=headers)
    assert too_big.status_code == 400
    assert too_big.json()["isValid"] is False
    assert too_big.json()["errors"][0]["errorMessage"]
    assert too_big.json()["content"] is None
    bad = await client.post(f"{API}/data-usage/query", json={"previousBillingCycles": "x"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["isValid"] is False


async def test_stream_body_validation(client: httpx.AsyncClient, sim: StarlinkSimulator) -> None:
    creds = sim.credentials()[0]
    headers = await bearer(client, creds)
    for body in (
        {"accountNumber": creds.account_number, "batchSize": 10, "maxLingerMs": 10},
        {"batchSize": 65001},
        {"batchSize": 0},
        {"maxLingerMs": 65001},
        {"batchSize": "10"},
    ):
        resp = await client.post(f"{API}/telemetry/stream", json=body, headers=headers)
        assert resp.status_code == 400, body
        assert resp.json()["isValid"] is False
        assert resp.json()["errors"][0]["errorMessage"]
    broken = await client.post(f"{API}/telemetry/stream", content=b"{nope", headers=headers)
    assert broken.status_code == 400


# ---- test controls ---------------------------------------------------------------------------------------


async def test_sim_controls_offline_online_and_alerts(
    client: httpx.AsyncClient, sim: StarlinkSimulator, clock: FakeClock
) -> None:
    creds = sim.credentials()[1]
    headers = await bearer(client, creds)
    offline = sim.offline_terminal_ids(creds.account_number)
    target = next(t for t in sim.terminal_ids(creds.account_number) if t not in offline)
    await stream(client, headers)

    assert (await client.post(f"/starlink/_sim/terminals/{target}/offline")).status_code == 200
    assert target in sim.offline_terminal_ids(creds.account_number)
    clock.advance(15)
    assert f"ut{target}" not in {r["DeviceId"] for r in decode(await stream(client, headers))}

    await client.post(f"/starlink/_sim/terminals/ut{target}/online")  # the stream's id works too
    resp = await client.post(f"/starlink/_sim/terminals/{target}/alerts", json={"codes": [53, 66]})
    assert resp.status_code == 200
    state = (await client.get("/starlink/_sim/state")).json()
    account = next(a for a in state["accounts"] if a["accountNumber"] == creds.account_number)
    assert account["forcedAlerts"] == {target: [53, 66]}
    assert target not in account["offline"]
    clock.advance(15)
    rows = [r for r in decode(await stream(client, headers)) if r["DeviceId"] == f"ut{target}"]
    assert len(rows) == 1
    assert alerts_of(rows[0]) == [53, 66]

    await client.post(f"/starlink/_sim/terminals/{target}/alerts", json={"codes": []})
    assert (await client.get("/starlink/_sim/state")).json()["accounts"][1]["forcedAlerts"] == {}
    assert (await client.post("/starlink/_sim/terminals/nope/offline")).status_code == 404
    assert (await client.post(f"/starlink/_sim/terminals/{target}/alerts", json={"codes": "x"})).status_code == 400


# ---- app ---------------------------------------------------------------------------------------------------


async def test_build_app_mounts_starlink_and_config_points_at_it() -> None:
    app = build_app(accounts=3, terminals=10, seed=2, now=SIMULATED_NOW)
    sim = app.state.starlink
    assert isinstance(sim, StarlinkSimulator)
    assert [len(a.terminals) for a in sim.accounts] == [4, 3, 3]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert "Starlink" in index.text
        config = demo_config("http://127.0.0.1:9817/", app)
        starlink = [a for a in config["accounts"] if a["provider"] == "starlink"]
        assert [a["name"] for a in starlink] == ["sim-starlink-1", "sim-starlink-2", "sim-starlink-3"]
        account = starlink[2]
        assert account["provider"] == "starlink"
        assert account["api_url"] == "http://127.0.0.1:9817/starlink/api/public/v2"
        assert account["auth_url"] == "http://127.0.0.1:9817/starlink/api/auth/connect/token"
        form = {"grant_type": "client_credentials", "client_id": account["client_id"]}
        resp = await http.post(TOKEN_URL, data={**form, "client_secret": account["client_secret"]})
        assert resp.status_code == 200


def test_fleet_is_deterministic_and_unique(clock: FakeClock) -> None:
    a = StarlinkSimulator(accounts=2, terminals=300, seed=5, clock=clock)
    b = StarlinkSimulator(accounts=2, terminals=300, seed=5, clock=clock)
    c = StarlinkSimulator(accounts=2, terminals=300, seed=6, clock=clock)
    numbers = [creds.account_number for creds in a.credentials()]
    assert numbers == [creds.account_number for creds in b.credentials()]
    assert numbers != [creds.account_number for creds in c.credentials()]
    ids = [t for n in numbers for t in a.terminal_ids(n)]
    assert len(ids) == len(set(ids)) == 300
    for n in numbers:
        assert a.offline_terminal_ids(n) == b.offline_terminal_ids(n)
        assert 0.03 <= len(a.offline_terminal_ids(n)) / 150 <= 0.05
    rows_a = a.streams[0].u_rows(3, list(range(20)), False)
    assert rows_a == b.streams[0].u_rows(3, list(range(20)), False)
