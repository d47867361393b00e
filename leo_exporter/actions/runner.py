"""The one runner of every management action: its state-changing request (dry run, confirmation,
sent once, outcome) and the run as a whole (one audit line and an exit code, whatever happens).

An action reads and checks what it acts on, then hands its one state-changing request to
`send_once` as a `Change`: a dry run prints it and stops; otherwise the operator confirms, the
request leaves exactly once (never retried) and its answer becomes the result. No answer, a 5xx
or an unreadable answer is `unknown` (it may have been done); a refusal is `failed`.

`run_action` runs an action and turns how it ended into the audit line: its result, a refusal, a
decline, an error, or a signal. SIGINT, SIGTERM and SIGHUP alike stop the action (at once, a
confirmation prompt included) and write `unknown` when the request had left (`declined` when it
had not), then exit with 128 + the signal: 130, 143, 129.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Generic, TypeVar

import anyio

from leo_exporter.actions.base import EXIT_FAILED, EXIT_OK, Action, ActionSpec, Declined, Refused, Result
from leo_exporter.providers.errors import BadResponse, ProviderError, ServerError, TransportFailed

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """The one state-changing request of an action, and what the runner says about it."""

    method: str
    url: str  # shown by a dry run
    headers: dict[str, str]  # shown by a dry run: secrets as <redacted>
    body: dict[str, Any]  # shown by a dry run (the audit line takes `Action.request`)
    question: str  # asked before sending, unless --yes
    would: str  # a dry run's audit detail: "would pause AST-1 now"
    refused: str  # what the provider refused, in "the provider refused {refused}: ..."
    unknown: str  # no answer, a 5xx or an unreadable one: what the operator should check first
    send: Callable[[], Awaitable[T]]  # sends the request once and reads the answer
    done: Callable[[T], Awaitable[Result]]  # the answer as the action's result
    before: Callable[[], Awaitable[object]] | None = None  # after confirming, before sending (a token)


async def send_once(act: Action, change: Change[T]) -> Result:
    """Dry run, or confirm and send the change exactly once; its outcome as a Result."""
    if act.dry_run:
        act.show_request(change.method, change.url, change.headers, change.body)
        return Result("dry-run", change.would, EXIT_OK)
    act.console.confirm(change.question, act.yes)
    if change.before is not None:
        await change.before()  # a problem here stops the run before anything is sent
    act.sent = True
    try:
        answer = await change.send()
    except (TransportFailed, ServerError, BadResponse) as exc:
        return Result("unknown", f"{exc}. {change.unknown}", EXIT_FAILED)
    except ProviderError as exc:
        return Result("failed", f"the provider refused {change.refused}: {exc}", EXIT_FAILED)
    return await change.done(answer)


class Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP during an action: raised where the action is, a blocked
    confirmation prompt included (asyncio lets a KeyboardInterrupt through and cancels the run;
    the runner audits it). One handler for the three, so they end the same way."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def run_action(act: Action, spec: ActionSpec, args: argparse.Namespace) -> int:
    """Run the action to its end; returns the exit code. Writes exactly one audit line, also when
    SIGINT, SIGTERM or SIGHUP stops it (exit code 128 + the signal)."""
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, _stop)
    except ValueError:  # not the main thread (an embedding program): its handlers stay as they are
        pass
    try:
        return anyio.run(_outcome, act, spec, args)
    except KeyboardInterrupt as exc:  # Stopped, or a SIGINT where the handler could not be set
        return _interrupted(act, exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupted(act: Action, signum: int) -> int:
    outcome = "unknown" if act.sent else "declined"
    detail = "interrupted after the request was sent: check the result" if act.sent else "interrupted"
    act.record(outcome, detail)
    act.console.note(detail)
    return 128 + signum


async def run_action_async(act: Action, spec: ActionSpec, args: argparse.Namespace) -> int:
    """The action to its end in the caller's event loop (the status page): one audit line, the
    exit code; no signal handling (the exporter's own stays as it is)."""
    return await _outcome(act, spec, args)


async def _outcome(act: Action, spec: ActionSpec, args: argparse.Namespace) -> int:
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
