"""Bounded waits: a job failing for days, a provider asking to wait a year, a revoked account."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from leo_exporter.app import Exporter
from leo_exporter.jobstatus import JobStatus
from leo_exporter.providers import parse_config
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import AuthenticationFailed, RateLimited, ServerError
from leo_exporter.providers.http import retry_after_seconds
from leo_exporter.scheduler import Job, Scheduler
from leo_exporter.simulator.app import build_app, demo_config
from leo_exporter.state import AccountState
from leo_exporter.web import build_app as build_web
from tests.conftest import FakeClock

YEAR = 365 * 86400.0


def job_status(interval: float = 15.0) -> JobStatus:
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    return JobStatus(account, "telemetry", interval, 10.0)


@pytest.mark.anyio
async def test_a_job_failing_100000_times_keeps_a_bounded_polite_pace(caplog: pytest.LogCaptureFixture) -> None:
    """With today's defaults a 15 s job gets here in weeks; the old `2 ** failures` overflowed at 1,025."""
    clock = FakeClock(1_000_000.0)
    scheduler = Scheduler(clock)
    errors = [ServerError("GET /telemetry -> HTTP 503: provider error"), AuthenticationFailed("401 refused")]
    count = 0

    async def run() -> None:
        nonlocal count
        count += 1
        if count % 1000 == 0:
            raise RateLimited("GET /telemetry -> HTTP 429", retry_after=YEAR)  # a year: clamped
        raise errors[count % 7 == 0]

    job = Job(job_status(interval=15.0), run, backoff_base=5.0, backoff_max=300.0)
    scheduler.add(job)
    delays = []
    caplog.set_level(logging.WARNING, "leo_exporter.scheduler")
    for _ in range(100_000):
        ok, retry_after = await scheduler.run_once(job)
        assert not ok
        delay = scheduler.next_delay(job, ok, retry_after, 0.0)
        delays.append(delay)
        clock.now += delay
    assert job.failures == 100_000
    assert job.status.runs["error"] == 100_000 and job.status.up == 0
    assert max(delays) == 300.0  # the clamped Retry-After: max(interval, backoff_max)
    assert delays[:3] == [5.0, 10.0, 15.0] and delays[-2] == 15.0  # after the ramp: one try per interval
    days = (clock.now - 1_000_000.0) / 86400
    assert 17 < days < 20  # 100,000 tries of a 15 s job (100 of them after a 300 s pause)
    clamped = [r for r in caplog.records if "provider asked to wait" in r.getMessage()]
    assert len(clamped) == 1  # logged once for the whole streak
    assert len(caplog.records) < 1100  # alternating errors: the log says so every 100th run, not every run


def test_a_retry_after_beyond_the_interval_and_backoff_max_is_clamped_to_the_larger() -> None:
    job = Job(job_status(interval=3600.0), lambda: None, backoff_base=5, backoff_max=300)  # type: ignore[arg-type,return-value]
    job.failures = 1
    assert job.retry_delay(YEAR) == 3600.0
    assert job.retry_delay(1200.0) == 1200.0  # within the limit: honoured
    job = Job(job_status(interval=15.0), lambda: None, backoff_base=5, backoff_max=300)  # type: ignore[arg-type,return-value]
    job.failures = 5000
    assert job.retry_delay(YEAR) == 300.0
    assert job.retry_delay(None) == 15.0


def test_the_account_pause_is_bounded_whatever_the_provider_says() -> None:
    now = [0.0]
    budget = RateBudget(600, clock=lambda: now[0], pause_base=1.0, pause_max=60.0, pause_limit=900.0)
    assert budget.pause(YEAR) == 900.0
    assert budget.paused_until == 900.0
    for _ in range(100_000):  # 429s without Retry-After for ever: no overflow, the pause stays at its max
        assert budget.pause(None) <= 60.0
    assert budget.pause(None) == 60.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("31536000", 31536000.0),
        ("9" * 5000, 1e11),  # no int-parsing error, a finite (and later clamped) wait
        ("١٢٠", None),  # Arabic-Indic digits are no delta-seconds
        ("inf", None),
        ("nan", None),
        ("-5", None),
        ("1e9", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("not a date", None),
    ],
)
def test_retry_after_takes_ascii_delta_seconds_or_a_date_and_nothing_else(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=2_000_000_000.0) == seconds


@pytest.mark.e2e
@pytest.mark.serial
@pytest.mark.anyio
async def test_a_revoked_account_for_a_minute_sends_no_more_than_its_budget() -> None:
    """Every request the provider received, token requests included, fits the account's budget."""
    sim = build_app(accounts=1, terminals=4)
    data = demo_config("http://simulator", sim)
    account = next(a for a in data["accounts"] if a["provider"] == "starlink")
    account.update(
        request_budget_per_minute=12,
        backoff_base="100ms",
        backoff_max="1s",
        jobs={name: {"interval": "1s"} for name in ("account", "user_terminals", "service_lines", "telemetry")}
        | {name: {"enabled": False} for name in ("data_usage", "data_pools", "balance")},
    )
    sim.state.faults.add("starlink", "*", "revoked")
    exporter = Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=sim))
    with anyio.move_on_after(60.0):
        await exporter.scheduler.run()
    await exporter.aclose()
    received = sim.state.faults.request_summary()["starlink"]
    total = sum(entry["total"] for entry in received.values())
    assert 6 <= total <= 12, received  # it kept trying, within 12 a minute
    assert set().union(*(entry["byEndpoint"] for entry in received.values())) == {"token"}
    ran = [s for s in exporter.state.jobs if s.last_run is not None]  # the jobs share 12 requests a minute
    assert ran and all(s.up == 0 for s in ran)
    assert any("refused the client credentials" in s.last_error for s in ran), [s.last_error for s in ran]
    assert exporter.state.accounts[account["name"]].values["leo_exporter_account_authenticated"] == 0


@pytest.mark.anyio
async def test_ready_with_wrong_credentials_once_the_first_render_is_done() -> None:
    """Readiness is config loaded, HTTP serving, first render done; providers are not waited for."""
    sim = build_app(accounts=1, terminals=4)
    sim.state.faults.add("starlink", "*", "revoked")
    data = demo_config("http://simulator", sim)
    account = next(a for a in data["accounts"] if a["provider"] == "starlink")
    exporter = Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=sim))
    identify = exporter.scheduler.jobs[f"{account['name']}/account"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_web(exporter)), base_url="http://x") as http:
        before = await http.get("/readyz")
        assert before.status_code == 503 and before.text == "waiting for: first render\n"
        await exporter.scheduler.run_once(identify)  # refused: the other jobs wait behind it for ever
        await exporter.render_now()
        ready = await http.get("/readyz")
        verbose = (await http.get("/readyz?verbose")).text
    await exporter.aclose()
    assert ready.status_code == 200 and ready.text == "ready\n"
    assert "first render: done" in verbose
    assert f"starlink/{account['name']}/account" in verbose.split("jobs not succeeded yet: ", 1)[1]
    assert "first runs: waiting for" in verbose  # the gated jobs never ran


@pytest.mark.anyio
async def test_a_year_long_retry_after_pauses_the_account_for_minutes_at_most(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = build_app(accounts=1, terminals=4)
    sim.state.faults.add("starlink", "*", "rate_limit", retry_after=31_536_000, count=1)
    data = demo_config("http://simulator", sim)
    account = next(a for a in data["accounts"] if a["provider"] == "starlink")
    account.update(backoff_max="2m", jobs={"account": {"interval": "30s"}})
    exporter = Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=sim))
    job = exporter.scheduler.jobs[f"{account['name']}/account"]
    budget = exporter.accounts[0].driver.ctx.budget  # type: ignore[attr-defined]
    ok, retry_after = await exporter.scheduler.run_once(job)
    await exporter.aclose()
    assert not ok and "cut to 120s" in job.status.last_error
    assert retry_after == 120.0  # the account's pause: backoff_max (larger than its shortest interval)
    assert exporter.scheduler.next_delay(job, ok, retry_after, 0.0) == 120.0
    assert 0 < budget.paused_until - budget.clock() <= 120.0
    assert [r.getMessage() for r in caplog.records if "asked to wait" in r.getMessage()] == [
        "GET /account -> HTTP 429 asked to wait 8760h; the account pauses 2m instead (the larger of backoff_max and its "
        "most frequent job's interval)"
    ]
