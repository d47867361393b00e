"""Starlink's "additional services": data blocks, top-ups, the overage opt-in and a pool's automatic
top-up, as a reseller checks them at the end of a month.

First against OpenAPI-shaped responses (respx: `ServiceLineResponse.dataBlocks`,
`DataServicePlan.isOptedIntoOverage`, `DataPoolResponseV2.automaticTopUpEnabled`), then through the
simulator, whose responses are held to the published schema and whose values are known: one line
per account has recurring blocks, a top-up bought through the API shows up after the next poll,
and the pool of account 1 tops itself up.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel

from leo_exporter.providers.starlink.simulator.products import recurring_block_product, top_up_product
from leo_exporter.simulator.app import build_app
from leo_exporter.simulator.calendar import parse_instant
from tests import starlink_shapes as shapes
from tests.conftest import render
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import samples_by_name
from tests.test_starlink_client import API, make_driver, page, token_route

pytestmark = pytest.mark.anyio

NOW = parse_instant("2027-03-15T12:00:00Z")
SIM_API = "http://simulator/starlink/api/public/v2"


def summary(product: str, count: int, amount: float, unit: str = "GB") -> dict[str, object]:
    """A `DataBlockSummaryResponse`."""
    return {
        "productId": product,
        "startDate": "2026-11-01T00:00:00Z",
        "expirationDate": "2026-12-01T00:00:00Z",
        "count": count,
        "dataAmount": amount,
        "dataUnitType": unit,
    }


LINE = {  # a ServiceLineResponse, every field of the schema
    "addressReferenceId": "55ec6574-10d8-bd9c-1951-d4184f4ae467",
    "serviceLineNumber": "SL1",
    "nickname": "Vessel 1",
    "productReferenceId": "PLAN-50GB",
    "delayedProductId": None,
    "optInProductId": "OPT-IN",
    "startDate": "2025-01-01T00:00:00Z",
    "endDate": None,
    "publicIp": False,
    "active": True,
    "aviationMetadata": None,
    "dataBlocks": {
        "recurringBlocksCurrentBillingCycle": [summary("BLOCK-50GB", 2, 50.0)],
        "recurringBlocksNextBillingCycle": [summary("BLOCK-50GB", 5, 50.0)],  # a plan, not this cycle's data
        "delayedProductRecurringBlocksNextCycle": None,
        "topUpBlocksOptInPurchase": [summary("TOPUP-500MB", 1, 500.0, "MB")],
        # two top-ups of one product bought on different days add up
        "topUpBlocksOneTimePurchase": [summary("TOPUP-50GB", 1, 50.0), summary("TOPUP-50GB", 2, 50.0)],
    },
}
BARE = {**LINE, "serviceLineNumber": "SL2", "optInProductId": None, "dataBlocks": None}


def usage_item(number: str, opted_in: bool) -> dict[str, object]:
    cycle = {"startDate": "2026-11-01T00:00:00Z", "endDate": "2026-12-01T00:00:00Z", "totalPriorityGB": 1.0}
    return {
        "serviceLineNumber": number,
        "billingCycles": [cycle],
        "servicePlan": {"isMobilePlan": False, "isOptedIntoOverage": opted_in, "productId": "P", "usageLimitGB": 50},
    }


def pool(pool_id: str, automatic: bool) -> dict[str, object]:
    return {
        "dataPoolId": pool_id,
        "nickname": None,
        "automaticTopUpEnabled": automatic,
        "restricted": False,
        "dataProductType": "Land",
        "dataBlocks": [],
        "productId": "POOL",
    }


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def test_data_blocks_overage_opt_in_and_automatic_top_up_from_openapi_shaped_responses() -> None:
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        mock.get(f"{API}/service-lines").respond(json=page([LINE, BARE], 0, True))
        mock.post(f"{API}/data-usage/query").respond(
            json=page([usage_item("SL1", True), usage_item("SL2", False)], 0, True)
        )
        mock.get(f"{API}/data-pools").respond(json=page([pool("DP-1", True), pool("DP-2", False)], 0, True))
        mock.get(f"{API}/data-pools/usage").respond(json=page([], 0, True))
        await driver.poll_service_lines()
        await driver.poll_data_usage()
        await driver.poll_data_pools()
    m = samples_by_name(render(state).plain.decode())

    assert value(m, "leo_service_line_recurring_data_blocks", service_line="SL1", product="BLOCK-50GB") == 2
    assert (
        value(m, "leo_service_line_recurring_data_block_size_bytes", service_line="SL1", product="BLOCK-50GB") == 50e9
    )
    top_ups = {
        (s.labels["product"], s.labels["purchase"]): s.value
        for s in m["leo_service_line_top_up_data_blocks"]
        if s.labels["service_line"] == "SL1"
    }
    assert top_ups == {("TOPUP-50GB", "one_time"): 3, ("TOPUP-500MB", "opt_in"): 1}
    data = {(s.labels["product"], s.labels["purchase"]): s.value for s in m["leo_service_line_top_up_data_bytes"]}
    assert data == {("TOPUP-50GB", "one_time"): 150e9, ("TOPUP-500MB", "opt_in"): 500e6}
    # a line without blocks has no block series, never zeros invented from nothing
    blocks = ("leo_service_line_recurring_data_blocks", "leo_service_line_top_up_data_blocks")
    assert not [s for name in blocks for s in m.get(name, []) if s.labels["service_line"] == "SL2"]

    assert value(m, "leo_service_line_overage_opted_in", service_line="SL1") == 1
    assert value(m, "leo_service_line_overage_opted_in", service_line="SL2") == 0
    assert value(m, "leo_data_pool_automatic_top_up_enabled", pool="DP-1") == 1
    assert value(m, "leo_data_pool_automatic_top_up_enabled", pool="DP-2") == 0


async def test_an_unknown_data_unit_fails_the_job_and_keeps_the_last_good_blocks() -> None:
    driver, state = make_driver()
    odd = {**LINE, "dataBlocks": {"recurringBlocksCurrentBillingCycle": [summary("BLOCK", 1, 1.0, "PB?")]}}
    with respx.mock() as mock:
        token_route(mock)
        route = mock.get(f"{API}/service-lines")
        route.side_effect = [
            httpx.Response(200, json=page([LINE], 0, True)),
            httpx.Response(200, json=page([odd], 0, True)),
        ]
        await driver.poll_service_lines()
        with pytest.raises(Exception, match="dataUnitType"):
            await driver.poll_service_lines()
    m = samples_by_name(render(state).plain.decode())
    assert value(m, "leo_service_line_recurring_data_blocks", service_line="SL1", product="BLOCK-50GB") == 2


def valid(model: type[BaseModel], item: Any) -> None:
    model.model_validate_json(httpx.Response(200, json=item).content)


async def test_the_simulator_serves_blocks_and_top_ups_and_the_exporter_shows_them() -> None:
    exporter, app = simulated_exporter(build_app(now=NOW))
    sim = app.state.starlink
    creds = sim.credentials()[0]
    account = sim.accounts[0]
    (with_blocks,) = [line for line in account.service_lines if line.recurring_blocks]
    block = recurring_block_product(with_blocks.plan)
    top_up = top_up_product(with_blocks.plan)
    assert block is not None and top_up is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
        token = (await http.post("http://simulator/starlink/api/auth/connect/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        bought = await http.post(
            f"{SIM_API}/service-lines/{with_blocks.number}/data/top-up",
            json={"productId": top_up.product_id, "count": 3},
            headers=headers,
        )
        assert bought.status_code == 200, bought.text
        listed = (await http.get(f"{SIM_API}/service-lines/{with_blocks.number}", headers=headers)).json()["content"]
    valid(shapes.ServiceLineResponse, listed)
    await poll_all(exporter)
    m = samples_by_name((await exporter.render_now()).plain.decode())
    mine = {"service_line": with_blocks.number}

    assert listed["dataBlocks"]["recurringBlocksCurrentBillingCycle"][0]["count"] == with_blocks.recurring_blocks
    assert value(m, "leo_service_line_recurring_data_blocks", product=block.product_id, **mine) == 2
    size = value(m, "leo_service_line_recurring_data_block_size_bytes", product=block.product_id, **mine)
    assert size == block.amount_gb * 1e9
    # the line buys one block on each cycle's first day (the simulator's standing top-up), and 3 more now
    one_time = {"product": top_up.product_id, "purchase": "one_time"}
    assert [b["count"] for b in listed["dataBlocks"]["topUpBlocksOneTimePurchase"]] == [1, 3]
    assert value(m, "leo_service_line_top_up_data_blocks", **one_time, **mine) == 4
    assert value(m, "leo_service_line_top_up_data_bytes", **one_time, **mine) == 4 * top_up.amount_gb * 1e9
    # the blocks raise the limit they sit next to: the plan's, plus recurring and top-up data
    limit = value(m, "leo_service_line_usage_limit_bytes", **mine)
    assert with_blocks.plan.limit_gb is not None
    assert limit == (with_blocks.plan.limit_gb + 2 * block.amount_gb + 4 * top_up.amount_gb) * 1e9

    lines = {line.number: line for acc in sim.accounts for line in acc.service_lines}
    opted = {s.labels["service_line"]: s.value for s in m["leo_service_line_overage_opted_in"]}
    assert {n for n, v in opted.items() if v == 1} == {n for n, line in lines.items() if line.opt_in_product_id}
    assert 0 in opted.values()
    pools = {s.labels["pool"]: s.value for s in m["leo_data_pool_automatic_top_up_enabled"]}
    assert pools == {acc.pool: float(acc.index % 4 == 1) for acc in sim.accounts if acc.pool}
