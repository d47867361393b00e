"""What one account costs the worker, in one process: bench/accounts.py's mix (N accounts of each
provider, a terminal each, every job at its default interval) polled twice, then the live bytes
an account by file and by line (tracemalloc; the simulator's own objects left out).

    python bench/account_memory.py                   # 100 accounts of each provider (about a minute)
    python bench/account_memory.py --per-provider 30 --lines 60

Issue 25's worker target (under 300 MB at 3,000 accounts) is a matter of these bytes: at 3,000
accounts the worker's settled resident memory was 61 MiB of interpreter and imports plus 1.7
times this figure (session 18: 66.6 KiB an account, 397 MiB; pymalloc's arenas keep the blocks
freed between long-lived ones). The figure is the same from run to run (no clock or scheduling
in it), so two revisions compare in one run each.
"""

from __future__ import annotations

import argparse
import gc
import linecache
import logging
import sys
import tracemalloc
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leo_exporter.app import Exporter  # noqa: E402
from leo_exporter.providers import built_in, parse_config  # noqa: E402
from leo_exporter.simulator.app import build_app, demo_config  # noqa: E402
from tests.conftest import SIMULATED_NOW  # noqa: E402
from tests.inprocess import poll_all  # noqa: E402

LEFT_OUT = [tracemalloc.Filter(False, "*/simulator/*"), tracemalloc.Filter(False, tracemalloc.__file__)]


def where(frame: tracemalloc.Frame) -> str:
    return frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")


async def measure(per_provider: int, lines: int) -> None:
    app = build_app(
        now=SIMULATED_NOW,
        only=built_in(),
        accounts=per_provider,
        oneweb_accounts=per_provider,
        terminals=3 * per_provider,
    )
    config = demo_config("http://simulator", app)
    for index, account in enumerate(config["accounts"]):
        account["name"] = f"{account['provider']}-{index}"  # the simulator's partner ids may repeat
        account.pop("jobs", None)  # the defaults, as bench/accounts.py measures
    accounts = len(config["accounts"])
    gc.collect()
    tracemalloc.start()
    exporter = Exporter(parse_config(config), transport=httpx.ASGITransport(app=app), calendar=app.state.calendar)
    try:
        await poll_all(exporter)
        await poll_all(exporter)
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(LEFT_OUT)
    finally:
        tracemalloc.stop()
        await exporter.aclose()
    by_file = snapshot.statistics("filename")
    total = sum(stat.size for stat in by_file)
    print(f"{accounts} accounts: {total / accounts:,.0f} bytes of live objects an account")
    print("\n| bytes an account | objects | file |\n|---:|---:|---|")
    for stat in by_file[:25]:
        print(f"| {stat.size / accounts:,.0f} | {stat.count / accounts:.1f} | {where(stat.traceback[0])} |")
    print("\n| bytes an account | objects | line |\n|---:|---:|---|")
    for stat in snapshot.statistics("lineno")[:lines]:
        frame = stat.traceback[0]
        code = linecache.getline(frame.filename, frame.lineno).strip()[:80]
        print(f"| {stat.size / accounts:,.0f} | {stat.count / accounts:.1f} | {where(frame)}:{frame.lineno} `{code}` |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-provider", type=int, default=100, help="accounts of each provider (default 100)")
    parser.add_argument("--lines", type=int, default=40, help="how many of the costliest lines to list")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the simulator's accounts lack a permission or two, on purpose
    anyio.run(measure, args.per_provider, args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
