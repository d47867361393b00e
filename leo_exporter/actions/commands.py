"""The management actions as sub-commands of `leo-exporter` (the status page runs the same
actions with its own guards: `leo_exporter/status/actions.py`).

Each provider declares its own (`Provider.actions`: name, help, options, what it runs; the
built-in ones in `providers/starlink/actions.py` and `providers/kognitive/actions.py`); this module
adds them to the parser and runs them the same way.

Every one takes `--yes` (no question), `--dry-run` (print the request, send nothing) and
`--audit-log FILE` (append the audit line there instead of stderr). `--account` may be left out
when the config has one account of the provider.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable

import httpx

from leo_exporter.actions.audit import AuditLog
from leo_exporter.actions.base import EXIT_REFUSED, Action, ActionSpec, Console, Refused
from leo_exporter.actions.runner import run_action
from leo_exporter.config import AccountConfig, ConfigError
from leo_exporter.logs import REDACT
from leo_exporter.providers import load_config, providers


@functools.cache
def actions() -> dict[str, tuple[str, ActionSpec]]:
    """Every registered provider's actions by sub-command: (provider name, action)."""
    found: dict[str, tuple[str, ActionSpec]] = {}
    for provider in providers().values():
        for spec in provider.actions:
            if spec.name in found:
                raise RuntimeError(f"action {spec.name!r} of {provider.name} is also one of {found[spec.name][0]}")
            found[spec.name] = (provider.name, spec)
    return found


def add_commands(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add every provider's action sub-commands to the `leo-exporter` parser."""
    for name, (_, spec) in actions().items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        p.add_argument("--config.file", dest="config_file", required=True, help="the exporter's config file")
        p.add_argument("--account", default=None, help="the account's name in the config (optional if only one)")
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        p.add_argument("--dry-run", dest="dry_run", action="store_true", help="print the request, send nothing")
        p.add_argument("--audit-log", dest="audit_log", default=None, help="append the audit line to FILE")
        p.set_defaults(handler=run)
        spec.arguments(p)
        common(p)


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
    provider, spec = actions()[args.command]
    try:
        audit = AuditLog(args.audit_log, stream=console.stderr)
    except OSError as exc:
        console.note(f"cannot open the audit log {args.audit_log}: {exc.strerror}; nothing was done")
        return EXIT_REFUSED
    try:
        account: AccountConfig | None = None
        try:
            account = select_account(args.config_file, args.account, provider, args.command)
            if not args.yes and not args.dry_run and not console.interactive():
                raise Refused("standard input is not a terminal, so nobody can confirm: pass --yes (or --dry-run)")
        except Refused as exc:
            audit.write(
                action=args.command,
                provider=provider,
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
        return run_action(act, spec, args)
    finally:
        audit.close()
