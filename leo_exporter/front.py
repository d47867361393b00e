"""The front process: owns the listening socket, serves /metrics from the latest exposition bytes,
and runs the exporter proper (state, jobs, decoding, rendering) as a worker process it supervises.

Why two processes: decode, apply and render are Python on threads; in one process the event loop
that answers scrapes waits for the GIL while a 65,000-row batch is applied (a scrape p99 3.5x
the idle one at 50,000 terminals). Here nothing but serving runs in the front, so no ingest can
delay a scrape (docs/performance.md has the figures of the alternatives).

- The worker hands each rendering over a Unix socket pair (leo_exporter/handoff.py); the front swaps
  its bytes (one reference) and acknowledges. No file: the image's root is read-only.
- The front answers /metrics (gzip as is, plain text inflated as it is sent), /healthz and
  /readyz itself, and proxies every other path (status page, JSON API, CSV, job control, reload)
  to the worker's HTTP server on a loopback port that only answers with the front's token.
- Its own figures, `leo_exporter_worker_up` and `leo_exporter_worker_restarts_total`, are spliced
  into the gzip body's single member (no recompression of the rest).
- A worker that exits is logged, shown (`/readyz` 503, worker_up 0) and restarted with backoff
  while the last exposition is still served. SIGHUP goes on to the worker; SIGTERM stops both.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import httpx
import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from leo_exporter import catalog, deflate, handoff
from leo_exporter.catalog import MetricSpec, NoLabels
from leo_exporter.server import QuietServer, wait_for_signal
from leo_exporter.webconfig import BasicAuthMiddleware, FrontTokenGate, WebSecurity
from leo_exporter.webheaders import SECURITY_HEADERS

log = logging.getLogger("leo_exporter.front")

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
ENV_CONTROL, ENV_LISTEN, ENV_TOKEN = "LEO_WORKER_CONTROL_FD", "LEO_WORKER_LISTEN_FD", "LEO_WORKER_TOKEN"
ENV_FRONT_PID = "LEO_WORKER_FRONT_PID"
STOP_GRACE = 3.0  # seconds the worker gets to stop after SIGTERM before SIGKILL (SIGTERM: all gone < 5 s)
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
# The worker yields the CPU to the front: on a busy machine a scrape never waits behind an ingest
# for a core (bench/fleet.py: docs/performance.md). Only lowering a priority needs no privilege.
WORKER_NICE = 10
# The body goes out in views of this size: the transport buffers (copies) what a client has not
# read yet, and the server waits for it to drain before the next piece, so a slow scraper costs
# one piece instead of a copy of the 30 MiB body (Python 3.11's transport buffer is a bytearray).
SEND_STEP = 1 << 20
FIRST_WAIT = 10.0  # seconds a scrape at start waits for the first exposition before a 503
RESTART_HOLD = 120.0  # seconds a restarted worker's first polls may take before its renderings are served
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"proxy-connection"}
_FROM_UPSTREAM_DROP = {"connection", "keep-alive", "transfer-encoding", "date", "server"}


@dataclass(frozen=True, slots=True)
class Served:
    """What a scrape gets: the worker's body as received (bytes, never copied: the event loop's
    transport keeps a reference instead of a copy), then `tail`: the front's families, the end of
    the deflate stream and the trailer, in the same gzip member."""

    worker: handoff.Body
    tail: bytes
    length: int  # of the plain text

    @property
    def parts(self) -> tuple[bytes, bytes]:
        return self.worker.prefix, self.tail

    @property
    def size(self) -> int:
        return len(self.worker.prefix) + len(self.tail)


@dataclass(frozen=True, slots=True)
class WorkerEnd:
    """What a worker process inherits from the front (file descriptors and the token)."""

    control: socket.socket
    listen: socket.socket
    token: str


def worker_end() -> WorkerEnd | None:
    """The handoff socket, the internal listening socket and the token, when started by a front."""
    if ENV_CONTROL not in os.environ:
        return None
    control = socket.socket(fileno=int(os.environ.pop(ENV_CONTROL)))
    listen = socket.socket(fileno=int(os.environ.pop(ENV_LISTEN)))
    listen.setblocking(False)
    _die_with_parent(int(os.environ.pop(ENV_FRONT_PID, "0")))
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    return WorkerEnd(control, listen, os.environ.pop(ENV_TOKEN))


def _die_with_parent(front: int) -> None:
    """SIGTERM this worker when the front goes, even by SIGKILL (Linux); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != front:  # the front died before prctl took effect (in a container it is pid 1)
        os.kill(os.getpid(), signal.SIGTERM)


def _family(spec: MetricSpec[Any, NoLabels], value: float) -> bytes:
    """One unlabelled sample of the front's own, with the header the renderer would give it."""
    return f"{spec.header}{spec.name} {float(value)!r}\n".encode()


class Front:
    """The supervisor and the server's state: the served body, the worker's process and figures."""

    def __init__(self, argv: Sequence[str] | None, telemetry_path: str):
        """`argv`: the worker's command line; None when the exporter runs in this same process
        (`connect_in_process`: the single-process layout and in-process tests), with no socket."""
        self.argv = list(argv or ())
        self.telemetry_path = telemetry_path
        self.token = secrets.token_urlsafe(24)
        self.internal: socket.socket | None = None
        self.internal_url = "http://worker"
        if argv is not None:
            self.internal = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # the worker's HTTP server
            self.internal.bind(("127.0.0.1", 0))
            self.internal.listen(256)
            self.internal_url = f"http://127.0.0.1:{self.internal.getsockname()[1]}"
        self.served: Served | None = None
        self.worker_up = False
        self.worker_running = argv is None  # not Popen.poll(): it answers None while another thread waits
        self.restarts = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None  # set when the worker cannot start at all (bad config)
        self._swap = threading.Lock()
        self.first = threading.Event()  # set once there is an exposition to serve

    # --- the exposition
    def _front_text(self) -> bytes:
        return _family(catalog.EXPORTER_WORKER_UP, 1.0 if self.worker_up else 0.0) + _family(
            catalog.EXPORTER_WORKER_RESTARTS_TOTAL, self.restarts
        )

    def swap(self, body: handoff.Body | None = None) -> None:
        """Serve `body` (or the current one with fresh front figures): one reference swapped."""
        with self._swap:
            body = body or (self.served.worker if self.served else None)
            if body is None:
                return
            text = self._front_text()
            self.served = Served(body, handoff.tail(body, text), body.length + len(text))
        self.first.set()

    def _receive(self, sock: socket.socket, delivered: threading.Event) -> None:
        """Reader thread: every frame the worker sends is swapped in, then acknowledged. A restarted
        worker's renderings before its first polls are kept back while the front holds a fuller one
        (for at most RESTART_HOLD): a restart must not drop every series from a scrape."""
        started = time.monotonic()
        held = self.served is not None
        try:
            while True:
                body = handoff.receive(sock)
                self.worker_up = True
                if body.complete or not held or time.monotonic() - started > RESTART_HOLD:
                    held = False
                    self.swap(body)
                else:
                    self.swap()  # the last exposition, with worker_up 1 now
                delivered.set()
                handoff.acknowledge(sock)
        except (handoff.HandoffError, OSError, ValueError) as exc:
            if self.worker_running and not isinstance(exc, handoff.HandoffError):
                log.error("handoff from the worker failed: %s", exc)

    # --- the worker
    def connect_in_process(self) -> socket.socket:
        """The handoff of an exporter running in this process: the worker's end of a new socket
        pair, read by the same thread as a worker process's (close it to end the thread)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        threading.Thread(target=self._receive, args=(ours, threading.Event()), name="handoff", daemon=True).start()
        self.worker_up = True  # it runs: this process
        return theirs

    def _start_worker(self) -> tuple[subprocess.Popen[bytes], socket.socket, threading.Event]:
        assert self.internal is not None  # a front with a worker process has the socket for its server
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {
            **os.environ,
            ENV_CONTROL: str(theirs.fileno()),
            ENV_LISTEN: str(self.internal.fileno()),
            ENV_TOKEN: self.token,
            ENV_FRONT_PID: str(os.getpid()),
        }
        popen = subprocess.Popen(
            [sys.executable, "-m", "leo_exporter", *self.argv],
            pass_fds=(theirs.fileno(), self.internal.fileno()),
            env=env,
        )
        theirs.close()
        delivered = threading.Event()
        threading.Thread(target=self._receive, args=(ours, delivered), name="handoff", daemon=True).start()
        return popen, ours, delivered

    async def supervise(self, stop: anyio.Event) -> None:
        """Run the worker; when it exits, keep serving the last exposition and start it again."""
        backoff = BACKOFF_FIRST
        ever_delivered = False
        while not stop.is_set():
            started = time.monotonic()
            self.popen, sock, delivered = self._start_worker()
            self.worker_running = True
            try:
                await _exit_or_stop(self.popen, stop)
            finally:
                self.worker_running = False
                if stop.is_set():
                    with anyio.CancelScope(shield=True):
                        await self._stop_worker()
            sock.close()
            ever_delivered = ever_delivered or delivered.is_set()
            if stop.is_set():
                return
            code = self.popen.returncode
            self.worker_up = False
            self.swap()
            if not ever_delivered and code in (1, 2):  # it could not start: a bad config, or the like
                log.error("the worker exited with code %d before its first rendering; stopping", code)
                self.exit_code = code
                stop.set()
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = BACKOFF_FIRST
            how = f"code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
            log.error(
                "the worker process exited (%s); serving the last exposition and restarting it in %.0f s",
                how,
                backoff,
            )
            with anyio.move_on_after(backoff):
                await stop.wait()
            if stop.is_set():
                return
            self.restarts += 1
            self.swap()
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _stop_worker(self) -> None:
        popen = self.popen
        if popen is None or popen.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        with anyio.move_on_after(STOP_GRACE):
            await anyio.to_thread.run_sync(popen.wait, abandon_on_cancel=True)
        if popen.returncode is None:
            log.warning("the worker did not stop within %.0f s; killing it", STOP_GRACE)
            popen.kill()
            await anyio.to_thread.run_sync(popen.wait)

    async def forward_sighup(self) -> None:
        with contextlib.suppress(ValueError, NotImplementedError), anyio.open_signal_receiver(signal.SIGHUP) as signals:
            async for _ in signals:
                if self.popen is not None and self.worker_running:
                    log.info("received SIGHUP, passing it to the worker")
                    self.popen.send_signal(signal.SIGHUP)


async def _exit_or_stop(popen: subprocess.Popen[bytes], stop: anyio.Event) -> None:
    """Return when the process exits or `stop` is set, whichever comes first."""
    async with anyio.create_task_group() as tg:

        async def stopped() -> None:
            await stop.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(stopped)
        await anyio.to_thread.run_sync(popen.wait, abandon_on_cancel=True)
        tg.cancel_scope.cancel()


# --- HTTP ---------------------------------------------------------------------------------------


async def _answer(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    head = [(b"content-type", b"text/plain; charset=utf-8"), *headers, *SECURITY_HEADERS]
    head.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class FrontApp:
    """ASGI: /metrics, /healthz and /readyz from the front's own state; the rest to the worker."""

    def __init__(self, front: Front, upstream: httpx.AsyncBaseTransport | None = None):
        """`upstream`: how to reach the worker's routes; by default its loopback server, in process
        the worker's ASGI app (`httpx.ASGITransport`)."""
        self.front = front
        self.client = httpx.AsyncClient(
            base_url=front.internal_url, timeout=httpx.Timeout(120.0, connect=5.0), transport=upstream
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == self.front.telemetry_path:
            await self.metrics(scope, send)
        elif path == "/healthz":
            await _answer(send, 200, b"ok\n")
        elif path == "/readyz":
            await self.readyz(scope, receive, send)
        else:
            await self.proxy(scope, receive, send)

    async def metrics(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        if self.front.served is None:  # starting: the worker's first rendering is a second or two away
            await anyio.to_thread.run_sync(self.front.first.wait, FIRST_WAIT, abandon_on_cancel=True)
        served = self.front.served
        if served is None:
            await _answer(send, 503, b"no data rendered yet\n")
            return
        gzip = any(name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope["headers"])
        headers = [(b"content-type", CONTENT_TYPE), (b"vary", b"Accept-Encoding"), *SECURITY_HEADERS]
        head_only = scope["method"] == "HEAD"
        if gzip:
            headers += [(b"content-encoding", b"gzip"), (b"content-length", str(served.size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if not head_only:
                for part in served.parts:  # the body as received: no copy, no compression
                    whole = memoryview(part)
                    for offset in range(0, len(whole), SEND_STEP):
                        view = whole[offset : offset + SEND_STEP]
                        await send({"type": "http.response.body", "body": view, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        headers.append((b"content-length", str(served.length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if not head_only:
            inflate = deflate.gzip_inflater()
            step = 1 << 18  # about 3 MiB of text per piece; ISA-L releases the GIL on a thread
            for piece in served.parts:
                view = memoryview(piece)
                for offset in range(0, len(view), step):
                    text = await anyio.to_thread.run_sync(inflate.decompress, view[offset : offset + step])
                    if text:
                        await send({"type": "http.response.body", "body": text, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Ready when the front holds an exposition and the worker runs; the worker adds the details."""
        front = self.front
        waiting = []
        if front.served is None:
            waiting.append("first render")
        if not front.worker_up:
            waiting.append("worker (restarting)" if front.served is not None else "worker")
        if not waiting:
            await self.proxy(scope, receive, send)
            return
        lines = ["waiting for: " + ", ".join(waiting)]
        if b"verbose" in scope.get("query_string", b""):
            lines += [
                "http: serving",
                f"worker: {'up' if front.worker_up else 'down'}, restarted {front.restarts} time(s)",
                "first render: " + ("done" if front.served is not None else "waiting"),
            ]
        await _answer(send, 503, ("\n".join(lines) + "\n").encode())

    async def proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.front.worker_running:  # else the request would wait in the backlog for the next one
            await _answer(send, 503, b"the exporter's worker process is restarting; try again shortly\n")
            return
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in _HOP_BY_HOP and name != FrontTokenGate.HEADER
        ]
        headers.append((FrontTokenGate.HEADER, self.front.token.encode()))
        query = scope.get("query_string", b"")
        url = scope.get("raw_path") or scope["path"].encode()
        if query:
            url += b"?" + query
        request = self.client.build_request(
            scope["method"], url.decode("latin-1"), headers=headers, content=_request_body(receive)
        )
        try:
            response = await self.client.send(request, stream=True)
        except ClientDisconnect:
            return
        except httpx.HTTPError:
            await _answer(send, 503, b"the exporter's worker process is restarting; try again shortly\n")
            return
        try:
            out = [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers.multi_items()
                if name.lower() not in _FROM_UPSTREAM_DROP
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError:
            log.debug("the worker's answer broke off", extra={"path": scope["path"]})
        finally:
            await response.aclose()


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def run_front(argv: Sequence[str], sock: socket.socket, security: WebSecurity, telemetry_path: str) -> int:
    """Serve on `sock` and supervise the worker until SIGTERM or SIGINT; the exit code."""
    front = Front(argv, telemetry_path)
    app = FrontApp(front)
    server = public_server(app, security)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_signal, stop)
        tg.start_soon(front.forward_sighup)
        tg.start_soon(server.serve, [sock])
        tg.start_soon(front.supervise, stop)
        await stop.wait()
        with anyio.CancelScope(shield=True):
            await front._stop_worker()
            await server.stop(grace=1.0)
            await app.client.aclose()
        tg.cancel_scope.cancel()
    if front.internal is not None:
        front.internal.close()
    return front.exit_code or 0


def public_server(app: FrontApp, security: WebSecurity) -> QuietServer:
    """The public socket's server: the front's app behind basic auth, with TLS when configured."""
    context = security.context

    def tls_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert context is not None  # only handed to the server when TLS is configured
        return context

    return QuietServer(
        uvicorn.Config(
            BasicAuthMiddleware(app, security),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_context_factory=tls_context if context is not None else None,
        )
    )
