"""Load benchmark: many concurrent scrapers against a 10,000-terminal fleet, over loopback.

    python bench/load.py                          # 10,000 terminals, 50 scrapers x 10 scrapes, plain then gzip
    python bench/load.py --terminals 2000 --scrapes 3     # a quick look

The simulator and the exporter run as processes (the exporter polls the simulator exactly as it
polls Starlink: telemetry every 15 s keeps changing the state while the scrapers run). Each
scraper is a curl process (so the client is not the bottleneck), `--scrapers` of them at once,
each scraping `--scrapes` times back to back (bounded by `--max-seconds` as well). A scrape is an
error when curl fails (refused, reset, timeout, a short body), the status is not 200, or the body
is less than 90 % of the median size (a cut-off exposition).

Prints a table and writes JSON (default bench/results/load-<terminals>.json): p50 / p90 / p99 /
max scrape latency and errors, plain and gzip; how many scrapes took longer than Prometheus'
default 10 s scrape timeout; the exporter's peak RSS; and whether its jobs kept succeeding while
it was being scraped (the telemetry jobs' last success must move on, no job may fail).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import Proc, log, percentile, wait_until  # noqa: E402


def scrape(url: str, gzip: bool, timeout: float) -> dict[str, Any]:
    """One scrape with curl: seconds, bytes, HTTP code, curl's exit code."""
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", f"{timeout:g}"]
    cmd += ["-w", "%{time_total} %{size_download} %{http_code}", url]
    if gzip:
        cmd[1:1] = ["-H", "Accept-Encoding: gzip"]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    parts = done.stdout.split()
    if len(parts) != 3:
        return {
            "start": started,
            "seconds": time.monotonic() - started,
            "bytes": 0,
            "code": "000",
            "exit": done.returncode,
        }
    return {
        "start": started,
        "seconds": float(parts[0]),
        "bytes": int(parts[1]),
        "code": parts[2],
        "exit": done.returncode,
    }


def run_scrapers(url: str, gzip: bool, scrapers: int, per_scraper: int, max_seconds: float, timeout: float) -> list:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    barrier = threading.Barrier(scrapers)

    def work() -> None:
        barrier.wait()  # all start together: the first round really is `scrapers` at once
        for _ in range(per_scraper):
            if time.monotonic() > deadline:
                return
            result = scrape(url, gzip, timeout)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=work) for _ in range(scrapers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, float]:
    sizes = [r["bytes"] for r in results if r["exit"] == 0 and r["code"] == "200"]
    median = statistics.median(sizes) if sizes else 0
    errors = [r for r in results if r["exit"] != 0 or r["code"] != "200" or r["bytes"] < 0.9 * median]
    seconds = [r["seconds"] for r in results]
    return {
        "scrapes": len(results),
        "errors": len(errors),
        "error_kinds": sorted({f"exit {r['exit']} http {r['code']}" for r in errors}),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p90_ms": percentile(seconds, 90) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": max(seconds, default=math.nan) * 1000,
        "over_10s": sum(1 for s in seconds if s > 10.0),
        "body_mib": median / 2**20,
        "throughput_mib_s": sum(sizes) / 2**20 / max(1e-9, max(r["start"] + r["seconds"] for r in results)
                                                      - min(r["start"] for r in results)),
    }  # fmt: skip


def job_state(url: str) -> dict[str, dict[str, float]]:
    """provider/account/call -> {up, last_success, errors} from the exporter's own metrics."""
    out: dict[str, dict[str, float]] = {}
    text = httpx.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=120).text
    wanted = {
        "leo_exporter_job_up": "up",
        "leo_exporter_job_last_success_timestamp_seconds": "last_success",
        "leo_exporter_job_runs": "runs",
    }
    lines = "\n".join(line for line in text.splitlines() if line.startswith(("leo_exporter_job_", "# ")))
    for family in text_string_to_metric_families(lines):
        key = wanted.get(family.name)
        if key is None:
            continue
        for sample in family.samples:
            name = key
            if key == "runs":
                if sample.labels.get("result") != "error":
                    continue
                name = "errors"
            job = "/".join(sample.labels[k] for k in ("provider", "account", "call"))
            out.setdefault(job, {})[name] = sample.value
    return out


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else math.nan


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not shutil.which("curl"):
        raise SystemExit("bench/load.py needs curl")
    results: dict[str, Any] = {"terminals": args.terminals, "accounts": args.accounts, "scrapers": args.scrapers}
    workdir = Path(tempfile.mkdtemp(prefix="leo-load-"))
    log(f"logs in {workdir}")
    sim = Proc(["simulator", "--accounts", str(args.accounts), "--terminals", str(args.terminals)], workdir / "sim.log")
    exporter: Proc | None = None
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 180, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=60).text)
        config["accounts"] = [a for a in config["accounts"] if a["provider"] == "starlink"]
        for account in config["accounts"]:
            account["request_budget_per_minute"] = 1000
            account["telemetry"] = {"batch_size": 65000, "max_linger": "2s"}
            account["jobs"] = {
                "telemetry": {"interval": "15s"},
                "user_terminals": {"interval": "5m"},
                "service_lines": {"interval": "5m"},
                "data_usage": {"interval": "1h"},
            }
        path = workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        exporter = Proc(["--config.file", str(path)], workdir / "exporter.log")

        def exported() -> bool:
            if "first runs: all rendered" not in httpx.get(exporter.url + "/readyz?verbose", timeout=10).text:
                return False
            text = httpx.get(exporter.url + "/metrics", timeout=120).text
            return text.count("\nleo_terminal_info{") >= args.terminals

        started = time.monotonic()
        wait_until(exported, args.timeout, "every terminal exported", exporter)
        log(f"{args.terminals} terminals exported after {time.monotonic() - started:.0f} s")
        results["rss_idle_mib"] = rss_mib(exporter.popen.pid)
        before = job_state(exporter.url)
        for gzip in (False, True):
            kind = "gzip" if gzip else "plain"
            log(f"{args.scrapers} scrapers x {args.scrapes} scrapes, {kind}")
            phase_started = time.monotonic()
            samples = run_scrapers(
                exporter.url + "/metrics", gzip, args.scrapers, args.scrapes, args.max_seconds, args.scrape_timeout
            )
            figures = summarize(samples)
            figures["seconds"] = time.monotonic() - phase_started
            results[kind] = figures
            log(
                f"{kind}: {figures['scrapes']} scrapes, {figures['errors']} errors, p50 {figures['p50_ms']:.0f} ms, "
                f"p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms"
            )
        after = job_state(exporter.url)
        telemetry = [job for job in after if job.endswith("/telemetry")]
        waited = time.monotonic()
        while time.monotonic() - waited < 30 and any(  # a short load may fall between two telemetry runs
            after[job].get("last_success", 0) <= before.get(job, {}).get("last_success", 0) for job in telemetry
        ):
            time.sleep(1)
            after = job_state(exporter.url)
        results["peak_rss_mib"] = rss_mib(exporter.popen.pid, "VmHWM")
        results["rss_after_mib"] = rss_mib(exporter.popen.pid)
        results["telemetry_jobs_progressed"] = sum(
            1 for job in telemetry if after[job].get("last_success", 0) > before.get(job, {}).get("last_success", 0)
        )
        results["telemetry_jobs"] = len(telemetry)
        results["job_failures_during_load"] = sum(
            after[job].get("errors", 0) - before.get(job, {}).get("errors", 0) for job in after
        )
        results["jobs_down_after"] = sorted(job for job, state in after.items() if state.get("up") != 1.0)
        results["exporter_alive"] = exporter.popen.poll() is None
        text = (workdir / "exporter.log").read_text(errors="replace")
        results["tracebacks_in_log"] = text.count("Traceback")
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()
    return results


def table(r: dict[str, Any]) -> str:
    rows = [
        ("terminals / accounts / concurrent scrapers", f"{r['terminals']:,} / {r['accounts']} / {r['scrapers']}", "")
    ]
    for kind in ("plain", "gzip"):
        f = r[kind]
        rows += [
            (f"{kind}: scrapes / errors", f"{f['scrapes']} / {f['errors']}", "0 errors"),
            (f"{kind}: p50 / p90 / p99 / max", f"{f['p50_ms']:.0f} / {f['p90_ms']:.0f} / {f['p99_ms']:.0f} / "
                                               f"{f['max_ms']:.0f} ms", ""),
            (f"{kind}: scrapes over 10 s", f"{f['over_10s']}", ""),
            (f"{kind}: body, served in all", f"{f['body_mib']:.1f} MiB, {f['throughput_mib_s']:.0f} MiB/s", ""),
        ]  # fmt: skip
    rows += [
        ("exporter RSS idle / after / peak", f"{r['rss_idle_mib']:.0f} / {r['rss_after_mib']:.0f} / "
                                             f"{r['peak_rss_mib']:.0f} MiB", ""),
        ("telemetry jobs that kept succeeding", f"{r['telemetry_jobs_progressed']} of {r['telemetry_jobs']}", "all"),
        ("failed job runs during the load", f"{r['job_failures_during_load']:.0f}", "0"),
        ("exporter alive, tracebacks in its log", f"{r['exporter_alive']}, {r['tracebacks_in_log']}", "True, 0"),
    ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    lines = [f"| {'figure'.ljust(width)} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--scrapers", type=int, default=50, help="concurrent scrapers")
    parser.add_argument("--scrapes", type=int, default=10, help="scrapes per scraper and phase")
    parser.add_argument("--max-seconds", type=float, default=600, help="bound on each phase")
    parser.add_argument("--scrape-timeout", type=float, default=120, help="curl's --max-time per scrape")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the whole fleet")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args()
    results = run(args)
    print(table(results))
    out = args.json or ROOT / "bench" / "results" / f"load-{args.terminals}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"results written to {out}")
    failed = (
        results["plain"]["errors"] + results["gzip"]["errors"] + results["job_failures_during_load"]
        or not results["exporter_alive"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
