"""A connection that drops under a request (most often one the provider's server closed while it
sat idle in our pool: its keep-alive timeout shorter than ours, or its event loop late) fails
that request before any answer. The 50,000-terminal benchmark saw a dozen such failures at start,
each costing its job a backoff. A request that changes nothing at the provider is sent once more,
within the budget; anything else (an action) never is."""

from __future__ import annotations

import httpx
import pytest
import respx

from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import ConnectionDropped, TransportFailed
from leo_exporter.providers.http import ApiClient, Counting

API = "https://api.example.test/v1"
DROPPED = httpx.RemoteProtocolError("Server disconnected without sending a response.")


def client(seen: list[tuple[str, str]]) -> ApiClient:
    counting = Counting(request=lambda endpoint, code: seen.append((endpoint, code)))
    return ApiClient(budget=RateBudget(600), base_url=API, timeout=5.0, counting=counting)


@pytest.mark.anyio
@pytest.mark.parametrize("dropped", [DROPPED, httpx.ReadError("connection reset"), httpx.WriteError("broken pipe")])
async def test_a_get_whose_connection_dropped_is_sent_once_more(dropped: Exception) -> None:
    seen: list[tuple[str, str]] = []
    with respx.mock() as mock:
        route = mock.get(f"{API}/user-terminals").mock(side_effect=[dropped, httpx.Response(200, json={"ok": 1})])
        api = client(seen)
        assert await api.get_json("user-terminals", endpoint="/user-terminals") == {"ok": 1}
        await api.aclose()
    assert route.call_count == 2
    assert seen == [("/user-terminals", "error"), ("/user-terminals", "200")]  # both counted


@pytest.mark.anyio
async def test_only_once_more_a_provider_that_keeps_dropping_is_a_failure() -> None:
    seen: list[tuple[str, str]] = []
    with respx.mock() as mock:
        route = mock.get(f"{API}/user-terminals").mock(side_effect=DROPPED)
        api = client(seen)
        with pytest.raises(ConnectionDropped, match="GET /user-terminals: RemoteProtocolError: Server disconnected"):
            await api.get_json("user-terminals", endpoint="/user-terminals")
        await api.aclose()
    assert route.call_count == 2


@pytest.mark.anyio
async def test_a_post_is_sent_again_only_when_the_caller_marks_it_a_query() -> None:
    seen: list[tuple[str, str]] = []
    with respx.mock() as mock:
        action = mock.post(f"{API}/reboot").mock(side_effect=[DROPPED, httpx.Response(200, json={})])
        query = mock.post(f"{API}/data-usage/query").mock(side_effect=[DROPPED, httpx.Response(200, json={})])
        api = client(seen)
        with pytest.raises(TransportFailed):
            await api.request("POST", "reboot", endpoint="/reboot")
        assert (await api.request("POST", "data-usage/query", endpoint="/data-usage/query", query=True)).is_success
        await api.aclose()
    assert action.call_count == 1  # an action is never sent twice
    assert query.call_count == 2


@pytest.mark.anyio
async def test_a_timeout_is_not_sent_again() -> None:
    """A request that timed out may have reached the provider and still be running there."""
    with respx.mock() as mock:
        route = mock.get(f"{API}/slow").mock(side_effect=httpx.ReadTimeout("slow"))
        api = client([])
        with pytest.raises(TransportFailed, match="no complete response within the timeout"):
            await api.get_json("slow", endpoint="/slow")
        await api.aclose()
    assert route.call_count == 1
