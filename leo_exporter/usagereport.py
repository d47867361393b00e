"""`leo-exporter usage-report --config.file F [--cycles N] [--format csv|json] [--output FILE]
[--by tag:<key>]`: poll the usage once, write the monthly usage report, exit.

Runs, for every account of the config, the jobs the report needs (the identifying job, the
service lines' and the usage jobs: those of the `service_line` and `usage` collector groups,
whatever the config's `collectors:` switch off), each asking for N billing cycles (each account's
`billing_cycles_kept` raised to N for this run, within the provider's maximum), then writes the
report of `leo_exporter.status.usage` to FILE (atomically) or to stdout. No telemetry is read:
a Starlink stream cursor a running exporter shares is not moved. Polls all accounts whatever
the config's shard says.

Exit codes (as `export-csv`): 0 written; 1 written, but some job failed (its lines may be
missing: each failure is printed), or the file could not be written; 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

import anyio
import httpx
import orjson
from pydantic import ValidationError

from leo_exporter.config import Config, ConfigError
from leo_exporter.oneshot import EXIT_CONFIG, deliver, poll_once
from leo_exporter.providers import load_config
from leo_exporter.status import usage

log = logging.getLogger("leo_exporter.usage_report")
REPORT_COLLECTORS = frozenset({"service_line", "usage"})


def _cycles(text: str) -> int:
    try:
        return usage.cycles_param(text, 0)
    except usage.ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("cycles ")) from None


def _by(text: str) -> str:
    try:
        key = usage.by_param(text)
    except usage.ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("by ")) from None
    return key or ""


def add_command(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "usage-report",
        help="poll the providers' billing data once and write the usage per service line and billing cycle",
    )
    p.add_argument("--config.file", dest="config_file", required=True)
    p.add_argument(
        "--cycles", type=_cycles, default=None, help="billing cycles per line, the running one included "
        "(default: the accounts' billing_cycles_kept, 3 unless set)"
    )  # fmt: skip
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    p.add_argument("--output", default="-", help="file to write, whole or not at all (default: standard output)")
    p.add_argument("--by", type=_by, default=None, metavar="tag:KEY", help="totals per value of this tag key")
    p.set_defaults(handler=run)
    common(p)


def for_report(config: Config, cycles: int | None) -> tuple[Config, list[str]]:
    """The config the report polls with: every account asks for at least `cycles` cycles, no
    collector switched off, no shard; and the problems (an account that cannot keep that many)."""
    problems: list[str] = []
    accounts = []
    for index, account in enumerate(config.accounts):
        if cycles is not None and cycles > account.billing_cycles_kept:
            try:  # validated again, so that the provider's own bound holds
                raw = {**account.model_dump(exclude_unset=True), "billing_cycles_kept": cycles}
                account = type(account).model_validate(raw)
            except ValidationError as err:
                where = f"--cycles {cycles}: accounts[{index}] ({account.name})"
                problems.extend(f"{where}: {e['msg']}" for e in err.errors())
        accounts.append(account)
    update = {"accounts": accounts, "collectors": {}}
    return config.model_copy(update=update), problems


def render(rows: list[usage.Row], fmt: str, cycles: int, by: str | None) -> bytes:
    if fmt == "json":
        return orjson.dumps(usage.json_data(rows, cycles, by), option=orjson.OPT_INDENT_2) + b"\n"
    return usage.csv_bytes(rows, by)


def run(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    calendar: Callable[[], float] | None = None,
) -> int:
    try:
        config = load_config(args.config_file)
    except ConfigError as err:
        err.report(args.config_file)
        return EXIT_CONFIG
    by = args.by or None
    if by is not None and by not in config.tags.keys:
        known = ", ".join(config.tags.keys) or "the config declares none"
        print(f"--by tag:{by}: {by!r} is not a tag key of the config's tags: ({known})", file=sys.stderr)
        return EXIT_CONFIG
    config, problems = for_report(config, args.cycles)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    cycles = args.cycles or max((a.billing_cycles_kept for a in config.accounts), default=3)
    rows, failures = anyio.run(
        functools.partial(
            poll_once,
            config,
            lambda spec: bool(spec.collectors & REPORT_COLLECTORS),
            lambda state: usage.snapshot(state, cycles),
            transport=transport,
            calendar=calendar,
        )
    )
    lines = len({(r.account, r.service_line) for r in rows})
    return deliver(
        args.output,
        [render(rows, args.format, cycles, by)],
        f"{len(rows)} cycle(s) of {lines} service line(s)",
        failures,
    )
