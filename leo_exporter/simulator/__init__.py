"""Simulated provider APIs served over HTTP, for the demo mode, end-to-end tests and benchmarks.

`app.build_app` assembles every registered provider's simulator into one Starlette app; each
provider's simulator lives in its own folder (`providers/<p>/simulator/`) and only hands out
routes relative to its mount point. What stays here is generic: the app, the calendar, the fault
book, churn, hashing and response helpers, and `plugin.py` (what a simulator gets and gives).
"""
