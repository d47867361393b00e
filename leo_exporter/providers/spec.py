"""What a provider declares about its simulator, as plain data the registry can hold.

The simulator itself is named by a `"module:attribute"` string, resolved with importlib only by
the simulator app (`leo_exporter/simulator/app.py`), so importing a provider never imports its
simulator: only the command line and tests run simulators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SimulatorFlag:
    """One option of `leo-exporter simulator` that only this provider's simulator reads.

    `dest` is also the keyword `build_app` takes it by, and the key of `SimulatorContext.options`."""

    flag: str  # e.g. "--row-interval"
    dest: str  # e.g. "row_interval"
    type: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None


@dataclass(frozen=True, slots=True)
class FaultMode:
    """A fault mode only this provider's simulator has, and acts on itself (Starlink: `behind`, its
    stream falling behind). The shared fault book (`leo_exporter/simulator/faults.py`) learns it from
    here: it takes, lists and counts it for this provider and refuses it for the others."""

    name: str  # the `mode` of `POST /_sim/faults` and of `--fault`
    help: str  # one line, shown at `GET /_sim/faults` and in `leo-exporter simulator --help`
    # its own parameters and their defaults; a value given must be of the default's type (an int
    # for an int, a number for a float, a string for a string), and a number at least `minimum`
    params: Mapping[str, Any] = field(default_factory=dict)
    minimum: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimulatorSpec:
    """A provider's simulated API: where it is mounted, how it is built, what it can do."""

    prefix: str  # URL prefix under the simulator's root, e.g. "/starlink"
    # "package.module:callable": called with a SimulatorContext, returns the SimulatedProvider
    factory: str
    flags: tuple[SimulatorFlag, ...] = ()
    # fault modes beyond the transport-level ones every simulator gets from the fault book, which
    # this simulator acts on itself (Starlink: expired_token, behind)
    fault_modes: tuple[FaultMode, ...] = ()
    # why a mode it does not act on does not exist here (the 400 answer says it)
    missing_faults: Mapping[str, str] = field(default_factory=dict)
    # fields no document or real payload shows, served only with `--assume <provider>.<name>`
    assumptions: Mapping[str, str] = field(default_factory=dict)
    # merged into each of its demo accounts when the exporter runs on the built-in simulator (no
    # --config.file): intervals short enough that the demo fills up in seconds
    demo_overrides: Mapping[str, Any] = field(default_factory=dict)
    # where its accounts come in the demo config (lower first, then by name): keeps the demo's
    # account order, and so the order of its exposition, stable whatever the registry's order
    demo_position: int = 100
