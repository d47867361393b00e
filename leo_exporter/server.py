"""The HTTP server pieces both processes use: a bound listening socket and uvicorn without its
own signal handling. Kept apart from the app and the web routes so the front process (which
serves /metrics and proxies the rest) does not load the state, the renderer or the providers."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator

import anyio
import uvicorn


def parse_listen_address(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (all interfaces) or `[v6]:PORT`."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT, e.g. 127.0.0.1:9817")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def bind_socket(address: str) -> socket.socket:
    """Bind before starting the server, so a busy port is one clear error and not a traceback."""
    host, port = parse_listen_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the exporter decides how to stop."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.finished = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        finally:
            self.finished.set()

    async def stop(self, grace: float = 3.0) -> None:
        """Ask uvicorn to finish and wait (bounded) until it has closed its sockets."""
        self.should_exit = True
        with anyio.move_on_after(grace):
            await self.finished.wait()


async def wait_for_signal(stop: anyio.Event, log_name: str = "leo_exporter") -> None:
    """Set `stop` at the first SIGTERM or SIGINT."""
    import logging

    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logging.getLogger(log_name).info("received %s, shutting down", signal.Signals(signum).name)
            stop.set()
            return
