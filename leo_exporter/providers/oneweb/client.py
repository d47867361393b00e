"""OneWeb API calls: HTTP Basic on every request, the hello check, lists with or without paging.

Authentication (confirmed): `client_id:client_secret` as HTTP Basic on every request; there is
no token. Before the first call, and again after the API refused the credentials, the client
sends the connectivity check `GET hello/v1/oneweb/world`: 200 means the credentials work
(logged once), 401 or 404 means they do not (the confirmed client reports a 404 there as
"Could not authenticate"). Either way `leo_exporter_account_authenticated` says so.

Lists (paging is not documented, so both kinds are handled):

- `pagination: auto` (default) asks without paging parameters, as the confirmed client does. If
  the answer carries `X-Total-Count` larger than what came, the server pages by itself: the rest
  is fetched with `offset`/`limit`.
- `offset` sends `offset`/`limit` (TM Forum style) from the first request and walks until
  `X-Total-Count` is reached, or, without that header, until a page comes back short.
- `none` never pages; a larger `X-Total-Count` is logged as a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from leo_exporter.providers.errors import AuthenticationFailed, BadResponse, NotFound, ProviderError
from leo_exporter.providers.http import ApiClient, decode_json
from leo_exporter.providers.idlelock import IdleLock
from leo_exporter.providers.oneweb.config import OneWebAccount
from leo_exporter.providers.oneweb.schema import ENDPOINTS, LIST_KEYS

MAX_PAGES = 10000  # a safety stop should a server keep answering full pages


def as_list(body: Any, what: str) -> list[Any]:
    """The records of a list response: a bare JSON array (confirmed for user terminals), or an
    object holding the array under one of LIST_KEYS (tolerated, in case other resources wrap it)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in LIST_KEYS:
            items = body.get(key)
            if isinstance(items, list):
                return items
        if any(key in body and body[key] is None for key in LIST_KEYS):
            return []  # `results: null` (or `items: null`) is an empty page
        keys = ", ".join(sorted(str(k) for k in body)[:8]) or "none"
        raise BadResponse(f"{what}: expected a JSON array, got an object (keys: {keys})")
    raise BadResponse(f"{what}: expected a JSON array, got {type(body).__name__}")


def total_count(response: httpx.Response) -> int | None:
    raw = response.headers.get("X-Total-Count")
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


class OneWebClient:
    def __init__(
        self,
        config: OneWebAccount,
        api: ApiClient,
        log: logging.LoggerAdapter,
    ):
        self.config = config
        self.api = api
        self.log = log
        self.verified = False  # the hello check passed since the last credential error
        self.ever_verified = False
        self.refused = False  # the last hello check said the credentials are wrong
        self._lock = IdleLock()
        self._warned_total: set[str] = set()

    # ---- credentials -----------------------------------------------------------------------------

    async def ensure_hello(self) -> None:
        """Run the hello check unless it passed since the last credential error (one at a time)."""
        if self.verified:
            return
        async with self._lock:
            if not self.verified:
                await self.hello()

    async def hello(self) -> None:
        path = self.config.paths.hello
        endpoint = "/" + path
        try:
            await self.api.request("GET", path, endpoint=endpoint)
        except (AuthenticationFailed, NotFound) as exc:
            self.api.authenticated(False)
            status = "401" if isinstance(exc, AuthenticationFailed) else "404"
            message = (
                f"OneWeb refused the credentials of client_id {self.config.client_id!r}: GET {endpoint} answered "
                f"HTTP {status}. Check client_id and client_secret (OneWeb developer portal, 'My applications') "
                f"and that api_url {self.config.api_url} is the environment they were issued for "
                f"(api.oneweb.net or api.oneweb.training)"
            )
            if not self.refused:  # once per failure spell; the failing jobs say it again, deduplicated
                self.log.error("authentication failed: %s", message)
            self.refused = True
            raise AuthenticationFailed(message) from None
        except ProviderError as exc:
            # Not an answer about the credentials (timeout, 5xx, 429): the data call may still work,
            # and says so itself if it does not. Check again next time.
            self.log.warning("connectivity check GET %s failed, trying the API anyway: %s", endpoint, exc)
            return
        self.api.authenticated(True)
        self.verified = True
        self.refused = False
        if not self.ever_verified:
            self.log.info("connected to OneWeb at %s: credentials accepted (GET %s)", self.config.api_url, endpoint)
        else:
            self.log.info("OneWeb accepts the credentials again (GET %s)", endpoint)
        self.ever_verified = True

    def _credentials_refused(self, endpoint: str, exc: AuthenticationFailed) -> AuthenticationFailed:
        self.verified = False
        self.api.authenticated(False)
        return AuthenticationFailed(
            f"OneWeb refused the credentials of client_id {self.config.client_id!r} on GET {endpoint}; "
            f"the hello check runs again before the next call ({exc})"
        )

    # ---- calls -----------------------------------------------------------------------------------

    async def get(self, job: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """One authenticated GET (after the hello check); 404s name the path setting to correct."""
        await self.ensure_hello()
        endpoint = "/" + path
        try:
            return await self.api.request("GET", path, endpoint=endpoint, params=params)
        except AuthenticationFailed as exc:
            raise self._credentials_refused(endpoint, exc) from None
        except NotFound as exc:
            default = ENDPOINTS.get(job)
            guessed = default is not None and default.status != "C"
            hint = (
                f"; this path is an assumption (OneWeb publishes no specification): set paths.{job} "
                f"in the account config to the real one"
                if guessed
                else f"; check api_url and paths.{job}"
            )
            raise NotFound(f"{exc}{hint}") from None

    async def get_list(self, job: str, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every record of a list endpoint, across pages as the `pagination` setting says."""
        mode = self.config.pagination
        size = self.config.page_size
        base = dict(params or {})
        what = f"GET /{path}"
        first_params = {**base, "offset": 0, "limit": size} if mode == "offset" else base
        response = await self.get(job, path, first_params or None)
        page = as_list(await decode_json(response.content, what), what)
        items = list(page)
        counted = self.api.item_count("GET", "/" + path)
        counted.add(len(items))
        total = total_count(response)
        if mode == "none" or (mode == "auto" and (total is None or total <= len(items))):
            if total is not None and total > len(items) and path not in self._warned_total:
                self._warned_total.add(path)
                self.log.warning(
                    "%s: X-Total-Count says %d records but %d came and pagination is 'none'; "
                    "set pagination: auto or offset",
                    what,
                    total,
                    len(items),
                )
            return items
        previous = page
        for _ in range(MAX_PAGES):
            if total is not None and len(items) >= total:
                return items
            if total is None and len(previous) < size:
                return items  # offset mode without a count: a short page is the last
            if not previous:
                return items  # an empty page ends it, whatever the count said
            response = await self.get(job, path, {**base, "offset": len(items), "limit": size})
            page = as_list(await decode_json(response.content, what), what)
            if page and page == previous:
                raise BadResponse(
                    f"{what}: offset {len(items)} returned the same records again; the server ignores "
                    f"offset/limit: set pagination: none"
                )
            counted.add(len(page))
            items += page
            total = total_count(response) if total_count(response) is not None else total
            previous = page
        raise BadResponse(f"{what}: still more records after {MAX_PAGES} pages")
