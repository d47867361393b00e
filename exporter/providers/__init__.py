"""The registry of providers: the only place that lists them."""

from __future__ import annotations

from exporter.config import AccountConfig
from exporter.providers.base import Provider


def providers() -> dict[str, Provider]:
    from exporter.providers import kognitive, oneweb, starlink

    registry: list[Provider] = [starlink.PROVIDER, kognitive.PROVIDER, oneweb.PROVIDER]
    return {p.name: p for p in registry}


def account_config_models() -> dict[str, type[AccountConfig]]:
    return {name: p.config_model for name, p in providers().items()}
