"""End to end: the exporter process polls the simulator over loopback; we scrape what it serves."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.processes import run_module, scrape, wait_for

pytestmark = pytest.mark.e2e


def test_demo_without_config_shows_a_fleet_and_stops_cleanly(tmp_path) -> None:
    with run_module([], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter, timeout=30)
        families = scrape(exporter.url)
        for name in (
            "leo_terminal_online",
            "leo_terminal_downlink_throughput_bytes_per_second",
            "leo_terminal_info",
            "leo_router_info",
            "leo_router_clients",
            "leo_service_line_usage_bytes",
            "leo_exporter_job_up",
        ):
            assert families.get(name), f"{name} missing"
        assert all(s.value == 1 for s in families["leo_exporter_job_up"])
        gz = httpx.get(f"{exporter.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert gz.headers["content-encoding"] == "gzip" and "leo_terminal_online" in gz.text
        took = exporter.stop()
        assert exporter.popen.returncode == 0
        assert took < 5
    log = exporter.log()
    assert "SIMULATION MODE" in log
    assert "Traceback" not in log


def test_exporter_with_config_matches_what_the_simulator_serves(tmp_path) -> None:
    sim_args = ["simulator", "--accounts", "2", "--terminals", "30", "--seed", "7"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        sim_state = wait_for(f"{sim.url}/starlink/_sim/state", sim).json()
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        for account in config["accounts"]:
            if account["provider"] != "starlink":
                continue
            account["jobs"] = {"telemetry": {"interval": "2s"}}
            account["telemetry"] = {"max_linger": "1s"}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            families = scrape(exporter.url)
            log = exporter.log()

    configured = {a["name"] for a in config["accounts"]}
    labelled = {s.labels["account"] for family in families.values() for s in family if "account" in s.labels}
    assert labelled == configured  # the config names, never a provider's id
    name_of = {
        s.labels["provider_account"]: s.labels["account"]
        for s in families["leo_account_info"]
        if s.labels["provider"] == "starlink" and "provider_account" in s.labels
    }
    for account in sim_state["accounts"]:
        name = name_of[account["accountNumber"]]

        def mine(family: str, name: str = name) -> list:
            return [s for s in families.get(family, []) if s.labels["account"] == name]

        info = mine("leo_account_info")
        assert info and info[0].labels["provider_account_name"] == account["accountName"]
        assert {s.labels["provider_account"] for s in mine("leo_terminal_info")} == {account["accountNumber"]}
        assert len(mine("leo_terminal_info")) == account["terminals"]
        assert len(mine("leo_router_info")) == account["routers"]
        assert len(mine("leo_service_line_info")) == account["serviceLines"]
        online = {s.labels["terminal_id"]: s.value for s in mine("leo_terminal_online")}
        for offline_id in account["offline"]:
            assert online[offline_id] == 0
        assert sum(online.values()) == account["terminals"] - len(account["offline"])
        alerts = {
            s.labels["alert"]
            for s in mine("leo_terminal_alert")
            if s.labels["terminal_id"] == account["criticalTerminal"]
        }
        assert alerts & {"actuator_motor_stuck", "thermal_shutdown"} or not alerts
        assert mine("leo_service_line_usage_bytes")
    assert "new column 'SimFutureMetric'" in log or families["leo_exporter_telemetry_rows_total"]
    assert "Traceback" not in log
