"""Mixed-fault benchmark: randomly mixed provider faults across six simulated accounts while 20
scrapers run, then recovery once the faults stop.

    python bench/faults.py --minutes 60            # the full run (one hour of faults)
    python bench/faults.py --minutes 5             # a short one

The simulator (2 Starlink accounts, 2 Kognitive partners, 2 OneWeb partners) and the exporter run
as processes on loopback. Every `--fault-every` seconds a random account gets a random fault for
5-40 s: 429 with a short Retry-After, 429 with `Retry-After: 31536000` (a year), 429 without
Retry-After, 5xx, truncated JSON, connections reset mid-body, malformed bodies, revoked
credentials that are restored when the fault ends, and hostile answers (issue #25): a gzip bomb
(1 GiB of zeros in 1 MiB), an HTTP 500 with a 200 MB body, and on Starlink's telemetry stream
2,000 new enum keys and column names per answer, rows stamped ten years ahead and `[[1]]` alert
lists (`--no-hostile` leaves those out). `--scrapers` threads scrape /metrics (gzip)
the whole time. Hostile clients attack the front meanwhile (`--no-clients` leaves them out;
bench/hostile_clients.py, each attack from its own loopback address): header floods and 10 MiB
URLs, waves of 200 plain scrapes that never read, 1,100 idle connections reopened as they are
closed, SIGSTOP of the worker every 40 s (1 s, then until it is restarted), and the exporter's
wall clock stepped every minute (back 90 s, a day ahead, true again; libfaketime, its monotonic
clock untouched); the front starts with a soft limit of 1,024 open files. After `--minutes` the faults are cleared and the benchmark waits until every job
has succeeded again.

Reports (and writes as JSON, default bench/results/faults-<minutes>m.json): requests each account
sent, token requests included, and the most in any 60 s against its budget (from the simulator's
own request log); crashes (the exporter process gone) and tracebacks in its log; whether each
account's last good data stayed exported through the faults (its terminal count never fell);
scrape errors; the peak resident memory of the front and of the worker (VmHWM, sampled every
10 s, over every worker the front started); the longest time the exposition stood still (its
bytes unchanged while telemetry flows every 5 s; more than 30 s counts as frozen); and the
recovery time after the faults stopped; the hostile clients' figures (floods, SIGSTOP detection).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import Proc, log, percentile, wait_until  # noqa: E402
from bench.hostile_clients import Exporter, Run  # noqa: E402
from leo_exporter.front import RESTART_HOLD  # noqa: E402
from leo_exporter.simulator.faults import max_in_window  # noqa: E402
from tests.processes import faketime_env  # noqa: E402

FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("rate_limit", {"retry_after": 5}),
    ("rate_limit", {"retry_after": 31_536_000}),  # a year: must cost minutes at most
    ("rate_limit_bare", {}),
    ("server_error", {"status": 503}),
    ("server_error", {"status": 500}),
    ("truncated", {}),
    ("reset", {}),
    ("malformed", {}),
    ("revoked", {}),  # credentials restored when the fault ends
]
# hostile answers: the transport-level ones for every provider, the stream ones for Starlink only
HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("gzip_bomb", {"size": 1024}),
    ("huge_error", {"size": 200}),
    ("name_flood", {"size": 2000}),
    ("future_rows", {}),
    ("bad_alerts", {}),
]
STARLINK_ONLY = {"name_flood", "future_rows", "bad_alerts"}
FROZEN_AFTER = 30.0  # seconds without a change in the exposition that count as frozen
PROVIDERS = {"starlink": 2, "kognitive": 2, "oneweb": 2}


def terminal_counts(url: str) -> tuple[dict[str, int], str]:
    """(provider/account) -> terminals exported, and a digest of the exposition, from one gzip scrape."""
    text = httpx.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=60).text
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines = "\n".join(line for line in text.splitlines() if line.startswith(("leo_terminal_info", "# ")))
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(lines):
        if family.name == "leo_terminal_info":
            for sample in family.samples:
                counts[f"{sample.labels['provider']}/{sample.labels['account']}"] += 1
    return dict(counts), digest


def scrapers(url: str, count: int, every: float, stop: threading.Event) -> dict[str, Any]:
    """`count` threads scraping every `every` seconds until `stop`; returns latencies and errors."""
    seconds: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()

    def work() -> None:
        # A connection per scrape: an idle keep-alive connection the server closed meanwhile would
        # fail the next request in httpx (Prometheus' Go client retries such a request instead).
        with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(url + "/metrics", headers={"Accept-Encoding": "gzip"})
                    problem = "" if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                took = time.monotonic() - started
                with lock:
                    seconds.append(took)
                    if problem:
                        errors[problem] += 1
                stop.wait(max(0.0, every - took))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    result: dict[str, Any] = {"threads": threads, "seconds": seconds, "errors": errors}
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="leo-faults-"))
    log(f"logs in {workdir}")
    sim_args = ["simulator", "--accounts", "2", "--oneweb-accounts", "2", "--terminals", str(args.terminals)]
    sim = Proc([*sim_args, "--seed", str(args.seed), "--row-interval", "5"], workdir / "sim.log")
    exporter: Exporter | None = None
    results: dict[str, Any] = {"minutes": args.minutes, "scrapers": args.scrapers, "budget_per_minute": args.budget}
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 120, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=30).text)
        for account in config["accounts"]:
            account.update(
                request_budget_per_minute=args.budget,
                timeout="5s",
                backoff_base="1s",
                backoff_max="30s",
            )
            account["jobs"] = {name: {"interval": "15s"} for name in account.get("jobs", {})}
            if account["provider"] == "starlink":
                account["jobs"] = {n: {"interval": "15s"} for n in ("account", "user_terminals", "service_lines")}
                account["jobs"]["telemetry"] = {"interval": "5s"}
                account["jobs"] |= {n: {"interval": "1m"} for n in ("data_usage", "data_pools", "balance")}
                account["telemetry"] = {"max_linger": "0s", "batch_size": 1000}
        path = workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        clock = workdir / "clock-offset"  # the exporter's wall clock, stepped by the hostile clients
        clock.write_text("+0\n")
        env = faketime_env(clock) if args.clients else None
        exporter = Exporter(["--config.file", str(path)], workdir / "exporter.log", env)
        wait_until(
            lambda: "first runs: all rendered" in httpx.get(exporter.url + "/readyz?verbose", timeout=10).text,
            180,
            "first runs",
            exporter,
        )
        baseline, digest = terminal_counts(exporter.url)
        changed_at, longest_still = time.monotonic(), 0.0
        peaks: dict[str, float] = {"front": 0.0, "worker": 0.0}
        results["accounts"] = sorted(baseline)
        log(f"exporter ready: {sum(baseline.values())} terminals in {len(baseline)} accounts")
        lowest = dict(baseline)
        fell: list[str] = []  # an account's terminals fewer than at the last check of the same worker
        # ... or of the worker before, or when a restarted worker's carry of the last one's data ends:
        # the front carries it while the account has a job that has not succeeded in the new worker,
        # for RESTART_HOLD at most (front.py), so this stays empty unless a provider failed longer
        # than that after the restart (reported, not a failure of the run)
        fell_across: list[str] = []
        seen: tuple[int | None, dict[str, int]] = (exporter.worker(), baseline)
        worker_since = time.monotonic()  # when the worker of `seen` was first seen
        stop = threading.Event()
        scraping = scrapers(exporter.url, args.scrapers, args.scrape_every, stop)
        hostile = Run(exporter, args.minutes * 60, clock) if args.clients else None
        attackers = []
        if hostile is not None:
            for name in ("scraper", "floods", "slow_readers", "idle", "stops", "clock_steps", "memory"):
                attackers.append(threading.Thread(target=getattr(hostile, name), daemon=True))
                attackers[-1].start()

        started = time.time()
        end = time.monotonic() + args.minutes * 60
        injected: Counter[str] = Counter()
        next_check = 0.0
        while time.monotonic() < end:
            provider = rng.choice(sorted(PROVIDERS))
            account = str(rng.randint(1, PROVIDERS[provider]))
            mode, params = rng.choice(FAULTS + (HOSTILE if args.hostile else []))
            if mode in STARLINK_ONLY:
                provider = "starlink"
            fault = {"provider": provider, "account": account, "mode": mode, "seconds": rng.uniform(5, 40), **params}
            answer = httpx.post(sim.url + "/_sim/faults", json=fault, timeout=10)
            if answer.status_code == 200:
                label = mode + ("_huge" if params.get("retry_after", 0) > 86400 else "")
                injected[label] += 1
            else:
                log(f"fault refused: {fault}: {answer.text}")
            if time.monotonic() >= next_check:  # the last good data stays exported, and keeps moving
                worker = exporter.worker()
                counts, now_digest = terminal_counts(exporter.url)
                lowest = {k: min(v, counts.get(k, 0)) for k, v in lowest.items()}
                at = f"{time.time() - started:.0f} s"  # since the faults began: find it in the logs
                dropped = [
                    f"{k}: {v} -> {counts.get(k, 0)} at {at}" for k, v in seen[1].items() if counts.get(k, 0) < v
                ]
                if worker != seen[0]:
                    worker_since = time.monotonic()
                if worker is not None and worker == exporter.worker():
                    # what one worker has exported must never fall; across a restart (its carry
                    # included, with a margin of one check), see fell_across
                    within = worker == seen[0] and time.monotonic() - worker_since >= RESTART_HOLD + 20
                    (fell if within else fell_across).extend(dropped)
                    if dropped:
                        log(f"fell ({'within a worker' if within else 'across a restart'}): {dropped}")
                seen = (worker, counts)
                if now_digest != digest:
                    digest, changed_at = now_digest, time.monotonic()
                longest_still = max(longest_still, time.monotonic() - changed_at)
                with contextlib.suppress(OSError, ValueError):  # a worker restarting meanwhile
                    front, *workers = exporter.peak_rss_processes_mib()
                    peaks = {"front": max(peaks["front"], front), "worker": max([peaks["worker"], *workers])}
                next_check = time.monotonic() + 10
            if exporter.popen.poll() is not None:
                break
            time.sleep(args.fault_every)
        httpx.request("DELETE", sim.url + "/_sim/faults", json={}, timeout=10)
        if hostile is not None:
            hostile.done.set()
            for thread in attackers:
                thread.join(90)
        stopped = time.time()
        log(f"faults stopped after {(stopped - started) / 60:.1f} min: {dict(injected)}")

        recovered = None
        deadline = time.monotonic() + args.recovery_timeout
        while time.monotonic() < deadline and exporter.popen.poll() is None:
            try:  # a worker restarted by the last SIGSTOP answers 503 (plain text) for a few seconds
                answer = httpx.get(exporter.url + "/api/jobs", timeout=30)
                jobs = answer.json()["jobs"] if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError):
                jobs = None
            if jobs is not None and all(
                j["up"] == 1 and (j["last_success"] or 0) > stopped for j in jobs if j["enabled"]
            ):
                recovered = time.time() - stopped
                break
            time.sleep(0.5)
        stop.set()
        for thread in scraping["threads"]:
            thread.join(35)
        with contextlib.suppress(OSError, ValueError):
            front, *workers = exporter.peak_rss_processes_mib()
            peaks = {"front": max(peaks["front"], front), "worker": max([peaks["worker"], *workers])}
        clients: dict[str, Any] = {}
        if hostile is not None:
            h = hostile.figures
            peaks["front"] = max(peaks["front"], h["front_rss_max_mib"])
            clients = {
                "client_scrapes_ok": h["scrapes_ok"],
                "client_scrapes_failed": h["scrapes_failed"],
                "client_scrape_failures": h["scrape_failures"][:20],
                "header_floods": h["floods"],
                "flood_mib_read_max": round(h["flood_bytes_read_max"] / 2**20, 1),
                "long_urls": h["long_urls"],
                "slow_readers_opened": h["slow_readers_opened"],
                "idle_opened": h["idle_opened"],
                "idle_open_max": h["idle_open_max"],
                "sigstops": h["stops"],
                "short_sigstops_taken_for_a_hang": h["short_stop_restarts"],
                "clock_steps": len(h["clock_steps"]),
            }

        requests = httpx.get(sim.url + "/_sim/requests", params={"since": started}, timeout=60).json()["requests"]
        minutes = (time.time() - started) / 60  # the fault phase and the recovery
        per_account: dict[str, dict[str, Any]] = {}
        by_account: dict[str, list[float]] = {}
        for entry in requests:
            key = f"{entry['provider']}/{entry['account']}"
            by_account.setdefault(key, []).append(entry["t"])
            stats = per_account.setdefault(key, {"requests": 0, "token": 0})
            stats["requests"] += 1
            stats["token"] += entry["endpoint"] == "token"
        for key, times in by_account.items():
            per_account[key]["max_per_60s"] = max_in_window(times)
            per_account[key]["per_minute"] = round(len(times) / max(1e-9, minutes), 1)
        seconds = scraping["seconds"]
        log_text = (workdir / "exporter.log").read_text(errors="replace")
        results.update(
            {
                "fault_minutes": round((stopped - started) / 60, 2),
                "faults_injected": dict(injected),
                "requests": per_account,
                "over_budget_accounts": sorted(k for k, v in per_account.items() if v["max_per_60s"] > args.budget),
                "crashes": 0 if exporter.popen.poll() is None else 1,
                "exit_code": exporter.popen.poll(),
                "tracebacks": log_text.count("Traceback"),
                "error_lines": sum(1 for line in log_text.splitlines() if "level=error" in line),
                "terminals_before": baseline,
                "terminals_lowest": lowest,
                "terminals_fell_within_a_worker": fell[:20],
                "terminals_fell_across_a_restart": fell_across[:20],
                "last_good_data_kept": not fell if args.clients else all(lowest[k] >= baseline[k] for k in baseline),
                "recovery_seconds": None if recovered is None else round(recovered, 1),
                "front_peak_rss_mib": round(peaks["front"], 1),
                "worker_peak_rss_mib": round(peaks["worker"], 1),
                "longest_exposition_unchanged_seconds": round(longest_still, 1),
                "frozen_exposition": longest_still > FROZEN_AFTER,
                "scrapes": len(seconds),
                "scrape_errors": dict(scraping["errors"]),
                "scrape_p50_ms": round(percentile(seconds, 50) * 1000, 1),
                "scrape_p99_ms": round(percentile(seconds, 99) * 1000, 1),
                **clients,
            }
        )
        answered = len(seconds) - sum(scraping["errors"].values()) + clients.get("client_scrapes_ok", 0)
        total = len(seconds) + clients.get("client_scrapes_ok", 0) + clients.get("client_scrapes_failed", 0)
        results["scrapes_answered"], results["scrapes_total"] = answered, total
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()
    return results


def table(r: dict[str, Any]) -> str:
    rows = [
        ("fault phase, scrapers", f"{r['fault_minutes']} min, {r['scrapers']} scrapers", ""),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(r["faults_injected"].items())), ""),
    ]
    for account, stats in sorted(r["requests"].items()):
        rows.append(
            (
                f"requests {account}",
                f"{stats['requests']} ({stats['token']} token), {stats['per_minute']}/min, "
                f"max {stats['max_per_60s']} in 60 s",
                f"<= {r['budget_per_minute']} in any 60 s",
            )
        )
    rows += [
        ("crashes / tracebacks", f"{r['crashes']} / {r['tracebacks']}", "0 / 0"),
        ("last good data kept (terminals never fell)", str(r["last_good_data_kept"]), "True"),
        (
            "terminals fell across a worker restart (a provider failing > 120 s after it)",
            "; ".join(r["terminals_fell_across_a_restart"]) or "never",
            "reported",
        ),
        ("peak RSS front / worker", f"{r['front_peak_rss_mib']} / {r['worker_peak_rss_mib']} MiB", ""),
        (
            "longest the exposition stood still",
            f"{r['longest_exposition_unchanged_seconds']} s",
            f"<= {FROZEN_AFTER:g} s (not frozen)",
        ),
        ("recovery after the faults stopped", f"{r['recovery_seconds']} s", ""),
        ("scrapes, errors", f"{r['scrapes']}, {sum(r['scrape_errors'].values())}", "0 errors"),
        ("scrape p50 / p99", f"{r['scrape_p50_ms']} / {r['scrape_p99_ms']} ms", ""),
        ("scrapes answered / total (all scrapers)", f"{r['scrapes_answered']} / {r['scrapes_total']}", "all"),
    ]
    if "header_floods" in r:
        stops = r["sigstops"]
        rows += [
            ("header floods, 10 MiB URLs; most read of a flood", f"{r['header_floods']}, {r['long_urls']}; "
             f"{r['flood_mib_read_max']} MiB sent before the cut", ""),
            ("slow readers; idle connections opened (most open)", f"{r['slow_readers_opened']}; {r['idle_opened']} "
             f"({r['idle_open_max']})", ""),
            ("SIGSTOP -> worker_up 0 / ready again (s)", ", ".join(f"{s['detected_s']:.1f}/{s['ready_again_s']:.1f}"
             for s in stops) or "none", "detected"),
            ("1 s SIGSTOPs taken for a hang", str(r["short_sigstops_taken_for_a_hang"]), "0"),
            ("clock steps (back 90 s, a day ahead, true again)", str(r["clock_steps"]), "no freeze"),
        ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    lines = [f"| {'figure'.ljust(width)} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the fault phase (default 60)")
    parser.add_argument("--terminals", type=int, default=120, help="simulated terminals in all")
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--scrape-every", type=float, default=5.0, help="seconds between one scraper's scrapes")
    parser.add_argument("--fault-every", type=float, default=5.0, help="seconds between new faults")
    parser.add_argument("--budget", type=int, default=60, help="request_budget_per_minute of every account")
    parser.add_argument("--recovery-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--hostile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mix in the hostile answers (gzip bomb, huge error body, name floods, future rows, bad alerts)",
    )
    parser.add_argument(
        "--clients",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hostile clients against the front too (header floods, slow readers, idle floods, SIGSTOP, clock steps)",
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process holds the idle flood
    results = run(args)
    print(table(results))
    out = args.json or ROOT / "bench" / "results" / f"faults-{args.minutes:g}m.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"results written to {out}")
    failed = (
        results["crashes"]
        or results["tracebacks"]
        or results["over_budget_accounts"]
        or not results["last_good_data_kept"]
        or results["frozen_exposition"]
        or results["recovery_seconds"] is None
        or results["scrapes_answered"] < results["scrapes_total"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
