"""The jobs of a Kognitive account, each declared once (see leo_exporter/jobspec.py).

Kognitive mirrors Starlink with a lag ("up to 30 minutes" for account changes) and usage lags a
day, so nothing here needs polling faster than every few minutes. Timeouts leave room to page
through a large fleet within the request budget.
"""

from __future__ import annotations

from leo_exporter.jobspec import JobSpec

TERMINAL_STATUS = JobSpec(
    name="terminal_status",
    interval=120.0,
    timeout=300.0,
    collectors=frozenset({"terminal", "account"}),
    terminal_state=True,
)
SERVICE_LINES = JobSpec(  # service lines name the terminals too
    name="service_lines",
    interval=600.0,
    timeout=300.0,
    collectors=frozenset({"service_line", "terminal", "account"}),
    terminal_state=True,
)
BILLING_USAGE = JobSpec(
    name="billing_usage",
    interval=3600.0,
    timeout=600.0,
    collectors=frozenset({"usage"}),
    terminal_state=False,
    for_csv=False,  # usage: no column of the CSV needs it
)
PRODUCTS = JobSpec(  # products give the lines' usage limits
    name="products",
    interval=21600.0,
    timeout=60.0,
    collectors=frozenset({"product", "usage"}),
    terminal_state=False,
)
ADDRESSES = JobSpec(
    name="addresses",
    interval=21600.0,
    timeout=300.0,
    collectors=frozenset({"service_line", "terminal"}),
    terminal_state=False,
)
JOBS = (TERMINAL_STATUS, SERVICE_LINES, BILLING_USAGE, PRODUCTS, ADDRESSES)
