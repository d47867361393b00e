"""Per-account request budget: a token bucket shared by every job of one account.

Starlink allows 250 requests a minute per account, shared by every integration on that
account, so the exporter takes only its configured share: never more than
`request_budget_per_minute` requests in any 60 seconds (the bucket's burst is carved out of
that minute, not added to it, and it does not refill while the minute is full, so a saturated
account settles at an even pace instead of bursting and stalling).

A 429 is about the account, not the call that got it: it pauses every job of the account (and
the account resumes from an empty bucket), for Retry-After, or, when the provider does not say,
for a backoff that starts at the account's `backoff_base` and doubles with every such 429 in a
row up to a minute. Until an answer other than 429 comes back, the account sends one request at
a time (a probe), so a storm costs one request per pause, whatever the number of jobs. A 429
answering a request that left before the current pause began (it was in flight when the first
429 came back) is the same storm: it neither steps the backoff nor lengthens the pause, and an
answer to such a request does not end the storm either. A pause is bounded too: a Retry-After
beyond `pause_limit` (the larger of the account's shortest job interval and its backoff_max) is
cut to it, so one answer cannot park an account, manual polls included, for a year.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from leo_exporter.providers.idlelock import IdleLock

WINDOW = 60.0
# A request is counted when it leaves the bucket, but the provider counts its arrival: one that
# leaves late (a busy event loop) and one on time a minute later could land 59.9 s apart. The
# budget is kept in any WINDOW + SLACK seconds, and paced to match, so it holds at the provider too.
SLACK = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class Ticket:
    """One request's leave to go: when it left (which pause) and whether it is the storm's probe."""

    pauses: int  # pauses the account had begun when the request left
    probe: bool  # the one request out while the account is in a 429 storm


class RateBudget:
    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        pause_base: float = 5.0,
        pause_max: float = 60.0,
        pause_limit: float = 3600.0,
        burst: bool = True,
    ):
        """`burst` False: start with no tokens saved, at the budget's even pace (a restarted worker:
        the last one's requests of the last minute are unknown to it, and still count there)."""
        self.capacity = max(1.0, per_minute / 4.0)  # a burst of at most 15 s worth of the budget
        self.per_minute = per_minute
        self.rate = per_minute / (WINDOW + SLACK)
        self.clock = clock
        self.tokens = self.capacity if burst else 0.0
        self.updated = clock()
        self.paused_until = 0.0
        self.pause_base = pause_base
        self.pause_max = pause_max
        self.pause_limit = pause_limit
        self.unexplained = 0  # 429s in a row that came without Retry-After
        self.cut_logged = False  # a Retry-After cut to pause_limit is logged once per 429 streak
        # send times within the last WINDOW (+ SLACK) seconds, oldest first: a list, not a deque
        # (an empty deque is 0.6 KiB, at every account; the oldest few go in one slice)
        self.sent: list[float] = []
        self.lock = IdleLock()
        self.pauses = 0  # pauses begun so far (a 429 to a request older than the last one is an echo)
        self.storm = False  # a 429 came back and no other answer since: one request at a time
        self.probe: Ticket | None = None  # the storm's request in flight
        # set when the probe's answer came; made with each probe (an Event and its deque are
        # about 900 bytes, and most accounts never have a probe)
        self.probe_done: anyio.Event | None = None

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> Ticket:
        """Wait until the account may send one more request; its ticket goes back with the answer
        (`pause`, `answered`) and to `release` when the request ends, whatever the end."""
        async with self.lock:  # first come, first served across the account's jobs
            while True:
                now = self.clock()
                if now < self.paused_until:
                    await anyio.sleep(self.paused_until - now)
                    continue
                if self.probe is not None and self.probe_done is not None:  # a storm's probe is out
                    await self.probe_done.wait()  # its answer
                    continue
                sent = self.sent
                expired = 0
                while expired < len(sent) and now - sent[expired] >= WINDOW + SLACK:
                    expired += 1
                del sent[:expired]
                if len(sent) >= self.per_minute:  # the last minute (and the slack) holds the whole budget
                    self._refill(now)
                    await anyio.sleep(sent[0] + WINDOW + SLACK - now)
                    self.updated = self.clock()  # nothing accrues meanwhile: no burst piles up behind a full minute
                    continue
                self._refill(now)
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    sent.append(now)
                    ticket = Ticket(self.pauses, probe=self.storm)
                    if ticket.probe:
                        self.probe, self.probe_done = ticket, anyio.Event()
                    return ticket
                await anyio.sleep((1.0 - self.tokens) / self.rate)

    def release(self, ticket: Ticket | None) -> None:
        """The request ended (answered, failed or cancelled): if it was the probe, the next may go.
        None: an answer from a caller that keeps no tickets, taken as the probe's."""
        if self.probe is not None and (ticket is None or self.probe is ticket):
            self.probe = None
            if self.probe_done is not None:
                self.probe_done.set()

    def pause(self, seconds: float | None, ticket: Ticket | None = None) -> float:
        """A 429 answered `ticket`'s request: send nothing for `seconds` (the provider's
        Retry-After), or, when the provider gave none, for the next step of the backoff. Returns
        how long the account pauses (from now)."""
        now = self.clock()
        self.storm = True
        self.release(ticket)
        echo = ticket is not None and ticket.pauses < self.pauses  # it left before the current pause began
        if seconds is None:
            if echo:  # the storm the account already pauses for: no step of the backoff
                return max(0.0, self.paused_until - now)
            self.unexplained += 1
            seconds = min(self.pause_base * 2.0 ** min(self.unexplained - 1, 30), self.pause_max)
        seconds = min(seconds, self.pause_limit)
        self.paused_until = max(self.paused_until, now + seconds)
        if not echo:
            self.pauses += 1
        self.tokens = 0.0
        self.updated = self.paused_until  # start again from an empty bucket, at the budget's pace
        return seconds

    def answered(self, ticket: Ticket | None = None) -> None:
        """The provider answered something other than 429: the storm is over and the backoff starts
        again from the base (unless the request left before the account's last pause)."""
        self.release(ticket)
        if ticket is not None and ticket.pauses < self.pauses:
            return
        self.storm = False
        self.unexplained = 0
        self.cut_logged = False
