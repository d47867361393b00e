"""Starlink Public API V2: telemetry stream and management API."""

from __future__ import annotations

from leo_exporter.providers.base import Provider, ProviderDefinition
from leo_exporter.providers.spec import SimulatorFlag, SimulatorSpec
from leo_exporter.providers.starlink.actions import ACTIONS
from leo_exporter.providers.starlink.config import StarlinkAccount
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
    own_faults=frozenset({"expired_token", "behind", "name_flood", "future_rows", "bad_alerts"}),
    demo_overrides={
        "jobs": {
            "telemetry": {"interval": "5s"},
            "user_terminals": {"interval": "1m"},
            "service_lines": {"interval": "1m"},
            "data_usage": {"interval": "5m"},
        },
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
    actions=ACTIONS,
    export_skips=frozenset({"data_usage"}),  # usage: no column of the CSV needs it
)
