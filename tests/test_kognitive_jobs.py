"""The Kognitive provider against a mocked API (respx): every job, both paging styles, string
numbers, and bad input that must fail only its own job while the last good data stays."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.app import Exporter
from leo_exporter.config import ConfigError
from leo_exporter.providers import parse_config
from leo_exporter.scheduler import Job
from tests import kognitive_samples as S

pytestmark = pytest.mark.anyio

API = "https://kognitive.test/ext/v1/starlink"
KEY = "kog-test-key-0123456789"
ACC = "ACC-2239913-53353-13"
SAMPLES_DATE = 1762430400.0  # 2025-11-06T12:00Z, inside the samples' billing cycle


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


def exporter(**extra: Any) -> Exporter:
    accounts = extra.pop("accounts", None) or [
        {"provider": "kognitive", "name": "dp-main", "auth_key": KEY, "api_url": API, **extra}
    ]
    # billing dates are judged at the samples' date: their cycle (November 2025) is the running one;
    # every figure, the `details` collector's too
    config = parse_config({"accounts": accounts, "collectors": {"details": True}})
    return Exporter(config, calendar=lambda: SAMPLES_DATE)


def job(exp: Exporter, call: str, account: str = "dp-main") -> Job:
    found = exp.scheduler.find(f"{account}/{call}")
    assert found is not None, call
    return found


async def run(exp: Exporter, call: str, account: str = "dp-main") -> str:
    """Run one job once; returns its error ('' on success)."""
    j = job(exp, call, account)
    await exp.scheduler.run_once(j)
    return j.status.last_error


async def metrics(exp: Exporter) -> dict[str, list[Any]]:
    exposition = await exp.render_now()
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(exposition.plain.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def by(samples: list[Any], label: str) -> dict[str, Any]:
    return {s.labels[label]: s for s in samples}


def pages(
    items: list[Any], *, wrap: Callable[[list[Any]], Any] = lambda x: x, style: tuple[str, str] = ("page", "limit")
) -> Callable[[httpx.Request], httpx.Response]:
    """A paged endpoint without paging fields: `limit` items per page, then empty pages."""

    def answer(request: httpx.Request) -> httpx.Response:
        page, limit = int(request.url.params[style[0]]), int(request.url.params[style[1]])
        chunk = items[(page - 1) * limit : page * limit]
        return httpx.Response(200, json={"success": True, "message": "", "data": wrap(chunk)})

    return answer


def line(number: str, status: str = "resumed", terminals: tuple[str, ...] = (), account: str = ACC, **extra: Any):
    return {
        "service_line_number": number,
        "nickname": f"Site {number[-2:]}",
        "account_number": account,
        "account_name": "Main Organization",
        "subscription_status": status,
        "userterminaldetails": [{"kitSerialNumber": f"KIT{t[-4:]}", "userTerminalId": t} for t in terminals],
        **extra,
    }


def usage(number: str, priority: str = "1.50", standard: str = "2.25", account: str = ACC) -> dict[str, Any]:
    return {
        "accountNumber": account,
        "serviceLineNumber": number,
        "startDate": "2025-11-01",
        "endDate": "2025-12-01",
        "billingCycles": [
            {
                "dailyDataUsage": [
                    {
                        "date": "2025-11-05T00:00:00.000Z",
                        "priorityGB": "0.10",
                        "optInPriorityGB": "0.00",
                        "standardGB": "0.20",
                        "nonBillableGB": "0.01",
                    },
                    {
                        "date": "2025-11-06T00:00:00.000Z",
                        "priorityGB": "0.30",
                        "optInPriorityGB": "0.05",
                        "standardGB": "0.40",
                        "nonBillableGB": "0.02",
                    },
                ],
                "totalPriorityGB": priority,
                "totalOptInPriorityGB": "0.05",
                "totalStandardGB": standard,
                "totalNonBillableGB": "0.03",
            }
        ],
    }


def terminal(tid: str, online: bool = True, line: str = "<NOT_CONFIGURED>", status: Any = True) -> dict[str, Any]:
    return {
        "kit_serial_number": f"KIT{tid[-4:]}",
        "user_terminal_id": tid,
        "service_line_number": line,
        "terminal_status": status,
        "is_terminal_online": online,
    }


def status_pages(terminals: list[dict[str, Any]], total: Any = None) -> Callable[[httpx.Request], httpx.Response]:
    """getTerminalStatus: page_number/page_limit, grouped by account, `total` as a string."""

    def answer(request: httpx.Request) -> httpx.Response:
        page, limit = int(request.url.params["page_number"]), int(request.url.params["page_limit"])
        chunk = terminals[(page - 1) * limit : page * limit]
        count = len(terminals) if total is None else total
        body = {
            "success": True,
            "page": page,
            "limit": limit,
            "total": str(count),
            "totalPages": max(1, -(-len(terminals) // limit)),
            "data": [{"account_number": ACC, "account_name": "Main", "userTerminals": chunk}] if chunk else [],
        }
        return httpx.Response(200, json=body)

    return answer


def empty_after_first(sample: dict[str, Any], param: str = "page") -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if int(request.url.params.get(param, "1")) == 1:
            return httpx.Response(200, json=sample)
        empty = copy.deepcopy(sample)
        empty["data"] = {"results": []} if isinstance(sample["data"], dict) else []
        return httpx.Response(200, json=empty)

    return answer


# ---- the seed's own samples --------------------------------------------------------------------------


async def test_the_documented_samples_become_contract_metrics(api: respx.MockRouter) -> None:
    api.get("/getServiceLineDetails").mock(side_effect=empty_after_first(S.SERVICE_LINES))
    api.get("/getTerminalStatus").mock(return_value=httpx.Response(200, json=S.TERMINAL_STATUS))
    api.get("/getBillingUsage").mock(side_effect=empty_after_first(S.BILLING_USAGE))
    api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=S.PRODUCTS))
    api.get("/getAddress").mock(side_effect=empty_after_first(S.ADDRESS))
    exp = exporter()
    for call in ("service_lines", "terminal_status", "billing_usage", "products", "addresses"):
        assert await run(exp, call) == "", call
    m = await metrics(exp)

    info = by(m["leo_terminal_info"], "terminal_id")
    assert set(info) == {"01000000-00000000-00d310eb", "01000000-00000000-001a3692", "01000000-00000000-00612499"}
    listed = info["01000000-00000000-00d310eb"].labels
    assert listed["service_line"] == "DEV-SL-1113999-92299-13"
    assert listed["kit_serial"] == "KITP00304243"
    assert listed["name"] == "Service line name"
    assert listed["provider_account"] == ACC and listed["account"] == "dp-main"
    unconfigured = info["01000000-00000000-001a3692"].labels
    assert "service_line" not in unconfigured and unconfigured["terminal_status"] == "false"
    assert "serial" not in unconfigured  # Kognitive reports no dish serial: no always-empty label
    assert unconfigured["provider"] == "kognitive" and unconfigured["account"] == "dp-main"

    online = {tid: s.value for tid, s in by(m["leo_terminal_online"], "terminal_id").items()}
    assert online == {"01000000-00000000-001a3692": 0.0, "01000000-00000000-00612499": 0.0}

    lines = by(m["leo_service_line_info"], "service_line")
    assert lines["DEV-SL-1113999-92299-13"].labels["status"] == "resumed"
    assert by(m["leo_service_line_active"], "service_line")["DEV-SL-1113999-92299-13"].value == 1.0

    used = {(s.labels["service_line"], s.labels["class"]): s.value for s in m["leo_service_line_usage_bytes"]}
    # every class is "0.00" in both cycles of the documented sample: only `priority` is exported
    assert used == {("AST-1935975-91695-67", "priority"): 0.0}
    start = by(m["leo_service_line_billing_cycle_start_timestamp_seconds"], "service_line")
    assert start["AST-1935975-91695-67"].value == 1761955200.0  # 2025-11-01T00:00Z
    day = by(m["leo_service_line_daily_usage_date_timestamp_seconds"], "service_line")
    assert day["AST-1935975-91695-67"].value == 1762387200.0  # 2025-11-06T00:00Z

    products = by(m["leo_product_info"], "product")
    fee = products["gb-enterprise-global-priority-terminal-access-fee-usd"].labels
    assert fee["kind"] == "product" and fee["currency"] == "USD" and fee["provider_account"] == ACC
    block = products["gb-enterprise-global-priority-500gb-data-block-usd"].labels
    assert block["kind"] == "data_block" and block["parent_product"] == fee["product"]
    prices = {p: s.value for p, s in by(m["leo_product_price"], "product").items()}
    assert prices["gb-enterprise-global-priority-terminal-access-fee-usd"] == 150.0
    assert prices["gb-enterprise-global-priority-50gb-data-block-usd"] == 100.0
    data = {p: s.value for p, s in by(m["leo_product_data_bytes"], "product").items()}
    assert data == {
        "gb-enterprise-global-priority-500gb-data-block-usd": 500e9,
        "gb-enterprise-global-priority-50gb-data-block-usd": 50e9,
    }  # the access fee's usage_limit_gb is null: no series
    assert "leo_service_line_latitude_degrees" not in m  # the sample's 0, 0 is a placeholder

    sent = api.calls[0].request
    assert sent.headers["X-Auth-Key"] == KEY
    assert sent.headers["Content-Type"] == "application/json"
    assert "auth-key" not in sent.headers


async def test_auth_header_name_is_configurable(api: respx.MockRouter) -> None:
    route = api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=S.PRODUCTS))
    exp = exporter(auth_header="auth-key")
    assert await run(exp, "products") == ""
    headers = route.calls.last.request.headers
    assert headers["auth-key"] == KEY
    assert "x-auth-key" not in headers


async def test_refused_key_names_the_header_switch_and_never_the_key(api: respx.MockRouter) -> None:
    api.get("/getAvailableProducts").mock(
        return_value=httpx.Response(401, json={"success": False, "message": "Invalid auth key"})
    )
    exp = exporter()
    error = await run(exp, "products")
    assert "HTTP 401" in error and "Invalid auth key" in error
    assert "auth_header (now 'X-Auth-Key')" in error
    assert KEY not in error
    m = await metrics(exp)
    assert m["leo_exporter_account_authenticated"][0].value == 0.0
    up = by(m["leo_exporter_job_up"], "call")["products"]
    assert up.value == 0.0


# ---- paging ------------------------------------------------------------------------------------------


async def test_page_and_limit_are_followed_to_the_first_empty_page(api: respx.MockRouter) -> None:
    items = [line(f"AST-0000000-00000-{n:02d}") for n in range(5)]
    route = api.get("/getServiceLineDetails").mock(side_effect=pages(items))
    exp = exporter(page_limit=2)
    assert await run(exp, "service_lines") == ""
    asked = [(c.request.url.params["page"], c.request.url.params["limit"]) for c in route.calls]
    assert asked == [("1", "2"), ("2", "2"), ("3", "2"), ("4", "2")]  # a short page proves nothing
    m = await metrics(exp)
    assert len(m["leo_service_line_info"]) == 5


async def test_a_server_that_caps_the_page_size_is_still_read_to_the_end(api: respx.MockRouter) -> None:
    items = [usage(f"AST-0000000-00000-{n:02d}") for n in range(7)]

    def capped(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        chunk = items[(page - 1) * 3 : page * 3]  # asked for 100, gets 3
        return httpx.Response(200, json={"success": True, "data": {"results": chunk}})

    route = api.get("/getBillingUsage").mock(side_effect=capped)
    exp = exporter()
    assert await run(exp, "billing_usage") == ""
    assert len(route.calls) == 4
    m = await metrics(exp)
    assert len({s.labels["service_line"] for s in m["leo_service_line_usage_bytes"]}) == 7


async def test_terminal_status_pages_by_page_number_and_total_pages(api: respx.MockRouter) -> None:
    terminals = [terminal(f"01000000-00000000-0000000{n}", online=n % 2 == 0) for n in range(5)]
    route = api.get("/getTerminalStatus").mock(side_effect=status_pages(terminals))
    exp = exporter(page_limit=2)
    assert await run(exp, "terminal_status") == ""
    asked = [(c.request.url.params["page_number"], c.request.url.params["page_limit"]) for c in route.calls]
    assert asked == [("1", "2"), ("2", "2"), ("3", "2")]  # totalPages 3: no fourth call
    assert "accountFilter" not in route.calls[0].request.url.params
    m = await metrics(exp)
    online = {tid: s.value for tid, s in by(m["leo_terminal_online"], "terminal_id").items()}
    assert online == {f"01000000-00000000-0000000{n}": float(n % 2 == 0) for n in range(5)}


async def test_a_page_that_ignores_the_page_parameter_ends_the_listing(api: respx.MockRouter) -> None:
    items = [line("AST-0000000-00000-01"), line("AST-0000000-00000-02")]
    route = api.get("/getServiceLineDetails").mock(
        return_value=httpx.Response(200, json={"success": True, "data": items})
    )
    exp = exporter(page_limit=2)
    assert await run(exp, "service_lines") == ""
    assert len(route.calls) == 2


async def test_an_item_repeated_across_pages_is_one_entity(api: respx.MockRouter) -> None:
    a, b, c = (f"01000000-00000000-0000000{n}" for n in "abc")
    answers = iter(
        [
            [terminal(a), terminal(b)],
            [terminal(b), terminal(c)],  # b again: an item was inserted before it meanwhile
        ]
    )

    def shifted(request: httpx.Request) -> httpx.Response:
        chunk = next(answers)
        body = {
            "success": True,
            "total": "3",
            "totalPages": 2,
            "data": [{"account_number": ACC, "userTerminals": chunk}],
        }
        return httpx.Response(200, json=body)

    api.get("/getTerminalStatus").mock(side_effect=shifted)
    exp = exporter(page_limit=2)
    assert await run(exp, "terminal_status") == ""
    m = await metrics(exp)
    assert sorted(s.labels["terminal_id"] for s in m["leo_terminal_info"]) == [a, b, c]


async def test_an_item_dropped_by_paging_is_not_removed(api: respx.MockRouter, caplog) -> None:
    a, b, c = (f"01000000-00000000-0000000{n}" for n in "abc")
    listing = {"terminals": [terminal(a), terminal(b), terminal(c)], "total": None}

    def answer(request: httpx.Request) -> httpx.Response:
        return status_pages(listing["terminals"], listing["total"])(request)

    api.get("/getTerminalStatus").mock(side_effect=answer)
    exp = exporter(page_limit=2)
    assert await run(exp, "terminal_status") == ""

    async def known() -> list[str]:
        return sorted(s.labels["terminal_id"] for s in (await metrics(exp))["leo_terminal_info"])

    # b fell between two pages: the server still says 3, we saw 2 -> nothing is removed
    listing.update(terminals=[terminal(a), terminal(c)], total=3)
    with caplog.at_level(logging.WARNING):
        assert await run(exp, "terminal_status") == ""
    assert await known() == [a, b, c]
    assert "changed while it was read: 2 of 3 items" in caplog.text
    # a clean listing without b: b is kept once more (a page may drop an item silently) ...
    listing.update(total=None)
    assert await run(exp, "terminal_status") == ""
    assert await known() == [a, b, c]
    # ... and removed when the next clean listing lacks it too
    assert await run(exp, "terminal_status") == ""
    assert await known() == [a, c]


# ---- bad input: only the job fails, the last good data stays ----------------------------------------


async def test_success_false_fails_the_job_and_keeps_the_last_good_data(api: respx.MockRouter, caplog) -> None:
    good = {"success": True, "data": [line("AST-0000000-00000-01", terminals=("01000000-00000000-000000aa",))]}
    answers = [httpx.Response(200, json=good), httpx.Response(200, json={"success": True, "data": []})]
    refused = httpx.Response(200, json={"success": False, "message": "Starlink API unavailable, try later"})
    answers += [refused]
    route = api.get("/getServiceLineDetails").mock(side_effect=answers)
    api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=S.PRODUCTS))
    exp = exporter()
    assert await run(exp, "service_lines") == ""
    with caplog.at_level(logging.WARNING):
        error = await run(exp, "service_lines")
    assert len(route.calls) == 3
    assert "success=false: Starlink API unavailable, try later" in error
    assert "Starlink API unavailable, try later" in caplog.text
    assert await run(exp, "products") == ""  # other jobs carry on
    m = await metrics(exp)
    assert [s.labels["service_line"] for s in m["leo_service_line_info"]] == ["AST-0000000-00000-01"]
    assert [s.labels["terminal_id"] for s in m["leo_terminal_info"]] == ["01000000-00000000-000000aa"]
    up = {j: s.value for j, s in by(m["leo_exporter_job_up"], "call").items()}
    assert up["service_lines"] == 0.0
    assert up["products"] == 1.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"success": True, "message": "ok"}, "response has no 'data' (message: ok)"),
        ({"success": True, "data": None}, "response has no 'data'"),
        ({"success": "yes", "data": []}, "'success' should be true or false"),
        ({"success": True, "data": {"rows": []}}, "'data' should be a list"),
        ([1, 2], "expected a JSON object"),
    ],
)
async def test_malformed_envelopes_are_named(api: respx.MockRouter, body: Any, expected: str) -> None:
    api.get("/getServiceLineDetails").mock(return_value=httpx.Response(200, json=body))
    exp = exporter()
    assert expected in await run(exp, "service_lines")


async def test_a_body_that_is_not_json_is_named(api: respx.MockRouter) -> None:
    api.get("/getBillingUsage").mock(return_value=httpx.Response(200, content=b'{"success": true, "data": ['))
    exp = exporter()
    assert "response is not valid JSON" in await run(exp, "billing_usage")


async def test_a_non_numeric_usage_string_fails_only_that_line(api: respx.MockRouter, caplog) -> None:
    one, two = "AST-0000000-00000-01", "AST-0000000-00000-02"
    rounds = iter([[usage(one, "1.00"), usage(two, "2.00")], [usage(one, "3.00"), usage(two, "n/a")]])

    def answer(request: httpx.Request) -> httpx.Response:
        items = next(rounds) if request.url.params["page"] == "1" else []
        return httpx.Response(200, json={"success": True, "data": {"results": items}})

    api.get("/getBillingUsage").mock(side_effect=answer)
    exp = exporter()
    assert await run(exp, "billing_usage") == ""
    with caplog.at_level(logging.WARNING):
        error = await run(exp, "billing_usage")
    assert f"billing usage of {two}: 'totalPriorityGB' is not a number: 'n/a'" in error
    assert "'n/a'" in caplog.text
    m = await metrics(exp)
    priority = {
        s.labels["service_line"]: s.value for s in m["leo_service_line_usage_bytes"] if s.labels["class"] == "priority"
    }
    assert priority == {one: 3e9, two: 2e9}  # the good line moved on, the bad one kept its last figure
    assert by(m["leo_exporter_job_up"], "call")["billing_usage"].value == 0.0


async def test_usage_numbers_arrive_as_strings_or_numbers(api: respx.MockRouter) -> None:
    item = usage("AST-0000000-00000-01", priority="12.34", standard="0.50")
    item["billingCycles"][0]["totalNonBillableGB"] = 0.25  # a JSON number is read too
    api.get("/getBillingUsage").mock(side_effect=pages([item], wrap=lambda x: {"results": x}))
    exp = exporter()
    assert await run(exp, "billing_usage") == ""
    m = await metrics(exp)
    used = {s.labels["class"]: s.value for s in m["leo_service_line_usage_bytes"]}
    assert used == {"priority": 12.34e9, "standard": 0.5e9, "opt_in_priority": 0.05e9, "non_billable": 0.25e9}
    daily = {s.labels["class"]: s.value for s in m["leo_service_line_daily_usage_bytes"]}
    assert daily["priority"] == pytest.approx(0.3e9)  # the newest day, not the last listed


async def test_an_unknown_subscription_status_keeps_the_last_flag_and_says_so(api: respx.MockRouter, caplog) -> None:
    number = "AST-0000000-00000-01"
    rounds = iter([[line(number, "resumed")], [line(number, "frozen")], [line(number, "paused")]])

    def answer(request: httpx.Request) -> httpx.Response:
        items = next(rounds) if request.url.params["page"] == "1" else []
        return httpx.Response(200, json={"success": True, "data": items})

    api.get("/getServiceLineDetails").mock(side_effect=answer)
    exp = exporter()
    assert await run(exp, "service_lines") == ""
    with caplog.at_level(logging.WARNING):
        error = await run(exp, "service_lines")
    assert f"service line {number}: unknown subscription_status 'frozen'" in error
    assert "new subscription_status 'frozen'" in caplog.text
    m = await metrics(exp)
    assert m["leo_service_line_active"][0].value == 1.0  # its last known value
    assert m["leo_service_line_info"][0].labels["status"] == "frozen"
    unknown = m["leo_exporter_unknown_fields_total"]
    assert [(s.labels["kind"], s.value) for s in unknown] == [("subscription_status", 1.0)]
    assert by(m["leo_exporter_job_up"], "call")["service_lines"].value == 0.0
    assert await run(exp, "service_lines") == ""
    m = await metrics(exp)
    assert m["leo_service_line_active"][0].value == 0.0


async def test_config_teaches_new_subscription_statuses(api: respx.MockRouter) -> None:
    api.get("/getServiceLineDetails").mock(
        side_effect=pages([line("AST-0000000-00000-01", "Frozen"), line("AST-0000000-00000-02", "Thawed")])
    )
    exp = exporter(subscription_statuses={"active": ["thawed"], "inactive": ["frozen"]})
    assert await run(exp, "service_lines") == ""
    m = await metrics(exp)
    active = {sl: s.value for sl, s in by(m["leo_service_line_active"], "service_line").items()}
    assert active == {"AST-0000000-00000-01": 0.0, "AST-0000000-00000-02": 1.0}


async def test_a_bad_terminal_entry_keeps_its_last_state_and_the_rest_move_on(api: respx.MockRouter) -> None:
    a, b = "01000000-00000000-000000aa", "01000000-00000000-000000bb"
    rounds = iter(
        [
            [terminal(a, online=True), terminal(b, online=True)],
            [terminal(a, online=False), {"user_terminal_id": b, "is_terminal_online": "maybe"}],
        ]
    )
    api.get("/getTerminalStatus").mock(side_effect=lambda request: status_pages(next(rounds))(request))
    exp = exporter()
    assert await run(exp, "terminal_status") == ""
    error = await run(exp, "terminal_status")
    assert f"terminal {b}: 'is_terminal_online' should be true or false, got 'maybe'" in error
    m = await metrics(exp)
    online = {tid: s.value for tid, s in by(m["leo_terminal_online"], "terminal_id").items()}
    assert online == {a: 0.0, b: 1.0}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "HTTP 500: provider error"), (429, "HTTP 429: rate limited"), (403, "HTTP 403: permission denied")],
)
async def test_http_errors_fail_the_job_and_other_accounts_carry_on(
    api: respx.MockRouter, status: int, kind: str
) -> None:
    other = "https://other.test/ext/v1/starlink"
    api.get("/getAvailableProducts").mock(
        return_value=httpx.Response(status, json={"success": False, "message": "nope"}, headers={"Retry-After": "1"})
    )
    api.route(method="GET", url=f"{other}/getAvailableProducts").mock(return_value=httpx.Response(200, json=S.PRODUCTS))
    exp = exporter(
        accounts=[
            {"provider": "kognitive", "name": "broken", "auth_key": KEY, "api_url": API},
            {"provider": "kognitive", "name": "fine", "auth_key": KEY + "x", "api_url": other},
        ]
    )
    error = await run(exp, "products", "broken")
    assert kind in error
    assert ("nope" in error) == (status != 429)  # a 429 says when to retry, not why
    assert await run(exp, "products", "fine") == ""
    m = await metrics(exp)
    up = {(s.labels["account"], s.labels["call"]): s.value for s in m["leo_exporter_job_up"]}
    assert up == {("broken", "products"): 0.0, ("fine", "products"): 1.0}
    assert len(m["leo_product_info"]) == 3 and {s.labels["account"] for s in m["leo_product_info"]} == {"fine"}


# ---- accounts, joins and options ----------------------------------------------------------------------


async def test_starlink_account_filters_and_names_the_account(api: respx.MockRouter) -> None:
    other = "ACC-9999999-99999-99"
    status = api.get("/getTerminalStatus").mock(side_effect=status_pages([terminal("01000000-00000000-000000aa")]))
    api.get("/getServiceLineDetails").mock(
        side_effect=pages([line("AST-0000000-00000-01"), line("AST-0000000-00000-02", account=other)])
    )
    addresses = api.get("/getAddress").mock(side_effect=empty_after_first(S.ADDRESS))
    exp = exporter(starlink_account=ACC)
    for call in ("terminal_status", "service_lines", "addresses"):
        assert await run(exp, call) == "", call
    assert status.calls[0].request.url.params["accountFilter"] == ACC
    assert addresses.calls[0].request.url.params["accountNumber"] == ACC
    m = await metrics(exp)
    assert [s.labels["service_line"] for s in m["leo_service_line_info"]] == ["AST-0000000-00000-01"]
    assert {s.labels["account"] for s in m["leo_service_line_info"] + m["leo_terminal_info"]} == {"dp-main"}
    assert {s.labels["provider_account"] for s in m["leo_service_line_info"]} == {ACC}
    (info,) = m["leo_account_info"]
    assert info.labels["account"] == "dp-main" and info.labels["provider_account"] == ACC
    assert info.labels["provider_account_name"] == "Main Organization"


async def test_account_label_is_the_config_name_and_each_starlink_account_an_info_series(
    api: respx.MockRouter,
) -> None:
    other = "ACC-9999999-99999-99"
    api.get("/getServiceLineDetails").mock(
        side_effect=pages([line("AST-0000000-00000-01"), line("AST-0000000-00000-02", account=other)])
    )
    exp = exporter()
    assert await run(exp, "service_lines") == ""
    m = await metrics(exp)
    assert {s.labels["account"] for s in m["leo_service_line_info"]} == {"dp-main"}
    infos = by(m["leo_account_info"], "provider_account")
    assert set(infos) == {ACC, other}
    assert {s.labels["account"] for s in infos.values()} == {"dp-main"}
    assert by(m["leo_exporter_job_up"], "call")["service_lines"].value == 1.0


def test_the_removed_account_key_is_rejected_with_what_replaced_it() -> None:
    with pytest.raises(ConfigError) as raised:
        exporter(account="DP-4711")
    (problem,) = raised.value.problems
    assert problem.startswith("accounts[0]: account: removed") and "`name`" in problem


def _addresses(*entries: tuple[str, str, float, float], account: str = ACC) -> dict[str, Any]:
    return {
        "accountNumber": account,
        "accountName": "Main",
        "addresses": [
            {"address_reference_id": ref, "formatted_address": text, "latitude": lat, "longitude": lon}
            for ref, text, lat, lon in entries
        ],
    }


async def test_addresses_join_service_lines_by_reference_or_by_the_only_address(api: respx.MockRouter) -> None:
    single = "ACC-1111111-11111-11"
    lines = [
        line("AST-0000000-00000-01", terminals=("01000000-00000000-000000aa",), address_reference_id="addr-2"),
        line("AST-0000000-00000-02"),  # no reference, its account has two addresses: no join
        line("AST-0000000-00000-03", account=single, terminals=("01000000-00000000-000000cc",)),
    ]
    groups = [
        _addresses(("addr-1", "1 Quay, Aberdeen", 57.14, -2.09), ("addr-2", "2 Mill Road, Kirkwall", 58.98, -2.96)),
        _addresses(("addr-9", "9 High Road, Austin", 30.26, -97.74), account=single),
    ]
    api.get("/getServiceLineDetails").mock(side_effect=pages(lines))
    api.get("/getAddress").mock(side_effect=pages(groups))
    exp = exporter(terminal_location_from_address=True)
    assert await run(exp, "service_lines") == ""
    assert await run(exp, "addresses") == ""
    m = await metrics(exp)
    lat = {sl: s.value for sl, s in by(m["leo_service_line_latitude_degrees"], "service_line").items()}
    assert lat == {"AST-0000000-00000-01": 58.98, "AST-0000000-00000-03": 30.26}
    info = by(m["leo_service_line_info"], "service_line")
    assert info["AST-0000000-00000-01"].labels["address"] == "2 Mill Road, Kirkwall"
    assert info["AST-0000000-00000-03"].labels["address_reference_id"] == "addr-9"
    assert "address" not in info["AST-0000000-00000-02"].labels
    terminal_lon = {t: s.value for t, s in by(m["leo_terminal_longitude_degrees"], "terminal_id").items()}
    assert terminal_lon == {"01000000-00000000-000000aa": -2.96, "01000000-00000000-000000cc": -97.74}


async def test_terminal_location_stays_off_by_default(api: respx.MockRouter) -> None:
    api.get("/getServiceLineDetails").mock(
        side_effect=pages([line("AST-0000000-00000-01", terminals=("01000000-00000000-000000aa",))])
    )
    api.get("/getAddress").mock(side_effect=pages([_addresses(("addr-1", "1 Quay", 57.1, -2.1))]))
    exp = exporter()
    assert await run(exp, "service_lines") == ""
    assert await run(exp, "addresses") == ""
    m = await metrics(exp)
    assert "leo_terminal_latitude_degrees" not in m
    assert m["leo_service_line_latitude_degrees"][0].value == 57.1


@pytest.mark.parametrize(
    ("change", "limit"),
    [
        ("one plan", 1e12),  # the account offers one active plan: every line is on it
        ("two plans", None),  # which plan a line is on, the API does not say: unknown, not 0
        ("pooled", None),  # a pooled account shares its data: no line has a limit of its own
        ("other plan inactive", 1e12),  # an inactive plan is no line's
    ],
)
async def test_the_line_limit_comes_only_from_what_the_products_call_says(
    api: respx.MockRouter, change: str, limit: float | None
) -> None:
    """The service line listing names no product (the seed's sample has none), so the limit is
    known only when the account's products leave no choice."""
    products = copy.deepcopy(S.PRODUCTS)
    group = products["data"][0]
    plan = copy.deepcopy(group["products"][0])
    plan.update(product_reference_id="gb-local-priority-1tb", name="Local Priority 1TB", usage_limit_gb="1000")
    group["products"] = [plan]
    if change == "two plans":
        group["products"].append(copy.deepcopy(S.PRODUCTS["data"][0]["products"][0]))
    if change == "other plan inactive":
        other = copy.deepcopy(S.PRODUCTS["data"][0]["products"][0])
        other["active"] = False
        group["products"].append(other)
    if change == "pooled":
        group["is_pooled"] = True
    api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=products))
    api.get("/getServiceLineDetails").mock(side_effect=pages([line("AST-0000000-00000-01")]))
    api.get("/getBillingUsage").mock(side_effect=pages([usage("AST-0000000-00000-01")], wrap=lambda x: {"results": x}))
    exp = exporter()
    for call in ("service_lines", "billing_usage", "products"):
        assert await run(exp, call) == "", call
    m = await metrics(exp)
    got = [s.value for s in m.get("leo_service_line_usage_limit_bytes", [])]
    assert got == ([limit] if limit is not None else [])
    assert await run(exp, "billing_usage") == ""  # a usage refresh keeps the joined limit
    assert [s.value for s in (await metrics(exp)).get("leo_service_line_usage_limit_bytes", [])] == got


async def test_a_product_offered_to_two_accounts_is_one_series(api: respx.MockRouter) -> None:
    products = copy.deepcopy(S.PRODUCTS)
    second = copy.deepcopy(products["data"][0])
    second["account_number"] = "ACC-0000000-00000-02"
    products["data"].append(second)
    api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=products))
    exp = exporter()
    assert await run(exp, "products") == ""
    m = await metrics(exp)
    fee = by(m["leo_product_info"], "product")["gb-enterprise-global-priority-terminal-access-fee-usd"]
    assert fee.labels["provider_account"] == f"ACC-0000000-00000-02,{ACC}"
    assert len(m["leo_product_info"]) == 3


async def test_an_unknown_data_unit_fails_that_block_only(api: respx.MockRouter) -> None:
    products = copy.deepcopy(S.PRODUCTS)
    products["data"][0]["products"][0]["data_blocks"][0]["data_unit"] = "PB"
    api.get("/getAvailableProducts").mock(return_value=httpx.Response(200, json=products))
    exp = exporter()
    error = await run(exp, "products")
    assert "unknown 'data_unit' 'PB'" in error
    m = await metrics(exp)
    assert len(m["leo_product_info"]) == 2


def test_config_rejects_a_bad_header_name_and_keeps_the_key_secret(tmp_path) -> None:
    from leo_exporter.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "accounts": [
                    {
                        "provider": "kognitive",
                        "auth_key": "s3cret-value",
                        "auth_header": "X Auth Key",
                        "jobs": {"telemetry": {}},
                    }
                ]
            }
        )
    text = str(err.value)
    assert "accounts[0].auth_header: must be an HTTP header name" in text
    assert "accounts[0].jobs: unknown job telemetry" in text
    assert "s3cret-value" not in text
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    config = parse_config({"accounts": [{"provider": "kognitive", "auth_key_file": str(key_file)}]})
    account = config.accounts[0]
    assert account.auth_key.get_secret_value() == "from-a-file"
    assert account.api_url == "https://api.kognitive.net/ext/v1/starlink"
    assert account.auth_header == "X-Auth-Key"
    assert {j.name: j.interval for j in account.resolved_jobs()} == {
        "terminal_status": 120.0,
        "service_lines": 600.0,
        "billing_usage": 3600.0,
        "products": 21600.0,
        "addresses": 21600.0,
    }
    env = parse_config({"accounts": [{"provider": "kognitive", "auth_key": "${KOG_KEY}"}]}, env={"KOG_KEY": "from-env"})
    assert env.accounts[0].auth_key.get_secret_value() == "from-env"
