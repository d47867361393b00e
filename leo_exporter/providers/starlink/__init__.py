"""Starlink Public API V2: telemetry stream and management API."""

from __future__ import annotations

from leo_exporter.providers.base import Provider, ProviderDefinition
from leo_exporter.providers.spec import FaultMode, SimulatorFlag, SimulatorSpec
from leo_exporter.providers.starlink.actions import ACTIONS
from leo_exporter.providers.starlink.config import StarlinkAccount
from leo_exporter.providers.starlink.families import FAMILIES
from leo_exporter.providers.starlink.jobs import StarlinkDriver

SIMULATOR = SimulatorSpec(
    prefix="/starlink",
    factory="leo_exporter.providers.starlink.simulator.server:simulate",
    flags=(
        SimulatorFlag(
            "--row-interval", "row_interval", float, 15.0, "seconds between telemetry rows of one device (default 15)"
        ),
        SimulatorFlag(
            "--churn",
            "churn",
            float,
            0.0,
            "Starlink: replace this fraction of each inventory every --churn-period (terminals leave "
            "and new ones join; default 0: no churn)",
            "FRACTION",
        ),
        SimulatorFlag(
            "--churn-period",
            "churn_period",
            float,
            60.0,
            "seconds between inventory changes with --churn (default 60)",
            "SECONDS",
        ),
    ),
    fault_modes=(
        FaultMode(
            "expired_token",
            "Starlink: tokens refused with 401 `ttl` seconds after minting (default 2)",
            params={"ttl": 2.0},
            minimum={"ttl": 0.0},
        ),
        FaultMode(
            "behind",
            "Starlink: the telemetry stream falls `ticks` behind (full batches)",
            params={"ticks": 40},
            minimum={"ticks": 1},
        ),
        # hostile stream answers (issue #25); `size` is the fault book's own parameter
        FaultMode(
            "name_flood", "Starlink stream: `size` new metadata.enums keys and column names per answer (default 2000)"
        ),
        FaultMode("future_rows", "Starlink stream: one row per answer stamped ten years ahead"),
        FaultMode("bad_alerts", "Starlink stream: one row per answer with ActiveAlerts [[1]]"),
    ),
    demo_overrides={
        "telemetry": {"max_linger": "2s", "batch_size": 65000},
        "backoff_base": "1s",
    },
    demo_position=10,
)

PROVIDER: Provider = ProviderDefinition(  # checked against the protocol by mypy
    name="starlink",
    config_model=StarlinkAccount,
    driver=StarlinkDriver,
    online_from_telemetry=True,
    simulator=SIMULATOR,
    families=FAMILIES,
    actions=ACTIONS,
)
