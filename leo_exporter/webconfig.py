"""`--web.config.file`: TLS, client certificates and basic auth in the Prometheus exporter-toolkit format.

```yaml
tls_server_config:
  cert_file: /etc/leo-exporter/tls.crt
  key_file: /etc/leo-exporter/tls.key
  min_version: TLS12                         # TLS10 | TLS11 | TLS12 | TLS13
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: /etc/leo-exporter/clients-ca.crt
basic_auth_users:
  prometheus: $2b$12$...                     # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':')
```

The file and the certificates are re-read when they change (checked at most once a second), so
rotated certificates and new users take effect without a restart. Turning TLS on or off needs a
restart. Every endpoint but `/healthz` requires the basic auth credentials when users are set.

A login tells nothing: an unknown user is checked against a dummy bcrypt hash of the same cost
(as exporter-toolkit does), so the answer takes as long as for a known user with a wrong
password; a header that is no valid Basic credential is a plain 401. Failed logins are throttled
per client address (`LoginThrottle`): past FAILURES_ALLOWED within FAILURE_WINDOW seconds the
address gets 429 without a password check until the window has room again. An attempt counts
when its check begins (and is taken back when it succeeds), so concurrent guesses cannot all be
checked before the first failure is counted; at most CONCURRENT_CHECKS bcrypt checks run at once
and MAX_WAITING_CHECKS wait, beyond which a login is answered 503 (known good credentials never
wait: they are remembered).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import anyio.to_thread
import bcrypt
from pydantic import Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from leo_exporter.config import ConfigError, Strict, _format_errors
from leo_exporter.webheaders import SECURITY_HEADERS
from leo_exporter.yamlfile import load_yaml_file

log = logging.getLogger("leo_exporter.web")

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNPROTECTED_PATHS = frozenset({"/healthz"})
FAILURES_ALLOWED = 10  # failed logins per client address ...
FAILURE_WINDOW = 60.0  # ... within this many seconds; beyond: 429 until the oldest one ages out
MAX_TRACKED_ADDRESSES = 10_000  # the oldest are forgotten first: an address flood cannot grow memory
CONCURRENT_CHECKS = min(4, os.cpu_count() or 1)  # bcrypt checks at once: each holds a core ~70 ms
MAX_WAITING_CHECKS = 32  # logins waiting for a check; beyond: 503 (an address flood costs no queue)


class LoginsBusy(Exception):
    """Too many password checks running and waiting: answer 503, check nothing."""


class TLSServerConfig(Strict):
    cert_file: str
    key_file: str
    client_auth_type: Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] = "NoClientCert"
    client_ca_file: str | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"


class WebConfig(Strict):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate; ConfigError lists every problem with its key path (never a hash)."""
    data = load_yaml_file(path, "web config") or {}
    try:
        config = WebConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError([f"{path}: {p}" for p in _format_errors(err, "", set())]) from None
    problems = []
    for user, hashed in config.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            problems.append(f"{path}: basic_auth_users.{user}: not a bcrypt hash (expected $2b$...)")
    tls = config.tls_server_config
    if tls is not None:
        if tls.client_auth_type != "NoClientCert" and not tls.client_ca_file:
            problems.append(f"{path}: tls_server_config.client_ca_file: needed for {tls.client_auth_type}")
        if TLS_VERSIONS[tls.min_version] > TLS_VERSIONS[tls.max_version]:
            problems.append(f"{path}: tls_server_config.min_version: above max_version")
        for key in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, key)
            if value and not os.path.isfile(value):
                problems.append(f"{path}: tls_server_config.{key}: no such file {value}")
    if problems:
        raise ConfigError(problems)
    return config


def _apply_tls(context: ssl.SSLContext, tls: TLSServerConfig) -> None:
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        context.load_verify_locations(tls.client_ca_file)
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]


class LoginThrottle:
    """Failed logins per client address in a sliding window (bounded in addresses and entries)."""

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.allowed = allowed
        self.window = window
        self.clock = clock
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float] | None:
        times = self.failures.get(address)
        if times is None:
            return None
        now = self.clock()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self.failures[address]
            return None
        return times

    def retry_after(self, address: str) -> float | None:
        """Seconds until this address may try again, or None when it may try now."""
        times = self._recent(address)
        if times is None or len(times) < self.allowed:
            return None
        return max(1.0, times[0] + self.window - self.clock())

    def succeeded(self, address: str) -> None:
        """Take back the attempt counted when a check that succeeded began."""
        times = self.failures.get(address)
        if times:
            times.pop()

    def failed(self, address: str) -> None:
        """Count an attempt: a failed login, or a check that begins (`succeeded` takes it back)."""
        times = self._recent(address) or deque(maxlen=self.allowed)
        times.append(self.clock())
        self.failures[address] = times
        self.failures.move_to_end(address)
        while len(self.failures) > MAX_TRACKED_ADDRESSES:
            self.failures.popitem(last=False)


class WebSecurity:
    """The live web config: the SSL context handed to the server and the basic auth users, both
    refreshed in place when the files change."""

    def __init__(self, path: str | Path | None, *, check_every: float = 1.0):
        self.path = Path(path) if path else None
        self.check_every = check_every
        self.config = load_web_config(self.path) if self.path else WebConfig()
        self.context: ssl.SSLContext | None = None
        if self.config.tls_server_config is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            _apply_tls(self.context, self.config.tls_server_config)
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()
        self._dummy = _dummy_hash(self.config)
        self.throttle = LoginThrottle()
        self._checks: anyio.Semaphore | None = None  # made in the event loop that runs the checks
        self._waiting = 0

    @property
    def tls(self) -> bool:
        return self.context is not None

    def _files(self) -> list[str]:
        files = [str(self.path)] if self.path else []
        tls = self.config.tls_server_config
        if tls is not None:
            files += [f for f in (tls.cert_file, tls.key_file, tls.client_ca_file) if f]
        return files

    def _file_stamp(self) -> tuple[tuple[str, float, int], ...]:
        stamp = []
        for name in self._files():
            try:
                info = os.stat(name)
                stamp.append((name, info.st_mtime, info.st_size))
            except OSError:
                stamp.append((name, -1.0, -1))
        return tuple(stamp)

    def refresh(self) -> None:
        """Re-read the web config and certificates if any of the files changed since last time."""
        now = time.monotonic()
        if self.path is None or now - self._checked < self.check_every:
            return
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                config = load_web_config(self.path)
                if (config.tls_server_config is None) != (self.context is None):
                    raise ConfigError([f"{self.path}: turning TLS on or off needs a restart"])
                if config.tls_server_config is not None and self.context is not None:
                    _apply_tls(self.context, config.tls_server_config)
            except (ConfigError, ssl.SSLError, OSError) as exc:
                problems = exc.problems if isinstance(exc, ConfigError) else [f"{self.path}: {exc}"]
                for problem in problems:
                    log.error("web config not reloaded, keeping the previous one: %s", problem)
                return
            self.config = config
            self._dummy = _dummy_hash(config)
            self._verified.clear()
            self._stamp = self._file_stamp()
            log.info("web config reloaded from %s", self.path)

    async def login(self, header: str | None, address: str) -> tuple[bool, float | None]:
        """(allowed, retry_after): whether the request's Basic credentials pass, and when refused
        because its address failed too often, how long until it may try again."""
        users = self.config.basic_auth_users
        if not users:
            return True, None
        credentials = _credentials(header)
        key = b""
        if credentials is not None and (hashed := users.get(credentials[0])) is not None:
            key = hashlib.sha256(f"{credentials[0]}\0{credentials[1]}\0{hashed}".encode()).digest()
            if key in self._verified:  # known good: never throttled, even behind a busy shared address
                return True, None
        wait = self.throttle.retry_after(address)
        if wait is not None:
            return False, wait
        if credentials is None:
            if header is not None:  # a browser's first request carries none: that is no failed login
                self.throttle.failed(address)
            return False, None
        user, password = credentials
        hashed = users.get(user)
        if self._waiting >= CONCURRENT_CHECKS + MAX_WAITING_CHECKS:
            raise LoginsBusy()
        self.throttle.failed(address)  # counted now: a concurrent attempt already sees it
        self._checks = self._checks or anyio.Semaphore(CONCURRENT_CHECKS)
        self._waiting += 1
        try:
            async with self._checks:
                # bcrypt is slow by design (~70 ms at cost 10): off the loop, and what verified is
                # remembered. An unknown user costs a check of the dummy hash, as long as a wrong password.
                ok = await anyio.to_thread.run_sync(_checkpw, password, hashed if hashed is not None else self._dummy)
        finally:
            self._waiting -= 1
        if ok and hashed is not None:
            self.throttle.succeeded(address)
            self._verified.add(key)
            return True, None
        return False, None


def _credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a Basic Authorization header, or None when it is missing or malformed."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except ValueError:  # not Base64 (binascii.Error), not ASCII, not UTF-8 (UnicodeDecodeError)
        return None
    return user, password


def _dummy_hash(config: WebConfig) -> str:
    """A bcrypt hash of nothing anyone can send, at the cost of the configured users' hashes."""
    costs = [int(h[4:6]) for h in config.basic_auth_users.values() if h[4:6].isdigit()]
    if not costs:
        return ""
    rounds = min(max(max(costs), 4), 31)
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _checkpw(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


class BasicAuthMiddleware:
    """Requires the configured basic auth users on every path but /healthz."""

    def __init__(self, app: ASGIApp, security: WebSecurity):
        self.app = app
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNPROTECTED_PATHS:
            await self.app(scope, receive, send)
            return
        self.security.refresh()
        address = (scope.get("client") or ("unknown",))[0]
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            allowed, wait = await self.security.login(header, address)
        except LoginsBusy:
            busy = b"Too many logins being checked; try again shortly\n"
            await _answer(send, 503, busy, [(b"retry-after", b"1")])
            return
        if allowed:
            await self.app(scope, receive, send)
        elif wait is not None:
            retry = [(b"retry-after", str(int(wait) + 1).encode())]
            await _answer(send, 429, b"Too many failed logins from this address; try again later\n", retry)
        else:
            await _answer(send, 401, b"Unauthorized\n", [(b"www-authenticate", b'Basic realm="leo-exporter"')])


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *headers, *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FrontTokenGate:
    """The worker's internal server answers only the front process: its loopback port is open to
    every process on the host, and the front has already checked TLS and basic auth."""

    HEADER = b"x-leo-front-token"

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((value for name, value in scope["headers"] if name == self.HEADER), b"")
            if not hmac.compare_digest(given, self.token):
                await _answer(send, 403, b"Forbidden: this is the exporter's internal port\n", [])
                return
        await self.app(scope, receive, send)
