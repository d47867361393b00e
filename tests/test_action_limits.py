"""One-shot management actions read provider answers within the account's limits, like the
exporter's jobs (issue #25): `max_response_size` bounds what an action reads, and the account's
`timeout` bounds each whole exchange, body included."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import yaml

from tests.test_actions_kognitive import ACCOUNT, KEnv
from tests.test_actions_starlink import Env


def limit_accounts(env: Env, **keys: object) -> None:
    data = yaml.safe_load(env.config.read_text())
    for account in data["accounts"]:
        account.update(keys)
    env.config.write_text(yaml.safe_dump(data))


def big_json(size: int) -> bytes:
    return b'{"content": {"results": [], "isLastPage": true, "pad": "' + b"0" * size + b'"}}'


def test_a_starlink_top_up_refuses_an_answer_beyond_max_response_size(tmp_path: Path) -> None:
    env = Env(tmp_path)
    limit_accounts(env, max_response_size="64KiB")
    bomb = gzip.compress(big_json(8 * 1024 * 1024))
    env.transport.fail = lambda request: (
        httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
        if request.url.path.endswith("/products")
        else None
    )
    line = env.line()
    code, _, err = env.run(
        "starlink-top-up", "--service-line", line.number, "--count", "1", "--yes", "--audit-log", str(env.audit)
    )
    assert code == 1
    assert "GET /products" in err and "larger than 64 KiB once decoded" in err and "max_response_size" in err
    assert "'sim-starlink-1'" in err  # the account is named
    assert env.transport.sent("POST", "/data/top-up") == 0
    [audit] = env.audit_lines()
    assert audit["outcome"] == "failed" and "64 KiB" in audit["detail"]


async def dribble(body: bytes) -> AsyncIterator[bytes]:
    import anyio

    for byte in body:
        await anyio.sleep(0.05)
        yield bytes([byte])


def test_a_kognitive_action_gives_up_on_a_provider_that_dribbles_past_the_timeout(tmp_path: Path) -> None:
    env = KEnv(tmp_path)
    limit_accounts(env, timeout="0.5s")
    env.transport.fail = lambda request: (
        httpx.Response(200, content=dribble(big_json(1000))) if request.method == "GET" else None
    )
    line = env.kline(paused=False)
    code, _, err = env.run(
        "kognitive-pause", ACCOUNT, "--service-line", line.number, "--now", "--yes", "--audit-log", str(env.audit)
    )
    assert code == 1, err
    assert "no complete response within the timeout (500ms)" in err
    assert env.transport.sent("POST", "/pause") == 0
