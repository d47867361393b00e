"""Supervision that no clock, hang or shortage fools (issue #25, findings 3, 4, 9, 13 and the low
ones): renderings ordered by a sequence number, never by the wall clock (steps injected through
the state's clock, and under the real processes by libfaketime, never the machine's own clock);
a stopped worker detected by its missing heartbeat;
the supervisor outliving a shortage of descriptors; SIGHUP harmless from the first instant."""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import threading
import time
from pathlib import Path

import anyio
import httpx
import pytest

from leo_exporter.app import Exporter
from leo_exporter.front import Front
from leo_exporter.handoff import Channel, Publisher, acknowledge, receive
from leo_exporter.providers import parse_config
from leo_exporter.render import Renderer
from leo_exporter.simulator.app import build_app, demo_config
from leo_exporter.state import FleetState
from tests.conftest import SIMULATED_NOW, FakeClock
from tests.processes import faketime_env, run_module, samples_by_name, starlink_config, wait_for
from tests.test_front import alive, children, the_worker, worker_figures
from tests.test_front_limits import until

DAY = 86400.0


def front_side(sock: socket.socket, received: list[float], count: int) -> threading.Thread:
    """The front's reader: `count` renderings received and acknowledged (heartbeats skipped)."""

    def read() -> None:
        sock.settimeout(10)
        while len(received) < count:
            body = receive(sock)
            if body is not None:
                received.append(body.rendered_at)
                acknowledge(sock)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.anyio
async def test_renderings_reach_the_front_in_the_order_made_whatever_the_wall_clock_does() -> None:
    """Was: a step back of 90 s froze /metrics for 90 s; a day forward and back, for a day."""
    clock = FakeClock(SIMULATED_NOW)
    renderer = Renderer(FleetState(clock))
    worker, front = socket.socketpair()
    publisher = Publisher(Channel(worker), lambda exposition: True)
    steps = [0.0, -90.0, DAY, -DAY, -1.0]
    received: list[float] = []
    reader = front_side(front, received, len(steps))
    made = []
    for step in steps:
        clock.now += step
        exposition = renderer.render()
        made.append(exposition.rendered_at)
        with anyio.fail_after(10):
            await publisher(exposition)
    reader.join(10)
    worker.close()
    front.close()
    assert received == made  # every one handed over, the stepped-back ones too


@pytest.mark.anyio
async def test_renderings_after_every_first_run_count_as_complete_after_a_clock_step_back() -> None:
    """The front holds a restarted worker's renderings back until one shows every job's first run;
    that was judged by wall-clock time, so after a step back no rendering ever counted."""
    clock = FakeClock(SIMULATED_NOW)
    sim = build_app(accounts=1, terminals=4)
    data = demo_config("http://simulator", sim)
    account = next(a for a in data["accounts"] if a["provider"] == "starlink")
    exporter = Exporter(parse_config({"accounts": [account]}), clock=clock, transport=httpx.ASGITransport(app=sim))
    before = await exporter.render_now()
    assert not exporter.shows_first_runs(before)
    for job in exporter.scheduler.jobs.values():
        if job.status.enabled:
            await exporter.scheduler.run_once(job)
    clock.now -= 90
    after = await exporter.render_now()
    await exporter.aclose()
    assert exporter.shows_first_runs(after)


@pytest.mark.anyio
async def test_the_supervisor_outlives_running_out_of_descriptors_and_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: `OSError: [Errno 24]` in socketpair inside the supervisor ended the front (exit 1)."""
    config = tmp_path / "bad.yml"
    config.write_text("accounts: [{provider: starlink}]\n")  # the worker, once started, exits 2 at once
    front = Front(["--config.file", str(config)], "/metrics")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    caplog.set_level(logging.ERROR, "leo_exporter.front")
    stop = anyio.Event()
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 1, hard))  # no room for a socket pair
        async with anyio.create_task_group() as tg:
            tg.start_soon(front.supervise, stop)
            await until(lambda: any("cannot start the worker process" in r.getMessage() for r in caplog.records))
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            with anyio.fail_after(20):
                await stop.wait()  # started at the next try; it exits 2 and the supervisor stops
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        front.internal.close()
    assert front.exit_code == 2


@pytest.mark.e2e
def test_a_stopped_worker_is_noticed_within_seconds_and_restarted(tmp_path: Path) -> None:
    """Was: after SIGSTOP, worker_up 1 and stale data for ever, /readyz hung 120 s, no restart."""
    args = ["--simulator.terminals", "10", "--worker.heartbeat-timeout", "2s"]
    with run_module(args, tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        stopped = the_worker(exporter)
        os.kill(stopped, signal.SIGSTOP)
        deadline = time.monotonic() + 30
        while worker_figures(exporter.url)[0] != 0.0:
            assert time.monotonic() < deadline, exporter.log()[-2000:]
            time.sleep(0.1)
        assert httpx.get(f"{exporter.url}/readyz", timeout=5).status_code == 503  # at once, not after 120 s
        wait_for(f"{exporter.url}/readyz", exporter, timeout=60)
        assert worker_figures(exporter.url) == (1.0, 1.0)
        assert the_worker(exporter) != stopped and not alive(stopped)
    log = exporter.log()
    assert "sent no heartbeat for 2 s (stopped or hung); killing it" in log
    assert "Traceback" not in log


@pytest.mark.e2e
def test_sigterm_with_a_stopped_worker_kills_it_once_and_says_so_once(tmp_path: Path) -> None:
    """Was: "did not stop within 3 s" logged twice."""
    with run_module(["--simulator.terminals", "10"], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        worker = the_worker(exporter)
        os.kill(worker, signal.SIGSTOP)
        took = exporter.stop()
    assert exporter.popen.returncode == 0 and took < 6
    assert not alive(worker)
    assert exporter.log().count("did not stop within 3 s") == 1


@pytest.mark.e2e
def test_sighup_from_the_first_instant_kills_neither_the_front_nor_the_worker(tmp_path: Path) -> None:
    """Was: SIGHUP 0.1 s after launch killed the front; in a worker's first ~1.3 s, the worker."""
    with run_module(["--simulator.terminals", "10"], tmp_path / "exporter.log") as exporter:
        pid = exporter.popen.pid
        deadline = time.monotonic() + 10
        while not ignores_sighup(pid):  # the interpreter's own start-up (~0.1 s) comes first
            assert exporter.popen.poll() is None and time.monotonic() < deadline, exporter.log()[-2000:]
            time.sleep(0.001)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and exporter.popen.poll() is None:
            os.kill(pid, signal.SIGHUP)  # the front passes each one on to the worker, once it runs
            for worker in children(pid):
                os.kill(worker, signal.SIGHUP)
            time.sleep(0.02)
        wait_for(f"{exporter.url}/readyz", exporter)
        text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        assert samples_by_name(text)["leo_exporter_worker_restarts_total"][0].value == 0
    assert "the worker process exited" not in exporter.log()


def ignores_sighup(pid: int) -> bool:
    """Whether the process ignores SIGHUP now (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def telemetry_rows(url: str) -> float:
    """Telemetry rows the exporter has applied, as served: grows only as renderings reach /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(s.value for s in samples_by_name(text).get("leo_exporter_telemetry_rows_total", []))


def keeps_moving(url: str, seconds: float = 30.0) -> None:
    """New rows reach /metrics within `seconds` (rows arrive every second), the worker is up."""
    start = telemetry_rows(url)
    deadline = time.monotonic() + seconds
    while telemetry_rows(url) <= start:
        assert time.monotonic() < deadline, f"/metrics stood still for {seconds:.0f} s"
        time.sleep(0.5)
    assert worker_figures(url)[0] == 1.0
    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200


@pytest.mark.e2e
def test_the_machines_wall_clock_stepped_back_and_forward_freezes_nothing(tmp_path: Path) -> None:
    """Was (finding 4, the real processes): the wall clock stepped back 90 s froze /metrics for
    90 s with `/readyz` 200 and worker_up 1; a day forward and back froze it for the day, with
    last-success timestamps in the future. Here the exporter (front and worker) runs on a wall
    clock stepped under it by libfaketime; the simulator, on the true one."""
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    sim_args = ["simulator", "--accounts", "1", "--terminals", "6", "--row-interval", "1"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        telemetry = {"telemetry": {"max_linger": "1s"}, "jobs": {"telemetry": {"interval": "1s"}}}
        starlink_config(sim.url, tmp_path / "config.yml", **telemetry)
        args = ["--config.file", str(tmp_path / "config.yml")]
        with run_module(args, tmp_path / "exporter.log", env=faketime_env(offset)) as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            keeps_moving(exporter.url)

            offset.write_text("-90\n")  # an NTP step back
            keeps_moving(exporter.url)

            offset.write_text("+1d\n")  # a day ahead, then back
            keeps_moving(exporter.url)
            offset.write_text("+0\n")
            keeps_moving(exporter.url)
            deadline = time.monotonic() + 30
            while True:  # the stamps of the day ahead are replaced by the next successes
                text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
                stamps = [s.value for s in samples_by_name(text)["leo_exporter_job_last_success_timestamp_seconds"]]
                if max(stamps) < time.time() + 60:
                    break
                assert time.monotonic() < deadline, (
                    f"last successes still a day ahead: {max(stamps) - time.time():.0f} s"
                )
                time.sleep(0.5)
        assert "Traceback" not in exporter.log()
