"""HTTP to providers: one client per account, counted, budgeted and turned into typed errors.

Every request waits for the account's budget, is counted through the client's `Counting` callbacks
(the exporter's: `leo_exporter_api_requests_total{endpoint,code}`), and a non-2xx answer becomes a
ProviderError whose message names the endpoint and what the provider said, never a secret.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx
import orjson
from anyio.lowlevel import RunVar

from leo_exporter.durations import format_duration
from leo_exporter.providers.budget import RateBudget, Ticket
from leo_exporter.providers.errors import (
    AuthenticationFailed,
    BadResponse,
    ConnectionDropped,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportFailed,
)
from leo_exporter.providers.limits import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_RESPONSE_BYTES,
    ERROR_BODY_BYTES,
    ItemCount,
    ResponseTooLarge,
    read_body,
    rebuilt,
)
from leo_exporter.providers.pool import PoolLease, client_on

_THREAD_DECODE_BYTES = 256 * 1024
log = logging.getLogger("leo_exporter.http")
T = TypeVar("T")
# Large bodies are parsed one at a time in the process: a 65,000-row telemetry page parses into
# millions of objects (about 200 MiB), and twenty accounts polled at once would hold twenty of them
# (pymalloc keeps such a peak as resident memory). Parsing is Python under the GIL anyway, so
# taking turns costs no throughput.
_LARGE_DECODES: RunVar[anyio.CapacityLimiter] = RunVar("large_decodes")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds, from either of its two forms (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delta-seconds: ASCII digits only (RFC 9110)
        return float(value) if len(value) <= 11 else 1e11
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, when.timestamp() - (time.time() if now is None else now)), 1e11)


def provider_message(response: httpx.Response) -> str:
    """The provider's own explanation of a failed request, short and single-line."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    texts: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            texts += [str(e.get("errorMessage")) for e in errors if isinstance(e, dict) and e.get("errorMessage")]
        for key in ("message", "error_description", "error", "detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                texts.append(body[key])
                break
    if not texts:
        text = " ".join(response.text.split())
        texts.append(text[:200] if text else response.reason_phrase or "no body")
    return "; ".join(texts)[:300]


def decode_json_bytes(content: bytes, what: str) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise BadResponse(f"{what}: response is not valid JSON ({exc.msg} at byte {exc.pos})") from None


def large_decodes() -> anyio.CapacityLimiter:
    """The event loop's limiter of large decodes (one at a time)."""
    try:
        return _LARGE_DECODES.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(1)
        _LARGE_DECODES.set(limiter)
        return limiter


async def decode_json(content: bytes, what: str) -> Any:
    """Decode JSON, off the event loop (and one at a time) when the body is large."""
    return await decode_json_into(content, what, _as_is)


def _as_is(value: Any) -> Any:
    return value


async def decode_json_into(content: bytes, what: str, convert: Callable[[Any], T]) -> T:
    """Decode JSON and `convert` it, a large body on a worker thread and one at a time: the parsed
    tree lives only inside that call, so its peak is never held for several bodies at once."""

    def work() -> T:
        return convert(decode_json_bytes(content, what))

    if len(content) < _THREAD_DECODE_BYTES:  # a trip to a thread would cost more than the work
        return work()
    return await anyio.to_thread.run_sync(work, limiter=large_decodes())


def _uncounted(*_: object) -> None:
    """What a client nobody counts for does with its figures (a one-shot management action)."""


@dataclass(frozen=True, slots=True)
class Counting:
    """Where a client reports what happened, through callbacks: each answer (`request(endpoint, code)`,
    code "error" when no response came) and whether the provider took the credentials. The exporter
    counts them in the account's state (`AccountContext.counting`); by default nothing is counted.
    `log_extra`: the provider and account names its log lines carry."""

    request: Callable[[str, str], None] = _uncounted
    authenticated: Callable[[bool], None] = _uncounted
    log_extra: Mapping[str, str] = field(default_factory=dict)


# Methods that change nothing at the provider: sent once more when the connection drops under them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# What a streamed response holds once its body is read. httpx's client wraps a response's stream in
# one that points back at the response: a reference cycle, so every answer (its request, headers
# and buffers) waited for the cyclic collector, and one that outlived the young generations for a
# full collection (rare in the worker: cli.collect_cycles_rarely). Replacing the stream breaks the
# cycle: the answer is freed when the last reference to it goes.
_READ = httpx.ByteStream(b"")


class ApiClient:
    """The HTTP client of one provider account: its base URL, headers and auth, sent through the
    client its host's pool shares (`pool.py`), or one of its own on a given transport (tests, the
    simulator in this process)."""

    def __init__(
        self,
        *,
        budget: RateBudget,
        base_url: str,
        timeout: float,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        counting: Counting = Counting(),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_items: int = DEFAULT_MAX_ITEMS,
    ):
        self.counting = counting
        self.budget = budget
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_items = max_items
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = httpx.Headers({"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})})  # parsed once
        self.auth = auth
        self.lease: PoolLease | None = None
        if transport is None:
            self.lease = PoolLease(base_url)
            self.http = self.lease.client
        else:
            self.http = client_on(transport)

    async def aclose(self) -> None:
        if self.lease is not None:
            await self.lease.aclose()
        else:
            await self.http.aclose()

    def _count(self, endpoint: str, code: str) -> None:
        self.counting.request(endpoint, code)

    def authenticated(self, ok: bool) -> None:
        """Whether the provider took the account's credentials (`leo_exporter_account_authenticated`)."""
        self.counting.authenticated(ok)

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        permission: str | None = None,
        query: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request within the budget; return the 2xx response or raise a ProviderError.

        The timeout (the account's, or the call's `timeout=`) bounds the whole exchange, body
        included: a provider sending a byte a second cannot hold a request open past it. A request
        whose connection drops under it is sent once more, within the budget, when sending it
        again changes nothing at the provider: a GET, or a POST the caller marks `query=True` (a
        search, a token, a stream read). Anything else (an action) is never sent twice."""
        again = query or method in SAFE_METHODS
        for attempt in (1, 2):
            ticket = await self.budget.acquire()  # every request, token requests included
            try:
                return await self._send(ticket, method, path, endpoint, permission, kwargs)
            except ConnectionDropped:
                if attempt == 2 or not again:
                    raise
            finally:
                self.budget.release(ticket)  # a 429 storm's probe that failed or was cancelled frees the next
        raise AssertionError("unreachable")

    async def _send(
        self, ticket: Ticket, method: str, path: str, endpoint: str, permission: str | None, kwargs: dict[str, Any]
    ) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path.lstrip("/")
        deadline = kwargs.get("timeout")
        deadline = float(deadline) if isinstance(deadline, int | float) else self.timeout
        try:
            with anyio.fail_after(deadline):
                response = await self._exchange(method, url, endpoint, kwargs)
        except (TimeoutError, httpx.TimeoutException):
            self._count(endpoint, "error")
            raise TransportFailed(
                f"{method} {endpoint}: no complete response within the timeout ({format_duration(deadline)})"
            ) from None
        except ResponseTooLarge:
            self._count(endpoint, "too_large")
            raise
        except httpx.HTTPError as exc:
            self._count(endpoint, "error")
            dropped = isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError)
            failure = ConnectionDropped if dropped else TransportFailed
            raise failure(f"{method} {endpoint}: {type(exc).__name__}: {_short(exc)}") from None
        self._count(endpoint, str(response.status_code))
        if response.status_code != 429:
            self.budget.answered(ticket)
        if response.is_success:
            return response
        raise self.error_for(method, endpoint, response, permission, ticket)

    async def _exchange(self, method: str, url: str, endpoint: str, kwargs: dict[str, Any]) -> httpx.Response:
        """Send and read the body within its limit (`limits.py`): a success body up to
        `max_response_bytes` decoded, an error body only its first few KiB."""
        headers = self.headers.copy()
        headers.update(kwargs.get("headers"))  # a call's own headers win, whatever their case
        request = self.http.build_request(method, url, **{"timeout": self.timeout, **kwargs, "headers": headers})
        streamed = await self.http.send(request, stream=True, auth=self.auth)
        try:
            what = self.what(method, endpoint)
            if streamed.is_success:
                body = await read_body(streamed, self.max_response_bytes, what)
            else:
                body = await read_body(streamed, ERROR_BODY_BYTES, what, truncate=True)
        finally:
            await streamed.aclose()
            streamed.stream = _READ  # see _READ
        return rebuilt(streamed, body)

    def what(self, method: str, endpoint: str) -> str:
        """A call as errors name it: `GET /user-terminals (account 'north')`."""
        account = self.counting.log_extra.get("account_name")
        return f"{method} {endpoint}" + (f" (account {account!r})" if account else "")

    def item_count(self, method: str, endpoint: str) -> ItemCount:
        """The items of one paged listing, held to the account's `max_items_per_run`."""
        return ItemCount(self.max_items, self.what(method, endpoint), lambda: self._count(endpoint, "too_many_items"))

    def error_for(
        self, method: str, endpoint: str, response: httpx.Response, permission: str | None, ticket: Ticket | None = None
    ) -> ProviderError:
        status = response.status_code
        said = provider_message(response)
        where = f"{method} {endpoint} -> HTTP {status}"
        if status == 401:
            return AuthenticationFailed(f"{where}: credentials or token refused ({said})")
        if status == 403:
            need = f"; the credential needs the permission '{permission}'" if permission else ""
            return PermissionDenied(f"{where}: permission denied{need} ({said})")
        if status == 404:
            return NotFound(f"{where}: not found ({said})")
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            paused = self.budget.pause(wait, ticket)  # without Retry-After: a backoff, doubling per 429 in a row
            if wait is not None and paused < wait and not self.budget.cut_logged:
                self.budget.cut_logged = True
                log.warning(
                    "%s asked to wait %s; the account pauses %s instead (the larger of backoff_max and "
                    "its most frequent job's interval)",
                    where,
                    format_duration(wait),
                    format_duration(paused),
                    extra=dict(self.counting.log_extra),
                )
            if wait is None:
                hint = f"no Retry-After; pausing {paused:g}s"
            elif paused < wait:
                hint = f"Retry-After {wait:g}s, cut to {paused:g}s"
            else:
                hint = f"Retry-After {wait:g}s"
            return RateLimited(f"{where}: rate limited ({hint})", retry_after=paused)
        if status >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            return ServerError(f"{where}: provider error ({said})", retry_after=wait)
        return RequestRejected(f"{where}: request rejected ({said})")

    async def get_json(self, path: str, *, endpoint: str, permission: str | None = None, **kwargs: Any) -> Any:
        response = await self.request("GET", path, endpoint=endpoint, permission=permission, **kwargs)
        return await decode_json(response.content, f"GET {endpoint}")


def _short(exc: Exception) -> str:
    text = str(exc) or "connection failed"
    return text.split("\n", 1)[0][:200]
