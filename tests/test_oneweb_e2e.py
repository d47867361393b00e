"""End to end: the simulator and the exporter as processes on loopback, one good and one
wrongly configured `oneweb` account; every OneWeb metric group is scraped and parsed."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml

from tests.processes import run_module, scrape, wait_for

pytestmark = pytest.mark.e2e

GROUPS = {
    "terminals": (
        "leo_terminal_info",
        "leo_terminal_online",
        "leo_terminal_last_seen_timestamp_seconds",
        "leo_terminal_first_seen_timestamp_seconds",
        "leo_terminal_latitude_degrees",
        "leo_terminal_longitude_degrees",
        "leo_terminal_elevation_meters",
        "leo_terminal_component_info",
    ),
    "products": (
        "leo_service_line_info",
        "leo_service_line_active",
        "leo_service_line_usage_limit_bytes",
        "leo_service_line_max_downlink_throughput_bytes_per_second",
        "leo_service_line_max_uplink_throughput_bytes_per_second",
        "leo_service_line_overage_increment_bytes",
    ),
    "organizations": ("leo_organization_info",),
    "sites": ("leo_site_info",),
    "terminal performance": (
        "leo_terminal_link_availability_ratio",
        "leo_terminal_rsrp_dbm",
        "leo_terminal_rssi_dbm",
        "leo_terminal_sinr_decibels",
        "leo_terminal_report_timestamp_seconds",
        "leo_terminal_receive_bytes_total",
        "leo_terminal_transmit_bytes_total",
    ),
    "product performance": (
        "leo_service_line_downlink_throughput_bytes_per_second",
        "leo_service_line_uplink_throughput_bytes_per_second",
        "leo_service_line_report_timestamp_seconds",
    ),
    "usage": (
        "leo_service_line_usage_bytes",
        "leo_service_line_usage_remaining_bytes",
        "leo_service_line_usage_entitlement_bytes",
        "leo_service_line_usage_balance_bytes",
        "leo_service_line_usage_overage_blocks",
        "leo_service_line_usage_bucket_info",
        "leo_service_line_billing_cycle_start_timestamp_seconds",
        "leo_service_line_billing_cycle_end_timestamp_seconds",
        "leo_service_line_usage_updated_timestamp_seconds",
    ),
}


def scrape_until_complete(url: str, partner: str, timeout: float = 30.0) -> dict[str, list]:
    """Scrape until every group is there (a render may trail the last job by a moment); bounded."""
    deadline = time.monotonic() + timeout
    while True:
        families = scrape(url)
        missing = [
            name
            for names in GROUPS.values()
            for name in names
            if not any(s.labels.get("account") == partner for s in families.get(name, []))
        ]
        jobs = [s for s in families.get("leo_exporter_job_up", []) if s.labels["provider"] == "oneweb"]
        if len(jobs) < 14 or len(families.get("leo_exporter_account_authenticated", [])) < 2:
            missing.append("job and account state")
        if not missing or time.monotonic() > deadline:
            return families
        time.sleep(0.25)


def test_a_oneweb_account_against_the_simulator_exposes_every_group(tmp_path) -> None:
    sim_args = ["simulator", "--accounts", "1", "--terminals", "40", "--seed", "7"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        state = wait_for(f"{sim.url}/oneweb/_sim/state", sim).json()["accounts"][0]
        served = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        good = next(a for a in served["accounts"] if a["provider"] == "oneweb")
        good["jobs"] = {}
        bad = {**good, "name": "oneweb-wrong", "client_secret": "not-the-secret-9"}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({"accounts": [good, bad]}))
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter, timeout=60)
            families = scrape_until_complete(exporter.url, good["name"])
            log = exporter.log()

    partner = state["distributionPartner"]
    label = good["name"]  # the `account` label: the config name; the partner id is provider_account

    def mine(name: str) -> list:
        return [s for s in families.get(name, []) if s.labels.get("account") == label]

    for group, names in GROUPS.items():
        for name in names:
            samples = mine(name)
            assert samples, f"{group}: {name} missing"
            assert all(s.labels["provider"] == "oneweb" for s in samples)
    assert {s.labels["terminal_id"] for s in mine("leo_terminal_info")} == set(state["terminals"])
    online = {s.labels["terminal_id"]: s.value for s in mine("leo_terminal_online")}
    assert {t for t, v in online.items() if v == 0} == set(state["offline"])
    assert {s.labels["service_line"] for s in mine("leo_service_line_info")} == set(state["products"])
    assert {s.labels["organization"] for s in mine("leo_organization_info")} == {partner, *state["customers"]}
    assert {s.labels["site"] for s in mine("leo_site_info")} == set(state["sites"])
    pooled = {s.labels["service_line"] for s in mine("leo_service_line_usage_bucket_info") if s.labels["sub_pool"]}
    assert pooled == set(state["pooledProducts"])
    scraped_at = max(s.value for s in families["leo_exporter_job_last_success_timestamp_seconds"])
    assert all(s.value < scraped_at - 600 for s in mine("leo_terminal_report_timestamp_seconds"))

    up = {(s.labels["account"], s.labels["call"]): s.value for s in families["leo_exporter_job_up"]}
    assert all(v == 1 for (account, _), v in up.items() if account == label), up
    assert len([a for a, _ in up if a == label]) == 7
    auth = {s.labels["account"]: s.value for s in families["leo_exporter_account_authenticated"]}
    assert auth == {label: 1.0, "oneweb-wrong": 0.0}
    assert all(v == 0 for (account, _), v in up.items() if account == "oneweb-wrong")
    assert {s.labels["provider_account"] for s in mine("leo_account_info")} == {partner}
    assert "OneWeb refused the credentials of client_id" in log
    assert "not-the-secret-9" not in log and good["client_secret"] not in log
    assert "credentials accepted" in log
    assert "Traceback" not in log
