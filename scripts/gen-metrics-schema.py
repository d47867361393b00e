#!/usr/bin/env python3
"""Regenerate docs/metrics-schema.json from the catalogue and one simulated exposition.

Run after a change to the metric catalogue or to what a provider exports; the schema's test
(tests/test_metric_schema.py) fails until the schema and the exposition agree again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leo_exporter.simulator.calendar import ENV_VAR  # noqa: E402

os.environ.setdefault(ENV_VAR, "2027-03-01T00:30:00Z")  # tests/conftest.py's date: same world

import anyio  # noqa: E402

from leo_exporter.catalog import COLLECTORS  # noqa: E402
from leo_exporter.metric_schema import build, dumps, observe, series_per_terminal  # noqa: E402
from leo_exporter.providers import built_in, built_in_catalog  # noqa: E402
from tests.inprocess import poll_all, simulated_exporter  # noqa: E402

OUT = ROOT / "docs" / "metrics-schema.json"


async def exposition() -> str:
    exporter, _ = simulated_exporter(accounts=2, terminals=30, every_collector=True)
    try:
        await poll_all(exporter)
        assert exporter.exposition is not None
        return exporter.exposition.plain.decode()
    finally:
        await exporter.aclose()


def main() -> int:
    text = anyio.run(exposition)
    OUT.write_text(dumps(build(observe(text), built_in_catalog())))
    print(f"wrote {OUT.relative_to(ROOT)}")
    if "--series" in sys.argv:  # the table of docs/metrics.md's "Collectors" section
        table = series_per_terminal(text)
        providers = tuple(built_in())
        print("| collector | " + " | ".join(providers) + " |")
        print("|---|" + "---:|" * len(providers))
        for name in COLLECTORS:
            row = table.get(name, {})
            print(f"| `{name}` | " + " | ".join(f"{row[p]:.1f}" if p in row else "—" for p in providers) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
