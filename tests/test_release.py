"""`make release` on a fresh clone: wheel, sdist and image with one version (from a git tag), checksummed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.processes import ROOT


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.e2e
@pytest.mark.serial  # podman: one image build at a time (they share its base image and storage)
@pytest.mark.timeout(900)
def test_release_of_a_tagged_clone_builds_three_artefacts_of_that_version(tmp_path: Path) -> None:
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("builds the image with rootful podman: run as root (CI does)")
    clone = tmp_path / "clone"
    _git("clone", "--quiet", str(ROOT), str(clone), cwd=tmp_path)
    _git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "tag", "-a", "v9.8.7", "-m", "v9.8.7", cwd=clone)
    revision = _git("rev-parse", "HEAD", cwd=clone)
    out = tmp_path / "dist"
    proc = subprocess.run(
        ["bash", "scripts/release.sh", str(out)],
        cwd=clone,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    wheel = out / "leo_exporter-9.8.7-py3-none-any.whl"
    sdist = out / "leo_exporter-9.8.7.tar.gz"
    image = out / "leo-exporter-9.8.7.image.tar"
    assert sorted(p.name for p in out.iterdir()) == sorted(["SHA256SUMS", wheel.name, sdist.name, image.name])

    # every checksum matches its file
    sums = dict(reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {wheel.name, sdist.name, image.name}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name

    # one version inside each artefact, and the tagged commit as the revision
    with zipfile.ZipFile(wheel) as whl:
        assert "Version: 9.8.7\n" in whl.read("leo_exporter-9.8.7.dist-info/METADATA").decode()
        built = whl.read("leo_exporter/_version.py").decode()
        assert "version = '9.8.7'" in built and f"revision = 'g{revision}" in built
        assert "leo_exporter-9.8.7.dist-info/licenses/LICENSE" in whl.namelist()
    with tarfile.open(sdist) as tar:
        pkg_info = tar.extractfile("leo_exporter-9.8.7/PKG-INFO")
        assert pkg_info is not None and "Version: 9.8.7\n" in pkg_info.read().decode()
    with tarfile.open(image) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        [entry] = json.load(manifest)
        assert entry["RepoTags"] == ["localhost/leo-exporter:9.8.7"]
        config = tar.extractfile(entry["Config"])
        assert config is not None
        labels = json.load(config)["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == "9.8.7"
        assert labels["org.opencontainers.image.revision"] == revision
    # the image's own --version said 9.8.7 (scripts/release.sh checks it and fails otherwise)
    assert re.search(r"release: 9\.8\.7 \(\w+ image", proc.stderr), proc.stderr[-2000:]
