"""HTTP endpoints: /metrics from the cached exposition, /healthz, /readyz and a landing page.

Scrapes never render: they hand out the bytes the render loop produced last, gzipped ahead
of time when the client accepts gzip.
"""

from __future__ import annotations

import html
import socket
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from exporter import __version__
from exporter.render import CONTENT_TYPE

if TYPE_CHECKING:
    from exporter.app import Exporter


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


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def build_app(exporter: Exporter) -> Starlette:
    async def metrics(request: Request) -> Response:
        exposition = exporter.exposition
        if exposition is None:
            return PlainTextResponse("no data rendered yet\n", status_code=503)
        if _accepts_gzip(request):
            headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
            return Response(exposition.gzipped, media_type=CONTENT_TYPE, headers=headers)
        return Response(exposition.plain, media_type=CONTENT_TYPE, headers={"Vary": "Accept-Encoding"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        waiting = exporter.not_ready()
        if waiting:
            return PlainTextResponse("waiting for: " + ", ".join(waiting[:20]) + "\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def landing(request: Request) -> Response:
        rows = "".join(
            f"<tr><td>{html.escape(j.key)}</td><td>{'up' if j.up else 'down' if j.up == 0 else 'pending'}</td>"
            f"<td>{html.escape(j.last_error)}</td></tr>"
            for j in exporter.state.jobs
        )
        mode = "<p><strong>Simulation mode</strong>: data comes from the built-in simulator.</p>"
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>leo-exporter</title></head><body>"
            f"<h1>leo-exporter {html.escape(__version__)}</h1>{mode if exporter.simulated else ''}"
            "<p><a href='metrics'>Metrics</a> · <a href='healthz'>Health</a> · <a href='readyz'>Readiness</a></p>"
            f"<table><tr><th>job</th><th>state</th><th>last error</th></tr>{rows}</table></body></html>"
        )
        return HTMLResponse(body)

    routes = [
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/", landing),
    ]
    return Starlette(routes=routes)
