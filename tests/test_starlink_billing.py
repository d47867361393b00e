"""The whole Starlink billing picture: overage, previous cycles, mobile plans, data pools, balance.

The simulator's responses are held to the published schemas (tests/starlink_shapes.py), and the
exporter, run in-process against it at a fixed simulated date, must show each figure for the lines
that have it and nothing for those that do not.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from pydantic import BaseModel

from leo_exporter.simulator.app import build_app
from leo_exporter.simulator.calendar import parse_instant
from tests import starlink_shapes as shapes
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import samples_by_name

pytestmark = pytest.mark.anyio

NOW = parse_instant("2027-03-15T12:00:00Z")
API = "http://sim/starlink/api/public/v2"


async def token(http: httpx.AsyncClient, creds: Any) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
    resp = await http.post("http://sim/starlink/api/auth/connect/token", data=form)
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def content(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()["content"]


def valid(model: type[BaseModel], item: Any) -> None:
    model.model_validate_json(httpx.Response(200, json=item).content)


async def test_simulator_billing_responses_match_the_published_schemas() -> None:
    app = build_app(now=NOW)
    sim = app.state.starlink
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        seen_pool = seen_overage = seen_previous = 0
        for creds in sim.credentials():
            headers = await token(http, creds)
            body = {"previousBillingCycles": 2, "activeServiceLinesOnly": False}
            usage = content(await http.post(f"{API}/data-usage/query", json=body, headers=headers))
            assert usage["results"]
            for item in usage["results"]:
                valid(shapes.ServiceLineDataUsageForBillingCycles, item)
                seen_overage += sum(len(c["overageLines"]) for c in item["billingCycles"])
                seen_pool += len(item["billingCycles"][-1]["dataPoolUsage"])
                seen_previous += len(item["billingCycles"]) > 1
            valid(shapes.AccountBalanceResponse, content(await http.get(f"{API}/billing/balance", headers=headers)))
            pools = await http.get(f"{API}/data-pools", headers=headers)
            if pools.status_code == 403:  # an account without the pre-release feature
                assert pools.json()["isValid"] is False
                continue
            for pool in content(pools)["results"]:
                valid(shapes.DataPoolResponseV2, pool)
                assert pool["dataProductType"] in shapes.DATA_PRODUCT_TYPES
                assert {b["type"] for b in pool["dataBlocks"]} <= shapes.DATA_BLOCK_TYPES
            pool_usage = content(await http.get(f"{API}/data-pools/usage", params={"limit": 100}, headers=headers))
            for pool in pool_usage["results"]:
                valid(shapes.DataPoolUsageResponseV2, pool)
        assert seen_pool and seen_overage and seen_previous


async def _export() -> tuple[dict[str, list[Any]], Any]:
    exporter, app = simulated_exporter(build_app(now=NOW, terminals=100))  # 100: deactivated lines too
    await poll_all(exporter)
    for job in exporter.scheduler.jobs.values():  # again: a call the account may not make is asked once
        if job.status.call in ("data_pools", "balance"):
            await exporter.scheduler.run_once(job)
    return samples_by_name((await exporter.render_now()).plain.decode()), app


@pytest.fixture(scope="module")
def exported() -> tuple[dict[str, list[Any]], Any]:
    return anyio.run(_export)


async def test_overage_previous_cycle_and_mobile_for_the_lines_that_have_them(exported: Any) -> None:
    m, app = exported
    lines = {line.number: line for acc in app.state.starlink.accounts for line in acc.service_lines}
    overage = {s.labels["service_line"]: s for s in m["leo_service_line_overage_bytes"]}
    expected = {n for n, line in lines.items() if line.overage}
    assert expected and set(overage) == expected  # absent for every line without overage use
    for sample in overage.values():
        assert sample.labels["product"] == "ENT-PRIORITY-OPT-IN-PER-GB" and sample.value > 0
    cost = {s.labels["service_line"]: s for s in m["leo_service_line_overage_cost"]}
    assert set(cost) == expected
    for sln, sample in cost.items():
        price = 2.0 if lines[sln].plan.mobile else 1.0
        assert sample.labels["currency"] == "USD"
        assert sample.value == pytest.approx(overage[sln].value / 1e9 * price, abs=0.011)
    limits = {s.labels["service_line"]: s.value for s in m["leo_service_line_overage_limit_bytes"]}
    assert all(limits[sln] == 50e9 for sln in expected)

    # the previous cycle ends where the current one starts, and its totals are there by class; a
    # line deactivated in a cycle that has since ended has no current cycle: its last is the previous
    starts = {s.labels["service_line"]: s.value for s in m["leo_service_line_billing_cycle_start_timestamp_seconds"]}
    prev_end = {
        s.labels["service_line"]: s.value
        for s in m["leo_service_line_previous_cycle_end_timestamp_seconds"]
        if s.labels["provider"] == "starlink"  # Kognitive has its previous cycle too (test_kognitive_history.py)
    }
    starlink_starts = {k: v for k, v in starts.items() if k in lines}
    assert prev_end and all(prev_end[k] == starlink_starts[k] for k in prev_end if k in starlink_starts)
    ended = {k for k in prev_end if k in lines and k not in starlink_starts}
    assert all(not lines[k].active and prev_end[k] <= NOW for k in ended)
    prev = [s for s in m["leo_service_line_previous_cycle_usage_bytes"] if s.labels["provider"] == "starlink"]
    assert {s.labels["class"] for s in prev} == {"priority", "standard", "opt_in_priority", "non_billable"}

    info = {
        s.labels["service_line"]: s.labels for s in m["leo_service_line_info"] if s.labels["provider"] == "starlink"
    }
    assert all(info[n]["mobile"] == ("true" if line.plan.mobile else "false") for n, line in lines.items())

    # deactivated lines still get their usage (asked with activeServiceLinesOnly: false): this
    # cycle's, or the previous cycle's when the cycle they were deactivated in has ended
    used = {
        s.labels["service_line"]
        for name in ("leo_service_line_usage_bytes", "leo_service_line_previous_cycle_usage_bytes")
        for s in m[name]
    }
    inactive = {n for n, line in lines.items() if not line.active}
    assert inactive and inactive <= used


async def test_data_pools_capacity_use_and_each_lines_share(exported: Any) -> None:
    m, app = exported
    (pooled,) = [acc for acc in app.state.starlink.accounts if acc.pool]

    def starlink(name: str) -> list[Any]:
        return [s for s in m[name] if s.labels["provider"] == "starlink"]

    info = starlink("leo_data_pool_info")
    assert [s.labels["pool"] for s in info] == [pooled.pool]
    assert info[0].labels["product"] == "ENT-DATA-POOL-PRIORITY" and info[0].labels["name"].endswith("shared pool")
    capacity = starlink("leo_data_pool_capacity_bytes")[0].value
    used = starlink("leo_data_pool_usage_bytes")[0].value
    assert 0 < used < capacity
    shares = {s.labels["service_line"]: s.value for s in starlink("leo_data_pool_service_line_usage_bytes")}
    assert set(shares) == {line.number for line in pooled.service_lines if line.pool}
    assert sum(shares.values()) == pytest.approx(used, rel=1e-6)
    # a pool member has no limit of its own: usageLimitGB is the pool's capacity
    limits = {s.labels["service_line"] for s in m["leo_service_line_usage_limit_bytes"]}
    assert not limits & set(shares)


async def test_pools_and_balance_tolerate_an_account_without_them(exported: Any) -> None:
    m, app = exported
    requests = {
        (s.labels["account"], s.labels["endpoint"], s.labels["code"]): s.value
        for s in m["leo_exporter_api_requests_total"]
    }
    without = next(acc for acc in app.state.starlink.accounts if acc.pool is None)
    # the `account` label is the config name; the provider's number is leo_account_info's attribute
    name_of = {s.labels.get("provider_account"): s.labels["account"] for s in m["leo_account_info"]}
    label = name_of[without.number]
    # asked once in two runs, answered 403, and the job is not failing
    assert requests[(label, "/data-pools", "403")] == 1
    up = {(s.labels["account"], s.labels["call"]): s.value for s in m["leo_exporter_job_up"]}
    assert up[(label, "data_pools")] == 1
    assert not any(k[1] == "/data-pools/usage" and k[0] == label for k in requests)
    due = {s.labels["account"]: (s.labels["currency"], s.value) for s in m["leo_account_balance_due"]}
    assert due[label] == ("USD", 0.0)
    assert all(currency == "USD" for currency, _ in due.values()) and len(due) == 2
