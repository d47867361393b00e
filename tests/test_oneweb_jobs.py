"""The OneWeb jobs against the simulator (in process, fake clock): every metric group, report
times that never move backwards, counters that count each report once, usage that grows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from leo_exporter.app import Exporter
from leo_exporter.providers import parse_config
from leo_exporter.providers.oneweb.simulator.server import (
    PERIOD,
    SIGNAL_DELAY,
    THROUGHPUT_DELAY,
    TRAFFIC_DELAY,
    OneWebSimulator,
)
from leo_exporter.simulator.calendar import cycle_bounds
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 17, 12, 7, tzinfo=UTC).timestamp()
JOBS = (
    "user_terminals",
    "products",
    "organizations",
    "sites",
    "terminal_performance",
    "product_performance",
    "usage_consumption",
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> OneWebSimulator:
    return OneWebSimulator(accounts=1, terminals=10, seed=5, clock=clock)


def make_exporter(sim: OneWebSimulator, **extra: Any) -> Exporter:
    app = Starlette(routes=[Mount("/oneweb", routes=sim.routes())])
    creds = sim.credentials()[0]
    account = {
        "provider": "oneweb",
        "name": "ow-test",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "api_url": "http://sim/oneweb",
        **extra,
    }
    # billing dates (has a usage report's cycle ended?) by the simulated calendar, as in a demo
    calendar = sim._calendar
    return Exporter(parse_config({"accounts": [account]}), transport=httpx.ASGITransport(app=app), calendar=calendar)


async def run(exporter: Exporter, jobs: Iterable[str] = JOBS) -> dict[str, list[Any]]:
    """Run the named jobs once (in order), render, and return samples by sample name."""
    by_call = {job.status.call: job for job in exporter.scheduler.jobs.values()}
    for name in jobs:
        ok, _ = await exporter.scheduler.run_once(by_call[name])
        assert ok, f"{name}: {by_call[name].status.last_error}"
    await exporter.render_now()
    return scrape(exporter)


def scrape(exporter: Exporter) -> dict[str, list[Any]]:
    assert exporter.exposition is not None
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(exporter.exposition.plain.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def by(samples: list[Any], label: str, **match: str) -> dict[str, float]:
    return {s.labels[label]: s.value for s in samples if all(s.labels.get(k) == v for k, v in match.items())}


async def test_every_group_is_exposed_with_provider_account_and_ids(sim: OneWebSimulator) -> None:
    exporter = make_exporter(sim)
    got = await run(exporter)
    acc = sim.accounts[0]
    imeis = {t.imei for t in acc.terminals}

    info = {s.labels["terminal_id"]: s.labels for s in got["leo_terminal_info"]}
    assert set(info) == imeis
    term = acc.terminals[0]
    labels = info[term.imei]
    assert labels["provider"] == "oneweb" and labels["account"] == "ow-test"
    assert labels["provider_account"] == acc.partner.org_id  # the organizations job names the partner
    assert labels["service_line"] == term.product_id and labels["service_line"].startswith("SC-")
    assert labels["imsi"] == term.imsi and labels["serial"] == term.serial and labels["name"] == term.name
    assert labels["manufacturer"] == term.manufacturer and labels["hardware_version"] == term.hardware_version
    assert labels["site"] == term.site.site_id and labels["organization"] == acc.partner.org_id
    assert labels["software_version"] == dict(term.components)["UT"]

    online = by(got["leo_terminal_online"], "terminal_id")
    offline = {acc.terminals[i].imei for i in acc.offline}
    assert offline and {i for i, v in online.items() if v == 0} == offline
    assert {i for i, v in online.items() if v == 1} == imeis - offline

    lat = by(got["leo_terminal_latitude_degrees"], "terminal_id")
    lon = by(got["leo_terminal_longitude_degrees"], "terminal_id")
    assert lat[term.imei] == pytest.approx(term.lat, abs=1e-4)
    assert lon[term.imei] == pytest.approx(term.lon, abs=1e-4)
    assert by(got["leo_terminal_elevation_meters"], "terminal_id")[term.imei] == term.elevation
    components = {
        (s.labels["component"], s.labels["version"])
        for s in got["leo_terminal_component_info"]
        if s.labels["terminal_id"] == term.imei
    }
    assert components == set(term.components)
    assert got["leo_terminal_first_seen_timestamp_seconds"] and got["leo_terminal_last_seen_timestamp_seconds"]

    lines = {s.labels["service_line"]: s.labels for s in got["leo_service_line_info"]}
    assert set(lines) == {p.product_id for p in acc.products}
    assert lines[term.product_id]["terminal_id"] == term.imei
    assert "product" not in lines[term.product_id] and lines[term.product_id]["product_name"]  # a name, no id
    assert lines[term.product_id]["provider_account"] == acc.partner.org_id
    active = by(got["leo_service_line_active"], "service_line")
    assert sorted(active.values()).count(0.0) == 1  # the suspended spare
    assert got["leo_service_line_usage_limit_bytes"]
    assert got["leo_service_line_max_downlink_throughput_bytes_per_second"]
    assert got["leo_service_line_max_uplink_throughput_bytes_per_second"]
    assert got["leo_service_line_overage_increment_bytes"]

    orgs = {s.labels["organization"]: s.labels for s in got["leo_organization_info"]}
    assert orgs[acc.partner.org_id]["organization_kind"] == "distribution_partner"
    assert all(orgs[c.org_id]["parent"] == acc.partner.org_id for c in acc.customers)
    assert {s.labels["site"] for s in got["leo_site_info"]} == {s.site_id for s in acc.sites}
    (account_info,) = (s.labels for s in got["leo_account_info"])
    assert account_info["account"] == "ow-test" and account_info["provider_account"] == acc.partner.org_id
    assert account_info["provider_account_name"] == acc.partner.name

    for name in ("leo_terminal_link_availability_ratio", "leo_terminal_rsrp_dbm", "leo_terminal_rssi_dbm"):
        assert got[name], name
    sinr = by(got["leo_terminal_sinr_decibels"], "terminal_id")
    assert set(sinr) == imeis - offline  # offline terminals report no signal
    traffic = {(s.labels["terminal_id"], s.labels["traffic"]) for s in got["leo_terminal_receive_bytes_total"]}
    assert {t for _, t in traffic} == {"cnx", "mgmt", "wan"}
    assert got["leo_terminal_transmit_bytes_total"]

    # DiffServ classes are `traffic_class`; `class` means a usage class only
    classes = {s.labels["traffic_class"] for s in got["leo_service_line_downlink_throughput_bytes_per_second"]}
    assert classes == {"expedited_forwarding", "assured_forwarding", "best_effort"}
    assert got["leo_service_line_uplink_throughput_bytes_per_second"]

    usage = {(s.labels["service_line"], s.labels["class"]) for s in got["leo_service_line_usage_bytes"]}
    assert {c for _, c in usage} >= {"monthly_data", "shared_pool_data"}
    for name in (
        "leo_service_line_usage_remaining_bytes",
        "leo_service_line_usage_entitlement_bytes",
        "leo_service_line_usage_balance_bytes",
        "leo_service_line_usage_overage_blocks",
        "leo_service_line_usage_bucket_info",
        "leo_service_line_billing_cycle_start_timestamp_seconds",
        "leo_service_line_billing_cycle_end_timestamp_seconds",
        "leo_service_line_usage_updated_timestamp_seconds",
    ):
        assert got[name], name
    pools = {s.labels["sub_pool"] for s in got["leo_service_line_usage_bucket_info"]} - {""}
    assert len(pools) == 1
    # the sub-pool is also a shared data pool, in the families Starlink's pools use: capacity is the
    # pool's entitlement (once, not per member), use the members' usage added up
    (pool,) = pools
    assert [s.labels["pool"] for s in got["leo_data_pool_info"]] == [pool]
    members = {p.product_id for p in acc.products if p.pool == pool}
    shares = by(got["leo_data_pool_service_line_usage_bytes"], "service_line")
    assert set(shares) == members
    used = by(got["leo_service_line_usage_bytes"], "service_line")
    assert got["leo_data_pool_usage_bytes"][0].value == pytest.approx(sum(used[m] for m in members))
    entitlement = by(got["leo_service_line_usage_entitlement_bytes"], "service_line")
    assert got["leo_data_pool_capacity_bytes"][0].value == max(entitlement[m] for m in members)
    # each product's cycle starts on its own day of the month; the usage report is from 2026-03-17
    cycle_start = by(got["leo_service_line_billing_cycle_start_timestamp_seconds"], "service_line")
    updated = by(got["leo_service_line_usage_updated_timestamp_seconds"], "service_line")
    for p in acc.products:
        if p.product_id in cycle_start:
            expected = cycle_bounds(p.anchor, datetime.fromtimestamp(updated[p.product_id], UTC))[0]
            assert cycle_start[p.product_id] == expected.timestamp()
    assert len(set(cycle_start.values())) > 2
    assert {(s.labels["account"], s.labels["call"]): s.value for s in got["leo_exporter_job_up"]} == {
        ("ow-test", j): 1.0 for j in JOBS
    }
    assert got["leo_exporter_account_authenticated"][0].value == 1


async def test_report_times_are_the_reports_own_and_never_the_scrape_time(
    sim: OneWebSimulator, clock: FakeClock
) -> None:
    exporter = make_exporter(sim)
    got = await run(exporter)
    term = sim.accounts[0].terminals[0].imei
    times = by(got["leo_terminal_report_timestamp_seconds"], "report", terminal_id=term)
    assert times["link_availability"] == sim.period_end(sim.report_period(SIGNAL_DELAY))
    assert times["signal_quality"] == times["link_availability"]
    assert times["traffic"] == sim.period_end(sim.report_period(TRAFFIC_DELAY))
    assert all(t <= clock.now - SIGNAL_DELAY and t % PERIOD == 0 for t in times.values())
    product = sim.accounts[0].terminals[0].product_id
    line_times = by(got["leo_service_line_report_timestamp_seconds"], "report", service_line=product)
    assert line_times == {"throughput": sim.period_end(sim.report_period(THROUGHPUT_DELAY))}
    updated = by(got["leo_service_line_usage_updated_timestamp_seconds"], "service_line")[product]
    assert updated < clock.now - 3600


async def test_an_older_report_is_ignored_and_a_report_is_counted_once(
    sim: OneWebSimulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = make_exporter(sim)
    perf = ("user_terminals", "products", "terminal_performance", "product_performance", "usage_consumption")
    first = await run(exporter, perf)
    again = await run(exporter, perf[2:])  # the same reports polled again: nothing moves, nothing doubles
    names = (
        "leo_terminal_receive_bytes_total",
        "leo_terminal_report_timestamp_seconds",
        "leo_terminal_sinr_decibels",
        "leo_service_line_report_timestamp_seconds",
        "leo_service_line_usage_bytes",
    )
    for name in names:
        assert again[name] == first[name], name

    sim.report_shift = 3 * 3600.0  # the API now serves reports from three hours ago
    caplog.set_level("DEBUG", logger="leo_exporter.oneweb")
    older = await run(exporter, perf[2:])
    for name in names:
        assert older[name] == first[name], name
    assert "older than the one applied" in caplog.text

    sim.report_shift = 0.0
    clock.now += PERIOD  # the next quarter hour's report comes out
    newer = await run(exporter, perf[2:])
    term = sim.accounts[0].terminals[0].imei
    t_old = by(first["leo_terminal_report_timestamp_seconds"], "report", terminal_id=term)
    t_new = by(newer["leo_terminal_report_timestamp_seconds"], "report", terminal_id=term)
    assert all(t_new[r] == t_old[r] + PERIOD for r in t_old)
    rx_old = by(first["leo_terminal_receive_bytes_total"], "traffic", terminal_id=term)
    rx_new = by(newer["leo_terminal_receive_bytes_total"], "traffic", terminal_id=term)
    assert all(rx_new[t] > rx_old[t] for t in rx_old)  # an online terminal: one more period added
    wan = next(s for s in sim.terminal_reports(sim.accounts[0]) if s["userTerminalId"] == term)["traffic"]["wanRx"]
    assert rx_new["wan"] == rx_old["wan"] + wan


async def test_a_report_stamped_years_ahead_is_rejected_and_later_reports_still_apply(
    sim: OneWebSimulator, clock: FakeClock
) -> None:
    """Sibling of the Starlink row from the future (issue #25): a report ten years ahead was kept
    and made every later report look older, freezing the terminal's figures until a restart."""
    exporter = make_exporter(sim)
    perf = ("user_terminals", "products", "terminal_performance")
    sim.report_shift = -10 * 365 * 86400.0  # reports stamped ten years ahead
    future = await run(exporter, perf)
    term = sim.accounts[0].terminals[0].imei
    assert by(future.get("leo_terminal_report_timestamp_seconds", []), "report", terminal_id=term) == {}
    invalid = by(future["leo_exporter_invalid_values_total"], "field")
    assert set(invalid) == {"link_availability_time", "signal_quality_time", "traffic_time"}
    sim.report_shift = 0.0
    now = await run(exporter, perf[2:])
    times = by(now["leo_terminal_report_timestamp_seconds"], "report", terminal_id=term)
    assert times["link_availability"] == sim.period_end(sim.report_period(SIGNAL_DELAY))
    assert times["link_availability"] <= clock.now


async def test_performance_drifts_and_usage_grows_through_the_month(sim: OneWebSimulator, clock: FakeClock) -> None:
    exporter = make_exporter(sim)
    jobs = ("user_terminals", "products", "terminal_performance", "usage_consumption")
    before = await run(exporter, jobs)
    clock.now += 2 * 86400 + 3 * PERIOD
    after = await run(exporter, jobs)
    rsrp0, rsrp1 = by(before["leo_terminal_rsrp_dbm"], "terminal_id"), by(after["leo_terminal_rsrp_dbm"], "terminal_id")
    assert any(rsrp0[t] != rsrp1[t] for t in rsrp0)
    used0 = by(before["leo_service_line_usage_bytes"], "service_line")
    used1 = by(after["leo_service_line_usage_bytes"], "service_line")
    start0 = by(before["leo_service_line_billing_cycle_start_timestamp_seconds"], "service_line")
    start1 = by(after["leo_service_line_billing_cycle_start_timestamp_seconds"], "service_line")
    same = [p for p in used0 if start1[p] == start0[p]]  # a product whose cycle began meanwhile starts over
    assert same and all(used1[p] > used0[p] for p in same)
    assert all(used1[p] < used0[p] and start1[p] > start0[p] for p in set(used0) - set(same))
    remaining0 = by(before["leo_service_line_usage_remaining_bytes"], "service_line")
    remaining1 = by(after["leo_service_line_usage_remaining_bytes"], "service_line")
    assert all(remaining1[p] <= remaining0[p] for p in remaining0 if p in same)


async def test_overage_blocks_appear_once_the_allowance_is_used_up(sim: OneWebSimulator, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 28, 12, tzinfo=UTC).timestamp()
    exporter = make_exporter(sim)
    got = await run(exporter, ("products", "usage_consumption"))
    heavy = sim.state()["accounts"][0]["overageProducts"]
    assert len(heavy) == 1
    blocks = by(got["leo_service_line_usage_overage_blocks"], "service_line")
    assert blocks[heavy[0]] >= 1
    assert by(got["leo_service_line_usage_remaining_bytes"], "service_line")[heavy[0]] == 0
    assert all(v == 0 for p, v in blocks.items() if p != heavy[0])


async def test_a_terminal_going_offline_and_leaving_the_inventory(sim: OneWebSimulator) -> None:
    exporter = make_exporter(sim)
    await run(exporter)
    acc = sim.accounts[0]
    online_one = next(t for t in acc.terminals if t.index not in acc.offline)
    sim.set_online(online_one.imei, False)
    got = await run(exporter, ("user_terminals",))
    assert by(got["leo_terminal_online"], "terminal_id")[online_one.imei] == 0

    gone = acc.terminals.pop()
    got = await run(exporter, ("user_terminals", "terminal_performance"))
    for name in ("leo_terminal_info", "leo_terminal_online", "leo_terminal_receive_bytes_total"):
        assert gone.imei not in {s.labels["terminal_id"] for s in got[name]}, name


async def test_online_from_performance_reports_when_the_inventory_job_is_off(sim: OneWebSimulator) -> None:
    exporter = make_exporter(sim, jobs={"user_terminals": {"enabled": False}})
    got = await run(exporter, ("terminal_performance",))
    acc = sim.accounts[0]
    online = by(got["leo_terminal_online"], "terminal_id")
    assert {t for t, v in online.items() if v == 0} == {acc.terminals[i].imei for i in acc.offline}


async def test_lat_lon_order_is_configurable(sim: OneWebSimulator) -> None:
    exporter = make_exporter(sim, location_order="lat_lon")
    got = await run(exporter, ("user_terminals",))
    term = sim.accounts[0].terminals[0]
    lat = by(got["leo_terminal_latitude_degrees"], "terminal_id")
    assert lat.get(term.imei) == pytest.approx(term.lon, abs=1e-4) or (
        abs(term.lon) > 90 and term.imei not in lat  # a longitude beyond ±90 cannot be a latitude: dropped
    )


async def test_paging_modes_against_the_simulator(clock: FakeClock) -> None:
    paged = OneWebSimulator(accounts=1, terminals=9, seed=2, clock=clock, page_default=4)
    exporter = make_exporter(paged, page_size=3)  # auto: the server paged by itself, the rest by offset
    got = await run(exporter, ("user_terminals",))
    assert len(got["leo_terminal_info"]) == 9
    exporter = make_exporter(paged, pagination="offset", page_size=2)
    got = await run(exporter, ("user_terminals", "products"))
    assert len(got["leo_terminal_info"]) == 9 and len(got["leo_service_line_info"]) == 11
    no_count = OneWebSimulator(accounts=1, terminals=9, seed=2, clock=clock, total_count=False)
    exporter = make_exporter(no_count, pagination="offset", page_size=4)
    got = await run(exporter, ("user_terminals",))
    assert len(got["leo_terminal_info"]) == 9
    exporter = make_exporter(no_count, pagination="none")
    got = await run(exporter, ("user_terminals",))
    assert len(got["leo_terminal_info"]) == 9
