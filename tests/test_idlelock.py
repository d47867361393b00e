"""The accounts' locks (request budget, Starlink token, OneWeb hello check): one task in at a time,
in the order they came, and no anyio.Lock (with its deque of waiters) held while nobody uses it."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from leo_exporter.providers.idlelock import IdleLock

pytestmark = pytest.mark.anyio


async def test_tasks_enter_one_at_a_time_in_the_order_they_came() -> None:
    lock = IdleLock()
    entered: list[int] = []
    inside = 0
    released = anyio.Event()

    async def enter(n: int) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1
            entered.append(n)
            if n == 0:
                await released.wait()
            await anyio.lowlevel.checkpoint()
            inside -= 1

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(enter, 0)
        await anyio.wait_all_tasks_blocked()
        for n in range(1, 6):
            tasks.start_soon(enter, n)
            await anyio.wait_all_tasks_blocked()  # each waits in turn behind the first
        assert entered == [0] and lock.locked()
        released.set()
    assert entered == [0, 1, 2, 3, 4, 5]
    assert not lock.locked() and lock._lock is None  # nothing held once everybody left


async def test_a_task_cancelled_while_waiting_leaves_the_lock_usable() -> None:
    lock = IdleLock()
    release = anyio.Event()

    async def hold() -> None:
        async with lock:
            await release.wait()

    async def wait_in_vain() -> None:
        async with lock:
            raise AssertionError("a cancelled waiter got in")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hold)
        await anyio.wait_all_tasks_blocked()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as waiting:
                waiting.start_soon(wait_in_vain)
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
        assert lock.locked()  # still the holder's
        release.set()
    assert lock._lock is None
    with anyio.fail_after(1):
        async with lock:
            assert lock.locked()


async def test_a_body_that_raises_releases_the_lock() -> None:
    lock = IdleLock()
    with pytest.raises(RuntimeError):
        async with lock:
            raise RuntimeError("the request failed")
    assert not lock.locked() and lock._lock is None
