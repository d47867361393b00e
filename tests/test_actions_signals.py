"""A management action stopped by a signal while its paid request is in flight still writes its
audit line: `"outcome": "unknown"` (the top-up may or may not have been bought), whatever the signal.

The simulator and the CLI run as processes on loopback. The simulator holds the top-up request
(the `slow` fault on the top-up endpoint); the signal goes to the CLI once the simulator has
received the request (the fault's hit count), never after a guessed sleep.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.processes import ROOT, run_module, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _top_up_line(account: dict[str, Any]) -> str:
    """An active service line of the account whose plan sells a one-time top-up (asked of the API)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
    }
    token = httpx.post(account["auth_url"], data=form, timeout=10).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    api = account["api_url"]
    products = httpx.get(f"{api}/products", headers=headers, timeout=10).json()["content"]["results"]
    plans = {p["productReferenceId"] for p in products if (p.get("dataProducts") or {}).get("topUpProduct")}
    lines = httpx.get(f"{api}/service-lines", headers=headers, timeout=10).json()["content"]["results"]
    return next(line["serviceLineNumber"] for line in lines if line["active"] and line["productReferenceId"] in plans)


def _wait_until_received(sim_url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Until the simulator has taken the top-up request (it holds it: the `slow` fault's hit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        faults = httpx.get(f"{sim_url}/_sim/faults", timeout=10).json()["faults"]
        if any(f["mode"] == "slow" and f["hits"] >= 1 for f in faults):
            return
        if process.poll() is not None:
            raise AssertionError(f"the action ended before its request arrived: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the simulator never received the top-up request")


def _interrupt(tmp_path: Path, held: str, signum: signal.Signals) -> tuple[int, str, dict[str, Any], str]:
    """Run a top-up, hold its request to the endpoint named `held`, signal the CLI once the
    simulator has it; (exit code, stderr, the one audit line, the service line)."""
    with run_module(["simulator", "--accounts", "1", "--terminals", "16", "--seed", "5"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/exporter-config.yml", sim)
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        account = next(a for a in config["accounts"] if a["provider"] == "starlink")
        account["management_actions"] = True
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        line = _top_up_line(account)
        hold = {"provider": "starlink", "account": "1", "mode": "slow", "delay": 60, "endpoint": held}
        assert httpx.post(f"{sim.url}/_sim/faults", json=hold, timeout=10).status_code == 200
        audit = tmp_path / "audit.log"
        argv = ["starlink-top-up", "--config.file", str(path), "--account", account["name"]]
        cli = subprocess.Popen(
            [sys.executable, "-m", "leo_exporter", *argv, "--service-line", line, "--yes", "--audit-log", str(audit)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_until_received(sim.url, cli)
            cli.send_signal(signum)
            _, err = cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait(5)
    [entry] = [json.loads(x) for x in audit.read_text().splitlines()]
    return cli.returncode, err, entry, line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_after_the_top_up_was_sent_writes_an_unknown_audit_line(
    tmp_path: Path, signum: signal.Signals
) -> None:
    code, err, entry, line = _interrupt(tmp_path, "top-up", signum)
    assert code == 128 + signum, err
    assert "interrupted after the request was sent: check the result" in err
    assert (entry["action"], entry["outcome"], entry["target"]) == ("starlink-top-up", "unknown", line)
    assert entry["request"]["count"] == 1


def test_a_signal_before_anything_was_sent_is_audited_as_declined(tmp_path: Path) -> None:
    code, err, entry, _ = _interrupt(tmp_path, "products", signal.SIGTERM)  # the check before buying
    assert code == 128 + signal.SIGTERM, err
    assert (entry["outcome"], entry["detail"]) == ("declined", "interrupted")
