"""Collectors: a metric group switched off costs no series, and an API call only it needs is not made."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.app import Exporter
from leo_exporter.catalog import BY_NAME, CATALOG, COLLECTORS, DEFAULT_OFF
from leo_exporter.cli import _with_collectors, build_parser
from leo_exporter.config import ConfigError
from leo_exporter.providers import parse_config
from tests.inprocess import poll_all, simulated_exporter

pytestmark = pytest.mark.anyio
USAGE_ENDPOINTS = ("/data-usage/query", "/getBillingUsage", "usageConsumption")


async def scrape_with(collectors: dict[str, bool]) -> tuple[dict[str, set[str]], dict[tuple[str, str], bool], int]:
    """(family -> providers served, (provider, call) -> enabled, requests to data usage endpoints)."""
    exporter, app = simulated_exporter(accounts=1, terminals=12)
    config = exporter.config.model_copy(update={"collectors": {**exporter.config.collectors, **collectors}})
    await exporter.aclose()
    exporter = Exporter(config, transport=httpx.ASGITransport(app=app))
    try:
        await poll_all(exporter)
        assert exporter.exposition is not None
        served: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(exporter.exposition.plain.decode()):
            name = family.name + "_total" if family.type == "counter" else family.name
            served[name] = {s.labels.get("provider", "") for s in family.samples}
        enabled = {(j.account.provider, j.call): j.enabled for j in exporter.state.jobs}
        usage_requests = sum(
            v
            for a in exporter.state.accounts.values()
            for frag, v in a.counters.get("leo_exporter_api_requests_total", {}).items()
            if any(path in frag for path in USAGE_ENDPOINTS)
        )
        return served, enabled, int(usage_requests)
    finally:
        await exporter.aclose()


async def test_no_router_collector_removes_every_router_family_and_keeps_the_rest() -> None:
    served, enabled, _ = await scrape_with({"router": False})
    assert not [name for name in served if name.startswith("leo_router_")]
    assert "leo_terminal_online" in served and "leo_exporter_job_up" in served
    # telemetry and user_terminals feed terminals too: they still run
    assert enabled[("starlink", "telemetry")] and enabled[("starlink", "user_terminals")]
    everything, _, _ = await scrape_with({})
    assert [name for name in everything if name.startswith("leo_router_")]  # the simulator has routers


async def test_no_usage_collector_makes_no_usage_calls() -> None:
    served, enabled, requests = await scrape_with({"usage": False})
    assert not [n for n in served if n in BY_NAME and BY_NAME[n].collector == "usage"]
    for provider, call in (("starlink", "data_usage"), ("kognitive", "billing_usage"), ("oneweb", "usage_consumption")):
        assert enabled[(provider, call)] is False, call
    assert requests == 0
    assert "leo_service_line_info" in served  # the service_line group stays


def test_every_family_belongs_to_a_collector_and_the_exporters_own_are_always_on() -> None:
    groups = {spec.collector for spec in CATALOG}
    assert groups <= {*COLLECTORS, "exporter"}
    assert {BY_NAME[n].collector for n in ("leo_exporter_job_up", "process_cpu_seconds_total")} == {"exporter"}
    assert "exporter" not in COLLECTORS  # no switch for the self-metrics


def test_flags_win_over_the_config_and_unknown_groups_are_rejected() -> None:
    config = parse_config({"collectors": {"router": False, "usage": False}})
    args = build_parser().parse_args(["--collector.router", "--no-collector.product"])
    merged = _with_collectors(config, args)
    assert merged.disabled_collectors == {"usage", "product"} | DEFAULT_OFF  # off unless switched on
    assert {"router_wifi", "details"} == DEFAULT_OFF
    on = _with_collectors(config, build_parser().parse_args(["--collector.router_wifi"]))
    assert "router_wifi" not in on.disabled_collectors and "details" in on.disabled_collectors
    with pytest.raises(ConfigError) as raised:
        parse_config({"collectors": {"routers": False}})
    assert raised.value.problems[0].startswith("collectors: unknown collector routers")


async def test_a_reload_that_switches_a_group_off_applies_to_the_exposition_and_the_jobs() -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=6)
    try:
        assert all(j.enabled for j in exporter.state.jobs if j.call == "data_usage")
        switched = {**exporter.config.collectors, "usage": False}
        await exporter.reload(exporter.config.model_copy(update={"collectors": switched}))
        assert exporter.renderer.disabled == {"usage"} | DEFAULT_OFF
        calls = {(j.account.provider, j.call): j.enabled for j in exporter.state.jobs}
        assert calls[("starlink", "data_usage")] is False and calls[("starlink", "telemetry")] is True
    finally:
        await exporter.aclose()
