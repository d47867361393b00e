"""Soak benchmark: a long run with terminals joining and leaving, and alerts toggling.

    python bench/soak.py                              # 10 minutes, 10,000 terminals, 2 % replaced every 30 s
    python bench/soak.py --minutes 20                 # a longer look at the slope
    python bench/soak.py --minutes 4 --warmup 1 --terminals 2000   # a quick look

The simulator runs with `--churn` (each period a fraction of every Starlink inventory leaves, with
its telemetry, router and service line, and as many new terminals join; alerts come and go on
their own) and the exporter polls it with short inventory intervals, while a scraper fetches
`/metrics` every `--scrape-every` seconds like a Prometheus would. Every `--sample-every` seconds
the exporter's resident memory (VmRSS) and series count are sampled.

At the end the churn is frozen and, once the exporter has polled the inventory again (and
`offline_after` has passed for telemetry that came in late), no series may name a terminal or
router the simulator says has left, and every terminal it says is there must be exported.

Reports memory growth after the warm-up (`--warmup`, 5 minutes: the simulator's slowest rows, IP
allocations, come every 5 minutes, so only then is the fleet's state complete; the target is
< 5 %): the median of the samples in the last minute against the median of those in the first
minute after the warm-up (memory moves with the work in flight, so whole minutes are compared),
the peak, and the slope of a least-squares line through the samples after the warm-up.
The growth from 2 minutes on is shown as well, with how much the series grew meanwhile. Prints a
table and writes JSON (default bench/results/soak-<minutes>m.json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
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

from bench.fleet import Proc, log, wait_until  # noqa: E402
from bench.load import rss_mib  # noqa: E402

ID_LABELS = ("terminal_id", "router_id", "service_line")
EARLY_S = 120.0
WINDOW_S = 60.0  # memory moves with the work in flight: compare the medians of whole minutes


def window_median(samples: list[dict[str, Any]], start: float, key: str) -> float:
    """Median of `key` over the samples in [start, start + WINDOW_S]."""
    return statistics.median(s[key] for s in samples if start <= s["t"] <= start + WINDOW_S)


def exposition(url: str) -> str:
    return httpx.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=120).text


def identities(text: str) -> dict[str, dict[str, set[str]]]:
    """label -> id -> families it appears in (only series that carry an identity label)."""
    out: dict[str, dict[str, set[str]]] = {label: {} for label in ID_LABELS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label in ID_LABELS:
                value = sample.labels.get(label)
                if value is not None:
                    out[label].setdefault(value, set()).add(sample.name)
    return out


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def alert_pairs(text: str) -> set[tuple[str, str]]:
    return {
        (line.split('terminal_id="', 1)[1].split('"', 1)[0], line.split('alert="', 1)[1].split('"', 1)[0])
        for line in text.splitlines()
        if line.startswith("leo_terminal_alert{")
    }


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return math.nan
    xs, ys = [p[0] / 60 for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else math.nan


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "minutes": args.minutes,
        "terminals": args.terminals,
        "accounts": args.accounts,
        "churn": args.churn,
        "churn_period_s": args.churn_period,
        "warmup_min": args.warmup,
    }
    workdir = Path(tempfile.mkdtemp(prefix="leo-soak-"))
    log(f"logs in {workdir}")
    sim_args = ["simulator", "--accounts", str(args.accounts), "--terminals", str(args.terminals)]
    sim_args += ["--churn", str(args.churn), "--churn-period", str(args.churn_period), "--seed", str(args.seed)]
    sim = Proc(sim_args, workdir / "sim.log")
    exporter: Proc | None = None
    stop = threading.Event()
    scrapes: list[tuple[float, float, bool]] = []
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 180, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=60).text)
        config["accounts"] = [a for a in config["accounts"] if a["provider"] == "starlink"]
        for account in config["accounts"]:
            account["request_budget_per_minute"] = 600
            account["telemetry"] = {"batch_size": 65000, "max_linger": "2s"}
            account["jobs"] = {
                "telemetry": {"interval": "15s"},
                "user_terminals": {"interval": f"{args.inventory_every:g}s"},
                "service_lines": {"interval": f"{args.inventory_every:g}s"},
                "data_usage": {"interval": "1m"},
            }
        config["offline_after"] = f"{args.offline_after:g}s"
        path = workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        exporter = Proc(["--config.file", str(path)], workdir / "exporter.log")
        pid = exporter.popen.pid
        wait_until(
            lambda: "first runs: all rendered" in httpx.get(exporter.url + "/readyz?verbose", timeout=10).text,
            600,
            "ready",
            exporter,
        )
        started = time.monotonic()
        log(f"exporter ready; soaking for {args.minutes:g} minutes")

        def scraper() -> None:  # a Prometheus-like scraper, bounded by the run's length
            while not stop.wait(args.scrape_every):
                began = time.monotonic()
                try:
                    ok = httpx.get(exporter.url + "/metrics", timeout=30).status_code == 200
                except httpx.HTTPError:
                    ok = False
                scrapes.append((began - started, time.monotonic() - began, ok))

        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        samples: list[dict[str, Any]] = []
        alerts_seen: list[set[tuple[str, str]]] = []
        end = started + args.minutes * 60
        while time.monotonic() < end:
            if exporter.popen.poll() is not None:
                raise SystemExit(f"the exporter exited; see {exporter.log_path}")
            text = exposition(exporter.url)
            alerts = alert_pairs(text)
            alerts_seen.append(alerts)
            samples.append(
                {
                    "t": time.monotonic() - started,
                    "rss_mib": rss_mib(pid),
                    "series": series_count(text),
                    "terminals": text.count("\nleo_terminal_info{"),
                    "alerts": len(alerts),
                }
            )
            s = samples[-1]
            log(f"t={s['t']:5.0f}s rss {s['rss_mib']:.1f} MiB, {s['series']:,} series, {s['terminals']:,} terminals, "
                f"{s['alerts']} active alerts")  # fmt: skip
            time.sleep(max(0.0, min(args.sample_every, end - time.monotonic())))
        stop.set()
        thread.join(timeout=60)

        warm = [s for s in samples if s["t"] >= args.warmup * 60]
        if len(warm) < 4:
            raise SystemExit("too few samples after the warm-up: run longer (--minutes) or sample more often")
        baseline = window_median(warm, warm[0]["t"], "rss_mib")
        final = window_median(warm, warm[-1]["t"] - WINDOW_S, "rss_mib")
        # For comparison, from 2 minutes on, while the fleet's state is still filling up.
        early = [s for s in samples if s["t"] >= EARLY_S]
        if len(early) >= 6 and args.warmup * 60 > EARLY_S:
            base = window_median(early, early[0]["t"], "rss_mib")
            results["rss_early_baseline_mib"] = base
            results["rss_growth_after_2min_pct"] = (final - base) / base * 100
            first = window_median(early, early[0]["t"], "series")
            results["series_growth_after_2min_pct"] = (
                (window_median(early, early[-1]["t"] - WINDOW_S, "series") - first) / first * 100
            )
        results.update(
            {
                "samples": samples,
                "rss_start_mib": samples[0]["rss_mib"],
                "rss_baseline_mib": baseline,
                "rss_final_mib": final,
                "rss_max_after_warmup_mib": max(s["rss_mib"] for s in warm),
                "rss_growth_pct": (final - baseline) / baseline * 100,
                "rss_slope_mib_per_min": slope_per_minute([(s["t"], s["rss_mib"]) for s in warm]),
                "series_min_after_warmup": min(s["series"] for s in warm),
                "series_max_after_warmup": max(s["series"] for s in warm),
                "alert_pairs_seen": len(set().union(*alerts_seen)),
                "alert_toggles": sum(len(a ^ b) for a, b in itertools.pairwise(alerts_seen)),
                "scrapes": len(scrapes),
                "scrape_failures": sum(1 for _, _, ok in scrapes if not ok),
                "scrape_max_s": max((s for _, s, _ in scrapes), default=math.nan),
            }
        )
        results.update(check_departed(args, sim, exporter))
        results["exporter_alive"] = exporter.popen.poll() is None
        exporter_log = exporter.log_path.read_text(errors="replace")
        results["tracebacks_in_log"] = exporter_log.count("Traceback")
        results["job_failures_logged"] = exporter_log.count('msg="job failed')
    finally:
        stop.set()
        if exporter is not None:
            exporter.stop()
        sim.stop()
    return results


def check_departed(args: argparse.Namespace, sim: Proc, exporter: Proc) -> dict[str, Any]:
    """Freeze the churn, then wait (bounded) until the exporter shows exactly the simulator's fleet."""
    churn = httpx.post(sim.url + "/starlink/_sim/churn", json={"frozen": True}, timeout=60).json()
    frozen_at = time.monotonic()
    present = {t for a in churn["accounts"] for t in a["present"]}
    departed = {t for a in churn["accounts"] for t in a["departed"]}
    joined = {t for a in churn["accounts"] for t in a["joined"]}
    present_routers = {r for a in churn["accounts"] for r in a["presentRouters"]}
    departed_routers = {r for a in churn["accounts"] for r in a["departedRouters"]}
    log(f"churn frozen at epoch {churn['epoch']}: {len(present):,} present, {len(departed):,} departed, "
        f"{len(joined):,} joined since the start")  # fmt: skip
    limit = args.inventory_every + args.offline_after + 60
    first: dict[str, int] | None = None
    while True:
        found = identities(exposition(exporter.url))
        terminals, routers = found["terminal_id"], found["router_id"]
        stale = {t: sorted(terminals[t]) for t in departed if t in terminals}
        stale_routers = {r: sorted(routers[r]) for r in departed_routers if r in routers}
        info = {t for t, families in terminals.items() if "leo_terminal_info" in families}
        missing = present - info
        missing_routers = present_routers - set(routers)
        state = {
            "stale_terminals": len(stale),
            "stale_routers": len(stale_routers),
            "missing_terminals": len(missing),
            "missing_routers": len(missing_routers),
        }
        if first is None:
            first = state
        waited = time.monotonic() - frozen_at
        if not any(state.values()) or waited > limit:
            break
        log(f"waiting for the exporter to catch up with the frozen fleet: {state}")
        time.sleep(5)
    return {
        "departed_terminals": len(departed),
        "joined_terminals": len(joined),
        "present_terminals": len(present),
        "departed_routers": len(departed_routers),
        "at_freeze": first,
        "after": state,
        "seconds_to_clean": waited,
        "stale_examples": dict(list(stale.items())[:5]),
        "missing_examples": sorted(missing)[:5],
    }


def table(r: dict[str, Any]) -> str:
    after = r["after"]
    rows = [
        ("run", f"{r['minutes']:g} min, {r['terminals']:,} terminals in {r['accounts']} accounts", ""),
        ("churn", f"{r['churn'] * 100:g} % every {r['churn_period_s']:g} s: {r['departed_terminals']:,} left, "
                  f"{r['joined_terminals']:,} joined", ""),
        ("alerts", f"{r['alert_pairs_seen']:,} (terminal, alert) pairs seen, {r['alert_toggles']:,} toggles", ""),
        ("RSS at start / after warm-up / final", f"{r['rss_start_mib']:.0f} / {r['rss_baseline_mib']:.1f} / "
                                                 f"{r['rss_final_mib']:.1f} MiB", ""),
        (f"RSS growth after the {r['warmup_min']:g}-minute warm-up", f"{r['rss_growth_pct']:+.1f} %", "< 5 %"),
        ("RSS growth after 2 min (state still filling)", f"{r.get('rss_growth_after_2min_pct', math.nan):+.1f} % "
         f"(series {r.get('series_growth_after_2min_pct', math.nan):+.1f} %)", ""),
        ("RSS peak after warm-up, slope", f"{r['rss_max_after_warmup_mib']:.1f} MiB, "
                                          f"{r['rss_slope_mib_per_min']:+.2f} MiB/min", ""),
        ("series after warm-up, min / max", f"{r['series_min_after_warmup']:,} / {r['series_max_after_warmup']:,}", ""),
        ("series of departed terminals / routers", f"{after['stale_terminals']} / {after['stale_routers']} "
                                                   f"({r['seconds_to_clean']:.0f} s after the freeze)", "0 / 0"),
        ("present terminals / routers not exported", f"{after['missing_terminals']} / {after['missing_routers']}",
         "0 / 0"),
        ("scrapes, failed, slowest", f"{r['scrapes']}, {r['scrape_failures']}, {r['scrape_max_s']:.2f} s", "0 failed"),
        ("exporter alive, tracebacks, failed job runs", f"{r['exporter_alive']}, {r['tracebacks_in_log']}, "
                                                        f"{r['job_failures_logged']}", "True, 0, 0"),
    ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    lines = [f"| {'figure'.ljust(width)} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="minutes before the memory baseline (default 5: one cycle of the slowest telemetry rows, "
        "IP allocations, so the fleet's state is complete)",
    )
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--churn", type=float, default=0.02, help="fraction of each inventory replaced per period")
    parser.add_argument("--churn-period", type=float, default=30.0, help="seconds between inventory changes")
    parser.add_argument("--inventory-every", type=float, default=30.0, help="user_terminals/service_lines interval")
    parser.add_argument("--offline-after", type=float, default=60.0, help="the exporter's offline_after, seconds")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--scrape-every", type=float, default=5.0, help="seconds between background scrapes")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args()
    results = run(args)
    print(table(results))
    out = args.json or ROOT / "bench" / "results" / f"soak-{args.minutes:g}m.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"results written to {out}")
    after = results["after"]
    ok = (
        results["rss_growth_pct"] < 5.0
        and not any(after.values())
        and results["exporter_alive"]
        and not results["tracebacks_in_log"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
