"""Putting the exporter behind HTTP. One server of /metrics, the front's (leo_exporter/front.py), in
every layout:

- under a front process (production): `serve_worker` runs the exporter and its routes
  (leo_exporter/web.py) on the loopback socket the front handed over, answering only the front;
- in one process (bench/fleet.py's `--layout single`, the comparison with the front; and, through
  `InProcess`, the in-process tests): the front's app serves /metrics from renderings handed over a
  socket pair in this process, and reaches the worker's routes through an ASGI transport.

The wiring (leo_exporter/app.py) knows no HTTP, and the routes know the exporter only as an
`ExporterPort`; this module joins them.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import anyio
import httpx
import uvicorn
from starlette.types import ASGIApp

from leo_exporter.app import Exporter
from leo_exporter.front import Front, FrontApp, public_server
from leo_exporter.handoff import Channel, Publisher
from leo_exporter.server import QuietServer
from leo_exporter.web import build_app
from leo_exporter.webconfig import FrontTokenGate, WebSecurity


async def serve_worker(exporter: Exporter, sock: socket.socket, token: str, stop: anyio.Event) -> None:
    """Run the exporter and its routes on `sock` until `stop` is set; only the front's token passes."""
    server = QuietServer(
        uvicorn.Config(
            FrontTokenGate(build_app(exporter), token),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    await _run(exporter, server, sock, stop)


class InProcess:
    """The front's app for an exporter in this process: /metrics from what the exporter renders
    (handed over as to a front process), every other path to the worker's routes."""

    def __init__(self, exporter: Exporter, telemetry_path: str = "/metrics"):
        self.exporter = exporter
        self.front = Front(None, telemetry_path)
        self.handoff = self.front.connect_in_process()
        exporter.publish = Publisher(Channel(self.handoff), exporter.shows_first_runs)
        worker = FrontTokenGate(build_app(exporter), self.front.token)
        self.app = FrontApp(self.front, upstream=httpx.ASGITransport(app=worker))

    async def publish_current(self) -> None:
        """Hand over the exporter's last rendering, if it rendered before this was set up."""
        if self.exporter.exposition is not None and self.exporter.publish is not None:
            await self.exporter.publish(self.exporter.exposition)

    async def aclose(self) -> None:
        self.exporter.publish = None
        await self.app.client.aclose()
        self.handoff.close()  # ends the front's reading thread


@contextlib.asynccontextmanager
async def in_process(exporter: Exporter, telemetry_path: str = "/metrics") -> AsyncIterator[ASGIApp]:
    """The app users reach, for an exporter in this process (tests): what the exporter rendered
    before is served at once; what it renders next, once `render_now` returns."""
    local = InProcess(exporter, telemetry_path)
    try:
        await local.publish_current()
        yield local.app
    finally:
        await local.aclose()


async def serve_alone(
    exporter: Exporter, sock: socket.socket, security: WebSecurity, telemetry_path: str, stop: anyio.Event
) -> None:
    """The exporter and the front's app in one process on the public socket, until `stop` is set."""
    local = InProcess(exporter, telemetry_path)
    try:
        await _run(exporter, public_server(local.app, security), sock, stop)
    finally:
        await local.aclose()


async def _run(exporter: Exporter, server: QuietServer, sock: socket.socket, stop: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(exporter.run)
        tg.start_soon(server.serve, [sock])
        await stop.wait()
        await exporter.stop_leases()  # the shards go to other replicas before the slower goodbyes
        await server.stop()
        tg.cancel_scope.cancel()
