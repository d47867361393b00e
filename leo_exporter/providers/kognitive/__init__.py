"""Kognitive OrbitPlans: Starlink fleets managed through a reseller (`ext/v1/starlink/...`).

No telemetry: terminals, service lines, usage, products and addresses come from the management
calls, and the online flag is the one the API reports (`is_terminal_online`).
"""

from __future__ import annotations

from leo_exporter.providers.base import Provider, ProviderDefinition
from leo_exporter.providers.kognitive.actions import ACTIONS
from leo_exporter.providers.kognitive.config import KognitiveAccount
from leo_exporter.providers.kognitive.families import FAMILIES
from leo_exporter.providers.kognitive.jobs import KognitiveDriver
from leo_exporter.providers.spec import SimulatorSpec

# Fields no document or real payload shows, served by the simulator only when asked for
# (`--assume kognitive.<name>`). docs/providers/kognitive.md says what would confirm each.
ASSUMED_FIELDS = {
    "service_line_address": "address_reference_id on getServiceLineDetails items (joins the line to its address)",
    "service_line_product": "product_reference_id on getServiceLineDetails items (the line's plan, hence its limit)",
}

SIMULATOR = SimulatorSpec(
    prefix="/kognitive",
    factory="leo_exporter.providers.kognitive.simulator.server:simulate",
    missing_faults={
        "expired_token": "Kognitive has no tokens (the auth key goes with every request); use revoked",
        "behind": "Kognitive has no telemetry stream",
    },
    assumptions=ASSUMED_FIELDS,
    demo_position=20,
)

PROVIDER: Provider = ProviderDefinition(  # checked against the protocol by mypy
    name="kognitive",
    config_model=KognitiveAccount,
    driver=KognitiveDriver,
    online_from_telemetry=False,
    simulator=SIMULATOR,
    families=FAMILIES,
    actions=ACTIONS,
)
