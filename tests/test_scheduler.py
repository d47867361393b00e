"""The scheduler: fixed-rate runs, retries with capped backoff, Retry-After, manual trigger, gating."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import weakref
from collections.abc import AsyncIterator

import anyio
import pytest

from leo_exporter.jobstatus import JobStatus
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import RateLimited, ServerError
from leo_exporter.scheduler import Gate, Job, Scheduler
from leo_exporter.state import AccountState


def status(call: str = "telemetry", interval: float = 0.2, timeout: float = 1.0, enabled: bool = True) -> JobStatus:
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    return JobStatus(account, call, interval, timeout, enabled=enabled)


def test_retry_delay_doubles_from_the_base_and_never_exceeds_the_interval() -> None:
    job = Job(status(interval=60), lambda: None, backoff_base=5, backoff_max=300)  # type: ignore[arg-type,return-value]
    delays = []
    for failures in range(1, 7):
        job.failures = failures
        delays.append(job.retry_delay(None))
    assert delays == [5, 10, 20, 40, 60, 60]
    job.failures = 1
    assert job.retry_delay(90) == 90  # Retry-After wins over a shorter backoff


def test_backoff_max_caps_long_intervals() -> None:
    job = Job(status(interval=3600), lambda: None, backoff_base=5, backoff_max=300)  # type: ignore[arg-type,return-value]
    job.failures = 20
    assert job.retry_delay(None) == 300


def test_first_runs_of_thousands_of_jobs_are_spread_within_their_interval() -> None:
    """19,000 first runs within one second (3,000 accounts) kept the worker too busy to answer."""
    scheduler = Scheduler()
    few = Job(status(interval=15), lambda: None)  # type: ignore[arg-type,return-value]
    scheduler.jobs = {"one": few}
    assert scheduler.first_run_spread(few) == 1.0  # as before: within a second
    hourly = Job(status(interval=3600), lambda: None)  # type: ignore[arg-type,return-value]
    scheduler.jobs = {str(i): hourly for i in range(19_000)}
    assert scheduler.first_run_spread(hourly) == 190.0  # 100 first runs a second
    assert scheduler.first_run_spread(few) == 15.0  # never past the job's own interval


@pytest.mark.anyio
async def test_job_runs_at_its_interval_and_records_success() -> None:
    runs: list[float] = []

    async def run() -> None:
        runs.append(time.monotonic())

    scheduler = Scheduler()
    job = Job(status(interval=0.2), run, jitter=0)
    scheduler.add(job)
    with anyio.move_on_after(0.75):
        await scheduler.run()
    assert 3 <= len(runs) <= 5
    assert job.status.up == 1
    assert job.status.runs["success"] == len(runs)
    assert job.status.last_success is not None and job.status.next_run is not None


@pytest.mark.anyio
async def test_failure_is_recorded_and_retried_after_the_backoff_then_recovers() -> None:
    outcomes = [ServerError("GET /x -> HTTP 503: provider error"), ServerError("again"), None]
    runs: list[float] = []

    async def run() -> None:
        runs.append(time.monotonic())
        outcome = outcomes.pop(0) if outcomes else None
        if outcome:
            raise outcome

    scheduler = Scheduler()
    job = Job(status(interval=5.0), run, backoff_base=0.1, jitter=0)
    scheduler.add(job)
    with anyio.move_on_after(0.6):
        await scheduler.run()
    assert len(runs) == 3  # fail, retry after 0.1 s, retry after 0.2 s, then wait the 5 s interval
    assert runs[1] - runs[0] == pytest.approx(0.1, abs=0.08)
    assert runs[2] - runs[1] == pytest.approx(0.2, abs=0.08)
    assert job.status.up == 1 and job.status.last_error == ""
    assert job.status.runs == {"success": 1, "error": 2}


@pytest.mark.anyio
async def test_retry_after_is_honoured() -> None:
    runs: list[float] = []

    async def run() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RateLimited("429", retry_after=0.4)

    scheduler = Scheduler()
    scheduler.add(Job(status(interval=5.0), run, backoff_base=0.05, jitter=0))
    with anyio.move_on_after(0.7):
        await scheduler.run()
    assert len(runs) == 2
    assert runs[1] - runs[0] >= 0.38


@pytest.mark.anyio
async def test_timeout_and_internal_errors_do_not_stop_the_scheduler() -> None:
    calls = {"slow": 0, "buggy": 0}

    async def slow() -> None:
        calls["slow"] += 1
        await anyio.sleep(10)

    async def buggy() -> None:
        calls["buggy"] += 1
        raise KeyError("oops")

    scheduler = Scheduler()
    slow_job = Job(status("slow", interval=0.1, timeout=0.1), slow, backoff_base=0.05, jitter=0)
    buggy_job = Job(status("buggy", interval=0.1), buggy, backoff_base=0.05, jitter=0)
    scheduler.add(slow_job)
    scheduler.add(buggy_job)
    with anyio.move_on_after(0.5):
        await scheduler.run()
    assert calls["slow"] >= 2 and calls["buggy"] >= 3
    assert "timeout of 100ms" in slow_job.status.last_error
    assert buggy_job.status.last_error.startswith("internal error: KeyError")
    assert slow_job.status.up == 0 and buggy_job.status.up == 0


@pytest.mark.anyio
async def test_trigger_runs_a_job_now_even_when_disabled() -> None:
    runs: list[float] = []

    async def run() -> None:
        runs.append(time.monotonic())

    scheduler = Scheduler()
    job = Job(status(interval=60, enabled=False), run, jitter=0)
    scheduler.add(job)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        await anyio.sleep(0.2)
        assert runs == []
        job.trigger()
        await anyio.sleep(0.1)
        assert len(runs) == 1
        job.set_enabled(True)
        await anyio.sleep(0.1)
        assert len(runs) == 2  # enabling wakes it, then it waits its 60 s interval
        job.set_interval(0.1)
        await anyio.sleep(0.35)
        assert len(runs) >= 4
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_other_jobs_wait_for_the_identifying_job() -> None:
    order: list[str] = []
    identified = Gate()
    fail_first = [True]

    async def identify() -> None:
        order.append("account")
        if fail_first.pop() if fail_first else False:
            raise ServerError("503")

    async def telemetry() -> None:
        order.append("telemetry")

    scheduler = Scheduler()
    scheduler.add(Job(status("account", interval=5), identify, backoff_base=0.1, jitter=0, opens=identified))
    scheduler.add(Job(status("telemetry", interval=5), telemetry, jitter=0, gate=identified))
    with anyio.move_on_after(0.5):
        await scheduler.run()
    assert order == ["account", "account", "telemetry"]


@pytest.mark.serial
@pytest.mark.anyio
async def test_budget_spaces_requests_and_pauses_on_429() -> None:
    budget = RateBudget(per_minute=600)  # 10 a second, burst of 150
    budget.tokens = 0
    started = time.monotonic()
    for _ in range(3):
        await budget.acquire()
    assert time.monotonic() - started == pytest.approx(0.3, abs=0.1)
    budget.pause(0.3)
    started = time.monotonic()
    await budget.acquire()
    assert time.monotonic() - started >= 0.29


@contextlib.asynccontextmanager
async def waiting_jobs(count: int, interval: float) -> AsyncIterator[tuple[Scheduler, list[Job], anyio.Event]]:
    """A running scheduler with `count` jobs whose first runs are done and recorded (each waits
    for its next run), and an event the next run of any of them sets (a "Poll now")."""
    runs = 0
    first_runs, next_run = anyio.Event(), anyio.Event()

    async def run() -> None:
        nonlocal runs
        runs += 1
        if runs == count:
            first_runs.set()
        if runs == count + 1:
            next_run.set()

    jobs = [Job(status(f"call-{i}", interval=interval), run, jitter=0) for i in range(count)]
    scheduler = Scheduler()
    for job in jobs:
        scheduler.add(job)
    del job  # this frame must not keep a job the test removes alive
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        with anyio.fail_after(10):
            await first_runs.wait()
        await anyio.wait_all_tasks_blocked()  # the last run's task has ended
        yield scheduler, jobs, next_run
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_jobs_waiting_for_their_next_run_hold_no_task_each() -> None:
    """A task asleep per job cost 108 MiB at 3,000 accounts (19,000 jobs): between runs a job is
    only its entry in the scheduler's timetable."""
    async with waiting_jobs(50, interval=3600) as (_, jobs, poll_now):
        assert all(job.status.runs["success"] == 1 and job.status.next_run for job in jobs)
        assert len(asyncio.all_tasks()) <= 3  # the test runner's, this test's and the scheduler's
        jobs[7].trigger()  # a waiting job still answers "Poll now"
        with anyio.fail_after(5):
            await poll_now.wait()
    assert jobs[7].status.runs["success"] == 2


@pytest.mark.anyio
async def test_removed_jobs_are_freed_before_their_next_run() -> None:
    """A reload that removes accounts frees their jobs (and what their runs hold) soon, not when
    their next run, a day away for some, would have come."""
    async with waiting_jobs(200, interval=86_400) as (scheduler, jobs, poll_now):
        removed = [weakref.ref(job) for job in jobs[50:]]
        for job in jobs[50:]:
            scheduler.remove(job)
        del jobs[50:], job
        gc.collect()
        assert [ref for ref in removed if ref() is not None] == []
        jobs[3].trigger()  # the others still run
        with anyio.fail_after(5):
            await poll_now.wait()
    assert jobs[3].status.runs["success"] == 2
