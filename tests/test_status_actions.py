"""Management actions on the status page, in process (the front's app before the worker's routes,
the simulator behind the exporter): every guard of the page, and the same action code, audit line
and outcome as the command line."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from leo_exporter.app import Exporter
from leo_exporter.providers import built_in, parse_config
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW
from tests.inprocess import SIM_URL, front_client, poll_all

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
SAME = {"sec-fetch-site": "same-origin"}


class Gate(httpx.AsyncBaseTransport):
    """The simulator over ASGI; `hold` keeps requests whose path ends so until `release` is set,
    `answer` replaces chosen answers. Records every request."""

    def __init__(self, app: Starlette):
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[tuple[str, str]] = []
        self.hold = ""
        self.release = anyio.Event()
        self.answer: Callable[[httpx.Request], httpx.Response | None] = lambda r: None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.hold and request.url.path.endswith(self.hold):
            await self.release.wait()
        answer = self.answer(request)
        return answer if answer is not None else await self.inner.handle_async_request(request)

    def sent(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.endswith(suffix))


class World:
    def __init__(self, *, admin_api: bool = True, management: bool = True, basic_auth: bool = False):
        self.app = build_app(accounts=1, terminals=12, seed=3, now=SIMULATED_NOW, only=built_in())
        data = demo_config(SIM_URL, self.app)
        for account in data["accounts"]:
            account["management_actions"] = management
            if account["provider"] == "starlink":
                account["telemetry"] = {"max_linger": "0s"}
        self.transport = Gate(self.app)
        self.exporter = Exporter(parse_config(data), transport=self.transport)
        self.exporter.admin_api = admin_api
        self.exporter.basic_auth = basic_auth
        self.sim = self.app.state.starlink
        self.kog = self.app.state.kognitive
        self.starlink = next(a["name"] for a in data["accounts"] if a["provider"] == "starlink")
        self.kognitive = next(a["name"] for a in data["accounts"] if a["provider"] == "kognitive")

    def top_up_line(self) -> Any:
        account = self.sim.accounts[0]
        return next(
            line
            for line in account.service_lines
            if line.active and line.plan.limit_gb is not None and line.terminal_index is not None
        )

    def online_terminal(self) -> Any:
        account = self.sim.accounts[0]
        offline = self.sim.offline_terminal_ids(account.number)
        return next(t for t in account.terminals if t.terminal_id not in offline and t.router is not None)


@asynccontextmanager
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    await poll_all(world.exporter)
    async with front_client(world.exporter) as http:
        yield http
    await world.exporter.aclose()


def hidden(page: str) -> dict[str, str]:
    """The hidden fields of the page's form."""
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r"<input type='hidden' name='([^']*)' value='([^']*)'>", page)
    }


async def open_form(http: httpx.AsyncClient, action: str, account: str, target: str) -> tuple[httpx.Response, dict]:
    page = await http.get(f"/actions/{action}", params={"account": account, "target": target})
    return page, hidden(page.text)


async def wait_for_outcome(http: httpx.AsyncClient, location: str) -> str:
    with anyio.fail_after(20):
        while True:
            page = await http.get(location)
            outcome = re.search(r"data-outcome='([^']*)'", page.text)
            assert outcome, page.text
            if outcome.group(1) != "running":
                return page.text
            await anyio.sleep(0.05)


def first_option(page: str, name: str) -> str:
    """The first choice of the form's select `name`."""
    found = re.search(rf"<select name='{re.escape(name)}'[^>]*><option value='([^']*)'>", page)
    assert found, f"no choices listed for {name}"
    return html.unescape(found.group(1))


def audit_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith('{"time"')]


async def test_top_up_from_the_page_confirm_then_once_with_its_audit_line(capfd: pytest.CaptureFixture[str]) -> None:
    world = World()
    line = world.top_up_line()
    async with client(world) as http:
        page = (await http.get("/", params={"q": line.number})).text
        assert "actions/starlink-top-up?" in page and "Top up" in page
        assert "without authentication" in page  # the admin API is on without basic auth

        form, fields = await open_form(http, "starlink-top-up", world.starlink, line.number)
        assert form.status_code == 200 and "leo_session=" in form.headers["set-cookie"]
        cookie = form.headers["set-cookie"].lower()
        assert "samesite=strict" in cookie and "httponly" in cookie
        product = f"{line.plan.product_id}-TOPUP-50GB"
        assert f"<option value='{product}'>{product}: 50 GB for 25.00 USD each</option>" in form.text

        choice = {**fields, "--product": product, "--count": "2"}
        confirm = await http.post("/actions/starlink-top-up/confirm", data=choice, headers=SAME)
        assert confirm.status_code == 200
        said = html.unescape(confirm.text)
        assert f"Will buy:  2 x one-time top-up {product} (50 GB each) = 100 GB" in said
        assert "Cost:      2 x 25.00 USD = 50.00 USD, charged immediately" in said
        assert world.transport.sent("POST", "/data/top-up") == 0 and world.sim.top_ups == {}

        sure = hidden(confirm.text)
        run = await http.post("/actions/starlink-top-up/run", data=sure, headers=SAME)
        assert run.status_code == 303
        done = await wait_for_outcome(http, str(httpx.URL(str(run.request.url)).join(run.headers["location"])))
        assert "data-outcome='success'" in done and "Done: bought 2 x" in html.unescape(done)
        assert world.transport.sent("POST", "/data/top-up") == 1
        [block] = world.sim.top_ups[line.number]
        assert block.count == 2

    entries = audit_lines(capfd.readouterr().err)
    assert [e["outcome"] for e in entries if e["action"] == "starlink-top-up"] == ["success"]
    entry = next(e for e in entries if e["outcome"] == "success")
    assert entry["who"] == "anonymous" and entry["address"] == "127.0.0.1" and entry["target"] == line.number


async def test_reboot_a_terminal_and_the_second_identical_click_is_refused_while_in_flight() -> None:
    world = World()
    term = world.online_terminal()
    async with client(world) as http:
        page = (await http.get("/", params={"q": term.terminal_id})).text
        assert f"actions/starlink-reboot-terminal?account={world.starlink}&amp;target={term.terminal_id}" in page
        assert f"target={term.router.router_id}" in page  # its router's reboot

        budget = world.exporter.account_budget(world.starlink)
        assert budget is not None
        polls = len(budget.sent)
        _, fields = await open_form(http, "starlink-reboot-terminal", world.starlink, term.terminal_id)
        confirm = await http.post("/actions/starlink-reboot-terminal/confirm", data=fields, headers=SAME)
        assert "no charge; the dish drops its link for a few minutes" in confirm.text
        assert len(budget.sent) > polls  # the page's reads come out of the account's own budget
        sure = hidden(confirm.text)

        world.transport.hold = "/reboot"
        first = await http.post("/actions/starlink-reboot-terminal/run", data=sure, headers=SAME)
        assert first.status_code == 303
        second = await http.post("/actions/starlink-reboot-terminal/run", data=sure, headers=SAME)
        assert second.status_code == 409 and "already running" in second.text
        world.transport.release.set()
        done = await wait_for_outcome(http, str(httpx.URL(str(first.request.url)).join(first.headers["location"])))
        assert "data-outcome='success'" in done
        assert world.transport.sent("POST", "/reboot") == 1
        assert world.sim.reboots == [("user-terminal", term.terminal_id)]


async def test_a_failed_call_is_shown_and_never_retried() -> None:
    world = World()
    term = world.online_terminal()
    world.transport.answer = lambda r: httpx.Response(503, text="busy") if r.url.path.endswith("/reboot") else None
    async with client(world) as http:
        _, fields = await open_form(http, "starlink-reboot-terminal", world.starlink, term.terminal_id)
        confirm = await http.post("/actions/starlink-reboot-terminal/confirm", data=fields, headers=SAME)
        run = await http.post("/actions/starlink-reboot-terminal/run", data=hidden(confirm.text), headers=SAME)
        done = await wait_for_outcome(http, str(httpx.URL(str(run.request.url)).join(run.headers["location"])))
        assert "data-outcome='unknown'" in done and "watch its uptime before trying again" in done
        assert world.transport.sent("POST", "/reboot") == 1


@pytest.mark.parametrize(("admin_api", "management"), [(False, True), (True, False)])
async def test_without_both_flags_no_button_and_every_action_request_is_403(admin_api: bool, management: bool) -> None:
    world = World(admin_api=admin_api, management=management)
    line = world.top_up_line()
    async with client(world) as http:
        page = (await http.get("/")).text
        assert "class='action'" not in page and "/actions/" not in page
        form = await http.get("/actions/starlink-top-up", params={"account": world.starlink, "target": line.number})
        assert form.status_code == 403
        forged = {"account": world.starlink, "target": line.number, "--product": "x", "--count": "1", "csrf": "x"}
        for step in ("confirm", "run"):
            response = await http.post(f"/actions/starlink-top-up/{step}", data=forged, headers=SAME)
            assert response.status_code == 403
        assert world.transport.sent("POST", "/data/top-up") == 0 and world.sim.top_ups == {}


async def test_cross_site_posts_missing_tokens_and_skipped_confirmations_are_refused() -> None:
    world = World()
    line = world.top_up_line()
    async with client(world) as http:
        _, fields = await open_form(http, "starlink-top-up", world.starlink, line.number)
        product = f"{line.plan.product_id}-TOPUP-50GB"
        good = {**fields, "--product": product, "--count": "1"}
        for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
            response = await http.post("/actions/starlink-top-up/confirm", data=good, headers=headers)
            assert response.status_code == 403 and "cross-origin" in response.text
        no_token = {k: v for k, v in good.items() if k != "csrf"}
        assert (await http.post("/actions/starlink-top-up/confirm", data=no_token, headers=SAME)).status_code == 403
        mine = http.cookies["leo_session"]
        http.cookies.set("leo_session", "a" * 43)  # another session: the token is not its token
        assert (await http.post("/actions/starlink-top-up/confirm", data=good, headers=SAME)).status_code == 403
        http.cookies.set("leo_session", mine)
        skipped = await http.post("/actions/starlink-top-up/run", data=good, headers=SAME)
        assert skipped.status_code == 403 and "confirmation page" in skipped.text
        confirm = await http.post("/actions/starlink-top-up/confirm", data=good, headers=SAME)
        changed = {**hidden(confirm.text), "--count": "5"}
        assert (await http.post("/actions/starlink-top-up/run", data=changed, headers=SAME)).status_code == 403
        assert (await http.get("/actions/starlink-top-up/run")).status_code == 405
        assert world.transport.sent("POST", "/data/top-up") == 0


async def test_the_form_is_validated_as_the_command_line_validates_it() -> None:
    world = World()
    line = world.top_up_line()
    async with client(world) as http:
        _, fields = await open_form(http, "starlink-top-up", world.starlink, line.number)
        bad = {**fields, "--product": "x", "--count": "0"}
        response = await http.post("/actions/starlink-top-up/confirm", data=bad, headers=SAME)
        assert response.status_code == 400 and "must be a whole number, 1 or more" in html.unescape(response.text)
        other = {**fields, "--product": "SOMETHING-ELSE", "--count": "1"}
        response = await http.post("/actions/starlink-top-up/confirm", data=other, headers=SAME)
        assert "is not available to service line" in html.unescape(response.text)
        assert "confirmation" not in hidden(response.text)  # no button to send it
        assert world.transport.sent("POST", "/data/top-up") == 0


async def test_no_warning_with_basic_auth() -> None:
    world = World(basic_auth=True)
    async with client(world) as http:
        assert "without authentication" not in (await http.get("/")).text


async def test_kognitive_pause_resume_and_a_new_line_with_its_progress() -> None:
    world = World()
    world.kog.provision_seconds = 0.3
    async with client(world) as http:
        page = (await http.get("/", params={"account": world.kognitive})).text
        assert "actions/kognitive-new-service-line?" in page  # on the account's row
        rows = [r for r in re.findall(r"<tr data-terminal=.*?</tr>", page) if "(inactive)" not in r]
        numbers = [re.search(r"actions/kognitive-pause\?account=[^&]*&amp;target=([^']+)'", r) for r in rows]
        number = next(n for n in numbers if n)  # a pause button on an active Kognitive line
        sln = html.unescape(number.group(1))

        _, fields = await open_form(http, "kognitive-pause", world.kognitive, sln)
        confirm = await http.post("/actions/kognitive-pause/confirm", data={**fields, "when": "--now"}, headers=SAME)
        assert f"Will pause service line {sln}" in html.unescape(confirm.text)
        run = await http.post("/actions/kognitive-pause/run", data=hidden(confirm.text), headers=SAME)
        done = await wait_for_outcome(http, str(httpx.URL(str(run.request.url)).join(run.headers["location"])))
        assert "data-outcome='success'" in done

        form, fields = await open_form(http, "kognitive-resume", world.kognitive, sln)
        assert "lists no custom plan ids" in form.text and "data block products offered" in form.text
        data = {**fields, "--custom-plan": "CP-1", "--product": first_option(form.text, "--product")}
        confirm = await http.post("/actions/kognitive-resume/confirm", data=data, headers=SAME)
        assert "Custom plan: CP-1" in confirm.text
        run = await http.post("/actions/kognitive-resume/run", data=hidden(confirm.text), headers=SAME)
        done = await wait_for_outcome(http, str(httpx.URL(str(run.request.url)).join(run.headers["location"])))
        assert "data-outcome='success'" in done

        form, fields = await open_form(http, "kognitive-new-service-line", world.kognitive, "")
        data = {**fields, "--name": "Camp 9", "--custom-plan": "CP-1", "--poll-interval": "0.1s", "--timeout": "20s"}
        data["--starlink-account"] = first_option(form.text, "--starlink-account")
        confirm = await http.post("/actions/kognitive-new-service-line/confirm", data=data, headers=SAME)
        assert "Will create service line 'Camp 9'" in html.unescape(confirm.text)
        run = await http.post("/actions/kognitive-new-service-line/run", data=hidden(confirm.text), headers=SAME)
        done = html.unescape(
            await wait_for_outcome(http, str(httpx.URL(str(run.request.url)).join(run.headers["location"])))
        )
        assert "data-outcome='success'" in done and "100% completed" in done, done
