"""The registry of providers: the `leo_exporter.providers` entry-point group.

The built-in providers register there in pyproject.toml, the same way a third-party package
would (`[project.entry-points."leo_exporter.providers"] name = "package.module:PROVIDER"`), so the
rest of the exporter knows providers only through this registry. Read once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from leo_exporter import catalog, config
from leo_exporter.config import AccountConfig, Config
from leo_exporter.jobspec import JobSpec, by_name
from leo_exporter.providers.base import Provider
from leo_exporter.providers.spec import SimulatorSpec

GROUP = "leo_exporter.providers"


@functools.cache
def providers() -> dict[str, Provider]:
    """Every registered provider by name; an entry point whose name disagrees with its provider's
    is a packaging mistake, said at once rather than as an unknown provider later."""
    found: dict[str, Provider] = {}
    for point in entry_points(group=GROUP):
        provider = point.load()
        if provider.name != point.name:
            raise RuntimeError(f"entry point {point.name!r} in {GROUP} loads provider {provider.name!r}")
        _check_jobs(provider)
        found[point.name] = provider
    if not found:
        raise RuntimeError(f"no provider registered in the {GROUP} entry-point group: is leo-exporter installed?")
    # the providers' own families join the catalogue, in the demo's order (see `ordered`)
    try:
        catalog.install([spec for _, p in sorted(found.items(), key=_order) for spec in p.families])
    except ValueError as exc:
        raise RuntimeError(f"a provider's families cannot join the catalogue: {exc}") from exc
    return found


def _check_jobs(provider: Provider) -> None:
    """A provider's JobSpecs: each name once, each collector group one the exporter has."""
    try:
        by_name(provider.jobs)
    except ValueError as exc:
        raise RuntimeError(f"provider {provider.name}: {exc}") from exc
    for job in provider.jobs:
        unknown = sorted(job.collectors - set(catalog.COLLECTORS))
        if unknown:
            raise RuntimeError(
                f"provider {provider.name}, job {job.name}: unknown collector {', '.join(unknown)}; "
                f"there are: {', '.join(catalog.COLLECTORS)}"
            )


def _order(item: tuple[str, Provider]) -> tuple[int, str]:
    spec = item[1].simulator
    return (spec.demo_position if spec is not None else 100, item[0])


def ordered() -> dict[str, Provider]:
    """Every registered provider in the demo's order (`SimulatorSpec.demo_position`, 100 without a
    simulator, then the name): the order of generated rules, docs tables and families."""
    return dict(sorted(providers().items(), key=_order))


def built_in() -> dict[str, Provider]:
    """The providers that ship in this package (not a plug-in installed beside it), in `ordered()`
    order: what the committed rules, docs and golden files are generated from."""
    return {name: p for name, p in ordered().items() if p.config_model.__module__.startswith(f"{__name__}.")}


def built_in_catalog() -> list[catalog.MetricSpec[Any, Any]]:
    """The catalogue as the built-in providers make it, whatever plug-ins are installed: what the
    committed docs, schema and golden exposition are held to."""
    plugged = {id(spec) for name, p in providers().items() if name not in built_in() for spec in p.families}
    return [spec for spec in catalog.CATALOG if id(spec) not in plugged]


def account_config_models() -> dict[str, type[AccountConfig]]:
    return {name: p.config_model for name, p in providers().items()}


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> Config:
    """`leo_exporter.config.parse_config` with every registered provider's model and the catalogue's
    collector groups: what the command line, a reload and the tests parse with."""
    return config.parse_config(
        data, account_config_models(), env, collectors=catalog.COLLECTORS, default_off=catalog.DEFAULT_OFF
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """`leo_exporter.config.load_config` with the registry's models and the catalogue's collectors."""
    return config.load_config(
        path, account_config_models(), env, collectors=catalog.COLLECTORS, default_off=catalog.DEFAULT_OFF
    )


def simulated() -> dict[str, SimulatorSpec]:
    """Every registered provider that has a simulator, by name, in the demo's order
    (`SimulatorSpec.demo_position`, then the name)."""
    found = {name: p.simulator for name, p in providers().items() if p.simulator is not None}
    return dict(sorted(found.items(), key=lambda item: (item[1].demo_position, item[0])))


def job_spec(provider: str, call: str) -> JobSpec | None:
    """The spec of one registered provider's job (None: no such provider or job)."""
    found = providers().get(provider)
    return next((job for job in found.jobs if job.name == call), None) if found else None
