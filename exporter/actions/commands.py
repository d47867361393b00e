"""The management actions as sub-commands of `leo-exporter` (command line only, never over HTTP).

    leo-exporter starlink-top-up --config.file F --account NAME --service-line AST-… [--count N] [--product ID]
    leo-exporter kognitive-pause --config.file F --account NAME --service-line SL (--now | --end-of-cycle)
                                 [--reject-reason TEXT]
    leo-exporter kognitive-resume --config.file F --account NAME --service-line SL --custom-plan ID --product ID
                                  [--data-blocks]
    leo-exporter kognitive-new-service-line --config.file F --account NAME --starlink-account ACC-… --name NAME
                                  --custom-plan ID [--product ID] [--address REF] [--terminal ID]... [--email E]...
                                  [--timeout 5m] [--poll-interval 5s]

Every one takes `--yes` (no question), `--dry-run` (print the request, send nothing) and
`--audit-log FILE` (append the audit line there instead of stderr). `--account` may be left out
when the config has one account of the provider.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx

from exporter.actions import kognitive, starlink
from exporter.actions.audit import AuditLog
from exporter.actions.base import EXIT_FAILED, EXIT_REFUSED, Action, Console, Declined, Refused, Result
from exporter.config import AccountConfig, ConfigError, load_config
from exporter.durations import parse_duration
from exporter.logs import REDACT
from exporter.providers.errors import ProviderError

Runner = Callable[[Action, argparse.Namespace], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Spec:
    provider: str
    help: str
    run: Runner
    target: Callable[[argparse.Namespace], str]


def _duration(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0s")
    return seconds


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return int(value)


async def _top_up(act: Action, args: argparse.Namespace) -> Result:
    return await starlink.top_up(act, args.service_line, args.count, args.product)


async def _pause(act: Action, args: argparse.Namespace) -> Result:
    return await kognitive.pause(act, args.service_line, args.now, args.reject_reason)


async def _resume(act: Action, args: argparse.Namespace) -> Result:
    return await kognitive.resume(act, args.service_line, args.product, args.custom_plan, args.data_blocks)


async def _new_line(act: Action, args: argparse.Namespace) -> Result:
    return await kognitive.new_service_line(
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


ACTIONS: dict[str, Spec] = {
    "starlink-top-up": Spec(
        "starlink",
        "buy a one-time data top-up for a Starlink service line (charged at once, not idempotent)",
        _top_up,
        lambda a: a.service_line,
    ),
    "kognitive-pause": Spec(
        "kognitive", "pause a Kognitive service line now or at the end of the cycle", _pause, lambda a: a.service_line
    ),
    "kognitive-resume": Spec(
        "kognitive", "resume a paused Kognitive service line on a plan", _resume, lambda a: a.service_line
    ),
    "kognitive-new-service-line": Spec(
        "kognitive", "create a Kognitive service line and follow it until it is ready", _new_line, lambda a: a.name
    ),
}


def add_commands(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the action sub-commands to the `leo-exporter` parser."""
    parsers = {}
    for name, spec in ACTIONS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        p.add_argument("--config.file", dest="config_file", required=True, help="the exporter's config file")
        p.add_argument("--account", default=None, help="the account's name in the config (optional if only one)")
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        p.add_argument("--dry-run", dest="dry_run", action="store_true", help="print the request, send nothing")
        p.add_argument("--audit-log", dest="audit_log", default=None, help="append the audit line to FILE")
        p.set_defaults(handler=run)
        common(p)
        parsers[name] = p

    top = parsers["starlink-top-up"]
    top.add_argument("--service-line", dest="service_line", required=True, help="service line number, AST-...")
    top.add_argument("--count", type=_positive, default=1, help="blocks to buy (default 1)")
    top.add_argument("--product", default=None, help="top-up product id (default: the one the line's plan offers)")

    pause = parsers["kognitive-pause"]
    pause.add_argument("--service-line", dest="service_line", required=True)
    when = pause.add_mutually_exclusive_group(required=True)
    when.add_argument("--now", action="store_true", help="pause at once (endNow: true)")
    when.add_argument("--end-of-cycle", dest="end_of_cycle", action="store_true", help="pause when the cycle ends")
    pause.add_argument(
        "--reject-reason",
        dest="reject_reason",
        default=None,
        help="sent as rejectReason, which the Kognitive API describes as the 'Reason for rejecting the service "
        "line pause (if any)'; left out when not given",
    )

    resume = parsers["kognitive-resume"]
    resume.add_argument("--service-line", dest="service_line", required=True)
    resume.add_argument("--custom-plan", dest="custom_plan", default=None, help="customPlanId (mandatory)")
    resume.add_argument("--product", default=None, help="productReferenceId of the plan (mandatory)")
    resume.add_argument(
        "--data-blocks",
        dest="data_blocks",
        action="store_true",
        help="send dataBlockProducts with this line's accountNumber and serviceLineNumber, the fields the "
        "Kognitive API lists under it",
    )
    new_line = parsers["kognitive-new-service-line"]
    new_line.add_argument("--custom-plan", dest="custom_plan", default=None, help="customPlanId (mandatory)")
    new_line.add_argument("--product", default=None, help="productReferenceId of the plan")

    new = parsers["kognitive-new-service-line"]
    new.add_argument("--name", required=True, help="name of the new service line")
    new.add_argument("--starlink-account", dest="starlink_account", default=None, help="ACC-... (default: config)")
    new.add_argument("--address", default=None, help="address reference id")
    new.add_argument(
        "--terminal",
        action="append",
        metavar="USER_TERMINAL_ID",
        help="repeatable; sent as the one userTerminalIds string, comma-separated",
    )
    new.add_argument("--email", action="append", help="repeatable")
    new.add_argument("--timeout", type=_duration, default=300.0, help="stop following after this long (default 5m)")
    new.add_argument("--poll-interval", dest="poll_interval", type=_duration, default=5.0, help="default 5s")


def select_account(config_file: str, name: str | None, provider: str, command: str) -> AccountConfig:
    try:
        config = load_config(config_file)
    except ConfigError as err:
        raise Refused(f"{config_file}: " + "; ".join(err.problems)) from None
    if name:
        account = next((a for a in config.accounts if a.name == name), None)
        if account is None:
            names = ", ".join(repr(a.name) for a in config.accounts) or "none"
            raise Refused(f"no account named {name!r} in {config_file} (its accounts: {names})")
        if account.provider != provider:
            raise Refused(f"account {name!r} is a {account.provider} account; {command} needs a {provider} account")
    else:
        candidates = [a for a in config.accounts if a.provider == provider]
        if len(candidates) != 1:
            names = ", ".join(repr(a.name) for a in candidates)
            found = f"{len(candidates)} {provider} accounts ({names})" if candidates else f"no {provider} account"
            raise Refused(f"{config_file} has {found}: name one with --account")
        account = candidates[0]
    if not account.management_actions:
        raise Refused(
            f"account {account.name!r} does not allow management actions: set `management_actions: true` on it "
            f"in {config_file} to allow them"
        )
    return account


def run(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    console: Console | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> int:
    """Run one action sub-command; returns the exit code. Writes exactly one audit line."""
    console = console or Console()
    spec = ACTIONS[args.command]
    try:
        audit = AuditLog(args.audit_log, stream=console.stderr)
    except OSError as exc:
        console.note(f"cannot open the audit log {args.audit_log}: {exc.strerror}; nothing was done")
        return EXIT_REFUSED
    try:
        account: AccountConfig | None = None
        try:
            account = select_account(args.config_file, args.account, spec.provider, args.command)
            if not args.yes and not args.dry_run and not console.interactive():
                raise Refused("standard input is not a terminal, so nobody can confirm: pass --yes (or --dry-run)")
        except Refused as exc:
            audit.write(
                action=args.command,
                provider=spec.provider,
                account=account.name if account is not None else args.account or "",
                target=spec.target(args),
                outcome="refused",
                dry_run=args.dry_run,
                detail=str(exc),
            )
            console.note(f"refused: {exc}")
            return exc.code
        REDACT.add(*account.secrets())
        act = Action(args.command, account, audit, console, args.dry_run, args.yes, transport, sleep=sleep)
        try:
            return anyio.run(_perform, act, spec, args)
        except KeyboardInterrupt:
            outcome = "unknown" if act.sent else "declined"
            detail = "interrupted after the request was sent: check the result" if act.sent else "interrupted"
            act.record(outcome, detail)
            console.note(detail)
            return 130
    finally:
        audit.close()


async def _perform(act: Action, spec: Spec, args: argparse.Namespace) -> int:
    console = act.console
    try:
        result = await spec.run(act, args)
    except Refused as exc:
        act.record("refused", str(exc))
        console.note(f"refused: {exc}")
        return exc.code
    except Declined as exc:
        act.record("declined", str(exc))
        console.note(str(exc))
        return EXIT_FAILED
    except ProviderError as exc:  # a read before the change failed, so nothing was changed
        outcome = "unknown" if act.sent else "failed"
        act.record(outcome, str(exc))
        console.note(f"{outcome}: {exc}")
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: still one audit line, and say whether the change left
        outcome = "unknown" if act.sent else "failed"
        act.record(outcome, f"internal error: {type(exc).__name__}: {exc}")
        raise
    act.record(result.outcome, result.detail)
    if result.code:
        console.note(f"{result.outcome}: {result.detail}")
    return result.code
