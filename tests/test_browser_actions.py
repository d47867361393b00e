"""Management actions on the status page in a real browser: headless Chromium (as in
test_browser_status.py) against the exporter and the simulator as processes, behind basic auth.
An operator tops up a line and reboots a terminal; a page without the flags offers nothing and a
forged POST gets 403; a form posted from another site is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from tests.conftest import require_tool
from tests.processes import Process, run_module, samples_by_name, wait_for
from tests.test_browser_status import CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

USER, PASSWORD = "operator", "night-shift-pass"
AUTH = (USER, PASSWORD)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[Process, Path]]:
    """The simulator process, and a config for it whose accounts allow management actions."""
    with run_module(["simulator", "--accounts", "1", "--terminals", "16", "--seed", "5"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/starlink/_sim/state", sim)
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        for account in config["accounts"]:
            account["management_actions"] = True
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        yield sim, path


def audit_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]


def test_operator_tops_up_a_line_and_reboots_a_terminal_and_a_cross_site_post_is_refused(
    tmp_path: Path, simulator: tuple[Process, Path]
) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import expect, sync_playwright

    sim, config = simulator
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}))
    args = ["--config.file", str(config), "--web.enable-admin-api", "--web.config.file", str(web)]
    with run_module(args, tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter, auth=AUTH)
        limits = httpx.get(f"{exporter.url}/metrics", auth=AUTH, timeout=10).text
        line = next(
            s.labels["service_line"]
            for s in samples_by_name(limits)["leo_service_line_usage_limit_bytes"]
            if s.labels["provider"] == "starlink" and s.value == 50e9
        )
        terminals = httpx.get(f"{exporter.url}/api/terminals", params={"per_page": 500}, auth=AUTH, timeout=10).json()
        dish = next(t for t in terminals["terminals"] if t["provider"] == "starlink" and t["state"] == "online")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
                page = context.new_page()
                page.set_default_timeout(20_000)

                # Top up: the line's row, its button, the form with the product and its price.
                page.goto(f"{exporter.url}/?q={line}")
                expect(page.locator(".no-auth")).to_have_count(0)  # basic auth is on: no warning
                page.locator(f"tr:has-text('{line}') a.action[data-action='starlink-top-up']").first.click()
                product = page.locator("select[name='--product'] option").first
                expect(product).to_contain_text("50 GB for 25.00 USD each")
                page.fill("input[name='--count']", "2")
                page.click("button.review")
                said = page.locator("pre.said")
                expect(said).to_contain_text("Will buy:  2 x one-time top-up")
                expect(said).to_contain_text("Cost:      2 x 25.00 USD = 50.00 USD, charged immediately")
                page.click("button.confirm")
                expect(page.locator(".outcome")).to_have_attribute("data-outcome", "success")
                expect(page.locator(".outcome")).to_contain_text("Done: bought 2 x")
                page.screenshot(path=str(tmp_path / "top-up-done.png"), full_page=True)

                # Reboot: the terminal's row, its button, what it costs, the answer.
                page.goto(f"{exporter.url}/?q={dish['terminal_id']}")
                page.locator("a.action[data-action='starlink-reboot-terminal']").first.click()
                page.click("button.review")
                expect(page.locator("pre.said")).to_contain_text("no charge; the dish drops its link")
                page.click("button.confirm")
                expect(page.locator(".outcome")).to_have_attribute("data-outcome", "success")

                # A form on another site posting to the exporter, with the operator's browser.
                target = f"{exporter.url}/actions/starlink-top-up/confirm"
                evil = (
                    f"<form method='post' action='{target}'><input name='account' value='sim-starlink-1'>"
                    f"<input name='target' value='{line}'><input name='--product' value='x'>"
                    "<input name='--count' value='1'><button id='go'>win a prize</button></form>"
                )
                page.route("http://evil.example/**", lambda route: route.fulfill(content_type="text/html", body=evil))
                page.goto("http://evil.example/")
                with page.expect_response(target) as answer:
                    page.click("#go")
                assert answer.value.status == 403
                expect(page.locator("body")).to_contain_text("refused")
            finally:
                browser.close()

        rebooted = httpx.get(f"{sim.url}/starlink/_sim/state", timeout=10).json()["accounts"][0]["rebooted"]
        assert dish["terminal_id"] in rebooted
        entries = audit_lines(exporter.log())
        done = [(e["action"], e["outcome"], e["who"], e["address"]) for e in entries if not e["dry_run"]]
        assert done == [
            ("starlink-top-up", "success", USER, "127.0.0.1"),
            ("starlink-reboot-terminal", "success", USER, "127.0.0.1"),
        ]
        assert "Traceback" not in exporter.log()


def test_without_the_flags_no_button_and_a_forged_post_gets_403(
    tmp_path: Path, simulator: tuple[Process, Path]
) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import expect, sync_playwright

    _, config = simulator
    with run_module(["--config.file", str(config)], tmp_path / "exporter.log") as exporter:  # no --web.enable-admin-api
        wait_for(f"{exporter.url}/readyz", exporter)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                page.goto(exporter.url + "/")
                expect(page.locator("#terminals-table tbody tr").first).to_be_visible()
                expect(page.locator("a.action")).to_have_count(0)
                expect(page.locator("button")).to_have_count(1)  # the terminal filter's, nothing else
                answer = page.goto(f"{exporter.url}/actions/starlink-reboot-terminal?account=sim-starlink-1&target=x")
                assert answer is not None and answer.status == 403
            finally:
                browser.close()
        forged = {"account": "sim-starlink-1", "target": "x", "csrf": "x", "confirmation": "x"}
        for step in ("starlink-top-up/confirm", "starlink-top-up/run", "starlink-reboot-terminal/run"):
            response = httpx.post(f"{exporter.url}/actions/{step}", data=forged, timeout=10)
            assert response.status_code == 403
        assert not [e for e in audit_lines(exporter.log()) if e["outcome"] != "refused"]
