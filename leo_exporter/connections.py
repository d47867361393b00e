"""The front's HTTP connections with limits: uvicorn's httptools protocol, bounded per connection
and in number.

uvicorn reads a request head of any size (httptools buffers a header value until it ends: a
200 MiB value grew the front by 300 MB and stalled its loop for seconds), keeps a connection that
never sends a byte open for ever (1,007 of them exhausted the descriptors) and waits for ever on a
client that never reads. Here, per connection (limits.FrontLimits):

- the request target and the header fields are counted as they arrive; past the limit the answer
  is 414 or 431 and the connection closes, whatever is still coming;
- the whole head must arrive within `idle_timeout` of the connection opening or of its previous
  answer (a connection that sends nothing, or a byte now and then, is closed);
- a client whose unread answer fills the send buffer and then reads nothing for `write_timeout`
  is cut off, and sooner when `max_requests` are in progress and a new request needs the room: a
  stalled answer (nothing read for STALLED seconds) makes way, the longest-stalled first, so
  clients that read nothing cannot hold every request slot and starve the scrapers;
- beyond `max_connections` a new connection closes the oldest idle one (no request in progress),
  or, when every one is busy, is closed itself; likewise, and first, beyond one peer address's
  share (`max_connections_per_address`), among that address's connections only: a flood from one
  address costs that address, never everyone else's connections;
- at shutdown, answers still in progress are cut shortly before uvicorn would cancel them, so a
  scrape in flight at SIGTERM ends quietly instead of as an "Exception in ASGI application".

A WebSocket upgrade is answered as the plain request it also is (the front has no WebSocket).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import anyio
import httptools
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from leo_exporter.limits import FrontLimits
from leo_exporter.webheaders import SECURITY_HEADERS

log = logging.getLogger("leo_exporter.front")

HEAD_SLACK = 1024  # the request line and separators, beyond the target and the header fields
WARN_EVERY = 60.0  # seconds between two log lines about refused connections or requests
SHUTDOWN_CUT = 0.8  # of uvicorn's graceful-shutdown time: then answers in progress are cut
STALLED = 2.0  # seconds a client has read nothing of its answer before it may make way for another
QUEUE_WAIT = 3.0  # seconds a request waits for room (an answer ending or stalling) before its 503


class _Refused(Exception):
    """A request head past a limit: answered with `status` and closed."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


_STATUS_TEXT = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class RateLimitedLog:
    """One warning per WARN_EVERY seconds for a recurring event, with how often it happened."""

    def __init__(self, message: str):
        self.message = message
        self.count = 0
        self.last = -WARN_EVERY

    def __call__(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= WARN_EVERY:
            log.warning("%s (%d time(s) since the last such line)", self.message, self.count)
            self.count = 0
            self.last = now


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the limits above; `protocol_class` makes one per server."""

    limits: ClassVar[FrontLimits] = FrontLimits()
    opened: ClassVar[dict[GuardedHttpProtocol, None]] = {}  # open connections, oldest first
    refused: ClassVar[RateLimitedLog]
    refused_address: ClassVar[RateLimitedLog]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._header_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._stalled_since: float | None = None  # when the client's unread answer filled the buffer
        self._address = ""  # the peer's address (not its port): what a client's share is counted by

    # --- connections
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.opened[self] = None
        self._arm_head_timer()
        same = [c for c in self.opened if c._address == self._address]
        if len(same) > self.limits.max_connections_per_address:
            self._make_room(same, self.refused_address)
        elif len(self.opened) > self.limits.max_connections:
            self._make_room(self.opened, self.refused)

    def _busy(self) -> bool:
        """A request in progress, or part of one received."""
        return self._head_bytes > 0 or not (self.cycle is None or self.cycle.response_complete) or bool(self.pipeline)

    def _make_room(self, among: Iterable[GuardedHttpProtocol], refused: Callable[[], None]) -> None:
        """Close the oldest idle connection `among` these, else this new one."""
        for other in among:
            if other is not self and not other._busy():
                other._drop()
                return
        refused()
        self._drop()

    def _drop(self) -> None:
        self.opened.pop(self, None)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.opened.pop(self, None)
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    # --- the request head
    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.limits.idle_timeout, self._head_timeout)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not (self.cycle is None or self.cycle.response_complete):
            return
        if self._head_bytes:
            self._refuse(_Refused(408, "request head not complete in time"))
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # no WebSocket here: the request was handed on as plain HTTP; its connection ends with it
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return
        except httptools.HttpParserError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refused):
                self._refuse(refusal)
                return
            log.debug("invalid HTTP request: %s", exc)
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes + self.limits.max_url_bytes + HEAD_SLACK:
            self._refuse(_Refused(431, "request head too large"))

    def _refuse(self, refusal: _Refused) -> None:
        body = f"{refusal.reason}\n".encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (refusal.status, _STATUS_TEXT[refusal.status], len(body), body)
        )
        self.transport.close()
        self.opened.pop(self, None)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = max(self._head_bytes, 1)  # a request has begun: the connection is no longer idle
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            raise _Refused(414, f"request target longer than {self.limits.max_url_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refused(431, f"request header fields larger than {self.limits.max_header_bytes} bytes")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def _unsupported_upgrade_warning(self) -> None:
        log.debug("upgrade request answered as plain HTTP")

    # --- the answer
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._stalled_since = time.monotonic()
            self._write_timer = self.loop.call_later(self.limits.write_timeout, self._write_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stalled_since = None
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    @classmethod
    def make_room(cls, address: str | None = None) -> bool:
        """Cut off the answer whose client has read nothing for longest, if for STALLED seconds
        (only among the connections from `address`, when given)."""
        now = time.monotonic()
        stalled = [
            c
            for c in cls.opened
            if c._stalled_since is not None
            and now - c._stalled_since >= STALLED
            and (address is None or c._address == address)
        ]
        if not stalled:
            return False
        oldest = min(stalled, key=lambda c: c._stalled_since or now)
        log.debug(
            "a client read nothing for %.0f s; cut off to make room for a new request",
            now - (oldest._stalled_since or now),
        )
        oldest._drop()
        return True

    def _write_timeout(self) -> None:
        self._write_timer = None
        log.debug("a client read nothing for %.0f s; closing its connection", self.limits.write_timeout)
        self._drop()

    def shutdown(self) -> None:
        super().shutdown()
        if self._busy() and not self.transport.is_closing():
            self.loop.call_later(SHUTDOWN_CUT * (self.config.timeout_graceful_shutdown or 0), self._drop)


def protocol_class(limits: FrontLimits) -> type[GuardedHttpProtocol]:
    """A protocol class for one server: its limits and its own table of open connections."""
    return type(
        "FrontHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "limits": limits,
            "opened": {},
            "refused": RateLimitedLog(
                f"{limits.max_connections} connections open, none idle (--web.max-connections): new ones refused"
            ),
            "refused_address": RateLimitedLog(
                f"{limits.max_connections_per_address} connections open from one address, none idle "
                "(--web.max-connections-per-address): its new ones refused"
            ),
        },
    )


class RequestCap:
    """ASGI: at most `limit` requests in progress (the outermost layer, so waiting logins count),
    and at most `per_address` of them from one peer address; beyond either, a stalled answer (of
    that address, for its share) makes way (`make_room`), else the new request gets 503 with
    Retry-After (at once, for an address past its share: it waits for no room, so a flood from
    one address never fills the queue either). /healthz is always answered: a liveness probe refused
    under load would have the pod restarted. A request cancelled at shutdown ends quietly (its
    connection was cut just before: GuardedHttpProtocol.shutdown)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        make_room: Callable[[str | None], bool] = lambda address: False,
        exempt: frozenset[str] = frozenset({"/healthz"}),
        per_address: int | None = None,
    ):
        self.app = app
        self.limit = limit
        self.per_address = limit if per_address is None else per_address
        self.by_address: dict[str, int] = {}  # requests in progress per peer address
        self.make_room = make_room  # cuts off a stalled answer (of an address, if given); True when it did
        self.exempt = exempt
        self.in_progress = 0
        self.waiting = 0
        self._ended = anyio.Event()  # set (and replaced) each time a request ends
        self.refused = RateLimitedLog(f"{limit} requests in progress (--web.max-requests): new ones answered 503")
        self.refused_address = RateLimitedLog(
            f"{self.per_address} requests in progress from one address (--web.max-requests-per-address): "
            "its new ones answered 503"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        counted = scope["path"] not in self.exempt
        client = scope.get("client")
        address = str(client[0]) if client else ""
        refusal = None
        if counted and self.by_address.get(address, 0) >= self.per_address and not self.make_room(address):
            refusal = self.refused_address
        elif counted and not await self._room():
            refusal = self.refused
        if refusal is not None:
            refusal()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(_BUSY)).encode()),
                        *SECURITY_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BUSY})
            return
        self.in_progress += counted
        if counted:
            self.by_address[address] = self.by_address.get(address, 0) + 1
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            log.debug("a request in progress at shutdown was cut off", extra={"path": scope["path"]})
        finally:
            self.in_progress -= counted
            if counted:
                left = self.by_address.pop(address) - 1
                if left:
                    self.by_address[address] = left
            self._ended.set()
            self._ended = anyio.Event()

    async def _room(self) -> bool:
        """Room for one more request: at once, or within QUEUE_WAIT as answers end or stall (a wave
        of clients that read nothing takes every slot for the STALLED seconds before they may be
        cut off; a scrape then waits instead of failing). At most `limit` requests wait."""
        if self.in_progress < self.limit or self.make_room(None):
            return True
        if self.waiting >= self.limit:
            return False
        self.waiting += 1
        try:
            for _ in range(max(1, round(QUEUE_WAIT / 0.25))):
                with anyio.move_on_after(0.25):  # a stall is noticed by looking again
                    await self._ended.wait()
                if self.in_progress < self.limit or self.make_room(None):
                    return True
            return False
        finally:
            self.waiting -= 1


_BUSY = b"too many requests in progress; try again shortly\n"
