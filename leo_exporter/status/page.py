"""The status page at `/`: server-rendered HTML, plain forms, no JavaScript needed.

Sections: accounts (authentication, online/offline), the polling manager (the jobs grouped per
account, each group collapsed until opened: timings, "Poll now", enable/disable and interval
forms that post to `/api/jobs/...` and are redirected back here, with the group of the job
acted on open), the terminals table (search, state and account filters, one page at a time;
each terminal links to its Grafana dashboard with `--web.grafana-url`) and the active alerts.
Laid out to be read without sideways scrolling from 1024 px up: secondary values sit under
the primary one in the same cell, long texts wrap, errors get a row of their own. Every value
that came from a provider or the config is escaped; links are relative, so the page also works
behind a path-prefixing proxy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from leo_exporter.actions.base import ActionSpec
from leo_exporter.durations import format_duration
from leo_exporter.status.style import CSS
from leo_exporter.status.views import STATES, TerminalPage, iso

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


NO_AUTH = (
    "<p class='problem no-auth' role='alert'>The admin API is on without authentication: anyone who can "
    "reach this page can poll, enable and disable jobs, and run the management actions of the accounts that "
    "allow them (buy top-ups, pause lines, reboot terminals). Set basic_auth_users in --web.config.file.</p>"
)


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def relative(ts: float, now: float, *, upcoming: bool = False) -> str:
    """`12s ago` or `in 4m`; an `upcoming` time (a next run) already past is `due now`, never `… ago`."""
    delta = now - ts
    if upcoming and delta >= 0:
        return "due now"
    return f"{format_duration(delta)} ago" if delta >= 0 else f"in {format_duration(-delta)}"


def when(ts: float | None, now: float, *, upcoming: bool = False, short: bool = False) -> str:
    """`03:04:05Z (12s ago)` (the date too when it is not today's), the full time as a tooltip; or a
    dash. `short`: the relative part alone (the tooltip keeps the time)."""
    if ts is None:
        return "<span class='muted'>&ndash;</span>"
    rel = relative(ts, now, upcoming=upcoming)
    stamp = iso(ts)
    if short:
        return f"<span class='t' title='{e(stamp)}'>{e(rel)}</span>"
    shown = stamp[11:] if stamp[:10] == iso(now)[:10] else stamp.replace("T", " ")
    return f"<span class='t' title='{e(stamp)}'>{e(shown)} <span class='muted'>({e(rel)})</span></span>"


def terminal_dashboard(grafana_url: str, terminal: dict[str, Any]) -> str:
    """The terminal's page of the shipped `leo-terminal-detail` dashboard (the alerts link the same)."""
    query = urlencode(
        {"var-provider": terminal["provider"], "var-account": terminal["account_name"],
         "var-terminal": terminal["terminal_id"]}
    )  # fmt: skip
    return f"{grafana_url.rstrip('/')}/d/leo-terminal-detail/leo-terminal-detail?{query}"


def job_path(key: str) -> str:
    """The relative URL of a job's API (keys contain slashes, which stay path separators)."""
    return "api/jobs/" + quote(key, safe="/")


def _table(headers: Iterable[str], rows: Iterable[str], *, id_: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    ident = f" id='{id_}'" if id_ else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def action_link(spec: ActionSpec, account: str, target: str) -> str:
    """A link to an action's form (a GET: the form, its confirmation and the run are POSTs)."""
    assert spec.web is not None
    query = urlencode({"account": account, "target": target})
    href = f"actions/{spec.name}?{query}"
    return f"<a class='action' data-action='{e(spec.name)}' href='{e(href)}'>{e(spec.web.label)}</a>"


def row_actions(actions: list[ActionSpec], row: dict[str, Any]) -> str:
    """The links of the actions that apply to a terminal row: the terminal, its routers, its line."""
    links = []
    for spec in actions:
        web = spec.web
        assert web is not None
        targets = {
            "terminal": [row["terminal_id"]],
            "service_line": [row["service_line"]] if row["service_line"] else [],
            "router": row.get("routers", []),
        }.get(web.applies_to, [])
        links += [action_link(spec, row["account_name"], t) for t in targets]
    return " ".join(links)


def _flag(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return "<span class='muted'>unknown</span>"
    return f"<span class='ok'>{yes}</span>" if value else f"<span class='bad'>{no}</span>"


# --- sections -------------------------------------------------------------------------------------


def _jobs_by_account(jobs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_account: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_account.setdefault(job["account_name"], []).append(job)
    return by_account


def accounts_section(
    accounts: list[dict[str, Any]],
    totals: dict[str, int],
    jobs: list[dict[str, Any]],
    actions: dict[str, list[ActionSpec]] | None = None,
) -> str:
    auth_class = {"ok": "ok", "failed": "bad", "unknown": "muted"}
    by_account = _jobs_by_account(jobs)
    rows = []
    for a in accounts:
        its = by_account.get(a["name"], [])
        enabled = sum(1 for j in its if j["enabled"])
        up = sum(1 for j in its if j["enabled"] and j["up"])
        jobs_class = "ok" if up == enabled else "bad"
        rows.append(
            f"<tr data-account='{e(a['name'])}'>"
            f"<td><strong>{e(a['name'])}</strong><br><span class='muted small'>{e(a['provider'])} "
            f"<code>{e(', '.join(a['provider_accounts']))}</code></span></td>"
            f"<td class='{auth_class[a['authentication']]}'>{e(a['authentication'])}</td>"
            f"<td class='n'>{a['terminals']}</td><td class='n ok'>{a['online']}</td>"
            f"<td class='n{' bad' if a['offline'] else ''}'>{a['offline']}</td><td class='n'>{a['unknown']}</td>"
            f"<td class='n{' warn' if a['alerting'] else ''}'>{a['alerting']}</td>"
            f"<td class='n'>{a['active_service_lines']} / {a['service_lines']}</td>"
            f"<td class='n {jobs_class}'>{up} / {enabled}</td>"
            "</tr>"
        )
        offered = [x for x in (actions or {}).get(a["name"], []) if x.web and x.web.applies_to == "account"]
        if offered:
            links = " ".join(action_link(x, a["name"], "") for x in offered)
            rows.append(f"<tr class='account-actions'><td colspan='9'>Actions: {links}</td></tr>")
    rows.append(
        "<tr><th colspan='2'>Fleet</th>"
        f"<th class='n'>{totals['terminals']}</th><th class='n'>{totals['online']}</th>"
        f"<th class='n'>{totals['offline']}</th><th class='n'>{totals['unknown']}</th>"
        f"<th class='n'>{totals['alerting']}</th>"
        f"<th class='n'>{totals['active_service_lines']} / {totals['service_lines']}</th><th></th></tr>"
    )
    headers = ("account", "authentication", "terminals", "online", "offline", "unknown", "alerting",
               "service lines active / all", "jobs up / enabled")  # fmt: skip
    table = _table(headers, rows, id_="accounts-table")
    return f"<section><h2 id='accounts'>Accounts and fleet summary</h2>{table}</section>"


def _job_rows(jobs: list[dict[str, Any]], now: float, hidden: str, controls: bool) -> list[str]:
    rows = []
    for j in jobs:
        path = e(job_path(j["job"]))
        state = "pending" if j["up"] is None else ("up" if j["up"] else "down")
        state_class = {"up": "ok", "down": "bad", "pending": "muted"}[state]
        toggle = "disable" if j["enabled"] else "enable"
        runs = j["runs"]
        took = "&ndash;" if j["duration_seconds"] is None else e(format_duration(j["duration_seconds"]))
        next_run = when(j["next_run"], now, upcoming=True, short=True) if j["enabled"] else ""
        error = j["last_error"]
        interval = e(format_duration(j["interval_seconds"]))
        actions = ""
        if controls:  # the forms exist only where job control is allowed
            interval = (
                f"<form class='inline' method='post' action='{path}/interval'>{hidden}"
                f"<input name='interval' value='{interval}' aria-label='interval'>"
                "<button type='submit'>Set</button></form>"
            )
            actions = (
                f"<form class='inline' method='post' action='{path}/poll'>{hidden}"
                "<button type='submit' class='poll-now'>Poll now</button></form> "
                f"<form class='inline' method='post' action='{path}/{toggle}'>{hidden}"
                f"<button type='submit' class='{toggle}'>{toggle.capitalize()}</button></form>"
            )
        rows.append(
            f"<tr data-job='{e(j['job'])}'{' class=has-err' if error else ''}>"
            f"<td><strong title='{e(_job_title(j))}'>{e(j['call'])}</strong></td>"
            f"<td class='{state_class}'>{state}<br>{_flag(j['enabled'], 'enabled', 'disabled')}</td>"
            f"<td class='iv'>{interval}</td>"
            f"<td class='last-run' data-ts='{j['last_run'] or ''}'>{when(j['last_run'], now, short=True)}</td>"
            f"<td class='last-success'>{when(j['last_success'], now, short=True)}</td>"
            f"<td class='next-run'>{next_run}</td>"
            f"<td class='n'>{took}</td>"
            f"<td class='n runs'>{runs.get('success', 0)} / {runs.get('error', 0)}</td>"
            f"<td class='act'>{actions}</td></tr>"
        )
        if error:
            rows.append(f"<tr class='err-row'><td></td><td colspan='8' class='err'>{e(error)}</td></tr>")
    return rows


def _job_title(job: dict[str, Any]) -> str:
    """The job's key, and from its JobSpec what it feeds and needs."""
    parts = [job["job"]]
    if job.get("collectors"):
        parts.append(f"feeds {', '.join(job['collectors'])}")
    if job.get("terminal_state"):
        parts.append("terminal state: its failure silences the account's terminal alerts")
    if job.get("permission"):
        parts.append(f"needs the permission '{job['permission']}'")
    return "; ".join(parts)


def jobs_section(jobs: list[dict[str, Any]], now: float, back: str, open_job: str = "", controls: bool = False) -> str:
    """One collapsed group per account; its summary says whether anything needs a look. The forms
    (interval, poll now, enable/disable) only with `controls`; without, state and no buttons."""
    hidden = f"<input type='hidden' name='back' value='{e(back)}'>"
    headers = ("call", "state", "interval", "last run", "last success", "next run", "took", "runs ok / failed", "")
    groups = []
    for name, its in _jobs_by_account(jobs).items():
        enabled = [j for j in its if j["enabled"]]
        failing = sum(1 for j in enabled if j["up"] is False)
        status = f"<span class='bad'>{failing} failing</span>" if failing else "<span class='ok'>all up</span>"
        if any(j["up"] is None for j in enabled) and not failing:
            status = "<span class='muted'>waiting for first runs</span>"
        is_open = " open" if any(j["job"] == open_job for j in its) else ""
        groups.append(
            f"<details class='jobs' data-account='{e(name)}'{is_open}><summary><strong>{e(name)}</strong> "
            f"<span class='muted'>({e(its[0]['provider'])})</span>: {len(its)} jobs, {len(enabled)} enabled, "
            f"{status}</summary>{_table(headers, _job_rows(its, now, hidden, controls))}</details>"
        )
    return (
        "<section><h2 id='jobs'>Polling manager</h2>"
        "<p class='muted'>Enable, disable and interval changes take effect at once and are not saved: a restart "
        "(or a config reload that changes the account) puts back what the config file says.</p>"
        f"<div id='jobs-groups'>{''.join(groups)}</div></section>"
    )


def _options(values: Iterable[tuple[str, str]], selected: str) -> str:
    return "".join(
        f"<option value='{e(v)}'{' selected' if v == selected else ''}>{e(label)}</option>" for v, label in values
    )


def terminals_section(
    page: TerminalPage,
    accounts: list[dict[str, Any]],
    now: float,
    grafana_url: str = "",
    actions: dict[str, list[ActionSpec]] | None = None,
) -> str:
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
        details = [f"kit {t['kit_serial']}" if t["kit_serial"] else "", f"serial {t['serial']}" if t["serial"] else ""]
        details.append(f"{lat:.4f}, {lon:.4f}" if lat is not None and lon is not None else "")
        line = e(t["service_line"])
        if t["service_line_active"] is False:
            line += " <span class='warn'>(inactive)</span>"
        name = f"<strong>{e(t['name'])}</strong>" if t["name"] else ""
        if grafana_url:
            name = f"<a class='dashboard' href='{e(terminal_dashboard(grafana_url, t))}'>{name or 'dashboard'}</a>"
        rows.append(
            f"<tr data-terminal='{e(t['terminal_id'])}'>"
            f"<td>{name}<br><code class='id'>{e(t['terminal_id'])}</code><br>"
            f"<span class='muted small'>{e(' · '.join(d for d in details if d))}</span></td>"
            f"<td>{e(t['account_name'])}<br><span class='muted'>{e(t['provider'])}</span></td><td>{line}</td>"
            f"<td class='state {state_class}'>{t['state']}</td><td>{when(t['last_seen'], now)}</td>"
            f"<td class='warn'>{e(', '.join(t['alerts']))}</td>"
            + (f"<td class='act'>{row_actions(actions.get(t['account_name'], []), t)}</td>" if actions else "")
            + "</tr>"
        )
    headers: tuple[str, ...] = ("terminal", "account", "service line", "state", "last seen", "active alerts")
    if actions:
        headers += ("actions",)
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
    grafana_url: str = "",
    controls: bool = False,
    actions: dict[str, list[ActionSpec]] | None = None,
    basic_auth: bool = True,
    leases: str = "",
) -> str:
    """The page; `actions`: the accounts whose management actions it offers (only with the admin
    API, see leo_exporter/status/actions.py), and with `controls` and no `basic_auth` a warning."""
    banner = (
        "<p class='banner'><strong>Simulation mode</strong>: data comes from the built-in simulator.</p>"
        if simulated
        else ""
    )
    where = e(leases[0].upper() + leases[1:]) if leases else f"Shard {shard[0]} of {shard[1]}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>leo-exporter status</title><style>{CSS}</style></head><body>"
        f"<h1>leo-exporter {e(version)}</h1>{banner}"
        f"<p>{where} · {len(accounts)} accounts · {totals['terminals']} terminals "
        f"({totals['online']} online, {totals['offline']} offline) · {e(iso(now).replace('T', ' '))}</p>"
        "<nav><a href='#accounts'>Accounts</a><a href='#jobs'>Polling manager</a><a href='#terminals'>Terminals</a>"
        "<a href='#alerts'>Alerts</a> | <a href='metrics'>Metrics</a><a href='terminals.csv'>Terminals CSV</a>"
        "<a href='usage.csv'>Usage CSV</a>"
        "<a href='api/status'>JSON</a><a href='healthz'>Health</a><a href='readyz'>Readiness</a></nav>"
        + (NO_AUTH if controls and not basic_auth else "")
        + notice(params)
        + accounts_section(accounts, totals, jobs, actions)
        + jobs_section(jobs, now, back, params.get("job", ""), controls)
        + terminals_section(terminals, accounts, now, grafana_url, actions)
        + alerts_section(alerts)
        + "</body></html>"
    )
