"""Start the exporter and the simulator as real processes on loopback, and stop them again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM, wait; returns how long the exit took."""
        started = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return time.monotonic() - started


def starlink_config(sim_url: str, path: Path, **account: Any) -> dict[str, Any]:
    """The simulator's exporter config with its Starlink accounts only, each account's keys set
    from `account` (`telemetry={...}`, `jobs={...}`), written to `path`; returns it."""
    config = yaml.safe_load(httpx.get(f"{sim_url}/exporter-config.yml", timeout=10).text)
    config["accounts"] = [{**a, **account} for a in config["accounts"] if a["provider"] == "starlink"]
    path.write_text(yaml.safe_dump(config))
    return config


def faketime_env(offset: Path) -> dict[str, str]:
    """The environment that runs a process on a wall clock stepped by `offset`'s contents (`+0`,
    `-90`, `+1d`; read at every call), its monotonic clock untouched: an NTP step, a VM restored
    from a snapshot. libfaketime, the copy the `libfaketime` package builds (a test dependency)."""
    import libfaketime

    library = Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if not library.exists():
        raise FileNotFoundError(f"libfaketime's library is not where the libfaketime package builds it: {library}")
    return {
        "LD_PRELOAD": str(library),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


@contextmanager
def run_module(args: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None) -> Iterator[Process]:
    """`python -m leo_exporter ARGS` on a free loopback port (appended as --web.listen-address)."""
    port = free_port()
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "leo_exporter", *args, "--web.listen-address", f"127.0.0.1:{port}"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    process = Process(popen, f"http://127.0.0.1:{port}", log_path)
    try:
        yield process
    finally:
        process.stop()


def wait_for(url: str, process: Process, timeout: float = 45.0, status: int = 200, **request: Any) -> httpx.Response:
    """Poll a URL until it answers `status`; fail with the process log if it dies or time runs out.

    For an exporter's `/readyz` it also waits until `/readyz?verbose` says every enabled job has
    run once and that is rendered: ready means "serving", the tests want the first data too."""
    if url.endswith("/readyz") and status == 200:
        wait_for(url + "?verbose", process, timeout, 200, **request)
        started = time.monotonic()
        while "first runs: all rendered" not in (answer := httpx.get(url + "?verbose", timeout=5, **request)).text:
            if process.popen.poll() is not None or time.monotonic() - started > timeout:
                raise AssertionError(f"first runs not done within {timeout}s: {answer.text}\n{process.log()[-3000:]}")
            time.sleep(0.25)
        return answer
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"process exited with {process.popen.returncode}:\n{process.log()[-3000:]}")
        try:
            last = httpx.get(url, timeout=5, **request)
            if last.status_code == status:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    detail = f"last answer {last.status_code}: {last.text[:300]}" if last is not None else "no answer"
    raise AssertionError(f"{url} not {status} within {timeout}s ({detail}):\n{process.log()[-3000:]}")


def samples_by_name(text: str) -> dict[str, list]:
    """Sample name -> samples of an exposition, parsed the way Prometheus' own client parses."""
    families: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, []).append(sample)
    return families


def scrape(url: str) -> dict[str, list]:
    """The exporter's `/metrics`, by sample name."""
    return samples_by_name(httpx.get(f"{url}/metrics", timeout=10).text)
