"""`leo-exporter export-csv --config.file F [--output FILE]`: poll once, write the ticketing CSV, exit.

Runs every enabled job of every account in the config once (identifying jobs first; the jobs
no column needs, those whose `JobSpec.for_csv` is False, are skipped), then writes
the CSV of `leo_exporter.status.csvexport` to FILE (atomically: a temporary file renamed into place)
or to stdout. It is a one-off, not a replica: it polls all accounts whatever the config's shard
says.

Starlink: its telemetry stream has one cursor per service account, so this command reads rows
that a running exporter on the same credentials would then miss. Against a running exporter,
fetch `GET /terminals.csv` from it instead, or give this command its own service account.

Exit codes: 0 written; 1 written, but some job failed (its accounts' rows may be missing or
stale: each failure is printed); 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import IO

import anyio
import httpx

from leo_exporter.atomic import write_atomically
from leo_exporter.config import Config, ConfigError, ShardConfig
from leo_exporter.providers import load_config, providers
from leo_exporter.status import csvexport

log = logging.getLogger("leo_exporter.export")
EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = 0, 1, 2


def add_command(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "export-csv",
        help="poll every account once and write the ticketing CSV (one row per terminal with an active line)",
    )
    p.add_argument("--config.file", dest="config_file", required=True)
    p.add_argument("--output", default="-", help="file to write (default: standard output)")
    p.set_defaults(handler=run)
    common(p)


async def poll_once(config: Config, transport: httpx.AsyncBaseTransport | None = None) -> tuple[list, list[str]]:
    """Run the jobs once; returns (CSV snapshot rows, failures as `job: error`)."""
    from leo_exporter.app import Exporter

    exporter = Exporter(config.model_copy(update={"shard": ShardConfig()}), transport=transport)
    failures: list[str] = []
    csv_skips = {name: {job.name for job in p.jobs if not job.for_csv} for name, p in providers().items()}
    try:
        by_account: dict[str, list] = {}
        for job in exporter.scheduler.jobs.values():
            by_account.setdefault(job.status.account.name, []).append(job)

        async def run_account(jobs: list) -> None:
            for job in sorted(jobs, key=lambda j: j.gate is not None):  # the identifying job first
                status = job.status
                if not status.enabled or status.call in csv_skips[status.account.provider]:
                    continue
                if job.gate is not None and not job.gate.is_set():
                    failures.append(f"{status.key}: not run, the account could not be identified")
                    continue
                ok, _ = await exporter.scheduler.run_once(job)
                if not ok:
                    failures.append(f"{status.key}: {status.last_error}")

        async with anyio.create_task_group() as tg:
            for jobs in by_account.values():
                tg.start_soon(run_account, jobs)
        await exporter.render_now()  # derives online flags from telemetry age, as a scrape would see them
        rows = await exporter.worker.run(lambda: csvexport.snapshot(exporter.state))
    finally:
        await exporter.aclose()
    return rows, failures


def write(rows: list, out: IO[bytes]) -> None:
    for chunk in csvexport.chunks(rows):
        out.write(chunk)


def write_file(rows: list, path: str) -> None:
    """Written whole or not at all (leo_exporter/atomic.py)."""
    write_atomically(path, csvexport.chunks(rows))


def run(args: argparse.Namespace, *, transport: httpx.AsyncBaseTransport | None = None) -> int:
    try:
        config = load_config(args.config_file)
    except ConfigError as err:
        err.report(args.config_file)
        return EXIT_CONFIG
    rows, failures = anyio.run(poll_once, config, transport)
    try:
        if args.output in ("-", ""):
            write(rows, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            write_file(rows, args.output)
    except OSError as exc:
        print(f"cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_PARTIAL
    for failure in failures:
        print(f"job failed: {failure}", file=sys.stderr)
    where = "" if args.output in ("-", "") else f" to {args.output}"
    print(f"wrote {len(rows)} terminal(s){where}" + (f"; {len(failures)} job(s) failed" if failures else ""),
          file=sys.stderr)  # fmt: skip
    return EXIT_PARTIAL if failures else EXIT_OK
