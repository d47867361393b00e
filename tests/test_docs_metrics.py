"""docs/metrics.md is held to the catalogue and to what the exporter actually serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.catalog import BY_NAME, IDENTITY_LABEL, PROCESS_CATALOG
from leo_exporter.providers import built_in_catalog
from tests.inprocess import poll_all, simulated_exporter

DOC = Path(__file__).parent.parent / "docs" / "metrics.md"
ROW = re.compile(r"^\| `((?:leo|process)_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|", re.M)


def documented() -> dict[str, tuple[str, set[str]]]:
    rows = {}
    for name, kind, labels in ROW.findall(DOC.read_text()):
        assert name not in rows, f"{name} documented twice"
        rows[name] = (kind, {label.strip() for label in labels.split(",") if label.strip() not in ("", "—")})
    return rows


def test_every_catalogued_metric_is_documented_with_its_type_and_labels() -> None:
    docs = documented()
    catalogue = (*built_in_catalog(), *PROCESS_CATALOG)  # a plug-in documents its families on its own page
    assert set(docs) == {spec.name for spec in catalogue}
    for spec in catalogue:
        kind, labels = docs[spec.name]
        assert kind == spec.type, spec.name
        identity = IDENTITY_LABEL[spec.entity]
        needed = set(spec.extra) | ({identity} if identity else set())
        if spec.entity not in ("exporter", "process"):
            needed |= {"provider", "account"}
        assert needed <= labels, (spec.name, needed - labels)


@pytest.mark.anyio
async def test_everything_the_exporter_serves_is_documented() -> None:
    exporter, _ = simulated_exporter(accounts=2, terminals=30, every_collector=True)
    await poll_all(exporter)
    assert exporter.exposition is not None
    docs = documented()
    seen = set()
    for family in text_string_to_metric_families(exporter.exposition.plain.decode()):
        name = family.name + "_total" if family.type == "counter" else family.name
        assert name in BY_NAME, f"{name} is served but not in the catalogue"
        _, labels = docs[name]
        for sample in family.samples:
            # `tag_<key>` stands for the user's tag labels: any `tag_*` on the families that list it
            given = {k for k in sample.labels if not (k.startswith("tag_") and "tag_<key>" in labels)}
            assert given <= labels, (name, given - labels)
        seen.add(name)
    assert len(seen) >= 45
