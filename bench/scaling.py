"""The cost curve: bench/fleet.py at growing fleets, then the table, the fitted growth and the plot.

    python bench/scaling.py                                   # 5,000 .. 100,000 terminals (an hour or more)
    python bench/scaling.py --sizes 5000,10000 --quick --skip-stock
    python bench/scaling.py --reuse                           # resume: sizes with a result are not run again
    python bench/scaling.py --report-only                     # redraw from the results there are

Each size runs in its own `bench/fleet.py` process (a fresh interpreter, so one size's memory
does not inflate the next one's peak) writing `<results-dir>/fleet-<terminals>.json`; then
`bench/curve.py` writes `scaling.json` and `scaling.md` to `--published` (bench/published) and
the plot to `--plot` (docs/scaling.png). `--shards-at 100000:2` runs the sizes named there with
that many exporter processes: at 100,000 terminals one process is past every limit the smaller
sizes extrapolate to (scaling.md says where), so the curve's last point is the sharded
deployment a user would run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.curve import load_runs, write_report  # noqa: E402

DEFAULT_SIZES = "5000,10000,20000,50000,100000"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_shards(text: str) -> dict[int, int]:
    """`100000:2,200000:4` -> {100000: 2, 200000: 4}."""
    pairs = [part.split(":") for part in text.split(",") if part.strip()]
    return {int(size): int(shards) for size, shards in pairs}


def run_size(terminals: int, shards: int, out: Path, fleet_args: list[str]) -> None:
    """One bench/fleet.py run; its wall time and command are added to its JSON (`bench_wall_s`,
    `bench_command`)."""
    command = [sys.executable, str(ROOT / "bench" / "fleet.py"), "--terminals", str(terminals), "--json", str(out)]
    if shards > 1:
        command += ["--shards", str(shards)]
    command += fleet_args
    log(" ".join(command[1:]))
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    results = json.loads(out.read_text())
    results["bench_wall_s"] = round(time.monotonic() - started)
    results["bench_command"] = " ".join(
        ["python", *(str(Path(c).relative_to(ROOT)) if c.startswith(str(ROOT)) else c for c in command[1:])]
    )
    out.write_text(json.dumps(results, indent=2, sort_keys=True))
    log(f"{terminals:,} terminals: {results['bench_wall_s']} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"terminals per point (default {DEFAULT_SIZES})")
    parser.add_argument("--shards-at", default="100000:2", help="SIZE:SHARDS pairs run sharded (default 100000:2)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results" / "scaling")
    parser.add_argument("--reuse", action="store_true", help="keep a size's existing result (same shards)")
    parser.add_argument("--report-only", action="store_true", help="run nothing; report the results there are")
    parser.add_argument("--published", type=Path, default=ROOT / "bench" / "published")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    parser.add_argument("--quick", action="store_true", help="bench/fleet.py --quick at every size")
    parser.add_argument("--skip-stock", action="store_true", help="bench/fleet.py --skip-stock at every size")
    parser.add_argument("--prometheus", action="store_true", help="bench/fleet.py --prometheus up to --prometheus-max")
    parser.add_argument(
        "--prometheus-max",
        type=int,
        default=50_000,
        help="largest fleet Prometheus scrapes (default 50,000: it holds about 3.5 KiB per series, so "
        "100,000 terminals would take some 20 GiB)",
    )
    args, fleet_args = parser.parse_known_args()
    fleet_args += [flag for flag in ("--quick", "--skip-stock") if getattr(args, flag[2:].replace("-", "_"))]
    sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    shards_at = parse_shards(args.shards_at)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for terminals in sizes:
        shards = shards_at.get(terminals, 1)
        out = args.results_dir / f"fleet-{terminals}.json"
        paths.append(out)
        if args.report_only:
            continue
        if args.reuse and out.exists() and json.loads(out.read_text()).get("shards", 1) == shards:
            log(f"{terminals:,} terminals: reusing {out}")
            continue
        prometheus = ["--prometheus"] if args.prometheus and terminals <= args.prometheus_max else []
        run_size(terminals, shards, out, fleet_args + prometheus)
    missing = [path for path in paths if not path.exists()]
    if missing:
        raise SystemExit(f"no result for {', '.join(map(str, missing))}")
    analysis = write_report(load_runs(paths), args.published, args.plot)
    for key, entry in analysis.items():
        if entry["exponent"] is not None:
            log(f"{key}: ∝ N^{entry['exponent']:.2f} ({entry['growth']})")
    log(f"wrote {args.published / 'scaling.md'}, {args.published / 'scaling.json'} and {args.plot}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
