"""The shipped split scrape config (deploy/prometheus/prometheus-split.yml) against a real Prometheus:
two targets of one exporter (`collect[]` fast and slow groups, the slow one scraped less often)
give the same series as one scrape, under `job="leo-exporter"`, and every shipped rule evaluates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.promstack import PromAPI, assert_every_shipped_rule_evaluates, poll, simulator_exporter_and_prometheus

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PromAPI, str]]:
    with simulator_exporter_and_prometheus(tmp_path_factory.mktemp("split"), "prometheus-split.yml") as both:
        yield both


def _names(prom: PromAPI) -> set[str]:
    return set(prom.label_values("__name__", '{job="leo-exporter"}'))


def test_the_split_targets_together_give_every_family_of_one_scrape(split: tuple[PromAPI, str]) -> None:
    prom, url = split
    whole = httpx.get(f"{url}/metrics", timeout=30).text
    families = {line.split()[2] for line in whole.splitlines() if line.startswith("# TYPE ")}
    expected = {f for f in families if not f.startswith("process_")} - {"leo_exporter_worker_up"}

    def scraped() -> bool:
        ups = prom.query('min_over_time(up{job="leo-exporter"}[1m])')
        return len(ups) == 2 and expected <= _names(prom)

    poll("both targets scraped, every family in Prometheus", scraped, timeout=60)
    ups = prom.query('up{job="leo-exporter"}')
    assert {r["metric"]["collect"] for r in ups} == {"fast", "slow"}
    assert all(r["value"][1] == "1" for r in ups)
    assert not prom.query('{job="leo-exporter",collect!="",__name__=~"leo_.*"}')  # dropped from the data


def test_every_shipped_rule_evaluates_against_the_split_scrape(split: tuple[PromAPI, str]) -> None:
    prom, _ = split
    assert_every_shipped_rule_evaluates(prom)
    # joins across the two targets (terminals: fast; service lines and usage: slow) give results
    accounts = prom.query("count by (provider, account) (leo_terminal_online)")
    counted = prom.query("provider_account:leo_terminals:count")
    assert accounts and len(counted) == len(accounts)
