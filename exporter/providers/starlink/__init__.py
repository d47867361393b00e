"""Starlink Public API V2: telemetry stream and management API."""

from __future__ import annotations

from exporter.providers.base import AccountContext, Provider
from exporter.providers.starlink.config import StarlinkAccount
from exporter.providers.starlink.jobs import StarlinkDriver


class StarlinkProvider:
    name = "starlink"
    config_model = StarlinkAccount
    online_from_telemetry = True

    def create(self, ctx: AccountContext) -> StarlinkDriver:
        return StarlinkDriver(ctx)


PROVIDER: Provider = StarlinkProvider()  # checked against the protocol by mypy
