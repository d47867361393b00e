"""Per-account request budget: a token bucket shared by every job of one account.

Starlink allows 250 requests a minute per account, shared by every integration on that
account, so the exporter takes only its configured share: never more than
`request_budget_per_minute` requests in any 60 seconds (the bucket's burst is carved out of
that minute, not added to it, and it does not refill while the minute is full, so a saturated
account settles at an even pace instead of bursting and stalling), and it pauses the whole
account when the provider answers 429 (and resumes from an empty bucket):
for Retry-After, or, when the provider does not say, for a backoff that starts at the account's
`backoff_base` and doubles with every such 429 in a row up to a minute (so a storm costs one
probe per pause, and the account is back within one pause after the storm ends). A pause is
bounded too: a Retry-After beyond `pause_limit` (the larger of the account's shortest job interval
and its backoff_max) is cut to it, so one answer cannot park an account, manual polls included,
for a year.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import anyio

WINDOW = 60.0
# A request is counted when it leaves the bucket, but the provider counts its arrival: one that
# leaves late (a busy event loop) and one on time a minute later could land 59.9 s apart. The
# budget is kept in any WINDOW + SLACK seconds, and paced to match, so it holds at the provider too.
SLACK = 1.0


class RateBudget:
    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        pause_base: float = 5.0,
        pause_max: float = 60.0,
        pause_limit: float = 3600.0,
    ):
        self.capacity = max(1.0, per_minute / 4.0)  # a burst of at most 15 s worth of the budget
        self.per_minute = per_minute
        self.rate = per_minute / (WINDOW + SLACK)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.paused_until = 0.0
        self.pause_base = pause_base
        self.pause_max = pause_max
        self.pause_limit = pause_limit
        self.unexplained = 0  # 429s in a row that came without Retry-After
        self.cut_logged = False  # a Retry-After cut to pause_limit is logged once per 429 streak
        self.sent: deque[float] = deque()  # send times within the last WINDOW seconds
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
                sent = self.sent
                while sent and now - sent[0] >= WINDOW + SLACK:
                    sent.popleft()
                if len(sent) >= self.per_minute:  # the last minute (and the slack) holds the whole budget
                    self._refill(now)
                    await anyio.sleep(sent[0] + WINDOW + SLACK - now)
                    self.updated = self.clock()  # nothing accrues meanwhile: no burst piles up behind a full minute
                    continue
                self._refill(now)
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    sent.append(now)
                    return
                await anyio.sleep((1.0 - self.tokens) / self.rate)

    def pause(self, seconds: float | None) -> float:
        """Send nothing for `seconds` (the provider's Retry-After), or, when the provider gave none,
        for the next step of the backoff. Returns how long the account pauses."""
        if seconds is None:
            self.unexplained += 1
            seconds = min(self.pause_base * 2.0 ** min(self.unexplained - 1, 30), self.pause_max)
        seconds = min(seconds, self.pause_limit)
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        self.tokens = 0.0
        self.updated = self.paused_until  # start again from an empty bucket, at the budget's pace
        return seconds

    def answered(self) -> None:
        """The provider answered something other than 429: the backoff starts again from the base."""
        self.unexplained = 0
        self.cut_logged = False
