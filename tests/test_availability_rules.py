"""The availability rule file is generated: the shipped one is the generator's output for the demo's
tag keys, and `leo-exporter availability-rules` renders a config's keys and the given objective."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from leo_exporter.availability import closed_range, generate
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import require_tool
from tests.promstack import RULES_DIR

ROOT = Path(__file__).parent.parent
SHIPPED = RULES_DIR / "leo-exporter.availability.yml"


def test_the_shipped_file_is_the_generated_one_for_the_demo_tag_keys() -> None:
    keys = demo_config("http://sim", build_app())["tags"]["keys"]
    assert SHIPPED.read_text() == generate(keys), (
        "regenerate: leo-exporter availability-rules --tag-key customer --tag-key vessel "
        f"--output {SHIPPED.relative_to(ROOT)}"
    )


def test_ranges_cover_whole_steps_once() -> None:
    assert closed_range(86400) == "23h59m59s"
    assert closed_range(30 * 86400) == "29d23h59m59s"


def test_the_command_renders_the_config_keys_objective_and_window(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    config = tmp_path / "config.yml"
    config.write_text("accounts: []\ntags:\n  keys: [region]\n")
    out = tmp_path / "rules.yml"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "leo_exporter", "availability-rules", "--config.file", str(config)),
            *("--objective", "0.995", "--window", "7d", "--flapping-outages", "3", "--output", str(out)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rules = {r.get("alert") or r["record"]: r for g in yaml.safe_load(out.read_text())["groups"] for r in g["rules"]}
    assert "tag_region" in rules["group:leo_terminal_online:sum1h"]["expr"]
    assert "tag_customer" not in out.read_text()
    slo = rules["LeoGroupAvailabilityBelowObjective"]["expr"]
    assert "[6d23h59m59s]" in slo and slo.strip().endswith("< 0.995")
    assert "> 3)" in rules["LeoTerminalFlapping"]["expr"]
    check = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_window_that_is_not_whole_hours_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "availability-rules", "--window", "90m"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "--window" in done.stderr
