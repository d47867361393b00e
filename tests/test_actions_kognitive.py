"""Kognitive pause, resume and new service line against the simulator: in process for the details,
and once end to end (simulator, the CLI and the exporter as processes) for what a scrape shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

from leo_exporter.providers.kognitive.simulator.fleet import Line, StarlinkAccount
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import ROOT, run_module, scrape, wait_for
from tests.test_actions_starlink import Env, Stdin

ACCOUNT = "--account=kognitive-dp-1"


class KEnv(Env):
    def __init__(self, tmp_path: Path, **kwargs: object):
        super().__init__(tmp_path, **kwargs)  # type: ignore[arg-type]
        self.kog = self.app.state.kognitive
        self.kaccount: StarlinkAccount = self.kog.partners[0].accounts[0]

    def kline(self, *, paused: bool) -> Line:
        return next(line for line in self.kaccount.lines if line.paused == paused and line.terminals)

    def active_after_poll(self) -> dict[str, float]:
        exporter, _ = simulated_exporter(self.app)

        async def poll() -> dict[str, float]:
            await poll_all(exporter)
            account = exporter.state.accounts["kognitive-dp-1"]
            return dict(account.service_lines.simple.get("leo_service_line_active", {}))

        return anyio.run(poll)


def test_pause_now_is_sent_once_and_the_next_poll_shows_the_line_inactive(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=False)
    assert env.active_after_poll()[line.number] == 1.0
    code, out, err = env.run(
        "kognitive-pause", ACCOUNT, "--service-line", line.number, "--now", "--yes", "--audit-log", str(env.audit),
    )  # fmt: skip
    assert code == 0, err
    assert f"Will pause service line {line.number}" in out and ", now." in out
    assert f"Done: Service line {line.number} paused." in out
    assert line.paused and env.transport.sent("POST", "/pause") == 1
    [audit] = env.audit_lines()
    assert audit["outcome"] == "success" and audit["target"] == line.number
    assert audit["request"] == {
        "accountNumber": env.kaccount.number,
        "serviceLineNumber": line.number,
        "endNow": True,
    }  # no rejectReason: the API page describes it as the reason for *rejecting* the pause
    assert env.active_after_poll()[line.number] == 0.0  # leo_service_line_active 0

    again, _, err = env.run("kognitive-pause", ACCOUNT, "--service-line", line.number, "--now", "--yes")
    assert again == 1 and "paused already" in err
    assert env.transport.sent("POST", "/pause") == 1


def test_pause_at_the_end_of_the_cycle_dry_run_sends_nothing(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=False)
    code, out, err = env.run("kognitive-pause", ACCOUNT, "--service-line", line.number, "--end-of-cycle", "--dry-run")
    assert code == 0, err
    assert "at the end of the current billing period" in out
    assert '"endNow": false' in out and "X-Auth-Key: <redacted>" in out
    assert env.transport.sent("POST", "/pause") == 0 and line.pause_at is None
    assert '"outcome": "dry-run"' in err
    for secret in env.secrets:
        assert secret not in out + err


def test_a_pause_sends_reject_reason_only_when_asked_for_it_by_name(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=False)
    code, _, err = env.run(
        "kognitive-pause", ACCOUNT, "--service-line", line.number, "--end-of-cycle", "--reject-reason", "n/a",
        "--yes", "--audit-log", str(env.audit),
    )  # fmt: skip
    assert code == 0, err
    [audit] = env.audit_lines()
    assert audit["request"]["rejectReason"] == "n/a" and audit["request"]["endNow"] is False


def test_resume_sends_both_plan_ids_and_data_blocks_as_the_api_page_lists_them(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=True)
    product = next(p for p in env.kaccount.products if p.active and p.reference_id != line.product)
    code, out, err = env.run(
        "kognitive-resume", ACCOUNT, "--service-line", line.number, "--custom-plan", "CP-standby-42",
        "--product", product.reference_id, "--data-blocks", "--yes", "--audit-log", str(env.audit),
    )  # fmt: skip
    assert code == 0, err
    assert f"Plan:      {product.name} ({product.reference_id})" in out and "Custom plan: CP-standby-42" in out
    assert not line.paused and line.product == product.reference_id
    [audit] = env.audit_lines()
    assert audit["request"] == {
        "customPlanId": "CP-standby-42",
        "accountNumber": env.kaccount.number,
        "serviceLineNumber": line.number,
        "productReferenceId": product.reference_id,
        "dataBlockProducts": [{"accountNumber": env.kaccount.number, "serviceLineNumber": line.number}],
    }
    assert env.active_after_poll()[line.number] == 1.0


@pytest.mark.parametrize(
    ("flags", "missing"),
    [
        (["--product", "P"], "give --custom-plan"),
        (["--custom-plan", "CP-1"], "give --product"),
        ([], "give --custom-plan and --product"),
    ],
)
def test_resume_without_both_mandatory_plan_ids_is_refused_before_any_request(
    tmp_path: Path, flags: list[str], missing: str
) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=True)
    code, _, err = env.run("kognitive-resume", ACCOUNT, "--service-line", line.number, *flags, "--yes")
    assert code == 2 and missing in err and "customPlanId and productReferenceId" in err
    assert env.transport.requests == [] and line.paused


def test_resume_refuses_a_product_the_account_cannot_buy(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=True)
    code, _, err = env.run(
        "kognitive-resume",
        ACCOUNT,
        "--service-line",
        line.number,
        "--custom-plan",
        "CP-1",
        "--product",
        "nope",
        "--yes",
    )
    assert code == 1 and "product nope is not available to this account" in err
    assert env.transport.sent("POST", "/resume") == 0 and line.paused


def test_the_simulator_refuses_a_body_that_breaks_the_api_page(tmp_path: Path) -> None:
    """What keeps these tests honest: a body shaped the old way (data blocks as product and count)
    is refused by the simulator, so an action sending it would fail here."""
    env = KEnv(tmp_path)
    line = env.kline(paused=True)
    product = next(p for p in env.kaccount.products if p.active)
    config = yaml.safe_load(env.config.read_text())
    kog = next(a for a in config["accounts"] if a["provider"] == "kognitive" and a["name"] == "kognitive-dp-1")
    body = {
        "customPlanId": "CP-1",
        "accountNumber": env.kaccount.number,
        "serviceLineNumber": line.number,
        "productReferenceId": product.reference_id,
        "dataBlockProducts": [{"productId": product.blocks[0].product_id, "count": 2}],
    }

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=env.transport) as client:
            return await client.post(f"{kog['api_url']}/resume", json=body, headers={"X-Auth-Key": kog["auth_key"]})

    answer = anyio.run(send)
    assert answer.status_code == 400 and "dataBlockProducts[0].productId is not a field" in answer.json()["message"]
    assert line.paused


def free_terminal(account: StarlinkAccount) -> str:
    return next(t.terminal_id for t in account.terminals if t.service_line is None)


def test_new_service_line_is_followed_to_completion_with_a_progress_bar(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    env.kog.provision_seconds = 0.6
    terminal = free_terminal(env.kaccount)
    product = next(p for p in env.kaccount.products if p.active)
    code, out, err = env.run(
        "kognitive-new-service-line", ACCOUNT, "--starlink-account", env.kaccount.number, "--name", "Camp 9",
        "--custom-plan", "CP-camp", "--product", product.reference_id, "--terminal", terminal,
        "--email", "ops@example.com", "--poll-interval", "100ms", "--timeout", "20s", "--audit-log", str(env.audit),
        "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert "Will create service line 'Camp 9'" in out and "Accepted, tracking id trk-" in out
    assert "Done: Service line AST-" in out
    bars = [line for line in err.splitlines() if line.startswith("[")]
    assert bars[0].startswith("[------------------------------]   0% pending")
    assert bars[-1] == "[##############################] 100% completed: " + bars[-1].split(": ", 1)[1]
    assert len(bars) >= 3  # pending, in progress, completed
    created = next(line for line in env.kaccount.lines if line.nickname == "Camp 9")
    assert created.terminals == [terminal]
    [audit] = env.audit_lines()
    assert audit["outcome"] == "success" and audit["target"] == "Camp 9"
    assert audit["request"]["trackingId"].startswith("trk-") and "emailIds" not in audit["request"]
    assert audit["request"]["userTerminalIds"] == terminal  # a String, as the API page types it
    assert audit["request"]["customPlanId"] == "CP-camp" and audit["request"]["Name"] == "Camp 9"
    assert "ops@example.com" not in env.audit.read_text()
    assert env.active_after_poll()[created.number] == 1.0


def test_new_service_line_that_does_not_finish_in_time_is_reported_unknown(tmp_path: Path) -> None:
    env = KEnv(tmp_path)  # provisioning takes the default 90 s
    product = next(p for p in env.kaccount.products if p.active)
    code, _, err = env.run(
        "kognitive-new-service-line", ACCOUNT, "--starlink-account", env.kaccount.number, "--name", "Slow",
        "--custom-plan", "CP-1", "--product", product.reference_id, "--poll-interval", "100ms", "--timeout", "500ms",
        "--yes",
    )  # fmt: skip
    assert code == 1
    audit = json.loads([line for line in err.splitlines() if line.startswith("{")][-1])
    assert audit["outcome"] == "unknown" and "tracking id trk-" in audit["detail"]
    assert env.transport.sent("POST", "/newServiceLine") == 1  # the creation is never sent twice
    assert env.transport.sent("POST", "/service_line_tracking") >= 2


def test_new_service_line_needs_a_custom_plan_and_sends_several_terminals_as_one_string(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    free = [t.terminal_id for t in env.kaccount.terminals][:2]  # a dry run: only the body matters
    base = ["kognitive-new-service-line", ACCOUNT, "--starlink-account", env.kaccount.number, "--name", "Two"]
    code, _, err = env.run(*base, "--product", env.kaccount.products[0].reference_id, "--yes")
    assert code == 2 and "customPlanId mandatory" in err and env.transport.requests == []
    terminals = [arg for t in free for arg in ("--terminal", t)]
    code, out, err = env.run(*base, "--custom-plan", "CP-2", *terminals, "--dry-run")
    assert code == 0, err
    assert f'"userTerminalIds": "{free[0]},{free[1]}"' in out


def test_kognitive_actions_need_the_opt_in(tmp_path: Path) -> None:
    env = KEnv(tmp_path, enabled=False)
    line = env.kline(paused=False)
    code, _, err = env.run("kognitive-pause", ACCOUNT, "--service-line", line.number, "--now", "--yes")
    assert code == 2 and "does not allow management actions" in err
    assert env.transport.requests == [] and not line.paused


def test_interactive_confirmation_of_a_pause(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    line = env.kline(paused=False)
    code, _, err = env.run(
        "kognitive-pause", ACCOUNT, "--service-line", line.number, "--now", stdin=Stdin("yes\n", tty=True)
    )
    assert code == 0, err
    assert f"Pause {line.number} now? Type 'yes' to confirm:" in err and line.paused


@pytest.mark.e2e
def test_actions_end_to_end_and_the_exporter_sees_the_change(tmp_path: Path) -> None:
    """The CLI as a process against the simulator process; then the exporter process scrapes it."""
    sim_args = ["simulator", "--accounts", "1", "--terminals", "24", "--seed", "21"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/kognitive/_sim/state", sim)
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        for account in config["accounts"]:
            account["management_actions"] = True
        starlink = next(a for a in config["accounts"] if a["provider"] == "starlink")
        starlink |= {"jobs": {"telemetry": {"interval": "2s"}}, "telemetry": {"max_linger": "1s"}}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        key = {"X-Auth-Key": next(a for a in config["accounts"] if a["provider"] == "kognitive")["auth_key"]}
        api = f"{sim.url}/kognitive/ext/v1/starlink"
        lines = httpx.get(f"{api}/getServiceLineDetails", params={"limit": 100}, headers=key, timeout=10).json()
        target = next(line for line in lines["data"] if line["subscription_status"] == "resumed")["service_line_number"]
        audit = tmp_path / "audit.log"

        def cli(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "leo_exporter", *argv, "--config.file", str(path), "--audit-log", str(audit)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
            )

        refused = cli("kognitive-pause", "--account", "kognitive-dp-1", "--service-line", target, "--now")
        assert refused.returncode == 2 and "pass --yes" in refused.stderr
        paused = cli("kognitive-pause", "--account", "kognitive-dp-1", "--service-line", target, "--now", "--yes")
        assert paused.returncode == 0, paused.stderr

        with run_module(["--config.file", str(path), "--web.enable-admin-api"], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            before = {
                s.labels["service_line"]: s.value
                for s in scrape(exporter.url)["leo_service_line_usage_limit_bytes"]
                if s.labels["provider"] == "starlink"
            }
            line = next(sl for sl, limit in before.items() if limit == 50e9)
            topped = cli("starlink-top-up", "--service-line", line, "--yes")
            assert topped.returncode == 0, topped.stderr
            polled = httpx.post(f"{exporter.url}/api/jobs/starlink/{starlink['name']}/data_usage/poll",
                                params={"wait": "20"}, timeout=30)  # fmt: skip
            assert polled.status_code == 200 and polled.json()["status"]["up"] is True
            families = scrape(exporter.url)
    active = {
        s.labels["service_line"]: s.value
        for s in families["leo_service_line_active"]
        if s.labels["provider"] == "kognitive"
    }
    assert active[target] == 0.0
    after = {
        s.labels["service_line"]: s.value
        for s in families["leo_service_line_usage_limit_bytes"]
        if s.labels["provider"] == "starlink"
    }
    assert after[line] == 100e9
    entries = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("kognitive-pause", "refused"),
        ("kognitive-pause", "success"),
        ("starlink-top-up", "success"),
    ]
