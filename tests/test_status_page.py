"""The status page, its JSON API and job control, in process (httpx over ASGI, no sockets).

A synthetic fleet is put straight into the state, so the tests know every terminal's state;
one test does the same at 50,000 terminals and holds the page and the API to a time budget.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from urllib.parse import quote

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter import catalog
from leo_exporter.app import Exporter
from leo_exporter.jobstatus import JobStatus
from leo_exporter.logs import REDACT
from leo_exporter.providers import parse_config
from leo_exporter.records import AccountRecord, ServiceLineRecord, TelemetryColumns, TerminalRecord
from leo_exporter.scheduler import Job
from leo_exporter.state import AccountState
from leo_exporter.status.page import relative, when
from tests.inprocess import front_client

pytestmark = pytest.mark.anyio
NOW = 1_763_700_000.0


def synthetic_exporter(
    per_account: int = 40, accounts: int = 2, *, shard: tuple[int, int] = (0, 1), admin_api: bool = True
) -> Exporter:
    """Accounts `fleet-<a>` (provider ids ACC-<a>) with terminals T<a>-<i>; terminal i is:

    offline when i % 7 == 0 (no telemetry), alerting when i % 10 == 3 (online, one alert),
    on an inactive service line when i % 5 == 4; every other terminal is online.
    """
    config = parse_config({"accounts": [], "shard": {"index": shard[0], "total": shard[1]}})
    exporter = Exporter(config, clock=lambda: NOW)
    exporter.admin_api = admin_api  # --web.enable-admin-api (the tests of read-only mode turn it off)
    for a in range(accounts):
        account = AccountState("starlink", f"fleet-{a}", offline_after=180, online_from_telemetry=True)
        exporter.state.add_account(account)
        account.apply_account(AccountRecord(f"ACC-{a}", f"Fleet {a}"))
        account.set_value(catalog.EXPORTER_ACCOUNT_AUTHENTICATED, 1.0 if a == 0 else 0.0)
        account.replace_terminals(
            TerminalRecord(f"T{a}-{i:06d}", f"SL{a}-{i}", f"Vessel {a}/{i}", f"KIT{a}{i:06d}", f"DISH{a}{i:06d}")
            for i in range(per_account)
        )
        account.replace_service_lines(
            ServiceLineRecord(f"SL{a}-{i}", f"Line {i}", "PLAN-50GB", i % 5 != 4) for i in range(per_account)
        )
        online = [i for i in range(per_account) if i % 7 != 0]
        cols = TelemetryColumns(
            ids=[f"T{a}-{i:06d}" for i in online],
            timestamps=[NOW - 30.0] * len(online),
            measures={
                catalog.TERMINAL_LATITUDE_DEGREES: [10.0 + a] * len(online),
                catalog.TERMINAL_LONGITUDE_DEGREES: [-20.5] * len(online),
            },
            alerts=[("thermal_throttling",) if i % 10 == 3 else () for i in online],
        )
        account.terminals.apply_columns(cols, catalog.TERMINAL_ALERT)
    exporter.state.tick()  # derives the online flags, as the render loop does
    exporter.renderer.render()
    return exporter


def add_job(exporter: Exporter, account_name: str = "fleet-0", call: str = "inventory") -> tuple[Job, list[int]]:
    account = exporter.state.accounts[account_name]
    status = JobStatus(account, call, 60.0, 5.0)
    exporter.state.jobs.append(status)
    calls: list[int] = []

    async def run() -> None:
        calls.append(1)

    job = Job(status, run, jitter=0)
    exporter.scheduler.add(job)
    return job, calls


client = front_client  # the front's app before the exporter's routes, in this process (tests/inprocess.py)


def rows(page: str, table: str) -> list[str]:
    body = page.split(f"id='{table}'", 1)[1].split("</section>", 1)[0]
    return re.findall(r"<tr data-\w+='([^']*)'", body)


async def test_page_shows_accounts_summary_jobs_terminals_and_alerts() -> None:
    exporter = synthetic_exporter(per_account=40, shard=(1, 3))
    add_job(exporter)
    async with client(exporter) as http:
        response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    accounts = page.split("id='accounts-table'", 1)[1].split("</table>", 1)[0]
    # 40 terminals: 6 offline (0, 7, ..., 35), 34 online, 4 alerting (3, 13, 23, 33); 32 of 40 lines active
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", accounts.split("<tbody>", 1)[1].split("</tr>", 1)[0])
    assert cells[:7] == ["ok", "40", "34", "6", "0", "4", "32 / 40"]
    assert "<strong>fleet-0</strong><br><span class='muted small'>starlink <code>ACC-0</code>" in accounts
    assert ">failed<" in accounts  # fleet-1 could not authenticate
    assert "<th class='n'>80</th><th class='n'>68</th><th class='n'>12</th>" in accounts  # the fleet row
    assert "Shard 2 of 3" in page
    assert rows(page, "jobs-groups") == ["starlink/fleet-0/inventory"]
    assert "<details class='jobs' data-account='fleet-0'><summary>" in page, "grouped per account, collapsed"
    assert "api/jobs/starlink/fleet-0/inventory/poll" in page
    assert len(rows(page, "terminals-table")) == 50  # the default page size
    assert "1&ndash;50 of 80 terminals" in page
    assert "8 devices with active alerts" in page and "thermal_throttling" in page
    assert "Simulation mode" not in page


async def test_terminals_search_state_and_account_filters_and_paging() -> None:
    exporter = synthetic_exporter(per_account=40)
    async with client(exporter) as http:
        offline = (await http.get("/", params={"state": "offline", "account": "fleet-1"})).text
        assert rows(offline, "terminals-table") == [f"T1-{i:06d}" for i in range(0, 40, 7)]
        found = (await http.get("/", params={"q": "kit0000013"})).text  # kit serials, case-insensitive
        assert rows(found, "terminals-table") == ["T0-000013"]
        by_line = (await http.get("/", params={"q": "SL1-2", "state": "alerting"})).text
        assert rows(by_line, "terminals-table") == ["T1-000023"]  # SL1-2, SL1-20..29; alerting: 23
        second = (await http.get("/", params={"per_page": "25", "page": "2"})).text
        assert rows(second, "terminals-table") == [f"T0-{i:06d}" for i in range(25, 40)] + [
            f"T1-{i:06d}" for i in range(10)
        ]
        assert "page 2 of 4" in second and "?page=3&amp;per_page=25#terminals" in second
        api = (await http.get("/api/terminals", params={"state": "online", "per_page": "5", "page": "2"})).json()
        assert api["total"] == 68 and api["pages"] == 14 and len(api["terminals"]) == 5
        first = api["terminals"][0]
        assert first["terminal_id"] == "T0-000006"  # online ones: 1..6, 8..; the 6th is 6
        assert first["online"] is True and first["latitude"] == 10.0 and first["last_seen"] == NOW - 30.0
        assert first["service_line"] == "SL0-6" and first["product"] == "PLAN-50GB"
        # a renamed terminal is found by its new name (the search text is cached per terminal)
        exporter.state.accounts["fleet-1"].terminals.update_attrs("T1-000005", {"name": "Polar Dawn"})
        renamed = (await http.get("/api/terminals", params={"q": "polar dawn"})).json()
        assert [t["terminal_id"] for t in renamed["terminals"]] == ["T1-000005"]
        exporter.state.accounts["fleet-1"].replace_terminals([TerminalRecord("T1-000005", "SL1-5", "Polar Dawn")])
        assert (await http.get("/api/terminals", params={"q": "vessel 1/"})).json()["total"] == 0
        bad = await http.get("/api/terminals", params={"state": "sleeping"})
        assert bad.status_code == 400 and "state must be one of" in bad.json()["error"]
        assert (await http.get("/", params={"per_page": "100000"})).status_code == 400


async def test_json_api_status_jobs_and_alerts() -> None:
    exporter = synthetic_exporter(per_account=20)
    add_job(exporter)
    async with client(exporter) as http:
        status = (await http.get("/api/status")).json()
        jobs = (await http.get("/api/jobs")).json()["jobs"]
        alerts = (await http.get("/api/alerts", params={"limit": "1"})).json()
        assert (await http.get("/api/alerts", params={"limit": "x"})).status_code == 400
    assert status["shard"] == {"index": 0, "total": 1}
    assert [a["name"] for a in status["accounts"]] == ["fleet-0", "fleet-1"]
    first = status["accounts"][0]
    assert first["authentication"] == "ok" and first["account"] == "fleet-0"
    assert first["provider_accounts"] == {"ACC-0": {"provider_account_name": "Fleet 0"}}
    assert (first["terminals"], first["online"], first["offline"], first["alerting"]) == (20, 17, 3, 2)
    assert first["jobs"] == {"enabled": 1, "up": 0, "total": 1}
    assert status["totals"]["terminals"] == 40
    assert status["alerts"]["by_name"] == [
        {"provider": "starlink", "kind": "terminal", "alert": "thermal_throttling", "devices": 4}
    ]
    assert jobs[0]["job"] == "starlink/fleet-0/inventory" and jobs[0]["enabled"] is True
    assert jobs[0]["interval_seconds"] == 60.0 and jobs[0]["last_run"] is None
    assert alerts["devices"] == 4 and len(alerts["rows"]) == 1 and alerts["truncated"] is True


async def test_poll_now_enable_disable_and_interval_over_json() -> None:
    exporter = synthetic_exporter(per_account=4)
    job, calls = add_job(exporter)
    path = "/api/jobs/starlink/fleet-0/inventory"
    async with client(exporter) as http, anyio.create_task_group() as tg:
        tg.start_soon(exporter.scheduler.run)
        await anyio.sleep(0.2)  # the first run (jitter 0, within ~0.1 s)
        assert len(calls) == 1
        polled = await http.post(f"{path}/poll", params={"wait": "5"})
        assert polled.status_code == 200 and polled.json()["completed"] is True
        assert polled.json()["status"]["runs"] == {"success": 2, "error": 0} and len(calls) == 2

        disabled = await http.post(f"{path}/disable")
        assert disabled.status_code == 200 and disabled.json()["status"]["enabled"] is False
        assert job.status.enabled is False
        queued = await http.post(f"{path}/poll")  # still runs on demand while disabled
        assert queued.status_code == 202 and queued.json() == {**queued.json(), "job": job.key, "triggered": True}
        await anyio.sleep(0.2)
        assert len(calls) == 3 and job.status.next_run is None

        assert (await http.post(f"{path}/enable")).json()["status"]["enabled"] is True
        changed = await http.post(f"{path}/interval", json={"interval": "90s"})
        assert changed.status_code == 200 and job.status.interval == 90.0
        assert (await http.post(f"{path}/interval", json={"interval_seconds": 30})).status_code == 200
        assert job.status.interval == 30.0
        for bad in ("0s", "fast", "8d", "500ms"):
            refused = await http.post(f"{path}/interval", json={"interval": bad})
            assert refused.status_code == 400, bad
        assert job.status.interval == 30.0
        missing = await http.post("/api/jobs/starlink/ACC-9/nothing/poll")
        assert missing.status_code == 404
        tg.cancel_scope.cancel()


@pytest.mark.serial  # times the form's 5 s wait
async def test_forms_redirect_back_to_the_page_with_filters_and_a_notice() -> None:
    exporter = synthetic_exporter(per_account=4)
    job, _ = add_job(exporter)
    async with client(exporter) as http:
        response = await http.post(
            "/api/jobs/starlink/fleet-0/inventory/interval",
            data={"interval": "2m", "back": "q=T0&state=online&evil=1"},
        )
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith("../../../../../?") and location.endswith("#jobs")  # relative to the page
        assert "q=T0&state=online" in location and "evil" not in location and "done=interval" in location
        assert job.status.interval == 120.0
        page = (await http.get("/" + location.removeprefix("../../../../../"))).text
        assert "Interval of starlink/fleet-0/inventory set to 2m." in page
        assert "<input name='interval' value='2m'" in page
        assert "<details class='jobs' data-account='fleet-0' open>" in page, "the group acted on stays open"

        bad = await http.post("/api/jobs/starlink/fleet-0/inventory/interval", data={"interval": "soon"})
        assert bad.status_code == 303 and "error=interval" in bad.headers["location"]
        shown = (await http.get("/?done=error&error=interval")).text
        assert "The interval was not changed" in shown

        disabled = await http.post("/api/jobs/starlink/fleet-0/inventory/disable", data={"back": ""})
        assert disabled.status_code == 303 and job.status.enabled is False
        page = (await http.get("/")).text
        assert "starlink/fleet-0/inventory/enable" in page  # the button flips to Enable

        # The scheduler is not running here: the form's poll waits its 5 s, then says "queued".
        started = time.monotonic()
        polled = await http.post("/api/jobs/starlink/fleet-0/inventory/poll", data={"back": ""})
        assert polled.status_code == 303 and "result=queued" in polled.headers["location"]
        assert 4.5 < time.monotonic() - started < 8


async def test_cross_site_posts_are_refused() -> None:
    exporter = synthetic_exporter(per_account=4)
    job, _ = add_job(exporter)
    path = "/api/jobs/starlink/fleet-0/inventory/disable"
    async with client(exporter) as http:
        for headers in (
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site"},  # another port or a sibling subdomain
            {"sec-fetch-site": "same-site", "origin": "http://exporter"},
            {"origin": "https://evil.example"},
            {"origin": "http://exporter:8080"},
            {"origin": "null"},
        ):
            refused = await http.post(path, data={"back": ""}, headers=headers)
            assert refused.status_code == 403, headers
        assert job.status.enabled is True
        ok = await http.post(path, headers={"sec-fetch-site": "same-origin", "origin": "http://exporter"})
        assert ok.status_code == 200 and job.status.enabled is False
        same_host = await http.post(path.replace("disable", "enable"), headers={"origin": "http://exporter"})
        assert same_host.status_code == 200


async def test_provider_text_is_escaped_and_secrets_stay_off_the_page() -> None:
    exporter = synthetic_exporter(per_account=2, accounts=1)
    account = exporter.state.accounts["fleet-0"]
    account.terminals.update_attrs("T0-000001", {"name": "<script>alert('x')</script> & co"})
    job, _ = add_job(exporter)
    REDACT.add("s3cr3t-value-123")
    job.status.last_error = REDACT("token endpoint said: bad secret s3cr3t-value-123")
    async with client(exporter) as http:
        page = (await http.get("/")).text
        jobs = (await http.get("/api/jobs")).text
    assert "<script>alert" not in page
    assert html.escape("<script>alert('x')</script> & co") in page
    assert "s3cr3t-value-123" not in page and "s3cr3t-value-123" not in jobs
    assert "&lt;redacted&gt;" in page


async def test_job_keys_with_unusual_account_names_round_trip() -> None:
    exporter = synthetic_exporter(per_account=2, accounts=0)
    account = AccountState("kognitive", "dp 7/north?", offline_after=180, online_from_telemetry=False)
    exporter.state.add_account(account)  # an account's `name` is free text
    job, _ = add_job(exporter, "dp 7/north?")
    async with client(exporter) as http:
        page = (await http.get("/")).text
        action = f"api/jobs/{quote(job.key, safe='/')}/disable"
        assert action in page
        response = await http.post("/" + action)
    assert response.status_code == 200 and job.status.enabled is False


@pytest.mark.serial
@pytest.mark.timeout(300)
async def test_page_api_and_csv_stay_fast_at_50000_terminals(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    exporter = synthetic_exporter(per_account=10_000, accounts=5)
    built = time.perf_counter() - started
    timings: dict[str, float] = {}
    async with client(exporter) as http:
        for name, url in (
            ("page, no filter, page 1", "/"),
            ("page, last page", "/?page=1000"),
            ("page, search with no match (full scan)", "/?q=no-such-terminal"),
            ("page, search by kit serial", "/?q=kit4009999"),
            ("page, offline filter, page 20", "/?state=offline&page=20"),
            ("api/terminals, alerting", "/api/terminals?state=alerting&per_page=500"),
            ("api/status", "/api/status"),
            ("terminals.csv (all rows)", "/terminals.csv"),
        ):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                response = await http.get(url)
                best = min(best, time.perf_counter() - t0)
                assert response.status_code == 200, url
            timings[name] = best
            if url == "/terminals.csv":
                assert response.text.count("\n") == 1 + 40_000  # 4 in 5 lines are active
            if url == "/?q=kit4009999":
                assert rows(response.text, "terminals-table") == ["T4-009999"]
            if url == "/":
                assert len(response.content) < 200_000
    with capsys.disabled():
        print(f"\nstatus page at 50,000 terminals (state built in {built:.1f}s), best of 3:")
        for name, took in timings.items():
            print(f"  {name:45s} {took * 1000:8.1f} ms")
    assert timings["page, no filter, page 1"] < 0.5
    assert max(t for n, t in timings.items() if not n.startswith("terminals.csv")) < 1.5
    assert timings["terminals.csv (all rows)"] < 5.0


async def test_read_only_by_default_job_control_is_403_and_the_page_has_no_buttons() -> None:
    exporter = synthetic_exporter(per_account=4, admin_api=False)
    job, _ = add_job(exporter)
    base = "/api/jobs/starlink/fleet-0/inventory"
    async with client(exporter) as http:
        page = (await http.get("/")).text
        for change, body in (("poll", None), ("disable", None), ("enable", None), ("interval", {"interval": "7d"})):
            answer = await http.post(f"{base}/{change}", json=body, headers={"sec-fetch-site": "same-origin"})
            assert answer.status_code == 403, change
            assert "--web.enable-admin-api" in answer.json()["error"]
    assert job.status.enabled is True and job.status.interval == 60.0 and not job.forced
    assert rows(page, "jobs-groups") == ["starlink/fleet-0/inventory"]  # the state is shown
    assert "<form class='inline' method='post'" not in page and "<button type='submit' class='poll-now'" not in page


async def test_every_page_sends_the_security_headers() -> None:
    exporter = synthetic_exporter(per_account=4)
    await exporter.render_now()
    async with client(exporter) as http:
        for url in ("/", "/metrics", "/api/jobs", "/terminals.csv", "/healthz", "/readyz", "/no-such-page"):
            headers = (await http.get(url)).headers
            assert headers["x-frame-options"] == "DENY", url
            assert headers["x-content-type-options"] == "nosniff", url
            assert headers["referrer-policy"] == "no-referrer", url
            policy = headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, url
            assert "unsafe-inline" not in policy and "script-src" not in policy  # no script, at all
        page = (await http.get("/")).text
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy  # the page's own stylesheet, and only it
    assert "<script" not in page


async def test_a_job_changed_at_run_time_shows_against_its_configured_settings() -> None:
    exporter = synthetic_exporter(per_account=2, accounts=1)
    add_job(exporter)  # configured: enabled, every 60 s
    path = "/api/jobs/starlink/fleet-0/inventory"
    async with client(exporter) as http:
        assert (await http.post(f"{path}/interval", json={"interval": "7d"})).status_code == 200
        assert (await http.post(f"{path}/disable")).status_code == 200
        await exporter.render_now()
        text = (await http.get("/metrics")).text
    values = {
        family.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("leo_exporter_job_")
        for sample in family.samples
        if sample.labels.get("call") == "inventory" and sample.labels.get("account") == "fleet-0"
    }
    assert values["leo_exporter_job_enabled"] == 0 and values["leo_exporter_job_configured_enabled"] == 1
    assert values["leo_exporter_job_interval_seconds"] == 7 * 86400
    assert values["leo_exporter_job_configured_interval_seconds"] == 60


@pytest.mark.parametrize(
    ("ts", "upcoming", "expected"),
    [
        (NOW - 12, False, "12s ago"),
        (NOW + 240, False, "in 4m"),
        (NOW + 240, True, "in 4m"),
        (NOW - 0.353, True, "due now"),  # an overdue next run: not "in …" and not "… ago"
        (NOW - 3600, True, "due now"),
    ],
)
def test_relative_times_read_as_english(ts: float, upcoming: bool, expected: str) -> None:
    assert relative(ts, NOW, upcoming=upcoming) == expected
    shown = when(ts, NOW, upcoming=upcoming)
    assert not ("(in " in shown and " ago)" in shown)


async def test_terminals_link_to_their_grafana_dashboard_when_grafana_url_is_set() -> None:
    exporter = synthetic_exporter(per_account=2, accounts=1)
    async with client(exporter) as http:
        assert "class='dashboard'" not in (await http.get("/")).text
        exporter.grafana_url = "https://grafana.example.com/"
        page = (await http.get("/")).text
    terminal = page.split("<tr data-terminal='T0-000000'>", 1)[1].split("</tr>", 1)[0]
    assert (
        "<a class='dashboard' href='https://grafana.example.com/d/leo-terminal-detail/leo-terminal-detail"
        "?var-provider=starlink&amp;var-account=fleet-0&amp;var-terminal=T0-000000'>"
    ) in terminal


def test_without_controls_the_polling_manager_shows_state_and_no_forms() -> None:
    from leo_exporter.status.page import jobs_section

    job = {"job": "starlink/ACC-0/telemetry", "provider": "starlink", "account_name": "fleet-0", "call": "telemetry",
           "enabled": True, "interval_seconds": 15.0, "up": False, "last_run": NOW - 5, "last_success": NOW - 600,
           "duration_seconds": 0.2, "next_run": NOW + 10, "last_error": "HTTP 503", "runs": {"success": 3, "error": 1}}  # fmt: skip
    read_only = jobs_section([job], NOW, "", controls=False)
    assert "<form" not in read_only and "poll-now" not in read_only
    assert "<td class='iv'>15s</td>" in read_only and "1 failing" in read_only and "HTTP 503" in read_only
    with_controls = jobs_section([job], NOW, "", controls=True)
    assert with_controls.count("<form") == 3 and "poll-now" in with_controls
