"""End to end: a `starlink` and a `kognitive` account, both pointed at the simulator process, in
one exporter process; the Kognitive fleet appears in the same families, joinable the same way."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.processes import run_module, scrape, wait_for

pytestmark = pytest.mark.e2e

API = "/kognitive/ext/v1/starlink"


def test_kognitive_fleet_appears_next_to_starlink(tmp_path) -> None:
    sim_args = ["simulator", "--accounts", "1", "--terminals", "24", "--seed", "11"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/kognitive/_sim/state", sim)
        served = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        starlink = next(a for a in served["accounts"] if a["provider"] == "starlink")
        kognitive = next(a for a in served["accounts"] if a["provider"] == "kognitive")
        starlink |= {"jobs": {"telemetry": {"interval": "2s"}}, "telemetry": {"max_linger": "1s"}}
        kognitive |= {"page_limit": 5, "jobs": {"terminal_status": {"interval": "30s"}}}

        # Pause one active line through the API before the exporter starts.
        key = {"X-Auth-Key": kognitive["auth_key"]}
        lines = httpx.get(f"{sim.url}{API}/getServiceLineDetails", params={"limit": 100}, headers=key).json()["data"]
        target = next(line for line in lines if line["subscription_status"] == "resumed")
        paused = httpx.post(
            f"{sim.url}{API}/pause",
            json={
                "accountNumber": target["account_number"],
                "serviceLineNumber": target["service_line_number"],
                "endNow": True,
            },
            headers=key,
            timeout=10,
        ).json()
        assert paused["success"] is True, paused
        state = httpx.get(f"{sim.url}/kognitive/_sim/state", timeout=10).json()["partners"][0]

        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({"accounts": [starlink, kognitive]}))
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            families = scrape(exporter.url)
            log = exporter.log()

    def of(name: str, provider: str) -> list:
        return [s for s in families.get(name, []) if s.labels["provider"] == provider]

    assert "Traceback" not in log
    assert {(s.labels["account"], s.labels["call"]): s.value for s in families["leo_exporter_job_up"]} == {
        **{
            (starlink["name"], c): 1.0
            for c in ("account", "telemetry", "user_terminals", "service_lines", "data_usage", "data_pools", "balance")
        },
        **{
            ("kognitive-dp-1", c): 1.0
            for c in ("terminal_status", "service_lines", "billing_usage", "products", "addresses")
        },
    }

    # Terminals, online flags and service lines of both providers, in the same families
    assert of("leo_terminal_info", "starlink") and of("leo_service_line_active", "starlink")
    accounts = state["accounts"]
    k_terminals = of("leo_terminal_info", "kognitive")
    assert len(k_terminals) == sum(a["terminals"] for a in accounts)
    assert {s.labels["account"] for s in k_terminals} == {"kognitive-dp-1"}
    online = {s.labels["terminal_id"]: s.value for s in of("leo_terminal_online", "kognitive")}
    offline = {t for a in accounts for t in a["offline"]}
    assert online == {s.labels["terminal_id"]: float(s.labels["terminal_id"] not in offline) for s in k_terminals}
    active = {s.labels["service_line"]: s.value for s in of("leo_service_line_active", "kognitive")}
    assert len(active) == sum(a["serviceLines"] for a in accounts)
    paused_lines = {line for a in accounts for line in a["paused"]}
    assert target["service_line_number"] in paused_lines
    assert {sl for sl, value in active.items() if value == 0.0} == paused_lines

    # Usage by class, as the usage dashboards and rules read it
    usage = of("leo_service_line_usage_bytes", "kognitive")
    assert {s.labels["class"] for s in usage} == {"priority", "standard", "opt_in_priority", "non_billable"}
    assert {s.labels["service_line"] for s in usage} == set(active)
    # the first key's accounts offer several plans or are pooled, and the listing names no line's
    # plan: no limit series (unknown) rather than a 0
    assert not of("leo_service_line_usage_limit_bytes", "kognitive")
    assert of("leo_product_price", "kognitive") and of("leo_service_line_latitude_degrees", "kognitive")

    # The rules' join (terminal -> its line's active flag, on provider, account, service_line) works
    lines_by_key = {(s.labels["account"], s.labels["service_line"]) for s in of("leo_service_line_active", "kognitive")}
    joined = [s for s in k_terminals if (s.labels["account"], s.labels.get("service_line", "")) in lines_by_key]
    unconfigured = {t for a in accounts for t in a["unconfigured"]}
    assert len(joined) == len(k_terminals) - len(unconfigured) > 0
