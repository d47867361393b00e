"""HTTP endpoints: /metrics from the cached exposition, /healthz, /readyz, and the operator tools
(status page, JSON API, CSV: `leo_exporter.status`).

Scrapes never render: they hand out the bytes the render loop produced last, gzipped ahead
of time when the client accepts gzip.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from leo_exporter.render import CONTENT_TYPE, Chunk, Exposition
from leo_exporter.status.routes import change_refused
from leo_exporter.status.routes import routes as status_routes
from leo_exporter.webheaders import SecurityHeadersMiddleware

if TYPE_CHECKING:
    from leo_exporter.app import Exporter

log = logging.getLogger("leo_exporter.web")


class PlainExpositionResponse(Response):
    """Plain text for clients that do not take gzip: the cached chunks inflated group by group on a
    worker thread (ISA-L releases the GIL), sent as they come; flow control bounds the memory."""

    media_type = CONTENT_TYPE

    def __init__(self, exposition: Exposition):
        super().__init__(None, headers={"Vary": "Accept-Encoding"}, media_type=CONTENT_TYPE)
        self.headers["content-length"] = str(exposition.length)
        self.exposition = exposition

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") != "HEAD":
            for batch in self.exposition.plain_batches():
                body = await anyio.to_thread.run_sync(_inflate, batch)
                await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class GzipExpositionResponse(Response):
    """The gzip body sent in pieces of about 1 MiB, joined from the cached chunks as it goes: the
    exposition keeps no whole copy of its body, and flow control bounds what a slow client holds."""

    media_type = CONTENT_TYPE

    def __init__(self, exposition: Exposition):
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        super().__init__(None, headers=headers, media_type=CONTENT_TYPE)
        self.headers["content-length"] = str(exposition.gzip_size)
        self.exposition = exposition

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") != "HEAD":
            for piece in self.exposition.gzip_pieces():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _inflate(chunks: tuple[Chunk, ...]) -> bytes:
    return b"".join(chunk.plain() for chunk in chunks)


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


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def build_app(exporter: Exporter) -> Starlette:
    async def metrics(request: Request) -> Response:
        exposition = exporter.exposition
        if exposition is None:
            return PlainTextResponse("no data rendered yet\n", status_code=503)
        if _accepts_gzip(request):
            return GzipExpositionResponse(exposition)
        return PlainExpositionResponse(exposition)

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
        Route(exporter.telemetry_path, metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *status_routes(exporter),  # the status page at /, /api/..., /terminals.csv
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware), Middleware(QuietDisconnects)])
