"""`leo-exporter backfill-usage --config.file F --since DATE [--until DATE] --output usage.om`

Prometheus only knows what it scraped: a fleet that starts the exporter today has no usage
history, and an exporter that was down for a day leaves a hole, though the provider still keeps
every day of its past billing cycles. This asks each account's provider for them once and writes
OpenMetrics with explicit timestamps, which `promtool tsdb create-blocks-from openmetrics` turns
into TSDB blocks for Prometheus' data directory (the README shows the three commands).

What it writes, with the same labels as the live series (the account's label as the running
exporter shows it):
- `leo_service_line_daily_usage_bytes{class}`: one sample per reported day and class, at the last
  second of that day (UTC);
- `leo_service_line_usage_bytes{class}`: the billing cycle's usage to date at the same instants,
  and on a cycle's last day the provider's total for the cycle.

Only providers that keep past cycles can be backfilled (Starlink, from the cycle containing
`--since` on; Kognitive, the cycles `getBillingUsage` still returns: the current one and the closed
ones before it); other accounts (OneWeb) are skipped with a note, or refused when named with
`--account`. Nothing is written unless every selected
account answered: the file is written beside its final name and renamed into place.

Exit codes: 0 written; 1 a provider call failed (nothing written); 2 bad arguments or config, a
`--since` in the future or after `--until`, or an account without usage in the range.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import httpx

from leo_exporter import catalog
from leo_exporter.atomic import write_atomically
from leo_exporter.config import Config, ConfigError, ShardConfig
from leo_exporter.labeltext import escape_label
from leo_exporter.providers import load_config
from leo_exporter.providers.base import UsageHistorySource
from leo_exporter.providers.errors import ProviderError
from leo_exporter.records import LineHistory

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DAY = 86400.0
DAILY = catalog.SERVICE_LINE_DAILY_USAGE_BYTES.name
CYCLE = catalog.SERVICE_LINE_USAGE_BYTES.name
HELP = {
    DAILY: "Data used on one day, by class (backfilled from the provider's usage history).",
    CYCLE: "Data used in the billing cycle up to that day, by class (backfilled from the provider's usage history).",
}


class BackfillError(Exception):
    """Bad input: said in one line, exit 2."""


def parse_day(text: str, flag: str) -> float:
    """`2026-01-01` (midnight UTC) or an ISO 8601 date-time with a zone, as Unix seconds."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BackfillError(f"{flag} {text!r} is not a date (2026-01-01) or an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def check_range(since: float, until: float, now: float) -> None:
    if since >= now:
        raise BackfillError(f"--since {_day(since)} is in the future: there is no usage to fetch yet")
    if until <= since:
        raise BackfillError(f"--until {_day(until)} is not after --since {_day(since)}: the range is empty")


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_command(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "backfill-usage",
        help="write the usage history the providers keep as OpenMetrics for promtool tsdb create-blocks-from",
    )
    p.add_argument("--config.file", dest="config_file", required=True)
    p.add_argument("--since", required=True, help="first day to write, e.g. 2026-01-01 (UTC)")
    p.add_argument("--until", default=None, help="write days before this instant (default: now)")
    p.add_argument("--output", required=True, help="the OpenMetrics file to write")
    p.add_argument(
        "--account", dest="accounts", action="append", default=[], help="only this config account (repeatable)"
    )
    p.set_defaults(handler=run)
    common(p)


@dataclass(frozen=True, slots=True)
class AccountHistory:
    provider: str
    account: str  # the account label the exporter's series carry: the config name
    lines: list[LineHistory]


async def fetch(
    config: Config, names: list[str], since: float, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[list[AccountHistory], list[str]]:
    """Each selected account's history; (histories, notes about skipped accounts)."""
    from leo_exporter.app import Exporter

    exporter = Exporter(config.model_copy(update={"shard": ShardConfig()}), transport=transport)
    histories: list[AccountHistory] = []
    notes: list[str] = []
    try:
        for runtime in exporter.accounts:
            name = runtime.state.name
            if names and name not in names:
                continue
            driver = runtime.driver
            if not isinstance(driver, UsageHistorySource):
                if names:
                    raise BackfillError(f"account {name!r}: {runtime.state.provider} keeps no past billing cycles")
                notes.append(f"skipped {runtime.state.provider} account {name!r}: it keeps no past billing cycles")
                continue
            lines = await driver.usage_history(since)
            histories.append(AccountHistory(runtime.state.provider, runtime.state.name, lines))
    finally:
        await exporter.aclose()
    return histories, notes


def samples(history: AccountHistory, since: float, until: float) -> Iterable[tuple[str, str, float, float]]:
    """(family, labels, value, timestamp) of one account, each day in [since, until)."""
    base = f'provider="{escape_label(history.provider)}",account="{escape_label(history.account)}"'
    for line in history.lines:
        ident = f'{base},service_line="{escape_label(line.service_line)}"'
        totals: dict[tuple[float | None, float | None], dict[str, float]] = {
            (c.start, c.end): dict(c.by_class) for c in line.cycles
        }
        running: dict[tuple[float | None, float | None], dict[str, float]] = {}
        for day, by_class in line.days:
            cycle = next(
                ((s, e) for s, e in totals if s is not None and e is not None and s <= day < e),
                (None, None),
            )
            to_date = running.setdefault(cycle, {})
            for cls, value in by_class.items():
                to_date[cls] = to_date.get(cls, 0.0) + value
            at = day + DAY - 1
            if not since <= day < until or at >= until:
                continue
            last_day = cycle[1] is not None and day + DAY >= cycle[1]
            for cls, value in by_class.items():
                labels = f'{ident},class="{escape_label(cls)}"'
                yield DAILY, labels, value, at
                cycle_value = totals[cycle].get(cls, to_date[cls]) if last_day and cycle in totals else to_date[cls]
                yield CYCLE, labels, cycle_value, at


def openmetrics(rows: Iterable[tuple[str, str, float, float]]) -> bytes:
    """OpenMetrics text: each family's series together, each series in time order, `# EOF`."""
    by_family: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for family, labels, value, at in rows:
        by_family.setdefault(family, {}).setdefault(labels, []).append((at, value))
    out = []
    for family in sorted(by_family):
        out.append(f"# HELP {family} {HELP[family]}\n# TYPE {family} gauge\n# UNIT {family} bytes\n")
        for labels, points in sorted(by_family[family].items()):
            out.extend(f"{family}{{{labels}}} {value!r} {at:.0f}\n" for at, value in sorted(points))
    out.append("# EOF\n")
    return "".join(out).encode()


def run(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    try:
        config = load_config(args.config_file)
    except ConfigError as err:
        err.report(args.config_file)
        return EXIT_USAGE
    try:
        now = clock()
        since = parse_day(args.since, "--since")
        until = parse_day(args.until, "--until") if args.until else now
        check_range(since, until, now)
        unknown = sorted(set(args.accounts) - {a.name for a in config.accounts})
        if unknown:
            raise BackfillError(f"--account {', '.join(unknown)}: not in {args.config_file}")
        histories, notes = anyio.run(fetch, config, args.accounts, since, transport)
        for note in notes:
            print(note, file=sys.stderr)
        if not histories:
            raise BackfillError("no account in the config keeps past billing cycles: nothing to backfill")
        rows = []
        for history in histories:
            mine = list(samples(history, since, until))
            if not mine:
                raise BackfillError(
                    f"{history.provider} account {history.account!r} has no usage between {_day(since)} and "
                    f"{_day(until)} (the provider keeps only recent cycles)"
                )
            rows.extend(mine)
    except BackfillError as exc:
        print(f"backfill-usage: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProviderError as exc:
        print(f"backfill-usage: a provider call failed, nothing written: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        write_atomically(args.output, [openmetrics(rows)])
    except OSError as exc:
        print(f"backfill-usage: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    lines = sum(len(h.lines) for h in histories)
    print(
        f"wrote {len(rows)} samples of {lines} service line(s) in {len(histories)} account(s) to {args.output}; "
        f"next: promtool tsdb create-blocks-from openmetrics {args.output} DATA_DIR",
        file=sys.stderr,
    )
    return EXIT_OK
