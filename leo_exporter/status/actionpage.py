"""The HTML of the status page's action pages: the form, the confirmation, a run, a refusal.

Plain forms and no JavaScript, like the status page; a running action's page reloads itself
(`<meta http-equiv=refresh>`) until the action is done. Every value from the provider, the config
or the request is escaped. Links are relative, so the pages work behind a path-prefixing proxy.
"""

from __future__ import annotations

from typing import Any

from leo_exporter.actions.base import Action, ActionSpec, Choices, WebField
from leo_exporter.status.page import NO_AUTH, e
from leo_exporter.status.runs import Run
from leo_exporter.status.style import CSS

RUN_REFRESH = 2  # seconds between reloads of a running action's page


def _doc(title: str, body: str, back: str, refresh: bool = False) -> str:
    meta = f"<meta http-equiv='refresh' content='{RUN_REFRESH}'>" if refresh else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>{meta}"
        f"<title>{e(title)} - leo-exporter</title><style>{CSS}</style></head><body>"
        f"<h1>{e(title)}</h1>{body}<p><a href='{back}'>Back to the status page</a></p></body></html>"
    )


def warning(basic_auth: bool) -> str:
    return "" if basic_auth else NO_AUTH


def _hidden(name: str, value: str) -> str:
    return f"<input type='hidden' name='{e(name)}' value='{e(value)}'>"


def _field(f: WebField, choices: Choices) -> str:
    listed, note = choices.get(f.option, ([], ""))
    note = note or f.note
    required = " required" if f.required else ""
    name = e(f.option)
    if f.kind == "switch":
        control = " ".join(
            f"<label><input type='radio' name='{name}' value='{e(c.value)}'{required}"
            f"{' checked' if i == 0 else ''}> {e(c.label)}</label>"
            for i, c in enumerate(f.choices)
        )
    elif f.kind == "flag":
        control = f"<label><input type='checkbox' name='{name}' value='1'> {e(f.label)}</label>"
    elif listed:
        options = "".join(f"<option value='{e(c.value)}'>{e(c.label)}</option>" for c in listed)
        control = f"<select name='{name}'{required}>{options}</select>"
    else:
        kind = "number' min='1" if f.kind == "number" else "text"
        control = f"<input type='{kind}' name='{name}' value='{e(f.default)}' size='40'{required}>"
    label = "" if f.kind == "flag" else f"<strong>{e(f.label)}</strong><br>"
    hint = f"<br><span class='muted small'>{e(note)}</span>" if note else ""
    return f"<p class='field' data-option='{name}'>{label}{control}{hint}</p>"


def form(
    spec: ActionSpec, account: str, target: str, choices: Choices, listing: str, csrf: str, basic_auth: bool
) -> str:
    web = spec.web
    assert web is not None
    what = f" on {web.applies_to.replace('_', ' ')} <code>{e(target)}</code>" if web.target else ""
    fields = "".join(_field(f, choices) for f in web.fields)
    problem = f"<p class='problem'>{e(listing)}</p>" if listing else ""
    body = (
        warning(basic_auth)
        + f"<p>{e(spec.help)}: account <strong>{e(account)}</strong>{what}.</p>{problem}"
        + f"<form method='post' action='{e(spec.name)}/confirm' id='action-form'>"
        + _hidden("csrf", csrf)
        + _hidden("account", account)
        + _hidden("target", target)
        + fields
        + "<p><button type='submit' class='review'>Review</button> "
        "<span class='muted'>Nothing is sent yet: the next page says what will happen and what it costs.</span></p>"
        "</form>"
    )
    return _doc(f"{web.label}: {target or account}", body, "../")


def confirm(
    spec: ActionSpec, account: str, body: dict[str, Any], output: str, act: Action, token: str, csrf: str
) -> str:
    """What the dry run said (what will happen, what it costs) and, when its checks passed, the
    button that sends it, carrying the same fields and the confirmation token."""
    web = spec.web
    assert web is not None
    said = f"<pre class='said'>{e(output.strip())}</pre>"
    if not token:
        text = f"Refused before anything was sent: {act.detail}" if act.detail else "Refused."
        page = f"<p class='problem' role='alert'>{e(text)}</p>{said}"
        return _doc(f"{web.label}: not possible", page, "../../")
    keep = ["account", "target"] + [f.option for f in web.fields]
    fields = "".join(_hidden(name, str(body.get(name, ""))) for name in keep)
    page = (
        "<p>Please confirm. This is what will happen and what it costs:</p>"
        + said
        + "<p class='muted'>It is sent once and never retried; the answer and the audit line follow.</p>"
        + "<form method='post' action='run' id='confirm-form'>"
        + _hidden("csrf", csrf)
        + _hidden("confirmation", token)
        + fields
        + f"<button type='submit' class='confirm'>Confirm: {e(web.label.lower())}</button></form>"
    )
    return _doc(f"Confirm {web.label.lower()}: {act.target or account}", page, "../../")


def run(run: Run) -> str:
    state = "running" if run.code is None else run.outcome
    css = {"success": "notice", "running": "banner"}.get(state, "problem")
    text = {
        "running": "Sent; waiting for the provider's answer (this page reloads itself).",
        "success": f"Done: {run.detail}",
    }.get(state, f"{state}: {run.detail}")
    body = (
        f"<p class='{css} outcome' data-outcome='{e(state)}' role='status'>{e(text)}</p>"
        f"<p>{e(run.action)} on account <strong>{e(run.account)}</strong>, target <code>{e(run.target)}</code>, "
        f"asked by {e(run.who)} from {e(run.address)}.</p>"
        f"<pre class='said'>{e(run.output.getvalue().strip())}</pre>"
    )
    return _doc(f"{run.label}: {run.target or run.account}", body, "../../", refresh=run.code is None)


def busy(run: Run) -> str:
    body = (
        "<p class='problem' role='alert'>The same action is already running; it was not sent again.</p>"
        f"<p><a href='../runs/{e(run.id)}'>See the one in flight</a></p>"
    )
    return _doc("Already running", body, "../../")


def problem(message: str, status: int, back: str) -> str:
    return _doc(f"Refused ({status})", f"<p class='problem' role='alert'>{e(message)}</p>", back)
