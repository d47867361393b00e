"""The simulator's ASGI app: every registered provider's simulator, mounted under its own prefix.

The providers come from the registry (`leo_exporter.providers`). Each names its simulator by a
"module:callable" string (`SimulatorSpec.factory`) that is imported here, and nowhere else in the
exporter, so importing a provider never imports its simulator.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from leo_exporter.providers import simulated
from leo_exporter.providers.spec import SimulatorSpec
from leo_exporter.simulator.calendar import SimCalendar
from leo_exporter.simulator.demo_tags import demo_tags
from leo_exporter.simulator.faults import FaultBook
from leo_exporter.simulator.plugin import SimulatedProvider, SimulatorContext, SimulatorFactory
from leo_exporter.simulator.responses import iso


def assumptions(specs: Mapping[str, SimulatorSpec] | None = None) -> dict[str, str]:
    """`provider.field` -> what it adds: fields no document or real payload shows, served only on request."""
    specs = simulated() if specs is None else specs
    return {f"{name}.{field}": text for name, spec in specs.items() for field, text in spec.assumptions.items()}


def assumed(names: Collection[str], provider: str, specs: Mapping[str, SimulatorSpec] | None = None) -> frozenset[str]:
    """The `provider.`-prefixed names of `names`, without the prefix; an unknown name is a ValueError."""
    known = assumptions(specs)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown simulator assumption(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return frozenset(name.split(".", 1)[1] for name in names if name.startswith(provider + "."))


def load_factory(spec: SimulatorSpec) -> SimulatorFactory:
    """The callable `spec.factory` names ("package.module:attribute"), imported now."""
    module, _, attribute = spec.factory.partition(":")
    if not module or not attribute:
        raise ValueError(f"simulator factory {spec.factory!r}: expected 'package.module:attribute'")
    return cast(SimulatorFactory, getattr(importlib.import_module(module), attribute))


def build_app(
    *,
    accounts: int = 2,
    terminals: int = 40,
    seed: int = 1,
    faults: FaultBook | None = None,
    now: float | None = None,
    assume: Collection[str] = (),
    clock: Callable[[], float] | None = None,
    only: Collection[str] | None = None,
    **options: Any,
) -> Starlette:
    """The simulator app. `options` are the providers' own simulator options by `SimulatorFlag.dest`
    (e.g. `row_interval`, `churn`, `oneweb_accounts`); an unknown one is a TypeError, a value a
    simulator refuses a ValueError.

    `app.state.simulators` maps each provider to its simulator (also `app.state.<provider>`, for
    tests), `app.state.faults` is the fault book they all share (`faults.py`), and
    `app.state.calendar` the simulated calendar, which starts at `now` (Unix seconds) when given.
    `clock` stands for both the machine's clock and the calendar: a world that moves only when the
    test says so (the golden exposition). `only`: the providers to simulate (default: every registered
    one with a simulator), e.g. the built-in ones for a world no plug-in changes."""
    specs = {name: spec for name, spec in simulated().items() if only is None or name in only}
    defaults = {flag.dest: flag.default for spec in specs.values() for flag in spec.flags}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unknown simulator option(s) {', '.join(unknown)}; known: {', '.join(sorted(defaults))}")
    book = faults if faults is not None else FaultBook(clock or time.time, specs)
    calendar: Callable[[], float] = clock or SimCalendar(now)
    live: Callable[[], float] = clock or time.time
    simulators: dict[str, SimulatedProvider] = {}
    for name, spec in specs.items():
        context = SimulatorContext(
            accounts=accounts,
            terminals=terminals,
            seed=seed,
            faults=book,
            clock=live,
            calendar=calendar,
            assume=assumed(assume, name, specs),
            options={flag.dest: options.get(flag.dest, flag.default) for flag in spec.flags},
        )
        simulators[name] = load_factory(spec)(context)

    async def index(request: Request) -> PlainTextResponse:
        lines = [
            "leo-exporter provider simulator (fake data, not a real provider API)",
            f"Simulated date: {iso(datetime.fromtimestamp(calendar(), UTC))} "
            f"(billing cycles start on each line's own day of the month)",
        ]
        for name, simulator in simulators.items():
            lines += ["", *simulator.describe(specs[name].prefix)]
        lines += [
            "",
            "Faults, per account of any provider: GET|POST|DELETE /_sim/faults "
            '{"provider": "<name>", "account": "<key or *>", "mode": "rate_limit", "count": 10, "seconds": 30}; '
            "request counts: GET /_sim/requests",
            "  providers: " + ", ".join(simulators),
            "  modes: " + ", ".join(book.snapshot()["modes"]),
        ]
        lines += [f"  active: {f}" for f in book.snapshot()["faults"]]
        lines += ["", "An exporter config for this simulator: GET /exporter-config.yml"]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def config_file(request: Request) -> Response:
        """A ready exporter config for this simulator: `curl .../exporter-config.yml > sim.yml`."""
        base_url = str(request.base_url).rstrip("/")
        body = yaml.safe_dump(demo_config(base_url, request.app), sort_keys=False)
        return Response(body, media_type="application/yaml")

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/exporter-config.yml", config_file),
            *book.routes(),
            *(Mount(specs[name].prefix, routes=simulator.routes()) for name, simulator in simulators.items()),
        ]
    )
    app.state.simulators = simulators
    app.state.prefixes = {name: specs[name].prefix for name in simulators}
    for name, simulator in simulators.items():
        setattr(app.state, name, simulator)
    app.state.faults = book
    app.state.calendar = calendar
    return app


def demo_config(base_url: str, app: Starlette) -> dict[str, Any]:
    """An exporter config (the YAML structure of DESIGN.md) with one account for every simulated
    account of every provider, in the providers' `demo_position` order, and the demo's tags."""
    base = base_url.rstrip("/")
    simulators: dict[str, SimulatedProvider] = app.state.simulators
    prefixes: dict[str, str] = app.state.prefixes
    accounts = [a for name, sim in simulators.items() for a in sim.demo_accounts(base + prefixes[name])]
    return {"accounts": accounts, "tags": demo_tags(accounts)}
