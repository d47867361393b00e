"""Operator tools over HTTP: the status page, its JSON API, job control and the ticketing CSV."""

from __future__ import annotations

from exporter.status.routes import routes

__all__ = ["routes"]
