"""The provider HTTP client reports through its counting callbacks, never into the state: the exporter
counts into the account's state, a one-shot action counts nothing (and builds no state for it)."""

from __future__ import annotations

import httpx
import pytest
import respx

from leo_exporter import catalog
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import RateLimited, TransportFailed
from leo_exporter.providers.http import ApiClient, Counting
from leo_exporter.state import AccountState

API = "https://api.example.test/v1"


def _answers(mock: respx.MockRouter) -> None:
    mock.get(f"{API}/ok").respond(200, json={})
    mock.get(f"{API}/busy").respond(429, headers={"Retry-After": "1"})
    mock.get(f"{API}/down").mock(side_effect=httpx.ConnectError("refused"))


async def _call_each(api: ApiClient) -> None:
    await api.get_json("ok", endpoint="/ok")
    with pytest.raises(TransportFailed):
        await api.get_json("down", endpoint="/down")
    with pytest.raises(RateLimited):  # last: it pauses the budget
        await api.get_json("busy", endpoint="/busy")
    api.authenticated(True)


@pytest.mark.anyio
async def test_the_client_hands_every_answer_to_its_counting_callbacks() -> None:
    seen: list[tuple[str, str]] = []
    taken: list[bool] = []
    counting = Counting(request=lambda endpoint, code: seen.append((endpoint, code)), authenticated=taken.append)
    with respx.mock() as mock:
        _answers(mock)
        api = ApiClient(budget=RateBudget(600), base_url=API, timeout=5.0, counting=counting)
        await _call_each(api)
        await api.aclose()
    assert seen == [("/ok", "200"), ("/down", "error"), ("/busy", "429")]
    assert taken == [True]


@pytest.mark.anyio
async def test_an_account_counts_its_requests_its_429s_and_its_authentication() -> None:
    state = AccountState("starlink", "fleet", offline_after=60.0, online_from_telemetry=True)
    counting = Counting(state.count_request, state.set_authenticated)
    with respx.mock() as mock:
        _answers(mock)
        api = ApiClient(budget=RateBudget(600), base_url=API, timeout=5.0, counting=counting)
        await _call_each(api)
        await api.aclose()
    requests = state.counters[catalog.EXPORTER_API_REQUESTS_TOTAL.name]
    assert requests == {
        'endpoint="/ok",code="200"': 1.0,
        'endpoint="/busy",code="429"': 1.0,
        'endpoint="/down",code="error"': 1.0,
    }
    assert state.counters[catalog.EXPORTER_RATE_LIMITED_TOTAL.name] == {"": 1.0}
    assert state.values[catalog.EXPORTER_ACCOUNT_AUTHENTICATED.name] == 1.0


@pytest.mark.anyio
async def test_a_client_without_counting_still_raises_typed_errors() -> None:
    """A management action's client: the same budget, timeouts and errors, no figures kept anywhere."""
    with respx.mock() as mock:
        _answers(mock)
        api = ApiClient(budget=RateBudget(600), base_url=API, timeout=5.0)
        await _call_each(api)
        await api.aclose()
