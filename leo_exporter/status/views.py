"""What the status page, its JSON API and the CSV show, read from the fleet state.

The functions taking a `FleetState` iterate the big tables, so they must run on the state
worker (`await exporter.worker.run(...)`), where no job changes a table while they read it.
They return plain data (dicts, tuples) that the event loop can then format at leisure. Each
keeps its output bounded: a page of terminals, the first alerts, never the whole fleet as
rows (the CSV takes a snapshot of raw tuples and formats it in chunks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from weakref import WeakKeyDictionary

from leo_exporter import catalog
from leo_exporter.jobstatus import JobStatus
from leo_exporter.providers import job_spec
from leo_exporter.state import AccountState, EntityTable, FleetState

# the state's tables these pages read, by family name
ONLINE = catalog.TERMINAL_ONLINE.name
LAST_SEEN = catalog.TERMINAL_LAST_SEEN_TIMESTAMP_SECONDS.name
LATITUDE = catalog.TERMINAL_LATITUDE_DEGREES.name
LONGITUDE = catalog.TERMINAL_LONGITUDE_DEGREES.name
LINE_ACTIVE = catalog.SERVICE_LINE_ACTIVE.name
AUTHENTICATED = catalog.EXPORTER_ACCOUNT_AUTHENTICATED.name

STATES = ("all", "online", "offline", "unknown", "alerting")
PER_PAGE_DEFAULT, PER_PAGE_MAX = 50, 500
SEARCHED_ATTRS = ("name", "kit_serial", "serial", "service_line")


def iso(ts: float | None) -> str:
    """Unix seconds -> `2026-01-02T03:04:05Z` (empty when unknown)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class QueryError(ValueError):
    """A query parameter that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class TerminalQuery:
    """Search, filters and the page of the terminals table (`?q=&state=&account=&provider=&page=&per_page=`)."""

    q: str = ""
    state: str = "all"
    account: str = ""  # the account's config name
    provider: str = ""
    page: int = 1
    per_page: int = PER_PAGE_DEFAULT

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TerminalQuery:
        state = params.get("state", "all") or "all"
        if state not in STATES:
            raise QueryError(f"state must be one of {', '.join(STATES)}")
        return cls(
            q=params.get("q", "").strip()[:200],
            state=state,
            account=params.get("account", "").strip(),
            provider=params.get("provider", "").strip(),
            page=_int(params, "page", 1, 1, 10**9),
            per_page=_int(params, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters, defaults left out (for links to other pages of it)."""
        values = {
            "q": self.q,
            "state": self.state,
            "account": self.account,
            "provider": self.provider,
            "page": str(self.page),
            "per_page": str(self.per_page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        defaults = {"q": "", "state": "all", "account": "", "provider": "", "page": "1"}
        defaults["per_page"] = str(PER_PAGE_DEFAULT)
        return {k: v for k, v in values.items() if v != defaults[k]}


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise QueryError(f"{name} must be between {low} and {high}")
    return value


# --- accounts and the fleet summary -------------------------------------------------------------


def _auth_state(account: AccountState) -> str:
    value = account.values.get(AUTHENTICATED)
    if value is None:
        return "unknown"
    return "ok" if value == 1.0 else "failed"


def account_summaries(state: FleetState) -> list[dict[str, Any]]:
    """One entry per account: identity, authentication, and online/offline counts (worker thread)."""
    out = []
    for account in state.accounts.values():
        terminals = account.terminals
        online = terminals.simple.get(ONLINE, {})
        up = sum(1 for v in online.values() if v == 1.0)
        down = sum(1 for v in online.values() if v == 0.0)
        total = len(terminals.labels)
        active = account.service_lines.simple.get(LINE_ACTIVE, {})
        out.append(
            {
                "provider": account.provider,
                "name": account.name,
                "account": account.name,
                "identified": account.identified,
                "authentication": _auth_state(account),
                "provider_accounts": {pid: dict(attrs) for pid, attrs in account.provider_accounts.items()},
                "terminals": total,
                "online": up,
                "offline": down,
                "unknown": total - up - down,
                "alerting": sum(1 for names in terminals.alerts.values() if names),
                "routers": len(account.routers.labels),
                "service_lines": len(account.service_lines.labels),
                "active_service_lines": sum(1 for v in active.values() if v == 1.0),
            }
        )
    return out


def totals(accounts: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("terminals", "online", "offline", "unknown", "alerting", "routers", "service_lines", "active_service_lines")
    return {k: sum(a[k] for a in accounts) for k in keys}


# --- jobs (JobStatus lives on the event loop: read these there) ---------------------------------


def job_view(status: JobStatus) -> dict[str, Any]:
    spec = job_spec(status.account.provider, status.call)
    return {
        "job": status.key,
        "provider": status.account.provider,
        "account": status.account.name,
        "account_name": status.account.name,
        "call": status.call,
        "enabled": status.enabled,
        "interval_seconds": status.interval,
        "timeout_seconds": status.timeout,
        "up": None if status.up is None else status.up == 1.0,
        "last_run": status.last_run,
        "last_success": status.last_success,
        "duration_seconds": status.duration,
        "next_run": status.next_run,
        "last_error": status.last_error,  # the scheduler redacts secrets before storing it
        "runs": {k: int(v) for k, v in status.runs.items()},
        # from the provider's JobSpec: what the job feeds and needs
        "collectors": sorted(spec.collectors) if spec else [],
        "terminal_state": spec.terminal_state if spec else None,
        "permission": spec.permission if spec else None,
    }


# --- terminals ------------------------------------------------------------------------------------


def _terminal_state(online: float | None, alerts: tuple[str, ...]) -> str:
    if online is None:
        return "unknown"
    return "online" if online == 1.0 else "offline"


def _state_matches(wanted: str, online: float | None, alerts: tuple[str, ...]) -> bool:
    if wanted == "all":
        return True
    if wanted == "alerting":
        return bool(alerts)
    return _terminal_state(online, alerts) == wanted


# The searchable text of each terminal, case-folded once and reused until its attributes change.
# A table rebuilds a terminal's info label text (`info_extra`) whenever an attribute changes, so its
# identity tells whether the cached text is still good (worker thread only, like the tables).
_HAYSTACKS: WeakKeyDictionary[EntityTable, dict[str, tuple[str, str]]] = WeakKeyDictionary()


def _haystack(cache: dict[str, tuple[str, str]], table: EntityTable, tid: str) -> str:
    label = table.info_extra.get(tid, "")
    hit = cache.get(tid)
    if hit is None or hit[0] is not label:
        values = table.attrs.get(tid, {})
        hit = cache[tid] = (label, "\n".join((tid, *(values.get(k, "") for k in SEARCHED_ATTRS))).casefold())
    return hit[1]


def terminal_row(account: AccountState, tid: str) -> dict[str, Any]:
    """Everything the page and the API show of one terminal."""
    table = account.terminals
    attrs = table.attrs.get(tid, {})
    simple = table.simple
    online = simple.get(ONLINE, {}).get(tid)
    alerts = table.alerts.get(tid, ())
    sln = attrs.get("service_line", "")
    line_attrs = account.service_lines.attrs.get(sln, {}) if sln else {}
    active = account.service_lines.simple.get(LINE_ACTIVE, {}).get(sln) if sln else None
    return {
        "provider": account.provider,
        "account": account.name,
        "account_name": account.name,
        "provider_account": attrs.get("provider_account") or table.common.get("provider_account", ""),
        "terminal_id": tid,
        "name": attrs.get("name", ""),
        "kit_serial": attrs.get("kit_serial", ""),
        "serial": attrs.get("serial", ""),
        "software_version": attrs.get("software_version", ""),
        "service_line": sln,
        "service_line_name": line_attrs.get("name", ""),
        "service_line_active": None if active is None else active == 1.0,
        "product": line_attrs.get("product") or line_attrs.get("product_name", ""),
        "state": _terminal_state(online, alerts),
        "online": None if online is None else online == 1.0,
        "last_seen": simple.get(LAST_SEEN, {}).get(tid),
        "latitude": simple.get(LATITUDE, {}).get(tid),
        "longitude": simple.get(LONGITUDE, {}).get(tid),
        "alerts": list(alerts),
    }


@dataclass(frozen=True, slots=True)
class TerminalPage:
    query: TerminalQuery
    total: int  # terminals matching the query, over all pages
    rows: list[dict[str, Any]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def query_terminals(state: FleetState, query: TerminalQuery) -> TerminalPage:
    """One page of the terminals matching the query, in account order then provider order (worker thread).

    Matching is one pass over the fleet without building rows; rows are built for the page only.
    """
    needle = query.q.casefold()
    skip = (query.page - 1) * query.per_page
    wanted: list[tuple[AccountState, str]] = []
    total = 0
    for account in state.accounts.values():
        if query.account and account.name != query.account:
            continue
        if query.provider and account.provider != query.provider:
            continue
        table: EntityTable = account.terminals
        online = table.simple.get(ONLINE, {})
        alerts = table.alerts
        if query.state == "all" and not needle:  # no filter: count, and pick the page by position
            count = len(table.labels)
            if total + count > skip and len(wanted) < query.per_page:
                start = max(0, skip - total)
                picked = islice(table.labels, start, start + query.per_page - len(wanted))
                wanted.extend((account, tid) for tid in picked)
            total += count
            continue
        cache = _HAYSTACKS.setdefault(table, {})
        for tid in table.labels:
            if not _state_matches(query.state, online.get(tid), alerts.get(tid, ())):
                continue
            if needle and needle not in _haystack(cache, table, tid):
                continue
            if total >= skip and len(wanted) < query.per_page:
                wanted.append((account, tid))
            total += 1
        if len(cache) > len(table.labels):  # terminals that left the inventory
            for tid in [t for t in cache if t not in table.labels]:
                del cache[tid]
    rows = [terminal_row(account, tid) for account, tid in wanted]
    routers: dict[str, dict[str, list[str]]] = {}  # account -> terminal -> its routers (for their actions)
    for (account, _), row in zip(wanted, rows, strict=True):
        if account.name not in routers:
            by_terminal: dict[str, list[str]] = {}
            for rid, attrs in account.routers.attrs.items():
                if attrs.get("terminal_id"):
                    by_terminal.setdefault(attrs["terminal_id"], []).append(rid)
            routers[account.name] = by_terminal
        row["routers"] = routers[account.name].get(row["terminal_id"], [])
    return TerminalPage(query, total, rows)


# --- alerts ---------------------------------------------------------------------------------------


def active_alerts(state: FleetState, limit: int = 50) -> dict[str, Any]:
    """Counts of active alerts by kind and name, and the first `limit` devices with alerts (worker thread)."""
    counts: dict[tuple[str, str, str], int] = {}
    devices = 0
    rows: list[dict[str, Any]] = []
    for account in state.accounts.values():
        for kind, table in (("terminal", account.terminals), ("router", account.routers)):
            for device_id, names in table.alerts.items():
                if not names:
                    continue
                devices += 1
                for name in names:
                    key = (account.provider, kind, name)
                    counts[key] = counts.get(key, 0) + 1
                if len(rows) < limit:
                    attrs = table.attrs.get(device_id, {})
                    rows.append(
                        {
                            "provider": account.provider,
                            "account": account.name,
                            "account_name": account.name,
                            "kind": kind,
                            "id": device_id,
                            "name": attrs.get("name", ""),
                            "terminal_id": attrs.get("terminal_id", device_id if kind == "terminal" else ""),
                            "alerts": list(names),
                        }
                    )
    by_name = [
        {"provider": p, "kind": k, "alert": n, "devices": c}
        for (p, k, n), c in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"devices": devices, "by_name": by_name, "rows": rows, "truncated": devices > len(rows)}
