"""`leo-exporter starlink-reboot-terminal` and `starlink-reboot-router` against the Starlink
simulator, in process: the request as the OpenAPI states it, the guards every action has (opt-in,
dry run, audit line, exit codes, never retried), and the reboot seen in the metrics: the dish goes
offline, then comes back with a small uptime."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from leo_exporter.actions import commands
from leo_exporter.actions.base import Console
from leo_exporter.app import Exporter
from leo_exporter.cli import build_parser
from leo_exporter.providers import built_in, parse_config
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW, FakeClock
from tests.inprocess import SIM_URL
from tests.test_actions_starlink import Env, Recording

REBOOT = "/reboot"


def run(env: Env, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args([argv[0], "--config.file", str(env.config), *argv[1:]])
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(args, transport=env.transport, console=Console(stdin=io.StringIO(), stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def audit(err: str) -> dict[str, Any]:
    """The audit line (the last JSON line on stderr)."""
    line: dict[str, Any] = json.loads([t for t in err.splitlines() if t.startswith("{")][-1])
    return line


def online_terminal(env: Env) -> Any:
    offline = env.sim.offline_terminal_ids(env.account.number)
    return next(t for t in env.account.terminals if t.terminal_id not in offline and t.router is not None)


def test_dry_run_names_the_dish_and_prints_the_request_without_sending(tmp_path: Path) -> None:
    env = Env(tmp_path)
    term = online_terminal(env)
    code, out, err = run(env, "starlink-reboot-terminal", "--terminal", term.kit_serial, "--dry-run")
    assert code == 0, err
    assert f"will reboot user terminal {term.terminal_id} ({term.nickname}), kit {term.kit_serial}" in out
    assert "no charge; the dish drops its link for a few minutes" in out
    assert f"POST {SIM_URL}/starlink/api/public/v2/user-terminals/{term.terminal_id}/reboot" in out
    assert "Authorization: Bearer <redacted>" in out
    assert env.transport.sent("POST", REBOOT) == 0 and env.sim.reboots == []
    entry = audit(err)
    assert (entry["action"], entry["outcome"], entry["target"], entry["dry_run"]) == (
        "starlink-reboot-terminal", "dry-run", term.terminal_id, True,
    )  # fmt: skip


def test_terminal_and_router_reboots_are_sent_once_and_audited(tmp_path: Path) -> None:
    env = Env(tmp_path)
    term = online_terminal(env)
    code, out, err = run(env, "starlink-reboot-terminal", "--terminal", term.terminal_id, "--yes")
    assert code == 0, err
    assert f"Done: the provider accepted the reboot of user terminal {term.terminal_id}." in out
    assert env.transport.sent("POST", f"/user-terminals/{term.terminal_id}/reboot") == 1
    entry = audit(err)
    assert (entry["outcome"], entry["account_id"], entry["target"]) == ("success", env.account.number, term.terminal_id)

    router = term.router.router_id
    code, out, err = run(env, "starlink-reboot-router", "--router", router, "--yes")
    assert code == 0, err
    assert f"bonded to user terminal {term.terminal_id}" in out
    assert env.transport.sent("POST", f"/routers/{router}/reboot") == 1
    assert env.sim.reboots == [("user-terminal", term.terminal_id), ("router", router)]
    assert audit(err)["outcome"] == "success"
    for secret in env.secrets:
        assert secret not in out + err


def test_unknown_device_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    env = Env(tmp_path)
    code, _, err = run(env, "starlink-reboot-terminal", "--terminal", "no-such-dish", "--yes")
    assert code == 1
    assert "user terminal no-such-dish is not in this account's inventory" in err
    code, _, err = run(env, "starlink-reboot-router", "--router", "no-such-router", "--yes")
    assert code == 1 and "router no-such-router is not bonded" in err
    assert env.transport.sent("POST", REBOOT) == 0
    assert audit(err)["outcome"] == "refused"


def test_refused_unless_the_account_enables_management_actions(tmp_path: Path) -> None:
    env = Env(tmp_path, enabled=False)
    code, _, err = run(env, "starlink-reboot-terminal", "--terminal", online_terminal(env).terminal_id, "--yes")
    assert code == 2 and "management_actions: true" in err
    assert env.transport.requests == [] and audit(err)["outcome"] == "refused"


def test_an_offline_dish_is_the_providers_refusal(tmp_path: Path) -> None:
    env = Env(tmp_path)
    offline = sorted(env.sim.offline_terminal_ids(env.account.number))[0]
    code, _, err = run(env, "starlink-reboot-terminal", "--terminal", offline, "--yes")
    assert code == 1
    assert "the provider refused the reboot" in err and "it is not connected" in err
    assert env.transport.sent("POST", REBOOT) == 1  # sent once, not retried
    assert audit(err)["outcome"] == "failed"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (httpx.Response(503, text="busy"), "unknown"),
        (httpx.Response(500, json={"isValid": False}), "unknown"),
        # the connection dropped under it: polls send a GET again, an action never
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "unknown"),
    ],
)
def test_a_reboot_is_never_retried(tmp_path: Path, answer: httpx.Response | Exception, outcome: str) -> None:
    env = Env(tmp_path)
    env.transport = Recording(env.app, fail=lambda r: answer if r.url.path.endswith(REBOOT) else None)
    code, _, err = run(env, "starlink-reboot-terminal", "--terminal", online_terminal(env).terminal_id, "--yes")
    assert code == 1
    assert env.transport.sent("POST", REBOOT) == 1
    entry = audit(err)
    assert entry["outcome"] == outcome and "watch its uptime before trying again" in entry["detail"]


def test_a_rebooted_dish_goes_offline_then_comes_back_with_a_small_uptime(tmp_path: Path) -> None:
    """In the metrics: offline while it restarts, then online with an uptime of seconds."""
    clock = FakeClock(SIMULATED_NOW)
    app = build_app(accounts=1, terminals=8, seed=3, clock=clock, only=built_in())
    data = demo_config(SIM_URL, app)
    data["accounts"] = [a for a in data["accounts"] if a["provider"] == "starlink"]
    data["accounts"][0]["telemetry"] = {"max_linger": "0s"}
    exporter = Exporter(parse_config(data), clock=clock, transport=httpx.ASGITransport(app=app))
    sim = app.state.starlink
    account = sim.accounts[0]
    offline = sim.offline_terminal_ids(account.number)
    term = next(t for t in account.terminals if t.terminal_id not in offline)

    jobs = sorted(exporter.scheduler.jobs.values(), key=lambda j: j.gate is not None)
    telemetry = [j for j in jobs if j.status.call == "telemetry"]

    async def poll(which: list[Any] = telemetry) -> tuple[float | None, float | None]:
        for job in which:
            if job.status.enabled:
                await exporter.scheduler.run_once(job)
        await exporter.render_now()
        state = next(iter(exporter.state.accounts.values()))
        simple = state.terminals.simple
        return (
            simple.get("leo_terminal_online", {}).get(term.terminal_id),
            simple.get("leo_terminal_uptime_seconds", {}).get(term.terminal_id),
        )

    async def scenario() -> list[tuple[float | None, float | None]]:
        seen = []
        clock.now += 30
        seen.append(await poll(jobs))  # every job once: the inventory, then telemetry
        sim.reboot_terminal(0, term.terminal_id)
        for _ in range(20):  # 5 minutes in 15 s steps
            clock.now += 15
            seen.append(await poll())
        await exporter.aclose()
        return seen

    seen = anyio.run(scenario)
    online, uptime = seen[0]
    assert online == 1.0 and uptime is not None and uptime > 600
    assert (0.0, None) in seen, seen  # offline while it restarts: its telemetry series stop
    back_online, back_uptime = seen[-1]
    assert back_online == 1.0
    assert back_uptime is not None and back_uptime < 120
