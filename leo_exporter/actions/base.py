"""What every management action shares: picking the account, the opt-in check, confirmation,
dry runs, and turning the outcome into one audit line and an exit code.

An action runs only when the chosen account's config says `management_actions: true`. It
prints what it is about to do, asks for confirmation on a terminal (`--yes` skips the question;
without a terminal and without `--yes` it refuses), and with `--dry-run` prints the request it
would send instead of sending it. Checks that only read (is the product available? is the line
paused?) run in a dry run too, so a dry run tells whether the real run would be refused.

Exit codes: 0 done (or dry run), 1 the provider said no, the call failed, its outcome is unknown,
or the operator declined; 2 refused before anything was sent (config, arguments, opt-in).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from leo_exporter.actions.audit import AuditLog
from leo_exporter.config import AccountConfig
from leo_exporter.durations import parse_duration
from leo_exporter.logs import REDACT
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.http import ApiClient, Counting

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


class Refused(Exception):
    """Not performed: the config, the arguments or a check said no. Nothing was sent."""

    def __init__(self, message: str, code: int = EXIT_REFUSED):
        super().__init__(message)
        self.code = code


class Declined(Exception):
    """The operator answered no (or could not be asked)."""


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str  # an audit outcome: success, failed, unknown, dry-run
    detail: str
    code: int


@dataclass
class Console:
    """Where an action talks: what it will do to stdout, progress and questions to stderr."""

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)

    def say(self, text: str = "") -> None:
        self.stdout.write(REDACT(text) + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        self.stderr.write(REDACT(text) + "\n")
        self.stderr.flush()

    def interactive(self) -> bool:
        isatty = getattr(self.stdin, "isatty", None)
        return bool(isatty and isatty())

    def confirm(self, question: str, assume_yes: bool) -> None:
        """Return when confirmed; raise Declined otherwise."""
        if assume_yes:
            return
        if not self.interactive():
            raise Declined("standard input is not a terminal, so nobody can confirm: pass --yes to confirm")
        self.stderr.write(f"{question} Type 'yes' to confirm: ")
        self.stderr.flush()
        answer = self.stdin.readline()
        if answer.strip().lower() not in ("yes", "y"):
            raise Declined("not confirmed; nothing was sent")


@dataclass
class Action:
    """One run of one action against one account."""

    name: str  # the sub-command, e.g. starlink-top-up
    account: AccountConfig
    audit: AuditLog
    console: Console
    dry_run: bool = False
    yes: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    target: str = ""
    account_id: str = ""
    request: dict[str, Any] | None = None  # ids and amounts only: goes into the audit line
    sent: bool = False  # the state-changing request has left (its outcome is no longer "nothing happened")
    sleep: Callable[[float], Any] | None = None  # tests shorten waits
    budget: RateBudget | None = None  # the status page: the account's running budget, shared with its polls
    who: str | None = None  # the status page: the operator (basic auth user, or "anonymous")
    address: str | None = None  # the status page: the operator's address
    outcome: str = ""  # the audit line's outcome and detail, once written
    detail: str = ""

    def api(self, headers: dict[str, str] | None = None) -> ApiClient:
        """An HTTP client for the account, like the exporter's: budget, typed errors, and the same
        bounds on what is read (the account's `timeout` for each whole exchange, `max_response_size`
        for each body once decoded, `providers/limits.py`)."""
        return ApiClient(
            budget=self.budget or RateBudget(self.account.request_budget_per_minute),
            base_url=self.account.api_url,
            timeout=self.account.timeout,
            headers=headers,
            transport=self.transport,
            max_response_bytes=self.account.max_response_size,
            max_items=self.account.max_items_per_run,
            counting=Counting(log_extra={"account_name": self.account.name}),  # errors name the account
        )

    def show_request(self, method: str, url: str, headers: dict[str, str], body: Any) -> None:
        """The request a dry run would send (secrets shown as <redacted>)."""
        self.console.say(f"Dry run: would send\n  {method} {url}")
        for name, value in headers.items():
            self.console.say(f"  {name}: {value}")
        self.console.say("  " + json.dumps(body, indent=2).replace("\n", "\n  "))
        self.console.say("Nothing was sent.")

    def record(self, outcome: str, detail: str) -> None:
        self.outcome, self.detail = outcome, detail
        self.audit.write(
            action=self.name,
            provider=self.account.provider,
            account=self.account.name,
            account_id=self.account_id,
            target=self.target,
            outcome=outcome,
            dry_run=self.dry_run,
            detail=detail,
            request=self.request,
            who=self.who,
            address=self.address,
        )


def money(amount: float | None, currency: str) -> str:
    if amount is None:
        return "price not given"
    return f"{amount:,.2f} {currency}".strip()


Runner = Callable[[Action, argparse.Namespace], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Choice:
    """One value a form field offers, with what the operator reads (a price, a name)."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class WebField:
    """One field of an action's form on the status page; it becomes the sub-command's `option`.

    kind: `text`, `number`, `flag` (a checkbox: the option alone), `list` (comma-separated: the
    option once per item), `switch` (one of `choices`, each value an option of its own)."""

    option: str  # e.g. --count
    label: str
    kind: str = "text"
    default: str = ""
    required: bool = False
    note: str = ""  # under the field: where its value comes from
    choices: tuple[Choice, ...] = ()  # fixed choices (a switch); listed ones come from `WebForm.choices`


Choices = dict[str, tuple[list[Choice], str]]  # option -> (what the provider lists, a note)


@dataclass(frozen=True, slots=True)
class WebForm:
    """How the status page offers an action: on which rows, with which fields. The page runs the
    action's own `run` with the sub-command's options built from the form (one code path)."""

    label: str  # the button, e.g. "Top up"
    applies_to: str  # "terminal", "service_line", "router" (the row's id goes in `target`), "account"
    target: str  # the option the row's id fills, e.g. --service-line ("" for an account action)
    fields: tuple[WebField, ...] = ()
    # Reads (never changes) what the fields can take, for one target: the line's top-up products,
    # the account's products; a field the provider lists nothing for is typed in.
    choices: Callable[[Action, str], Awaitable[Choices]] | None = None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One management action a provider offers (its `Provider.actions`): the sub-command
    `leo-exporter <name>`, which `leo_exporter/actions/commands.py` adds and runs for every provider,
    and, with `web`, the form the status page offers it with (`leo_exporter/status/actions.py`)."""

    name: str  # the sub-command, e.g. starlink-top-up
    help: str
    run: Runner
    target: Callable[[argparse.Namespace], str]  # what it acts on, for the audit line
    arguments: Callable[[argparse.ArgumentParser], None]  # adds its own options to its sub-command
    web: WebForm | None = None


def duration_argument(value: str) -> float:
    """An argparse type: a duration such as 5m, greater than zero, in seconds."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0s")
    return seconds


def positive_argument(value: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return int(value)
