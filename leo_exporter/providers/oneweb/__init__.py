"""Eutelsat OneWeb enterprise / distribution-partner API (no public specification).

Confirmed: hosts, HTTP Basic `client_id:client_secret`, the hello check and the user terminal
list. Everything else follows the shapes assumed in `schema.py`, each marked with its source;
`docs/providers/oneweb.md` lists them and how to correct one from the config.
"""

from __future__ import annotations

from leo_exporter.providers.base import Provider, ProviderDefinition
from leo_exporter.providers.oneweb.config import OneWebAccount
from leo_exporter.providers.oneweb.families import FAMILIES
from leo_exporter.providers.oneweb.jobs import OneWebDriver
from leo_exporter.providers.spec import SimulatorFlag, SimulatorSpec

SIMULATOR = SimulatorSpec(
    prefix="/oneweb",
    factory="leo_exporter.providers.oneweb.simulator.server:simulate",
    flags=(
        SimulatorFlag(
            "--oneweb-accounts",
            "oneweb_accounts",
            int,
            1,
            "simulated OneWeb distribution partner accounts (default 1)",
        ),
    ),
    missing_faults={
        "expired_token": "OneWeb has no tokens (HTTP Basic credentials go with every request); use revoked",
        "behind": "OneWeb has no telemetry stream",
    },
    demo_position=30,
)

PROVIDER: Provider = ProviderDefinition(  # checked against the protocol by mypy
    name="oneweb",
    config_model=OneWebAccount,
    driver=OneWebDriver,
    online_from_telemetry=False,  # resourceState says it
    simulator=SIMULATOR,
    families=FAMILIES,
)
