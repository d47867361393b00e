"""The shipped split scrape config (deploy/prometheus/prometheus-split.yml) against a real Prometheus:
two targets of one exporter (`collect[]` fast and slow groups, the slow one scraped less often)
give the same series as one scrape, under `job="leo-exporter"`, and every shipped rule evaluates."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SIMULATED_DATE, free_port
from tests.promstack import REPO, ProcessGroup, PromAPI, poll, rules, start_prometheus, wait_http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PromAPI, str]]:
    tmp: Path = tmp_path_factory.mktemp("split")
    procs = ProcessGroup()
    try:
        port = free_port()
        argv = [sys.executable, "-m", "leo_exporter", "--web.listen-address", f"127.0.0.1:{port}"]
        argv += ["--simulator.now", SIMULATED_DATE]
        exporter = procs.start(
            "exporter",
            argv,
            tmp / "exporter.log",
            cwd=REPO,
        )
        prom, proc = start_prometheus(procs, tmp, f"127.0.0.1:{port}", file="prometheus-split.yml")
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz", exporter, timeout=60)
        deadline = time.monotonic() + 60
        while "first runs: all rendered" not in httpx.get(f"{url}/readyz?verbose", timeout=5).text:
            assert time.monotonic() < deadline, "the exporter's first runs did not all render"
            time.sleep(0.25)
        wait_http(f"{prom.url}/-/ready", proc, timeout=30)
        yield prom, url
    finally:
        procs.stop_all()


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
    poll(
        "12 s of scrapes",
        lambda: any(
            float(r["value"][1]) >= 12 for r in prom.query('count_over_time(up{job="leo-exporter",collect="fast"}[1m])')
        ),
        timeout=60,
    )

    def evaluated() -> list[dict[str, Any]] | None:
        flat = [r for g in prom.rules() for r in g["rules"]]
        return flat if flat and not any(r["lastEvaluation"].startswith("0001") for r in flat) else None

    flat = poll("every rule evaluated", evaluated, timeout=30)
    assert len(flat) == len(rules())
    broken = [(r["name"], r.get("lastError")) for r in flat if r["health"] != "ok"]
    assert not broken, f"rules failing to evaluate: {broken}"
    # joins across the two targets (terminals: fast; service lines and usage: slow) give results
    accounts = prom.query("count by (provider, account) (leo_terminal_online)")
    counted = prom.query("provider_account:leo_terminals:count")
    assert accounts and len(counted) == len(accounts)
    join = "leo_terminal_info * on (provider, account, service_line) group_left leo_service_line_active"
    assert prom.query(join)
