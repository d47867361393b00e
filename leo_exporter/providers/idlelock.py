"""A first-come, first-served lock that holds no `anyio.Lock` while no task holds or awaits it.

Every account has a few locks (its request budget's, a Starlink token's, a OneWeb hello check's)
and each `anyio.Lock` keeps a deque of waiters, about 0.8 KiB empty: 4 MiB at 3,000 accounts for
locks that are free almost all the time. This one makes its `anyio.Lock` when a task takes it and
drops it when the last holder leaves with nobody waiting (anyio hands a released lock straight to
the next waiter, so a lock in use is never dropped).
"""

from __future__ import annotations

from types import TracebackType

import anyio


class IdleLock:
    """`async with lock:`, as with `anyio.Lock`; one task in at a time, in the order they came."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock: anyio.Lock | None = None

    def locked(self) -> bool:
        return self._lock is not None and self._lock.locked()

    async def __aenter__(self) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        lock = self._lock
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: the lock may be idle now
            self._drop_if_idle(lock)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        lock = self._lock
        assert lock is not None  # entered, so made and not dropped while held
        lock.release()
        self._drop_if_idle(lock)

    def _drop_if_idle(self, lock: anyio.Lock) -> None:
        if self._lock is lock and not lock.locked() and not lock.statistics().tasks_waiting:
            self._lock = None
