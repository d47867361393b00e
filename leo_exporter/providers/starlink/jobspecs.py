"""The jobs of a Starlink V2 account, each declared once: the config, the driver, the CSV export,
the status API, the rules' terminal-state regex and the docs' job tables read them from here."""

from __future__ import annotations

from leo_exporter.jobspec import JobSpec

ACCOUNT = JobSpec(
    name="account",
    interval=3600.0,
    timeout=30.0,
    collectors=frozenset({"account", "terminal", "router", "service_line"}),  # their provider_account
    terminal_state=False,
    permission="Account information, View",
)
TELEMETRY = JobSpec(
    name="telemetry",
    interval=15.0,
    timeout=300.0,
    collectors=frozenset({"terminal", "router", "ip", "router_wifi", "details"}),
    terminal_state=True,
    permission="Device telemetry, View",
    demo_interval="5s",
)
USER_TERMINALS = JobSpec(
    name="user_terminals",
    interval=300.0,
    timeout=300.0,
    collectors=frozenset({"terminal", "router"}),
    terminal_state=True,
    permission="Device management, View",
    demo_interval="1m",
)
SERVICE_LINES = JobSpec(
    name="service_lines",
    interval=300.0,
    timeout=300.0,
    collectors=frozenset({"service_line"}),
    terminal_state=True,
    permission="Service plan, View",
    demo_interval="1m",
)
DATA_USAGE = JobSpec(
    name="data_usage",
    interval=3600.0,
    timeout=300.0,
    collectors=frozenset({"usage", "details"}),
    terminal_state=False,
    for_csv=False,  # usage: no column of the CSV needs it
    permission="Service plan, View",
    demo_interval="5m",
)
DATA_POOLS = JobSpec(  # pre-release at the provider
    name="data_pools",
    interval=3600.0,
    timeout=300.0,
    collectors=frozenset({"pool"}),
    terminal_state=False,
    permission="Service plan, View",
)
BALANCE = JobSpec(
    name="balance",
    interval=3600.0,
    timeout=30.0,
    collectors=frozenset({"account"}),
    terminal_state=False,
    permission="Financial, View",
)
JOBS = (ACCOUNT, TELEMETRY, USER_TERMINALS, SERVICE_LINES, DATA_USAGE, DATA_POOLS, BALANCE)
