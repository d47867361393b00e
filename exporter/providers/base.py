"""What a provider plugs into: its config model, and a driver that runs its jobs for one account.

A new provider is a folder under `providers/` exposing a `PROVIDER` object of this shape, plus
its simulator; it reaches the rest of the exporter only through `AccountContext`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import httpx

from exporter import catalog
from exporter.config import AccountConfig
from exporter.providers.budget import RateBudget
from exporter.records import LineHistory
from exporter.state import AccountState, StateWorker

JobFunction = Callable[[], Awaitable[None]]


class UnknownNames:
    """Names the exporter does not know yet (columns, alerts, device types) and values it cannot
    read (an H3 cell that is no cell): logged once, counted every time."""

    def __init__(self, account: AccountState, log: logging.LoggerAdapter):
        self.account = account
        self.log = log
        self.seen: set[tuple[str, str]] = set()

    def note(self, kind: str, name: str, where: str = "") -> bool:
        """Record a sighting; True the first time this (kind, name) is seen."""
        if (kind, name) in self.seen:
            return False
        self.seen.add((kind, name))
        self.account.count(catalog.EXPORTER_UNKNOWN_FIELDS_TOTAL, (kind,))
        self.log.warning(
            "new %s %r in provider data%s; it is not exported yet", kind, name, f" ({where})" if where else ""
        )
        return True

    def invalid(self, field: str, problem: str, count: int = 1) -> None:
        """Count values that could not be read; log once per (field, problem), never the value."""
        self.account.count(catalog.EXPORTER_INVALID_VALUES_TOTAL, (field,), count)
        if ("invalid", f"{field}\0{problem}") in self.seen:
            return
        self.seen.add(("invalid", f"{field}\0{problem}"))
        self.log.warning("unreadable %s in provider data: %s; such values are left out", field, problem)


@dataclass
class AccountContext:
    """Everything one account's driver may use."""

    config: AccountConfig
    state: AccountState
    worker: StateWorker
    budget: RateBudget
    log: logging.LoggerAdapter
    unknown: UnknownNames
    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = field(default=time.time)


class AccountDriver(Protocol):
    """The jobs of one account. `identify_job` runs first; the others wait for its first success."""

    @property  # read-only, so a driver's class attribute of a narrower type (None) satisfies it
    def identify_job(self) -> str | None: ...

    def jobs(self) -> dict[str, JobFunction]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class UsageHistorySource(Protocol):
    """A driver whose provider keeps past billing cycles (`leo-exporter backfill-usage`)."""

    async def usage_history(self, since: float) -> list[LineHistory]: ...


class Provider(Protocol):
    # Read-only members: a provider's class attributes (`config_model = StarlinkAccount`, a
    # subclass) satisfy them, which mutable protocol attributes (invariant) would not.
    @property
    def name(self) -> str: ...
    @property
    def config_model(self) -> type[AccountConfig]: ...
    @property
    def online_from_telemetry(self) -> bool: ...

    def create(self, ctx: AccountContext) -> AccountDriver: ...
