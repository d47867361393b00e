"""Accounts of one provider host share connection pools, every pool one SSL context (issue #25:
3,000 accounts each with their own client took 2.9 GB and 114 s to be ready; bench/accounts.py
measures it)."""

from __future__ import annotations

import httpx
import pytest

from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.http import ApiClient, Counting
from leo_exporter.providers.pool import ACCOUNTS_PER_POOL, SharedTransport, ssl_context
from leo_exporter.state import AccountState


def client(name: str, url: str) -> ApiClient:
    account = AccountState("oneweb", name, offline_after=180, online_from_telemetry=False)
    return ApiClient(counting=Counting(account.count_request), budget=RateBudget(6000), base_url=url, timeout=5.0)


def pool_of(api: ApiClient) -> httpx.AsyncHTTPTransport:
    transport = api.http._transport  # the client's transport: our lease on the host's pool
    assert isinstance(transport, SharedTransport) and transport.shared is not None
    return transport.shared.transport


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
