"""The golden exposition: what the exporter serves for a fixed-seed simulated world that stands
still at a fixed date, compared byte for byte with tests/golden/exposition.prom (client_python's
and node_exporter's habit).

Every job runs once against the three built-in simulated providers (an installed plug-in changes
nothing here), in-process, with one fake clock for the simulators and the exporter, so the text
is the same on every run and every machine. A
change to names, labels, values or order shows up here; a deliberate one regenerates the file
in the same commit:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_exposition.py

Families whose values depend on the machine (how long a job or the render took, the build, the
process) are left out; everything else is compared.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio
import httpx

from leo_exporter.app import Exporter
from leo_exporter.providers import built_in, parse_config
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW, FakeClock

GOLDEN = Path(__file__).parent / "golden" / "exposition.prom"
VOLATILE = re.compile(
    r"^(# (HELP|TYPE) )?(leo_exporter_job_duration_seconds|leo_exporter_render_duration_seconds|"
    r"leo_exporter_exposition_bytes|leo_exporter_build_info|process_\w+|python_\w+)[ {]"
)


async def exposition() -> str:
    clock = FakeClock(SIMULATED_NOW)
    app = build_app(accounts=2, terminals=12, seed=7, clock=clock, only=built_in())  # no plug-in changes it
    config = demo_config("http://simulator", app)
    for account in config["accounts"]:
        if account["provider"] == "starlink":
            account["telemetry"] = {"max_linger": "0s"}
    exporter = Exporter(parse_config(config), clock=clock, transport=httpx.ASGITransport(app=app))
    try:
        jobs = sorted(exporter.scheduler.jobs.values(), key=lambda j: (j.gate is not None, j.status.key))
        for job in jobs:
            if job.status.enabled:
                await exporter.scheduler.run_once(job)
        rendered = await exporter.render_now()
    finally:
        await exporter.aclose()
    return "".join(line for line in rendered.plain.decode().splitlines(keepends=True) if not VOLATILE.match(line))


def test_the_exposition_matches_the_golden_file() -> None:
    text = anyio.run(exposition)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), "no golden file: run with UPDATE_GOLDEN=1 once and commit it"
    expected = GOLDEN.read_text()
    if text != expected:
        got, want = text.splitlines(), expected.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        raise AssertionError(
            f"the exposition differs from {GOLDEN.name} at line {first + 1}:\n"
            f"  golden: {want[first] if first < len(want) else '<end>'}\n"
            f"  now:    {got[first] if first < len(got) else '<end>'}\n"
            f"({len(want)} golden lines, {len(got)} now). A deliberate change: UPDATE_GOLDEN=1, and say why "
            "in CHANGELOG.md"
        )


def test_the_same_world_renders_the_same_text_twice() -> None:
    """The golden file is only worth something if the text does not depend on the run."""
    assert anyio.run(exposition) == anyio.run(exposition)
