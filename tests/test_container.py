"""The container image built from the Dockerfile and run for real, read-only, as its own user.

`scripts/container-test.sh` does the work with Debian's podman (it installs podman, runc and
debootstrap when missing, and caches the Debian base it builds on between runs on one machine);
this test runs it as part of `make test`, so CI builds and runs the image on every change.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.processes import ROOT


@pytest.mark.e2e
@pytest.mark.serial  # podman: one image build at a time (they share its base image and storage)
@pytest.mark.timeout(900)
def test_the_image_serves_the_fleet_read_only_as_its_own_user_and_stops_on_sigterm() -> None:
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("builds with rootful podman: run as root (CI does)")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container-test.sh")],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-4000:]
    summary = re.search(
        r"container-test: ok: image \S+ \(version \S+\), (\d+) MB, .*SIGTERM exit 0 in ([\d.]+) s", proc.stdout
    )
    assert summary, report[-4000:]
    size_mb, stop_seconds = int(summary.group(1)), float(summary.group(2))
    assert size_mb < 300, f"the image grew to {size_mb} MB"
    assert stop_seconds < 5
    print(proc.stdout.strip())  # the image size and timings, in pytest -rA / CI logs
