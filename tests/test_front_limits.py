"""The front's limits, against its real HTTP server on loopback (issue #25, findings 1-3 and the
low ones): no client, and no crowd of clients, can make it hold unbounded memory, descriptors or
time, and what a limit refuses is refused with a clear answer and no error in the log.

Each test runs the front's own server (`front.public_server`: the bounded protocol, the request cap,
basic auth) around a Front that holds an exposition and has no worker. The limits are set small
here so that each is reached with a few connections; the defaults are in limits.FrontLimits.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import bcrypt
import httpx
import pytest
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leo_exporter import connections, deflate
from leo_exporter.connections import RequestCap
from leo_exporter.front import MAX_BODY, PLAIN_STEP, Front, FrontApp, public_server
from leo_exporter.handoff import Body
from leo_exporter.limits import FrontLimits
from leo_exporter.server import QuietServer, bind_socket
from leo_exporter.webconfig import FAILURES_ALLOWED, WebSecurity

pytestmark = pytest.mark.anyio

SMALL = FrontLimits(
    max_header_bytes=4096,
    max_url_bytes=1024,
    idle_timeout=0.5,
    write_timeout=0.5,
    max_connections=8,
    max_requests=2,
)
TEXT = b"".join(b'leo_test_series{i="%d",x="%s"} 1\n' % (i, os.urandom(24).hex().encode()) for i in range(100_000))


def body_of(text: bytes) -> Body:
    """A worker's handed-over exposition of `text`, as the front receives it."""
    prefix = deflate.GZIP_HEADER + deflate.deflate_chunk(text)
    return Body(prefix, deflate.crc32(text), len(text), series=0, rendered_at=0.0, complete=True)


@dataclass
class Serving:
    port: int
    server: QuietServer
    app: FrontApp

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.server.server_state.connections)

    @property
    def stalled(self) -> int:
        """Connections whose client has left its answer unread with the send buffer full."""
        protocol = self.server.config.http
        assert isinstance(protocol, type) and issubclass(protocol, connections.GuardedHttpProtocol)
        return sum(c._stalled_since is not None for c in protocol.opened)

    @property
    def requests(self) -> int:
        cap = self.server.config.app
        assert isinstance(cap, RequestCap)
        return cap.in_progress


async def until(check: Callable[[], object], within: float = 20.0) -> None:
    """Wait until `check()` holds (polled: the server's counts have no event to wait on)."""
    with anyio.fail_after(within):
        while not check():  # noqa: ASYNC110
            await anyio.sleep(0.02)


@asynccontextmanager
async def serving(limits: FrontLimits = SMALL, security: WebSecurity | None = None) -> AsyncIterator[Serving]:
    front = Front([], "/metrics", limits)
    front.worker_up = front.worker_running = True
    front.swap(body_of(TEXT))
    app = FrontApp(front)
    server = public_server(app, security or WebSecurity(None))
    sock = bind_socket("127.0.0.1:0")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)  # accepted sockets inherit it: no autotuning
    port = sock.getsockname()[1]
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            await until(lambda: server.started)
            yield Serving(port, server, app)
            await server.stop(grace=3.0)
            tg.cancel_scope.cancel()
    finally:
        front.internal.close()
        await app.client.aclose()


async def connect(port: int) -> anyio.abc.SocketStream:
    """A raw client connection with a small receive buffer: one that reads nothing fills up fast."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))  # loopback: at once
    return await anyio.abc.SocketStream.from_socket(raw)


def reader_that_reads_nothing(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A plain-text scrape whose client never reads (a bare socket: an anyio stream would read
    into its own buffer), from the `source` address (127.0.0.x are distinct peers on Linux)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.bind((source, 0))
    raw.connect(("127.0.0.1", port))
    raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    return raw


async def read_until_closed(stream: anyio.abc.SocketStream, within: float = 20.0) -> bytes:
    """What the server sends until it closes the connection (fails if it never does)."""
    data = b""
    with anyio.fail_after(within):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                return data


async def test_a_request_head_past_its_limits_is_answered_414_or_431_and_closed() -> None:
    async with serving() as s:
        for request, status in (
            (b"GET /" + b"a" * 2048 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 8192 + b"\r\n\r\n", b"431"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: c\r\n" * 600 + b"\r\n", b"431"),
        ):
            stream = await connect(s.port)
            await stream.send(request)
            answer = await read_until_closed(stream)
            assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        async with httpx.AsyncClient(base_url=s.url) as client:  # and the front goes on serving
            assert (await client.get("/healthz")).status_code == 200


async def test_a_header_that_never_ends_is_cut_off_long_before_it_ends() -> None:
    """Was: a 200 MiB header value read whole (front 58 -> 363 MB, its loop stalled 6.4 s)."""
    async with serving() as s:
        stream = await connect(s.port)
        await stream.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        sent, flood, piece = 0, 64 << 20, b"f" * (64 << 10)
        with anyio.fail_after(30):
            try:
                while sent < flood:
                    await stream.send(piece)
                    sent += len(piece)
            except (anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError):
                pass
            if sent >= flood:  # everything went in: the server must at least answer and close now
                answer = await read_until_closed(stream)
                assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        assert sent < flood, "the server read a 64 MiB header without closing the connection"


async def test_connections_that_send_nothing_or_dribble_are_closed_after_the_idle_timeout() -> None:
    """Was: idle sockets kept for ever; 1,007 of them exhausted the descriptors."""
    async with serving() as s:
        silent = await connect(s.port)
        dribbling = await connect(s.port)

        async def dribble() -> None:
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" * 100:
                    await dribbling.send(bytes([byte]))
                    await anyio.sleep(0.05)
            except (anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError):
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(dribble)
            assert await read_until_closed(silent) == b""
            answer = await read_until_closed(dribbling)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
            tg.cancel_scope.cancel()
        await until(lambda: s.connections == 0)


async def test_beyond_max_connections_a_new_connection_closes_the_oldest_idle_one() -> None:
    async with serving() as s:
        idle = [await connect(s.port) for _ in range(3 * SMALL.max_connections)]
        async with httpx.AsyncClient(base_url=s.url) as client:
            assert (await client.get("/healthz")).status_code == 200  # accepted after every idle one
        assert s.connections <= SMALL.max_connections
        closed = 0
        for stream in idle:
            with anyio.move_on_after(0.5):
                closed += await read_until_closed(stream) == b""
        assert closed >= 2 * SMALL.max_connections  # the oldest went first
        for stream in idle:
            await stream.aclose()


async def test_a_client_that_reads_nothing_is_cut_off_after_the_write_timeout() -> None:
    """Was: 200 clients that never read held 6.7 MB each, for ever (1.4 GB)."""
    async with serving() as s:
        stream = reader_that_reads_nothing(s.port)  # plain text, 8 MB
        await until(lambda: s.requests == 1)  # the answer under way
        await until(lambda: s.connections == 0)  # the reader that reads nothing, cut off
        stream.close()


async def test_plain_metrics_go_out_in_bounded_pieces() -> None:
    """What a client has not read yet is one piece of at most PLAIN_STEP bytes (was ~6.7 MB)."""
    front = Front([], "/metrics")
    front.swap(body_of(TEXT))
    pieces: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            pieces.append(bytes(message["body"]))

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    await FrontApp(front).metrics(scope, send)
    front.internal.close()
    assert b"".join(pieces).startswith(TEXT) and max(map(len, pieces)) <= PLAIN_STEP


async def test_beyond_max_requests_a_request_gets_503_and_healthz_still_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections, "STALLED", 3600.0)  # the readers below never count as stalled
    monkeypatch.setattr(connections, "QUEUE_WAIT", 0.0)  # and a request waits for no room
    limits = replace(SMALL, idle_timeout=5.0, write_timeout=60.0)
    async with serving(limits) as s:
        readers = [reader_that_reads_nothing(s.port) for _ in range(limits.max_requests)]
        await until(lambda: s.requests == limits.max_requests)
        async with httpx.AsyncClient(base_url=s.url) as client:
            busy = await client.get("/metrics")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert (await client.get("/healthz")).status_code == 200
        for reader in readers:
            reader.close()


async def test_clients_that_read_nothing_make_way_for_a_new_scrape(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was (with the cap alone): 200 clients that never read held every slot; every scrape got 503."""
    monkeypatch.setattr(connections, "STALLED", 0.0)
    limits = replace(SMALL, idle_timeout=5.0, write_timeout=60.0)
    async with serving(limits) as s:
        readers = [reader_that_reads_nothing(s.port) for _ in range(limits.max_requests)]
        await until(lambda: s.stalled == limits.max_requests)
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
            scrape = await client.get("/metrics")
        assert scrape.status_code == 200 and scrape.content.startswith(TEXT)
        assert s.stalled < limits.max_requests  # one of them was cut off
        for reader in readers:
            reader.close()


async def test_a_flood_from_one_address_leaves_every_scrape_from_another_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Was: waves of 200 clients that read nothing took every request slot for seconds and 11 of
    240 scrapes got 503. One address now holds at most its share of connections and requests."""
    monkeypatch.setattr(connections, "STALLED", 3600.0)  # no stalled answer ever makes way here
    monkeypatch.setattr(connections, "QUEUE_WAIT", 0.0)  # and nothing waits for room: only the shares help
    limits = replace(
        SMALL,
        idle_timeout=30.0,
        write_timeout=60.0,
        max_connections=32,
        max_requests=4,
        max_connections_per_address=8,
        max_requests_per_address=2,
    )
    async with serving(limits) as s:
        flood = [reader_that_reads_nothing(s.port, "127.0.0.2") for _ in range(3 * limits.max_requests)]
        await until(lambda: s.requests == limits.max_requests_per_address)
        idle = []
        for _ in range(4 * limits.max_connections):
            raw = socket.socket()
            raw.bind(("127.0.0.2", 0))
            raw.connect(("127.0.0.1", s.port))
            idle.append(raw)
        await until(lambda: s.connections <= limits.max_connections_per_address)
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:  # from 127.0.0.1
            for _ in range(5):
                scrape = await client.get("/metrics", headers={"accept-encoding": "identity"})
                assert scrape.status_code == 200 and scrape.content.startswith(TEXT)
        async with httpx.AsyncClient(
            base_url=s.url, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        ) as flooder:  # the flooding address itself is past its share
            busy = await flooder.get("/metrics")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert s.requests <= limits.max_requests_per_address
        for raw in flood + idle:
            raw.close()


async def test_a_websocket_upgrade_without_credentials_is_refused_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: 500 and an error in the log."""
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump({"basic_auth_users": {"u": bcrypt.hashpw(b"p", bcrypt.gensalt(4)).decode()}}))
    caplog.set_level(logging.INFO)
    async with serving(security=WebSecurity(path)) as s:
        stream = await connect(s.port)
        await stream.send(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        answer = await read_until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_scrape_in_progress_at_shutdown_ends_without_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """Was: "Exception in ASGI application ... CancelledError" at SIGTERM during a scrape."""
    limits = replace(SMALL, write_timeout=60.0)
    caplog.set_level(logging.INFO)
    async with serving(limits) as s:
        stream = reader_that_reads_nothing(s.port)
        await until(lambda: s.requests == 1)  # the scrape under way
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    stream.close()


async def test_a_proxied_request_body_must_come_in_time_and_stay_small() -> None:
    """A sibling of the idle timeout: a client that sends its head and then its body a byte a
    minute held a request slot (and the worker's) for ever; a body of any size was passed on."""

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{len(await request.body())} bytes\n")

    worker = QuietServer(
        uvicorn.Config(Starlette(routes=[Route("/api/echo", echo, methods=["POST"])]), log_config=None)
    )
    async with serving() as s, anyio.create_task_group() as tg:
        tg.start_soon(worker.serve, [s.app.front.internal])
        await until(lambda: worker.started)
        async with httpx.AsyncClient(base_url=s.url) as client:
            answer = await client.post("/api/echo", content=b"x" * 1000)
            assert answer.status_code == 200 and answer.text == "1000 bytes\n"  # passed on as before
        stream = await connect(s.port)
        await stream.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        assert (await read_until_closed(stream)).startswith(b"HTTP/1.1 413")
        stream = await connect(s.port)
        await stream.send(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nxx")  # and no more
        answer_bytes = await read_until_closed(stream)
        assert answer_bytes.startswith(b"HTTP/1.1 408"), answer_bytes[:200]
        await worker.stop()
        tg.cancel_scope.cancel()


async def test_the_login_throttle_keys_on_the_peer_not_on_x_forwarded_for(tmp_path: Path) -> None:
    """Was: uvicorn took X-Forwarded-For from loopback peers, so a local client named a new
    address with each guess and was never throttled."""
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump({"basic_auth_users": {"u": bcrypt.hashpw(b"p", bcrypt.gensalt(4)).decode()}}))
    async with serving(security=WebSecurity(path)) as s, httpx.AsyncClient(base_url=s.url) as client:
        statuses = [
            (
                await client.get("/readyz", auth=("u", "guess"), headers={"x-forwarded-for": f"203.0.113.{i}"})
            ).status_code
            for i in range(FAILURES_ALLOWED + 1)
        ]
    assert statuses == [401] * FAILURES_ALLOWED + [429]
