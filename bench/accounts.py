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
and the CPU seconds a minute the worker and the front used over that window.
Targets: ready in under 30 s, worker under 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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
        started = time.monotonic()
        exporter = Proc(["--config.file", str(path)], workdir / "exporter.log")
        peaks = {"front": 0.0, "worker": 0.0}
        ready = all_runs = None
        deadline = started + args.timeout
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
        # the worker's memory swings by tens of MiB as telemetry batches come and go (every 15 s at
        # 1,000 Starlink accounts): one reading is no figure; the median over the settle window is
        settled: dict[str, list[float]] = {"front": [], "worker": []}
        cpu_before, settle_start = exporter.cpu_seconds(), time.monotonic()
        settle_end = settle_start + args.settle
        while time.monotonic() < settle_end:
            with contextlib.suppress(OSError, ValueError):
                pids = exporter.pids()
                settled["front"].append(rss_mib(pids[0]))
                if len(pids) > 1:
                    settled["worker"].append(rss_mib(pids[-1]))
            time.sleep(1.0)
        cpu_after, settle_seconds = exporter.cpu_seconds(), time.monotonic() - settle_start
        front, *workers = exporter.peak_rss_processes_mib()
        worker = statistics.median(settled["worker"]) if settled["worker"] else None
        results.update(
            {
                "ready_seconds": None if ready is None else round(ready, 1),
                "first_runs_rendered_seconds": None if all_runs is None else round(all_runs, 1),
                "front_peak_rss_mib": round(max(peaks["front"], front), 1),
                "worker_peak_rss_mib": round(max([peaks["worker"], *workers]), 1),
                "front_rss_mib": round(statistics.median(settled["front"]), 1),
                "worker_rss_mib": None if worker is None else round(worker, 1),
                "worker_rss_settled_range_mib": [round(min(settled["worker"]), 1), round(max(settled["worker"]), 1)]
                if settled["worker"]
                else None,
                "worker_rss_per_account_kib": None if worker is None else round(worker * 1024 / results["accounts"], 1),
                # CPU seconds a minute over the settle window: what the accounts' default jobs cost
                "worker_cpu_s_per_min": round((cpu_after[1] - cpu_before[1]) * 60 / settle_seconds, 1),
                "front_cpu_s_per_min": round((cpu_after[0] - cpu_before[0]) * 60 / settle_seconds, 1),
                "crashed": exporter.popen.poll() is not None,
            }
        )
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()
    return results


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
    )
    return 0 if met else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
