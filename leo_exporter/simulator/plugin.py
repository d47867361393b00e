"""What a provider's simulator gets from the simulator app, and what it gives back.

A provider names its simulator in `SimulatorSpec.factory` ("module:callable"); the app calls it
with a `SimulatorContext` and mounts what it returns under `SimulatorSpec.prefix`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.routing import BaseRoute

from leo_exporter.simulator.faults import FaultBook


@dataclass(frozen=True, slots=True)
class SimulatorContext:
    """The simulated world one provider's simulator joins."""

    accounts: int  # accounts (partners) to simulate
    terminals: int  # terminals in all
    seed: int
    faults: FaultBook  # shared by every provider: serve each API request through `faults.serve`
    clock: Callable[[], float]  # the machine's clock (live data: telemetry rows, tokens, status)
    calendar: Callable[[], float]  # the simulated calendar (activations, billing cycles, usage)
    assume: frozenset[str]  # its assumed fields asked for (`--assume <provider>.<name>`, prefix cut)
    options: Mapping[str, Any]  # the values of its own `SimulatorSpec.flags`, by `dest`


class SimulatedProvider(Protocol):
    """One provider's simulated API."""

    def routes(self) -> list[BaseRoute]:
        """Its routes, relative to its mount point."""
        ...

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        """Exporter config accounts (YAML structure) for its simulated accounts at `base_url`
        (the simulator's root and its prefix)."""
        ...

    def describe(self, prefix: str) -> list[str]:
        """Its block of the simulator's index page: the API, its accounts, its controls."""
        ...


SimulatorFactory = Callable[[SimulatorContext], SimulatedProvider]
