"""The fleet benchmark runs end to end on a small fleet (the full-size run is not part of CI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.processes import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # benchmarks: the machine quiet


def test_fleet_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    result = subprocess.run(
        [sys.executable, "bench/fleet.py", "--terminals", "300", "--accounts", "2", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio, text (stock ÷ ours)" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["terminals"] == 300
    assert figures["series"] > 300 * 10
    assert figures["stock_render_s"] > figures["render_text_s"] > 0
    assert figures["ingest_rows"] > 0  # a 300-terminal fleet has fewer rows than a full batch
    assert figures["ingest_scrapes"] > 0
    assert 0 < figures["peak_rss_mib"] < 1024
    assert figures["scrape_gzip_p99_ms"] > 0
    # what the start cost: both sides used CPU, no more than the machine had meanwhile
    used = figures["startup_exporter_cpu_s"] + figures["startup_simulator_cpu_s"]
    assert figures["startup_exporter_cpu_s"] > 0 and figures["startup_simulator_cpu_s"] > 0
    assert used <= figures["time_to_exported_s"] * figures["cpus"] + 1


@pytest.mark.timeout(300)
def test_fleet_benchmark_measures_prometheus_side_of_two_shards(tmp_path: Path) -> None:
    """A real Prometheus scrapes both shards: it reads every series of their expositions, each
    scrape takes time and succeeds, and its own memory is reported; the series split by collector
    adds up, and each shard's memory is reported beside the total."""
    require_tool("prometheus")
    out = tmp_path / "fleet.json"
    result = subprocess.run(
        [sys.executable, "bench/fleet.py", "--terminals", "500", "--quick", "--skip-stock", "--shards", "2",
         "--prometheus", "--prometheus-interval", "2s", "--prometheus-scrapes", "2", "--prometheus-split",
         "--prometheus-http-sd", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    series = figures["series_exposition"]
    assert sum(figures["series_by_collector"].values()) == series > 500 * 10
    # the fleet gains a few series while it runs (new alerts, IP allocations): near, not equal
    assert abs(figures["prometheus_samples_scraped"] - series) / series < 0.05
    assert figures["prometheus_scrapes"] >= 2 and figures["prometheus_all_up"] is True
    assert 0 < figures["prometheus_scrape_duration_last_s"] <= figures["prometheus_scrape_duration_s"] < 2
    assert figures["prometheus_peak_rss_mib"] >= figures["prometheus_rss_mib"] > 10
    assert len(figures["prometheus_scrape_durations_s"]) == 2
    assert figures["targets"]["prometheus_scrape_duration_s"]["met"] is True
    [row] = [line for line in result.stdout.splitlines() if "Prometheus' longest scrape, one job" in line]
    assert f"{figures['prometheus_samples_scraped']:,} samples" in row
    assert len(figures["peak_rss_shards_mib"]) == 2 and len(figures["peak_rss_processes_mib"]) == 4  # front + worker
    # the shipped split config: a fast and a slow target per shard, together every series once,
    # the slow ones scraped a quarter as often, so fewer samples a minute
    assert len(figures["prometheus_split_scrape_durations_s"]) == 4 and figures["prometheus_split_all_up"] is True
    assert abs(figures["prometheus_split_samples_scraped"] - series) / series < 0.05
    assert figures["prometheus_split_samples_per_minute"] < figures["prometheus_samples_per_minute"]
    assert sum(figures["peak_rss_shards_mib"]) == pytest.approx(figures["peak_rss_mib"])
    # the shipped http_sd config: each shard lists its accounts, a fast and a slow target each, and
    # one fast target of its own figures; together every series once
    accounts = figures["accounts"]
    assert len(figures["prometheus_http_sd_scrape_durations_s"]) == 2 * accounts + 2
    assert figures["prometheus_http_sd_all_up"] is True
    assert abs(figures["prometheus_http_sd_samples_scraped"] - series) / series < 0.05
    assert figures["targets"]["prometheus_http_sd_scrape_duration_s"]["measured"] > 0


@pytest.mark.timeout(420)
def test_mixed_fault_benchmark_smoke(tmp_path: Path) -> None:
    """bench/faults.py on a quarter of a minute: nothing crashes, no budget is exceeded, all recover."""
    out = tmp_path / "faults.json"
    result = subprocess.run(
        [sys.executable, "bench/faults.py", "--minutes", "0.25", "--fault-every", "2", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert len(figures["requests"]) == 6  # two accounts of each provider
    assert figures["crashes"] == 0 and figures["tracebacks"] == 0
    assert figures["over_budget_accounts"] == [] and figures["last_good_data_kept"] is True
    assert figures["recovery_seconds"] is not None and sum(figures["faults_injected"].values()) >= 5
    assert figures["clock_steps"] >= 1 and not figures["frozen_exposition"]  # a step back 90 s froze nothing
