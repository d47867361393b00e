"""The monthly usage report: one row per service line per billing cycle, from the providers' own
billing data (`AccountState.cycles`), not from Prometheus, so it is right whatever the retention.

`GET /usage.csv`, `GET /api/usage` and `leo-exporter usage-report` give the same rows. CSV as the
ticketing CSV writes it (UTF-8, header row, RFC 4180 quoting, CRLF, a `'` before a cell of
provider text that a spreadsheet would run as a formula). Columns (the README documents them):

    provider, account, provider_account, service_line, nickname, tags, cycle_start, cycle_end,
    <class>_gb for each usage class, limit_gb, overage_gb, overage_cost, currency,
    mobile_or_fixed, complete

- the classes are the glossary's four (`priority`, `standard`, `opt_in_priority`, a part of
  priority, and `non_billable`) and, after them, any other class a provider reports (OneWeb's
  bucket names); GB are decimal (1e9 bytes), as the providers bill them;
- `limit_gb` is the cycle's plan limit where the provider names it, else the line's limit now;
- `complete` is `true` once the cycle's end is past (by the billing calendar's clock);
- `tags` are the line's tags (`customer=acme;site=north`); totals per value of one tag key
  (`by=tag:<key>`) add up each billing month (the month a cycle starts in: lines start their
  cycles on their own days) over the lines with that value (an untagged line's value is empty).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leo_exporter import catalog
from leo_exporter.state import FleetState
from leo_exporter.status.views import iso

GB = 1e9
CLASSES = ("priority", "standard", "opt_in_priority", "non_billable")
MAX_CYCLES = 25  # config.MAX_BILLING_CYCLES_KEPT: no account keeps more
TAG_PREFIX = "tag_"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReportError(ValueError):
    """A report parameter that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line's one billing cycle, in the report's units (bytes and Unix seconds here)."""

    provider: str
    account: str
    provider_account: str
    service_line: str
    nickname: str
    tags: tuple[tuple[str, str], ...]  # (key, value), the key without its `tag_` label prefix
    start: float
    end: float | None
    by_class: dict[str, float]
    limit_bytes: float | None
    overage_bytes: float | None
    overage_cost: float | None
    currency: str
    mobile: bool | None
    complete: bool


@dataclass(slots=True)
class Total:
    """One tag value's one billing month, summed over its lines."""

    value: str
    month: str
    lines: set[tuple[str, str, str]] = field(default_factory=set)
    by_class: dict[str, float] = field(default_factory=dict)
    overage_bytes: float = 0.0
    cost: dict[str, float] = field(default_factory=dict)  # currency -> amount


def cycles_param(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_CYCLES:
        raise ReportError(f"cycles must be a whole number from 1 to {MAX_CYCLES}")
    return int(raw)


def by_param(raw: str | None) -> str | None:
    """`tag:<key>` -> the tag key; None for no grouping."""
    if raw is None or raw == "":
        return None
    kind, _, key = raw.partition(":")
    if kind != "tag" or not key:
        raise ReportError(f"by must be tag:<key> (a tag key of the config's tags:), got {raw!r}")
    return key


def snapshot(state: FleetState, cycles: int) -> list[Row]:
    """Every line's newest `cycles` billing cycles (run on the state worker)."""
    now = state.calendar()
    rows: list[Row] = []
    for account in state.accounts.values():
        lines = account.service_lines
        for sln in sorted(account.cycles.lines):
            attrs = lines.attrs.get(sln, {})
            tags = tuple((k.removeprefix(TAG_PREFIX), v) for k, v in lines.tag_pairs.get(sln, ()))
            limit_now = lines.get(catalog.SERVICE_LINE_USAGE_LIMIT_BYTES, sln)
            rows.extend(
                Row(
                    provider=account.provider,
                    account=account.name,
                    provider_account=attrs.get("provider_account") or lines.common.get("provider_account", ""),
                    service_line=sln,
                    nickname=attrs.get("name", ""),
                    tags=tags,
                    start=c.start,
                    end=c.end,
                    by_class=dict(c.by_class),
                    limit_bytes=c.limit_bytes if c.limit_bytes is not None else limit_now,
                    overage_bytes=c.overage_bytes,
                    overage_cost=c.overage_cost,
                    currency=c.currency,
                    mobile=c.mobile,
                    complete=c.end is not None and c.end <= now,
                )
                for c in account.cycles.newest(sln, cycles)
            )
    return rows


def classes(rows: Iterable[Row]) -> list[str]:
    """The glossary's classes, then any other a provider reported, in name order."""
    extra = sorted({cls for row in rows for cls in row.by_class} - set(CLASSES))
    return [*CLASSES, *extra]


def totals(rows: Iterable[Row], key: str) -> list[Total]:
    """Per value of tag `key` and billing month: the lines' usage, overage and its cost summed."""
    found: dict[tuple[str, str], Total] = {}
    for row in rows:
        value = dict(row.tags).get(key, "")
        month = datetime.fromtimestamp(row.start, UTC).strftime("%Y-%m")
        total = found.setdefault((value, month), Total(value, month))
        total.lines.add((row.provider, row.account, row.service_line))
        for cls, used in row.by_class.items():
            total.by_class[cls] = total.by_class.get(cls, 0.0) + used
        total.overage_bytes += row.overage_bytes or 0.0
        if row.overage_cost is not None and row.currency:
            total.cost[row.currency] = total.cost.get(row.currency, 0.0) + row.overage_cost
    return [found[k] for k in sorted(found)]


# --- formatting


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _gb(value: float | None) -> float | None:
    return None if value is None else round(value / GB, 6)


def _mobility(mobile: bool | None) -> str:
    return "" if mobile is None else ("mobile" if mobile else "fixed")


def _tags_text(tags: Sequence[tuple[str, str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in tags)


def header(names: Sequence[str]) -> list[str]:
    return [
        "provider",
        "account",
        "provider_account",
        "service_line",
        "nickname",
        "tags",
        "cycle_start",
        "cycle_end",
        *(f"{cls}_gb" for cls in names),
        "limit_gb",
        "overage_gb",
        "overage_cost",
        "currency",
        "mobile_or_fixed",
        "complete",
    ]


def csv_row(row: Row, names: Sequence[str]) -> list[str]:
    return [
        row.provider,
        _text(row.account),
        _text(row.provider_account),
        _text(row.service_line),
        _text(row.nickname),
        _text(_tags_text(row.tags)),
        iso(row.start),
        iso(row.end),
        *(_number(_gb(row.by_class.get(cls))) for cls in names),
        _number(_gb(row.limit_bytes)),
        _number(_gb(row.overage_bytes)),
        _number(row.overage_cost),
        row.currency,
        _mobility(row.mobile),
        "true" if row.complete else "false",
    ]


def totals_header(key: str, names: Sequence[str]) -> list[str]:
    return [f"tag:{key}", "billing_month", "lines", *(f"{cls}_gb" for cls in names), "overage_gb", "overage_cost"]


def _costs(cost: dict[str, float]) -> str:
    return ";".join(f"{_number(amount)} {currency}" for currency, amount in sorted(cost.items()))


def totals_row(total: Total, names: Sequence[str]) -> list[str]:
    return [
        _text(total.value),
        total.month,
        str(len(total.lines)),
        *(_number(_gb(total.by_class.get(cls, 0.0))) for cls in names),
        _number(_gb(total.overage_bytes)),
        _costs(total.cost),
    ]


def _csv(lines: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8")


def csv_bytes(rows: Sequence[Row], by: str | None = None) -> bytes:
    """The report as CSV: one row per line and cycle, or with `by` (a tag key) the totals per value."""
    names = classes(rows)
    if by is not None:
        return _csv([totals_header(by, names), *(totals_row(t, names) for t in totals(rows, by))])
    return _csv([header(names), *(csv_row(row, names) for row in rows)])


def json_row(row: Row) -> dict[str, Any]:
    return {
        "provider": row.provider,
        "account": row.account,
        "provider_account": row.provider_account,
        "service_line": row.service_line,
        "nickname": row.nickname,
        "tags": dict(row.tags),
        "cycle_start": iso(row.start),
        "cycle_end": iso(row.end) or None,
        "usage_gb": {cls: _gb(v) for cls, v in row.by_class.items()},
        "limit_gb": _gb(row.limit_bytes),
        "overage_gb": _gb(row.overage_bytes),
        "overage_cost": row.overage_cost,
        "currency": row.currency or None,
        "mobile_or_fixed": _mobility(row.mobile) or None,
        "complete": row.complete,
    }


def json_data(rows: Sequence[Row], cycles: int, by: str | None = None) -> dict[str, Any]:
    """The report as a JSON document: `{"cycles": N, "rows": [...]}`, or with `by` the totals."""
    if by is None:
        return {"cycles": cycles, "rows": [json_row(row) for row in rows]}
    return {
        "cycles": cycles,
        "by": f"tag:{by}",
        "totals": [
            {
                "value": t.value,
                "billing_month": t.month,
                "lines": len(t.lines),
                "usage_gb": {cls: _gb(v) for cls, v in sorted(t.by_class.items())},
                "overage_gb": _gb(t.overage_bytes),
                "overage_cost": dict(sorted(t.cost.items())),
            }
            for t in totals(rows, by)
        ],
    }
