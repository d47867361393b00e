"""The jobs of a OneWeb account, each declared once (see leo_exporter/jobspec.py). Products are
OneWeb's service lines and link terminals to them."""

from __future__ import annotations

from leo_exporter.jobspec import JobSpec

USER_TERMINALS = JobSpec(
    name="user_terminals",
    interval=300.0,
    timeout=120.0,
    collectors=frozenset({"terminal"}),
    terminal_state=True,
)
PRODUCTS = JobSpec(
    name="products",
    interval=900.0,
    timeout=120.0,
    collectors=frozenset({"service_line", "terminal", "usage"}),
    terminal_state=False,
)
ORGANIZATIONS = JobSpec(
    name="organizations",
    interval=3600.0,
    timeout=120.0,
    collectors=frozenset({"organization", "account", "terminal", "service_line"}),
    terminal_state=False,
)
SITES = JobSpec(
    name="sites",
    interval=3600.0,
    timeout=120.0,
    collectors=frozenset({"organization"}),
    terminal_state=False,
)
TERMINAL_PERFORMANCE = JobSpec(  # its reports turn stale when it stops
    name="terminal_performance",
    interval=300.0,
    timeout=120.0,
    collectors=frozenset({"terminal"}),
    terminal_state=True,
)
PRODUCT_PERFORMANCE = JobSpec(
    name="product_performance",
    interval=300.0,
    timeout=120.0,
    collectors=frozenset({"service_line"}),
    terminal_state=False,
    for_csv=False,  # reports: no column of the CSV needs them
)
USAGE_CONSUMPTION = JobSpec(
    name="usage_consumption",
    interval=1800.0,
    timeout=120.0,
    collectors=frozenset({"usage"}),
    terminal_state=False,
    for_csv=False,  # usage: no column of the CSV needs it
)
JOBS = (
    USER_TERMINALS,
    PRODUCTS,
    ORGANIZATIONS,
    SITES,
    TERMINAL_PERFORMANCE,
    PRODUCT_PERFORMANCE,
    USAGE_CONSUMPTION,
)
