"""Hostile clients against a real exporter and its simulator, over loopback only, for a bounded time.

    python bench/hostile_clients.py                  # 3 minutes, 2,000 terminals
    python bench/hostile_clients.py --minutes 10 --terminals 5000

While a scraper scrapes /metrics every half second (gzip, every fifth one plain text), four
attackers run at once against the exporter's front process, which starts with a soft limit of
1,024 open files (systemd's and containerd's default; the front raises it to the hard one):

- header floods: a request whose one header value would be 200 MiB, and a request target of
  10 MiB, again and again (was: the front grew by 300 MB, its loop stalled 6.4 s);
- slow readers: 200 connections that ask for plain /metrics and never read (was: ~6.7 MB each);
- idle floods: 1,100 connections that send nothing, reopened as they are closed (was: 1,007 of
  them exhausted the descriptors, every scrape failed, a worker restart killed the front);
- SIGSTOP of the worker, every 40 s (was: never noticed), and a short one (1 s) that must not be
  taken for a hang.

Prints and writes (bench/results/hostile-clients.json): the front's peak RSS, the worker's, the
scrapes answered and failed, the time from each SIGSTOP to `leo_exporter_worker_up 0` and to a
ready new worker, how much of a flood the front read before cutting it off, and whether the front
lived through it all without a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import Proc, log, percentile, wait_until  # noqa: E402
from tests.conftest import free_port  # noqa: E402

FLOOD = 200 << 20  # bytes of one header value
LONG_URL = 10 << 20
SLOW_READERS = 200
IDLE = 1100
STOP_EVERY = 40.0
# Each attack comes from its own loopback address (127.0.0.x are distinct peers on Linux), as from
# other hosts; the scraper scrapes from 127.0.0.1. The front gives each address a share of its
# connections and requests (--web.max-*-per-address), so an attack costs its own address.
FLOOD_FROM = "127.0.0.2"
SLOW_FROM = "127.0.0.3"
IDLE_FROM = "127.0.0.4"


class Exporter(Proc):
    """The exporter as a process started with a soft open-file limit of 1,024 (hard unchanged)."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        """Proc's, with the limit set in the child; `env` added to the environment."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

        def soft_1024() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))

        with log_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "leo_exporter", *args, "--web.listen-address", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=soft_1024,  # no threads run yet in this process
                env={**os.environ, **(env or {})},
            )

    def worker(self) -> int | None:
        pids = self.pids()  # the front first, then its worker
        return pids[1] if len(pids) > 1 else None


def status_kib(pid: int, field: str) -> float:
    try:
        match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return math.nan
    return int(match.group(1)) / 1024 if match else math.nan


def worker_up(url: str) -> float | None:
    try:
        text = httpx.get(url + "/metrics", timeout=10, headers={"accept-encoding": "gzip"}).text
    except httpx.HTTPError:
        return None
    match = re.search(r"^leo_exporter_worker_up (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


class Run:
    def __init__(self, exporter: Exporter, seconds: float, clock: Path | None = None):
        """`clock`: the libfaketime offset file the exporter runs under (tests/processes.py's
        faketime_env), for the clock steps; None: no steps."""
        self.exporter = exporter
        self.clock = clock
        self.deadline = time.monotonic() + seconds
        self.done = threading.Event()
        self.figures: dict[str, Any] = {
            "scrapes_ok": 0,
            "scrapes_failed": 0,
            "scrape_failures": [],
            "scrape_ms": [],
            "floods": 0,
            "flood_bytes_read_max": 0,
            "long_urls": 0,
            "long_url_bytes_read_max": 0,
            "slow_readers_opened": 0,
            "idle_opened": 0,
            "idle_open_max": 0,
            "stops": [],
            "short_stop_restarts": 0,
            "front_rss_max_mib": 0.0,
            "clock_steps": [],
        }
        self.lock = threading.Lock()

    def running(self) -> bool:
        return not self.done.is_set() and time.monotonic() < self.deadline

    # --- the scraper
    def scraper(self) -> None:
        n = 0
        with httpx.Client(timeout=10) as client:
            while self.running():
                n += 1
                gzip = n % 5 != 0
                started = time.monotonic()
                try:
                    answer = client.get(
                        self.exporter.url + "/metrics", headers={"accept-encoding": "gzip" if gzip else "identity"}
                    )
                    ok = answer.status_code == 200 and "leo_exporter_worker_up" in answer.text
                    why = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if ok:
                        self.figures["scrapes_ok"] += 1
                        self.figures["scrape_ms"].append((time.monotonic() - started) * 1000)
                    else:
                        self.figures["scrapes_failed"] += 1
                        self.figures["scrape_failures"].append(why[:200])
                time.sleep(0.5)

    # --- header floods
    def _flood(self, head: bytes, size: int) -> int:
        """Send `head` then up to `size` bytes of 'a' until the server cuts the connection off."""
        sent = 0
        piece = b"a" * (1 << 20)
        try:
            address = ("127.0.0.1", self.exporter.port)
            with socket.create_connection(address, timeout=30, source_address=(FLOOD_FROM, 0)) as sock:
                sock.sendall(head)
                while sent < size and self.running():
                    sock.sendall(piece)
                    sent += len(piece)
        except OSError:
            pass
        return sent

    def floods(self) -> None:
        while self.running():
            read = self._flood(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ", FLOOD)
            url = self._flood(b"GET /", LONG_URL)
            with self.lock:
                self.figures["floods"] += 1
                self.figures["flood_bytes_read_max"] = max(self.figures["flood_bytes_read_max"], read)
                self.figures["long_urls"] += 1
                self.figures["long_url_bytes_read_max"] = max(self.figures["long_url_bytes_read_max"], url)
            time.sleep(2)

    # --- slow readers and idle floods
    def _open(self, request: bytes, source: str) -> socket.socket | None:
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind((source, 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.exporter.port))
            if request:
                sock.sendall(request)
            sock.setblocking(False)
            return sock
        except OSError:
            sock.close()
            return None

    def slow_readers(self) -> None:
        """Waves of SLOW_READERS plain scrapes that read nothing, a new wave every 75 s (longer than
        the default write timeout: the front should have cut the last wave off by then)."""
        while self.running():
            wave = [self._open(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", SLOW_FROM) for _ in range(SLOW_READERS)]
            with self.lock:
                self.figures["slow_readers_opened"] += sum(sock is not None for sock in wave)
            self.done.wait(min(75.0, max(0.0, self.deadline - time.monotonic())))
            for sock in wave:
                if sock is not None:
                    sock.close()

    def idle(self) -> None:
        """IDLE connections that send nothing; those the front closes are reopened (200 a second at most)."""
        held: list[socket.socket] = []
        while self.running():
            alive = []
            for sock in held:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        sock.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    sock.close()
                    continue
                alive.append(sock)
            held = alive
            with self.lock:
                self.figures["idle_open_max"] = max(self.figures["idle_open_max"], len(held))
            for _ in range(min(200, IDLE - len(held))):
                sock = self._open(b"", IDLE_FROM)
                if sock is None:
                    break
                held.append(sock)
                with self.lock:
                    self.figures["idle_opened"] += 1
            time.sleep(1)
        for sock in held:
            sock.close()

    # --- SIGSTOP
    def stops(self) -> None:
        last = time.monotonic()
        short = True
        while self.running():
            if time.monotonic() - last < STOP_EVERY / 2:
                time.sleep(0.5)
                continue
            last = time.monotonic()
            worker = self.exporter.worker()
            if worker is None:
                continue
            if short:  # a pause shorter than the heartbeat timeout: not a hang
                os.kill(worker, signal.SIGSTOP)
                time.sleep(1)
                os.kill(worker, signal.SIGCONT)
                time.sleep(5)
                if self.exporter.worker() != worker:
                    with self.lock:
                        self.figures["short_stop_restarts"] += 1
                short = False
                continue
            short = True
            stopped = time.monotonic()
            os.kill(worker, signal.SIGSTOP)
            detected = ready = math.nan
            while time.monotonic() - stopped < 60 and not self.done.is_set():
                if math.isnan(detected) and worker_up(self.exporter.url) == 0.0:
                    detected = time.monotonic() - stopped
                if not math.isnan(detected):
                    try:
                        if httpx.get(self.exporter.url + "/readyz", timeout=5).status_code == 200:
                            ready = time.monotonic() - stopped
                            break
                    except httpx.HTTPError:
                        pass
                time.sleep(0.1)
            with self.lock:
                self.figures["stops"].append({"detected_s": detected, "ready_again_s": ready})
            os.kill(worker, signal.SIGCONT) if Path(f"/proc/{worker}").exists() else None

    # --- the wall clock stepped under the exporter (its monotonic clock untouched)
    def clock_steps(self) -> None:
        """Every minute: back 90 s (an NTP correction) for 30 s, a day ahead for 15 s, then true
        again; the soak's check that the exposition never stands still catches a freeze."""
        if self.clock is None:
            return
        steps = (("-90", 30.0), ("+1d", 15.0), ("+0", 15.0))
        while self.running():
            for offset, hold in steps:
                self.clock.write_text(offset + "\n")
                with self.lock:
                    self.figures["clock_steps"].append(offset)
                self.done.wait(hold)
                if not self.running():
                    break
        self.clock.write_text("+0\n")

    def memory(self) -> None:
        while self.running():
            rss = status_kib(self.exporter.popen.pid, "VmRSS")
            with self.lock:
                self.figures["front_rss_max_mib"] = max(self.figures["front_rss_max_mib"], rss)
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the attack runs (default 3)")
    parser.add_argument("--terminals", type=int, default=2000, help="simulated terminals (default 2,000)")
    parser.add_argument("--accounts", type=int, default=2, help="simulated Starlink accounts (default 2)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "hostile-clients.json")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process holds the idle flood
    workdir = Path(tempfile.mkdtemp(prefix="leo-hostile-"))
    log(f"logs in {workdir}")
    sim = Proc(["simulator", "--accounts", str(args.accounts), "--terminals", str(args.terminals)], workdir / "sim.log")
    exporter: Exporter | None = None
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 180, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=60).text)
        config["accounts"] = [a for a in config["accounts"] if a["provider"] == "starlink"]
        for account in config["accounts"]:
            account["jobs"] = {"telemetry": {"interval": "15s"}}
        path = workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        exporter = Exporter(["--config.file", str(path)], workdir / "exporter.log")
        ready = exporter
        wait_until(
            lambda: "first runs: all rendered" in httpx.get(ready.url + "/readyz?verbose", timeout=10).text,
            180,
            "the exporter ready",
            sim,
        )
        plain = httpx.get(exporter.url + "/metrics", timeout=60).content
        log(f"exposition: {len(plain) / 2**20:.1f} MiB plain; attacking for {args.minutes:g} minutes")
        limits = Path(f"/proc/{exporter.popen.pid}/limits").read_text()
        run = Run(exporter, args.minutes * 60)
        threads = [
            threading.Thread(target=run.scraper),
            threading.Thread(target=run.floods),
            threading.Thread(target=run.slow_readers),
            threading.Thread(target=run.idle),
            threading.Thread(target=run.stops),
            threading.Thread(target=run.memory),
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures = run.figures
        figures["front_alive"] = exporter.popen.poll() is None
        figures["front_peak_rss_mib"] = status_kib(exporter.popen.pid, "VmHWM")
        worker = exporter.worker()
        figures["worker_peak_rss_mib"] = status_kib(worker, "VmHWM") if worker else math.nan
        figures["front_open_files_limit"] = re.search(r"Max open files\s+(\d+)", limits).group(1)  # type: ignore[union-attr]
        text = exporter.log_path.read_text(errors="replace")
        figures["tracebacks"] = text.count("Traceback")
        figures["error_lines"] = text.count("level=error")
        ms = figures.pop("scrape_ms")
        figures["scrape_p50_ms"] = percentile(ms, 50) if ms else math.nan
        figures["scrape_p99_ms"] = percentile(ms, 99) if ms else math.nan
        figures["scrape_failures"] = figures["scrape_failures"][:20]
        figures["exposition_plain_mib"] = len(plain) / 2**20
        figures["minutes"] = args.minutes
        figures["terminals"] = args.terminals
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    detected = [s["detected_s"] for s in figures["stops"]]
    rows = [
        ("front alive at the end", figures["front_alive"]),
        ("front peak RSS (VmHWM)", f"{figures['front_peak_rss_mib']:.0f} MiB"),
        ("front RSS, largest sample", f"{figures['front_rss_max_mib']:.0f} MiB"),
        ("worker peak RSS", f"{figures['worker_peak_rss_mib']:.0f} MiB"),
        ("scrapes answered / failed", f"{figures['scrapes_ok']} / {figures['scrapes_failed']}"),
        ("scrape p50 / p99", f"{figures['scrape_p50_ms']:.0f} / {figures['scrape_p99_ms']:.0f} ms"),
        ("header floods; most read of one", f"{figures['floods']}; {figures['flood_bytes_read_max'] / 2**20:.0f} MiB sent before the cut"),
        ("long URLs; most read of one", f"{figures['long_urls']}; {figures['long_url_bytes_read_max'] / 2**20:.0f} MiB"),
        ("slow readers opened", figures["slow_readers_opened"]),
        ("idle connections opened; most open at once", f"{figures['idle_opened']}; {figures['idle_open_max']}"),
        ("front's open-file limit (started at 1,024)", figures["front_open_files_limit"]),
        ("SIGSTOP -> worker_up 0 (s)", ", ".join(f"{d:.1f}" for d in detected) or "none"),
        ("SIGSTOP -> ready again (s)", ", ".join(f"{s['ready_again_s']:.1f}" for s in figures["stops"]) or "none"),
        ("1 s SIGSTOPs taken for a hang", figures["short_stop_restarts"]),
        ("tracebacks / error lines in the log", f"{figures['tracebacks']} / {figures['error_lines']}"),
    ]  # fmt: skip
    print()
    for name, value in rows:
        print(f"{name:<45} {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2, default=str))
    log(f"wrote {args.output}")
    return 0 if figures["front_alive"] and not figures["scrapes_failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
