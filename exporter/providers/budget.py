"""Per-account request budget: a token bucket shared by every job of one account.

Starlink allows 250 requests a minute per account, shared by every integration on that
account, so the exporter takes only its configured share and pauses the whole account when
the provider answers 429 (for Retry-After, or a minute when it gives none).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio


class RateBudget:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = max(1.0, per_minute / 4.0)  # a burst of at most 15 s worth of the budget
        self.rate = per_minute / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.paused_until = 0.0
        self.lock = anyio.Lock()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> None:
        """Wait until the account may send one more request."""
        async with self.lock:  # first come, first served across the account's jobs
            while True:
                now = self.clock()
                if now < self.paused_until:
                    await anyio.sleep(self.paused_until - now)
                    continue
                self._refill(now)
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await anyio.sleep((1.0 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """Send nothing for this long (the provider said 429)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        self.tokens = 0.0
