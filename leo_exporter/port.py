"""What the web side (the worker's HTTP routes and the status pages) may use of the running exporter.

`web.py` and `status/` depend on this protocol, not on `app.py`: the wiring (`app.Exporter`)
satisfies it, and the serving module hands an Exporter to the routes. So the wiring never needs
the web, and the web never imports the wiring (no circle, however the import is written).
"""

from __future__ import annotations

from typing import Protocol

import httpx

from leo_exporter.config import Config
from leo_exporter.providers.budget import RateBudget
from leo_exporter.scheduler import Job
from leo_exporter.state import FleetState, StateWorker


class JobFinder(Protocol):
    def find(self, key: str) -> Job | None:
        """The job of a key like `starlink/fleet-north/telemetry`, if there is one."""
        ...


class ExporterPort(Protocol):
    """The running exporter as its HTTP routes see it: its state and jobs, its switches
    (`--web.enable-admin-api`, `--web.enable-lifecycle`), readiness, reload and render."""

    @property
    def config(self) -> Config: ...
    @property
    def state(self) -> FleetState: ...
    @property
    def worker(self) -> StateWorker: ...
    @property
    def scheduler(self) -> JobFinder: ...
    @property
    def simulated(self) -> bool: ...
    @property
    def admin_api(self) -> bool: ...
    @property
    def lifecycle(self) -> bool: ...
    @property
    def grafana_url(self) -> str: ...
    @property
    def basic_auth(self) -> bool: ...
    @property
    def provider_transport(self) -> httpx.AsyncBaseTransport | None: ...

    def account_budget(self, name: str) -> RateBudget | None:
        """The request budget of a running account (None: not polled by this replica)."""
        ...

    def not_ready(self) -> list[str]:
        """What /readyz waits for (empty: ready)."""
        ...

    def leases_summary(self) -> str:
        """Which shards this replica leads by lease (empty when shards are static)."""
        ...

    def first_runs_pending(self) -> list[str]:
        """Enabled jobs that have not run yet, and 'render' until a rendering shows their first runs."""
        ...

    def not_succeeded(self) -> list[str]:
        """Enabled jobs that have not succeeded yet."""
        ...

    async def reload_from_file(self) -> list[str]:
        """Reload the config file; the problems (empty: reloaded)."""
        ...

    async def render_now(self) -> object:
        """Tick and render now, so what a job run brought is in /metrics when the caller answers."""
        ...
