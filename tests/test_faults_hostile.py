"""The simulator's hostile modes (issue #25) against the exporter, in one process: each one fails
only the call it hits, or only the rows it spoils, and says so in the account's metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.app import Exporter
from leo_exporter.providers import parse_config
from leo_exporter.simulator.app import build_app, demo_config
from leo_exporter.simulator.faults import FaultError
from tests.conftest import SIMULATED_NOW, render


def starlink_exporter(**fault: Any) -> tuple[Exporter, str]:
    sim = build_app(now=SIMULATED_NOW, accounts=1, terminals=6)
    data = demo_config("http://simulator", sim)
    account = next(a for a in data["accounts"] if a["provider"] == "starlink")
    account.update(max_response_size="1MiB", telemetry={"max_linger": "0s"})
    if fault:
        sim.state.faults.add("starlink", "*", **fault)
    return Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=sim)), account["name"]


async def run(exporter: Exporter, *jobs: str) -> dict[str, Any]:
    for name in jobs:
        await exporter.scheduler.run_once(exporter.scheduler.jobs[name])
    exposition = render(exporter.state)
    return {f.name: f for f in text_string_to_metric_families(exposition.plain.decode())}


def samples(families: dict[str, Any], name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    family = families.get(name.removesuffix("_total"))
    found = {}
    for sample in family.samples if family else []:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            extra = {k: v for k, v in sample.labels.items() if k not in ("provider", "account", *labels)}
            found[tuple(sorted(extra.items()))] = sample.value
    return found


@pytest.mark.anyio
async def test_a_gzip_bomb_fails_the_call_it_hits_with_a_clear_error() -> None:
    exporter, name = starlink_exporter(mode="gzip_bomb", size=64, endpoint="user-terminals")
    job = exporter.scheduler.jobs[f"{name}/user_terminals"]
    await exporter.scheduler.run_once(exporter.scheduler.jobs[f"{name}/account"])
    ok, _ = await exporter.scheduler.run_once(job)
    await exporter.aclose()
    assert not ok
    assert "GET /user-terminals" in job.status.last_error and "larger than 1 MiB" in job.status.last_error
    assert repr(name) in job.status.last_error
    counted = exporter.state.accounts[name].counters["leo_exporter_api_requests_total"]
    assert counted['endpoint="/user-terminals",code="too_large"'] == 1.0


@pytest.mark.anyio
async def test_a_huge_error_body_becomes_a_short_error() -> None:
    exporter, name = starlink_exporter(mode="huge_error", size=8, endpoint="service-lines")
    job = exporter.scheduler.jobs[f"{name}/service_lines"]
    await exporter.scheduler.run_once(exporter.scheduler.jobs[f"{name}/account"])
    ok, _ = await exporter.scheduler.run_once(job)
    await exporter.aclose()
    assert not ok and "HTTP 500" in job.status.last_error and len(job.status.last_error) < 500


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "field", "count"),
    [("name_flood", "metadata.enums", 300), ("future_rows", "UtcTimestampNs", 1), ("bad_alerts", "ActiveAlerts", 1)],
)
async def test_spoilt_stream_answers_cost_the_spoilt_rows_only(mode: str, field: str, count: int) -> None:
    clean, name = starlink_exporter()
    jobs = (f"{name}/account", f"{name}/user_terminals", f"{name}/telemetry")
    baseline = sum(samples(await run(clean, *jobs), "leo_terminal_online").values())
    await clean.aclose()
    exporter, name = starlink_exporter(mode=mode, size=300)
    families = await run(exporter, *jobs)
    job = exporter.scheduler.jobs[f"{name}/telemetry"]
    await exporter.aclose()
    assert job.status.up == 1, job.status.last_error  # before: bad_alerts failed the batch (TypeError)
    online = samples(families, "leo_terminal_online")
    assert len(online) == 6 and sum(online.values()) >= baseline - 1  # at most the spoilt row's terminal
    assert samples(families, "leo_exporter_invalid_values_total") == {(("field", field),): count}


def test_a_stream_mode_exists_only_where_a_simulator_acts_on_it() -> None:
    sim = build_app(now=SIMULATED_NOW, accounts=1, terminals=2)
    with pytest.raises(FaultError, match="does not exist for oneweb"):
        sim.state.faults.add("oneweb", "*", "name_flood")
    with pytest.raises(FaultError, match="size must be an integer"):
        sim.state.faults.add("oneweb", "*", "gzip_bomb", size=0)
    fault, _ = sim.state.faults.add("oneweb", "*", "huge_error")
    assert fault.public(0.0)["size"] == 200
