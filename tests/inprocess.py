"""The exporter and the simulator in one process: the exporter's HTTP client talks to the
simulator's ASGI app through httpx's ASGI transport, so no port or thread is involved."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette

from leo_exporter.app import Exporter
from leo_exporter.catalog import COLLECTORS
from leo_exporter.providers import built_in, parse_config
from leo_exporter.serving import in_process
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW

SIM_URL = "http://simulator"


def simulated_exporter(
    app: Starlette | None = None, *, every_collector: bool = False, restarted: bool = False, **sim: int
) -> tuple[Exporter, Starlette]:
    """The demo config's exporter on the simulator `app` (by default one of the built-in providers,
    whatever plug-ins are installed, at the tests' fixed date); `every_collector`: the groups that
    are off by default switched on too (what the schema and the docs describe); `restarted`: a
    worker that replaces one (the front may carry the last one's data)."""
    app = app or build_app(now=SIMULATED_NOW, only=built_in(), **sim)
    data = demo_config(SIM_URL, app)
    if every_collector:
        data["collectors"] = dict.fromkeys(COLLECTORS, True)
    for account in data["accounts"]:
        if account["provider"] == "starlink":
            account["telemetry"] = {"max_linger": "0s"}
    # billing dates (has a usage report's cycle ended?) by the simulated calendar, as in the demo
    calendar = app.state.calendar
    exporter = Exporter(
        parse_config(data), transport=httpx.ASGITransport(app=app), calendar=calendar, restarted=restarted
    )
    return exporter, app


async def poll_all(exporter: Exporter) -> None:
    """Run every enabled job once, identifying jobs first, then render."""
    jobs = list(exporter.scheduler.jobs.values())
    for job in sorted(jobs, key=lambda j: j.gate is not None):
        if job.status.enabled:
            await exporter.scheduler.run_once(job)
    await exporter.render_now()


@contextlib.asynccontextmanager
async def front_client(exporter: Exporter) -> AsyncIterator[httpx.AsyncClient]:
    """A client of what users reach: the front's app (/metrics, /healthz, /readyz) in front of the
    exporter's routes, all in this process; a rendering is in /metrics once `render_now` returns."""
    async with (
        in_process(exporter) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exporter") as http,
    ):
        yield http
