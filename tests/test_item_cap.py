"""A provider that pages for ever cannot grow a run without bound (issue #25): every provider's
paged listings stop at the account's `max_items_per_run`, the run fails with an error naming the
account and the call, and `leo_exporter_api_requests_total{code="too_many_items"}` counts it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.app import Exporter
from leo_exporter.config import ConfigError
from leo_exporter.providers import parse_config

pytestmark = pytest.mark.anyio

PAGE = 100
CAP = 250  # the third full page passes it


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def exporter(account: dict[str, Any]) -> Exporter:
    return Exporter(parse_config({"accounts": [{"name": "endless", "max_items_per_run": CAP, **account}]}))


async def run(exp: Exporter, call: str) -> str:
    job = next(j for j in exp.scheduler.jobs.values() if j.status.call == call)
    ok, _ = await exp.scheduler.run_once(job)
    assert not ok
    return job.status.last_error


async def requests_counted(exp: Exporter) -> dict[tuple[str, str], float]:
    exposition = await exp.render_now()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(exposition.plain.decode()):
        for sample in family.samples:
            if sample.name == "leo_exporter_api_requests_total":
                found[(sample.labels["endpoint"], sample.labels["code"])] = sample.value
    return found


def check(error: str, endpoint: str, calls: int, counted: dict[tuple[str, str], float]) -> None:
    assert f"{endpoint} (account 'endless')" in error
    assert f"more than {CAP} items across its pages in one run" in error and "max_items_per_run" in error
    assert calls == 3  # stopped at the page that passed the cap, not at the provider's last
    assert counted[(endpoint, "too_many_items")] == 1.0


async def test_starlink_listing_that_never_ends(mock: respx.MockRouter) -> None:
    api = "https://sl.test/api/public/v2"
    mock.post("https://sl.test/auth/token").respond(200, json={"access_token": "t", "expires_in": 900})

    def endless(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        results = [{"userTerminalId": f"ut{page}-{n}", "kitSerialNumber": f"k{page}-{n}"} for n in range(PAGE)]
        content = {"pageIndex": page, "limit": PAGE, "isLastPage": False, "totalCount": 10**9, "results": results}
        return httpx.Response(200, json={"isValid": True, "errors": [], "content": content})

    route = mock.get(f"{api}/user-terminals").mock(side_effect=endless)
    exp = exporter(
        {
            "provider": "starlink",
            "client_id": "cid",
            "client_secret": "secret-value-123",
            "api_url": api,
            "auth_url": "https://sl.test/auth/token",
        }
    )
    error = await run(exp, "user_terminals")
    check(error, "/user-terminals", len(route.calls), await requests_counted(exp))


async def test_kognitive_listing_that_claims_a_million_pages(mock: respx.MockRouter) -> None:
    api = "https://kognitive.test/ext/v1/starlink"

    def endless(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        lines = [{"serviceLineNumber": f"AST-{page:07d}-00000-{n:02d}"} for n in range(PAGE)]
        return httpx.Response(200, json={"success": True, "data": lines, "totalPages": 10**6})

    route = mock.get(f"{api}/getServiceLineDetails").mock(side_effect=endless)
    exp = exporter({"provider": "kognitive", "auth_key": "kog-test-key-0123456789", "api_url": api, "page_limit": PAGE})
    error = await run(exp, "service_lines")
    check(error, "/getServiceLineDetails", len(route.calls), await requests_counted(exp))


async def test_oneweb_listing_whose_count_keeps_growing(mock: respx.MockRouter) -> None:
    api = "https://api.oneweb.test"
    mock.get(f"{api}/hello/v1/oneweb/world").respond(200, json={"message": "Hello OneWeb"})

    def endless(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        body = [{"id": f"ut-{offset + n}", "imei": f"35923517{offset + n:07d}"} for n in range(PAGE)]
        return httpx.Response(200, json=body, headers={"X-Total-Count": str(offset + 2 * PAGE)})

    route = mock.get(f"{api}/resourceInventory/v3/userTerminal").mock(side_effect=endless)
    exp = exporter(
        {
            "provider": "oneweb",
            "client_id": "cid-1",
            "client_secret": "ow-very-secret-value-42",
            "api_url": api,
            "pagination": "offset",
            "page_size": PAGE,
        }
    )
    error = await run(exp, "user_terminals")
    check(error, "/resourceInventory/v3/userTerminal", len(route.calls), await requests_counted(exp))


def test_the_cap_is_a_whole_number_of_at_least_one() -> None:
    base = {"provider": "kognitive", "name": "k", "auth_key": "kog-test-key-0123456789", "api_url": "https://k.test"}
    assert parse_config({"accounts": [base]}).accounts[0].max_items_per_run == 1_000_000
    with pytest.raises(ConfigError, match="max_items_per_run"):
        parse_config({"accounts": [{**base, "max_items_per_run": 0}]})
