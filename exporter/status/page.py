"""The status page at `/`: server-rendered HTML, plain forms, no JavaScript needed.

Sections: accounts (authentication, shard, online/offline), the polling manager (every job
with its timings, "Poll now", enable/disable and interval forms that post to `/api/jobs/...`
and are redirected back here), the terminals table (search, state and account filters, one
page at a time) and the active alerts. Every value that came from a provider or the config
is escaped; links are relative, so the page also works behind a path-prefixing proxy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from exporter.durations import format_duration
from exporter.status.views import STATES, TerminalPage, iso

NOTICES = {
    "poll": "Poll of {job}: {result}.",
    "enable": "{job} enabled.",
    "disable": "{job} disabled.",
    "interval": "Interval of {job} set to {value}.",
}
RESULTS = {
    "ok": "ran and succeeded",
    "error": "ran and failed (see its last error)",
    "queued": "started; it is still running (reload to see its result)",
}
ERRORS = {
    "job": "No such job (the config may have been reloaded).",
    "interval": "The interval was not changed: give a duration such as 30s, 5m or 1h, from 1s to 7d.",
}
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1b1b1b}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.3em 0}th,td{padding:.2em .5em;border-bottom:1px solid #e4e4e4;
text-align:left;vertical-align:top}th{background:#f3f3f3;position:sticky;top:0}td.n{text-align:right}
.ok{color:#11772d}.bad{color:#b00020;font-weight:600}.muted{color:#777}.warn{color:#9a5b00}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.4em .8em;margin:.5em 0}
.notice{background:#e7f3ff;border:1px solid #9cc7f0;padding:.4em .8em;margin:.5em 0}
.problem{background:#fde7ea;border:1px solid #e6a1ad;padding:.4em .8em;margin:.5em 0}
form.inline{display:inline;margin:0}input[name=interval]{width:5em}td.err{max-width:32em;font-size:.9em}
td.act,td.iv,#terminals-table td,#alerts-table td,code,.t{white-space:nowrap}
nav a{margin-right:1em}.pager a,.pager span{margin-right:.6em}code{font-size:.95em}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: float | None, now: float) -> str:
    """`03:04:05Z (12s ago)` (the date too when it is not today's), the full time as a tooltip; or a dash."""
    if ts is None:
        return "<span class='muted'>&ndash;</span>"
    delta = now - ts
    rel = f"{format_duration(abs(delta))} ago" if delta >= 0 else f"in {format_duration(-delta)}"
    stamp = iso(ts)
    shown = stamp[11:] if stamp[:10] == iso(now)[:10] else stamp.replace("T", " ")
    return f"<span class='t' title='{e(stamp)}'>{e(shown)} <span class='muted'>({e(rel)})</span></span>"


def job_path(key: str) -> str:
    """The relative URL of a job's API (keys contain slashes, which stay path separators)."""
    return "api/jobs/" + quote(key, safe="/")


def _table(headers: Iterable[str], rows: Iterable[str], *, id_: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    ident = f" id='{id_}'" if id_ else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _flag(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return "<span class='muted'>unknown</span>"
    return f"<span class='ok'>{yes}</span>" if value else f"<span class='bad'>{no}</span>"


# --- sections -------------------------------------------------------------------------------------


def accounts_section(accounts: list[dict[str, Any]], totals: dict[str, int], jobs: list[dict[str, Any]],
                     shard: tuple[int, int]) -> str:  # fmt: skip
    auth_class = {"ok": "ok", "failed": "bad", "unknown": "muted"}
    by_account: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_account.setdefault(job["account_name"], []).append(job)
    rows = []
    for a in accounts:
        its = by_account.get(a["name"], [])
        enabled = sum(1 for j in its if j["enabled"])
        up = sum(1 for j in its if j["enabled"] and j["up"])
        jobs_class = "ok" if up == enabled else "bad"
        rows.append(
            "<tr>"
            f"<td>{e(a['provider'])}</td><td>{e(a['name'])}</td>"
            f"<td><code>{e(', '.join(a['provider_accounts']))}</code></td>"
            f"<td class='{auth_class[a['authentication']]}'>{e(a['authentication'])}</td>"
            f"<td>{shard[0]} of {shard[1]}</td>"
            f"<td class='n'>{a['terminals']}</td><td class='n ok'>{a['online']}</td>"
            f"<td class='n{' bad' if a['offline'] else ''}'>{a['offline']}</td><td class='n'>{a['unknown']}</td>"
            f"<td class='n{' warn' if a['alerting'] else ''}'>{a['alerting']}</td>"
            f"<td class='n'>{a['active_service_lines']} / {a['service_lines']}</td>"
            f"<td class='n {jobs_class}'>{up} / {enabled}</td>"
            "</tr>"
        )
    rows.append(
        "<tr><th colspan='5'>Fleet</th>"
        f"<th class='n'>{totals['terminals']}</th><th class='n'>{totals['online']}</th>"
        f"<th class='n'>{totals['offline']}</th><th class='n'>{totals['unknown']}</th>"
        f"<th class='n'>{totals['alerting']}</th>"
        f"<th class='n'>{totals['active_service_lines']} / {totals['service_lines']}</th><th></th></tr>"
    )
    headers = ("provider", "name", "provider account", "authentication", "shard", "terminals", "online", "offline",
               "unknown", "alerting", "service lines active / all", "jobs up / enabled")  # fmt: skip
    table = _table(headers, rows, id_="accounts-table")
    return f"<section><h2 id='accounts'>Accounts and fleet summary</h2>{table}</section>"


def jobs_section(jobs: list[dict[str, Any]], now: float, back: str) -> str:
    rows = []
    hidden = f"<input type='hidden' name='back' value='{e(back)}'>"
    for j in jobs:
        path = e(job_path(j["job"]))
        state = "pending" if j["up"] is None else ("up" if j["up"] else "down")
        state_class = {"up": "ok", "down": "bad", "pending": "muted"}[state]
        toggle = "disable" if j["enabled"] else "enable"
        runs = j["runs"]
        took = "&ndash;" if j["duration_seconds"] is None else e(format_duration(j["duration_seconds"]))
        rows.append(
            f"<tr data-job='{e(j['job'])}'>"
            f"<td><code>{e(j['job'])}</code><br><span class='muted'>{e(j['account_name'])}</span></td>"
            f"<td>{_flag(j['enabled'])}</td>"
            f"<td class='iv'><form class='inline' method='post' action='{path}/interval'>{hidden}"
            f"<input name='interval' value='{e(format_duration(j['interval_seconds']))}' aria-label='interval'>"
            "<button type='submit'>Set</button></form></td>"
            f"<td class='{state_class}'>{state}</td>"
            f"<td class='last-run' data-ts='{j['last_run'] or ''}'>{when(j['last_run'], now)}</td>"
            f"<td class='last-success'>{when(j['last_success'], now)}</td>"
            f"<td class='n'>{took}</td>"
            f"<td>{when(j['next_run'], now) if j['enabled'] else '<span class=muted>disabled</span>'}</td>"
            f"<td class='n runs'>{runs.get('success', 0)} / {runs.get('error', 0)}</td>"
            f"<td class='err'>{e(j['last_error'])}</td>"
            "<td class='act'>"
            f"<form class='inline' method='post' action='{path}/poll'>{hidden}"
            "<button type='submit' class='poll-now'>Poll now</button></form> "
            f"<form class='inline' method='post' action='{path}/{toggle}'>{hidden}"
            f"<button type='submit' class='{toggle}'>{toggle.capitalize()}</button></form>"
            "</td></tr>"
        )
    headers = ("job", "enabled", "interval", "state", "last run", "last success", "duration", "next run",
               "runs ok / failed", "last error", "")  # fmt: skip
    return (
        "<section><h2 id='jobs'>Polling manager</h2>"
        "<p class='muted'>Enable, disable and interval changes take effect at once and are not saved: a restart "
        "(or a config reload that changes the account) puts back what the config file says.</p>"
        + _table(headers, rows, id_="jobs-table")
        + "</section>"
    )


def _options(values: Iterable[tuple[str, str]], selected: str) -> str:
    return "".join(
        f"<option value='{e(v)}'{' selected' if v == selected else ''}>{e(label)}</option>" for v, label in values
    )


def terminals_section(page: TerminalPage, accounts: list[dict[str, Any]], now: float) -> str:
    q = page.query
    account_options = [("", "all accounts")] + [(a["name"], f"{a['name']} ({a['provider']})") for a in accounts]
    form = (
        "<form method='get' action='./' id='terminal-filter'>"
        f"<input type='search' name='q' value='{e(q.q)}' placeholder='id, name, kit, serial, service line' "
        "aria-label='search terminals' size='32'> "
        f"<select name='state' aria-label='state'>{_options(((s, s) for s in STATES), q.state)}</select> "
        f"<select name='account' aria-label='account'>{_options(account_options, q.account)}</select> "
        f"<select name='per_page' aria-label='rows per page'>"
        f"{_options(((str(n), f'{n} per page') for n in (25, 50, 100, 250, 500)), str(q.per_page))}</select> "
        "<button type='submit'>Filter</button> <a href='./#terminals'>reset</a></form>"
    )
    rows = []
    for t in page.rows:
        state_class = {"online": "ok", "offline": "bad", "unknown": "muted"}[t["state"]]
        lat, lon = t["latitude"], t["longitude"]
        where = f"{lat:.4f}, {lon:.4f}" if lat is not None and lon is not None else ""
        line = e(t["service_line"])
        if t["service_line_active"] is False:
            line += " <span class='warn'>(inactive)</span>"
        rows.append(
            f"<tr data-terminal='{e(t['terminal_id'])}'>"
            f"<td><code>{e(t['terminal_id'])}</code></td><td>{e(t['name'])}</td>"
            f"<td>{e(t['account_name'])}<br><span class='muted'>{e(t['provider'])}</span></td>"
            f"<td>{e(t['kit_serial'])}</td><td>{e(t['serial'])}</td><td>{line}</td>"
            f"<td class='state {state_class}'>{t['state']}</td><td>{when(t['last_seen'], now)}</td>"
            f"<td>{e(where)}</td><td class='warn'>{e(', '.join(t['alerts']))}</td></tr>"
        )
    headers = ("terminal", "name", "account", "kit serial", "serial", "service line", "state", "last seen",
               "location", "active alerts")  # fmt: skip
    first = (q.page - 1) * q.per_page + 1 if page.total else 0
    last = min(page.total, q.page * q.per_page)
    summary = f"<p id='terminal-count'>{first}&ndash;{last} of {page.total} terminals</p>"
    return (
        "<section><h2 id='terminals'>Terminals</h2>"
        + form
        + summary
        + _table(headers, rows, id_="terminals-table")
        + pager(page)
        + "</section>"
    )


def pager(page: TerminalPage) -> str:
    q = page.query
    if page.pages <= 1:
        return ""

    def link(number: int, label: str) -> str:
        return f"<a href='?{e(urlencode(q.params(page=number)))}#terminals'>{label}</a>"

    parts = []
    if q.page > 1:
        parts += [link(1, "&laquo; first"), link(q.page - 1, "&lsaquo; previous")]
    parts.append(f"<span>page {q.page} of {page.pages}</span>")
    if q.page < page.pages:
        parts += [link(q.page + 1, "next &rsaquo;"), link(page.pages, "last &raquo;")]
    return "<p class='pager'>" + "".join(parts) + "</p>"


def alerts_section(alerts: dict[str, Any]) -> str:
    if not alerts["devices"]:
        return "<section><h2 id='alerts'>Active alerts</h2><p>No active alerts.</p></section>"
    counts = [
        f"<tr><td>{e(c['provider'])}</td><td>{e(c['kind'])}</td><td>{e(c['alert'])}</td>"
        f"<td class='n'>{c['devices']}</td></tr>"
        for c in alerts["by_name"]
    ]
    rows = [
        f"<tr><td>{e(r['account_name'])}</td><td>{e(r['kind'])}</td><td><code>{e(r['id'])}</code></td>"
        f"<td>{e(r['name'])}</td><td class='warn'>{e(', '.join(r['alerts']))}</td></tr>"
        for r in alerts["rows"]
    ]
    more = ""
    if alerts["truncated"]:
        more = (
            f"<p>Showing {len(alerts['rows'])} of {alerts['devices']} devices. "
            "<a href='?state=alerting#terminals'>All terminals with alerts</a> · <a href='api/alerts'>JSON</a></p>"
        )
    return (
        "<section><h2 id='alerts'>Active alerts</h2>"
        f"<p>{alerts['devices']} devices with active alerts.</p>"
        + _table(("provider", "device", "alert", "devices"), counts, id_="alert-counts")
        + _table(("account", "device", "id", "name", "alerts"), rows, id_="alerts-table")
        + more
        + "</section>"
    )


def notice(params: dict[str, str]) -> str:
    """The message after a form post (fixed texts: nothing from the URL is shown but the job key)."""
    done = params.get("done", "")
    if done == "error":
        text = ERRORS.get(params.get("error", ""), "The change was refused.")
        return f"<p class='problem' role='alert'>{e(text)}</p>"
    template = NOTICES.get(done)
    if template is None:
        return ""
    text = template.format(
        job=e(params.get("job", "")),
        result=e(RESULTS.get(params.get("result", ""), "requested")),
        value=e(params.get("value", "")),
    )
    return f"<p class='notice' role='status'>{text}</p>"


def render(
    *,
    version: str,
    simulated: bool,
    shard: tuple[int, int],
    now: float,
    accounts: list[dict[str, Any]],
    totals: dict[str, int],
    jobs: list[dict[str, Any]],
    terminals: TerminalPage,
    alerts: dict[str, Any],
    params: dict[str, str],
    back: str,
) -> str:
    banner = (
        "<p class='banner'><strong>Simulation mode</strong>: data comes from the built-in simulator.</p>"
        if simulated
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>leo-exporter status</title><style>{CSS}</style></head><body>"
        f"<h1>leo-exporter {e(version)}</h1>{banner}"
        f"<p>Shard {shard[0]} of {shard[1]} · {len(accounts)} accounts · {totals['terminals']} terminals "
        f"({totals['online']} online, {totals['offline']} offline) · {e(iso(now).replace('T', ' '))}</p>"
        "<nav><a href='#accounts'>Accounts</a><a href='#jobs'>Polling manager</a><a href='#terminals'>Terminals</a>"
        "<a href='#alerts'>Alerts</a> | <a href='metrics'>Metrics</a><a href='terminals.csv'>Terminals CSV</a>"
        "<a href='api/status'>JSON</a><a href='healthz'>Health</a><a href='readyz'>Readiness</a></nav>"
        + notice(params)
        + accounts_section(accounts, totals, jobs, shard)
        + jobs_section(jobs, now, back)
        + terminals_section(terminals, accounts, now)
        + alerts_section(alerts)
        + "</body></html>"
    )
