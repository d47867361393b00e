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


class _Change:
    """One queued change and, once the state worker ran it, its result or exception."""

    __slots__ = ("change", "done", "error", "result", "withdrawn")

    def __init__(self, change: Callable[[], object]):
        self.change = change
        self.done = False
        self.result: object = None
        self.error: Exception | None = None
        self.withdrawn = False  # its caller was cancelled before the worker came to it

    def run(self) -> None:
        if self.withdrawn:
            return
        try:
            self.result = self.change()
        except Exception as exc:  # handed to the caller, who raises it
            self.error = exc


class StateWorker:
    """Runs state changes and renders one at a time on a worker thread, off the event loop.

    One limiter of size 1 serialises them, so the renderer never iterates a table that is
    being changed, and neither blocks the event loop that serves scrapes. Changes that arrive
    while another batch runs are queued and run together, in order, in one trip to the thread:
    with a trip each, 3,000 accounts' first runs queued thousands of callers on the limiter,
    each waiting for two turns of a busy event loop (about a hundred changes a second), and
    every one of them held its parsed data meanwhile.
    """

    def __init__(self, state: FleetState):
        self.state = state
        self.limiter = anyio.CapacityLimiter(1)
        self._queue: list[_Change] = []
        self._batch_done: anyio.Event | None = None  # set while a batch is on its way

    async def apply(self, change: Callable[[], T]) -> T:
        """Run `change` on the state worker and return its result (or raise its exception). The
        first caller that finds no batch on its way takes the queue as one; a caller cancelled
        before its change ran withdraws it (once running, it completes)."""
        item = _Change(change)
        self._queue.append(item)
        try:
            while not item.done:
                if self._batch_done is None:
                    await self._run_batch()
                else:
                    await self._batch_done.wait()
        except BaseException:
            item.withdrawn = True
            raise
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    async def _run_batch(self) -> None:
        """Run every change queued so far. Shielded: the batch holds other callers' changes,
        and a cancellation while it waits for a render must not leave them unrun."""
        batch, self._queue = self._queue, []
        self._batch_done = finished = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_run_all, batch, limiter=self.limiter)
        finally:
            self._batch_done = None
            self.state.mark_changed()
            for item in batch:
                item.done = True
            finished.set()

    async def run(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)


def _run_all(batch: list[_Change]) -> None:
    for item in batch:
        item.run()
