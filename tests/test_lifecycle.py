"""Lifecycle: reload on SIGHUP and POST /-/reload, a bad new config kept out, SIGTERM mid-poll."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.processes import run_module, scrape, wait_for

pytestmark = pytest.mark.e2e


def starlink_accounts(sim_url: str) -> list[dict]:
    config = yaml.safe_load(httpx.get(f"{sim_url}/exporter-config.yml", timeout=10).text)
    accounts = [a for a in config["accounts"] if a["provider"] == "starlink"]
    for account in accounts:
        account["jobs"] = {"telemetry": {"interval": "1s"}, "data_usage": {"enabled": False}}
        account["telemetry"] = {"max_linger": "0s"}
    return accounts


def runs(families: dict, account: str) -> float:
    return sum(
        s.value
        for s in families.get("leo_exporter_job_runs_total", [])
        if s.labels["account"] == account and s.labels["result"] == "success"
    )


def accounts_of(families: dict) -> set[str]:
    return {s.labels["account"] for s in families.get("leo_account_info", [])}


def value(families: dict, name: str) -> float:
    (sample,) = families[name]
    return sample.value


def test_reload_keeps_unchanged_accounts_and_refuses_a_bad_config(tmp_path: Path) -> None:
    with run_module(["simulator", "--accounts", "3", "--terminals", "30"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        one, two, three = starlink_accounts(sim.url)
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({"accounts": [one, two]}))
        args = ["--config.file", str(path), "--web.enable-lifecycle"]
        with run_module(args, tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            time.sleep(2)
            before = scrape(exporter.url)
            kept_id, dropped_id = one["name"], two["name"]  # the `account` label is the config name
            assert accounts_of(before) == {kept_id, dropped_id}
            runs_before = runs(before, kept_id)

            # SIGHUP: drop account two, add account three, keep account one as it was
            path.write_text(yaml.safe_dump({"accounts": [one, three]}))
            exporter.popen.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                after = scrape(exporter.url)
                terminal_accounts = {s.labels["account"] for s in after.get("leo_terminal_info", [])}
                if (
                    len(accounts_of(after)) == 2
                    and dropped_id not in accounts_of(after)
                    and len(terminal_accounts) == 2
                ):
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"reload not applied: {accounts_of(after)}\n{exporter.log()[-2000:]}")
            assert dropped_id not in {
                s.labels["account"] for fam in after.values() for s in fam if "account" in s.labels
            }
            assert runs(after, kept_id) >= runs_before  # same job, counters carried on: state kept
            assert value(after, "leo_exporter_config_last_reload_successful") == 1

            # an invalid config: refused with the reason, the running one stays
            path.write_text("accounts:\n  - provider: starlink\n    name: broken\n")
            answer = httpx.post(f"{exporter.url}/-/reload", timeout=30)
            assert answer.status_code == 500
            assert "accounts[0].client_id: required key is missing" in answer.text
            still = scrape(exporter.url)
            assert value(still, "leo_exporter_config_last_reload_successful") == 0
            assert accounts_of(still) == accounts_of(after)
            time.sleep(1.5)
            assert runs(scrape(exporter.url), kept_id) > runs(after, kept_id)  # still polling

            # a byte that is no UTF-8: one message with line and column, not a bare 500
            path.write_bytes(b"accounts:\n  - provider: starlink\n    name: caf\xe9\n")
            answer = httpx.post(f"{exporter.url}/-/reload", timeout=30)
            assert answer.status_code == 500
            assert "not UTF-8 text: byte 0xe9 at line 3, column 14" in answer.text

            # a browser request from another origin (another port on the same host is same-site) is refused
            for headers in ({"sec-fetch-site": "same-site"}, {"origin": "http://127.0.0.1:1"}):
                assert httpx.post(f"{exporter.url}/-/reload", headers=headers, timeout=30).status_code == 403

            # fixed again: POST /-/reload succeeds
            path.write_text(yaml.safe_dump({"accounts": [one, three]}))
            assert httpx.post(f"{exporter.url}/-/reload", timeout=30).status_code == 200
            assert value(scrape(exporter.url), "leo_exporter_config_last_reload_successful") == 1
    log = exporter.log()
    assert "Traceback" not in log
    assert "config reload failed, keeping the running config" in log


def test_sigterm_during_a_long_poll_exits_0_within_5_seconds(tmp_path: Path) -> None:
    with run_module(["simulator", "--accounts", "1", "--terminals", "10"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        (account, *_) = starlink_accounts(sim.url)
        account["jobs"] = {"telemetry": {"interval": "1s"}}
        account["telemetry"] = {"max_linger": "30s"}  # the stream holds each call open until new rows
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({"accounts": [account]}))
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/metrics", exporter)
            time.sleep(3)  # the first rows are read; the next call is now waiting on the stream
            took = exporter.stop()
    assert exporter.popen.returncode == 0
    assert took < 5
    assert "Traceback" not in exporter.log()


def test_read_only_by_default_and_sighup_survives_a_config_with_a_bad_byte(tmp_path: Path) -> None:
    with run_module(["simulator", "--accounts", "1", "--terminals", "10"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        (account, *_) = starlink_accounts(sim.url)
        path = tmp_path / "config.yml"
        good = yaml.safe_dump({"accounts": [account]})
        path.write_text(good)
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            refused = httpx.post(f"{exporter.url}/-/reload", timeout=30)
            assert refused.status_code == 403 and "--web.enable-lifecycle" in refused.text

            path.write_bytes(good.encode() + b"# \xff\n")
            exporter.popen.send_signal(signal.SIGHUP)
            wait_until(lambda: value(scrape(exporter.url), "leo_exporter_config_last_reload_successful") == 0)
            path.write_text(good)
            exporter.popen.send_signal(signal.SIGHUP)  # the handler is still there: the process lives on
            wait_until(lambda: value(scrape(exporter.url), "leo_exporter_config_last_reload_successful") == 1)
            assert exporter.popen.poll() is None
    log = exporter.log()
    assert "not UTF-8 text: byte 0xff at line" in log
    assert "Traceback" not in log


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.2)
