"""Provider answers of any size or pace cost bounded memory and time (issue #25, findings 5 and the
per-read timeout): the HTTP client against mocked providers. httpx's MockTransport rather than
respx: respx reads (and inflates) every mocked body whole before the client sees it."""

from __future__ import annotations

import gc
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from leo_exporter.config import ConfigError
from leo_exporter.providers import parse_config
from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import ServerError, TransportFailed
from leo_exporter.providers.http import ApiClient, Counting
from leo_exporter.providers.limits import ResponseTooLarge
from leo_exporter.state import AccountState

API = "https://provider.test/api"
MIB = 1024 * 1024


class Provider:
    """Answers by path; records the requests."""

    def __init__(self, **answers: httpx.Response):
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers[request.url.path.rsplit("/", 1)[-1]]


def client(provider: Provider, max_bytes: int = MIB, timeout: float = 5.0) -> tuple[ApiClient, AccountState]:
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    api = ApiClient(
        counting=Counting(account.count_request, account.set_authenticated, {"account_name": account.name}),
        budget=RateBudget(6000),
        base_url=API,
        timeout=timeout,
        max_response_bytes=max_bytes,
        transport=httpx.MockTransport(provider),
    )
    return api, account


def bomb(decoded: int) -> bytes:
    """A gzip body of `decoded` bytes of valid JSON (a string of zeros), a thousandth of that on the wire."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = squeeze.compress(b'{"content": "')
    zeros = b"0" * MIB
    for _ in range(decoded // MIB):
        body += squeeze.compress(zeros)
    return body + squeeze.compress(b'"}') + squeeze.flush()


async def pieces(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def answer(status: int, body: bytes, encoding: str | None = None) -> httpx.Response:
    """An answer streamed in pieces, as from the network (a bytes body would be read at once)."""
    return httpx.Response(status, content=pieces(body), headers={"Content-Encoding": encoding} if encoding else {})


class Counted:
    """A provider's body, produced piece by piece; `sent` says how much the client pulled."""

    def __init__(self, total: int, piece: int = 64 * 1024, pause: float = 0.0):
        self.total, self.piece, self.pause, self.sent = total, piece, pause, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            if self.pause:
                await anyio.sleep(self.pause)  # the provider's pace, not the test's
            chunk = b"x" * min(self.piece, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


def api_requests(account: AccountState) -> dict[str, float]:
    return account.counters.get("leo_exporter_api_requests_total", {})


async def refused_with_peak(api: ApiClient) -> tuple[str, int]:
    """The error of a telemetry call refused as too large, and the most memory it held meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as caught:
            await api.get_json("telemetry", endpoint="/telemetry")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await api.aclose()
    return str(caught.value), peak


@pytest.mark.anyio
async def test_a_gzip_bomb_fails_the_call_naming_account_and_call_within_bounded_memory() -> None:
    body = bomb(64 * MIB)
    assert len(body) < MIB // 8
    api, account = client(Provider(telemetry=answer(200, body, "gzip")))
    message, peak = await refused_with_peak(api)
    assert "GET /telemetry" in message and "'north'" in message and "max_response_size" in message
    assert "1 MiB" in message
    assert peak < 8 * MIB, f"decoding the bomb held {peak / MIB:.1f} MiB"
    assert api_requests(account) == {'endpoint="/telemetry",code="too_large"': 1.0}


@pytest.mark.anyio
async def test_a_bomb_within_the_size_limit_is_refused_by_its_ratio_after_16_mib() -> None:
    """The 30-minute soak's worker grew from about 450 to 840 MiB: each bomb was inflated up to the
    whole 128 MiB limit before it was refused, by several jobs at once. Past 16 MiB, a body that
    decodes to more than 200 times its wire size is refused at once."""
    body = bomb(96 * MIB)
    api, account = client(Provider(telemetry=answer(200, body, "gzip")), max_bytes=128 * MIB)
    message, peak = await refused_with_peak(api)
    assert "GET /telemetry" in message and "'north'" in message and "decompression bomb" in message
    assert peak < 24 * MIB, f"decoding the bomb held {peak / MIB:.1f} MiB"
    assert api_requests(account) == {'endpoint="/telemetry",code="too_large"': 1.0}

    payload = json.dumps({"content": [{"id": i, "value": None} for i in range(600_000)]}).encode()
    assert len(payload) > 16 * MIB  # as repetitive as JSON gets, far below the ratio
    api, _ = client(Provider(telemetry=answer(200, gzip.compress(payload), "gzip")), max_bytes=128 * MIB)
    assert len((await api.get_json("telemetry", endpoint="/telemetry"))["content"]) == 600_000
    await api.aclose()


@pytest.mark.anyio
async def test_a_body_within_the_limit_is_read_whatever_its_encoding() -> None:
    payload = b'{"content": [1, 2, 3]}'
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    provider = Provider(
        gz=answer(200, gzip.compress(payload), "gzip"),
        zl=answer(200, zlib.compress(payload), "deflate"),
        raw=answer(200, raw.compress(payload) + raw.flush(), "deflate"),
        two=answer(200, gzip.compress(payload[:10]) + gzip.compress(payload[10:]), "gzip"),  # two gzip members
        plain=answer(200, payload),
    )
    api, _ = client(provider)
    for path in ("gz", "zl", "raw", "two", "plain"):
        assert await api.get_json(path, endpoint=f"/{path}") == {"content": [1, 2, 3]}, path
    assert provider.requests[0].headers["Accept-Encoding"] == "gzip, deflate"
    await api.aclose()


@pytest.mark.anyio
async def test_a_plain_body_over_the_limit_is_refused_as_it_streams() -> None:
    stream = Counted(50 * MIB)
    api, _ = client(Provider(lines=httpx.Response(200, content=stream)))
    with pytest.raises(ResponseTooLarge):
        await api.get_json("lines", endpoint="/lines")
    await api.aclose()
    assert stream.sent < 2 * MIB


@pytest.mark.anyio
async def test_a_huge_error_body_is_read_only_up_to_a_few_kib() -> None:
    stream = Counted(200 * MIB)
    api, account = client(Provider(lines=httpx.Response(500, content=stream)))
    with pytest.raises(ServerError) as caught:
        await api.get_json("lines", endpoint="/lines")
    await api.aclose()
    assert stream.sent <= 128 * 1024, f"the client read {stream.sent} bytes of an error body"
    assert len(str(caught.value)) < 400 and "HTTP 500" in str(caught.value)
    assert api_requests(account) == {'endpoint="/lines",code="500"': 1.0}


@pytest.mark.anyio
async def test_the_timeout_bounds_the_whole_request_not_each_read() -> None:
    stream = Counted(10 * MIB, piece=1, pause=0.05)  # one byte every 50 ms: every read is quick
    api, account = client(Provider(slow=httpx.Response(200, content=stream)), timeout=0.5)
    with anyio.fail_after(30):  # the old per-read timeout never fired: this bounds the test itself
        with pytest.raises(TransportFailed) as caught:
            await api.get_json("slow", endpoint="/slow")
    await api.aclose()
    assert "no complete response within the timeout (500ms)" in str(caught.value)
    assert stream.sent < 100
    assert api_requests(account) == {'endpoint="/slow",code="error"': 1.0}


def test_max_response_size_is_a_size_per_account() -> None:
    base = {"provider": "oneweb", "client_id": "c", "client_secret": "s", "api_url": "https://o.test"}
    config = parse_config({"accounts": [{**base, "max_response_size": "16MiB"}, {**base, "name": "b"}]})
    assert config.accounts[0].max_response_size == 16 * MIB
    assert config.accounts[1].max_response_size == 128 * MIB
    with pytest.raises(ConfigError) as caught:
        parse_config({"accounts": [{**base, "max_response_size": "1KiB"}]})
    assert caught.value.problems == ["accounts[0].max_response_size: must be at least 64KiB"]


class Fresh(Provider):
    """A new streamed answer to every request, as from the network."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return answer(200, b'{"content": [1, 2, 3]}')


@pytest.mark.anyio
async def test_an_answer_is_freed_once_read_not_left_to_the_cyclic_collector() -> None:
    """httpx ties a streamed response and its stream into a reference cycle: every answer of every
    account waited for a full collection, which a heap of millions of objects makes rare (the
    worker's memory swung by about 30 MiB at 3,000 accounts). Once read, none is left in a cycle."""
    api, _ = client(Fresh())
    await api.get_json("warm", endpoint="/warm")
    flags = gc.get_debug()
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert await api.get_json("items", endpoint="/items") == {"content": [1, 2, 3]}
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds unreachable is kept in gc.garbage
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, httpx.Response | httpx.Request)]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
        gc.enable()
    assert left == []
    await api.aclose()
