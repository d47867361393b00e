"""What a provider plugs into: everything of it the rest of the exporter knows.

A provider is one object of the `Provider` shape, registered in the `leo_exporter.providers`
entry-point group (`leo_exporter/providers/__init__.py`): its config model, a driver that runs its
jobs for one account (reaching the rest of the exporter only through `AccountContext`), its
simulator (named lazily, see `spec.py`), its management actions, its jobs (`JobSpec`s, which its
config model holds) and the metric families only it sets. `ProviderDefinition` is the ready-made
such object the built-in providers use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from leo_exporter.catalog import MetricSpec
from leo_exporter.config import AccountConfig
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.http import Counting
from leo_exporter.providers.names import UnknownNames
from leo_exporter.providers.spec import SimulatorSpec
from leo_exporter.records import LineHistory
from leo_exporter.state import AccountState, StateWorker

if TYPE_CHECKING:  # the actions' plumbing imports this package's clients: no import cycle at run time
    from leo_exporter.actions.base import ActionSpec

__all__ = ["AccountContext", "AccountDriver", "JobFunction", "Provider", "ProviderDefinition", "UnknownNames"]

JobFunction = Callable[[], Awaitable[None]]


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

    @property
    def counting(self) -> Counting:
        """What the account's HTTP client counts (requests, 429s, authentication), into its state."""
        state = self.state
        names = {"provider": state.provider, "account_name": state.name}
        return Counting(state.count_request, state.set_authenticated, names)


class AccountDriver(Protocol):
    """The jobs of one account. `identify_job` runs first; the others wait for its first success."""

    @property
    def identify_job(self) -> str | None: ...  # read-only: a driver's class attribute will do

    def jobs(self) -> dict[str, JobFunction]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class UsageHistorySource(Protocol):
    """A driver whose provider keeps past billing cycles (`leo-exporter backfill-usage`)."""

    async def usage_history(self, since: float) -> list[LineHistory]: ...


class Provider(Protocol):
    """Everything of one provider, as the registry hands it out (read-only to the rest)."""

    @property
    def name(self) -> str: ...  # the config's `provider:` value and the entry point's name

    @property
    def config_model(self) -> type[AccountConfig]: ...  # its accounts' pydantic model

    @property
    def online_from_telemetry(self) -> bool: ...  # online flags age with telemetry (else reported)

    @property
    def simulator(self) -> SimulatorSpec | None: ...  # its simulated API; None: it has none

    @property
    def actions(self) -> Sequence[ActionSpec]: ...  # its management actions (CLI sub-commands)

    @property
    def jobs(self) -> Sequence[JobSpec]: ...  # its jobs, in order (the config model's JOBS)

    @property
    def families(self) -> Sequence[MetricSpec[Any, Any]]: ...  # the families only it sets (catalog.install)

    def create(self, ctx: AccountContext) -> AccountDriver: ...


@dataclass(frozen=True, slots=True)
class ProviderDefinition:
    """A `Provider` made of its parts; `driver` builds the account driver `create` returns."""

    name: str
    config_model: type[AccountConfig]
    driver: Callable[[AccountContext], AccountDriver]
    online_from_telemetry: bool = False
    simulator: SimulatorSpec | None = None
    actions: Sequence[ActionSpec] = ()
    families: Sequence[MetricSpec[Any, Any]] = ()

    @property
    def jobs(self) -> Sequence[JobSpec]:
        return self.config_model.JOBS

    def create(self, ctx: AccountContext) -> AccountDriver:
        return self.driver(ctx)
