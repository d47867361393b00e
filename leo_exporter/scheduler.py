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
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import anyio

from leo_exporter.durations import format_duration
from leo_exporter.jobstatus import JobStatus
from leo_exporter.logs import REDACT
from leo_exporter.providers.base import JobFunction
from leo_exporter.providers.errors import ProviderError

log = logging.getLogger("leo_exporter.scheduler")
FIRST_RUNS_PER_SECOND = 100.0  # first runs are spread so that about this many start each second
MAX_EXPONENT = 30  # 2**30 times any backoff_base is far beyond every cap; beyond it float math overflows


class Job:
    def __init__(
        self,
        status: JobStatus,
        run: JobFunction,
        *,
        backoff_base: float = 5.0,
        backoff_max: float = 300.0,
        jitter: float = 0.1,
        gate: anyio.Event | None = None,
        opens: anyio.Event | None = None,
    ):
        self.status = status
        self.run = run
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.gate = gate  # wait for this before the first run
        self.opens = opens  # set this after the first success
        self.wake = anyio.Event()
        self.forced = False
        self.failures = 0
        self.scope: anyio.CancelScope | None = None  # set when its loop runs; cancelled on removal
        self.removed = False
        self.clamp_logged = False  # a clamped Retry-After is logged once per failure streak

    @property
    def key(self) -> str:
        return self.status.key

    def trigger(self) -> None:
        """Run now (the status page's "Poll now"), even when disabled."""
        self.forced = True
        self.wake.set()

    def set_enabled(self, enabled: bool) -> None:
        self.status.enabled = enabled
        self.wake.set()

    def set_interval(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("interval must be greater than 0")
        self.status.interval = seconds
        self.wake.set()

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

    def add(self, job: Job) -> None:
        """Add a job; it starts at once when the scheduler is already running (a config reload)."""
        self.jobs[job.status.account.name + "/" + job.status.call] = job
        if self._tg is not None:
            self._tg.start_soon(self._loop, job, name=f"job {job.status.call}")

    def remove(self, job: Job) -> None:
        """Stop a job's loop (cancelling a run in progress) and forget it."""
        self.jobs.pop(job.status.account.name + "/" + job.status.call, None)
        job.removed = True
        if job.scope is not None:
            job.scope.cancel()

    def find(self, key: str) -> Job | None:
        """A job by its label (`provider/account/call`) or by `account-name/call`."""
        return self.jobs.get(key) or next((j for j in self.jobs.values() if j.key == key), None)

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for job in self.jobs.values():
                    tg.start_soon(self._loop, job, name=f"job {job.status.call}")
                await anyio.sleep_forever()
        finally:
            self._tg = None

    async def _loop(self, job: Job) -> None:
        job.scope = anyio.CancelScope()
        with job.scope:
            if not job.removed:
                await self._run_forever(job)

    async def _run_forever(self, job: Job) -> None:
        status = job.status
        if job.gate is not None:
            await job.gate.wait()
        await anyio.sleep(random.uniform(0, self.first_run_spread(job)))
        while True:
            if not status.enabled and not job.forced:
                status.next_run = None
                await self._sleep(job, None)
                continue
            job.forced = False
            started = time.monotonic()
            ok, retry_after = await self.run_once(job)
            delay = self.next_delay(job, ok, retry_after, time.monotonic() - started)
            status.next_run = self.clock() + delay if status.enabled else None
            await self._sleep(job, delay)

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

    async def _sleep(self, job: Job, seconds: float | None) -> None:
        if seconds is None:
            await job.wake.wait()
        else:
            with anyio.move_on_after(seconds):
                await job.wake.wait()
        if job.wake.is_set():
            job.wake = anyio.Event()

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
            status.runs["success"] += 1
            if job.opens is not None and not job.opens.is_set():
                job.opens.set()
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
        status.runs["error"] += 1
        return False, retry_after
