"""One connection pool per provider host, shared by every account that talks to it.

An httpx client with its own transport builds its own SSL context (loading the CA bundle:
about 1 MB and 30 ms each): 3,000 accounts took 2.9 GB and 114 s before the first poll. The
accounts of one host share one transport here (and every transport one SSL context); each
client holds a lease that closes the transport when the last account of that host lets go.
Transports are kept per event loop: a pool's connections belong to the loop that opened them.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx
from anyio.lowlevel import RunVar

# No cap on connections: accounts' long polls (the telemetry stream lingers up to 65 s) must
# never queue behind another account's; idle ones kept are bounded.
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=30.0)


@cache
def ssl_context() -> ssl.SSLContext:
    """The one SSL context of the process (certificate checks on, the system's CA bundle)."""
    return ssl.create_default_context()


class _Shared:
    def __init__(self) -> None:
        self.transport = httpx.AsyncHTTPTransport(verify=ssl_context(), limits=LIMITS)
        self.leases = 0


_POOLS: RunVar[dict[str, _Shared]] = RunVar("provider_pools")


def _pools() -> dict[str, _Shared]:
    try:
        return _POOLS.get()
    except LookupError:
        pools: dict[str, _Shared] = {}
        _POOLS.set(pools)
        return pools


def host_key(url: str) -> str:
    """scheme://host:port of a URL: what a pool is shared by."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


class SharedTransport(httpx.AsyncBaseTransport):
    """One account's lease on its host's pool: requests go through it; closing gives it back."""

    def __init__(self, url: str):
        self.key = host_key(url)
        pools = _pools()
        shared = pools.get(self.key)
        if shared is None:
            shared = pools[self.key] = _Shared()
        shared.leases += 1
        self.shared: _Shared | None = shared

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.shared is None:
            raise httpx.TransportError("the account's HTTP client is closed")
        return await self.shared.transport.handle_async_request(request)

    async def aclose(self) -> None:
        shared, self.shared = self.shared, None
        if shared is None:
            return
        shared.leases -= 1
        if shared.leases <= 0:
            pools = _pools()
            if pools.get(self.key) is shared:
                del pools[self.key]
            await shared.transport.aclose()
