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
import logging
import sys
from collections.abc import Callable

import anyio
import httpx
import orjson
from pydantic import ValidationError

from leo_exporter.atomic import write_atomically
from leo_exporter.config import Config, ConfigError, ShardConfig
from leo_exporter.providers import load_config, providers
from leo_exporter.status import usage

log = logging.getLogger("leo_exporter.usage_report")
EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = 0, 1, 2
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
    update = {"accounts": accounts, "collectors": {}, "shard": ShardConfig()}
    return config.model_copy(update=update), problems


async def poll_once(
    config: Config,
    cycles: int,
    transport: httpx.AsyncBaseTransport | None = None,
    calendar: Callable[[], float] | None = None,
) -> tuple[list[usage.Row], list[str]]:
    """Run the report's jobs once; returns (the report's rows, failures as `job: error`)."""
    from leo_exporter.app import Exporter

    exporter = Exporter(config, transport=transport, calendar=calendar)
    wanted = {name: {j.name for j in p.jobs if j.collectors & REPORT_COLLECTORS} for name, p in providers().items()}
    failures: list[str] = []
    try:
        by_account: dict[str, list] = {}
        for job in exporter.scheduler.jobs.values():
            by_account.setdefault(job.status.account.name, []).append(job)

        async def run_account(jobs: list) -> None:
            gated = any(j.gate is not None for j in jobs)
            for job in sorted(jobs, key=lambda j: j.gate is not None):  # the identifying job first
                status = job.status
                identifying = gated and job.gate is None
                if not status.enabled or not (identifying or status.call in wanted[status.account.provider]):
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
        await exporter.render_now()  # applies the tags, as a scrape would see them
        rows = await exporter.worker.run(lambda: usage.snapshot(exporter.state, cycles))
    finally:
        await exporter.aclose()
    return rows, failures


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
    rows, failures = anyio.run(poll_once, config, cycles, transport, calendar)
    body = render(rows, args.format, cycles, by)
    try:
        if args.output in ("-", ""):
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
        else:
            write_atomically(args.output, [body])
    except OSError as exc:
        print(f"cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_PARTIAL
    for failure in failures:
        print(f"job failed: {failure}", file=sys.stderr)
    lines = len({(r.account, r.service_line) for r in rows})
    where = "" if args.output in ("-", "") else f" to {args.output}"
    print(f"wrote {len(rows)} cycle(s) of {lines} service line(s){where}"
          + (f"; {len(failures)} job(s) failed" if failures else ""), file=sys.stderr)  # fmt: skip
    return EXIT_PARTIAL if failures else EXIT_OK
