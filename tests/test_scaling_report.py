"""The cost curve's report (bench/scaling.py --report-only, bench/curve.py) on results the test
writes: the growth it states, where one process stops being enough, the table and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.curve import pod_memory_limit_mib
from tests.processes import ROOT

pytestmark = pytest.mark.e2e  # runs bench/scaling.py as a process


def result(terminals: int, *, shards: int = 1, rss: float, render: float) -> dict[str, Any]:
    """A bench/fleet.py result with the keys the report reads: series and sizes exactly linear."""
    per_shard = [rss / shards] * shards
    return {
        "terminals": terminals, "accounts": 20, "layout": "front", "shards": shards,
        "series": 60 * terminals, "render_s": render, "scrape_gzip_p99_ms": 20.0, "ingest_scrape_p99_ms": 24.0,
        "ingest_job_s": 1.0, "ingest_s": 0.1, "freshness_p99_s": 1.5, "peak_rss_mib": rss,
        "peak_rss_shards_mib": per_shard if shards > 1 else None, "exposition_gzip_mib": terminals / 1600,
        "exposition_plain_mib": terminals / 120, "load_average": [1.5, 1.2, 1.0],
    }  # fmt: skip


def report(tmp_path: Path, runs: list[dict[str, Any]], shards_at: str) -> tuple[dict[str, Any], str]:
    results = tmp_path / "results"
    results.mkdir()
    for run in runs:
        (results / f"fleet-{run['terminals']}.json").write_text(json.dumps(run))
    sizes = ",".join(str(run["terminals"]) for run in runs)
    command = [sys.executable, "bench/scaling.py", "--report-only", "--sizes", sizes, "--shards-at", shards_at,
               "--results-dir", str(results), "--published", str(tmp_path / "pub"), "--plot", str(tmp_path / "c.png")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    png = (tmp_path / "c.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    return json.loads((tmp_path / "pub" / "scaling.json").read_text()), (tmp_path / "pub" / "scaling.md").read_text()


def test_the_report_states_growth_and_where_one_process_stops(tmp_path: Path) -> None:
    limit = pod_memory_limit_mib()
    # memory: half the pod's limit at 1,000 terminals, twice it at 4,000 (linear): crosses at 2,000
    runs = [result(1000, rss=limit / 2, render=0.1), result(4000, rss=limit * 2, render=0.8)]
    summary, text = report(tmp_path, runs, "")
    fits = summary["fits"]
    assert fits["series"]["exponent"] == 1.0 and fits["series"]["growth"] == "linear"
    assert fits["render_s"]["exponent"] == 1.5 and fits["render_s"]["growth"] == "worse than linear"
    assert fits["freshness_p99_s"]["growth"] == "flat"
    assert fits["process_rss_mib"]["one_process_up_to"] == pytest.approx(2000)
    assert summary["one_process_limit"]["terminals"] == pytest.approx(2000)
    assert "One process stops being enough at about **2,000 terminals**" in text
    assert "| 1,000 | 1 | 60,000 |" in text and "| 4,000 | 1 | 240,000 |" in text
    assert "full render with gzip: ∝ terminals^1.50, worse than linear" in text


def test_a_sharded_point_counts_for_the_fleet_not_for_one_process(tmp_path: Path) -> None:
    runs = [
        result(1000, rss=100, render=0.1),
        result(2000, rss=200, render=0.2),
        result(8000, shards=2, rss=800, render=0.8),
    ]  # the sharded point: each shard holds 400 MiB, yet the one-process fit ends at 2,000 terminals
    summary, text = report(tmp_path, runs, "8000:2")
    fits = summary["fits"]
    assert [x for x, _ in fits["peak_rss_mib"]["points"]] == [1000, 2000, 8000]
    assert [x for x, _ in fits["process_rss_mib"]["points"]] == [1000, 2000]
    assert fits["peak_rss_mib"]["exponent"] == 1.0
    assert "| 8,000 | 2 | 480,000 |" in text and "800 (400 + 400)" in text
