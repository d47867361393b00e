"""The per-account request budget holds in every 60 seconds, and a 429 without Retry-After backs off."""

from __future__ import annotations

import itertools

import anyio
import httpx
import pytest

from leo_exporter.providers.budget import SLACK, WINDOW, RateBudget
from leo_exporter.providers.errors import RateLimited
from leo_exporter.providers.http import ApiClient


def _fake_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += max(seconds, 1e-6)  # a real clock always moves on

    monkeypatch.setattr("leo_exporter.providers.budget.anyio.sleep", fake_sleep)
    return now


@pytest.mark.anyio
@pytest.mark.parametrize("per_minute", [8, 60, 250])
async def test_never_more_than_the_budget_in_any_60_seconds(per_minute: int, monkeypatch: pytest.MonkeyPatch) -> None:
    now = _fake_time(monkeypatch)
    budget = RateBudget(per_minute=per_minute, clock=lambda: now[0])
    sent = []
    for _ in range(per_minute * 4):
        await budget.acquire()
        sent.append(now[0])
    worst = max(sum(1 for t in sent if 0 <= t - start < 60 + SLACK) for start in sent)
    assert worst == per_minute  # a token bucket alone allows its burst on top: 1.25x in the first minute
    # the sustained rate is still the whole budget, each minute stretched by the slack that keeps
    # it at the provider, which counts arrivals, not departures
    assert sent[-1] - sent[0] >= 3 * (60 + SLACK) - 1


@pytest.mark.anyio
async def test_a_storm_of_429s_costs_one_request_per_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    now = _fake_time(monkeypatch)
    budget = RateBudget(per_minute=600, clock=lambda: now[0], pause_base=0.5, pause_max=4.0)
    sent = []
    for _ in range(8):  # every request answered 429 without Retry-After
        await budget.acquire()
        sent.append(now[0])
        budget.pause(None)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(sent)]
    slot = (WINDOW + SLACK) / 600  # one request's worth of the budget
    # each pause, then one request's worth of the budget
    assert gaps == [round(pause + slot, 3) for pause in (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)]
    budget.answered()
    assert budget.pause(None) == 0.5
    assert budget.pause(3.0) == 3.0  # Retry-After is taken as given


@pytest.mark.anyio
async def test_a_saturated_account_settles_at_an_even_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """More demand than budget: after the first minute's burst, requests go out evenly, never in a
    burst followed by a stall (a stall longer than a job's interval would look like an outage)."""
    now = _fake_time(monkeypatch)
    budget = RateBudget(per_minute=120, clock=lambda: now[0])
    sent = []
    while now[0] < 1000.0 + 300:
        await budget.acquire()
        sent.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    late = [b - a for a, b in itertools.pairwise(t for t in sent if t > 1000.0 + 75)]
    assert max(gaps) <= 15.5 + SLACK + 1e-6  # once, while the first burst ages out of the minute
    # then evenly, never a gap of more than one missed slot
    assert max(late) <= 2 * (WINDOW + SLACK) / 120 + 1e-6
    assert len(sent) >= 120 * 300 / (60 + SLACK) - 5  # the whole budget, all the same


@pytest.mark.anyio
async def test_after_a_429_the_account_resumes_at_its_pace_without_a_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    now = _fake_time(monkeypatch)
    budget = RateBudget(per_minute=60, clock=lambda: now[0])  # one a second, burst of 15
    await budget.acquire()
    paused_at = now[0]
    budget.pause(30.0)  # Retry-After: 30
    sent = []
    for _ in range(3):
        ticket = await budget.acquire()
        sent.append(now[0] - paused_at)
        budget.answered(ticket)  # the first, the storm's probe, is answered: the others may follow
    slot = (WINDOW + SLACK) / 60
    assert sent == pytest.approx([30.0 + slot, 30.0 + 2 * slot, 30.0 + 3 * slot])


@pytest.mark.anyio
async def test_a_429_in_flight_when_the_account_paused_is_the_same_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs' requests left together and both came back 429: one pause, not two steps of it."""
    now = _fake_time(monkeypatch)
    budget = RateBudget(per_minute=600, clock=lambda: now[0], pause_base=0.5, pause_max=4.0)
    first, second = await budget.acquire(), await budget.acquire()
    assert budget.pause(None, first) == 0.5
    until = budget.paused_until
    assert budget.pause(None, second) <= 0.5  # the echo: what is left of the same pause
    assert (budget.paused_until, budget.unexplained) == (until, 1)
    late = await budget.acquire()  # after the pause: the storm's probe
    assert late.probe and now[0] >= until
    budget.answered(second)  # a request older than the pause answering does not end the storm
    assert budget.storm
    budget.pause(None, late)  # the probe refused too: the next step
    assert budget.unexplained == 2 and budget.paused_until >= now[0] + 1.0 - 1e-9
    budget.answered(await budget.acquire())  # a probe answered: the storm is over
    assert not budget.storm and budget.unexplained == 0
    assert not (await budget.acquire()).probe


@pytest.mark.anyio
async def test_a_bare_429_pauses_every_job_of_the_account_and_the_storm_is_probed_one_request_at_a_time() -> None:
    """The limit is the account's (Starlink: 250 a minute shared by every integration), so a 429 to
    one job holds all of them, and until an answer other than 429 the account has one request out.
    The case of #24: two jobs in flight when the storm began, refused 1.8 ms apart."""
    refusals = [2, 2]  # phase 1: both in-flight requests; phase 2: the next two, then answers
    held: list[anyio.Event] = []
    arrived = anyio.Event()
    in_flight = most_in_storm = 0

    async def provider(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most_in_storm
        in_flight += 1
        try:
            if refusals[0]:  # phase 1: hold both until both are in flight, then refuse both
                refusals[0] -= 1
                gate = anyio.Event()
                held.append(gate)
                if len(held) == 2:
                    arrived.set()
                await gate.wait()
                return httpx.Response(429)
            storming = refusals[1] > 0
            if storming:
                most_in_storm = max(most_in_storm, in_flight)
                refusals[1] -= 1
                return httpx.Response(429)
            return httpx.Response(200, json={})
        finally:
            in_flight -= 1

    budget = RateBudget(per_minute=6000, pause_base=0.01, pause_max=0.04)
    api = ApiClient(
        budget=budget,
        base_url="http://127.0.0.1:9/",
        timeout=5.0,
        transport=httpx.MockTransport(provider),
    )
    outcomes: list[str] = []

    async def job() -> None:
        try:
            await api.request("GET", "x", endpoint="/x")
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("429")

    async with anyio.create_task_group() as tg:
        tg.start_soon(job)
        tg.start_soon(job)
        await arrived.wait()
        for gate in held:
            gate.set()
    assert outcomes == ["429", "429"] and budget.unexplained == 1  # one storm: one step of the backoff
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(job)
    assert outcomes[2:] == ["429", "429", "ok", "ok"]
    assert most_in_storm == 1  # the probes went one at a time
    assert budget.unexplained == 0 and not budget.storm
    await api.aclose()


@pytest.mark.anyio
async def test_a_budget_without_burst_starts_at_the_even_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 30-minute soak with a worker restarted every minute saw 68 to 74 requests in one 60 s at
    a provider with a budget of 60: each new worker spent its burst on top of what the last one had
    sent. A restarted worker's budgets start without one."""
    now = _fake_time(monkeypatch)
    sent = []
    budget = RateBudget(per_minute=60, clock=lambda: now[0], burst=False)
    for _ in range(15):
        await budget.acquire()
        sent.append(now[0])
    slot = (WINDOW + SLACK) / 60
    assert [round(b - a, 3) for a, b in itertools.pairwise([1000.0, *sent])] == [round(slot, 3)] * 15
    warm = RateBudget(per_minute=60, clock=lambda: now[0])
    start = now[0]
    for _ in range(15):
        await warm.acquire()
    assert now[0] == start  # a first start keeps its burst: a quarter of the budget at once


@pytest.mark.anyio
async def test_a_restarted_worker_builds_its_budgets_without_burst() -> None:
    from leo_exporter.app import Exporter
    from tests.inprocess import simulated_exporter

    demo = simulated_exporter()[0]
    fresh, restarted = Exporter(demo.config), Exporter(demo.config, restarted=True)
    try:
        assert all(runtime.budget.tokens == runtime.budget.capacity for runtime in fresh.accounts)
        assert restarted.accounts and all(runtime.budget.tokens == 0.0 for runtime in restarted.accounts)
    finally:
        for exporter in (demo, fresh, restarted):
            await exporter.aclose()
