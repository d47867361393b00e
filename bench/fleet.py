"""Fleet-scale benchmark: the simulator and the exporter over loopback, measured in one run.

    python bench/fleet.py --terminals 50000            # the full-size run (several minutes)
    python bench/fleet.py --terminals 500 --quick      # the smoke run CI does

Prints a table and writes JSON (default bench/results/fleet-<terminals>.json):
- full render time of the exposition, and for the same series the stock prometheus_client way
  (labelled Gauges + generate_latest), and their ratio;
- scrape latency p50/p99 with 4 concurrent scrapers, plain and gzip (curl, so the scraper is not
  the bottleneck);
- scrape p99 while a 65,000-row telemetry batch is being ingested;
- time to decode and apply one 65,000-row batch (in process, and the exporter's job duration);
- peak resident memory of the exporter process; the exposition size, plain and gzip.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stock import parse, render_stock, stock_registry  # noqa: E402
from exporter import catalog  # noqa: E402
from exporter.catalog import CATALOG  # noqa: E402
from exporter.providers.starlink.simulator.server import StarlinkSimulator  # noqa: E402
from exporter.providers.starlink.telemetry import StreamDecoder  # noqa: E402
from exporter.render import Renderer, _table_text  # noqa: E402
from exporter.state import AccountState, FleetState  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TARGETS = {
    "render_ratio": ("render, stock ÷ ours", ">= 20x"),
    "scrape_p99_ms": ("cached scrape p99, 4 scrapers", "<= 100 ms"),
    "ingest_p99_ratio": ("scrape p99 during ingest ÷ idle p99", "<= 2x"),
    "ingest_s": ("decode + apply 65,000 rows", "<= 1 s"),
    "peak_rss_mib": ("peak RSS of the exporter", "<= 1024 MiB"),
}
BATCH = 65_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


class Proc:
    def __init__(self, args: list[str], log_path: Path):
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with log_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "exporter", *args, "--web.listen-address", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else math.nan

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise SystemExit(f"{what}: process exited; see {proc.log_path}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}; see {proc.log_path}")


# --- scraping ------------------------------------------------------------------------------------


def scrape_once(url: str, gzip: bool) -> tuple[float, int]:
    """Seconds to fetch the whole body, and its size; curl when present (C, no parsing)."""
    if shutil.which("curl"):
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}", url]
        if gzip:
            cmd[1:1] = ["-H", "Accept-Encoding: gzip"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split()
        if out[2] != "200":
            raise RuntimeError(f"scrape answered {out[2]}")
        return float(out[0]), int(out[1])
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    started = time.perf_counter()
    with httpx.stream("GET", url, headers=headers, timeout=120) as response:
        size = sum(len(chunk) for chunk in response.iter_raw())
    return time.perf_counter() - started, size


def scrapers(url: str, gzip: bool, workers: int, stop: threading.Event, per_worker: int | None = None) -> list:
    """`workers` threads scraping back to back; returns (start, seconds, size) per scrape."""
    results: list[tuple[float, float, int]] = []
    lock = threading.Lock()

    def work() -> None:
        done = 0
        while not stop.is_set() and (per_worker is None or done < per_worker):
            started = time.monotonic()
            seconds, size = scrape_once(url, gzip)
            with lock:
                results.append((started, seconds, size))
            done += 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- in-process measurements --------------------------------------------------------------------


def measure_ingest(terminals: int) -> dict[str, float]:
    """Decode + apply one 65,000-row response of one account whose devices are all distinct."""
    sim = StarlinkSimulator(accounts=1, terminals=terminals, seed=3)
    body = sim._read(sim._clients[sim.credentials()[0].client_id], BATCH)  # one full response
    assert body is not None
    state = FleetState()
    account = AccountState("starlink", "bench", offline_after=180, online_from_telemetry=True)
    state.add_account(account)
    decoder = StreamDecoder(lambda *a: None)
    import orjson

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        batch = decoder.decode(orjson.loads(body))
        account.terminals.last_seen.clear()
        account.routers.last_seen.clear()  # apply as new rows every round
        account.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
        account.routers.apply_columns(batch.routers, catalog.ROUTER_ALERT)
        timings.append(time.perf_counter() - started)
    return {
        "ingest_s": min(timings),
        "ingest_rows": batch.total_rows,
        "ingest_devices": len(batch.terminals.ids) + len(batch.routers.ids),
    }


def measure_render(accounts: int, terminals: int, skip_stock: bool) -> dict[str, float]:
    """Full render of a fleet polled in process, then the same series through prometheus_client."""
    from tests.inprocess import poll_all, simulated_exporter

    logging.disable(logging.WARNING)
    exporter, _ = simulated_exporter(accounts=accounts, terminals=terminals)
    exporter.config.accounts[:] = [a for a in exporter.config.accounts if a.provider == "starlink"]
    for account in exporter.accounts:
        budget = account.driver.ctx.budget  # type: ignore[attr-defined]
        budget.rate = budget.capacity = budget.tokens = 100_000.0
    for name in [n for n, a in exporter.state.accounts.items() if a.provider != "starlink"]:
        del exporter.state.accounts[name]
    exporter.state.jobs[:] = [j for j in exporter.state.jobs if j.account.provider == "starlink"]
    for key in [k for k, j in exporter.scheduler.jobs.items() if j.status.account.provider != "starlink"]:
        del exporter.scheduler.jobs[key]
    anyio.run(poll_all, exporter)
    renderer = Renderer(exporter.state)
    ours = []
    for _ in range(3):
        renderer.invalidate()
        started = time.perf_counter()
        exposition = renderer.render()
        ours.append(time.perf_counter() - started)
    text_only = []
    for _ in range(3):  # the same text without compressing it: what prometheus_client's path produces
        started = time.perf_counter()
        for spec in CATALOG:
            for account in exporter.state.accounts.values():
                table = account.tables.get(spec.entity)
                if table is not None:
                    _table_text(spec, table)
        text_only.append(time.perf_counter() - started)
    result = {"render_s": min(ours), "render_text_s": min(text_only), "series": exposition.series}
    if skip_stock:
        return result
    families = parse(exposition.plain.decode())
    registry = stock_registry(families)
    del families
    started = time.perf_counter()
    stock = render_stock(registry)
    result["stock_render_s"] = time.perf_counter() - started
    started = time.perf_counter()
    gzip.compress(stock, 1)  # what a gzip scrape costs the stock way, on top (at our level, 1)
    result["stock_gzip_s"] = result["stock_render_s"] + time.perf_counter() - started
    result["stock_bytes"] = len(stock)
    result["render_ratio"] = result["stock_gzip_s"] / result["render_s"]
    result["render_text_ratio"] = result["stock_render_s"] / result["render_text_s"]
    logging.disable(logging.NOTSET)
    return result


# --- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {"terminals": args.terminals, "accounts": args.accounts}
    workdir = Path(tempfile.mkdtemp(prefix="leo-bench-"))
    log(f"logs in {workdir}")
    sim = Proc(["simulator", "--accounts", str(args.accounts), "--terminals", str(args.terminals)], workdir / "sim.log")
    exporter: Proc | None = None
    try:
        wait_until(lambda: httpx.get(sim.url + "/", timeout=5).status_code == 200, 120, "simulator", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=30).text)
        config["accounts"] = [a for a in config["accounts"] if a["provider"] == "starlink"]
        for account in config["accounts"]:
            account["request_budget_per_minute"] = 1000  # 500 inventory pages at 50,000 terminals
            account["telemetry"] = {"batch_size": BATCH, "max_linger": "2s"}
            account["jobs"] = {
                "telemetry": {"interval": "15s"},
                "user_terminals": {"interval": "30m"},
                "service_lines": {"interval": "30m"},
                "data_usage": {"interval": "1h"},
            }
        config_path = workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(config))
        sim_state = httpx.get(sim.url + "/starlink/_sim/state", timeout=30).json()

        started = time.monotonic()
        exporter = Proc(["--config.file", str(config_path), "--web.enable-admin-api"], workdir / "exporter.log")
        metrics = exporter.url + "/metrics"

        def all_exported() -> bool:
            if "first runs: all rendered" not in httpx.get(exporter.url + "/readyz?verbose", timeout=10).text:
                return False
            text = httpx.get(metrics, timeout=120).text
            return text.count("\nleo_terminal_info{") >= args.terminals and "leo_service_line_usage_bytes{" in text

        wait_until(all_exported, args.timeout, "every terminal exported", exporter)
        results["time_to_exported_s"] = time.monotonic() - started
        log(f"all {args.terminals} terminals exported after {results['time_to_exported_s']:.0f} s")

        for gzip in (False, True):
            kind = "gzip" if gzip else "plain"
            samples = scrapers(metrics, gzip, 4, threading.Event(), per_worker=args.scrapes)
            seconds = [s for _, s, _ in samples]
            results[f"scrape_{kind}_p50_ms"] = percentile(seconds, 50) * 1000
            results[f"scrape_{kind}_p99_ms"] = percentile(seconds, 99) * 1000
            results[f"exposition_{kind}_mib"] = samples[-1][2] / 2**20
            log(f"{kind}: p50 {results[f'scrape_{kind}_p50_ms']:.0f} ms, p99 {results[f'scrape_{kind}_p99_ms']:.0f} ms")
        results["scrape_p99_ms"] = results["scrape_gzip_p99_ms"]

        results.update(ingest_under_load(exporter, sim, sim_state, args))
        results["peak_rss_mib"] = exporter.peak_rss_mib()
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()

    log("measuring decode + apply of one 65,000-row batch in process")
    results.update(measure_ingest(min(args.terminals, 40_000)))
    log("measuring full render against the stock registry in process")
    results.update(measure_render(args.accounts, args.terminals, args.skip_stock))
    return results


def ingest_under_load(exporter: Proc, sim: Proc, sim_state: dict, args: argparse.Namespace) -> dict[str, float]:
    """Rewind one account so its next telemetry call brings a full 65,000-row batch, poll it now,
    and scrape (gzip, 4 scrapers) until the ingest is done; repeated `rounds` times."""
    account = max(sim_state["accounts"], key=lambda a: a["terminals"])
    rows_per_tick = account["terminals"] + account["routers"]
    ticks = math.ceil(BATCH / max(1, rows_per_tick)) + 1
    # the `account` label is the config name; leo_account_info maps the provider's number to it
    info = re.search(
        r'leo_account_info\{provider="starlink",account="([^"]+)",provider_account="'
        + re.escape(account["accountNumber"])
        + '"',
        httpx.get(exporter.url + "/metrics", timeout=120).text,
    )
    label = info.group(1)  # type: ignore[union-attr]
    job = f"starlink/{label}/telemetry"
    selector = f'provider="starlink",account="{re.escape(label)}",call="telemetry"'
    pattern = re.compile(r"leo_exporter_job_last_run_timestamp_seconds\{" + selector + r"\} (\S+)")
    duration_pattern = re.compile(r"leo_exporter_job_duration_seconds\{" + selector + r"\} (\S+)")

    def last_run() -> tuple[float, float]:
        text = httpx.get(exporter.url + "/metrics", timeout=120).text
        return float(pattern.search(text).group(1)), float(duration_pattern.search(text).group(1))  # type: ignore[union-attr]

    during: list[float] = []
    job_seconds: list[float] = []
    for _ in range(args.rounds):
        before, _ = last_run()
        stop = threading.Event()
        box: list = []

        def scrape_all(box: list = box, stop: threading.Event = stop) -> None:
            box.extend(scrapers(exporter.url + "/metrics", True, 4, stop))

        thread = threading.Thread(target=scrape_all)
        thread.start()
        time.sleep(0.5)
        httpx.post(
            f"{sim.url}/starlink/_sim/accounts/{account['accountNumber']}/rewind", json={"ticks": ticks}, timeout=30
        )
        triggered = time.monotonic()
        httpx.post(f"{exporter.url}/api/jobs/{job}/poll", timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now_run, seconds = last_run()
            if now_run > before:
                break
            time.sleep(0.2)
        finished = time.monotonic() + 1.0  # the render that follows the apply
        time.sleep(1.0)
        stop.set()
        thread.join()
        during += [s for start, s, _ in box if triggered - 0.1 <= start <= finished]
        job_seconds.append(seconds)
        time.sleep(2)
    return {
        "ingest_scrape_p99_ms": percentile(during, 99) * 1000,
        "ingest_scrapes": len(during),
        "ingest_job_s": statistics.median(job_seconds),
    }


def table(results: dict[str, float]) -> str:
    idle = results.get("scrape_gzip_p99_ms", math.nan)
    results["ingest_p99_ratio"] = results.get("ingest_scrape_p99_ms", math.nan) / idle if idle else math.nan
    rows = [
        ("terminals / accounts / series", f"{results['terminals']:,.0f} / {results['accounts']:.0f} / {results.get('series', 0):,.0f}", ""),
        ("time until every terminal is exported", f"{results.get('time_to_exported_s', math.nan):.0f} s", ""),
        ("full render, text only: ours / stock prometheus_client", f"{results['render_text_s']:.2f} / {results.get('stock_render_s', math.nan):.2f} s", ""),
        ("  ratio, text (stock ÷ ours)", f"{results.get('render_text_ratio', math.nan):.1f}x", ">= 20x"),
        ("full render with gzip: ours / stock + gzip", f"{results['render_s']:.2f} / {results.get('stock_gzip_s', math.nan):.2f} s", ""),
        ("  ratio, with gzip (stock ÷ ours)", f"{results.get('render_ratio', math.nan):.1f}x", ">= 20x"),
        ("scrape p50 / p99, plain, 4 scrapers", f"{results['scrape_plain_p50_ms']:.0f} / {results['scrape_plain_p99_ms']:.0f} ms", ""),
        ("scrape p50 / p99, gzip, 4 scrapers", f"{results['scrape_gzip_p50_ms']:.0f} / {results['scrape_gzip_p99_ms']:.0f} ms", "p99 <= 100 ms"),
        ("scrape p99 (gzip) during a 65,000-row ingest", f"{results['ingest_scrape_p99_ms']:.0f} ms ({results['ingest_scrapes']:.0f} scrapes)", ""),
        ("  ratio to idle p99", f"{results['ingest_p99_ratio']:.2f}x", "<= 2x"),
        ("decode + apply 65,000 rows (in process)", f"{results['ingest_s']:.2f} s ({results['ingest_devices']:,.0f} devices)", "<= 1 s"),
        ("telemetry job with a 65,000-row batch (exporter)", f"{results['ingest_job_s']:.2f} s", ""),
        ("peak RSS of the exporter", f"{results['peak_rss_mib']:.0f} MiB", "<= 1024 MiB"),
        ("exposition size, plain / gzip", f"{results['exposition_plain_mib']:.1f} / {results['exposition_gzip_mib']:.1f} MiB", ""),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'figure'.ljust(width)} | measured | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminals", type=int, default=50_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=15, help="scrapes per scraper for the idle figures")
    parser.add_argument("--rounds", type=int, default=3, help="65,000-row ingests to scrape through")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the whole fleet")
    parser.add_argument("--skip-stock", action="store_true", help="do not time prometheus_client")
    parser.add_argument("--quick", action="store_true", help="few scrapes and one ingest (the CI smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args()
    if args.quick:
        args.scrapes, args.rounds = 3, 1
    results = run(args)
    print(table(results))
    out = args.json or ROOT / "bench" / "results" / f"fleet-{args.terminals}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"results written to {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
