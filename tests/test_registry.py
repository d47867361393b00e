"""Providers come from the `leo_exporter.providers` entry-point group, built-in ones included."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from leo_exporter.providers import GROUP, providers
from leo_exporter.simulator.app import build_app, load_factory
from tests.conftest import SIMULATED_NOW

ROOT = Path(__file__).resolve().parent.parent


def test_the_built_in_providers_register_through_the_entry_point_group() -> None:
    points = {point.name: point.value for point in entry_points(group=GROUP)}
    assert {"starlink", "kognitive", "oneweb"} <= set(points)
    assert points["starlink"] == "leo_exporter.providers.starlink:PROVIDER"
    registry = providers()
    assert set(registry) == set(points)
    for name, provider in registry.items():
        assert provider.name == name and provider.config_model.model_fields["provider"]


@pytest.mark.e2e
def test_importing_the_providers_and_the_exporter_imports_no_simulator() -> None:
    """The registry names each simulator by a string: only the simulator app imports it. The
    command line may import the generic pieces (calendar, fault book), never a provider's simulator."""
    code = (
        "import sys\n"
        "from leo_exporter.providers import providers\n"
        "from leo_exporter.app import Exporter\n"
        "registry = providers()\n"
        "print(sorted(m for m in sys.modules if '.simulator' in m))\n"
        "from leo_exporter.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('leo_exporter.providers.') and '.simulator' in m))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]"]


def test_every_simulator_the_registry_names_can_be_built() -> None:
    app = build_app(accounts=1, terminals=4, now=SIMULATED_NOW)
    simulated = {name for name, p in providers().items() if p.simulator is not None}
    assert set(app.state.simulators) == simulated
    for name in simulated:
        spec = providers()[name].simulator
        assert spec is not None
        assert load_factory(spec).__module__.startswith(f"leo_exporter.providers.{name}.simulator")
