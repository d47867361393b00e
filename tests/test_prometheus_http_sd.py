"""The shipped HTTP service discovery config (deploy/prometheus/prometheus-http-sd.yml) against a
real Prometheus: it finds one target per account (and the exporter's own) at the exporter's
/http_sd, in a fast and a slow job, scrapes them all, and holds the same series as one scrape,
under `job="leo-exporter"`, with the target labels dropped from the data; every shipped rule
evaluates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.promstack import PromAPI, assert_every_shipped_rule_evaluates, poll, simulator_exporter_and_prometheus

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PromAPI, str]]:
    with simulator_exporter_and_prometheus(tmp_path_factory.mktemp("http-sd"), "prometheus-http-sd.yml") as both:
        yield both


def test_every_account_is_a_target_and_together_they_hold_every_family_of_one_scrape(
    discovered: tuple[PromAPI, str],
) -> None:
    prom, url = discovered
    whole = httpx.get(f"{url}/metrics", timeout=30).text
    families = {line.split()[2] for line in whole.splitlines() if line.startswith("# TYPE ")}
    expected = {f for f in families if not f.startswith("process_")} - {"leo_exporter_worker_up"}
    listed = [group["labels"].get("scrape_account") for group in httpx.get(f"{url}/http_sd", timeout=5).json()]
    accounts = {name for name in listed if name}
    assert len(accounts) >= 3

    def scraped() -> bool:
        up = prom.query('min_over_time(up{job="leo-exporter"}[1m])')
        names = set(prom.label_values("__name__", '{job="leo-exporter"}'))
        return len(up) == 2 * len(accounts) + 1 and expected <= names

    poll("every discovered target scraped, every family in Prometheus", scraped, timeout=90)
    up = prom.query('up{job="leo-exporter"}')
    assert all(r["value"][1] == "1" for r in up)
    by_collect: dict[str, set[str]] = {}
    for r in up:
        by_collect.setdefault(r["metric"]["collect"], set()).add(r["metric"].get("scrape_account", ""))
    assert by_collect == {"fast": accounts | {""}, "slow": accounts}
    assert not prom.query('{job="leo-exporter",scrape_account!="",__name__=~"leo_.*"}')  # dropped from the data
    assert not prom.query('{job="leo-exporter",collect!="",__name__=~"leo_.*"}')
    exported = {line.split(" ")[0] for line in whole.splitlines() if line.startswith("leo_terminal_online{")}
    assert len(prom.query("leo_terminal_online")) == len(exported) > 0  # every terminal, once


def test_every_shipped_rule_evaluates_against_the_discovered_targets(discovered: tuple[PromAPI, str]) -> None:
    prom, _ = discovered
    assert_every_shipped_rule_evaluates(prom)
