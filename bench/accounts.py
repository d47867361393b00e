"""Accounts at scale: how long the exporter takes to be ready with thousands of configured accounts,
and what they cost in memory (issue #25: 3,000 accounts took 114 s and 2.9 GB, about 1 MB each for
a client, a connection pool and an SSL context per account; now one pool per provider host).

    python bench/accounts.py                      # 3,000 accounts: 1,000 each of Starlink, Kognitive, OneWeb
    python bench/accounts.py --per-provider 100   # a quick one

The simulator and the exporter run as processes on loopback, as users run them (the front and
its worker). Every account keeps its provider's default jobs and intervals. Reports (and writes as
JSON, default bench/results/accounts-<n>.json): seconds from the exporter's start to `/readyz` 200
(the first render), to every account's first runs rendered (`/readyz?verbose`: "first runs: all
rendered") within `--timeout`, and the peak resident memory of the front and the worker, and their
median over `--settle` seconds after that (read every second: the worker's swings with each batch),
and the CPU seconds a minute the worker and the front used over that window. `--restart` then
kills the worker and measures the one the front starts in its place the same way (`restart_`
figures): a restarted worker's blocks count each account's series, so that the front can carry
the last worker's data of what they lack (handoff.carry).
Targets: ready in under 30 s, worker under 300 MB.

    python bench/accounts.py --restart            # and a restarted worker's figures
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import Proc, log, wait_until  # noqa: E402
from bench.load import rss_mib  # noqa: E402

READY_TARGET_S = 30.0
WORKER_TARGET_MIB = 300.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.per_provider
    workdir = Path(tempfile.mkdtemp(prefix="leo-accounts-"))
    log(f"logs in {workdir}")
    sim_args = ["simulator", "--accounts", str(n), "--oneweb-accounts", str(n), "--terminals", str(args.terminals)]
    sim = Proc(sim_args, workdir / "sim.log")
    exporter: Proc | None = None
    results: dict[str, Any] = {"per_provider": n}
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 600, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=120).text)
        for index, account in enumerate(config["accounts"]):  # the simulator's partner ids may repeat
            account["name"] = f"{account['provider']}-{index}"
            # the simulator's config sets demo intervals (Kognitive and OneWeb jobs every 30 s to
            # 5 min, about 2.5 times the default load at 3,000 accounts); measure the defaults
            account.pop("jobs", None)
        results["accounts"] = len(config["accounts"])
        path = workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        log(f"simulator up; starting the exporter with {results['accounts']} accounts")
        exporter = Proc(["--config.file", str(path)], workdir / "exporter.log")
        results.update(measure(exporter, args, ""))
        worker_mib = results["worker_rss_mib"]
        results["worker_rss_per_account_kib"] = (
            None if worker_mib is None else round(worker_mib * 1024 / results["accounts"], 1)
        )
        if args.restart:
            worker = exporter.pids()[-1]
            log(f"killing the worker (pid {worker}): the front restarts it")
            os.kill(worker, signal.SIGKILL)
            wait_until(lambda: exporter.pids()[-1] not in (worker, exporter.popen.pid), 60, "a new worker", exporter)
            results.update(measure(exporter, args, "restart_"))
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()
    return results


def measure(exporter: Proc, args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The first runs' figures and the settled ones; each peak is the higher of those read every
    second during the first runs and the processes' own high-water mark at the end (a worker the
    front restarted meanwhile took its mark with it)."""
    figures = first_runs(exporter, args.timeout, prefix)
    later = settled(exporter, args.settle, prefix)
    for key in (f"{prefix}front_peak_rss_mib", f"{prefix}worker_peak_rss_mib"):
        later[key] = max(figures[key], later[key])
    return {**figures, **later}


def first_runs(exporter: Proc, timeout: float, prefix: str) -> dict[str, Any]:
    """Seconds to `/readyz` 200 and to every account's first runs rendered, and the peak resident
    memory of the front and the worker meanwhile (read every second)."""
    started = time.monotonic()
    peaks = {"front": 0.0, "worker": 0.0}
    ready = all_runs = None
    deadline = started + timeout
    while time.monotonic() < deadline and exporter.popen.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if ready is None and httpx.get(exporter.url + "/readyz", timeout=5).status_code == 200:
                ready = time.monotonic() - started
                log(f"/readyz 200 after {ready:.1f} s")
            if ready is not None:
                verbose = httpx.get(exporter.url + "/readyz?verbose", timeout=30).text
                if "first runs: all rendered" in verbose:
                    all_runs = time.monotonic() - started
                    log(f"every account's first runs rendered after {all_runs:.1f} s")
                    break
        with contextlib.suppress(OSError, ValueError):
            front, *workers = exporter.peak_rss_processes_mib()
            peaks = {"front": max(peaks["front"], front), "worker": max([peaks["worker"], *workers])}
        time.sleep(1.0)
    if exporter.popen.poll() is not None:
        raise SystemExit(f"the exporter exited ({exporter.popen.poll()}); see {exporter.log_path}")
    return {
        f"{prefix}ready_seconds": None if ready is None else round(ready, 1),
        f"{prefix}first_runs_rendered_seconds": None if all_runs is None else round(all_runs, 1),
        f"{prefix}front_peak_rss_mib": round(peaks["front"], 1),
        f"{prefix}worker_peak_rss_mib": round(peaks["worker"], 1),
    }


def settled(exporter: Proc, seconds: float, prefix: str) -> dict[str, Any]:
    """The median resident memory over `seconds` after the first runs, its range, the peaks, and
    the CPU seconds a minute of the worker and the front. The worker's memory swings by tens of
    MiB as telemetry batches come and go (every 15 s at 1,000 Starlink accounts): one reading is
    no figure; the median over the window is."""
    readings: dict[str, list[float]] = {"front": [], "worker": []}
    cpu_before, settle_start = exporter.cpu_seconds(), time.monotonic()
    settle_end = settle_start + seconds
    while time.monotonic() < settle_end:
        with contextlib.suppress(OSError, ValueError):
            pids = exporter.pids()
            readings["front"].append(rss_mib(pids[0]))
            if len(pids) > 1:
                readings["worker"].append(rss_mib(pids[-1]))
        time.sleep(1.0)
    cpu_after, settle_seconds = exporter.cpu_seconds(), time.monotonic() - settle_start
    front, *workers = exporter.peak_rss_processes_mib()
    worker = statistics.median(readings["worker"]) if readings["worker"] else None
    return {
        f"{prefix}front_rss_mib": round(statistics.median(readings["front"]), 1),
        f"{prefix}worker_rss_mib": None if worker is None else round(worker, 1),
        f"{prefix}worker_rss_settled_range_mib": [round(min(readings["worker"]), 1), round(max(readings["worker"]), 1)]
        if readings["worker"]
        else None,
        # the peak of each process' whole life (VmHWM): the first runs' included
        f"{prefix}front_peak_rss_mib": round(front, 1),
        f"{prefix}worker_peak_rss_mib": round(max(workers, default=math.nan), 1),
        # CPU seconds a minute over the settle window: what the accounts' default jobs cost
        f"{prefix}worker_cpu_s_per_min": round((cpu_after[1] - cpu_before[1]) * 60 / settle_seconds, 1),
        f"{prefix}front_cpu_s_per_min": round((cpu_after[0] - cpu_before[0]) * 60 / settle_seconds, 1),
        f"{prefix}crashed": exporter.popen.poll() is not None,
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        ("accounts", str(r["accounts"]), ""),
        ("to /readyz 200", f"{r['ready_seconds']} s", f"< {READY_TARGET_S:g} s"),
        ("to every account's first runs rendered", f"{r['first_runs_rendered_seconds']} s", ""),
        (
            "worker RSS peak / settled (median)",
            f"{r['worker_peak_rss_mib']} / {r['worker_rss_mib']} MiB",
            f"< {WORKER_TARGET_MIB:g}",
        ),
        (
            "worker RSS settled, lowest to highest",
            " to ".join(f"{v}" for v in r["worker_rss_settled_range_mib"] or ()) + " MiB",
            "",
        ),
        ("worker RSS per account (settled)", f"{r['worker_rss_per_account_kib']} KiB", ""),
        ("front RSS peak / settled (median)", f"{r['front_peak_rss_mib']} / {r['front_rss_mib']} MiB", ""),
        ("CPU a minute, settled: worker / front", f"{r['worker_cpu_s_per_min']} / {r['front_cpu_s_per_min']} s", ""),
    ]
    if "restart_worker_peak_rss_mib" in r:
        rows += [
            ("restarted worker: to every first run rendered", f"{r['restart_first_runs_rendered_seconds']} s", ""),
            (
                "restarted worker RSS peak / settled (median)",
                f"{r['restart_worker_peak_rss_mib']} / {r['restart_worker_rss_mib']} MiB",
                f"< {WORKER_TARGET_MIB:g}",
            ),
            (
                "restarted: CPU a minute, worker / front",
                f"{r['restart_worker_cpu_s_per_min']} / {r['restart_front_cpu_s_per_min']} s",
                "",
            ),
        ]
    width = max(len(row[0]) for row in rows)
    lines = [f"| {'figure'.ljust(width)} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-provider", type=int, default=1000, help="accounts of each provider (default 1000)")
    parser.add_argument("--terminals", type=int, default=3000, help="simulated terminals in all (default 3000)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on readiness after this long")
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds of settled RSS readings after the first runs (median)"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="then kill the worker and measure the restarted one too (the front carries the last one's data)",
    )
    args = parser.parse_args()
    results = run(args)
    print(table(results))
    out = args.json or ROOT / "bench" / "results" / f"accounts-{results['accounts']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"results written to {out}")
    met = (
        not results["crashed"]
        and results["ready_seconds"] is not None
        and results["ready_seconds"] < READY_TARGET_S
        and (results["worker_peak_rss_mib"] or 0) < WORKER_TARGET_MIB
        and (results.get("restart_worker_peak_rss_mib") or 0) < WORKER_TARGET_MIB
    )
    return 0 if met else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
