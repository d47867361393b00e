"""Providers come from the `leo_exporter.providers` entry-point group, built-in ones included."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from leo_exporter import catalog
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


def test_the_providers_families_join_the_catalogue_in_place_and_in_order() -> None:
    """Provider-only families are declared in the provider's folder (Provider.families) and the
    registry installs them: the catalogue a module imported holds them, where they `follow`."""
    from leo_exporter.providers.kognitive.families import SERVICE_LINE_LATITUDE_DEGREES
    from leo_exporter.providers.oneweb.families import SITE_INFO, TERMINAL_RSRP_DBM

    names = [spec.name for spec in catalog.CATALOG]
    assert catalog.BY_NAME["leo_terminal_rsrp_dbm"] is TERMINAL_RSRP_DBM
    assert names.index("leo_terminal_ip_info") < names.index("leo_terminal_rsrp_dbm") < names.index("leo_router_info")
    assert names.index("leo_data_pool_service_line_usage_bytes") + 1 == names.index(SERVICE_LINE_LATITUDE_DEGREES.name)
    assert names.index(SITE_INFO.name) + 1 == names.index("leo_exporter_job_up")  # the exporter's own stay last
    for name, provider in providers().items():
        for spec in provider.families:
            assert spec.name not in {s.name for s in catalog.CENTRAL}, f"{name}: {spec.name} is also central"


def test_a_family_the_catalogue_cannot_serve_is_refused_and_changes_nothing() -> None:
    before = list(catalog.CATALOG)
    bad = [
        (catalog.gauge("leo_terminal_online", "terminal", "again"), "declared twice"),
        (catalog.gauge("leo_exporter_x", "terminal", "x"), "never leo_exporter_"),
        (catalog.gauge("leo_terminal_x", "terminal", "x", collector="nope"), "unknown collector 'nope'"),
        (catalog.gauge("leo_terminal_x", "terminal", "x", follows="leo_nothing"), "no central data family"),
    ]
    for spec, message in bad:
        with pytest.raises(ValueError, match=message):
            catalog.install([spec])
        assert before == catalog.CATALOG
