"""Basic auth that tells nothing: malformed headers are a 401, an unknown user takes as long as a
wrong password, failed logins are throttled per client address; a dropped request is no error."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import bcrypt
import pytest
import yaml

from leo_exporter.app import Exporter
from leo_exporter.providers import parse_config
from leo_exporter.web import build_app
from leo_exporter.webconfig import (
    CONCURRENT_CHECKS,
    FAILURES_ALLOWED,
    MAX_WAITING_CHECKS,
    BasicAuthMiddleware,
    WebSecurity,
)
from tests.conftest import FakeClock
from tests.test_front_limits import until

pytestmark = pytest.mark.anyio


def security(tmp_path: Path, rounds: int = 4) -> WebSecurity:
    hashed = bcrypt.hashpw(b"right-password", bcrypt.gensalt(rounds=rounds)).decode()
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    return WebSecurity(path)


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, authorization: bytes | None, client: str = "10.0.0.1") -> tuple[int, dict[bytes, bytes]]:
    headers = [(b"authorization", authorization)] if authorization is not None else []
    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": headers, "client": (client, 40000)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0].get("headers", []))


def basic(user: bytes, password: bytes) -> bytes:
    import base64

    return b"Basic " + base64.b64encode(user + b":" + password)


async def test_malformed_authorization_headers_are_401_not_500(tmp_path: Path) -> None:
    app = BasicAuthMiddleware(ok_app, security(tmp_path))
    for header in (b"Basic \xff\xfe\xfd", b"Basic not base64!", b"Basic " + bytes([0xC3, 0xA9]) * 4, b"Bearer x", b""):
        status, headers = await call(app, header, client=f"10.0.0.{len(header)}")
        assert status == 401, header
        assert headers[b"www-authenticate"] == b'Basic realm="leo-exporter"'
        assert headers[b"x-frame-options"] == b"DENY"
    assert (await call(app, basic(b"prometheus", b"right-password")))[0] == 200


@pytest.mark.serial
async def test_an_unknown_user_takes_as_long_as_a_wrong_password(tmp_path: Path) -> None:
    app = BasicAuthMiddleware(ok_app, security(tmp_path, rounds=10))

    async def timed(user: bytes, client: str) -> float:
        started = time.perf_counter()
        assert (await call(app, basic(user, b"wrong"), client=client))[0] == 401
        return time.perf_counter() - started

    await timed(b"prometheus", "10.0.0.9")  # the worker thread started
    known_times, unknown_times = [], []
    for i in range(5):  # interleaved, so a busy moment of the machine hits both alike
        known_times.append(await timed(b"prometheus", f"10.1.0.{i}"))
        unknown_times.append(await timed(b"nobody", f"10.2.0.{i}"))
    known, unknown = min(known_times), min(unknown_times)
    assert known > 0.01  # a real bcrypt check at cost 10
    assert unknown > 0.5 * known, (unknown, known)  # was 0.2 ms against 52 ms: the name showed


async def test_failed_logins_are_throttled_per_client_address(tmp_path: Path) -> None:
    web = security(tmp_path)
    clock = FakeClock(1000.0)
    web.throttle.clock = clock
    app = BasicAuthMiddleware(ok_app, web)
    good = basic(b"prometheus", b"right-password")
    assert (await call(app, good, client="192.0.2.9"))[0] == 200  # Prometheus, same address as the attacker
    assert (await call(app, None, client="192.0.2.1"))[0] == 401  # no credentials: no failed login
    for _ in range(FAILURES_ALLOWED):
        assert (await call(app, basic(b"prometheus", b"guess"), client="192.0.2.1"))[0] == 401
    status, headers = await call(app, basic(b"prometheus", b"guess"), client="192.0.2.1")
    assert status == 429 and int(headers[b"retry-after"]) > 0
    assert (await call(app, good, client="192.0.2.1"))[0] == 200  # known good credentials still pass
    assert (await call(app, basic(b"admin", b"x"), client="192.0.2.2"))[0] == 401  # other addresses: as before
    clock.now += 61
    assert (await call(app, basic(b"prometheus", b"guess"), client="192.0.2.1"))[0] == 401  # the window moved on


async def test_a_client_dropping_a_post_mid_body_is_a_debug_line_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Exporter(parse_config({"accounts": []}))
    exporter.admin_api = True
    app = build_app(exporter)
    messages = [
        {"type": "http.request", "body": b'{"interval":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs/starlink/ACC-0/telemetry/interval",
        "raw_path": b"/api/jobs/starlink/ACC-0/telemetry/interval",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"400"), (b"host", b"exporter")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 9819),
    }

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    caplog.set_level(logging.DEBUG)
    await app(scope, receive, send)  # no exception escapes to the server
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("client disconnected" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


async def test_a_web_config_edited_to_a_non_utf8_byte_is_logged_and_the_old_users_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = security(tmp_path)
    web.check_every = 0.0
    path = tmp_path / "web.yml"
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    caplog.set_level(logging.ERROR, "leo_exporter.web")
    web.refresh()
    assert any("not UTF-8 text: byte 0xe9 at line 3, column 6" in r.getMessage() for r in caplog.records)
    app = BasicAuthMiddleware(ok_app, web)
    assert (await call(app, basic(b"prometheus", b"right-password")))[0] == 200


async def test_concurrent_wrong_logins_from_one_address_are_throttled_as_they_start(tmp_path: Path) -> None:
    """Was: 200 concurrent wrong logins all got 401 (52 s of CPU): each counted when bcrypt ended."""
    app = BasicAuthMiddleware(ok_app, security(tmp_path))
    statuses = [0] * 200

    async def attempt(i: int) -> None:
        statuses[i] = (await call(app, basic(b"prometheus", b"guess-%d" % i), client="192.0.2.7"))[0]

    async with anyio.create_task_group() as tg:
        for i in range(len(statuses)):
            tg.start_soon(attempt, i)
    assert statuses.count(401) == FAILURES_ALLOWED
    assert statuses.count(429) == len(statuses) - FAILURES_ALLOWED


async def test_password_checks_run_a_few_at_a_time_and_a_flood_of_addresses_gets_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guesses from many addresses, each within its own allowance, cannot queue bcrypt without bound."""
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()
    checkpw = bcrypt.checkpw

    def held_checkpw(password: bytes, hashed: bytes) -> bool:  # bcrypt itself, held until released
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return checkpw(password, hashed)

    web = security(tmp_path)
    monkeypatch.setattr(bcrypt, "checkpw", held_checkpw)
    app = BasicAuthMiddleware(ok_app, web)
    statuses: list[int] = []
    attempts = CONCURRENT_CHECKS + MAX_WAITING_CHECKS + 40

    async def attempt(i: int) -> None:
        statuses.append((await call(app, basic(b"prometheus", b"guess"), client=f"198.51.100.{i}"))[0])

    async with anyio.create_task_group() as tg:
        for i in range(attempts):
            tg.start_soon(attempt, i)
        await until(lambda: len(statuses) >= 40)  # the ones beyond the queue are answered at once
        assert statuses == [503] * 40
        release.set()
    assert most[0] <= CONCURRENT_CHECKS
    assert statuses.count(401) == CONCURRENT_CHECKS + MAX_WAITING_CHECKS
