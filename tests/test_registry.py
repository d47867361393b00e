"""Providers come from the `leo_exporter.providers` entry-point group, built-in ones included."""

from __future__ import annotations

from importlib.metadata import entry_points

from exporter.providers import GROUP, providers


def test_the_built_in_providers_register_through_the_entry_point_group() -> None:
    points = {point.name: point.value for point in entry_points(group=GROUP)}
    assert {"starlink", "kognitive", "oneweb"} <= set(points)
    assert points["starlink"] == "exporter.providers.starlink:PROVIDER"
    registry = providers()
    assert set(registry) == set(points)
    for name, provider in registry.items():
        assert provider.name == name and provider.config_model.model_fields["provider"]
