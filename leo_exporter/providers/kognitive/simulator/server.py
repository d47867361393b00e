"""A fake of the Kognitive OrbitPlans Starlink API (`ext/v1/starlink/...`), over HTTP.

It serves the shapes of the API page's samples (seed 001) and, where those are silent, the
shapes the exporter assumes (`leo_exporter.providers.kognitive.fields` names every field for both):

- every answer is the envelope `{success, message, data}`; a missing or unknown auth key is a
  401 with `success: false`; a malformed request a 400; a request the rules refuse (pausing a
  paused line) a 200 with `success: false` (ASSUMED: the page documents no error answers);
- getServiceLineDetails, getBillingUsage and getAddress page with `page`/`limit`,
  getTerminalStatus with `page_number`/`page_limit`, from page 1; `limit` is capped at
  MAX_LIMIT (ASSUMED: the page gives only the default, 25); only getTerminalStatus and
  getAddress say `total`/`totalPages`, and getTerminalStatus sends `total` as a string;
- terminal status and addresses page over terminals (addresses), grouped by account per page;
- the write calls change what later reads return: `pause` (at once with endNow, else at the
  end of the billing cycle), `resume`, `newServiceLine` (provisioned after `provision_seconds`,
  followed with `service_line_tracking`).

Test controls live under `/_sim/`: state, fault injection and forced online flags. Faults come
in two kinds: the shared transport-level modes of `faults.py` (429, 5xx, slow, reset, truncated,
malformed, wrong shape, revoked; per partner name, auth key or index), applied first, and this
API's own content faults below (`FAULT_KINDS`, per endpoint). `/_sim/faults` takes both: a body
with `mode` is a shared fault, one with `kind` a Kognitive one. Time comes from an injectable
clock so tests move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from leo_exporter.providers.kognitive import ASSUMED_FIELDS
from leo_exporter.providers.kognitive import fields as F
from leo_exporter.providers.kognitive.simulator.fleet import (
    Line,
    Partner,
    StarlinkAccount,
    Terminal,
    build_partners,
    line_usage,
)
from leo_exporter.providers.kognitive.simulator.writes import check_body
from leo_exporter.simulator.calendar import cycle_bounds
from leo_exporter.simulator.faults import FaultBook
from leo_exporter.simulator.plugin import SimulatorContext

API = "/ext/v1/starlink"  # under the simulator's mount point, as on the real host
DEFAULT_LIMIT = 25  # the documented default page size
MAX_LIMIT = 100  # ASSUMED: larger asks get this many
PROVISION_SECONDS = 90.0  # "the creation of a service line may require 1-2 minutes"
FAULT_KINDS = (
    "http_500",  # 500 with a success:false envelope
    "http_429",  # 429 with Retry-After: 1
    "success_false",  # 200 with success:false and a message
    "no_data",  # 200 with success:true and no data
    "bad_json",  # 200 with a body that is not JSON
    "bad_number",  # getBillingUsage: the first line's priority total is "n/a"
    "unknown_status",  # getServiceLineDetails: the first line's status is "frozen"
    "page_repeat",  # pages after the first start one item early (an item shows twice)
    "page_drop",  # pages after the first start one item late (an item is never shown)
)
ENDPOINTS = (
    F.GET_PRODUCTS,
    F.GET_BILLING_USAGE,
    F.GET_SERVICE_LINES,
    F.GET_TERMINAL_STATUS,
    F.GET_ADDRESS,
    F.POST_PAUSE,
    F.POST_RESUME,
    F.POST_NEW_SERVICE_LINE,
    F.POST_TRACKING,
)


def envelope(data: Any = None, message: str = "", status: int = 200, **extra: Any) -> Response:
    body: dict[str, Any] = {F.SUCCESS: True, F.MESSAGE: message}
    if data is not None:
        body[F.DATA] = data
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def failure(message: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({F.SUCCESS: False, F.MESSAGE: message})
    return Response(body, status_code=status, headers=headers, media_type="application/json")


class _Refused(Exception):
    def __init__(self, message: str, status: int = 200):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(slots=True)
class Fault:
    endpoint: str  # an endpoint name or "*"
    kind: str
    times: int | None  # None: until cleared
    partner: int | None = None  # 1-based partner index, None: every key


@dataclass(slots=True)
class Tracking:
    tracking_id: str
    partner: int
    account: str
    name: str
    product: str
    address: str
    terminals: list[str]
    created: float
    line: str | None = None


Handler = Callable[[Request, Partner], Awaitable[Response]]


class KognitiveSimulator:
    """Simulated partners (auth keys) with deterministic fleets; mount `routes()` at `/kognitive`."""

    def __init__(
        self,
        partners: int = 2,
        terminals: int = 40,
        seed: int = 1,
        *,
        clock: Callable[[], float] = time.time,
        auth_headers: tuple[str, ...] = ("x-auth-key", "auth-key"),
        provision_seconds: float = PROVISION_SECONDS,
        faults: FaultBook | None = None,
        assumed_fields: Collection[str] = (),
    ) -> None:
        unknown = set(assumed_fields) - set(ASSUMED_FIELDS)
        if unknown:
            raise ValueError(f"unknown assumed Kognitive field(s) {sorted(unknown)}; known: {sorted(ASSUMED_FIELDS)}")
        self.assumed_fields = frozenset(assumed_fields)
        self.seed = seed
        self._clock = clock
        self.auth_headers = tuple(h.lower() for h in auth_headers)
        self.provision_seconds = provision_seconds
        self.partners: list[Partner] = build_partners(seed, partners, terminals, clock())
        self._by_key = {p.auth_key: p for p in self.partners}
        self.faults: list[Fault] = []  # this API's own content faults
        self.shared_faults = faults if faults is not None else FaultBook()  # transport-level modes
        self.trackings: dict[str, Tracking] = {}
        self.requests: dict[str, int] = {}

    # ---- inspection (tests, the CLI and the demo config use these) ----------------------------------

    def credentials(self) -> list[tuple[str, str]]:
        """(partner name, auth key) of each simulated partner."""
        return [(p.name, p.auth_key) for p in self.partners]

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        """One exporter account per simulated partner key, paging in small pages to show paging."""
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
                "api_url": base_url.rstrip("/") + API,
                "page_limit": 10,
                "jobs": {name: dict(job) for name, job in jobs.items()},
            }
            for n, (_, key) in enumerate(self.credentials(), start=1)
        ]

    def describe(self, prefix: str) -> list[str]:
        """Its block of the simulator's index page."""
        lines = [
            f"Kognitive OrbitPlans: {prefix}{API} (auth key in X-Auth-Key or auth-key)",
            f"  {len(self.partners)} partners, {len(self.accounts())} Starlink accounts, "
            f"{sum(len(a.terminals) for a in self.accounts())} terminals, seed {self.seed}",
            f"  controls: GET {prefix}/_sim/state, POST|DELETE {prefix}/_sim/faults, "
            f"POST {prefix}/_sim/terminals/{{id}}/offline|online|reset",
        ]
        return lines + [f"  auth key {key} -> {name}" for name, key in self.credentials()]

    def partner(self, index: int) -> Partner:
        return self.partners[index - 1]

    def accounts(self, partner: int | None = None) -> list[StarlinkAccount]:
        chosen = self.partners if partner is None else [self.partner(partner)]
        return [a for p in chosen for a in p.accounts]

    def line(self, number: str) -> Line:
        for account in self.accounts():
            for line in account.lines:
                if line.number == number:
                    return line
        raise KeyError(number)

    def terminal(self, terminal_id: str) -> Terminal:
        for account in self.accounts():
            for terminal in account.terminals:
                if terminal.terminal_id == terminal_id:
                    return terminal
        raise KeyError(terminal_id)

    def status_of(self, line: Line) -> str:
        return "paused" if line.paused else "resumed"

    def online(self, terminal: Terminal) -> bool:
        if terminal.forced_online is not None:
            return terminal.forced_online
        if terminal.service_line is None or terminal.base_offline:
            return False
        try:
            return not self.line(terminal.service_line).paused
        except KeyError:
            return False

    def state(self) -> dict[str, Any]:
        self._settle()
        return {
            "partners": [
                {
                    "name": p.name,
                    "accounts": [
                        {
                            "accountNumber": a.number,
                            "terminals": len(a.terminals),
                            "serviceLines": len(a.lines),
                            "paused": sorted(line.number for line in a.lines if line.paused),
                            "offline": sorted(t.terminal_id for t in a.terminals if not self.online(t)),
                            "unconfigured": sorted(t.terminal_id for t in a.terminals if t.service_line is None),
                        }
                        for a in p.accounts
                    ],
                }
                for p in self.partners
            ],
            "faults": [_slots(f) for f in self.faults],
            "sharedFaults": self.shared_faults.snapshot("kognitive")["faults"],
            "trackings": {t.tracking_id: t.line for t in self.trackings.values()},
            "requests": dict(self.requests),
        }

    # ---- controls -----------------------------------------------------------------------------------

    def inject(self, endpoint: str, kind: str, times: int | None = 1, partner: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        self.faults.append(Fault(endpoint, kind, times, partner))

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_online(self, terminal_id: str, online: bool | None) -> None:
        self.terminal(terminal_id).forced_online = online

    def _fault(self, endpoint: str, partner: Partner, kinds: tuple[str, ...]) -> str | None:
        """Take one matching fault (counting it down), or None."""
        for fault in self.faults:
            if fault.kind in kinds and fault.endpoint in ("*", endpoint) and fault.partner in (None, partner.index):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault.kind
        return None

    # ---- routes -------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Routes relative to the mount point (`/kognitive`); the API lives under /ext/v1/starlink."""
        base = API + "/"
        reads = {
            F.GET_PRODUCTS: self._products,
            F.GET_BILLING_USAGE: self._billing_usage,
            F.GET_SERVICE_LINES: self._service_lines,
            F.GET_TERMINAL_STATUS: self._terminal_status,
            F.GET_ADDRESS: self._addresses,
        }
        writes = {
            F.POST_PAUSE: self._pause,
            F.POST_RESUME: self._resume,
            F.POST_NEW_SERVICE_LINE: self._new_service_line,
            F.POST_TRACKING: self._tracking,
        }
        routes: list[BaseRoute] = [Route(base + n, self._api(n, h), methods=["GET"]) for n, h in reads.items()]
        routes += [Route(base + n, self._api(n, h), methods=["POST"]) for n, h in writes.items()]
        routes += [
            Route(base + "{rest:path}", self._not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/_sim/state", self._sim_state, methods=["GET"]),
            Route("/_sim/faults", self._sim_faults, methods=["GET", "POST", "DELETE"]),
            *[r for r in self.shared_faults.routes("kognitive") if getattr(r, "path", "") != "/_sim/faults"],
            Route("/_sim/terminals/{terminal_id}/{action:str}", self._sim_terminal, methods=["POST"]),
        ]
        return routes

    def _api(self, endpoint: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
            partner = self._authenticate(request)
            if partner is None:
                return failure("Unauthorized: missing or invalid auth key", 401)
            keys = (partner.name, partner.auth_key, str(partner.index))

            async def served() -> Response:
                return await self._serve(endpoint, handler, request, partner)

            return await self.shared_faults.serve("kognitive", keys, partner.name, endpoint, request, served, _error)

        return run

    async def _serve(self, endpoint: str, handler: Handler, request: Request, partner: Partner) -> Response:
        """One API call with this API's own content faults applied."""
        self._settle()
        kind = self._fault(endpoint, partner, ("http_500", "http_429", "success_false", "no_data", "bad_json"))
        if kind == "http_500":
            return failure("Internal server error", 500)
        if kind == "http_429":
            return failure("Too many requests", 429, {"Retry-After": "1"})
        if kind == "success_false":
            return failure("Simulated failure: the Starlink API did not answer in time")
        if kind == "no_data":
            return Response(orjson.dumps({F.SUCCESS: True, F.MESSAGE: ""}), media_type="application/json")
        if kind == "bad_json":
            return Response(b'{"success": true, "data": [', media_type="application/json")
        try:
            return await handler(request, partner)
        except _Refused as exc:
            return failure(exc.message, exc.status)

    def _authenticate(self, request: Request) -> Partner | None:
        for header in self.auth_headers:
            value = request.headers.get(header)
            if value:
                return self._by_key.get(value.strip())
        return None

    async def _not_found(self, request: Request) -> Response:
        return failure(f"Cannot {request.method} {request.url.path}", 404)

    # ---- time-driven changes ------------------------------------------------------------------------

    def _settle(self) -> None:
        """Apply what time has brought: scheduled pauses, finished service line creations."""
        now = self._clock()
        for account in self.accounts():
            for line in account.lines:
                if line.pause_at is not None and now >= line.pause_at:
                    line.pauses.append([line.pause_at, None])
                    line.pause_at = None
        for tracking in self.trackings.values():
            if tracking.line is None and now - tracking.created >= self.provision_seconds:
                self._provision(tracking)

    def _provision(self, tracking: Tracking) -> None:
        account = self._account(self.partner(tracking.partner), tracking.account)
        number = "AST-" + _digits(tracking.tracking_id)
        line = Line(
            number=number,
            nickname=tracking.name,
            account=account.number,
            product=tracking.product,
            address=tracking.address or None,
            terminals=list(tracking.terminals),
            usage_level=0.3,
            created=tracking.created + self.provision_seconds,
            show_address=bool(tracking.address),
        )
        account.lines.append(line)
        for terminal in account.terminals:
            if terminal.terminal_id in tracking.terminals:
                terminal.service_line = number
        tracking.line = number

    # ---- reads --------------------------------------------------------------------------------------

    async def _products(self, request: Request, partner: Partner) -> Response:
        data = [
            {
                F.PR_ACCOUNT: a.number,
                F.PR_ACCOUNT_NAME: a.name,
                F.PR_REGION: a.region_code,
                F.PR_POOLED: a.pooled,
                F.PR_PRODUCTS: [
                    {
                        F.PR_ID: p.reference_id,
                        F.PR_NAME: p.name,
                        F.PR_ALIAS: p.alias,
                        F.PR_PRICE: p.price,
                        F.PR_CURRENCY: p.currency,
                        F.PR_LIMIT_GB: p.limit_gb,
                        F.PR_ACTIVE: p.active,
                        F.PR_BLOCKS: [
                            {
                                F.PR_ACCOUNT: a.number,
                                F.DB_ID: b.product_id,
                                F.DB_PARENT: b.parent,
                                F.DB_AMOUNT: b.amount,
                                F.DB_UNIT: b.unit,
                                F.PR_PRICE: b.price,
                                F.PR_CURRENCY: b.currency,
                                F.PR_ACTIVE: True,
                            }
                            for b in p.blocks
                        ],
                    }
                    for p in a.products
                ],
            }
            for a in partner.accounts
        ]
        return envelope(data)

    async def _service_lines(self, request: Request, partner: Partner) -> Response:
        page, limit = _paging(request, F.PAGE_LIMIT)
        lines = _search(request, [(a, line) for a in partner.accounts for line in a.lines], _line_words)
        unknown = self._fault(F.GET_SERVICE_LINES, partner, ("unknown_status",))
        chunk = self._page(F.GET_SERVICE_LINES, partner, lines, page, limit)
        out = []
        for account, line in chunk:
            item = {
                F.SL_NUMBER: line.number,
                F.SL_NICKNAME: line.nickname,
                F.SL_ACCOUNT: account.number,
                F.SL_ACCOUNT_NAME: account.name,
                F.SL_STATUS: self.status_of(line),
                F.SL_TERMINALS: [
                    {F.SL_TERMINAL_KIT: self.terminal(tid).kit_serial, F.SL_TERMINAL_ID: tid} for tid in line.terminals
                ],
            }
            if "service_line_product" in self.assumed_fields:
                item[F.SL_PRODUCT[0]] = line.product  # ASSUMED field, served only on request
            if "service_line_address" in self.assumed_fields and line.show_address and line.address:
                item[F.SL_ADDRESS[0]] = line.address  # ASSUMED field, served only on request
            out.append(item)
        if unknown and out:
            out[0][F.SL_STATUS] = "frozen"
        return envelope(out)

    async def _terminal_status(self, request: Request, partner: Partner) -> Response:
        page, limit = _paging(request, F.PAGE_NUMBER)
        wanted = request.query_params.get(F.TERMINAL_ACCOUNT_FILTER) or None
        terminals = [(a, t) for a in partner.accounts if wanted in (None, a.number) for t in a.terminals]
        terminals = _search(request, terminals, lambda at: (at[1].terminal_id, at[1].kit_serial))
        chunk = self._page(F.GET_TERMINAL_STATUS, partner, terminals, page, limit)
        groups: dict[str, dict[str, Any]] = {}
        for account, t in chunk:
            group = groups.setdefault(
                account.number, {F.TS_ACCOUNT: account.number, F.TS_ACCOUNT_NAME: account.name, F.TS_TERMINALS: []}
            )
            group[F.TS_TERMINALS].append(
                {
                    F.TS_KIT: t.kit_serial,
                    F.TS_ID: t.terminal_id,
                    F.TS_SERVICE_LINE: t.service_line or F.NOT_CONFIGURED,
                    F.TS_STATUS: t.status,
                    F.TS_ONLINE: self.online(t),
                }
            )
        pages = -(-len(terminals) // limit)
        return envelope(list(groups.values()), page=page, limit=limit, total=str(len(terminals)), totalPages=pages)

    async def _billing_usage(self, request: Request, partner: Partner) -> Response:
        page, limit = _paging(request, F.PAGE_LIMIT)
        lines = _search(request, [(a, line) for a in partner.accounts for line in a.lines], _line_words)
        broken = self._fault(F.GET_BILLING_USAGE, partner, ("bad_number",))
        chunk = self._page(F.GET_BILLING_USAGE, partner, lines, page, limit)
        now = self._clock()
        results = []
        for account, line in chunk:
            plan = next((p for p in account.products if p.reference_id == line.product), None)
            results.append(line_usage(self.seed, line, plan.limit_gb if plan else None, now))
        if broken and results:
            results[0]["billingCycles"][-1]["totalPriorityGB"] = "n/a"  # type: ignore[index]
        return envelope({F.RESULTS: results})

    async def _addresses(self, request: Request, partner: Partner) -> Response:
        page, limit = _paging(request, F.PAGE_LIMIT)
        wanted = request.query_params.get(F.ADDRESS_ACCOUNT_FILTER) or None
        addresses = [(a, ad) for a in partner.accounts if wanted in (None, a.number) for ad in a.addresses]
        chunk = self._page(F.GET_ADDRESS, partner, addresses, page, limit)
        groups: dict[str, dict[str, Any]] = {}
        for account, ad in chunk:
            group = groups.setdefault(
                account.number, {F.AD_ACCOUNT: account.number, F.AD_ACCOUNT_NAME: account.name, F.AD_ADDRESSES: []}
            )
            group[F.AD_ADDRESSES].append(
                {
                    F.AD_ID: ad.reference_id,
                    "address_lines": ad.lines,
                    "locality": ad.locality,
                    "administrative_area": ad.area,
                    "administrative_area_code": ad.area_code,
                    "region": ad.region,
                    "region_code": ad.region_code,
                    "postal_code": ad.postal_code,
                    F.AD_FORMATTED: ad.formatted,
                    F.AD_LATITUDE: ad.latitude,
                    F.AD_LONGITUDE: ad.longitude,
                }
            )
        pages = -(-len(addresses) // limit)
        return envelope(list(groups.values()), page=page, limit=limit, total=len(addresses), totalPages=pages)

    def _page(self, endpoint: str, partner: Partner, items: list[Any], page: int, limit: int) -> list[Any]:
        start = (page - 1) * limit
        if page > 1:
            skew = self._fault(endpoint, partner, ("page_repeat", "page_drop"))
            start += {"page_repeat": -1, "page_drop": 1}.get(skew or "", 0)
        return items[max(start, 0) : start + limit]

    # ---- writes -------------------------------------------------------------------------------------

    async def _pause(self, request: Request, partner: Partner) -> Response:
        body = await _write_body(request, F.POST_PAUSE)
        account = self._account(partner, body[F.W_ACCOUNT].strip())
        line = self._line(account, body[F.W_SERVICE_LINE].strip())
        end_now = body[F.W_END_NOW]
        if line.paused:
            raise _Refused(f"Service line {line.number} is already paused")
        now = self._clock()
        if end_now:
            line.pause_at = None
            line.pauses.append([now, None])
            return envelope(message=f"Service line {line.number} paused")
        if line.pause_at is not None:
            raise _Refused(f"A pause of service line {line.number} is already scheduled")
        line.pause_at = cycle_bounds(line.anchor, datetime.fromtimestamp(now, UTC))[1].timestamp()
        return envelope(message=f"Service line {line.number} will be paused at the end of the billing cycle")

    async def _resume(self, request: Request, partner: Partner) -> Response:
        body = await _write_body(request, F.POST_RESUME)
        account = self._account(partner, body[F.W_ACCOUNT].strip())
        line = self._line(account, body[F.W_SERVICE_LINE].strip())
        product = self._plan(account, body)
        for item in body.get(F.W_DATA_BLOCKS, []):
            if (item[F.W_ACCOUNT], item[F.W_SERVICE_LINE]) != (account.number, line.number):
                raise _Refused(f"{F.W_DATA_BLOCKS} names a service line other than {line.number}")
        if line.pause_at is not None and not line.paused:
            line.pause_at = None
            return envelope(message=f"The scheduled pause of service line {line.number} was cancelled")
        if not line.paused:
            raise _Refused(f"Service line {line.number} is not paused")
        line.pauses[-1][1] = self._clock()
        line.product = product
        return envelope(message=f"Service line {line.number} resumed")

    async def _new_service_line(self, request: Request, partner: Partner) -> Response:
        body = await _write_body(request, F.POST_NEW_SERVICE_LINE)
        if not body.get(F.W_ACCOUNT, "").strip():  # not mandatory on the page, but we need to know where
            raise _Refused(f"No {F.W_ACCOUNT} given: which account should the service line be created in?")
        account = self._account(partner, body[F.W_ACCOUNT].strip())
        name = body.get(F.W_NAME, "")
        product = self._plan(account, body)
        address = body.get(F.W_ADDRESS) or ""
        if address and address not in {a.reference_id for a in account.addresses}:
            raise _Refused(f"Address {address} does not belong to account {account.number}")
        # ASSUMED reading of a String of "Id numbers of the user terminals": comma-separated ids
        ids = [i.strip() for i in body.get(F.W_TERMINALS, "").split(",") if i.strip()]
        free = {t.terminal_id for t in account.terminals if t.service_line is None}
        for tid in ids:
            if tid not in {t.terminal_id for t in account.terminals}:
                raise _Refused(f"User terminal {tid} does not belong to account {account.number}")
            if tid not in free or any(tid in t.terminals for t in self.trackings.values() if t.line is None):
                raise _Refused(f"User terminal {tid} already has a service line")
        now = self._clock()
        digest = hashlib.blake2b(f"{self.seed}:{len(self.trackings)}:{now}".encode(), digest_size=6).hexdigest()
        tracking_id = f"trk-{digest[:4]}-{digest[4:8]}"
        self.trackings[tracking_id] = Tracking(
            tracking_id, partner.index, account.number, name.strip(), product, address, list(ids), now
        )
        return envelope({F.W_TRACKING_ID: tracking_id}, message="Service line creation started")

    async def _tracking(self, request: Request, partner: Partner) -> Response:
        body = await _write_body(request, F.POST_TRACKING)
        tracking_id = body[F.W_TRACKING_ID].strip()
        tracking = self.trackings.get(tracking_id)
        if tracking is None or tracking.partner != partner.index:
            raise _Refused(f"Tracking ID {tracking_id} not found")
        elapsed = self._clock() - tracking.created
        if tracking.line is not None:
            status, progress, updated = "completed", 100, tracking.created + self.provision_seconds
            message = f"Service line {tracking.line} created"
        elif elapsed < min(5.0, self.provision_seconds / 2):
            status, progress, updated, message = "pending", 0, tracking.created, "Request queued"
        else:
            status, progress = "in_progress", min(99, int(100 * elapsed / self.provision_seconds))
            updated, message = self._clock(), "Creating the service line at Starlink"
        stamp = datetime.fromtimestamp(updated, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-2]
        body_out = {
            F.SUCCESS: True,
            F.MESSAGE: message,
            F.TR_STATUS: status,
            F.TR_UPDATED: stamp,
            F.TR_PROGRESS: progress,
        }
        return Response(orjson.dumps(body_out), media_type="application/json")

    # ---- lookups ------------------------------------------------------------------------------------

    def _account(self, partner: Partner, number: str) -> StarlinkAccount:
        for account in partner.accounts:
            if account.number == number:
                return account
        raise _Refused(f"Account {number} not found")

    def _line(self, account: StarlinkAccount, number: str) -> Line:
        for line in account.lines:
            if line.number == number:
                return line
        raise _Refused(f"Service line {number} not found in account {account.number}")

    def _plan(self, account: StarlinkAccount, body: dict[str, Any]) -> str:
        """The product a resume or creation applies (the custom plan id is taken as it is: the
        sample of getAvailableProducts shows no custom plans to check it against)."""
        product = body.get(F.W_PRODUCT, "")
        if product and product not in {p.reference_id for p in account.products if p.active}:
            raise _Refused(f"Product {product} is not available to account {account.number}")
        return str(product)

    # ---- /_sim controls -----------------------------------------------------------------------------

    async def _sim_state(self, request: Request) -> Response:
        return Response(orjson.dumps(self.state()), media_type="application/json")

    async def _sim_faults(self, request: Request) -> Response:
        """GET lists both kinds; DELETE clears both; POST sets a shared fault (`mode`) or one of this
        API's own (`kind`)."""
        if request.method == "GET":
            snapshot = self.shared_faults.snapshot("kognitive")
            snapshot["kognitiveFaults"] = [_slots(f) for f in self.faults]
            return Response(orjson.dumps(snapshot), media_type="application/json")
        if request.method == "DELETE":
            self.clear_faults()
            self.shared_faults.clear("kognitive")
            return Response(orjson.dumps({"ok": True}), media_type="application/json")
        raw = await request.body()
        try:
            shared = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            shared = None
        if isinstance(shared, list) or (isinstance(shared, dict) and "mode" in shared):
            return await self.shared_faults.handle(request, "kognitive", shared)
        try:
            body = await _body(request)
            times = body.get("times", 1)
            if times is not None and (type(times) is not int or times < 1):
                raise ValueError("times must be a positive integer or null (until cleared)")
            partner = body.get("partner")
            if partner is not None and (type(partner) is not int or not 1 <= partner <= len(self.partners)):
                raise ValueError("partner must be a partner index (1-based)")
            self.inject(str(body.get("endpoint", "*")), str(body.get("kind", "")), times, partner)
        except (ValueError, _Refused) as exc:
            message = exc.message if isinstance(exc, _Refused) else str(exc)
            return Response(orjson.dumps({"error": message}), status_code=400, media_type="application/json")
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    async def _sim_terminal(self, request: Request) -> Response:
        terminal_id, action = request.path_params["terminal_id"], request.path_params["action"]
        flags = {"online": True, "offline": False, "reset": None}
        if action not in flags:
            return Response(orjson.dumps({"error": f"unknown action {action!r}"}), status_code=404)
        try:
            self.set_online(terminal_id, flags[action])
        except KeyError:
            return Response(orjson.dumps({"error": f"unknown terminal {terminal_id!r}"}), status_code=404)
        return Response(orjson.dumps({"ok": True}), media_type="application/json")


def simulate(ctx: SimulatorContext) -> KognitiveSimulator:
    """The Kognitive simulator of the simulator app (the provider's `SIMULATOR.factory`). Kognitive
    reports no timestamps the exporter judges freshness by: all of it runs on the calendar."""
    return KognitiveSimulator(
        ctx.accounts, ctx.terminals, ctx.seed, faults=ctx.faults, clock=ctx.calendar, assumed_fields=ctx.assume
    )


# ---- helpers ----------------------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str]) -> Response:
    """A shared fault's error answer: the `{success: false, message}` envelope."""
    return failure(message, status, dict(headers))


def _slots(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _digits(text: str) -> str:
    number = int(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), 16)
    return f"{1000000 + number % 9000000}-{10000 + (number >> 24) % 90000}-{10 + (number >> 44) % 90}"


def _line_words(pair: tuple[StarlinkAccount, Line]) -> tuple[str, ...]:
    account, line = pair
    return (line.number, line.nickname, account.number)


def _search(request: Request, items: list[Any], words: Callable[[Any], tuple[str, ...]]) -> list[Any]:
    term = request.query_params.get("search", "").strip().lower()
    if not term:
        return items
    return [item for item in items if any(term in w.lower() for w in words(item))]


def _paging(request: Request, style: F.PageStyle) -> tuple[int, int]:
    values = []
    for name, default in ((style.page, 1), (style.limit, DEFAULT_LIMIT)):
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise _Refused(f"{name} must be an integer", 400) from None
        if value < 1:
            raise _Refused(f"{name} must be 1 or more", 400)
        values.append(value)
    return values[0], min(values[1], MAX_LIMIT)


async def _body(request: Request, allow_empty: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip() and allow_empty:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Refused("The request body must be JSON", 400) from None
    if not isinstance(body, dict):
        raise _Refused("The request body must be a JSON object", 400)
    return body


async def _write_body(request: Request, endpoint: str) -> dict[str, Any]:
    """The JSON body of a write call, refused (400) unless it follows the API page's rules."""
    body = await _body(request)
    problems = check_body(endpoint, body)
    if problems:
        raise _Refused(f"Invalid request body: {'; '.join(problems)}", 400)
    return body
