"""`--version`, the version's source (git tags via setuptools-scm) and the revision it reports."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys

import pytest

from leo_exporter import version as build
from tests.processes import ROOT


@pytest.mark.e2e
def test_version_prints_exporter_toolkit_layout_with_the_installed_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = proc.stdout.splitlines()
    first = re.fullmatch(r"leo-exporter, version (\S+) \(branch: (\S+), revision: (\S+)\)", lines[0])
    assert first, proc.stdout
    assert first.group(1) == importlib.metadata.version("leo-exporter")
    assert re.fullmatch(r"[0-9a-f]{7,40}(-modified)?", first.group(3)), "a git commit when built from a clone"
    fields = dict(line.strip().split(":", 1) for line in lines[1:])
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d", fields["build date"].strip())
    assert fields["python version"].strip() == platform.python_version()
    assert fields["platform"].strip().startswith("linux/")


@pytest.mark.e2e
def test_version_comes_from_git_not_a_hard_coded_string() -> None:
    # the install recorded the commit checked out when it was made: one of this repository's
    commit = build.revision.removesuffix("-modified")
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
    )
    assert found.returncode == 0, f"revision {build.revision} is no commit of this repository"
    assert "version = {attr" not in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("node", "dirty", "expected"),
    [
        ("g43abdca0123", False, "43abdca0123"),  # git, as setuptools-scm reports it
        ("g43abdca0123", True, "43abdca0123-modified"),
        ("gunknown", False, "unknown"),  # the Dockerfile without a REVISION build argument
        (None, False, "unknown"),
    ],
)
def test_revision_from_the_scm_node(node: str | None, dirty: bool, expected: str) -> None:
    assert build._revision(node, dirty) == expected
