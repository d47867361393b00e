"""The front process: /metrics from the worker's handed-over exposition, the worker supervised.

A worker that dies must not take /metrics with it: the front keeps serving the last exposition,
says so (`/readyz` 503, `leo_exporter_worker_up 0`, a log line) and starts the worker again.
SIGTERM to the front ends both processes within 5 s.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leo_exporter.handoff import Body, acknowledge, receive, send, tail
from leo_exporter.render import Exposition, Renderer
from leo_exporter.state import FleetState
from leo_exporter.webconfig import FrontTokenGate
from tests.processes import Process, run_module, samples_by_name, wait_for


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*/children") for c in task.read_text().split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def the_worker(exporter: Process) -> int:
    [worker] = children(exporter.popen.pid)
    return worker


def worker_figures(url: str) -> tuple[float, float]:
    samples = samples_by_name(httpx.get(f"{url}/metrics", timeout=10).text)
    return samples["leo_exporter_worker_up"][0].value, samples["leo_exporter_worker_restarts_total"][0].value


def handed_over(exposition: Exposition, complete: bool = True) -> Body:
    """The exposition sent through a socket pair as the worker sends it, received as the front does."""
    worker, front = socket.socketpair()
    with worker, front:
        sender = threading.Thread(target=send, args=(worker, exposition, complete))
        sender.start()
        body = receive(front)
        acknowledge(front)
        sender.join(5)
    return body


def test_the_handoff_and_the_fronts_tail_make_one_gzip_member_every_client_reads_whole() -> None:
    exposition = Renderer(FleetState()).render()
    plain = gzip.decompress(exposition.gzipped)
    body = handed_over(exposition, complete=False)
    assert (body.length, body.series, body.rendered_at, body.complete) == (
        len(plain),
        exposition.series,
        exposition.rendered_at,
        False,
    )
    extended = body.prefix + tail(body, b"front_metric 1.0\n")
    assert gzip.decompress(extended) == plain + b"front_metric 1.0\n"
    single = zlib.decompressobj(16 + zlib.MAX_WBITS)  # what httpx does: it stops after one member
    assert single.decompress(extended) == plain + b"front_metric 1.0\n" and single.eof and not single.unused_data


@pytest.mark.anyio
async def test_the_workers_internal_server_answers_only_the_front() -> None:
    app = FrontTokenGate(Starlette(routes=[Route("/api/status", lambda r: PlainTextResponse("ok"))]), "s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        assert (await client.get("/api/status")).status_code == 403
        assert (await client.get("/api/status", headers={"x-leo-front-token": "wrong"})).status_code == 403
        answer = await client.get("/api/status", headers={"x-leo-front-token": "s3cret-token"})
        assert answer.status_code == 200 and answer.text == "ok"


@pytest.mark.e2e
def test_a_killed_worker_is_restarted_while_the_last_exposition_is_served(tmp_path: Path) -> None:
    with run_module(["--simulator.terminals", "20"], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        before = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        assert "leo_terminal_info{" in before
        assert worker_figures(exporter.url) == (1.0, 0.0)
        old = the_worker(exporter)

        os.kill(old, signal.SIGKILL)
        seen = []  # (readyz status, worker_up, terminals served) until the new worker is ready
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:  # a /readyz proxied in the instant before the front sees the exit waits for the next worker
                ready: int | None = httpx.get(f"{exporter.url}/readyz", timeout=0.5).status_code
            except httpx.TimeoutException:
                ready = None
            served = httpx.get(f"{exporter.url}/metrics", timeout=10)
            assert served.status_code == 200
            up = samples_by_name(served.text)["leo_exporter_worker_up"][0].value
            seen.append((ready, up, served.text.count("\nleo_terminal_info{")))
            if seen[-1][:2] == (200, 1.0) and any(s[0] == 503 for s in seen):
                break
            time.sleep(0.05)
        terminals = before.count("\nleo_terminal_info{")
        assert (503, 0.0, terminals) in seen, seen  # not ready, worker down, the last exposition served
        assert all(count == terminals for _, _, count in seen), seen  # never an emptier one meanwhile

        wait_for(f"{exporter.url}/readyz", exporter, timeout=30)
        assert worker_figures(exporter.url) == (1.0, 1.0)
        new = the_worker(exporter)
        assert new != old
        assert httpx.get(f"{exporter.url}/api/status", timeout=10).status_code == 200  # proxied to the new one
        text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        start = samples_by_name(text)["process_start_time_seconds"][0].value  # the worker's own process
        assert start > samples_by_name(before)["process_start_time_seconds"][0].value
        assert "the worker process exited (signal SIGKILL)" in exporter.log()


@pytest.mark.e2e
def test_sigterm_ends_front_and_worker_within_five_seconds(tmp_path: Path) -> None:
    with run_module(["--simulator.terminals", "20"], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        worker = the_worker(exporter)
        took = exporter.stop()
        assert exporter.popen.returncode == 0
        assert took < 5
        deadline = time.monotonic() + 1
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker)


@pytest.mark.e2e
def test_a_worker_that_cannot_start_ends_the_front_with_its_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("accounts: [{provider: starlink}]\n")
    with run_module(["--config.file", str(config)], tmp_path / "exporter.log") as exporter:
        assert exporter.popen.wait(30) == 2
        assert "before its first rendering" in exporter.log()
