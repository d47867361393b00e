"""The ticketing CSV: one row per terminal with an active service line.

`GET /terminals.csv` and `leo-exporter export-csv` write the same file: UTF-8 without a byte
order mark, a header row, RFC 4180 quoting (`csv.QUOTE_MINIMAL`, CRLF line ends). Rows are
taken from the state as a snapshot of raw values on the state worker, then formatted and sent in
chunks, so a 50,000-terminal fleet never sits in memory as one string.

Columns (the README documents them; keep the two in step):

    provider, account, provider_account, terminal_id, kit_serial, serial, service_line,
    service_line_name, product, online, last_seen, latitude, longitude, active_alerts

- `account` is the name the config gives the account (the `account` label); `provider_account`
  the provider's own account id (Starlink `ACC-…`, for Kognitive the line's Starlink account);
- `online` is `true`, `false`, or empty when the provider has not said yet;
- `last_seen` is ISO 8601 UTC (`2026-01-02T03:04:05Z`), empty when never seen;
- `active_alerts` are the terminal's active alert names joined with `;`;
- a cell of provider text (names, ids, the alert list) that starts with `=`, `+`, `-`, `@`, tab
  or CR gets a leading `'`, so a spreadsheet opening the file does not run it as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence

import anyio.to_thread

from leo_exporter.state import FleetState
from leo_exporter.status.views import LAST_SEEN, LATITUDE, LINE_ACTIVE, LONGITUDE, ONLINE, iso

COLUMNS = (
    "provider",
    "account",
    "provider_account",
    "terminal_id",
    "kit_serial",
    "serial",
    "service_line",
    "service_line_name",
    "product",
    "online",
    "last_seen",
    "latitude",
    "longitude",
    "active_alerts",
)
CHUNK_ROWS = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# A raw row: provider, account, account name, terminal id, kit serial, serial, service line,
# service line name, product, online flag, last seen, latitude, longitude, alert names.
RawRow = tuple[
    str, str, str, str, str, str, str, str, str, float | None, float | None, float | None, float | None, tuple[str, ...]
]


def snapshot(state: FleetState) -> list[RawRow]:
    """Raw values of every terminal whose service line is active (run on the state worker)."""
    rows: list[RawRow] = []
    for account in state.accounts.values():
        terminals, lines = account.terminals, account.service_lines
        active = lines.simple.get(LINE_ACTIVE, {})
        online = terminals.simple.get(ONLINE, {})
        seen = terminals.simple.get(LAST_SEEN, {})
        lat = terminals.simple.get(LATITUDE, {})
        lon = terminals.simple.get(LONGITUDE, {})
        part = []
        for tid, attrs in terminals.attrs.items():
            sln = attrs.get("service_line", "")
            if not sln or active.get(sln) != 1.0:
                continue
            line = lines.attrs.get(sln, {})
            part.append(
                (
                    account.provider,
                    account.name,
                    attrs.get("provider_account") or terminals.common.get("provider_account", ""),
                    tid,
                    attrs.get("kit_serial", ""),
                    attrs.get("serial", ""),
                    sln,
                    line.get("name", ""),
                    line.get("product") or line.get("product_name", ""),
                    online.get(tid),
                    seen.get(tid),
                    lat.get(tid),
                    lon.get(tid),
                    terminals.alerts.get(tid, ()),
                )
            )
        part.sort(key=lambda row: row[3])
        rows.extend(part)
    return rows


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def format_row(row: RawRow) -> list[str]:
    provider, account, provider_account, tid, kit, serial, sln, line_name, product, online, seen, lat, lon, alerts = row
    return [
        provider,
        _text(account),
        _text(provider_account),
        _text(tid),
        _text(kit),
        _text(serial),
        _text(sln),
        _text(line_name),
        _text(product),
        "" if online is None else ("true" if online == 1.0 else "false"),
        iso(seen),
        _number(lat),
        _number(lon),
        _text(";".join(alerts)),  # alert names are the provider's: a new one is exported as it comes
    ]


def format_rows(rows: Sequence[RawRow], header: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(format_row(row) for row in rows)
    return buffer.getvalue().encode("utf-8")


def chunks(rows: Sequence[RawRow], size: int = CHUNK_ROWS) -> Iterable[bytes]:
    """The CSV bytes, header first, `size` rows at a time."""
    yield format_rows(rows[:size], header=True)
    for start in range(size, len(rows), size):
        yield format_rows(rows[start : start + size])


async def stream(rows: Sequence[RawRow], size: int = CHUNK_ROWS) -> AsyncIterator[bytes]:
    """The same chunks, each formatted off the event loop."""
    yield await anyio.to_thread.run_sync(lambda: format_rows(rows[:size], header=True))
    for start in range(size, len(rows), size):
        yield await anyio.to_thread.run_sync(format_rows, rows[start : start + size])
