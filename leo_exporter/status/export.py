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
import functools
import logging
from collections.abc import Callable

import anyio
import httpx

from leo_exporter.config import ConfigError
from leo_exporter.oneshot import EXIT_CONFIG, deliver, poll_once
from leo_exporter.providers import load_config
from leo_exporter.status import csvexport

log = logging.getLogger("leo_exporter.export")


def add_command(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "export-csv",
        help="poll every account once and write the ticketing CSV (one row per terminal with an active line)",
    )
    p.add_argument("--config.file", dest="config_file", required=True)
    p.add_argument("--output", default="-", help="file to write (default: standard output)")
    p.set_defaults(handler=run)
    common(p)


def run(args: argparse.Namespace, *, transport: httpx.AsyncBaseTransport | None = None) -> int:
    try:
        config = load_config(args.config_file)
    except ConfigError as err:
        err.report(args.config_file)
        return EXIT_CONFIG
    rows, failures = anyio.run(
        functools.partial(poll_once, config, lambda spec: spec.for_csv, csvexport.snapshot, transport=transport)
    )
    return deliver(args.output, csvexport.chunks(rows), f"{len(rows)} terminal(s)", failures)
