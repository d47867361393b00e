"""The simulator's ASGI app: every simulated provider mounted under its own prefix."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from exporter.simulator.calendar import SimCalendar
from exporter.simulator.faults import FaultBook
from exporter.simulator.kognitive import ASSUMED_FIELDS as KOGNITIVE_ASSUMED_FIELDS
from exporter.simulator.kognitive import KognitiveSimulator
from exporter.simulator.oneweb import OneWebSimulator
from exporter.simulator.responses import iso
from exporter.simulator.starlink import StarlinkSimulator

STARLINK_PREFIX = "/starlink"
KOGNITIVE_PREFIX = "/kognitive"
KOGNITIVE_API = "/ext/v1/starlink"
ONEWEB_PREFIX = "/oneweb"
# `provider.name` -> what it adds: fields no document or real payload shows, served only on request
ASSUMPTIONS = {f"kognitive.{name}": text for name, text in KOGNITIVE_ASSUMED_FIELDS.items()}


def assumed(names: Collection[str], provider: str) -> list[str]:
    """The `provider.`-prefixed names of `names`, without the prefix; an unknown name is a ValueError."""
    unknown = sorted(set(names) - set(ASSUMPTIONS))
    if unknown:
        known = ", ".join(sorted(ASSUMPTIONS))
        raise ValueError(f"unknown simulator assumption(s) {', '.join(unknown)}; known: {known}")
    return [name.split(".", 1)[1] for name in names if name.startswith(provider + ".")]


def build_app(
    *,
    accounts: int = 2,
    terminals: int = 40,
    seed: int = 1,
    row_interval: float = 15.0,
    token_ttl: float = 900.0,
    churn: float = 0.0,
    churn_period: float = 60.0,
    oneweb_accounts: int = 1,
    faults: FaultBook | None = None,
    now: float | None = None,
    assume: Collection[str] = (),
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """The simulator app; `app.state.starlink` is the StarlinkSimulator (for tests and the CLI),
    `app.state.faults` the fault book all three providers share (`faults.py`), and
    `app.state.calendar` the simulated calendar, which starts at `now` (Unix seconds) when given.
    `clock` stands for both the machine's clock and the calendar: a world that moves only when the
    test says so (the golden exposition)."""
    book = faults if faults is not None else FaultBook(clock) if clock else FaultBook()
    calendar: Callable[[], float] = clock or SimCalendar(now)
    live: Callable[[], float] = clock or time.time
    starlink = StarlinkSimulator(
        accounts,
        terminals,
        seed,
        row_interval=row_interval,
        token_ttl=token_ttl,
        faults=book,
        churn=churn,
        churn_period=churn_period,
        clock=live,
        calendar=calendar,
    )
    # Kognitive reports no timestamps the exporter judges freshness by: all of it runs on the calendar
    kognitive = KognitiveSimulator(
        accounts, terminals, seed, faults=book, clock=calendar, assumed_fields=assumed(assume, "kognitive")
    )
    oneweb = OneWebSimulator(oneweb_accounts, max(4, terminals // 4), seed, faults=book, clock=live, calendar=calendar)

    async def index(request: Request) -> PlainTextResponse:
        lines = [
            "leo-exporter provider simulator (fake data, not a real provider API)",
            "",
            f"Starlink Public API V2: {STARLINK_PREFIX}/api/public/v2 "
            f"(token: {STARLINK_PREFIX}/api/auth/connect/token)",
            f"Simulated date: {iso(datetime.fromtimestamp(calendar(), UTC))} "
            f"(billing cycles start on each line's own day of the month)",
            "",
            f"  {len(starlink.accounts)} accounts, "
            f"{sum(len(starlink.terminal_ids(a.number)) for a in starlink.accounts)} terminals, "
            f"seed {seed}, a telemetry row every {row_interval:g} s per device",
            f"  controls: GET {STARLINK_PREFIX}/_sim/state, "
            f"POST {STARLINK_PREFIX}/_sim/terminals/{{id}}/offline|online|alerts, "
            f"POST {STARLINK_PREFIX}/_sim/accounts/{{ACC-…}}/rewind",
        ]
        lines += [f"  client_id {c.client_id} -> {c.account_number}" for c in starlink.credentials()]
        lines += [
            "",
            f"Kognitive OrbitPlans: {KOGNITIVE_PREFIX}{KOGNITIVE_API} (auth key in X-Auth-Key or auth-key)",
            f"  {len(kognitive.partners)} partners, {len(kognitive.accounts())} Starlink accounts, "
            f"{sum(len(a.terminals) for a in kognitive.accounts())} terminals, seed {seed}",
            f"  controls: GET {KOGNITIVE_PREFIX}/_sim/state, POST|DELETE {KOGNITIVE_PREFIX}/_sim/faults, "
            f"POST {KOGNITIVE_PREFIX}/_sim/terminals/{{id}}/offline|online|reset",
        ]
        lines += [f"  auth key {key} -> {name}" for name, key in kognitive.credentials()]
        lines += [
            "",
            f"OneWeb (assumed shapes, HTTP Basic client_id:client_secret): {ONEWEB_PREFIX} "
            f"(hello: {ONEWEB_PREFIX}/hello/v1/oneweb/world)",
            f"  {len(oneweb.accounts)} distribution partner(s), "
            f"{sum(len(a.terminals) for a in oneweb.accounts)} terminals, seed {seed}",
            f"  controls: GET {ONEWEB_PREFIX}/_sim/state, POST {ONEWEB_PREFIX}/_sim/terminals/{{imei}}/offline|online, "
            f"POST {ONEWEB_PREFIX}/_sim/reports/shift?seconds=N",
        ]
        lines += [f"  client_id {c.client_id} -> {c.partner_id}" for c in oneweb.credentials()]
        if starlink.churn is not None:
            lines.insert(
                5,
                f"  churn: {churn:g} of each inventory replaced every {churn_period:g} s "
                f"(GET|POST {STARLINK_PREFIX}/_sim/churn)",
            )
        lines += [
            "",
            "Faults, per account of any provider: GET|POST|DELETE /_sim/faults "
            '{"provider": "starlink", "account": "ACC-…", "mode": "rate_limit", "count": 10, "seconds": 30}; '
            "request counts: GET /_sim/requests",
            "  modes: " + ", ".join(book.snapshot()["modes"]),
        ]
        lines += [f"  active: {f}" for f in book.snapshot()["faults"]]
        lines += ["", "An exporter config for this simulator: GET /exporter-config.yml"]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def config_file(request: Request) -> Response:
        """A ready exporter config for this simulator: `curl .../exporter-config.yml > sim.yml`."""
        base_url = str(request.base_url).rstrip("/")
        body = yaml.safe_dump(demo_config(base_url, request.app), sort_keys=False)
        return Response(body, media_type="application/yaml")

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/exporter-config.yml", config_file),
            *book.routes(),
            Mount(STARLINK_PREFIX, routes=starlink.routes()),
            Mount(KOGNITIVE_PREFIX, routes=kognitive.routes()),
            Mount(ONEWEB_PREFIX, routes=oneweb.routes()),
        ]
    )
    app.state.starlink = starlink
    app.state.kognitive = kognitive
    app.state.oneweb = oneweb
    app.state.faults = book
    app.state.calendar = calendar
    return app


def exporter_config(base_url: str, sim: StarlinkSimulator) -> dict[str, Any]:
    """An exporter config (the YAML structure of DESIGN.md) pointing one account at each simulated one."""
    base = base_url.rstrip("/") + STARLINK_PREFIX
    return {
        "accounts": [
            {
                "provider": "starlink",
                "name": creds.client_id,
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "api_url": f"{base}/api/public/v2",
                "auth_url": f"{base}/api/auth/connect/token",
            }
            for creds in sim.credentials()
        ]
    }


def demo_config(base_url: str, app: Starlette) -> dict[str, Any]:
    """An exporter config with one account for every simulated account of every provider."""
    return {
        "accounts": exporter_config(base_url, app.state.starlink)["accounts"]
        + kognitive_config(base_url, app.state.kognitive)
        + oneweb_config(base_url, app.state.oneweb)
    }


def kognitive_config(base_url: str, sim: KognitiveSimulator) -> list[dict[str, Any]]:
    """One `kognitive` account per simulated partner key, paging in small pages to show paging."""
    api_url = base_url.rstrip("/") + KOGNITIVE_PREFIX + KOGNITIVE_API
    jobs = {
        "terminal_status": {"interval": "30s"},
        "service_lines": {"interval": "1m"},
        "billing_usage": {"interval": "5m"},
        "products": {"interval": "5m"},
        "addresses": {"interval": "5m"},
    }
    return [
        {
            "provider": "kognitive",
            "name": f"kognitive-dp-{n}",
            "auth_key": key,
            "api_url": api_url,
            "page_limit": 10,
            "jobs": {name: dict(job) for name, job in jobs.items()},
        }
        for n, (_, key) in enumerate(sim.credentials(), start=1)
    ]


def oneweb_config(base_url: str, sim: OneWebSimulator) -> list[dict[str, Any]]:
    """One `oneweb` account per simulated distribution partner, with demo-short intervals."""
    jobs = {
        "user_terminals": {"interval": "30s"},
        "products": {"interval": "1m"},
        "organizations": {"interval": "5m"},
        "sites": {"interval": "5m"},
        "terminal_performance": {"interval": "1m"},
        "product_performance": {"interval": "1m"},
        "usage_consumption": {"interval": "5m"},
    }
    return [
        {
            "provider": "oneweb",
            "name": f"oneweb-{creds.partner_id}",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "api_url": base_url.rstrip("/") + ONEWEB_PREFIX,
            "jobs": {name: dict(job) for name, job in jobs.items()},
        }
        for creds in sim.credentials()
    ]
