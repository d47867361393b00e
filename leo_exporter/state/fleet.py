"""All accounts, all jobs and the exporter's own figures; the worker thread that changes and renders them.

The big tables are changed only inside the state worker (`StateWorker`), which also runs the
renderer, so a render never sees a table half-updated. Small counters (requests, job status) are
changed on the event loop; the renderer copies those dicts, which CPython does atomically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from leo_exporter import catalog
from leo_exporter.jobstatus import JobStatus
from leo_exporter.state.account import AccountState

T = TypeVar("T")


class FleetState:
    """All accounts, all jobs, and the exporter's own figures."""

    def __init__(self, clock: Callable[[], float] = time.time, calendar: Callable[[], float] | None = None):
        self.clock = clock
        # the clock of billing dates (has a cycle ended?): the machine's, or a simulated calendar's
        self.calendar = calendar or clock
        self.accounts: dict[str, AccountState] = {}
        self.jobs: list[JobStatus] = []
        self.exporter_values: dict[str, float] = {}
        # --shard.leases: shard -> (leading, transitions), from leo_exporter/leases.py; empty otherwise
        self.shard_leases: dict[int, tuple[bool, int]] = {}
        self.changed = threading.Event()

    def add_account(self, account: AccountState) -> None:
        self.accounts[account.name] = account

    def tick(self) -> None:
        """Age the fleet to now: online flags from telemetry age, live series of entities that went
        offline cleared, departed ones dropped. The render loop asks for it before each render, on
        the state worker, so that rendering itself only reads."""
        now = self.clock()
        for account in list(self.accounts.values()):
            account.expire(now)

    def note_render(self, seconds: float, length: int) -> None:
        """The last render's figures, shown by the next one."""
        self.exporter_values[catalog.EXPORTER_RENDER_DURATION_SECONDS.name] = seconds
        self.exporter_values[catalog.EXPORTER_EXPOSITION_BYTES.name] = float(length)

    def mark_changed(self) -> None:
        self.changed.set()


class StateWorker:
    """Runs state changes and renders one at a time on a worker thread, off the event loop.

    One limiter of size 1 serialises them, so the renderer never iterates a table that is
    being changed, and neither blocks the event loop that serves scrapes.
    """

    def __init__(self, state: FleetState):
        self.state = state
        self.limiter = anyio.CapacityLimiter(1)

    async def apply(self, change: Callable[[], T]) -> T:
        result = await anyio.to_thread.run_sync(change, limiter=self.limiter)
        self.state.mark_changed()
        return result

    async def run(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)
