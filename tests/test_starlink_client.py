"""The Starlink V2 client and jobs against a mocked API (respx): tokens, paging, errors."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.providers import parse_config
from leo_exporter.providers.base import AccountContext, UnknownNames
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import (
    AuthenticationFailed,
    BadResponse,
    PermissionDenied,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportFailed,
)
from leo_exporter.providers.starlink.jobs import StarlinkDriver, next_batch_size
from leo_exporter.state import AccountState, FleetState, StateWorker
from tests.conftest import render

BILLING_NOW = 1795305600.0  # 2026-11-22T00:00:00Z: inside the fixtures' current billing cycle

API = "https://sl.test/api/public/v2"
AUTH = "https://sl.test/api/auth/connect/token"
SECRET = "very-secret-value-123"


def envelope(content: object, valid: bool = True, errors: list[str] | None = None) -> dict[str, object]:
    return {
        "isValid": valid,
        "errors": [{"memberNames": [], "errorMessage": e} for e in errors or []],
        "warnings": [],
        "information": [],
        "content": content,
    }


def page(results: list[object], index: int, last: bool) -> dict[str, object]:
    return envelope({"pageIndex": index, "limit": 100, "isLastPage": last, "totalCount": 0, "results": results})


def make_driver(budget_per_minute: int = 6000, **telemetry: int) -> tuple[StarlinkDriver, FleetState]:
    config = parse_config(
        {
            "accounts": [
                {
                    "provider": "starlink",
                    "name": "north",
                    "client_id": "cid",
                    "client_secret": SECRET,
                    "api_url": API,
                    "auth_url": AUTH,
                    "request_budget_per_minute": budget_per_minute,
                    **({"telemetry": telemetry} if telemetry else {}),
                }
            ]
        }
    )
    state = FleetState()
    # billing dates (has a cycle ended?) are judged at the fixtures' date, not the day the suite runs
    account = AccountState(
        "starlink", "north", offline_after=180, online_from_telemetry=True, clock=lambda: BILLING_NOW
    )
    state.add_account(account)
    log = logging.LoggerAdapter(logging.getLogger("test"), {})
    ctx = AccountContext(
        config=config.accounts[0],
        state=account,
        worker=StateWorker(state),
        budget=RateBudget(budget_per_minute),
        log=log,
        unknown=UnknownNames(account, log),
    )
    return StarlinkDriver(ctx), state


def token_route(mock: respx.MockRouter, tokens: list[str] | None = None) -> respx.Route:
    responses = [httpx.Response(200, json={"access_token": t, "expires_in": 900}) for t in tokens or ["tok-1"]]
    return mock.post(AUTH).mock(side_effect=responses)


@pytest.mark.anyio
async def test_token_is_minted_once_and_reused() -> None:
    driver, state = make_driver()
    with respx.mock(assert_all_called=True) as mock:
        token = token_route(mock)
        account = mock.get(f"{API}/account").mock(
            return_value=httpx.Response(200, json=envelope({"accountNumber": "ACC-9", "accountName": "Nordic"}))
        )
        await driver.poll_account()
        await driver.poll_account()
    assert token.call_count == 1
    form = token.calls[0].request.content.decode()
    assert "grant_type=client_credentials" in form and "client_id=cid" in form
    assert account.calls[1].request.headers["Authorization"] == "Bearer tok-1"
    assert state.accounts["north"].provider_accounts == {"ACC-9": {"provider_account_name": "Nordic"}}
    assert state.accounts["north"].values["leo_exporter_account_authenticated"] == 1


@pytest.mark.anyio
async def test_expired_token_is_renewed_once_on_401() -> None:
    driver, _ = make_driver()
    with respx.mock() as mock:
        token = token_route(mock, ["old", "new"])
        account = mock.get(f"{API}/account").mock(
            side_effect=[httpx.Response(401), httpx.Response(200, json=envelope({"accountNumber": "ACC-9"}))]
        )
        await driver.poll_account()
    assert token.call_count == 2
    assert [c.request.headers["Authorization"] for c in account.calls] == ["Bearer old", "Bearer new"]


@pytest.mark.anyio
async def test_refused_credentials_are_an_auth_failure_without_the_secret() -> None:
    driver, state = make_driver()
    with respx.mock() as mock:
        mock.post(AUTH).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
        with pytest.raises(AuthenticationFailed) as err:
            await driver.poll_account()
    assert "invalid_client" in str(err.value) and "cid" in str(err.value)
    assert SECRET not in str(err.value)
    assert state.accounts["north"].values["leo_exporter_account_authenticated"] == 0


@pytest.mark.anyio
async def test_user_terminals_follow_pages_to_the_end_and_reconcile_repeats() -> None:
    driver, state = make_driver()
    t = lambda i: {
        "userTerminalId": f"T{i}",
        "kitSerialNumber": f"KIT{i}",
        "serviceLineNumber": f"SL{i}",
        "routers": [{"routerId": f"R{i}", "userTerminalId": f"T{i}"}] if i % 2 else [],
    }
    with respx.mock() as mock:
        token_route(mock)
        route = mock.get(f"{API}/user-terminals").mock(
            side_effect=[
                httpx.Response(200, json=page([t(1), t(2)], 0, False)),
                httpx.Response(200, json=page([t(2), t(3)], 1, False)),  # T2 repeated across pages
                httpx.Response(200, json=page([t(4)], 2, True)),
            ]
        )
        await driver.poll_user_terminals()
    assert [c.request.url.params["page"] for c in route.calls] == ["0", "1", "2"]
    account = state.accounts["north"]
    assert sorted(account.terminals.inventory or ()) == ["T1", "T2", "T3", "T4"]
    assert sorted(account.routers.inventory or ()) == ["R1", "R3"]
    assert account.routers.attrs["R3"]["terminal_id"] == "T3"


@pytest.mark.anyio
async def test_a_bad_item_keeps_everyone_and_fails_the_job() -> None:
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        mock.get(f"{API}/user-terminals").mock(
            side_effect=[
                httpx.Response(200, json=page([{"userTerminalId": "T1"}, {"userTerminalId": "T2"}], 0, True)),
                httpx.Response(200, json=page([{"userTerminalId": "T1"}, {"userTerminalId": 5}], 0, True)),
            ]
        )
        await driver.poll_user_terminals()
        with pytest.raises(BadResponse, match="'userTerminalId' should be a string"):
            await driver.poll_user_terminals()
    assert "T2" in state.accounts["north"].terminals.labels  # not dropped because of one unreadable item


@pytest.mark.anyio
async def test_data_usage_takes_the_last_cycle_and_converts_gb() -> None:
    driver, state = make_driver()
    item = {
        "serviceLineNumber": "SL1",
        "lastUpdated": "2026-11-21T23:59:59Z",
        "servicePlan": {"usageLimitGB": 50},
        "billingCycles": [
            {"startDate": "2026-10-01T00:00:00Z", "endDate": "2026-11-01T00:00:00Z", "totalPriorityGB": 99.0},
            {
                "startDate": "2026-11-01T00:00:00Z",
                "endDate": "2026-12-01T00:00:00Z",
                "totalPriorityGB": 12.5,
                "totalStandardGB": 1.25,
                "totalOptInPriorityGB": 0.5,
                "totalNonBillableGB": 0,
                "dailyDataUsage": [
                    {"date": "2026-11-21T00:00:00Z", "priorityGB": 2.0, "standardGB": 0.25},
                    {"date": "2026-11-20T00:00:00Z", "priorityGB": 1.0},
                ],
            },
        ],
    }
    with respx.mock() as mock:
        token_route(mock)
        route = mock.post(f"{API}/data-usage/query").mock(return_value=httpx.Response(200, json=page([item], 0, True)))
        await driver.poll_data_usage()
    assert route.calls[0].request.url.params["limit"] == "250"
    text = render(state).plain.decode()
    assert (
        'leo_service_line_usage_bytes{provider="starlink",account="north",service_line="SL1",class="priority"} 12500000000.0'
        in text
    )
    assert (
        'leo_service_line_usage_limit_bytes{provider="starlink",account="north",service_line="SL1"} 50000000000.0'
        in text
    )
    assert 'class="standard"} 250000000.0' in text  # the newest day, not the first listed


def first_day_item(previous: bool) -> dict[str, object]:
    """A line on the first day of its cycle: the current cycle has no day and zero totals."""
    current = {
        "startDate": "2026-12-01T00:00:00Z",
        "endDate": "2027-01-01T00:00:00Z",
        "totalPriorityGB": 0,
        "totalStandardGB": 0,
        "totalOptInPriorityGB": 0,
        "totalNonBillableGB": 0,
        "dailyDataUsage": [],
    }
    last = {
        "startDate": "2026-11-01T00:00:00Z",
        "endDate": "2026-12-01T00:00:00Z",
        "totalPriorityGB": 30.0,
        "dailyDataUsage": [
            {"date": "2026-11-29T00:00:00Z", "priorityGB": 1.0, "standardGB": 0.0},
            {"date": "2026-11-30T00:00:00Z", "priorityGB": 3.0, "standardGB": 0.5},
        ],
    }
    return {
        "serviceLineNumber": "SL1",
        "lastUpdated": "2026-11-30T23:59:59Z",
        "servicePlan": {"usageLimitGB": 50},
        "billingCycles": [last, current] if previous else [current],
    }


@pytest.mark.anyio
async def test_first_day_of_a_cycle_shows_zero_usage_and_the_newest_complete_day() -> None:
    """On a cycle's first day the newest complete day is the previous cycle's last: it is the daily
    figure, dated as that day; the cycle to date is zero; the job succeeds."""
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        mock.post(f"{API}/data-usage/query").mock(
            return_value=httpx.Response(200, json=page([first_day_item(previous=True)], 0, True))
        )
        await driver.poll_data_usage()
    got = {
        (s.name, s.labels.get("class", "")): s.value
        for family in text_string_to_metric_families(render(state).plain.decode())
        for s in family.samples
        if s.labels.get("service_line") == "SL1"
    }
    assert got[("leo_service_line_usage_bytes", "priority")] == 0
    assert got[("leo_service_line_billing_cycle_start_timestamp_seconds", "")] == 1796083200  # 1 Dec 2026
    assert got[("leo_service_line_daily_usage_bytes", "priority")] == 3e9
    assert got[("leo_service_line_daily_usage_date_timestamp_seconds", "")] == 1795996800  # 30 Nov 2026


@pytest.mark.anyio
async def test_first_day_without_the_previous_cycle_drops_the_stale_daily_figure() -> None:
    """Asked for the current cycle only, the first day has no reported day at all: yesterday's
    figure seen the day before must not stay up as if it were the newest day."""
    driver, state = make_driver()
    day_before = first_day_item(previous=True)
    day_before["billingCycles"] = day_before["billingCycles"][:1]  # 30 Nov, still in November's cycle
    with respx.mock() as mock:
        token_route(mock)
        mock.post(f"{API}/data-usage/query").mock(
            side_effect=[
                httpx.Response(200, json=page([day_before], 0, True)),
                httpx.Response(200, json=page([first_day_item(previous=False)], 0, True)),
            ]
        )
        await driver.poll_data_usage()
        assert "leo_service_line_daily_usage_bytes{" in render(state).plain.decode()
        await driver.poll_data_usage()
    text = render(state).plain.decode()
    assert "leo_service_line_daily_usage_bytes{" not in text
    assert "leo_service_line_daily_usage_date_timestamp_seconds{" not in text
    assert (
        'leo_service_line_usage_bytes{provider="starlink",account="north",service_line="SL1",class="priority"} 0.0'
        in text
    )


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (httpx.Response(403, json=envelope(None, False, ["Forbidden"])), PermissionDenied, "Device management, View"),
        (httpx.Response(404), Exception, "not found"),
        (httpx.Response(422, json=envelope(None, False, ["page is invalid"])), RequestRejected, "page is invalid"),
        (httpx.Response(200, json=envelope(None, False, ["bad filter"])), RequestRejected, "bad filter"),
        (httpx.Response(500, text="<html>oops</html>"), ServerError, "oops"),
        (httpx.Response(200, content=b'{"isValid": true, "content": {"resu'), BadResponse, "not valid JSON"),
        (httpx.Response(200, json={"content": {"results": 5}}), BadResponse, "'results' list"),
        (httpx.Response(200, json=[1, 2]), BadResponse, "expected a JSON object"),
    ],
)
@pytest.mark.anyio
async def test_failures_are_typed_and_explained(response: httpx.Response, error: type, words: str) -> None:
    driver, _ = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        mock.get(f"{API}/user-terminals").mock(return_value=response)
        with pytest.raises(error, match=words):
            await driver.poll_user_terminals()


@pytest.mark.anyio
async def test_429_with_retry_after_pauses_the_whole_account() -> None:
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        mock.get(f"{API}/account").mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
        with pytest.raises(RateLimited) as err:
            await driver.poll_account()
    assert err.value.retry_after == 30
    budget = driver.ctx.budget
    assert budget.paused_until - budget.clock() == pytest.approx(30, abs=1)
    account = state.accounts["north"]
    assert account.counters["leo_exporter_rate_limited_total"][""] == 1
    assert account.counters["leo_exporter_api_requests_total"]['endpoint="/account",code="429"'] == 1


@pytest.mark.anyio
async def test_429_without_retry_after_backs_off_from_the_base_to_a_minute() -> None:
    driver, _ = make_driver()
    budget = driver.ctx.budget
    budget.pause_base = 0.01  # the account's backoff_base
    waits = []
    with respx.mock() as mock:
        token_route(mock)
        route = mock.get(f"{API}/account").mock(return_value=httpx.Response(429))
        for _ in range(3):
            with pytest.raises(RateLimited, match="no Retry-After; pausing") as err:
                await driver.poll_account()
            waits.append(err.value.retry_after)
        assert budget.paused_until - budget.clock() == pytest.approx(0.04, abs=0.02)
        route.mock(return_value=httpx.Response(200, json=envelope({"accountNumber": "ACC-9"})))
        await driver.poll_account()  # any other answer starts the backoff again
        route.mock(return_value=httpx.Response(429))
        with pytest.raises(RateLimited) as err:
            await driver.poll_account()
    assert waits == [0.01, 0.02, 0.04]
    assert err.value.retry_after == 0.01
    budget.unexplained = 20
    assert budget.pause(None) == 60.0  # never longer than a minute


@pytest.mark.anyio
async def test_connection_reset_and_timeout_are_transport_failures() -> None:
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        reset = httpx.ReadError("reset")  # twice: a GET whose connection dropped is sent once more
        mock.get(f"{API}/account").mock(side_effect=[reset, reset, httpx.ReadTimeout("slow")])
        with pytest.raises(TransportFailed, match="ReadError"):
            await driver.poll_account()
        with pytest.raises(TransportFailed, match="timeout"):
            await driver.poll_account()
    assert state.accounts["north"].counters["leo_exporter_api_requests_total"]['endpoint="/account",code="error"'] == 3


def stream_body(rows: int, batch: int) -> dict[str, object]:
    columns = ["DeviceType", "UtcTimestampNs", "DeviceId", "Uptime"]
    values = [["u", 1_763_700_000_000_000_000 + i, f"ut{i % batch}", i] for i in range(rows)]
    return {"data": {"values": values, "columnNamesByDeviceType": {"u": columns}}, "metadata": {}}


@pytest.mark.anyio
async def test_telemetry_drains_while_responses_come_back_full_asking_more_each_time() -> None:
    """A full batch means the account is behind: the next request of the drain asks four times as
    many rows (a 50,000-terminal account took 65 calls of 1,000 rows every 15 s), up to the API's
    65,000, and keeps asking that: a response holds the rows there are."""
    driver, state = make_driver()
    with respx.mock() as mock:
        token_route(mock)
        route = mock.post(f"{API}/telemetry/stream").mock(
            side_effect=[
                httpx.Response(200, json=stream_body(1000, 1000)),
                httpx.Response(200, json=stream_body(4000, 1000)),
                httpx.Response(200, json=stream_body(16000, 1000)),
                httpx.Response(200, json=stream_body(3, 1000)),
                httpx.Response(200, json=stream_body(3, 1000)),
            ]
        )
        await driver.poll_telemetry()
        assert route.call_count == 4
        await driver.poll_telemetry()  # caught up: still the grown size, the next burst in one call
    asked = [json.loads(call.request.content) for call in route.calls]
    assert asked[0] == {"batchSize": 1000, "maxLingerMs": 15000}
    assert [body["batchSize"] for body in asked] == [1000, 4000, 16000, 64000, 64000]
    account = state.accounts["north"]
    assert account.counters["leo_exporter_telemetry_rows_total"]['device_type="u"'] == 21000 + 3 + 3
    assert len(account.terminals.labels) == 1000


@pytest.mark.anyio
async def test_telemetry_batch_size_stays_fixed_when_max_batch_size_says_so() -> None:
    driver, _ = make_driver(batch_size=500, max_batch_size=500)
    with respx.mock() as mock:
        token_route(mock)
        route = mock.post(f"{API}/telemetry/stream").mock(
            side_effect=[httpx.Response(200, json=stream_body(500, 500))] * 3
            + [httpx.Response(200, json=stream_body(3, 500))]
        )
        await driver.poll_telemetry()
    assert [json.loads(call.request.content)["batchSize"] for call in route.calls] == [500] * 4


@pytest.mark.parametrize(
    ("asked", "rows", "expected"),
    [(1000, 1000, 4000), (16000, 16000, 64000), (64000, 64000, 65000), (65000, 65000, 65000), (65000, 10, 65000),
     (1000, 999, 1000)],
)  # fmt: skip
def test_next_batch_size(asked: int, rows: int, expected: int) -> None:
    assert next_batch_size(asked, rows, 65000) == expected
