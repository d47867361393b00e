"""Where the exporter's memory goes: a Starlink-only fleet built in one process, stage by stage.

    python bench/memory.py --terminals 50000 [--json PATH] [--front]

For each stage (inventory, telemetry, usage, a full render, the decode + apply of one
65,000-row telemetry response) it prints VmRSS/VmHWM from /proc/self/status and what holds the
bytes: each EntityTable's parts (measured object by object after the stages, every object counted once, by
the first holder in TABLE_PARTS' order), the renderer's chunk cache and the exposition's gzip body.
The decode stage adds tracemalloc's peak of the parse + decode (the transients). `--front`
starts `python -X importtime -c "import leo_exporter.cli"` (what the front process, `python -m
exporter`, imports) and reports its modules, import times and RSS. Figures move with the machine; give the load average with any you quote.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import subprocess
import sys
import time
import tracemalloc
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import best_full_render, starlink_fleet
from leo_exporter import catalog
from leo_exporter.app import Exporter
from leo_exporter.providers.starlink.simulator.server import StarlinkSimulator
from leo_exporter.providers.starlink.telemetry import StreamDecoder
from leo_exporter.render import Exposition, Renderer
from leo_exporter.state import AccountState

MIB = 1 << 20
BATCH = 65_000
STAGES = {  # stage -> the Starlink jobs it runs
    "inventory": ("account", "user_terminals", "service_lines", "data_pools", "balance"),
    "telemetry": ("telemetry",),
    "usage": ("data_usage",),
}


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB."""
    text = Path("/proc/self/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def deep_size(obj: Any, seen: set[int]) -> int:
    """Bytes of `obj` and of everything it holds that `seen` does not hold yet (then adds them)."""
    size = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        size += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__slots__") or hasattr(item, "__dict__"):
            stack.extend(holdings(item))
    return size


def holdings(item: Any) -> Iterable[Any]:
    """The attributes of an object of ours (column stores), for deep_size."""
    if isinstance(item, str | bytes | float | int | array | memoryview):
        return ()
    slots = getattr(type(item), "__slots__", ())
    values = [getattr(item, name) for name in slots if hasattr(item, name)]
    return values + list(getattr(item, "__dict__", {}).values())


# What each EntityTable holds, in the order bytes are attributed (ids and strings shared between
# parts count for the first one): attribute name -> what the table calls it.
TABLE_PARTS: tuple[tuple[str, str], ...] = (
    ("identity labels", "labels"),
    ("info labels", "info_extra"),
    ("info labels", "info_labels"),
    ("attrs", "attrs"),
    ("simple values", "simple"),
    ("labelled values", "labelled"),
    ("last_seen + stamps", "last_seen"),
    ("last_seen + stamps", "stamps"),
    ("alerts", "alerts"),
    ("inventory", "inventory"),
)


def breakdown(exporter: Exporter, renderer: Renderer | None, exposition: Exposition | None) -> dict[str, float]:
    """MiB held by each kind of thing, summed over accounts (`<table>: <part>`)."""
    seen: set[int] = set()
    out: dict[str, float] = {}
    for account in exporter.state.accounts.values():
        for kind, table in account.tables.items():
            for label, attribute in TABLE_PARTS:
                key = f"{kind}: {label}"
                value = getattr(table, attribute, None)
                out[key] = out.get(key, 0.0) + deep_size(value, seen) / MIB
    if renderer is not None:
        out["renderer: chunk cache"] = deep_size(renderer._cache, seen) / MIB
    if exposition is not None:
        if "gzipped" in getattr(exposition, "__dataclass_fields__", {}):  # a joined body held beside the chunks
            out["exposition: joined gzip body"] = deep_size(exposition.gzipped, seen) / MIB
        out["exposition: chunks not in the cache"] = deep_size(exposition.chunks, seen) / MIB
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.05}


async def run_jobs(exporter: Exporter, calls: tuple[str, ...]) -> None:
    for job in exporter.scheduler.jobs.values():
        if job.status.enabled and job.status.call in calls:
            await exporter.scheduler.run_once(job)


def stage(name: str, results: dict[str, Any], started: float) -> None:
    gc.collect()
    row = {**proc_status(), "seconds": round(time.perf_counter() - started, 2)}
    results["stages"][name] = row
    print(f"{name:<12} VmRSS {row['VmRSS']:7.1f} MiB  VmHWM {row['VmHWM']:7.1f} MiB  ({row['seconds']} s)", flush=True)


def decode_stage(terminals: int) -> dict[str, float]:
    """Parse + decode + apply one 65,000-row response of one account whose devices are all new."""
    sim = StarlinkSimulator(accounts=1, terminals=terminals, seed=3)
    content = sim._read(sim._clients[sim.credentials()[0].client_id], BATCH)
    assert content is not None
    del sim
    gc.collect()
    account = AccountState("starlink", "decode", offline_after=180, online_from_telemetry=True)
    decoder = StreamDecoder(lambda *a: None)
    before = proc_status()
    tracemalloc.start()
    parsed = orjson.loads(content)
    parse_peak = tracemalloc.get_traced_memory()[1]
    batch = decoder.decode(parsed)
    del parsed
    decode_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    account.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
    account.routers.apply_columns(batch.routers, catalog.ROUTER_ALERT)
    for terminal_id, (stamp, allocations) in batch.ips.items():
        account.terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, terminal_id, stamp, allocations)
    apply_peak = tracemalloc.get_traced_memory()[1]
    rows = batch.total_rows
    del batch
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    after = proc_status()
    return {
        "rows": rows,
        "response_mib": round(len(content) / MIB, 1),
        "parse_peak_mib": round(parse_peak / MIB, 1),
        "decode_peak_mib": round(decode_peak / MIB, 1),
        "apply_peak_mib": round(apply_peak / MIB, 1),
        "kept_after_mib": round(kept / MIB, 1),
        "rss_growth_mib": round(after["VmRSS"] - before["VmRSS"], 1),
        "hwm_growth_mib": round(after["VmHWM"] - before["VmHWM"], 1),
    }


def front_figures(module: str = "leo_exporter.cli") -> dict[str, Any]:
    """What the front process imports: modules, import time, RSS (a fresh interpreter). It runs as
    `python -m leo_exporter`, so the command line's imports count, not only leo_exporter.front's."""
    code = (
        f"import re, sys, pathlib; import {module}; "
        "t = pathlib.Path('/proc/self/status').read_text(); "
        "print(int(re.search(r'VmRSS:\\s+(\\d+)', t).group(1)), len(sys.modules), "
        "' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    rss_kb, modules, packages = done.stdout.split(" ", 2)
    cumulative: dict[str, int] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if not name.startswith(" ") and "." not in name:
                cumulative[name] = max(cumulative.get(name, 0), int(parts[1]))
    top = dict(sorted(cumulative.items(), key=lambda kv: -kv[1])[:12])
    return {
        "rss_after_import_mib": round(int(rss_kb) / 1024, 1),
        "modules": int(modules),
        "heavy_imports_ms": {k: round(v / 1000, 1) for k, v in top.items()},
        "packages": packages.split(),
    }


def measure(terminals: int, accounts: int, front: bool) -> dict[str, Any]:
    """The stages' RSS first, then what holds the bytes (counting objects takes memory of its own,
    so it comes last)."""
    logging.disable(logging.WARNING)
    results: dict[str, Any] = {"terminals": terminals, "accounts": accounts, "stages": {}}
    results["load_average"] = os.getloadavg()
    started = time.perf_counter()
    stage("start", results, started)
    exporter = starlink_fleet(accounts, terminals)
    for name, calls in STAGES.items():
        anyio.run(run_jobs, exporter, calls)
        stage(name, results, started)
    exporter.state.tick()
    renderer = Renderer(exporter.state)
    render_s, exposition = best_full_render(renderer)
    results["render_s"] = round(render_s, 2)
    results["series"] = exposition.series
    results["gzip_mib"] = round(sum(len(c.deflated) for c in exposition.chunks) / MIB, 1)
    stage("render", results, started)
    results["decode"] = decode_stage(terminals)
    stage("decode", results, started)
    results["held_mib"] = breakdown(exporter, renderer, exposition)
    if front:
        results["front"] = front_figures()
    results["load_average_end"] = os.getloadavg()
    return results


def report(results: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(f"\n{results['terminals']} terminals, {results['series']:,} series, gzip {results['gzip_mib']} MiB")
    out(
        f"full render {results['render_s']} s (best of 3); load average {results['load_average']} -> {results['load_average_end']}"
    )
    held = results["held_mib"]
    out(f"\n{'held after the render':<48} {'MiB':>8}")
    for key, mib in held.items():
        out(f"{key:<48} {mib:8.1f}")
    out(f"{'total measured':<48} {sum(held.values()):8.1f}")
    out("\ndecode + apply of one response: " + json.dumps(results["decode"]))
    if "front" in results:
        front = results["front"]
        out(f"\nfront: RSS after import {front['rss_after_import_mib']} MiB, {front['modules']} modules")
        out("front imports (cumulative ms): " + json.dumps(front["heavy_imports_ms"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--front", action="store_true", help="also measure what the front process imports")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = measure(args.terminals, args.accounts, args.front)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
