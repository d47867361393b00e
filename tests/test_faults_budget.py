"""The per-account request budget holds in every 60 seconds, and a 429 without Retry-After backs off."""

from __future__ import annotations

import itertools

import pytest

from leo_exporter.providers.budget import SLACK, WINDOW, RateBudget


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
        await budget.acquire()
        sent.append(now[0] - paused_at)
    slot = (WINDOW + SLACK) / 60
    assert sent == pytest.approx([30.0 + slot, 30.0 + 2 * slot, 30.0 + 3 * slot])
