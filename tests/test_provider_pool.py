"""Accounts of one provider host share connection pools, every pool one SSL context (issue #25:
3,000 accounts each with their own client took 2.9 GB and 114 s to be ready; bench/accounts.py
measures it)."""

from __future__ import annotations

import httpx
import pytest
import respx

from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.http import ApiClient, Counting
from leo_exporter.providers.pool import ACCOUNTS_PER_POOL, ssl_context
from leo_exporter.state import AccountState


def client(name: str, url: str) -> ApiClient:
    account = AccountState("oneweb", name, offline_after=180, online_from_telemetry=False)
    return ApiClient(counting=Counting(account.count_request), budget=RateBudget(6000), base_url=url, timeout=5.0)


def pool_of(api: ApiClient) -> httpx.AsyncHTTPTransport:
    assert api.lease is not None and api.lease.shared is not None  # our lease on the host's pool
    transport = api.http._transport
    assert transport is api.lease.shared.transport and isinstance(transport, httpx.AsyncHTTPTransport)
    return transport


@pytest.mark.anyio
async def test_accounts_of_one_host_share_a_pool_and_every_pool_one_ssl_context() -> None:
    one, two = client("one", "https://api.provider.test/v2"), client("two", "https://api.provider.test/other")
    elsewhere = client("three", "https://api.elsewhere.test")
    assert pool_of(one) is pool_of(two)
    assert pool_of(elsewhere) is not pool_of(one)
    shared = pool_of(one)
    assert shared._pool._ssl_context is ssl_context() is pool_of(elsewhere)._pool._ssl_context

    await one.aclose()  # one account leaves (a reload): the others keep the pool
    assert pool_of(two) is shared and not shared._pool._connections  # still open, nothing was closed
    await two.aclose()
    await elsewhere.aclose()
    again = client("four", "https://api.provider.test/v2")  # the last one closed it: a new pool now
    assert pool_of(again) is not shared
    await again.aclose()


@pytest.mark.anyio
async def test_a_pool_serves_a_bounded_number_of_accounts() -> None:
    """httpcore scans a pool's queue and connections on every change: thousands of accounts in one
    pool would make that scan the bottleneck."""
    clients = [client(f"a{i}", "https://api.provider.test") for i in range(2 * ACCOUNTS_PER_POOL + 1)]
    pools = [pool_of(c) for c in clients]
    assert len({id(p) for p in pools}) == 3
    assert pools[0] is pools[ACCOUNTS_PER_POOL - 1] is not pools[ACCOUNTS_PER_POOL]
    for c in clients:
        await c.aclose()


@pytest.mark.anyio
async def test_accounts_sharing_a_client_send_only_their_own_headers_and_no_cookie() -> None:
    """The accounts of a pool share its httpx client: a provider's cookie set on one account's
    answer, or one account's key, must never ride on another account's request."""

    def account(name: str, key: str) -> ApiClient:
        state = AccountState("kognitive", name, offline_after=180, online_from_telemetry=False)
        budget, url = RateBudget(6000), "https://api.provider.test/v1"
        headers = {"X-Api-Key": key}
        return ApiClient(
            counting=Counting(state.count_request), budget=budget, base_url=url, timeout=5, headers=headers
        )

    north, south = account("north", "north-key"), account("south", "south-key")
    assert north.http is south.http  # one client for the pool
    cookie = {"Set-Cookie": "session=north-only; Path=/"}
    with respx.mock(assert_all_called=False) as provider:
        route = provider.route().mock(return_value=httpx.Response(200, json={}, headers=cookie))
        await north.request("GET", "items", endpoint="/items")
        await south.request("GET", "/items", endpoint="/items", headers={"x-api-key": "call-key", "Accept": "text/csv"})
        await north.request("GET", "https://other.provider.test/token", endpoint="token")
    seen = [call.request for call in route.calls]
    assert [str(r.url) for r in seen] == [
        "https://api.provider.test/v1/items",
        "https://api.provider.test/v1/items",
        "https://other.provider.test/token",
    ]
    assert [r.headers.get_list("x-api-key") for r in seen] == [["north-key"], ["call-key"], ["north-key"]]
    assert seen[1].headers["accept"] == "text/csv"
    assert all("cookie" not in r.headers for r in seen)  # north's cookie was never kept
    await north.aclose()
    await south.aclose()
