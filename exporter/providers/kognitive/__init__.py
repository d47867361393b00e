"""Kognitive OrbitPlans: Starlink fleets managed through a reseller (`ext/v1/starlink/...`).

No telemetry: terminals, service lines, usage, products and addresses come from the management
calls, and the online flag is the one the API reports (`is_terminal_online`).
"""

from __future__ import annotations

from exporter.providers.base import AccountContext, Provider
from exporter.providers.kognitive.config import KognitiveAccount
from exporter.providers.kognitive.jobs import KognitiveDriver


class KognitiveProvider:
    name = "kognitive"
    config_model = KognitiveAccount
    online_from_telemetry = False

    def create(self, ctx: AccountContext) -> KognitiveDriver:
        return KognitiveDriver(ctx)


PROVIDER: Provider = KognitiveProvider()  # checked against the protocol by mypy
