"""Connection pools shared by the accounts of one provider host, and one SSL context for all.

An httpx client with its own transport builds its own SSL context (loading the CA bundle:
about 1 MB and 30 ms each): 3,000 accounts took 2.9 GB and 114 s before the first poll. Here
every transport uses the process's one SSL context, and the accounts of one host share pools,
ACCOUNTS_PER_POOL accounts to a pool: httpcore looks through its queued requests and its
connections whenever one changes, so one pool for thousands of accounts (tens of thousands of
requests at start) would cost time that grows with the square of them. The accounts of a pool
share its httpx client too (about 2.7 KiB an account otherwise: headers, cookie jar, URLs):
each request brings its account's URL, headers and auth, and the client keeps no cookie, so
nothing of one account reaches another's request. Each account holds a lease that closes the
pool when the last account of it lets go. Pools are kept per event loop: a pool's connections
belong to the loop that opened them.
"""

from __future__ import annotations

import ssl
from functools import cache
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from anyio.lowlevel import RunVar

# No cap on connections: accounts' long polls (the telemetry stream lingers up to 65 s) must
# never queue behind another account's; idle ones kept are bounded.
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=30.0)
ACCOUNTS_PER_POOL = 32


@cache
def ssl_context() -> ssl.SSLContext:
    """The one SSL context of the process (certificate checks on, the system's CA bundle)."""
    return ssl.create_default_context()


def client_on(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """A client that holds nothing of an account: no base URL, headers or auth (each request
    brings its own), no redirects followed, and a cookie jar that refuses every cookie."""
    refusing = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(transport=transport, cookies=refusing, follow_redirects=False)


class _Shared:
    def __init__(self) -> None:
        self.transport = httpx.AsyncHTTPTransport(verify=ssl_context(), limits=LIMITS)
        self.client = client_on(self.transport)
        self.leases = 0


_POOLS: RunVar[dict[str, list[_Shared]]] = RunVar("provider_pools")


def _pools() -> dict[str, list[_Shared]]:
    """host -> its pools, on this event loop."""
    try:
        return _POOLS.get()
    except LookupError:
        pools: dict[str, list[_Shared]] = {}
        _POOLS.set(pools)
        return pools


def host_key(url: str) -> str:
    """scheme://host:port of a URL: what a pool is shared by."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


class PoolLease:
    """One account's place in its host's pool: its requests go through `client`; closing gives
    the place back."""

    def __init__(self, url: str):
        self.key = host_key(url)
        pools = _pools().setdefault(self.key, [])
        shared = next((pool for pool in pools if pool.leases < ACCOUNTS_PER_POOL), None)
        if shared is None:
            shared = _Shared()
            pools.append(shared)
        shared.leases += 1
        self.shared: _Shared | None = shared

    @property
    def client(self) -> httpx.AsyncClient:
        if self.shared is None:
            raise httpx.TransportError("the account's HTTP client is closed")
        return self.shared.client

    async def aclose(self) -> None:
        shared, self.shared = self.shared, None
        if shared is None:
            return
        shared.leases -= 1
        if shared.leases <= 0:
            pools = _pools().get(self.key, [])
            if shared in pools:
                pools.remove(shared)
            await shared.client.aclose()  # and its transport
