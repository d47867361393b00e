"""Management actions on the status page: the same actions as the command line, behind every guard.

    GET  /actions/{action}?account=&target=   the form: what the provider lists for its fields
    POST /actions/{action}/confirm            checks and a dry run: what will happen, what it costs
    POST /actions/{action}/run                sends it once (in the background); 303 to its run
    GET  /actions/runs/{run}                  its progress and outcome (reloads itself while running)

The page knows actions only through the registry (`Provider.actions`, each `ActionSpec.web`), and
runs an action as the command line does: the form becomes the sub-command's options, parsed by its
own argument parser, and the action's own `run` reads, checks and sends through the action runner
(`leo_exporter/actions/runner.py`): validated alike, sent once, never retried, one audit line,
here with who asked and from which address. Guards, in order:

- `--web.enable-admin-api` and the account's `management_actions: true`, else 403 (and the page
  shows no button); the account must be polled by this replica (its request budget is shared);
- POST only for anything that acts; a POST must be same-origin (`Sec-Fetch-Site` / `Origin`);
- a per-session CSRF token: the session is a random HttpOnly, SameSite=Strict cookie set by the
  form, the token an HMAC of it under a key that lives as long as the process;
- the run needs the confirmation step: the confirm page's token is an HMAC of the session and the
  exact options, so a run that skipped it (or changed a field) is refused;
- a second identical action (same action, account and options) while one is in flight: 409.
Authentication is the web config's basic auth, which wraps the whole app.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import io
import logging
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from leo_exporter.actions.audit import AuditLog
from leo_exporter.actions.base import Action, ActionSpec, Choices, Console, Refused, WebForm
from leo_exporter.actions.commands import actions as registered_actions
from leo_exporter.actions.runner import run_action_async
from leo_exporter.config import AccountConfig
from leo_exporter.providers.errors import ProviderError
from leo_exporter.status import actionpage
from leo_exporter.status.posts import BadRequest, read_body, same_origin
from leo_exporter.status.runs import Run

if TYPE_CHECKING:
    from leo_exporter.port import ExporterPort

log = logging.getLogger("leo_exporter.actions")

COOKIE = "leo_session"
ADDRESS_HEADER = "x-leo-client-address"  # set by the front process (leo_exporter/front.py)
MAX_RUNS = 200  # finished runs kept for their pages; the oldest are forgotten first


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """The sub-command's own options, raising instead of exiting."""

    def error(self, message: str) -> Any:  # argparse's own signature returns NoReturn
        raise _ArgumentError(message)


def parse_options(spec: ActionSpec, argv: list[str]) -> argparse.Namespace:
    """The sub-command's parser on `argv`: the form validated as the command line validates it."""
    parser = _Parser(prog=f"leo-exporter {spec.name}", add_help=False)
    spec.arguments(parser)
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        raise BadRequest(str(exc)) from None
    args.command = spec.name
    return args


def form_argv(form: WebForm, body: dict[str, Any], target: str) -> list[str]:
    """The form's fields as the sub-command's options, one `--option=value` token each (a value
    can never become an option of its own)."""
    argv = [f"{form.target}={target}"] if form.target else []
    for f in form.fields:
        raw = str(body.get(f.option, "")).strip()
        if f.kind == "flag":
            if raw:
                argv.append(f.option)
        elif f.kind == "switch":
            if raw not in {c.value for c in f.choices}:
                if raw or f.required:
                    raise BadRequest(f"{f.label}: choose one of {', '.join(c.label for c in f.choices)}")
                continue
            argv.append(raw)
        elif f.kind == "list":
            argv += [f"{f.option}={item.strip()}" for item in raw.split(",") if item.strip()]
        elif raw:
            argv.append(f"{f.option}={raw}")
    return argv


def operator(request: Request, basic_auth: bool) -> tuple[str, str]:
    """(who, address) for the audit line: the basic auth user the front checked, or `anonymous`
    when the exporter has no basic auth (a header nobody checked names nobody)."""
    address = request.headers.get(ADDRESS_HEADER) or (request.client.host if request.client else "unknown")
    who = "anonymous"
    header = request.headers.get("authorization", "")
    if basic_auth and header.lower().startswith("basic "):
        try:
            who = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")[0] or "anonymous"
        except ValueError:
            who = "anonymous"
    return who, address


class ActionDesk:
    """The page's actions: forms, confirmations, runs (in memory, for this process's life)."""

    def __init__(self, exporter: ExporterPort):
        self.exporter = exporter
        self.key = secrets.token_bytes(32)
        self.runs: dict[str, Run] = {}
        self.in_flight: dict[str, str] = {}  # identical-action key -> its run's id
        self.tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [
            Route("/actions/runs/{run}", self.run_page, methods=["GET"]),
            Route("/actions/{action}", self.form, methods=["GET"]),
            Route("/actions/{action}/confirm", self.confirm, methods=["POST"]),
            Route("/actions/{action}/run", self.run, methods=["POST"]),
        ]

    # --- what is offered, and to whom --------------------------------------------------------------

    @staticmethod
    def offered(provider: str) -> list[ActionSpec]:
        """The provider's actions that have a form (the registry's `Provider.actions`)."""
        return [spec for p, spec in registered_actions().values() if p == provider and spec.web is not None]

    def allowed_accounts(self) -> dict[str, list[ActionSpec]]:
        """The accounts whose actions the page offers, with them: none without the admin API."""
        if not self.exporter.admin_api:
            return {}
        return {
            a.name: self.offered(a.provider)
            for a in self.exporter.config.accounts
            if a.management_actions and self.exporter.account_budget(a.name) is not None and self.offered(a.provider)
        }

    def _account(self, name: str, action: str) -> tuple[AccountConfig, ActionSpec]:
        """The account and action, if both guards allow them; else 403 (404 for an unknown action)."""
        found = registered_actions().get(action)
        if found is None or found[1].web is None:
            raise BadRequest(f"no action {action!r} on the status page", 404)
        if not self.exporter.admin_api:
            raise BadRequest("this exporter is read-only: start it with --web.enable-admin-api to allow this", 403)
        account = next((a for a in self.exporter.config.accounts if a.name == name), None)
        if account is None or account.provider != found[0] or self.exporter.account_budget(name) is None:
            raise BadRequest(f"no {found[0]} account {name!r} polled by this exporter", 403)
        if not account.management_actions:
            raise BadRequest(f"account {name!r} does not allow management actions (management_actions: true)", 403)
        return account, found[1]

    # --- sessions and tokens --------------------------------------------------------------------------

    def _mac(self, *parts: str) -> str:
        return hmac.new(self.key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _session(request: Request) -> str:
        sid = request.cookies.get(COOKIE, "")
        return sid if len(sid) == 43 and sid.replace("-", "").replace("_", "").isalnum() else ""

    def _check_post(self, request: Request, body: dict[str, Any]) -> str:
        """Same-origin and the session's CSRF token (403 otherwise); the session id."""
        if not same_origin(request):
            raise BadRequest("cross-origin request refused", 403)
        sid = self._session(request)
        token = str(body.get("csrf", ""))
        if not sid or not hmac.compare_digest(token, self._mac("csrf", sid)):
            raise BadRequest("missing or wrong CSRF token: open the form again from the status page", 403)
        return sid

    def _page(self, request: Request, body: str, status: int = 200, sid: str = "") -> Response:
        response = HTMLResponse(body, status, headers={"Cache-Control": "no-store"})
        if sid and sid != self._session(request):
            secure = request.headers.get("x-forwarded-proto", request.url.scheme) == "https"
            response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure, path="/")
        return response

    def _error(self, request: Request, exc: BadRequest) -> Response:
        back = "../" * max(1, request.url.path.count("/") - 1)
        return self._page(request, actionpage.problem(exc.message, exc.status, back), exc.status)

    def _action(self, account: AccountConfig, name: str, console: Console, request: Request, dry: bool) -> Action:
        who, address = operator(request, self.exporter.basic_auth)
        return Action(
            name,
            account,
            AuditLog(),  # stderr, the exporter's log, as the command line writes it without --audit-log
            console,
            dry_run=dry,
            yes=True,  # the page's confirmation step has been through (the run needs its token)
            transport=self.exporter.provider_transport,
            budget=self.exporter.account_budget(account.name),
            who=who,
            address=address,
        )

    # --- the form --------------------------------------------------------------------------------------

    async def form(self, request: Request) -> Response:
        params = request.query_params
        target = params.get("target", "").strip()
        try:
            account, spec = self._account(params.get("account", ""), request.path_params["action"])
        except BadRequest as exc:
            return self._error(request, exc)
        assert spec.web is not None
        sid = self._session(request) or secrets.token_urlsafe(32)
        choices: Choices = {}
        listing = ""
        if spec.web.choices is not None:
            console = Console(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
            act = self._action(account, spec.name, console, request, dry=True)
            try:
                choices = await spec.web.choices(act, target)
            except (ProviderError, Refused) as exc:
                listing = f"Could not list the choices ({exc}): type the values in."
        body = actionpage.form(
            spec, account.name, target, choices, listing, self._mac("csrf", sid), self.exporter.basic_auth
        )
        return self._page(request, body, sid=sid)

    # --- confirmation: the checks and a dry run ---------------------------------------------------------

    async def _posted(self, request: Request) -> tuple[AccountConfig, ActionSpec, dict[str, Any], str, list[str]]:
        body = await read_body(request)
        account, spec = self._account(str(body.get("account", "")), request.path_params["action"])
        assert spec.web is not None
        sid = self._check_post(request, body)
        target = str(body.get("target", "")).strip()
        if spec.web.target and not target:
            raise BadRequest(f"no {spec.web.applies_to.replace('_', ' ')} given")
        argv = form_argv(spec.web, body, target)
        return account, spec, body, sid, argv

    async def confirm(self, request: Request) -> Response:
        try:
            account, spec, body, sid, argv = await self._posted(request)
            args = parse_options(spec, argv)
        except BadRequest as exc:
            return self._error(request, exc)
        out = io.StringIO()
        console = Console(stdin=io.StringIO(), stdout=out, stderr=out)
        act = self._action(account, spec.name, console, request, dry=True)
        audit = io.StringIO()
        act.audit = AuditLog(stream=audit)  # a preview is not an action: its dry-run line goes to the log below
        code = await run_action_async(act, spec, args)
        log.info("action preview: %s", audit.getvalue().strip())
        token = self._mac("confirm", sid, spec.name, account.name, *argv) if code == 0 else ""
        page = actionpage.confirm(spec, account.name, body, out.getvalue(), act, token, self._mac("csrf", sid))
        return self._page(request, page)

    # --- the run: once, in the background, never retried ----------------------------------------------

    async def run(self, request: Request) -> Response:
        try:
            account, spec, body, sid, argv = await self._posted(request)
            token = str(body.get("confirmation", ""))
            if not hmac.compare_digest(token, self._mac("confirm", sid, spec.name, account.name, *argv)):
                raise BadRequest("not confirmed: an action runs only from its confirmation page, unchanged", 403)
            args = parse_options(spec, argv)
        except BadRequest as exc:
            return self._error(request, exc)
        key = self._mac("in-flight", spec.name, account.name, *argv)
        running = self.in_flight.get(key)
        if running is not None:
            return self._page(request, actionpage.busy(self.runs[running]), 409)
        who, address = operator(request, self.exporter.basic_auth)
        assert spec.web is not None
        run = Run(
            secrets.token_urlsafe(16), spec.name, spec.web.label, account.name, spec.target(args), who, address, key
        )
        self.in_flight[key] = run.id
        self.runs[run.id] = run
        while len(self.runs) > MAX_RUNS:
            oldest = next(iter(self.runs))
            if self.runs[oldest].code is None:
                break
            del self.runs[oldest]
        console = Console(stdin=io.StringIO(), stdout=run.output, stderr=run.output)
        act = self._action(account, spec.name, console, request, dry=False)
        task = asyncio.get_running_loop().create_task(self._finish(run, act, spec, args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return RedirectResponse(f"../runs/{run.id}", status_code=303)

    async def _finish(self, run: Run, act: Action, spec: ActionSpec, args: argparse.Namespace) -> None:
        try:
            run.code = await run_action_async(act, spec, args)
        except Exception as exc:  # a bug of ours: the runner has written the audit line already
            log.error("action %s failed: %s: %s", run.action, type(exc).__name__, exc)
            run.code = 1
        finally:
            run.outcome, run.detail = act.outcome or "unknown", act.detail
            self.in_flight.pop(run.key, None)

    async def run_page(self, request: Request) -> Response:
        if not self.exporter.admin_api:
            return self._error(request, BadRequest("this exporter is read-only", 403))
        run = self.runs.get(request.path_params["run"])
        if run is None:
            return self._error(request, BadRequest("no such run (runs are kept in memory until a restart)", 404))
        return self._page(request, actionpage.run(run))
