"""Terminals joining and leaving a simulated Starlink account over time (the simulator's `--churn`).

An account with churn is built with a pool of spare terminals beyond its `n` (each with its own
ids, service line, router and telemetry, all from the seed). The pool is put in a fixed order
(the first `n` terminals first, shuffled, then the spares, shuffled) and the inventory is a
window of `n` terminals that slides `k` places every period: each period the `k` longest-serving
terminals leave (their telemetry, router and service line with them) and `k` spares join. A
terminal that left comes back only after `(pool - n) / k` periods. Everything is a pure function
of the seed and the time since start, so two simulators with the same arguments agree.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict

GENERATIONS = 30  # periods a departed terminal stays away (when the pool allows)
MAX_POOL_FACTOR = 4  # the spare pool is at most this many times the fleet


def spares(n: int, fraction: float) -> int:
    """How many spare terminals an account of `n` needs for `fraction` churn per period."""
    if fraction <= 0 or n <= 0:
        return 0
    per_period = max(1, math.ceil(n * fraction))
    return min(per_period * GENERATIONS, MAX_POOL_FACTOR * n)


class Churn:
    """Which terminal indices of one account are in its inventory at a given time."""

    def __init__(self, n: int, pool: int, fraction: float, period: float, t0: float, seed_key: int) -> None:
        if period <= 0:
            raise ValueError("the churn period must be positive")
        self.n = n
        self.pool = pool
        self.per_period = min(max(1, math.ceil(n * fraction)), pool - n) if pool > n else 0
        self.period = period
        self.t0 = t0
        rng = random.Random(seed_key)
        first, extra = list(range(n)), list(range(n, pool))
        rng.shuffle(first)
        rng.shuffle(extra)
        self.order = first + extra
        self.frozen: int | None = None
        self._absent: OrderedDict[int, frozenset[int]] = OrderedDict()

    def epoch_at(self, t: float) -> int:
        """The churn period `t` falls in (0 from the start; held while frozen)."""
        epoch = max(0, int((t - self.t0) // self.period))
        return epoch if self.frozen is None else min(epoch, self.frozen)

    def next_change(self, t: float) -> float | None:
        if self.frozen is not None or self.per_period == 0:
            return None
        return self.t0 + (self.epoch_at(t) + 1) * self.period

    def _window(self, epoch: int) -> list[int]:
        start = epoch * self.per_period
        return [self.order[(start + j) % self.pool] for j in range(self.n)]

    def absent(self, epoch: int) -> frozenset[int]:
        """Pool indices not in the inventory during `epoch` (cached for the last few epochs)."""
        found = self._absent.get(epoch)
        if found is None:
            found = frozenset(range(self.pool)) - frozenset(self._window(epoch))
            self._absent[epoch] = found
            while len(self._absent) > 8:
                self._absent.popitem(last=False)
        else:
            self._absent.move_to_end(epoch)
        return found

    def present(self, epoch: int) -> list[int]:
        """Pool indices in the inventory during `epoch`, in index order."""
        absent = self.absent(epoch)
        return [i for i in range(self.pool) if i not in absent]

    def ever_present(self, epoch: int) -> set[int]:
        """Every index that was in the inventory in some epoch up to `epoch`."""
        span = min(self.pool, self.n + epoch * self.per_period)
        return {self.order[j % self.pool] for j in range(span)}
