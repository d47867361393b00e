"""A realistic fake of the Starlink Public API V2 (token, telemetry stream, management), over HTTP.

The exporter's real client polls it exactly as it polls starlink.com. Every API call goes through
`_api`, which resolves the bearer token to a service account and then hands the request to the
shared fault book (`leo_exporter/simulator/faults.py`: 429, 5xx, slow answers, resets, broken JSON, expired tokens,
revoked credentials, a stream that falls behind), keyed by account number, client id or index.
With `churn` set, terminals join and leave the inventory over time (`churn.py`). Time comes from
an injectable clock, so tests move time forward instead of sleeping. The simulator app builds it
through `simulate` (the provider's `SIMULATOR.factory`).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard
from urllib.parse import parse_qs, unquote

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from leo_exporter.providers.starlink.simulator.fleet import Account, ServiceLine, Terminal, build_fleet, split
from leo_exporter.providers.starlink.simulator.hostile import mangle
from leo_exporter.providers.starlink.simulator.pools import balance_json, pool_json, pool_usage_json
from leo_exporter.providers.starlink.simulator.products import (
    MAX_COUNT,
    TopUpBlock,
    catalog,
    extra_gb,
    new_block,
    recurring_blocks_json,
    standing_top_ups,
    top_up_product,
)
from leo_exporter.providers.starlink.simulator.telemetry import (
    ENUMS,
    FUTURE_COLUMN,
    I_COLUMNS,
    R_BASE,
    U_BASE,
    AccountStream,
    Cursor,
    reorder,
    response_columns,
)
from leo_exporter.providers.starlink.simulator.usage import line_usage
from leo_exporter.simulator.churn import Churn, spares
from leo_exporter.simulator.faults import Fault, FaultBook, FaultError
from leo_exporter.simulator.hashing import key
from leo_exporter.simulator.hostile import STREAM_HOSTILE
from leo_exporter.simulator.plugin import SimulatorContext
from leo_exporter.simulator.responses import envelope, envelope_error, iso, json_response, paginate

API = "/api/public/v2"
PAGE_SIZE = 100  # service lines and user terminals: fixed, no `limit` parameter
MAX_BATCH = 65000
MAX_LINGER_MS = 65000
USAGE_LIMIT_DEFAULT, USAGE_LIMIT_MAX = 50, 250
POOLS_PAGE_SIZE = 100  # GET /data-pools: "Page size is 100"
POOLS_USAGE_LIMIT_DEFAULT, POOLS_USAGE_LIMIT_MAX = 50, 100  # GET /data-pools/usage
MAX_PREVIOUS_CYCLES = 24
# A rebooted dish is gone from the stream this long: more than the exporter's default offline_after
# (3m), so the metrics show it offline, then back with a small uptime.
REBOOT_DOWN_S = 240.0
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class SimAccount:
    """Credentials of one simulated service account and the account it belongs to."""

    client_id: str
    client_secret: str
    account_number: str
    account_name: str


@dataclass(slots=True)
class _Client:
    """A service account: its secret, its account, and its own stream cursor."""

    creds: SimAccount
    account: int  # position in StarlinkSimulator.accounts
    cursor: Cursor = field(default_factory=Cursor)


@dataclass(frozen=True, slots=True)
class _Token:
    client_id: str
    expires: float
    issued: float = 0.0


Handler = Callable[[Request, _Client], Awaitable[Response]]


@dataclass(slots=True)
class _Readers:
    """Who read one account's telemetry stream, to prove there is one reader at a time.

    A reader is a bearer token: every exporter replica (and every restart of an account's
    polling) logs in anew. A read by an earlier reader after a later one began means two
    readers at once: the rows of the stream were split between them."""

    current: str = ""
    earlier: set[str] = field(default_factory=set)
    reads: int = 0
    handovers: int = 0
    overlaps: int = 0

    def note(self, token: str) -> None:
        self.reads += 1
        if token == self.current:
            return
        if token in self.earlier:
            self.overlaps += 1
            return
        if self.current:
            self.earlier.add(self.current)
            self.handovers += 1
        self.current = token

    def summary(self) -> dict[str, int]:
        return {
            "readers": len(self.earlier) + bool(self.current),
            "reads": self.reads,
            "handovers": self.handovers,
            "overlaps": self.overlaps,
        }


class _BadRequest(Exception):
    """A request the API rejects; carries the HTTP status and the envelope message."""

    def __init__(self, message: str, status: int = 400, members: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.members = status, message, members


class StarlinkSimulator:
    """Simulated Starlink accounts with deterministic fleets; mount `routes()` at `/starlink`."""

    def __init__(
        self,
        accounts: int = 2,
        terminals: int = 40,
        seed: int = 1,
        *,
        clock: Callable[[], float] = time.time,
        calendar: Callable[[], float] | None = None,
        row_interval: float = 15.0,
        token_ttl: float = 900.0,
        faults: FaultBook | None = None,
        churn: float = 0.0,
        churn_period: float = 60.0,
    ) -> None:
        if row_interval <= 0:
            raise ValueError("row_interval must be positive")
        if not 0 <= churn < 1:
            raise ValueError("churn must be a fraction in [0, 1)")
        self.seed = seed
        self.row_interval = row_interval
        self.token_ttl = token_ttl
        self.churn_fraction, self.churn_period = churn, churn_period
        self._clock = clock  # live data: stream rows, tokens, churn
        self._calendar = calendar or clock  # dates: activations, billing cycles, usage, top-ups
        self.t0 = clock()  # tick 0 happens now, so a first stream call has data at once
        self.accounts: list[Account] = build_fleet(
            seed, accounts, terminals, self._calendar(), lambda n: spares(n, churn)
        )
        self.streams = [AccountStream(a, seed, self.t0, row_interval) for a in self.accounts]
        self.churn: list[Churn] | None = None
        if churn > 0:
            self.churn = [
                Churn(n, len(acc.terminals), churn, churn_period, self.t0, key(seed, acc.index, 0xC4))
                for n, acc in zip(split(terminals, accounts), self.accounts, strict=True)
            ]
            for stream, plan in zip(self.streams, self.churn, strict=True):
                stream.absent_at = self._absent_at(plan)
        self.faults = faults if faults is not None else FaultBook()
        self.faults.on_activate("starlink", "behind", self._fall_behind)
        self._clients: dict[str, _Client] = {}
        for pos, acc in enumerate(self.accounts):
            creds = SimAccount(acc.client_id, acc.client_secret, acc.number, acc.name)
            self._clients[acc.client_id] = _Client(creds, pos)
        self._tokens: dict[str, _Token] = {}
        self.readers: dict[str, _Readers] = {}  # account number -> who read its stream
        self._terminals: dict[str, tuple[int, Terminal]] = {
            t.terminal_id: (pos, t) for pos, acc in enumerate(self.accounts) for t in acc.terminals
        }
        self._forced_online: list[dict[int, bool]] = [{} for _ in self.accounts]
        self.top_ups: dict[str, list[TopUpBlock]] = {}  # service line -> one-time top-ups bought
        self.top_up_refusals: dict[int, str] = {}  # account position -> the reason the next top-up fails
        self.reboots: list[tuple[str, str]] = []  # ("user-terminal" | "router", id) in the order asked

    # ---- fleet inspection (tests and the CLI use these) ---------------------------------------------

    def credentials(self) -> list[SimAccount]:
        """The primary service account of each simulated account, in account order."""
        return [self._clients[a.client_id].creds for a in self.accounts]

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        """One exporter account (YAML structure) per simulated service account at `base_url`."""
        base = base_url.rstrip("/")
        return [
            {
                "provider": "starlink",
                "name": creds.client_id,
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "api_url": f"{base}/api/public/v2",
                "auth_url": f"{base}/api/auth/connect/token",
            }
            for creds in self.credentials()
        ]

    def describe(self, prefix: str) -> list[str]:
        """Its block of the simulator's index page."""
        lines = [f"Starlink Public API V2: {prefix}/api/public/v2 (token: {prefix}/api/auth/connect/token)"]
        if self.churn is not None:
            lines.append(
                f"  churn: {self.churn_fraction:g} of each inventory replaced every {self.churn_period:g} s "
                f"(GET|POST {prefix}/_sim/churn)"
            )
        terminals = sum(len(self.terminal_ids(a.number)) for a in self.accounts)
        lines += [
            f"  {len(self.accounts)} accounts, {terminals} terminals, "
            f"seed {self.seed}, a telemetry row every {self.row_interval:g} s per device",
            f"  controls: GET {prefix}/_sim/state, POST {prefix}/_sim/terminals/{{id}}/offline|online|alerts, "
            f"POST {prefix}/_sim/accounts/{{ACC-…}}/rewind",
        ]
        return lines + [f"  client_id {c.client_id} -> {c.account_number}" for c in self.credentials()]

    def add_service_account(self, account_number: str) -> SimAccount:
        """Create another service account on an account: it gets its own, independent stream cursor."""
        pos = self._account_pos(account_number)
        acc = self.accounts[pos]
        n = sum(1 for c in self._clients.values() if c.account == pos) + 1
        creds = SimAccount(f"{acc.client_id}-{n}", secrets.token_hex(16), acc.number, acc.name)
        self._clients[creds.client_id] = _Client(creds, pos)
        return creds

    def account(self, account_number: str) -> Account:
        return self.accounts[self._account_pos(account_number)]

    def terminal_ids(self, account_number: str) -> list[str]:
        """Bare ids of the terminals in the account's inventory now."""
        return [t.terminal_id for t in self._present(self._account_pos(account_number))]

    def router_ids(self, account_number: str) -> list[str]:
        pos = self._account_pos(account_number)
        here = {t.index for t in self._present(pos)}
        return [r.router_id for ti, r in self.accounts[pos].routers if ti in here]

    def service_lines(self, account_number: str) -> list[str]:
        return [line.number for line in self._present_lines(self._account_pos(account_number))]

    def offline_terminal_ids(self, account_number: str) -> set[str]:
        """Bare ids of the terminals offline from the next tick on (defaults plus /_sim overrides)."""
        pos = self._account_pos(account_number)
        terminals = self.accounts[pos].terminals
        here = {t.index for t in self._present(pos)}
        return {terminals[i].terminal_id for i in self._offline_set(pos) if i in here}

    def critical_terminal_id(self, account_number: str) -> str | None:
        """The terminal that has a critical alert (53 or 80) active most of the time."""
        acc = self.account(account_number)
        return None if acc.critical is None else acc.terminals[acc.critical].terminal_id

    def current_tick(self) -> int:
        return max(0, int((self._clock() - self.t0) // self.row_interval))

    # ---- test controls ------------------------------------------------------------------------------

    def set_online(self, terminal_id: str, online: bool) -> None:
        """Force a terminal on- or offline; rows already produced are still delivered."""
        pos, term = self._terminal(terminal_id)
        self._forced_online[pos][term.index] = online
        self.streams[pos].set_offline(self._offline_set(pos), self.current_tick() + 1)

    def refuse_next_top_up(self, account_number: str, reason: str) -> None:
        """Make the account's next top-up fail with `reason` (a declined payment, say)."""
        self.top_up_refusals[self._account_pos(account_number)] = reason

    def force_alerts(self, terminal_id: str, codes: list[int]) -> None:
        """Replace a terminal's alerts with `codes` in every row served from now; [] clears it."""
        pos, term = self._terminal(terminal_id)
        if codes:
            self.streams[pos].forced_alerts[term.index] = tuple(codes)
        else:
            self.streams[pos].forced_alerts.pop(term.index, None)

    def state(self) -> dict[str, Any]:
        """A summary for `GET /_sim/state`."""
        out = []
        for pos, acc in enumerate(self.accounts):
            stream = self.streams[pos]
            out.append(
                {
                    "accountNumber": acc.number,
                    "accountName": acc.name,
                    "clientIds": [c.creds.client_id for c in self._clients.values() if c.account == pos],
                    "alertColumn": acc.alert_column,
                    "terminals": len(self._present(pos)),
                    "routers": len(self.router_ids(acc.number)),
                    "serviceLines": len(self._present_lines(pos)),
                    "offline": sorted(self.offline_terminal_ids(acc.number)),
                    "criticalTerminal": self.critical_terminal_id(acc.number),
                    "forcedAlerts": {acc.terminals[i].terminal_id: list(c) for i, c in stream.forced_alerts.items()},
                    "rebooted": {acc.terminals[i].terminal_id: back for i, back in stream.reboots.items()},
                }
            )
        return {"tick": self.current_tick(), "rowInterval": self.row_interval, "accounts": out}

    # ---- churn --------------------------------------------------------------------------------------

    def _absent_at(self, plan: Churn) -> Callable[[int], tuple[int, frozenset[int]]]:
        def absent_at(tick: int) -> tuple[int, frozenset[int]]:
            epoch = plan.epoch_at(self.t0 + tick * self.row_interval)
            return epoch, plan.absent(epoch)

        return absent_at

    def _present(self, pos: int) -> list[Terminal]:
        """The account's terminals in its inventory now (all of them without churn)."""
        terminals = self.accounts[pos].terminals
        if self.churn is None:
            return terminals
        plan = self.churn[pos]
        return [terminals[i] for i in plan.present(plan.epoch_at(self._clock()))]

    def _present_lines(self, pos: int) -> list[ServiceLine]:
        """Service lines of present terminals, and those without a terminal (spares)."""
        lines = self.accounts[pos].service_lines
        if self.churn is None:
            return lines
        here = {t.index for t in self._present(pos)}
        return [line for line in lines if line.terminal_index is None or line.terminal_index in here]

    def churn_state(self) -> dict[str, Any]:
        """`GET /_sim/churn`: who is in each inventory now, who has left, who joined since the start."""
        if self.churn is None:
            return {"enabled": False, "accounts": []}
        now = self._clock()
        out = []
        for acc, plan in zip(self.accounts, self.churn, strict=True):
            epoch = plan.epoch_at(now)
            present = plan.present(epoch)
            here = set(present)
            gone = plan.ever_present(epoch) - here
            out.append(
                {
                    "accountNumber": acc.number,
                    "present": [acc.terminals[i].terminal_id for i in present],
                    "departed": sorted(acc.terminals[i].terminal_id for i in gone),
                    "joined": sorted(acc.terminals[i].terminal_id for i in here if i >= plan.n),
                    "presentRouters": sorted(r.router_id for ti, r in acc.routers if ti in here),
                    "departedRouters": sorted(r.router_id for ti, r in acc.routers if ti in gone),
                }
            )
        first = self.churn[0]
        return {
            "enabled": True,
            "epoch": first.epoch_at(now),
            "period": first.period,
            "perPeriod": [plan.per_period for plan in self.churn],
            "frozen": first.frozen is not None,
            "nextChangeAt": first.next_change(now),
            "accounts": out,
        }

    def freeze_churn(self, frozen: bool) -> None:
        """Hold the inventories as they are now (the end of a soak), or let them move again."""
        for plan in self.churn or []:
            plan.frozen = plan.epoch_at(self._clock()) if frozen else None

    # ---- routes -------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Routes relative to the mount point (`/starlink`)."""
        return [
            Route("/api/auth/connect/token", self._token, methods=["POST"]),
            Route(f"{API}/telemetry/stream", self._api(self._stream), methods=["POST"]),
            Route(f"{API}/account", self._api(self._account), methods=["GET"]),
            Route(f"{API}/service-lines", self._api(self._service_lines), methods=["GET"]),
            Route(API + "/service-lines/{sln}", self._api(self._service_line), methods=["GET"]),
            Route(API + "/service-lines/{sln}/data/top-up", self._api(self._top_up), methods=["POST"]),
            Route(f"{API}/products", self._api(self._products), methods=["GET"]),
            Route(f"{API}/user-terminals", self._api(self._user_terminals), methods=["GET"]),
            Route(API + "/user-terminals/{device}/reboot", self._api(self._reboot_terminal), methods=["POST"]),
            Route(API + "/routers/{router}/reboot", self._api(self._reboot_router), methods=["POST"]),
            Route(f"{API}/data-usage/query", self._api(self._data_usage), methods=["POST"]),
            Route(f"{API}/data-pools", self._api(self._data_pools), methods=["GET"]),
            Route(f"{API}/data-pools/usage", self._api(self._data_pools_usage), methods=["GET"]),
            Route(f"{API}/billing/balance", self._api(self._balance), methods=["GET"]),
            Route(API + "/{rest:path}", self._not_found, methods=_ALL_METHODS),
            Route("/_sim/state", self._sim_state, methods=["GET"]),
            Route("/_sim/readers", self._sim_readers, methods=["GET"]),
            Route("/_sim/terminals/{terminal_id}/{action:str}", self._sim_terminal, methods=["POST"]),
            Route("/_sim/accounts/{account}/rewind", self._sim_rewind, methods=["POST"]),
            Route("/_sim/churn", self._sim_churn, methods=["GET", "POST"]),
            *self.faults.routes("starlink"),
            Route("/_sim/accounts/{account}/refuse-top-up", self._sim_refuse_top_up, methods=["POST"]),
        ]

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate the bearer token, apply the account's faults (`faults.py`), then run the
        handler; bad requests become envelopes."""

        async def endpoint(request: Request) -> Response:
            client = self._authenticate(request)
            if client is None:
                return _token_refused()
            keys = self._keys(client)
            number = client.creds.account_number
            name = request.url.path.partition(API)[2] or request.url.path  # "/telemetry/stream"
            if self._token_expired_early(request, keys, name):
                self.faults.record("starlink", number, name, "401")
                return _token_refused()

            async def run() -> Response:
                try:
                    return await handler(request, client)
                except _BadRequest as exc:
                    return envelope_error(exc.status, exc.message, exc.members)

            return await self.faults.serve("starlink", keys, number, name, request, run, _fault_error)

        return endpoint

    def _keys(self, client: _Client) -> tuple[str, str, str]:
        """What a fault may name this account by: account number, client id, 1-based index."""
        return client.creds.account_number, client.creds.client_id, str(client.account + 1)

    def _token_expired_early(self, request: Request, keys: tuple[str, ...], name: str) -> bool:
        """`expired_token`: a token older than the fault's ttl is refused as expired (and forgotten)."""
        fault = self.faults.find("starlink", keys, name, ("expired_token",))
        if fault is None:
            return False
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        found = self._tokens.get(token)
        if found is None or self._clock() - found.issued < fault.options["ttl"]:
            return False
        del self._tokens[token]
        self.faults.hit(fault)
        return True

    def _fall_behind(self, fault: Fault) -> dict[str, Any]:
        """`behind`: every reader of the matching accounts moves `ticks` back (full batches follow)."""
        moved = 0
        for client in {c.account: c for c in self._clients.values()}.values():
            if fault.account == "*" or fault.account in self._keys(client):
                moved += self.rewind(client.creds.account_number, fault.options["ticks"])
        if not moved:
            raise FaultError(f"no Starlink account is called {fault.account!r} (account number, client id or index)")
        return {"clients": moved, "ticks": fault.options["ticks"]}

    # ---- auth ---------------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic is allowed too
            try:
                raw = base64.b64decode(basic[6:].strip()).decode()
                client_id, _, secret = (unquote(part) for part in raw.partition(":"))
            except ValueError:
                return json_response({"error": "invalid_client"}, 401)
        client = self._clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.creds.client_secret, secret or ""):
            return json_response({"error": "invalid_client"}, 401)

        async def mint() -> Response:
            return self._mint(client)

        number = client.creds.account_number
        return await self.faults.serve("starlink", self._keys(client), number, "token", request, mint, _token_error)

    def _mint(self, client: _Client) -> Response:
        now = self._clock()
        self._tokens = {k: v for k, v in self._tokens.items() if v.expires > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(client.creds.client_id, now + self.token_ttl, now)
        ttl = int(self.token_ttl) if float(self.token_ttl).is_integer() else self.token_ttl
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": ""})

    def _authenticate(self, request: Request) -> _Client | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        found = self._tokens.get(token.strip())
        if found is None or found.expires <= self._clock():
            return None
        return self._clients.get(found.client_id)

    # ---- telemetry stream ---------------------------------------------------------------------------

    async def _stream(self, request: Request, client: _Client) -> Response:
        batch, linger_ms = _stream_params(await _json_body(request))
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        readers = self.readers.setdefault(client.creds.account_number, _Readers())
        readers.note(token)
        body = self._read(client, batch)
        if body is None:  # nothing new: long-poll until the next tick or the linger runs out
            wait = min(linger_ms / 1000.0, self.t0 + (self.current_tick() + 1) * self.row_interval - self._clock())
            if wait > 0:
                await anyio.sleep(wait)
            if await request.is_disconnected():  # the reader gave up waiting: nothing is read for it
                return Response(b"", status_code=499)
            readers.note(token)
            body = self._read(client, batch, allow_empty=True)
        fault = self.faults.find("starlink", self._keys(client), "/telemetry/stream", STREAM_HOSTILE)
        if fault is not None and body is not None:  # name floods, rows from the future, bad alert lists
            self.faults.hit(fault)
            body = mangle(body, fault.mode, fault.size or 1, fault.hits)
        return Response(body, media_type="application/json")

    def _read(self, client: _Client, batch: int, allow_empty: bool = False) -> bytes | None:
        """One stream response for a client (serialised), or None when empty and not allowed."""
        acc = self.accounts[client.account]
        cursor = client.cursor
        n = cursor.responses
        columns = response_columns(acc, self.seed, client.creds.client_id, n)
        future = FUTURE_COLUMN in columns["u"]
        u, r, i = self.streams[client.account].read(cursor, batch, self.current_tick(), future)
        if not (u or r or i) and not allow_empty:
            return None
        cursor.responses += 1
        alert = acc.alert_column
        u_canon = [*U_BASE, alert, FUTURE_COLUMN] if future else [*U_BASE, alert]
        values = reorder(u, u_canon, columns["u"])
        values += reorder(r, [*R_BASE, alert], columns["r"])
        values += reorder(i, I_COLUMNS, columns["i"])
        payload = {"data": {"values": values, "columnNamesByDeviceType": columns}, "metadata": {"enums": ENUMS}}
        return orjson.dumps(payload)

    # ---- management ---------------------------------------------------------------------------------

    async def _account(self, request: Request, client: _Client) -> Response:
        acc = self.accounts[client.account]
        return envelope(
            {"accountNumber": acc.number, "regionCode": "US", "accountName": acc.name, "activeSuspensions": []}
        )

    def _pools(self, request: Request, client: _Client) -> list[Account]:
        """The account's pools (none or one) after the `dataPoolIds` filter; 403 without the feature."""
        acc = self.accounts[client.account]
        if acc.pool is None:
            raise _BadRequest("Data pools are available for select audiences only.", 403)
        wanted = request.query_params.getlist("dataPoolIds")
        return [acc] if not wanted or acc.pool in wanted else []

    async def _data_pools(self, request: Request, client: _Client) -> Response:
        pools = self._pools(request, client)
        chunk, meta = paginate(pools, _int_query(request, "page", 0, minimum=0), POOLS_PAGE_SIZE)
        now = self._calendar()
        return envelope({**meta, "results": [pool_json(acc, now) for acc in chunk]})

    async def _data_pools_usage(self, request: Request, client: _Client) -> Response:
        pools = self._pools(request, client)
        page = _int_query(request, "page", 0, minimum=0)
        limit = _int_query(request, "limit", POOLS_USAGE_LIMIT_DEFAULT, minimum=1, maximum=POOLS_USAGE_LIMIT_MAX)
        chunk, meta = paginate(pools, page, limit)
        now = self._calendar()
        return envelope({**meta, "results": [pool_usage_json(acc, now) for acc in chunk]})

    async def _balance(self, request: Request, client: _Client) -> Response:
        return envelope(balance_json(self.accounts[client.account]))

    async def _service_lines(self, request: Request, client: _Client) -> Response:
        lines = self._present_lines(client.account)
        chunk, meta = paginate(lines, _int_query(request, "page", 0, minimum=0), PAGE_SIZE)
        now = self._calendar()
        return envelope({**meta, "results": [self._line_json(line, now) for line in chunk]})

    def _line_json(self, line: ServiceLine, now: float) -> dict[str, Any]:
        body = _service_line_json(line)
        blocks = [b.json() for b in self._top_ups(line, now) if b.expires > now]
        body["dataBlocks"]["topUpBlocksOneTimePurchase"] = blocks
        body["dataBlocks"].update(recurring_blocks_json(line, now))
        return body

    def _top_ups(self, line: ServiceLine, now: float) -> list[TopUpBlock]:
        """The line's one-time top-ups: its standing one (products.py) and those bought through the API."""
        return standing_top_ups(line, now) + self.top_ups.get(line.number, [])

    def _find_line(self, request: Request, client: _Client) -> ServiceLine:
        number = request.path_params["sln"]
        for line in self.accounts[client.account].service_lines:
            if line.number == number:
                return line
        raise _BadRequest(f"Service line {number} was not found.", 404)

    async def _service_line(self, request: Request, client: _Client) -> Response:
        return envelope(self._line_json(self._find_line(request, client), self._calendar()))

    async def _products(self, request: Request, client: _Client) -> Response:
        chunk, meta = paginate(catalog(), _int_query(request, "page", 0, minimum=0), PAGE_SIZE)
        return envelope({**meta, "results": list(chunk)})

    async def _top_up(self, request: Request, client: _Client) -> Response:
        """One-time data block: charged at once, not idempotent (each call buys again)."""
        line = self._find_line(request, client)
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _BadRequest("The request body must be a JSON object.", 422)
        product_id, count = body.get("productId"), body.get("count")
        if not isinstance(product_id, str) or not product_id:
            raise _BadRequest("productId is required.", 422, ("productId",))
        if not _is_int(count) or not 1 <= count <= MAX_COUNT:
            raise _BadRequest(f"count must be an integer between 1 and {MAX_COUNT}.", 422, ("count",))
        if not line.active:
            raise _BadRequest(f"Service line {line.number} is not active.")
        product = top_up_product(line.plan)
        if product is None:
            raise _BadRequest("Service line must be on a top up plan.")
        if product_id != product.product_id:
            message = f"Product {product_id} is not available to service line {line.number}."
            raise _BadRequest(message, 400, ("productId",))
        reason = self.top_up_refusals.pop(client.account, None)
        if reason is not None:
            raise _BadRequest(reason, 402)
        self.top_ups.setdefault(line.number, []).append(new_block(product, count, line.cycle_day, self._calendar()))
        return envelope(None)

    def reboot_terminal(self, pos: int, device: str) -> Terminal:
        """Reboot a dish of account `pos` (by id, kit or dish serial): gone from the stream for
        REBOOT_DOWN_S from the next tick, then back with a small uptime. An offline dish cannot be
        reached (422, as the API's "Failed to reboot user terminal")."""
        bare = device.removeprefix("ut")
        term = next((t for t in self._present(pos) if bare in (t.terminal_id, t.kit_serial, t.dish_serial)), None)
        if term is None:
            raise _BadRequest(f"User terminal {device} was not found.", 404)
        offline = self._offline_set(pos)
        stream = self.streams[pos]
        tick = self.current_tick()
        if term.index in offline or (term.index in stream.reboots and tick < stream.reboots[term.index]):
            raise _BadRequest(f"Failed to reboot user terminal {term.terminal_id}: it is not connected.", 422)
        back = tick + 1 + max(1, int(-(-REBOOT_DOWN_S // self.row_interval)))
        stream.set_offline(offline | {term.index}, tick + 1)
        stream.set_offline(offline, back)
        stream.reboots[term.index] = back
        self.reboots.append(("user-terminal", term.terminal_id))
        return term

    def reboot_router(self, pos: int, router_id: str) -> None:
        """Reboot a router of account `pos`: its uptime starts again from the next tick."""
        routers = self.accounts[pos].routers
        here = {t.index for t in self._present(pos)}
        j = next((j for j, (ti, r) in enumerate(routers) if r.router_id == router_id and ti in here), None)
        if j is None:
            raise _BadRequest(f"Router {router_id} was not found.", 404)
        if routers[j][0] in self._offline_set(pos):
            raise _BadRequest(f"Failed to reboot router {router_id}: it is not connected.", 422)
        self.streams[pos].router_reboots[j] = self.current_tick() + 1
        self.reboots.append(("router", router_id))

    async def _reboot_terminal(self, request: Request, client: _Client) -> Response:
        """`POST /user-terminals/{deviceId}/reboot`: a ServiceResponse without content."""
        self.reboot_terminal(client.account, request.path_params["device"])
        return _service_response()

    async def _reboot_router(self, request: Request, client: _Client) -> Response:
        """`POST /routers/{routerId}/reboot`: a ServiceResponse without content."""
        self.reboot_router(client.account, request.path_params["router"])
        return _service_response()

    async def _user_terminals(self, request: Request, client: _Client) -> Response:
        terminals = self._present(client.account)
        chunk, meta = paginate(terminals, _int_query(request, "page", 0, minimum=0), PAGE_SIZE)
        return envelope({**meta, "results": [_terminal_json(t) for t in chunk]})

    async def _data_usage(self, request: Request, client: _Client) -> Response:
        page = _int_query(request, "page", 0, minimum=0)
        limit = _int_query(request, "limit", USAGE_LIMIT_DEFAULT, minimum=1, maximum=USAGE_LIMIT_MAX)
        wanted, previous, active_only, query_start = _usage_params(await _json_body(request))
        acc = self.accounts[client.account]
        lines = [
            line
            for line in self._present_lines(client.account)
            if (not wanted or line.number in wanted) and (line.active or not active_only)
        ]
        chunk, meta = paginate(lines, page, limit)
        now = self._calendar()
        results = []
        for line in chunk:
            usage = line_usage(acc, line, now, previous, query_start)
            plan = usage["servicePlan"]
            if plan.get("usageLimitGB") is not None and (bought := self._top_ups(line, now)):
                plan["usageLimitGB"] += extra_gb(bought, now)  # top-ups raise this cycle's limit
            results.append(usage)
        return envelope({**meta, "results": results})

    async def _not_found(self, request: Request) -> Response:
        return envelope_error(404, f"No API operation matches {request.method} {request.url.path}.")

    # ---- /_sim controls -----------------------------------------------------------------------------

    async def _sim_state(self, request: Request) -> Response:
        return json_response(self.state())

    async def _sim_readers(self, request: Request) -> Response:
        """Per account number: readers of its stream so far, reads, handovers, and overlaps (reads
        by an earlier reader after a later one began: two readers at once; should stay 0)."""
        return json_response({number: readers.summary() for number, readers in sorted(self.readers.items())})

    async def _sim_terminal(self, request: Request) -> Response:
        terminal_id, action = request.path_params["terminal_id"], request.path_params["action"]
        try:
            if action in ("offline", "online"):
                self.set_online(terminal_id, action == "online")
            elif action == "alerts":
                body = await _json_body(request)
                codes = body.get("codes") if isinstance(body, dict) else None
                if not isinstance(codes, list) or not all(type(c) is int for c in codes):
                    return json_response({"error": 'body must be {"codes": [int, ...]}'}, 400)
                self.force_alerts(terminal_id, codes)
            else:
                return json_response({"error": f"unknown action {action!r}"}, 404)
        except KeyError:
            return json_response({"error": f"unknown terminal {terminal_id!r}"}, 404)
        except _BadRequest as exc:
            return json_response({"error": exc.message}, exc.status)
        return json_response({"ok": True, "terminalId": terminal_id.removeprefix("ut"), "action": action})

    async def _sim_rewind(self, request: Request) -> Response:
        body = await _json_body(request)
        ticks = body.get("ticks") if isinstance(body, dict) else None
        if type(ticks) is not int or ticks < 0:
            return json_response({"error": 'body must be {"ticks": int >= 0}'}, 400)
        try:
            moved = self.rewind(request.path_params["account"], ticks)
        except KeyError:
            return json_response({"error": f"unknown account {request.path_params['account']!r}"}, 404)
        return json_response({"ok": True, "clients": moved, "ticks": ticks})

    async def _sim_refuse_top_up(self, request: Request) -> Response:
        body = await _json_body(request)
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason:
            return json_response({"error": 'body must be {"reason": "..."}'}, 400)
        try:
            self.refuse_next_top_up(request.path_params["account"], reason)
        except KeyError:
            return json_response({"error": f"unknown account {request.path_params['account']!r}"}, 404)
        return json_response({"ok": True})

    async def _sim_churn(self, request: Request) -> Response:
        """GET: the inventories now; POST `{"frozen": true|false}` holds or releases them."""
        if request.method == "POST":
            body = await _json_body(request)
            frozen = body.get("frozen") if isinstance(body, dict) else None
            if not isinstance(frozen, bool):
                return json_response({"error": 'body must be {"frozen": true|false}'}, 400)
            if self.churn is None:
                return json_response({"error": "churn is not enabled (simulator --churn)"}, 409)
            self.freeze_churn(frozen)
        return json_response(self.churn_state())

    def rewind(self, account_number: str, ticks: int) -> int:
        """Move every reader of the account `ticks` back, so its next calls return full batches
        (a stream that has fallen behind). Returns how many cursors moved."""
        pos = self._account_pos(account_number)
        start = max(0, self.current_tick() - ticks)
        moved = 0
        for client in self._clients.values():
            if client.account == pos:
                client.cursor.tick, client.cursor.offset = start, 0
                moved += 1
        return moved

    # ---- internals ----------------------------------------------------------------------------------

    def _account_pos(self, account_number: str) -> int:
        for pos, acc in enumerate(self.accounts):
            if acc.number == account_number:
                return pos
        raise KeyError(account_number)

    def _terminal(self, terminal_id: str) -> tuple[int, Terminal]:
        """Look a terminal up by bare id or by the stream's `ut`-prefixed id (KeyError if unknown)."""
        found = self._terminals.get(terminal_id) or self._terminals.get(terminal_id.removeprefix("ut"))
        if found is None:
            raise KeyError(terminal_id)
        return found

    def _offline_set(self, pos: int) -> frozenset[int]:
        offline = set(self.accounts[pos].base_offline)
        for index, online in self._forced_online[pos].items():
            (offline.discard if online else offline.add)(index)
        return frozenset(offline)


def simulate(ctx: SimulatorContext) -> StarlinkSimulator:
    """The Starlink simulator of the simulator app (the provider's `SIMULATOR.factory`)."""
    churn, period = ctx.options["churn"], ctx.options["churn_period"]
    if not 0 <= churn < 1 or period <= 0:
        raise ValueError("--churn must be a fraction in [0, 1) and --churn-period positive")
    return StarlinkSimulator(
        ctx.accounts,
        ctx.terminals,
        ctx.seed,
        row_interval=ctx.options["row_interval"],
        faults=ctx.faults,
        churn=churn,
        churn_period=period,
        clock=ctx.clock,
        calendar=ctx.calendar,
    )


def _service_response() -> Response:
    """The OpenAPI's `ServiceResponse`: errors, warnings, information, isValid (no content)."""
    return json_response({"errors": [], "warnings": [], "information": [], "isValid": True})


def _token_refused() -> Response:
    return envelope_error(
        401,
        "The access token is missing, invalid or expired.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _fault_error(status: int, message: str, headers: Mapping[str, str]) -> Response:
    """A fault's error answer from the API: the ServiceResponse envelope."""
    if status == 401:
        headers = {**headers, "WWW-Authenticate": 'Bearer error="invalid_token"'}
    return envelope_error(status, message, headers=headers)


def _token_error(status: int, message: str, headers: Mapping[str, str]) -> Response:
    """A fault's error answer from the token endpoint: OAuth2's error object."""
    error = "invalid_client" if status == 401 else ("slow_down" if status == 429 else "temporarily_unavailable")
    return json_response({"error": error, "error_description": message}, status, headers)


# ---- request parsing helpers ---------------------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"The request body is not valid JSON: {exc}") from exc


def _int_query(request: Request, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"The value '{raw}' is not valid for {name}.", 400, (name,)) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise _BadRequest(f"The field {name} must be {bound}.", 400, (name,))
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _stream_params(body: Any) -> tuple[int, int]:
    """batchSize and maxLingerMs; the V2 schema has additionalProperties: false."""
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.")
    extra = sorted(set(body) - {"batchSize", "maxLingerMs"})
    if extra:
        raise _BadRequest(f"Unknown properties are not allowed: {', '.join(extra)}.", 400, tuple(extra))
    batch = body.get("batchSize", 1000)
    linger = body.get("maxLingerMs", 15000)
    if not _is_int(batch) or not 1 <= batch <= MAX_BATCH:
        raise _BadRequest(f"batchSize must be an integer between 1 and {MAX_BATCH}.", 400, ("batchSize",))
    if not _is_int(linger) or not 0 <= linger <= MAX_LINGER_MS:
        raise _BadRequest(f"maxLingerMs must be an integer between 0 and {MAX_LINGER_MS}.", 400, ("maxLingerMs",))
    return batch, linger


def _usage_params(body: Any) -> tuple[set[str], int, bool, datetime | None]:
    """QueryDataUsageRequest: serviceLineNumbers, previousBillingCycles, activeServiceLinesOnly, queryStartDate."""
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.", 422)
    numbers = body.get("serviceLineNumbers") or []
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise _BadRequest("serviceLineNumbers must be a list of strings.", 422, ("serviceLineNumbers",))
    previous = body.get("previousBillingCycles", 1)
    if previous is None:
        previous = 1
    if not _is_int(previous) or not 0 <= previous <= MAX_PREVIOUS_CYCLES:
        raise _BadRequest(
            f"previousBillingCycles must be between 0 and {MAX_PREVIOUS_CYCLES}.", 422, ("previousBillingCycles",)
        )
    active_only = body.get("activeServiceLinesOnly", True)
    if active_only is None:
        active_only = True
    if not isinstance(active_only, bool):
        raise _BadRequest("activeServiceLinesOnly must be a boolean.", 422, ("activeServiceLinesOnly",))
    start = body.get("queryStartDate")
    query_start = None
    if start is not None:
        try:
            query_start = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError:
            raise _BadRequest("queryStartDate must be an ISO 8601 date-time.", 422, ("queryStartDate",)) from None
        if query_start.tzinfo is None:
            raise _BadRequest("queryStartDate must carry a time zone.", 422, ("queryStartDate",))
    return set(numbers), previous, active_only, query_start


# ---- JSON shapes ------------------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else iso(dt)


def _service_line_json(line: ServiceLine) -> dict[str, Any]:
    """A `ServiceLineResponse`."""
    return {
        "addressReferenceId": line.address_reference_id,
        "serviceLineNumber": line.number,
        "nickname": line.nickname,
        "productReferenceId": line.plan.product_id,
        "delayedProductId": None,
        "optInProductId": line.opt_in_product_id,
        "startDate": _iso(line.start),
        "endDate": _iso(line.end),
        "publicIp": line.public_ip,
        "active": line.active,
        "aviationMetadata": None,
        "dataBlocks": {
            "recurringBlocksCurrentBillingCycle": [],
            "recurringBlocksNextBillingCycle": [],
            "delayedProductRecurringBlocksNextCycle": [],
            "topUpBlocksOptInPurchase": [],
            "topUpBlocksOneTimePurchase": [],
        },
    }


def _terminal_json(t: Terminal) -> dict[str, Any]:
    """A `UserTerminalResponseV2` with its embedded routers."""
    routers = []
    if t.router is not None:
        r = t.router
        routers.append(
            {
                "routerId": r.router_id,
                "nickname": r.nickname,
                "userTerminalId": r.terminal_id,
                "configId": r.config_id,
                "hardwareVersion": None,
                "lastBonded": None,
            }
        )
    return {
        "userTerminalId": t.terminal_id,
        "nickname": t.nickname,
        "kitSerialNumber": t.kit_serial,
        "dishSerialNumber": t.dish_serial,
        "serviceLineNumber": t.service_line,
        "l2VpnCircuits": [],
        "routers": routers,
    }
