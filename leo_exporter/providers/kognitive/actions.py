"""Kognitive OrbitPlans service line actions: pause, resume, and create (followed to the end).

Calls, field for field as seed 001 (the Kognitive API page) states them; docs/providers/kognitive.md
quotes the page where it is ambiguous:
- `POST pause` {accountNumber*, serviceLineNumber*, endNow* (boolean), rejectReason} -- the page
  calls rejectReason the "Reason for rejecting the service line pause (if any)", so it is sent only
  when the operator gives `--reject-reason`, never the operator's own reason for pausing;
- `POST resume` {customPlanId*, accountNumber*, serviceLineNumber*, productReferenceId*,
  dataBlockProducts: [{accountNumber*, serviceLineNumber*}]} -- both plan ids are "mandatory to
  resume"; the item fields are the two the page's table lists under dataBlockProducts;
- `POST newServiceLine` {customPlanId*, Name, accountNumber, addressReferenceId, userTerminalIds
  (a String), emailIds (an Array), productReferenceId} -> {data: {trackingId}} -- the page gives no
  item fields for its dataBlockProducts, so none are sent;
- `POST service_line_tracking` {trackingId*} -> {status, progress, lastUpdated, message}.
(* mandatory on the page; the CLI refuses before any request when one is missing.)
ASSUMED where the page is silent: several terminal ids share the one `userTerminalIds` string,
comma-separated; tracking ends at status `completed` or `failed`.

Before sending, each action reads what it acts on (the service line through
`getServiceLineDetails?search=`, products through `getAvailableProducts`) to refuse what
would fail and to print names and prices. The state-changing call is sent once, never retried;
the tracking call only reads and is repeated until the creation completes, fails or times out.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from leo_exporter.actions.base import (
    EXIT_FAILED,
    EXIT_OK,
    Action,
    ActionSpec,
    Choice,
    Choices,
    Refused,
    Result,
    WebField,
    WebForm,
    duration_argument,
    money,
)
from leo_exporter.actions.runner import Change, send_once
from leo_exporter.providers.errors import BadResponse, ProviderError, RequestRejected
from leo_exporter.providers.http import ApiClient, decode_json_bytes
from leo_exporter.providers.kognitive import fields as F
from leo_exporter.providers.kognitive.client import KognitiveClient, Listing
from leo_exporter.providers.kognitive.config import KognitiveAccount
from leo_exporter.providers.kognitive.parse import Line, StatusMap, parse_product_group, parse_service_line
from leo_exporter.records import ProductRecord

BAR_WIDTH = 30
Answer = dict[str, Any]  # a POST's decoded answer


class Session:
    """The account's HTTP client: the auth key header on every call, as the exporter sends it."""

    def __init__(self, act: Action):
        config = act.account
        assert isinstance(config, KognitiveAccount)
        self.act = act
        self.config = config
        key = config.auth_key.get_secret_value()
        self.headers = {config.auth_header: key, "Content-Type": "application/json", "Accept": "application/json"}
        self.api: ApiClient = act.api(self.headers)
        self.client = KognitiveClient(self.api, config.auth_header)
        custom = config.subscription_statuses
        self.statuses = StatusMap(custom.active, custom.inactive)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def line(self, number: str) -> Line:
        listing = Listing("/" + F.GET_SERVICE_LINES)
        pages = self.client.pages(
            F.GET_SERVICE_LINES, F.PAGE_LIMIT, self.config.page_limit, listing, params={"search": number}
        )
        async for page in pages:
            for item in page:
                try:
                    line = parse_service_line(item, self.statuses)
                except BadResponse:
                    continue
                if line.number == number:
                    wanted = self.config.starlink_account
                    if wanted and line.account and line.account != wanted:
                        raise Refused(
                            f"service line {number} belongs to {line.account}, not to starlink_account {wanted} "
                            "of this account's config",
                            EXIT_FAILED,
                        )
                    return line
        raise Refused(f"service line {number} is not among the lines this auth key sees", EXIT_FAILED)

    async def products(self, account: str) -> dict[str, list[ProductRecord]]:
        """Products and data blocks the account may buy, by id (a data block is offered under several plans)."""
        body = await self.client.get(F.GET_PRODUCTS)
        found: dict[str, list[ProductRecord]] = {}
        problems: list[str] = []
        for group in body[F.DATA] if isinstance(body[F.DATA], list) else []:
            if isinstance(group, dict) and account and group.get(F.PR_ACCOUNT) not in (account, None, ""):
                continue
            try:
                records = parse_product_group(group, problems)
            except BadResponse:
                continue
            for record in records:
                found.setdefault(record.product, []).append(record)
        return found

    def url(self, path: str) -> str:
        return f"{self.config.api_url}/{path}"

    def shown_headers(self) -> dict[str, str]:
        return {self.config.auth_header: "<redacted>", "Content-Type": "application/json"}

    def change(
        self, path: str, body: dict[str, Any], *, question: str, would: str, done: Callable[[Answer], Awaitable[Result]]
    ) -> Change[Answer]:
        """The state-changing POST, for the action runner (sent once, never retried)."""
        return Change(
            method="POST",
            url=self.url(path),
            headers=self.shown_headers(),
            body=body,
            question=question,
            would=would,
            refused="it",
            unknown="It may or may not have been done: check the service line before trying again",
            send=lambda: self.post(path, body),
            done=done,
        )

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body; the answer's `success: false` becomes RequestRejected with its message."""
        response = await self.api.request("POST", path, endpoint="/" + path, json=body)
        answer = decode_json_bytes(response.content, f"POST /{path}")
        if not isinstance(answer, dict):
            raise BadResponse(f"POST /{path}: expected a JSON object")
        if answer.get(F.SUCCESS) is False:
            raise RequestRejected(f"POST /{path}: {_message(answer) or 'success=false without a message'}")
        return answer


def _message(answer: dict[str, Any]) -> str:
    message = answer.get(F.MESSAGE)
    return " ".join(message.split())[:300] if isinstance(message, str) else ""


def _line_text(line: Line) -> str:
    name = f" ({line.nickname})" if line.nickname else ""
    return f"service line {line.number}{name} of account {line.account or '?'}, status {line.status or 'unknown'}"


def _plan(products: dict[str, list[ProductRecord]], product: str | None) -> list[str]:
    """Check the product against what the account may buy; lines describing it."""
    out = []
    if product:
        record = next((r for r in products.get(product, []) if r.attributes.get("kind") == "product"), None)
        if record is None:
            raise Refused(f"product {product} is not available to this account (getAvailableProducts)", EXIT_FAILED)
        if record.attributes.get("active") == "false":
            raise Refused(f"product {product} is not active", EXIT_FAILED)
        out.append(f"Plan:      {record.name or product} ({product}), {money(record.price, record.currency)}")
    return out


def _data_blocks(account: str, number: str) -> list[dict[str, str]]:
    """`dataBlockProducts` of a resume: the fields the seed's table lists under it, for this line."""
    return [{F.W_ACCOUNT: account, F.W_SERVICE_LINE: number}]


def join_terminal_ids(terminals: list[str]) -> str:
    """`userTerminalIds` is typed String ("Id numbers of the user terminals"): one id, or several
    joined by commas (ASSUMED: the page shows no example)."""
    return ",".join(terminals)


async def pause(act: Action, number: str, end_now: bool, reject_reason: str | None = None) -> Result:
    act.target = number
    session = Session(act)
    try:
        line = await session.line(number)
        act.account_id = line.account
        if line.active is False:
            raise Refused(f"{_line_text(line)}: it is paused already", EXIT_FAILED)
        body: dict[str, Any] = {F.W_ACCOUNT: line.account, F.W_SERVICE_LINE: number, F.W_END_NOW: end_now}
        if reject_reason:
            body[F.W_REJECT_REASON] = reject_reason
        act.request = body
        when = "now" if end_now else "at the end of the current billing period"
        act.console.say(f"Will pause {_line_text(line)}, {when}.")
        act.console.say("Its terminals lose service until the line is resumed (kognitive-resume).")

        async def done(answer: Answer) -> Result:
            said = _message(answer)
            act.console.say(f"Done: {said or 'the provider accepted the pause'}.")
            return Result("success", said or f"paused {when}", EXIT_OK)

        question, would = f"Pause {number} {when}?", f"would pause {number} {when}"
        return await send_once(act, session.change(F.POST_PAUSE, body, question=question, would=would, done=done))
    finally:
        await session.aclose()


async def resume(
    act: Action, number: str, product: str | None, custom_plan: str | None, data_blocks: bool = False
) -> Result:
    act.target = number
    missing = [flag for flag, value in (("--custom-plan", custom_plan), ("--product", product)) if not value]
    if missing:
        raise Refused(
            f"give {' and '.join(missing)}: the Kognitive API marks both customPlanId and productReferenceId "
            "mandatory to resume a service line"
        )
    assert product is not None
    assert custom_plan is not None
    session = Session(act)
    try:
        line = await session.line(number)
        act.account_id = line.account
        plan = _plan(await session.products(line.account), product)
        body: dict[str, Any] = {
            F.W_CUSTOM_PLAN: custom_plan,
            F.W_ACCOUNT: line.account,
            F.W_SERVICE_LINE: number,
            F.W_PRODUCT: product,
        }
        if data_blocks:
            body[F.W_DATA_BLOCKS] = _data_blocks(line.account, number)
        act.request = body
        act.console.say(f"Will resume {_line_text(line)}.")
        for text in plan:
            act.console.say(text)
        act.console.say(f"Custom plan: {custom_plan}")
        if line.active:
            act.console.say("The line is not paused: the provider cancels a scheduled pause, or refuses.")
        act.console.say("Resuming restarts billing for the line.")

        async def done(answer: Answer) -> Result:
            said = _message(answer)
            act.console.say(f"Done: {said or 'the provider accepted the resume'}.")
            return Result("success", said or "resumed", EXIT_OK)

        question, would = f"Resume {number}?", f"would resume {number}"
        return await send_once(act, session.change(F.POST_RESUME, body, question=question, would=would, done=done))
    finally:
        await session.aclose()


async def new_service_line(
    act: Action,
    *,
    account_number: str | None,
    name: str,
    product: str | None,
    custom_plan: str | None,
    address: str | None,
    terminals: list[str],
    emails: list[str],
    follow_for: float,
    interval: float,
) -> Result:
    config = act.account
    assert isinstance(config, KognitiveAccount)
    account_number = account_number or config.starlink_account
    act.target = name
    if not account_number:
        raise Refused("give the Starlink account to create the line in: --starlink-account ACC-...")
    act.account_id = account_number
    if not custom_plan:
        raise Refused("give --custom-plan: the Kognitive API marks customPlanId mandatory for a new service line")
    if not name.strip():
        raise Refused("--name must not be empty")
    bad = [t for t in terminals if not t.strip() or "," in t]
    if bad:
        raise Refused(f"--terminal {bad[0]!r}: one user terminal id per --terminal, without commas")
    session = Session(act)
    try:
        plan = _plan(await session.products(account_number), product)
        body: dict[str, Any] = {F.W_CUSTOM_PLAN: custom_plan, F.W_NAME: name, F.W_ACCOUNT: account_number}
        optional = {F.W_PRODUCT: product, F.W_ADDRESS: address}
        body.update({key: value for key, value in optional.items() if value})
        if terminals:
            body[F.W_TERMINALS] = join_terminal_ids(terminals)
        if emails:
            body[F.W_EMAILS] = emails
        act.request = {k: v for k, v in body.items() if k != F.W_EMAILS}  # e-mail addresses stay out of the log
        act.console.say(f"Will create service line {name!r} in account {account_number}.")
        for text in plan:
            act.console.say(text)
        act.console.say(f"Custom plan: {custom_plan}")
        act.console.say(f"Terminals: {', '.join(terminals) or 'none'}; address: {address or 'none'}")
        act.console.say("Creating a line starts billing for it; it takes the provider a minute or two.")

        async def done(answer: Answer) -> Result:
            data = answer.get(F.DATA)
            tracking = data.get(F.W_TRACKING_ID) if isinstance(data, dict) else None
            if not isinstance(tracking, str) or not tracking:
                return Result(
                    "unknown",
                    f"accepted ({_message(answer) or 'no message'}) but no trackingId came back: check the portal",
                    EXIT_FAILED,
                )
            act.request = {**(act.request or {}), F.W_TRACKING_ID: tracking}
            act.console.say(f"Accepted, tracking id {tracking}. Following its progress (up to {follow_for:g}s):")
            return await follow(act, session, tracking, follow_for, interval)

        question, would = f"Create service line {name!r}?", f"would create {name!r}"
        change = session.change(F.POST_NEW_SERVICE_LINE, body, question=question, would=would, done=done)
        return await send_once(act, change)
    finally:
        await session.aclose()


def progress_bar(progress: int, status: str, message: str) -> str:
    progress = max(0, min(100, progress))
    filled = progress * BAR_WIDTH // 100
    text = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {progress:3d}% {status}"
    return f"{text}: {message}" if message else text


async def follow(act: Action, session: Session, tracking: str, follow_for: float, interval: float) -> Result:
    """Poll service_line_tracking until completed or failed, drawing a progress bar, for at most `follow_for`."""
    console = act.console
    tty = bool(getattr(console.stderr, "isatty", None) and console.stderr.isatty())
    deadline = time.monotonic() + follow_for
    shown = ""
    errors = 0
    status, message = "", ""
    sleep = act.sleep or anyio.sleep
    while True:
        try:
            answer = await session.post(F.POST_TRACKING, {F.W_TRACKING_ID: tracking})
            errors = 0
        except ProviderError as exc:  # a read: try again on the next tick, but not forever
            errors += 1
            console.note(f"tracking call failed ({errors}): {exc}")
            if errors >= 5:
                return Result("unknown", f"tracking {tracking} failed 5 times in a row: {exc}", EXIT_FAILED)
            answer = None
        if answer is not None:
            status = str(answer.get(F.TR_STATUS) or "").strip().lower()
            message = _message(answer)
            try:
                progress = int(float(answer.get(F.TR_PROGRESS) or 0))
            except (TypeError, ValueError):
                progress = 0
            if status == "completed":
                progress = 100
            line = progress_bar(progress, status or "?", message)
            if tty:
                console.stderr.write("\r" + line.ljust(len(shown)))
                console.stderr.flush()
            elif line != shown:
                console.note(line)
            shown = line
            if status == "completed":
                if tty:
                    console.stderr.write("\n")
                console.say(f"Done: {message or 'service line created'} (tracking id {tracking}).")
                return Result("success", f"{message or 'created'} (tracking id {tracking})", EXIT_OK)
            if status in ("failed", "error", "rejected", "cancelled"):
                if tty:
                    console.stderr.write("\n")
                return Result("failed", f"creation {status}: {message} (tracking id {tracking})", EXIT_FAILED)
        if time.monotonic() >= deadline:
            if tty:
                console.stderr.write("\n")
            return Result(
                "unknown",
                f"still {status or 'not finished'} after {follow_for:g}s (tracking id {tracking}): the request was "
                "accepted and may still complete; do not create it again before checking",
                EXIT_FAILED,
            )
        await sleep(min(interval, max(0.0, deadline - time.monotonic())))


# ---- the status page's lists ---------------------------------------------------------------------------
NO_CUSTOM_PLANS = (
    "the Kognitive API lists no custom plan ids (getAvailableProducts returns products and data blocks "
    "only): type the id the OrbitPlans portal shows"
)


def _product_choices(products: dict[str, list[ProductRecord]]) -> tuple[list[Choice], list[str]]:
    """Active plans as choices (name and price), and the data block products as text."""
    plans: list[Choice] = []
    blocks: list[str] = []
    for pid, records in sorted(products.items()):
        for record in records:
            if record.attributes.get("active") == "false":
                continue
            price = money(record.price, record.currency)
            if record.attributes.get("kind") == "product":
                plans.append(Choice(pid, f"{record.name or pid} ({pid}), {price}"))
                break
            blocks.append(f"{record.name or pid} ({pid}), {price}")
            break
    return plans, blocks


async def _choices(act: Action, account: str) -> Choices:
    session = Session(act)
    try:
        plans, blocks = _product_choices(await session.products(account))
    finally:
        await session.aclose()
    block_note = "data block products offered: " + ("; ".join(blocks) if blocks else "none listed")
    return {
        "--product": (plans, "from getAvailableProducts for the line's account"),
        "--custom-plan": ([], NO_CUSTOM_PLANS),
        "--data-blocks": ([], block_note),
    }


async def resume_choices(act: Action, number: str) -> Choices:
    """Products the line's account may take (getAvailableProducts); custom plans are typed in."""
    session = Session(act)
    try:
        line = await session.line(number)
    finally:
        await session.aclose()
    return await _choices(act, line.account)


async def new_line_choices(act: Action, _: str) -> Choices:
    """The Starlink accounts the auth key sees (getAvailableProducts' groups) and their products."""
    config = act.account
    assert isinstance(config, KognitiveAccount)
    session = Session(act)
    try:
        body = await session.client.get(F.GET_PRODUCTS)
    finally:
        await session.aclose()
    groups = body[F.DATA] if isinstance(body[F.DATA], list) else []
    accounts = [
        Choice(str(g[F.PR_ACCOUNT]), f"{g[F.PR_ACCOUNT]} ({g.get(F.PR_ACCOUNT_NAME) or 'no name'})")
        for g in groups
        if isinstance(g, dict) and g.get(F.PR_ACCOUNT)
    ]
    if config.starlink_account:
        accounts = [c for c in accounts if c.value == config.starlink_account] or accounts
    choices = await _choices(act, config.starlink_account or "")
    choices["--starlink-account"] = (accounts, "the Starlink accounts getAvailableProducts lists for this auth key")
    return choices


PAUSE_FORM = WebForm(
    "Pause",
    "service_line",
    "--service-line",
    (
        WebField(
            "when",
            "When",
            kind="switch",
            required=True,
            choices=(Choice("--end-of-cycle", "at the end of the billing cycle"), Choice("--now", "now")),
        ),
    ),
)
RESUME_FORM = WebForm(
    "Resume",
    "service_line",
    "--service-line",
    (
        WebField("--custom-plan", "Custom plan id (customPlanId)", required=True),
        WebField("--product", "Plan (productReferenceId)", required=True),
        WebField("--data-blocks", "Send dataBlockProducts for this line", kind="flag"),
    ),
    resume_choices,
)
NEW_LINE_FORM = WebForm(
    "New service line",
    "account",
    "",
    (
        WebField("--name", "Name", required=True),
        WebField("--starlink-account", "Starlink account (accountNumber)", required=True),
        WebField("--custom-plan", "Custom plan id (customPlanId)", required=True),
        WebField("--product", "Plan (productReferenceId)"),
        WebField("--address", "Address reference id"),
        WebField("--terminal", "User terminal ids (comma-separated)", kind="list"),
        WebField("--timeout", "Follow its progress for at most", default="5m"),
        WebField("--poll-interval", "Ask for its progress every", default="5s"),
    ),
    new_line_choices,
)


# ---- the sub-commands ---------------------------------------------------------------------------------
#   leo-exporter kognitive-pause --config.file F --account NAME --service-line SL (--now | --end-of-cycle)
#                                [--reject-reason TEXT]
#   leo-exporter kognitive-resume --config.file F --account NAME --service-line SL --custom-plan ID --product ID
#                                 [--data-blocks]
#   leo-exporter kognitive-new-service-line --config.file F --account NAME --starlink-account ACC-… --name NAME
#                                 --custom-plan ID [--product ID] [--address REF] [--terminal ID]... [--email E]...
#                                 [--timeout 5m] [--poll-interval 5s]


async def _run_pause(act: Action, args: argparse.Namespace) -> Result:
    return await pause(act, args.service_line, args.now, args.reject_reason)


async def _run_resume(act: Action, args: argparse.Namespace) -> Result:
    return await resume(act, args.service_line, args.product, args.custom_plan, args.data_blocks)


async def _run_new_line(act: Action, args: argparse.Namespace) -> Result:
    return await new_service_line(
        act,
        account_number=args.starlink_account,
        name=args.name,
        product=args.product,
        custom_plan=args.custom_plan,
        address=args.address,
        terminals=args.terminal or [],
        emails=args.email or [],
        follow_for=args.timeout,
        interval=args.poll_interval,
    )


def _pause_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service-line", dest="service_line", required=True)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--now", action="store_true", help="pause at once (endNow: true)")
    when.add_argument("--end-of-cycle", dest="end_of_cycle", action="store_true", help="pause when the cycle ends")
    p.add_argument(
        "--reject-reason",
        dest="reject_reason",
        default=None,
        help="sent as rejectReason, which the Kognitive API describes as the 'Reason for rejecting the service "
        "line pause (if any)'; left out when not given",
    )


def _resume_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service-line", dest="service_line", required=True)
    p.add_argument("--custom-plan", dest="custom_plan", default=None, help="customPlanId (mandatory)")
    p.add_argument("--product", default=None, help="productReferenceId of the plan (mandatory)")
    p.add_argument(
        "--data-blocks",
        dest="data_blocks",
        action="store_true",
        help="send dataBlockProducts with this line's accountNumber and serviceLineNumber, the fields the "
        "Kognitive API lists under it",
    )


def _new_line_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--custom-plan", dest="custom_plan", default=None, help="customPlanId (mandatory)")
    p.add_argument("--product", default=None, help="productReferenceId of the plan")
    p.add_argument("--name", required=True, help="name of the new service line")
    p.add_argument("--starlink-account", dest="starlink_account", default=None, help="ACC-... (default: config)")
    p.add_argument("--address", default=None, help="address reference id")
    p.add_argument(
        "--terminal",
        action="append",
        metavar="USER_TERMINAL_ID",
        help="repeatable; sent as the one userTerminalIds string, comma-separated",
    )
    p.add_argument("--email", action="append", help="repeatable")
    p.add_argument(
        "--timeout", type=duration_argument, default=300.0, help="stop following after this long (default 5m)"
    )
    p.add_argument("--poll-interval", dest="poll_interval", type=duration_argument, default=5.0, help="default 5s")


ACTIONS = (
    ActionSpec(
        "kognitive-pause",
        "pause a Kognitive service line now or at the end of the cycle",
        _run_pause,
        lambda a: a.service_line,
        _pause_arguments,
        PAUSE_FORM,
    ),
    ActionSpec(
        "kognitive-resume",
        "resume a paused Kognitive service line on a plan",
        _run_resume,
        lambda a: a.service_line,
        _resume_arguments,
        RESUME_FORM,
    ),
    ActionSpec(
        "kognitive-new-service-line",
        "create a Kognitive service line and follow it until it is ready",
        _run_new_line,
        lambda a: a.name,
        _new_line_arguments,
        NEW_LINE_FORM,
    ),
)
