"""The import contracts hold a circle however it is written: scripts/import_cycles.py's
`acyclic_modules` contract against a throwaway package, the project's own graph without one, and
docs/architecture.md held to the contracts and the modules."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scripts.import_cycles import strongly_connected

ROOT = Path(__file__).parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = """
[importlinter]
root_package = loop
contract_types =
    acyclic_modules: scripts.import_cycles.AcyclicModulesContract

[importlinter:contract:no-circles]
name = No circles
type = acyclic_modules
containers =
    loop
"""


def test_the_groups_of_modules_that_reach_one_another_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert strongly_connected(edges) == [["a", "b", "c"], ["e", "f"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("how", "line"),
    [
        ("inside a function", "def later() -> None:\n    from loop import a  # noqa\n"),
        ("under TYPE_CHECKING", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from loop import a\n"),
    ],
)
def test_a_hidden_circle_fails_lint_imports(tmp_path: Path, how: str, line: str) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text(line)
    (package / "c.py").write_text("from loop import a\n")  # imports into the circle, is not part of it
    (tmp_path / ".importlinter").write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, (how, run.stdout, run.stderr)
    assert "These modules import one another: loop.a, loop.b" in run.stdout
    assert "loop.b -> loop.a (l." in run.stdout and "loop.c" not in run.stdout.split("BROKEN", 1)[1]


def test_the_exporter_has_no_circle() -> None:
    """The same contract over leo_exporter, as `lint-imports` (pyproject.toml) runs it."""
    run = subprocess.run(
        [sys.executable, "scripts/import_cycles.py", "leo_exporter"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "no circles", run.stdout + run.stderr


def test_the_architecture_page_states_the_layers_lint_imports_holds() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["type"] == "layers"]
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = page.split("*The layers*", 1)[1].split("```", 2)[1]
    assert [line.strip() for line in block.strip().splitlines()] == layers


def test_the_architecture_page_names_every_module_of_the_exporter() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    rooms = page.split("## The rooms", 1)[1].split("## ", 1)[0]
    package = ROOT / "leo_exporter"
    named = {f"`{p.name}`" for p in package.glob("*.py") if p.stem not in ("__init__", "__main__", "_version")}
    named |= {f"`{p.name}/`" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert {name for name in named if name not in rooms} == set()
