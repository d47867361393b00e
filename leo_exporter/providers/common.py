"""Plumbing every provider's parsers and jobs share: dates, objects, item lists, and how a job
applies what it read and reports the items it had to skip. One copy, so that a date or a skipped
item reads the same for each provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from leo_exporter.providers.errors import BadResponse

T = TypeVar("T")
# How far ahead of our clock a provider's time stamp may be (device and report clocks drift). Data
# stamped later is rejected: kept, it would make every later report look older until a restart.
FUTURE_TOLERANCE = 600.0
# What reading one item of provider data may raise: our BadResponse, or a parser meeting a shape it
# never expected (a list where a code should be is unhashable: TypeError). Either costs that item
# only, never the page or the batch.
ITEM_ERRORS = (BadResponse, TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RecursionError)


def item_problem(exc: Exception) -> str:
    """What was wrong with one skipped item, in one line."""
    if isinstance(exc, BadResponse):
        return str(exc)
    return f"an item of a shape not understood ({type(exc).__name__}: {str(exc)[:100]})"


class Worker(Protocol):
    """Where a job's reading is applied to the state (the account's `StateWorker`)."""

    async def apply(self, change: Callable[[], T]) -> T: ...


def timestamp(value: Any, what: str, *, numbers: bool = False) -> float | None:
    """ISO 8601 date ("2025-11-01") or date-time, UTC when no zone is given, as Unix seconds.

    With `numbers`, Unix seconds or milliseconds are taken too (a value above 1e11 is in ms)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponse(f"{what}: expected a date, got true/false")
    if numbers and isinstance(value, int | float):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str):
        raise BadResponse(f"{what}: expected an ISO 8601 date, got {type(value).__name__}")
    try:
        return _iso_seconds(value)
    except ValueError:
        raise BadResponse(f"{what}: {value[:40]!r} is not an ISO 8601 date") from None
    except (OverflowError, OSError):
        raise BadResponse(f"{what}: {value[:40]!r} is out of range") from None


@lru_cache(maxsize=4096)
def _iso_seconds(value: str) -> float:
    """Unix seconds of an ISO 8601 text. Cached: a fleet's usage repeats a few cycle and day dates
    over every line (150,000 dates at 10,000 terminals), so each is parsed once and its float is
    shared by the records that keep it. Raises ValueError (not a date) or OverflowError/OSError."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.timestamp()
    except ValueError as err:  # out of range, told apart from "not a date"
        raise OverflowError(str(err)) from None


def json_object(item: Any, what: str) -> dict[str, Any]:
    """The item as a JSON object, or BadResponse naming what it should have been."""
    if not isinstance(item, dict):
        raise BadResponse(f"{what}: expected an object, got {type(item).__name__}")
    return item


def parse_items(items: Iterable[Any], parse: Callable[[Any], T], skipped: list[str]) -> list[T]:
    """Parse every item; a bad one is skipped and its problem recorded, the rest survive."""
    out = []
    for item in items:
        try:
            out.append(parse(item))
        except ITEM_ERRORS as exc:
            skipped.append(item_problem(exc))
    return out


def raise_if_skipped(skipped: Iterable[str], what: str) -> None:
    """Fail the job (after its good items were applied) when some items could not be read."""
    skipped = list(skipped)
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise BadResponse(f"{len(skipped)} {what} could not be read and were kept as before: {skipped[0]}{more}")


async def apply_read(worker: Worker, apply: Callable[[], object], skipped: Sequence[str], what: str) -> None:
    """The end of every job: apply what it read on the state worker, then fail the job when some
    items could not be read. `apply` decides what a partial read may change (it adds and updates,
    it removes nobody); the unreadable items keep their last good data."""
    await worker.apply(apply)
    raise_if_skipped(skipped, what)
