"""Jobs on their own timers: one job per (account, API call).

A job runs at a fixed rate (start to start), with a little jitter so that jobs of many accounts do
not fire together; first runs are spread over `first_run_spread` (thousands of accounts starting at
once kept the worker too busy to answer for minutes). A failure is retried sooner, not later: after
`backoff_base`, doubling, but never later than the job's own interval (so it recovers within one
interval after a fault clears), and never before the provider's Retry-After. Every wait is bounded:
the doubling stops at MAX_EXPONENT (a job failing for weeks computes the same capped delay, never an
overflow), and a Retry-After beyond the job's interval or `backoff_max`, whichever is larger, is
clamped to that (and logged once), so no answer of a provider can park a job for a year. Other jobs
of an account wait until the account's identifying job has succeeded once, so every series carries
the provider's own id.

A job between runs is an entry in one timetable (a heap of due times), not a task: one task waits
for whichever job is due next and starts a task for that run only. A sleeping task with its timer
and wake-up event cost about 5.8 KiB under uvloop, and 3,000 accounts have 19,000 jobs (108 MiB of
the worker's memory went to jobs that were only waiting).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import time
import weakref
from collections.abc import Callable

import anyio

from leo_exporter.durations import format_duration
from leo_exporter.jobstatus import JobStatus
from leo_exporter.logs import REDACT
from leo_exporter.providers.base import JobFunction
from leo_exporter.providers.errors import ProviderError

log = logging.getLogger("leo_exporter.scheduler")
FIRST_RUNS_PER_SECOND = 100.0  # first runs are spread so that about this many start each second
STALE_ENTRIES = 64  # stale timetable entries tolerated before they are dropped (when most are stale)
MAX_EXPONENT = 30  # 2**30 times any backoff_base is far beyond every cap; beyond it float math overflows


class Gate:
    """Whether an account's identifying job has succeeded, so its other jobs may start. A flag, not
    an `anyio.Event`: nothing waits on it (the scheduler keeps the jobs behind it), and an Event
    with its deque of waiters is about 0.9 KiB at every account."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open = False

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True


class Job:
    """One (account, API call) the scheduler runs: between runs it is only its timetable entry,
    so it keeps no dict of its own (with JobStatus's two run counters: 1.4 KiB less an account)."""

    __slots__ = (
        "__weakref__",  # the timetable holds jobs weakly
        "backoff_base",
        "backoff_max",
        "clamp_logged",
        "entry",
        "failures",
        "forced",
        "gate",
        "jitter",
        "on_wake",
        "opens",
        "removed",
        "run",
        "running",
        "scope",
        "status",
        "woken",
    )

    def __init__(
        self,
        status: JobStatus,
        run: JobFunction,
        *,
        backoff_base: float = 5.0,
        backoff_max: float = 300.0,
        jitter: float = 0.1,
        gate: Gate | None = None,
        opens: Gate | None = None,
    ):
        self.status = status
        self.run = run
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.gate = gate  # wait for this before the first run
        self.opens = opens  # set this after the first success
        self.forced = False
        self.failures = 0
        self.scope: anyio.CancelScope | None = None  # of the run in progress; cancelled on removal
        self.removed = False
        self.clamp_logged = False  # a clamped Retry-After is logged once per failure streak
        self.on_wake: Callable[[Job], None] | None = None  # its scheduler's, once added
        self.entry = 0  # which timetable entry is this job's (earlier ones are stale)
        self.running = False
        self.woken = False  # woken during a run: decide again as soon as it ends

    @property
    def key(self) -> str:
        return self.status.key

    def trigger(self) -> None:
        """Run now (the status page's "Poll now"), even when disabled."""
        self.forced = True
        self._wake()

    def set_enabled(self, enabled: bool) -> None:
        self.status.enabled = enabled
        self._wake()

    def set_interval(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("interval must be greater than 0")
        self.status.interval = seconds
        self._wake()

    def _wake(self) -> None:
        """Decide now whether to run (as a sleeping job woken would): run if enabled or forced."""
        if self.on_wake is not None:
            self.on_wake(self)

    def retry_limit(self) -> float:
        """The longest a provider may make this job wait: its interval or backoff_max, the larger."""
        return max(self.status.interval, self.backoff_max)

    def retry_delay(self, retry_after: float | None) -> float:
        exponent = min(max(0, self.failures - 1), MAX_EXPONENT)
        delay = min(self.backoff_base * 2.0**exponent, self.status.interval, self.backoff_max)
        wait = retry_after or 0.0
        limit = self.retry_limit()
        if wait > limit:
            if not self.clamp_logged:
                self.clamp_logged = True
                log.warning(
                    "provider asked to wait %s; waiting %s instead (the larger of interval and backoff_max)",
                    format_duration(wait),
                    format_duration(limit),
                    extra={"job": self.status.call, "account_name": self.status.account.name},
                )
            wait = limit
        return max(delay, wait)


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        # (due on the monotonic clock, entry, the job): weakly, so that removing an account frees it
        self._timetable: list[tuple[float, int, weakref.ref[Job]]] = []
        self._entries = itertools.count(1)
        self._gated: dict[Gate, list[Job]] = {}  # jobs waiting for their account's identifying job
        self._sooner = anyio.Event()  # a job became due sooner than the timetable's task waits for
        self._stale = 0  # entries of removed jobs or superseded by a later one, dropped when due

    def add(self, job: Job) -> None:
        """Add a job; it starts at once when the scheduler is already running (a config reload)."""
        self.jobs[job.status.account.name + "/" + job.status.call] = job
        job.on_wake = self._wake
        if self._tg is not None:
            self._start(job)

    def remove(self, job: Job) -> None:
        """Stop a job (cancelling a run in progress) and forget it."""
        self.jobs.pop(job.status.account.name + "/" + job.status.call, None)
        job.removed = True
        job.on_wake = None
        if job.entry:
            job.entry = 0
            self._stale += 1
            self._compact()
        if job.gate is not None and job in self._gated.get(job.gate, ()):
            self._gated[job.gate].remove(job)
        if job.scope is not None:
            job.scope.cancel()

    def find(self, key: str) -> Job | None:
        """A job by its label (`provider/account/call`) or by `account-name/call`."""
        return self.jobs.get(key) or next((j for j in self.jobs.values() if j.key == key), None)

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._start_all()
                await self._keep_time(tg)
        finally:
            self._tg = None

    def _start_all(self) -> None:
        for job in list(self.jobs.values()):
            self._start(job)

    def _start(self, job: Job) -> None:
        """A job's first run: once its gate is open, somewhere within its first-run spread."""
        if job.gate is not None and not job.gate.is_set():
            self._gated.setdefault(job.gate, []).append(job)
        else:
            self._due_in(job, random.uniform(0, self.first_run_spread(job)))

    def _open(self, gate: Gate) -> None:
        """The identifying job succeeded: its account's other jobs start."""
        for job in self._gated.pop(gate, []):
            if not job.removed:
                self._due_in(job, random.uniform(0, self.first_run_spread(job)))

    def _due_in(self, job: Job, seconds: float) -> None:
        if job.entry:
            self._stale += 1
            self._compact()
        job.entry = next(self._entries)
        due = time.monotonic() + seconds
        if not self._timetable or due < self._timetable[0][0]:
            self._sooner.set()
        heapq.heappush(self._timetable, (due, job.entry, weakref.ref(job)))

    def _wake(self, job: Job) -> None:
        if job.removed or (job.gate is not None and job in self._gated.get(job.gate, ())):
            return  # a gated job keeps `forced` and decides when its gate opens
        if job.running:
            job.woken = True
        elif self._tg is not None:
            self._due_in(job, 0.0)

    def _compact(self) -> None:
        """Drop stale entries once they are most of the timetable (many reloads or "Poll now"s
        between two runs of a daily job must not grow it)."""
        if self._stale > STALE_ENTRIES and 2 * self._stale > len(self._timetable):
            self._timetable[:] = [item for item in self._timetable if _live(item)]
            heapq.heapify(self._timetable)
            self._stale = 0

    async def _keep_time(self, tg: anyio.abc.TaskGroup) -> None:
        """Start each job's run when it is due; between runs a job is only its timetable entry."""
        while True:
            self._start_due(tg)
            self._sooner = anyio.Event()
            wait = self._timetable[0][0] - time.monotonic() if self._timetable else math.inf
            with anyio.move_on_after(wait):
                await self._sooner.wait()

    def _start_due(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the runs of the jobs now due (a function of its own: no job outlives it in a frame)."""
        now, timetable = time.monotonic(), self._timetable
        while timetable and timetable[0][0] <= now:
            _, entry, ref = heapq.heappop(timetable)
            job = ref()
            if job is None or entry != job.entry:
                self._stale -= 1
                continue
            job.entry = 0
            tg.start_soon(self._run, job, name=f"job {job.status.call}")

    async def _run(self, job: Job) -> None:
        """Run the job (again while it was woken meanwhile), then put it in the timetable, or
        leave it out while it is disabled (a wake-up brings it back)."""
        status = job.status
        job.running, job.scope = True, anyio.CancelScope()
        try:
            with job.scope:
                while not job.removed:
                    if not status.enabled and not job.forced:
                        status.next_run = None
                        return
                    job.forced = job.woken = False
                    started = time.monotonic()
                    ok, retry_after = await self.run_once(job)
                    delay = self.next_delay(job, ok, retry_after, time.monotonic() - started)
                    status.next_run = self.clock() + delay if status.enabled else None
                    if not job.woken:
                        if status.enabled:
                            self._due_in(job, delay)
                        return
        finally:
            job.running, job.scope = False, None

    def first_run_spread(self, job: Job) -> float:
        """The window a job's first run falls in: a second at most for a few accounts' jobs; with
        thousands, long enough that about FIRST_RUNS_PER_SECOND start each second, but never past
        the job's own interval (a 15 s job still runs within 15 s)."""
        herd = len(self.jobs) / FIRST_RUNS_PER_SECOND
        return min(job.status.interval, max(min(1.0, job.status.interval * job.jitter), herd))

    @staticmethod
    def next_delay(job: Job, ok: bool, retry_after: float | None, took: float) -> float:
        """Seconds until the job's next run: its interval (less the run's duration, plus jitter)
        after a success, the bounded retry delay after a failure."""
        if ok:
            spread = job.status.interval * job.jitter
            return max(0.0, job.status.interval + random.uniform(-spread, spread) - took)
        return max(0.0, job.retry_delay(retry_after))

    async def run_once(self, job: Job) -> tuple[bool, float | None]:
        """Run the job once, record the outcome; never raises (but cancellation)."""
        status = job.status
        account = status.account
        extra = {"provider": account.provider, "account": account.name, "job": status.call}
        started = time.monotonic()
        error, reason, retry_after = "", "", None
        try:
            with anyio.fail_after(status.timeout):
                await job.run()
        except TimeoutError:
            error, reason = f"no result within the job timeout of {format_duration(status.timeout)}", "timeout"
        except ProviderError as exc:
            error, reason, retry_after = str(exc), exc.reason, exc.retry_after
        except Exception as exc:  # a bug of ours: say so loudly, keep the exporter running
            log.error("job failed with an internal error", extra=extra, exc_info=True)
            error, reason = f"internal error: {type(exc).__name__}: {exc}", "internal"
        if error:
            status.errors += 1
        else:
            status.successes += 1
        status.duration = time.monotonic() - started
        status.last_run = self.clock()
        if not error:
            if job.failures:
                log.info("job recovered after %d failed runs", job.failures, extra=extra)
            job.failures = 0
            job.clamp_logged = False
            status.up = 1.0
            status.last_success = status.last_run
            status.last_error = ""
            if job.opens is not None and not job.opens.is_set():
                job.opens.set()
                self._open(job.opens)
            return True, None
        job.failures += 1
        error = REDACT(error)
        # A job failing for days says so, without flooding the log: the 1st, 11th, 21st, ... failure,
        # then every 100th (what changed meanwhile is in the status page and leo_exporter_job_up).
        every = 10 if job.failures < 100 else 100
        if job.failures % every == 1:
            log.warning("job failed: %s", error, extra={**extra, "reason": reason, "failures": job.failures})
        status.up = 0.0
        status.last_error = error
        return False, retry_after


def _live(item: tuple[float, int, weakref.ref[Job]]) -> bool:
    job = item[2]()
    return job is not None and item[1] == job.entry
