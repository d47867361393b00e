"""docs/metrics-schema.json is the catalogue plus what the simulator of all three providers serves:
a change to a family's type, unit, labels, collector or providers fails here until the schema is
regenerated on purpose (scripts/gen-metrics-schema.py) and the change is in CHANGELOG.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leo_exporter.catalog import PROCESS_CATALOG
from leo_exporter.metric_schema import build, disagreements, dumps, observe
from leo_exporter.providers import built_in_catalog
from tests.inprocess import poll_all, simulated_exporter

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "metrics-schema.json"


@pytest.fixture(scope="module")
def observed() -> dict[str, dict[str, set[str]]]:
    import anyio

    async def live() -> str:
        exporter, _ = simulated_exporter(accounts=2, terminals=30, every_collector=True)
        try:
            await poll_all(exporter)
            assert exporter.exposition is not None
            return exporter.exposition.plain.decode()
        finally:
            await exporter.aclose()

    return observe(anyio.run(live))


def test_the_simulators_exposition_agrees_with_the_checked_in_schema(observed: dict) -> None:
    schema = json.loads(SCHEMA.read_text())
    problems = list(disagreements(schema, observed))
    assert not problems, "run scripts/gen-metrics-schema.py if the change is meant:\n" + "\n".join(problems)
    assert {"kognitive", "oneweb", "starlink"} <= {p for by in observed.values() for p in by}


def test_the_schema_is_generated_from_the_catalogue(observed: dict) -> None:
    text = SCHEMA.read_text()
    assert text == dumps(build(observed, built_in_catalog())), "run scripts/gen-metrics-schema.py"
    families = json.loads(text)["families"]
    assert list(families) == [spec.name for spec in (*built_in_catalog(), *PROCESS_CATALOG)]
    assert families["leo_terminal_downlink_throughput_bytes_per_second"]["unit"] == "bytes_per_second"
    assert families["leo_router_clients"]["collector"] == "router"
    assert families["leo_service_line_usage_bytes"]["collector"] == "usage"
    assert families["process_resident_memory_bytes"]["collector"] == "exporter"


def test_a_disagreement_is_named() -> None:
    schema = build({"leo_terminal_online": {"starlink": {"provider", "account", "terminal_id"}}})
    served = {"leo_terminal_online": {"oneweb": {"provider", "account", "terminal_id", "job"}}}
    problems = list(disagreements(schema, served))
    assert any("['job'] served but not in the schema" in p for p in problems)
    assert any("emitted by ['oneweb'], schema says ['starlink']" in p for p in problems)
