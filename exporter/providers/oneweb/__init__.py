"""Eutelsat OneWeb enterprise / distribution-partner API (no public specification).

Confirmed: hosts, HTTP Basic `client_id:client_secret`, the hello check and the user terminal
list. Everything else follows the shapes assumed in `schema.py`, each marked with its source;
`docs/providers/oneweb.md` lists them and how to correct one from the config.
"""

from __future__ import annotations

from exporter.providers.base import AccountContext, Provider
from exporter.providers.oneweb.config import OneWebAccount
from exporter.providers.oneweb.jobs import OneWebDriver


class OneWebProvider:
    name = "oneweb"
    config_model = OneWebAccount
    online_from_telemetry = False  # resourceState says it

    def create(self, ctx: AccountContext) -> OneWebDriver:
        return OneWebDriver(ctx)


PROVIDER: Provider = OneWebProvider()  # checked against the protocol by mypy
