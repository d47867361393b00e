"""Fault injection shared by the simulated provider APIs: one mechanism, per account, at run time.

Each simulator calls `FaultBook.serve` from its API wrapper with the keys that name the account
the request belongs to (Starlink: account number, client id, 1-based index; Kognitive: partner
name, auth key, index; OneWeb: distribution partner id, client id, index). A fault matching one
of those keys (or `*`) changes the answer:

- `rate_limit`: 429 with `Retry-After: <retry_after>` (default 5 s);
- `rate_limit_bare`: 429 without `Retry-After`;
- `server_error`: a 5xx (`status`, default 503) with the provider's error body;
- `slow`: the answer only after `delay` seconds (default 60), beyond the client's timeout (a
  client that hangs up meanwhile gets nothing, and the call is not run);
- `reset`: the status line and half the body, then the connection is closed;
- `truncated`: the real JSON body cut in the middle (a complete HTTP answer);
- `malformed`: 200 with an HTML error page instead of JSON;
- `wrong_shape`: valid JSON of the wrong structure (`shape`: `top` swaps the top level, an
  object becomes a one-item array and an array `{"count": n}`; `deep` replaces every array
  inside by `{"count": n}`);
- `revoked`: the credentials are refused everywhere: 401 (Starlink: the token endpoint too);
- hostile answers (issue #25): `gzip_bomb`, 200 with a gzip body of `size` MiB (default 1024) of
  zeros, about a thousandth of that on the wire; `huge_error`, HTTP 500 with a `size` MiB text
  body (default 200), streamed. Starlink's simulator adds, on its telemetry stream only,
  `name_flood` (`size` new `metadata.enums` keys and as many new column names in every answer,
  default 2000), `future_rows` (one row per answer stamped ten years ahead) and `bad_alerts` (one
  row's `ActiveAlerts` is `[[1]]`), as modes of its own.

Every provider's simulator has these modes, which the book serves itself. A provider's simulator
may have modes of its own, which it acts on itself: its `SimulatorSpec.fault_modes` teaches them to
the book (Starlink: `expired_token`, tokens dying early; `behind`, its stream falling behind), which
then takes them for that provider, with their parameters, and refuses them for the others with a
400 (and the reason their `missing_faults` give, where they give one).

A fault lasts `count` answers, or `seconds`, or until it is cleared. It applies to every endpoint
of the account, or only to those whose name contains `endpoint`; only `revoked` (and a fault
whose `endpoint` names `token`) touches the Starlink token endpoint.

Every request is counted per account (`GET /_sim/faults`, `GET /_sim/requests`), so a test can
check the client's request rate against its budget from the server's side.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from leo_exporter.providers import simulated
from leo_exporter.providers.spec import SimulatorSpec
from leo_exporter.simulator.hostile import HOSTILE, STREAM_HOSTILE, hostile_answer

MODES: dict[str, str] = {
    "rate_limit": "429 with Retry-After (retry_after, default 5 s)",
    "rate_limit_bare": "429 without Retry-After",
    "server_error": "a 5xx answer (status, default 503)",
    "slow": "the answer after `delay` seconds (default 60), beyond the client's timeout",
    "reset": "the connection dropped half-way through the body",
    "truncated": "the JSON body cut in the middle",
    "malformed": "200 with a body that is not JSON",
    "wrong_shape": "valid JSON of the wrong structure (shape: top | deep)",
    "revoked": "credentials refused everywhere with 401",
    **{mode: about for mode, (about, _) in HOSTILE.items() if mode not in STREAM_HOSTILE},
}
SERVED = tuple(MODES)  # every provider's simulator has these; the others are its SimulatorSpec.fault_modes
DEFAULTS: dict[str, Any] = {
    "retry_after": 5.0,
    "status": 503,
    "delay": 60.0,
    "shape": "top",
    "size": None,  # each hostile mode's own default (HOSTILE)
}
PARAMS = set(DEFAULTS)
MAX_LOG = 50_000  # requests remembered per account (for rates); totals are kept for ever
MALFORMED_BODY = b"<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>\n"

ErrorResponse = Callable[[int, str, Mapping[str, str]], Response]
Activate = Callable[["Fault"], dict[str, Any]]


class FaultError(ValueError):
    """A fault that cannot be set (unknown mode, a mode the provider does not have, bad value)."""


@dataclass(slots=True)
class Fault:
    id: int
    provider: str
    account: str  # one of the account's keys, or "*"
    mode: str
    count: int | None = None  # answers left; None: not bounded by count
    until: float | None = None  # wall-clock end; None: not bounded by time
    endpoint: str | None = None  # only endpoints whose name contains this
    retry_after: float = DEFAULTS["retry_after"]
    status: int = DEFAULTS["status"]
    delay: float = DEFAULTS["delay"]
    shape: str = DEFAULTS["shape"]
    options: dict[str, Any] = field(default_factory=dict)  # the parameters of a provider's own mode
    size: int | None = None  # hostile modes: MiB, or names per answer
    created: float = 0.0
    hits: int = 0

    def spent(self, now: float) -> bool:
        return (self.count is not None and self.count <= 0) or (self.until is not None and now >= self.until)

    def applies(self, provider: str, keys: Iterable[str], endpoint: str) -> bool:
        if provider != self.provider or (self.account != "*" and self.account not in keys):
            return False
        if endpoint == "token":  # the token endpoint: only revocation, or a fault aimed at it
            return self.mode == "revoked" or (self.endpoint is not None and self.endpoint in endpoint)
        return self.endpoint is None or self.endpoint in endpoint

    def public(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "account": self.account,
            "mode": self.mode,
            "hits": self.hits,
        }
        if self.count is not None:
            out["count"] = self.count
        if self.until is not None:
            out["secondsLeft"] = round(max(0.0, self.until - now), 3)
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        for name in {
            "rate_limit": ("retry_after",),
            "server_error": ("status",),
            "slow": ("delay",),
            "wrong_shape": ("shape",),
            **dict.fromkeys(HOSTILE, ("size",)),
        }.get(self.mode, ()):
            out[name] = getattr(self, name)
        return {**out, **self.options}


@dataclass(slots=True)
class _Requests:
    total: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    log: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LOG))


def max_in_window(times: Iterable[float], window: float = 60.0) -> int:
    """The most timestamps that fall in any `window`-long interval."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class FaultBook:
    """Faults and request counts of every simulated provider account."""

    def __init__(
        self, clock: Callable[[], float] = time.time, providers: Mapping[str, SimulatorSpec] | None = None
    ) -> None:
        """`providers`: the simulated providers by name (default: every registered one with a simulator)."""
        self.clock = clock
        self.providers = dict(providers if providers is not None else simulated())
        self.faults: list[Fault] = []
        self.requests: dict[tuple[str, str], _Requests] = {}
        self._ids = itertools.count(1)
        self._activate: dict[tuple[str, str], Activate] = {}
        # every mode: the served ones, then each simulated provider's own (SimulatorSpec.fault_modes)
        self.modes: dict[str, str] = dict(MODES)
        for spec in self.providers.values():
            self.modes.update((own.name, own.help) for own in spec.fault_modes if own.name not in self.modes)

    # ---- setting and clearing -----------------------------------------------------------------------

    def on_activate(self, provider: str, mode: str, action: Activate) -> None:
        """Run `action` when a fault of this mode is set (Starlink: `behind` rewinds the stream)."""
        self._activate[(provider, mode)] = action

    def add(
        self,
        provider: str,
        account: str,
        mode: str,
        *,
        count: int | None = None,
        seconds: float | None = None,
        endpoint: str | None = None,
        **params: Any,
    ) -> tuple[Fault, dict[str, Any]]:
        """Set a fault; returns it and what its activation did (e.g. how many cursors moved)."""
        spec = self.providers.get(provider)
        if spec is None:
            raise FaultError(f"unknown provider {provider!r}; known: {', '.join(sorted(self.providers))}")
        own = next((m for m in spec.fault_modes if m.name == mode), None)
        if mode not in self.modes and mode not in spec.missing_faults:
            raise FaultError(f"unknown mode {mode!r}; known: {', '.join(self.modes)}")
        if mode not in MODES and own is None:
            why = spec.missing_faults.get(mode, "its simulator does not act on it")
            raise FaultError(f"mode {mode!r} does not exist for {provider}: {why}")
        if not isinstance(account, str) or not account:
            raise FaultError("account must be one of the account's keys, or '*'")
        if count is not None and (type(count) is not int or count < 1):
            raise FaultError("count must be a positive integer")
        if seconds is not None and (not _number(seconds) or seconds <= 0):
            raise FaultError("seconds must be a positive number")
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
            raise FaultError("endpoint must be a non-empty string (a part of the endpoint's name)")
        own_params = dict(own.params) if own is not None else {}
        known = PARAMS | set(own_params)
        unknown = sorted(set(params) - known)
        if unknown:
            raise FaultError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        given = {k: v for k, v in params.items() if v is not None}
        values = {**DEFAULTS, **{k: v for k, v in given.items() if k in PARAMS}}
        _check_params(values)
        options = {**own_params, **{k: v for k, v in given.items() if k in own_params}}
        if own is not None:
            _check_own(own.minimum, own_params, options)
        now = self.clock()
        fault = Fault(
            id=next(self._ids),
            provider=provider,
            account=account,
            mode=mode,
            count=count,
            until=now + seconds if seconds is not None else None,
            endpoint=endpoint,
            retry_after=float(values["retry_after"]),
            status=int(values["status"]),
            delay=float(values["delay"]),
            shape=str(values["shape"]),
            options=options,
            size=int(values["size"]) if values["size"] is not None else HOSTILE.get(mode, ("", None))[1],
            created=now,
        )
        applied: dict[str, Any] = {}
        action = self._activate.get((provider, mode))
        if action is not None:  # a one-off change (behind): done now, nothing left to serve
            applied = action(fault)
            fault.hits += 1
            return fault, applied
        self.faults.append(fault)
        return fault, applied

    def clear(self, provider: str | None = None, account: str | None = None, fault_id: int | None = None) -> int:
        """Remove faults (all, or of one provider / account key / id); returns how many went."""
        keep = [
            f
            for f in self.faults
            if not (
                (provider is None or f.provider == provider)
                and (account is None or f.account == account)
                and (fault_id is None or f.id == fault_id)
            )
        ]
        removed = len(self.faults) - len(keep)
        self.faults = keep
        return removed

    def active(self) -> list[Fault]:
        now = self.clock()
        self.faults = [f for f in self.faults if not f.spent(now)]
        return list(self.faults)

    def find(
        self, provider: str, keys: Iterable[str], endpoint: str, modes: Iterable[str] | None = None
    ) -> Fault | None:
        """The first live fault for this request (without counting it down)."""
        keys = tuple(keys)
        wanted = set(modes) if modes is not None else None
        now = self.clock()
        for fault in self.faults:
            if fault.spent(now) or (wanted is not None and fault.mode not in wanted):
                continue
            if fault.applies(provider, keys, endpoint):
                return fault
        return None

    def hit(self, fault: Fault) -> None:
        """Count one answer the fault changed (and drop it when that was its last)."""
        fault.hits += 1
        if fault.count is not None:
            fault.count -= 1
        if fault.spent(self.clock()) and fault in self.faults:
            self.faults.remove(fault)

    # ---- request counting ---------------------------------------------------------------------------

    def record(self, provider: str, account: str, endpoint: str, status: str, when: float | None = None) -> None:
        entry = self.requests.get((provider, account))
        if entry is None:
            entry = self.requests[(provider, account)] = _Requests()
        entry.total += 1
        entry.by_endpoint[endpoint] = entry.by_endpoint.get(endpoint, 0) + 1
        entry.by_status[status] = entry.by_status.get(status, 0) + 1
        entry.log.append((self.clock() if when is None else when, endpoint, status))

    def request_summary(self) -> dict[str, dict[str, Any]]:
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for (provider, account), entry in sorted(self.requests.items()):
            api = [t for t, endpoint, _ in entry.log if endpoint != "token"]
            out.setdefault(provider, {})[account] = {
                "total": entry.total,
                "byEndpoint": dict(entry.by_endpoint),
                "byStatus": dict(entry.by_status),
                "last60s": sum(1 for t in api if t > now - 60.0),
                "maxPer60s": max_in_window(api),
            }
        return out

    def request_log(
        self, provider: str | None = None, account: str | None = None, since: float = 0.0
    ) -> list[dict[str, Any]]:
        return [
            {"provider": p, "account": a, "t": t, "endpoint": endpoint, "status": status}
            for (p, a), entry in sorted(self.requests.items())
            if (provider is None or p == provider) and (account is None or a == account)
            for t, endpoint, status in entry.log
            if t >= since
        ]

    # ---- serving ------------------------------------------------------------------------------------

    async def serve(
        self,
        provider: str,
        keys: Iterable[str],
        account: str,
        endpoint: str,
        request: Request,
        run: Callable[[], Awaitable[Response]],
        error: ErrorResponse,
    ) -> Response:
        """Answer one API request of `account`: through its live fault if there is one, else `run()`."""
        arrived = self.clock()
        fault = self.find(provider, keys, endpoint, SERVED)
        if fault is None:
            response = await run()
        else:
            self.hit(fault)
            response = await self.respond(fault, request, run, error)
        status = getattr(response, "fault_status", None) or str(response.status_code)
        self.record(provider, account, endpoint, status, arrived)
        return response

    async def respond(
        self, fault: Fault, request: Request, run: Callable[[], Awaitable[Response]], error: ErrorResponse
    ) -> Response:
        mode = fault.mode
        if mode == "rate_limit":
            return error(429, "Too many requests: rate limit exceeded", {"Retry-After": _seconds(fault.retry_after)})
        if mode == "rate_limit_bare":
            return error(429, "Too many requests: rate limit exceeded", {})
        if mode == "server_error":
            return error(fault.status, "The service is temporarily unavailable (simulated)", {})
        if mode == "revoked":
            return error(401, "The credentials have been revoked (simulated)", {})
        if mode == "malformed":
            return Response(MALFORMED_BODY, 200, media_type="text/html")
        if mode in HOSTILE:
            return await hostile_answer(mode, fault.size or 1)
        if mode == "slow":
            if await _sleep_unless_gone(request, fault.delay):
                return Dropped(b"", 200, gone=True)  # nobody is listening any more: do not run the call
            return await run()
        real = await run()
        body = bytes(real.body)
        headers = {k: v for k, v in real.headers.items() if k.lower() != "content-length"}
        if mode == "truncated":
            return Response(body[: len(body) // 2], real.status_code, headers=headers)
        if mode == "wrong_shape":
            try:
                decoded = orjson.loads(body)
            except orjson.JSONDecodeError:
                decoded = None
            return Response(orjson.dumps(reshape(decoded, fault.shape)), real.status_code, headers=headers)
        if mode == "reset":
            return Dropped(body, real.status_code, headers=headers)
        raise AssertionError(f"unhandled fault mode {mode}")

    # ---- HTTP controls ------------------------------------------------------------------------------

    def routes(self, provider: str | None = None) -> list[BaseRoute]:
        """`/_sim/faults` (GET, POST, DELETE) and `/_sim/requests` (GET); with `provider` set, the
        body's `provider` defaults to it (the routes under one provider's mount point)."""

        async def faults(request: Request) -> Response:
            return await self.handle(request, provider)

        async def requests(request: Request) -> Response:
            query = request.query_params
            try:
                since = float(query.get("since", "0"))
            except ValueError:
                return _json({"error": "since must be a number (epoch seconds)"}, 400)
            log = self.request_log(query.get("provider", provider), query.get("account"), since)
            return _json({"now": self.clock(), "requests": log})

        return [
            Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/requests", requests, methods=["GET"]),
        ]

    def snapshot(self, provider: str | None = None) -> dict[str, Any]:
        now = self.clock()
        summary = self.request_summary()
        return {
            "now": now,
            "modes": self.modes,
            "faults": [f.public(now) for f in self.active() if provider is None or f.provider == provider],
            "requests": summary if provider is None else {provider: summary.get(provider, {})},
        }

    async def handle(self, request: Request, provider: str | None = None, body: Any = None) -> Response:
        """The `/_sim/faults` control: GET lists, POST sets (one fault or a list), DELETE clears."""
        if request.method == "GET":
            return _json(self.snapshot(provider))
        if body is None:
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                return _json({"error": "the body must be JSON"}, 400)
        if request.method == "DELETE":
            if not isinstance(body, dict):
                return _json({"error": "the body must be a JSON object"}, 400)
            query = request.query_params
            fault_id = body.get("id", query.get("id"))
            removed = self.clear(
                body.get("provider", query.get("provider", provider)),
                body.get("account", query.get("account")),
                int(fault_id) if fault_id is not None else None,
            )
            return _json({"ok": True, "removed": removed})
        items = body if isinstance(body, list) else [body]
        out = []
        try:
            for item in items:
                if not isinstance(item, dict):
                    raise FaultError("each fault must be a JSON object")
                fault, applied = self.add(**{"provider": provider, **item})
                out.append({**fault.public(self.clock()), **({"applied": applied} if applied else {})})
        except (FaultError, TypeError) as exc:
            return _json({"error": _type_error(exc)}, 400)
        return _json({"ok": True, "faults": out})


class Dropped(Response):
    """Send the status line, headers and half the body, then stop: uvicorn closes the connection
    ("ASGI callable returned without completing response"), so the client sees it broken."""

    def __init__(
        self, body: bytes, status_code: int, headers: Mapping[str, str] | None = None, *, gone: bool = False
    ) -> None:
        super().__init__(body, status_code, headers=dict(headers or {}))
        self.gone = gone
        self.fault_status = "gone" if gone else "reset"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gone:
            return  # the client hung up while we slept: there is no one to answer
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": bytes(self.body[: len(self.body) // 2]), "more_body": True})


def reshape(value: Any, shape: str) -> Any:
    """Valid JSON of the wrong structure: `top` swaps the top level (an object becomes a one-item
    array, an array becomes `{"count": n}`); `deep` keeps the top level and replaces every array
    inside it by `{"count": n}`."""
    if shape == "top":
        if isinstance(value, list):
            return {"count": len(value)}
        return [value]
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return _deep(value)


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return {"count": len(value)}
    return value


def parse_spec(spec: str) -> dict[str, Any]:
    """`PROVIDER:ACCOUNT:MODE[:key=value,...]` (the simulator's `--fault`) as `FaultBook.add` arguments,
    e.g. `starlink:ACC-1:rate_limit:retry_after=5,count=10` or `oneweb:*:slow:delay=40,seconds=30`."""
    parts = spec.split(":", 3)
    if len(parts) < 3 or not all(parts[:3]):
        raise FaultError(f"{spec!r}: expected PROVIDER:ACCOUNT:MODE[:key=value,...]")
    out: dict[str, Any] = {"provider": parts[0], "account": parts[1], "mode": parts[2]}
    if len(parts) == 4 and parts[3]:
        for pair in parts[3].split(","):
            name, sep, raw = pair.partition("=")
            if not sep or not name:
                raise FaultError(f"{spec!r}: expected key=value, got {pair!r}")
            out[name.strip()] = _scalar(raw.strip())
    return out


async def _sleep_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep up to `seconds`; True as soon as the client has disconnected."""
    await request.body()  # read (and keep) the body first, so watching for a disconnect loses nothing
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await anyio.sleep(min(0.2, left))
        if await request.is_disconnected():
            return True
    return False


def _check_params(values: dict[str, Any]) -> None:
    if not _number(values["retry_after"]) or values["retry_after"] < 0:
        raise FaultError("retry_after must be a number of seconds >= 0")
    if type(values["status"]) is not int or not 500 <= values["status"] <= 599:
        raise FaultError("status must be a 5xx status code")
    if not _number(values["delay"]) or values["delay"] <= 0 or values["delay"] > 600:
        raise FaultError("delay must be a number of seconds in (0, 600]")
    if values["shape"] not in ("top", "deep"):
        raise FaultError("shape must be 'top' or 'deep'")
    if values["size"] is not None and (type(values["size"]) is not int or not 1 <= values["size"] <= 100_000):
        raise FaultError("size must be an integer from 1 to 100000")


def _check_own(minimum: Mapping[str, float], defaults: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """A provider's own mode's parameters: each of its default's type, numbers at least their minimum."""
    for name, value in values.items():
        default = defaults[name]
        if isinstance(default, str):
            if not isinstance(value, str):
                raise FaultError(f"{name} must be a string")
            continue
        if type(default) is int and type(value) is not int:
            raise FaultError(f"{name} must be an integer")
        if not _number(value):
            raise FaultError(f"{name} must be a number")
        if name in minimum and value < minimum[name]:
            raise FaultError(f"{name} must be at least {minimum[name]:g}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _type_error(exc: Exception) -> str:
    if isinstance(exc, TypeError) and "missing" in str(exc):
        return "provider, account and mode are required"
    return str(exc)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")
