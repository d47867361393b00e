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
  while the last exposition is still served. So is a worker that sends no heartbeat for
  `--worker.heartbeat-timeout` (stopped or hung): it is killed first. A worker that cannot be
  started (no descriptor left, say) is retried with the same backoff; the front lives on.
  SIGHUP goes on to the worker; SIGTERM stops both.
- Every connection and request is bounded (leo_exporter/limits.py, connections.py).
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
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx
import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from leo_exporter import catalog, deflate, discovery, handoff
from leo_exporter.catalog import MetricSpec, NoLabels
from leo_exporter.connections import RequestCap, protocol_class
from leo_exporter.hangup import ignore_sighup
from leo_exporter.limits import FrontLimits
from leo_exporter.server import QuietServer, wait_for_signal
from leo_exporter.webconfig import BasicAuthMiddleware, FrontTokenGate, WebSecurity
from leo_exporter.webheaders import SECURITY_HEADERS

log = logging.getLogger("leo_exporter.front")

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
ENV_CONTROL, ENV_LISTEN, ENV_TOKEN = "LEO_WORKER_CONTROL_FD", "LEO_WORKER_LISTEN_FD", "LEO_WORKER_TOKEN"
ENV_FRONT_PID = "LEO_WORKER_FRONT_PID"
ENV_RESTARTED = "LEO_WORKER_RESTARTED"  # "1": the worker replaces one that died or hung
STOP_GRACE = 3.0  # seconds the worker gets to stop after SIGTERM before SIGKILL (SIGTERM: all gone < 5 s)
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
# The worker yields the CPU to the front: on a busy machine a scrape never waits behind an ingest
# for a core (bench/fleet.py: docs/performance.md). Only lowering a priority needs no privilege.
WORKER_NICE = 10
# The body goes out in views of this size: the transport buffers (copies) what a client has not
# read yet, and the server waits for it to drain before the next piece, so a slow scraper costs
# one piece instead of a copy of the 30 MiB body (Python 3.11's transport buffer is a bytearray).
SEND_STEP = 1 << 18
# Plain text is inflated from INFLATE_STEP bytes of gzip at a time, at most PLAIN_STEP bytes of text
# at a time: a client that reads nothing holds one piece and what is left of its input (it held
# about 6.7 MB when a piece was whatever 256 KiB of gzip inflated to).
INFLATE_STEP = 1 << 15
PLAIN_STEP = 1 << 16
STARTUP_GRACE = 30.0  # seconds a starting worker may take to its first heartbeat (imports, a busy host)
FIRST_WAIT = 10.0  # seconds a scrape at start waits for the first exposition before a 503
# seconds a restarted worker's first runs may take, and its renderings carry the last worker's data
# (less than the default offline_after, 180 s: a carried online flag is never older than that)
RESTART_HOLD = 120.0
# seconds a restarted worker's renderings are held back (the last exposition served) while its first
# runs are not all done; after that they are served, the last worker's data carried where they lack
# it: with the budget's even pace after a restart, first runs under faults took 30 s and more
FIRST_RUNS_HOLD = 10.0
# what a worker exports of every configured account before any poll: not a sign it has the account
CONFIG_GROUPS = frozenset({catalog.ALWAYS_ON, "account"})
MAX_BODY = 1 << 20  # bytes of a request body passed on to the worker (its JSON and forms are tiny)
CLIENT_ADDRESS_HEADER = b"x-leo-client-address"
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"proxy-connection"}
_FROM_UPSTREAM_DROP = {"connection", "keep-alive", "transfer-encoding", "date", "server"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A /metrics body: gzip pieces sent one after the other, and the length of their text."""

    parts: tuple[bytes | memoryview, ...]
    length: int  # of the plain text

    @property
    def size(self) -> int:
        return sum(len(part) for part in self.parts)


Filter = tuple[frozenset[str] | None, frozenset[str] | None]  # collector groups, accounts (None: all)
MAX_SELECTIONS = 16  # filtered answers kept per served body (a scrape config asks for a handful)


@dataclass(frozen=True, slots=True)
class Served:
    """What a scrape gets: the worker's body as received (bytes, never copied: the event loop's
    transport keeps a reference instead of a copy), then `tail`: the front's families, the end of
    the deflate stream and the trailer, in the same gzip member. A `collect[]` or `account[]`
    scrape gets views of the same body (`select`), made once per body and filter."""

    worker: handoff.Body
    tail: bytes
    length: int  # of the plain text
    front_text: bytes = b""  # the front's own families (group "exporter")
    selections: dict[Filter, Answer] = field(default_factory=dict)
    selecting: threading.Lock = field(default_factory=threading.Lock)  # scrapes select on threads

    @property
    def parts(self) -> tuple[bytes, bytes]:
        return self.worker.prefix, self.tail

    @property
    def size(self) -> int:
        return len(self.worker.prefix) + len(self.tail)

    def select(self, wanted: Filter) -> Answer:
        """The answer to a filtered scrape (blocking: a CRC over the selected text's length)."""
        if wanted == (None, None):
            return Answer(self.parts, self.length)
        with self.selecting:  # one at a time: the same filter is computed once, the dict stays whole
            found = self.selections.get(wanted)
            if found is None:
                found = self._select(wanted)
                if len(self.selections) >= MAX_SELECTIONS:
                    self.selections.pop(next(iter(self.selections)))
                self.selections[wanted] = found
            return found

    def _select(self, wanted: Filter) -> Answer:
        groups, accounts = wanted
        chosen = self.worker.select(groups, accounts)
        text = self.front_text if groups is None or catalog.ALWAYS_ON in groups else b""
        tail = deflate.deflate_chunk(text) + deflate.gzip_end(
            deflate.crc32(text, chosen.crc), chosen.length + len(text)
        )
        return Answer((*chosen.views, tail), chosen.length + len(text))


def parse_filter(query: bytes, accounts: frozenset[str]) -> Filter | str:
    """`collect[]` (collector groups, as `--collector.<name>`, or `exporter`: the exporter's own
    figures) and `account[]` of a /metrics query; or the message of a 400 for a name that is not one.
    `collect` (comma-separated groups) and `account` are the same, for Prometheus' `__param_<name>`
    labels, which cannot hold `[]` (leo_exporter/discovery.py)."""
    params = urllib.parse.parse_qs(query.decode("latin-1"), keep_blank_values=True)
    groups = params.get("collect[]", []) + discovery.collectors(params.get("collect", []))
    wanted = params.get("account[]", []) + params.get("account", [])
    problem = discovery.unknown_collectors(groups, "collect[]" if "collect[]" in params else "collect")
    if problem is not None:
        return problem
    if wanted:
        unknown = sorted(set(wanted) - accounts)
        if unknown:
            listed = ", ".join(sorted(accounts)[:20]) + (", ..." if len(accounts) > 20 else "")
            asked = "account[]" if "account[]" in params else "account"
            return (
                f"unknown account {', '.join(map(repr, unknown[:5]))} in {asked}: "
                f"this exporter polls {len(accounts)} account(s): {listed}"
            )
    return (
        frozenset(groups) if groups or "collect[]" in params else None,
        frozenset(wanted) if wanted or "account[]" in params else None,
    )


@dataclass(frozen=True, slots=True)
class WorkerEnd:
    """What a worker process inherits from the front (file descriptors and the token)."""

    control: handoff.Channel
    listen: socket.socket
    token: str
    restarted: bool = False  # it replaces a worker that died or hung


def worker_end() -> WorkerEnd | None:
    """The handoff socket, the internal listening socket and the token, when started by a front."""
    if ENV_CONTROL not in os.environ:
        return None
    control = handoff.Channel(socket.socket(fileno=int(os.environ.pop(ENV_CONTROL))))
    control.start_heartbeat()  # before anything slow (a config of thousands of accounts)
    listen = socket.socket(fileno=int(os.environ.pop(ENV_LISTEN)))
    listen.setblocking(False)
    _die_with_parent(int(os.environ.pop(ENV_FRONT_PID, "0")))
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    restarted = os.environ.pop(ENV_RESTARTED, "0") == "1"
    return WorkerEnd(control, listen, os.environ.pop(ENV_TOKEN), restarted)


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

    def __init__(self, argv: Sequence[str] | None, telemetry_path: str, limits: FrontLimits | None = None):
        """`argv`: the worker's command line; None when the exporter runs in this same process
        (`connect_in_process`: the single-process layout and in-process tests), with no socket."""
        self.argv = list(argv or ())
        self.telemetry_path = telemetry_path
        self.limits = limits or FrontLimits()
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
        self._stopped: anyio.Event | None = None  # set once the worker is stopped (SIGTERM, then SIGKILL)

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
            self.served = Served(body, handoff.tail(body, text), body.length + len(text), text)
        self.first.set()

    def _receive(
        self, sock: socket.socket, delivered: threading.Event, popen: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Reader thread: every frame the worker sends is swapped in, then acknowledged. For at
        most FIRST_RUNS_HOLD, a restarted worker's renderings before its first runs are all done
        are kept back (the last exposition is served); after that, until RESTART_HOLD, they carry
        the last worker's data that the new one lacks of every account with a job that has not
        yet succeeded in it (its provider failing, for one call or all): a restart must not drop
        an account's series from a scrape. A worker silent for the heartbeat timeout is killed
        (the supervisor restarts it); an exporter in this same process (`popen` None) sends no
        heartbeat and needs none."""
        started = time.monotonic()
        previous = self.served.worker if self.served is not None else None  # the last worker's data
        had = handoff.data_accounts(previous, CONFIG_GROUPS) if previous is not None else frozenset()
        beat = self.limits.heartbeat_timeout if popen is not None else None
        sock.settimeout(max(STARTUP_GRACE, beat) if beat is not None else None)
        try:
            while True:
                body = handoff.receive(sock)
                sock.settimeout(beat)
                if body is None:  # a heartbeat
                    continue
                self.worker_up = True
                if previous is not None and time.monotonic() - started > RESTART_HOLD:
                    previous = None
                if previous is not None and not body.complete and time.monotonic() - started < FIRST_RUNS_HOLD:
                    self.swap()  # its first runs are not all done: the last exposition, worker_up 1 now
                elif previous is not None and (unsettled := had & body.accounts & body.unsettled):
                    self.swap(handoff.carry(body, previous, unsettled, catalog.ALWAYS_ON))  # their last good data
                else:
                    previous = None  # no worker before, or every job of the new one has succeeded: nothing to carry
                    self.swap(body)
                delivered.set()
                handoff.acknowledge(sock)
        except TimeoutError:
            if popen is not None and self.worker_running and popen.poll() is None:
                self._hung(popen)
        except (handoff.HandoffError, OSError, ValueError) as exc:
            if self.worker_running and not isinstance(exc, handoff.HandoffError):
                log.error("handoff from the worker failed: %s", exc)

    def _hung(self, popen: subprocess.Popen[bytes]) -> None:
        """The worker sent nothing for the heartbeat timeout: stopped (SIGSTOP) or hung. Not up;
        killed (a stopped process ignores SIGTERM until continued), so the supervisor restarts it."""
        log.error(
            "the worker sent no heartbeat for %.0f s (stopped or hung); killing it (--worker.heartbeat-timeout)",
            self.limits.heartbeat_timeout,
        )
        self.worker_up = False
        self.swap()
        with contextlib.suppress(OSError):
            popen.kill()

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
            ENV_RESTARTED: "1" if self.restarts else "0",
        }
        try:
            with _sighup_ignored_by_children():
                popen = subprocess.Popen(
                    [sys.executable, "-m", "leo_exporter", *self.argv],
                    pass_fds=(theirs.fileno(), self.internal.fileno()),
                    env=env,
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        delivered = threading.Event()
        threading.Thread(target=self._receive, args=(ours, delivered, popen), name="handoff", daemon=True).start()
        return popen, ours, delivered

    async def supervise(self, stop: anyio.Event) -> None:
        """Run the worker; when it exits, keep serving the last exposition and start it again."""
        backoff = BACKOFF_FIRST
        ever_delivered = False
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.popen, sock, delivered = self._start_worker()
            except OSError as exc:  # EMFILE, ENOMEM, EAGAIN: keep serving, try again later
                log.error("cannot start the worker process: %s; trying again in %.0f s", exc, backoff)
                with anyio.move_on_after(backoff):
                    await stop.wait()
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
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
        """SIGTERM, then SIGKILL after STOP_GRACE; once, however many callers ask at the same time."""
        if self._stopped is not None:
            await self._stopped.wait()
            return
        self._stopped = anyio.Event()
        try:
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
        finally:
            self._stopped.set()

    async def forward_sighup(self) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGHUP) as signals:
                async for _ in signals:
                    if self.popen is not None and self.worker_running:
                        log.info("received SIGHUP, passing it to the worker")
                        self.popen.send_signal(signal.SIGHUP)
        except (ValueError, NotImplementedError):  # not the main thread: no signals to receive
            return
        finally:
            ignore_sighup()  # removing the handler restored the default, which ends the process


@contextlib.contextmanager
def _sighup_ignored_by_children() -> Iterator[None]:
    """SIGHUP ignored while a worker is started: a caught signal is reset to its default (the
    end of the process) across exec, an ignored one stays ignored, so the worker ignores it until
    its handler is ready. A SIGHUP to the front in these microseconds is lost, and moot: the new
    worker reads the config as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


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
    typed = any(name == b"content-type" for name, _ in headers)
    head = [*([] if typed else [(b"content-type", b"text/plain; charset=utf-8")]), *headers, *SECURITY_HEADERS]
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
        elif path == "/http_sd":
            await self.http_sd(scope, send)
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
        wanted = parse_filter(scope.get("query_string", b""), served.worker.accounts)
        if isinstance(wanted, str):
            await _answer(send, 400, (wanted + "\n").encode())
            return
        if wanted != (None, None) and not served.worker.pieces and served.worker.prefix:
            await _answer(send, 503, b"this exposition cannot be filtered (no chunk index); try again shortly\n")
            return
        answer = (
            served.select(wanted) if wanted == (None, None) else await anyio.to_thread.run_sync(served.select, wanted)
        )
        gzip = any(name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope["headers"])
        headers = [(b"content-type", CONTENT_TYPE), (b"vary", b"Accept-Encoding"), *SECURITY_HEADERS]
        head_only = scope["method"] == "HEAD"
        if gzip:
            headers += [(b"content-encoding", b"gzip"), (b"content-length", str(answer.size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if not head_only:
                for part in answer.parts:  # the body as received: no copy, no compression
                    whole = memoryview(part)
                    for offset in range(0, len(whole), SEND_STEP):
                        view = whole[offset : offset + SEND_STEP]
                        await send({"type": "http.response.body", "body": view, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        headers.append((b"content-length", str(answer.length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if not head_only:
            async for text in _plain_pieces(answer.parts):  # ISA-L releases the GIL on its thread
                await send({"type": "http.response.body", "body": text, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def http_sd(self, scope: Scope, send: Send) -> None:
        """The accounts of the exposition served, as scrape targets (leo_exporter/discovery.py)."""
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        served = self.front.served
        if served is None:
            await _answer(send, 503, b"no data rendered yet: the accounts are not known\n")
            return
        host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), None)
        status, body = discovery.http_sd(
            scope.get("query_string", b""), host, served.worker.accounts, self.front.telemetry_path
        )
        await _answer(send, status, body, [(b"content-type", b"application/json")] if status == 200 else [])

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
            if name not in _HOP_BY_HOP and name not in (FrontTokenGate.HEADER, CLIENT_ADDRESS_HEADER)
        ]
        headers.append((FrontTokenGate.HEADER, self.front.token.encode()))
        # who asked, for the audit line of an action taken on the status page (never the client's own say)
        headers.append((CLIENT_ADDRESS_HEADER, str((scope.get("client") or ("unknown",))[0]).encode()))
        query = scope.get("query_string", b"")
        url = scope.get("raw_path") or scope["path"].encode()
        if query:
            url += b"?" + query
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            await _answer(send, 413, b"request body too large\n", [(b"connection", b"close")])
            return
        body = _request_body(receive, self.front.limits.idle_timeout)
        request = self.client.build_request(scope["method"], url.decode("latin-1"), headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except ClientDisconnect:
            return
        except BodyRefused as refused:  # too slow or too large: the worker gets a broken request, ignored
            await _answer(send, refused.status, refused.reason, [(b"connection", b"close")])
            return
        except httpx.HTTPError as exc:
            if isinstance(exc.__context__, BodyRefused):
                await _answer(send, exc.__context__.status, exc.__context__.reason, [(b"connection", b"close")])
                return
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


async def _plain_pieces(parts: Sequence[bytes | memoryview]) -> AsyncIterator[bytes]:
    """The plain text of a gzip body, at most PLAIN_STEP bytes at a time, each inflated on a
    thread when the client has taken the one before: what it has not read is one piece."""
    inflate = deflate.gzip_inflater()
    for part in parts:
        view = memoryview(part)
        for offset in range(0, len(view), INFLATE_STEP):
            data: bytes | memoryview = view[offset : offset + INFLATE_STEP]
            while data:
                text = await anyio.to_thread.run_sync(inflate.decompress, data, PLAIN_STEP)
                data = inflate.unconsumed_tail
                if text:
                    yield text


class BodyRefused(Exception):
    """A request body that is too large, or does not come in time: answered, never passed on."""

    def __init__(self, status: int, reason: bytes):
        super().__init__(reason.decode())
        self.status = status
        self.reason = reason


async def _request_body(receive: Receive, within: float) -> AsyncIterator[bytes]:
    """The request body as it comes, each piece within `within` seconds (a client that sends its
    head and then a byte a minute holds no request slot for ever), MAX_BODY bytes at most."""
    size = 0
    while True:
        with anyio.move_on_after(within) as waited:
            message: Message = await receive()
        if waited.cancelled_caught:
            raise BodyRefused(408, b"request body not received in time\n")
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        piece = message.get("body", b"")
        size += len(piece)
        if size > MAX_BODY:
            raise BodyRefused(413, b"request body too large\n")
        yield piece
        if not message.get("more_body", False):
            return


async def run_front(
    argv: Sequence[str],
    sock: socket.socket,
    security: WebSecurity,
    telemetry_path: str,
    limits: FrontLimits | None = None,
) -> int:
    """Serve on `sock` and supervise the worker until SIGTERM or SIGINT; the exit code."""
    front = Front(argv, telemetry_path, limits)
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
    """The public socket's server: the front's app behind basic auth inside the request cap, with
    TLS when configured; connections bounded by the protocol (connections.py); no WebSocket (an
    upgrade is answered as plain HTTP)."""
    context = security.context
    limits = app.front.limits.per_address_within()

    def tls_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert context is not None  # only handed to the server when TLS is configured
        return context

    protocol = protocol_class(limits)
    return QuietServer(
        uvicorn.Config(
            RequestCap(
                BasicAuthMiddleware(app, security),
                limits.max_requests,
                protocol.make_room,
                per_address=limits.max_requests_per_address,
            ),
            http=protocol,
            ws="none",
            proxy_headers=False,  # the login throttle keys on the peer: X-Forwarded-For is anyone's to write
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_context_factory=tls_context if context is not None else None,
        )
    )
