"""Figures the docs quote about a large fleet come from one benchmark result, not retyped by hand.

bench/published/fleet-50000.json is the run of record (bench/fleet.py's JSON). The README's
Performance table, the memory notes of the Kubernetes manifests and docs/deploy.md, and the
scrape-size notes of prometheus.yml and docs/alerting.md must quote it; a new benchmark run
replaces the JSON, and this test names every place that then needs the new figures.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.processes import ROOT

RESULT = json.loads((ROOT / "bench" / "published" / "fleet-50000.json").read_text())


def performance_table() -> dict[str, str]:
    section = (ROOT / "README.md").read_text().split("## Performance", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|", section, flags=re.MULTILINE)
    return {name: value.replace("*", "") for name, value in rows}


def mib_per_thousand() -> str:
    return f"about {RESULT['peak_rss_mib'] / (RESULT['terminals'] / 1000):.0f} MiB per 1,000"


def million_series() -> str:
    return f"about {RESULT['series'] / 1e6:.1f} million series"


def test_the_readme_performance_table_quotes_the_result() -> None:
    r = RESULT
    table = performance_table()
    expected = {
        "series at 50,000 terminals (with routers and service lines)": f"{r['series']:,}",
        "time from start until every terminal is exported": f"{r['time_to_exported_s']} s",
        "peak resident memory of the exporter": f"{r['peak_rss_mib']} MiB",
        "exposition size, plain / gzip": f"{r['exposition_plain_mib']} MiB / {r['exposition_gzip_mib']} MiB",
        "scrape p50 / p99, gzip, 4 concurrent scrapers": f"{r['scrape_gzip_p50_ms']} / {r['scrape_gzip_p99_ms']} ms",
        "decode + apply one 65,000-row batch (65,000 distinct devices)": f"{r['ingest_s']} s",
    }
    for row, value in expected.items():
        assert table.get(row) == value, f"README Performance, {row!r}: {table.get(row)!r}, the result says {value!r}"
    ours, stock = r["render_text_s"], r["stock_render_s"]
    assert any(v.startswith(f"{ours} s / {stock} s: {r['render_text_ratio']}x") for v in table.values())


@pytest.mark.parametrize(
    "path",
    ["deploy/kubernetes/base/deployment.yaml", "deploy/kubernetes/sharded/statefulset.yaml", "docs/deploy.md"],
)
def test_memory_notes_quote_the_result(path: str) -> None:
    text = (ROOT / path).read_text()
    assert f"{RESULT['peak_rss_mib']} MiB peak" in text, path
    assert mib_per_thousand() in text, path
    assert "GiB for 50,000" not in text and "GiB at 50,000" not in text


@pytest.mark.parametrize("path", ["deploy/prometheus/prometheus.yml", "docs/alerting.md"])
def test_scrape_size_notes_quote_the_result(path: str) -> None:
    text = " ".join((ROOT / path).read_text().replace("#", " ").split())
    assert million_series() in text, path
    assert f"{RESULT['exposition_plain_mib']} MiB" in text and f"{RESULT['exposition_gzip_mib']} MiB" in text, path


def test_series_per_terminal_in_the_scrape_config_matches_the_result() -> None:
    per_terminal = RESULT["series"] / RESULT["terminals"]
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    [quoted] = re.findall(r"about (\d+) series per terminal", text)
    assert abs(int(quoted) - per_terminal) / per_terminal < 0.1, f"{quoted} vs {per_terminal:.1f}"
