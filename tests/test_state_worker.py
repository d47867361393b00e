"""The state worker: changes run one at a time off the event loop, many of them per trip to its thread.

At 3,000 accounts the first runs' changes each made a trip of their own: thousands of jobs queued
on the worker's limiter, each holding its parsed data, and runs timed out waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from leo_exporter.state import FleetState, StateWorker


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the state worker's trips to a thread (one entry per call of `to_thread.run_sync`)."""
    counted: list[int] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return counted


@pytest.mark.anyio
async def test_changes_submitted_together_share_trips_and_keep_their_order(trips: list[int]) -> None:
    worker = StateWorker(FleetState())
    applied: list[int] = []
    results: dict[int, int] = {}

    async def submit(n: int) -> None:
        results[n] = await worker.apply(lambda: applied.append(n) or n * n)

    async with anyio.create_task_group() as tg:
        for n in range(1000):
            tg.start_soon(submit, n)

    assert applied == list(range(1000))  # in the order submitted
    assert results == {n: n * n for n in range(1000)}  # each caller gets its own result
    assert len(trips) <= 3  # one trip each before (1,000)
    assert worker.state.changed.is_set()


@pytest.mark.anyio
async def test_a_failing_change_fails_its_caller_only() -> None:
    worker = StateWorker(FleetState())
    applied: list[str] = []
    outcomes: dict[str, str] = {}

    def boom() -> None:
        raise ValueError("bad row")

    async def submit(name: str, change: Callable[[], object]) -> None:
        try:
            await worker.apply(change)
            outcomes[name] = "ok"
        except ValueError as exc:
            outcomes[name] = f"raised {exc}"

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "first", lambda: applied.append("first"))
        tg.start_soon(submit, "bad", boom)
        tg.start_soon(submit, "last", lambda: applied.append("last"))

    assert outcomes == {"first": "ok", "bad": "raised bad row", "last": "ok"}
    assert applied == ["first", "last"]


@pytest.mark.anyio
async def test_a_change_withdrawn_before_its_turn_never_runs() -> None:
    worker = StateWorker(FleetState())
    release = threading.Event()
    applied: list[str] = []
    scopes: list[anyio.CancelScope] = []

    async def withdrawable() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await worker.apply(lambda: applied.append("withdrawn"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run, lambda: release.wait(10))  # holds the worker, as a long render does
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(worker.apply, lambda: applied.append("taken"))  # its batch waits for the render
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(withdrawable)  # queued behind that batch
        await anyio.wait_all_tasks_blocked()
        scopes[0].cancel()
        await anyio.wait_all_tasks_blocked()
        release.set()

    assert applied == ["taken"]


@pytest.mark.anyio
async def test_the_caller_running_a_batch_cancelled_leaves_no_change_unrun() -> None:
    worker = StateWorker(FleetState())
    release = threading.Event()
    applied: list[str] = []
    outcomes: dict[str, object] = {}
    scopes: list[anyio.CancelScope] = []

    async def first() -> None:  # takes the queue as a batch, then its job times out
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await worker.apply(lambda: applied.append("first"))

    async def second() -> None:
        outcomes["second"] = await worker.apply(lambda: applied.append("second") or "applied")

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run, lambda: release.wait(10))
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        scopes[0].cancel()
        release.set()

    assert applied == ["first", "second"]  # the batch taken ran whole, and the next after it
    assert outcomes["second"] == "applied"
