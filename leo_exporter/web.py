"""The worker's HTTP endpoints: /healthz, /readyz (with the jobs' progress), POST /-/reload and the
operator tools (status page, JSON API, CSV, job control: `leo_exporter.status`).

/metrics is not here: the front process (leo_exporter/front.py) is the only server of it, in
production and in the single-process layout and in-process tests alike (leo_exporter/serving.py).
The routes see the exporter through `leo_exporter.port.ExporterPort`, never the wiring itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from leo_exporter.status.routes import change_refused
from leo_exporter.status.routes import routes as status_routes
from leo_exporter.webheaders import SecurityHeadersMiddleware

if TYPE_CHECKING:
    from leo_exporter.port import ExporterPort

log = logging.getLogger("leo_exporter.web")


class QuietDisconnects:
    """A client that hangs up mid-request (a POST dropped half-way through its body) is routine:
    one debug line, not an error with a traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.debug("client disconnected before the request was complete", extra={"path": scope.get("path", "")})


def build_app(exporter: ExporterPort) -> Starlette:
    """The worker's routes (the front serves /metrics itself and sends everything else here)."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        """Config loaded, HTTP serving, first render done; `?verbose` adds the jobs' progress."""
        waiting = exporter.not_ready()
        lines = ["waiting for: " + ", ".join(waiting)] if waiting else ["ready"]
        if "verbose" in request.query_params:
            pending = exporter.first_runs_pending()
            failing = exporter.not_succeeded()
            lines += [
                "config: loaded",
                "http: serving",
                "first render: " + ("waiting" if waiting else "done"),
                "first runs: " + ("all rendered" if not pending else "waiting for " + ", ".join(pending[:50])),
                "jobs not succeeded yet: " + (", ".join(failing[:200]) or "none"),
            ]
            if leases := exporter.leases_summary():
                lines.append("shard leases: " + leases)
        return PlainTextResponse("\n".join(lines) + "\n", status_code=503 if waiting else 200)

    async def reload(request: Request) -> Response:
        refused = change_refused(request, exporter.lifecycle, "--web.enable-lifecycle")
        if refused:
            return PlainTextResponse(refused + "\n", status_code=403)
        problems = await exporter.reload_from_file()
        if problems:
            text = "config not reloaded, still running the previous one:\n" + "\n".join(problems) + "\n"
            return PlainTextResponse(text, status_code=500)
        return PlainTextResponse("config reloaded\n")

    routes = [
        Route("/-/reload", reload, methods=["POST", "PUT"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *status_routes(exporter),  # the status page at /, /api/..., /terminals.csv
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware), Middleware(QuietDisconnects)])
