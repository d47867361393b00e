"""Simulated provider APIs served over HTTP, for the demo mode, end-to-end tests and benchmarks.

`app.build_app` assembles them into one Starlette app; each provider's simulator lives in its own
module and only hands out routes relative to its mount point.
"""
