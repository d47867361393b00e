"""The status page in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
against the exporter running as a process in simulation mode. No JavaScript on the page: the
browser submits plain forms and follows the redirects, as an operator's browser would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_tool
from tests.processes import run_module, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def assert_fits(page: Any, width: int, what: str) -> None:
    """No sideways scrolling: the document is no wider than the viewport."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{what}: the page is {scroll_width} px wide in a {width} px window"


def test_filter_terminals_poll_now_and_change_a_job_in_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import expect, sync_playwright

    grafana = "https://grafana.example.com"
    args = ["--simulator.terminals", "60", "--web.enable-admin-api", "--web.grafana-url", grafana]
    with run_module(args, tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        terminals = httpx.get(f"{exporter.url}/api/terminals", params={"per_page": 500}, timeout=10).json()
        wanted = next(t for t in terminals["terminals"] if t["provider"] == "starlink" and t["kit_serial"])
        offline = [t["terminal_id"] for t in terminals["terminals"] if t["state"] == "offline"]
        assert offline, "the simulated fleet has offline terminals"
        jobs = httpx.get(f"{exporter.url}/api/jobs", timeout=10).json()["jobs"]
        job = next(j["job"] for j in jobs if j["call"] == "account")  # hourly: only our click runs it

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                page.goto(exporter.url + "/")
                expect(page.locator("h1")).to_contain_text("leo-exporter")
                expect(page.locator(".banner")).to_contain_text("Simulation mode")
                expect(page.locator("#accounts-table tbody tr")).to_have_count(6)  # 5 accounts and the fleet row

                # The page fits the screen at 1024 and 1440 px, also with every job group opened.
                groups = page.locator("details.jobs")
                expect(groups).to_have_count(5)  # one per account ...
                expect(page.locator("details.jobs[open]")).to_have_count(0)  # ... collapsed
                for width in (1024, 1440):
                    page.set_viewport_size({"width": width, "height": 900})
                    page.screenshot(path=str(tmp_path / f"status-{width}.png"), full_page=True)
                    assert_fits(page, width, "groups collapsed")
                    groups.evaluate_all("ds => ds.forEach(d => d.open = true)")
                    page.screenshot(path=str(tmp_path / f"status-{width}-jobs-open.png"), full_page=True)
                    assert_fits(page, width, "every job group open")
                    groups.evaluate_all("ds => ds.forEach(d => d.open = false)")

                # Every terminal links to its Grafana dashboard.
                first = page.locator("#terminals-table tbody tr").first
                terminal_id = first.get_attribute("data-terminal")
                href = first.locator("a.dashboard").get_attribute("href")
                assert href and href.startswith(f"{grafana}/d/leo-terminal-detail/") and terminal_id in href

                # Search by kit serial: one row, that terminal.
                page.fill("input[name=q]", wanted["kit_serial"].lower())
                page.click("#terminal-filter button[type=submit]")
                page.wait_for_url("**q=*")
                rows = page.locator("#terminals-table tbody tr")
                expect(rows).to_have_count(1)
                expect(rows.first).to_have_attribute("data-terminal", wanted["terminal_id"])

                # State filter: only the offline terminals.
                page.fill("input[name=q]", "")
                page.select_option("select[name=state]", "offline")
                page.click("#terminal-filter button[type=submit]")
                page.wait_for_url("**state=offline*")
                expect(rows).to_have_count(len(offline))
                assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.terminal)")) == sorted(offline)
                expect(page.locator("#terminals-table td.state")).to_have_text(["offline"] * len(offline))

                # Poll now: the job's last run changes, and the filters survive the round trip.
                page.locator(f"details.jobs:has(tr[data-job='{job}']) > summary").click()
                row = page.locator(f"#jobs-groups tr[data-job='{job}']")
                last_run = row.locator("td.last-run")
                before = last_run.get_attribute("data-ts")
                runs_before = row.locator("td.runs").inner_text()
                assert before
                row.locator("button.poll-now").click()
                page.wait_for_url("**done=poll*")
                expect(page.locator(".notice")).to_contain_text(f"Poll of {job}: ran and succeeded.")
                row = page.locator(f"#jobs-groups tr[data-job='{job}']")
                after = row.locator("td.last-run").get_attribute("data-ts")
                assert after and float(after) > float(before)
                assert row.locator("td.runs").inner_text() != runs_before
                assert "state=offline" in page.url
                expect(rows).to_have_count(len(offline))

                # Interval and disable, through the same forms.
                row.locator("input[name=interval]").fill("2h")
                row.locator("form[action$='/interval'] button").click()
                page.wait_for_url("**done=interval*")
                expect(page.locator(".notice")).to_contain_text(f"Interval of {job} set to 2h.")
                row = page.locator(f"#jobs-groups tr[data-job='{job}']")
                expect(row.locator("input[name=interval]")).to_have_value("2h")
                row.locator("button.disable").click()
                page.wait_for_url("**done=disable*")
                row = page.locator(f"#jobs-groups tr[data-job='{job}']")
                expect(row.locator("button.enable")).to_have_count(1)
                page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
            finally:
                browser.close()

        job_state = next(j for j in httpx.get(f"{exporter.url}/api/jobs", timeout=10).json()["jobs"] if j["job"] == job)
        assert job_state["enabled"] is False and job_state["interval_seconds"] == 7200.0
        assert "Traceback" not in exporter.log()
