"""The simulators' fault modes on the wire (a real uvicorn server and httpx), their controls and the
`--fault` flag, request counting, and the Starlink churn mode."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from leo_exporter.providers.budget import RateBudget
from leo_exporter.providers.errors import (
    AuthenticationFailed,
    BadResponse,
    RateLimited,
    ServerError,
    TransportFailed,
)
from leo_exporter.providers.http import ApiClient, decode_json
from leo_exporter.providers.starlink.client import unwrap
from leo_exporter.providers.starlink.simulator.server import StarlinkSimulator
from leo_exporter.simulator.faults import FaultBook, FaultError, max_in_window, parse_spec, reshape
from tests.processes import ROOT, Process, run_module, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    yield from _simulator(tmp_path_factory.mktemp("faults-sim") / "sim.log")


def _simulator(log: Path, *faults: str) -> Iterator[Process]:
    args = ["simulator", "--accounts", "2", "--terminals", "20", "--oneweb-accounts", "2", "--seed", "3"]
    for fault in faults:
        args += ["--fault", fault]
    with run_module(args, log) as process:
        wait_for(process.url + "/", process)
        yield process


@pytest.fixture
def faulted_sim(tmp_path: Path) -> Iterator[Process]:
    """A simulator of its own, started with faults on its command line: the shared one's faults are
    set and cleared by the other tests, in whatever order they run."""
    faults = ("starlink:2:server_error:status=502,count=1", "oneweb:2:rate_limit_bare:seconds=30")
    yield from _simulator(tmp_path / "sim.log", *faults)


@pytest.fixture(scope="module")
def config(sim: Process) -> dict[str, Any]:
    return yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=10).text)


def _account(config: dict[str, Any], provider: str, n: int) -> dict[str, Any]:
    return [a for a in config["accounts"] if a["provider"] == provider][n - 1]


def _token(account: dict[str, Any]) -> str:
    form = {"grant_type": "client_credentials", "client_id": account["client_id"]}
    form["client_secret"] = account["client_secret"]
    response = httpx.post(account["auth_url"], data=form, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _set(sim: Process, **fault: Any) -> dict[str, Any]:
    response = httpx.post(sim.url + "/_sim/faults", json=fault, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["faults"][0]


def _client(base_url: str, **kwargs: Any) -> ApiClient:
    return ApiClient(budget=RateBudget(6000), base_url=base_url, timeout=1.0, **kwargs)


async def _read_user_terminals(api: ApiClient) -> Any:
    response = await api.request("GET", "user-terminals", endpoint="/user-terminals")
    return unwrap(await decode_json(response.content, "GET /user-terminals"), "GET /user-terminals")


@pytest.fixture(autouse=True)
def _clean(sim: Process) -> Iterator[None]:
    yield
    httpx.delete(sim.url + "/_sim/faults", timeout=5)


def test_command_line_faults_and_request_counts(faulted_sim: Process) -> None:
    sim = faulted_sim
    config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=10).text)
    second = _account(config, "starlink", 2)
    state = httpx.get(sim.url + "/starlink/_sim/state", timeout=5).json()
    number = state["accounts"][1]["accountNumber"]
    before = httpx.get(sim.url + "/_sim/faults", timeout=5).json()["requests"].get("starlink", {}).get(number, {})
    headers = {"Authorization": f"Bearer {_token(second)}"}
    statuses = [httpx.get(second["api_url"] + "/account", headers=headers, timeout=5).status_code for _ in range(2)]
    assert statuses == [502, 200]  # --fault starlink:2:server_error:status=502,count=1 (once)
    oneweb = _account(config, "oneweb", 2)
    basic = base64.b64encode(f"{oneweb['client_id']}:{oneweb['client_secret']}".encode()).decode()
    bare = httpx.get(oneweb["api_url"] + "/hello/v1/oneweb/world", headers={"Authorization": f"Basic {basic}"})
    assert bare.status_code == 429 and "retry-after" not in bare.headers  # --fault oneweb:2:rate_limit_bare
    counted = httpx.get(sim.url + "/_sim/faults", timeout=5).json()["requests"]["starlink"][number]
    assert counted["total"] - before.get("total", 0) == 3  # a token and two calls
    assert counted["byEndpoint"]["token"] >= 1 and counted["byEndpoint"]["/account"] >= 2
    assert counted["maxPer60s"] >= 2
    log = httpx.get(sim.url + "/_sim/requests", params={"provider": "starlink", "account": number}, timeout=5).json()
    assert [r["status"] for r in log["requests"] if r["endpoint"] == "/account"][-1] == "200"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_every_mode_reaches_the_exporters_http_client_as_the_right_error(
    sim: Process, config: dict[str, Any], anyio_backend: str
) -> None:
    starlink = _account(config, "starlink", 1)
    api = _client(starlink["api_url"], headers={"Authorization": f"Bearer {_token(starlink)}"})
    expected = {
        "rate_limit": (RateLimited, "Retry-After 2s"),
        "rate_limit_bare": (RateLimited, "no Retry-After"),
        "server_error": (ServerError, "HTTP 503"),
        "slow": (TransportFailed, "no complete response within the timeout"),
        # a broken connection, not an HTTP answer; twice, since a GET whose connection broke is sent again
        "reset": (TransportFailed, "RemoteProtocolError"),
        "revoked": (AuthenticationFailed, "HTTP 401"),
        "truncated": (BadResponse, "not valid JSON"),
        "malformed": (BadResponse, "not valid JSON"),
        "wrong_shape": (BadResponse, "expected a JSON object, got list"),
    }
    try:
        for mode, (error, words) in expected.items():
            count = 2 if mode == "reset" else 1
            _set(sim, provider="starlink", account="1", mode=mode, count=count, retry_after=2, delay=3)
            api.budget.paused_until = 0.0
            with pytest.raises(error, match=words):
                await _read_user_terminals(api)
            api.budget.paused_until = 0.0
            ok = await api.get_json("user-terminals", endpoint="/user-terminals")  # count=1: gone by itself
            assert ok["isValid"] is True and ok["content"]["results"], mode
        _set(sim, provider="starlink", account="1", mode="reset", count=1)  # one reset: absorbed by the resend
        assert (await _read_user_terminals(api)) is not None
    finally:
        await api.aclose()


def test_the_same_modes_exist_for_kognitive_and_oneweb(sim: Process, config: dict[str, Any]) -> None:
    kognitive = _account(config, "kognitive", 1)
    k_headers = {"X-Auth-Key": kognitive["auth_key"]}
    k_url = kognitive["api_url"] + "/getAvailableProducts"
    oneweb = _account(config, "oneweb", 1)
    basic = base64.b64encode(f"{oneweb['client_id']}:{oneweb['client_secret']}".encode()).decode()
    o_headers = {"Authorization": f"Basic {basic}"}
    o_url = oneweb["api_url"] + "/hello/v1/oneweb/world"
    for provider, url, headers in (("kognitive", k_url, k_headers), ("oneweb", o_url, o_headers)):
        _set(sim, provider=provider, account="1", mode="rate_limit", retry_after=7, count=1)
        refused = httpx.get(url, headers=headers, timeout=5)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "7"
        _set(sim, provider=provider, account="1", mode="revoked", count=1)
        assert httpx.get(url, headers=headers, timeout=5).status_code == 401
        _set(sim, provider=provider, account="1", mode="server_error", status=500, count=1)
        assert httpx.get(url, headers=headers, timeout=5).status_code == 500
        _set(sim, provider=provider, account="1", mode="reset", count=1)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url, headers=headers, timeout=5)
        _set(sim, provider=provider, account="1", mode="wrong_shape", count=1)
        shaped = httpx.get(url, headers=headers, timeout=5)
        assert shaped.status_code == 200 and isinstance(shaped.json(), list)
        assert httpx.get(url, headers=headers, timeout=5).status_code == 200
        for mode in ("expired_token", "behind"):  # no tokens, no stream: say so
            refused = httpx.post(sim.url + "/_sim/faults", json={"provider": provider, "account": "1", "mode": mode})
            assert refused.status_code == 400 and "does not exist for" in refused.json()["error"]


def test_faults_are_per_account_and_clear_by_count_time_or_delete(sim: Process, config: dict[str, Any]) -> None:
    first, second = _account(config, "starlink", 1), _account(config, "starlink", 2)
    h1 = {"Authorization": f"Bearer {_token(first)}"}
    h2 = {"Authorization": f"Bearer {_token(second)}"}
    number = httpx.get(sim.url + "/starlink/_sim/state", timeout=5).json()["accounts"][0]["accountNumber"]
    _set(sim, provider="starlink", account=number, mode="server_error")  # until cleared, by account number
    for _ in range(3):
        assert httpx.get(first["api_url"] + "/account", headers=h1, timeout=5).status_code == 503
    assert httpx.get(second["api_url"] + "/account", headers=h2, timeout=5).status_code == 200  # healthy
    listed = httpx.get(sim.url + "/_sim/faults", timeout=5).json()
    assert [(f["account"], f["mode"], f["hits"]) for f in listed["faults"]] == [(number, "server_error", 3)]
    assert httpx.delete(sim.url + "/_sim/faults", timeout=5).json()["removed"] >= 1
    assert httpx.get(first["api_url"] + "/account", headers=h1, timeout=5).status_code == 200
    _set(sim, provider="starlink", account=first["client_id"], mode="rate_limit", seconds=0.5)  # by client id
    assert httpx.get(first["api_url"] + "/account", headers=h1, timeout=5).status_code == 429
    time.sleep(0.6)
    assert httpx.get(first["api_url"] + "/account", headers=h1, timeout=5).status_code == 200
    _set(sim, provider="starlink", account="*", mode="server_error", endpoint="/service-lines", count=2)
    assert httpx.get(first["api_url"] + "/account", headers=h1, timeout=5).status_code == 200  # other endpoint
    assert httpx.get(first["api_url"] + "/service-lines", headers=h1, timeout=5).status_code == 503
    assert httpx.get(second["api_url"] + "/service-lines", headers=h2, timeout=5).status_code == 503
    assert httpx.get(second["api_url"] + "/service-lines", headers=h2, timeout=5).status_code == 200
    bad = [
        {"provider": "starlink", "account": "1", "mode": "explode"},
        {"provider": "iridium", "account": "1", "mode": "slow"},
        {"provider": "starlink", "account": "1", "mode": "slow", "count": 0},
        {"provider": "starlink", "account": "1", "mode": "server_error", "status": 404},
        {"provider": "starlink", "account": "1", "mode": "slow", "colour": "red"},
        {"provider": "starlink", "account": "ACC-nobody", "mode": "behind"},
        {"provider": "starlink", "mode": "slow"},
    ]
    for body in bad:
        response = httpx.post(sim.url + "/_sim/faults", json=body, timeout=5)
        assert response.status_code == 400 and response.json()["error"], body


def test_revoked_and_expired_tokens_at_the_starlink_token_endpoint(sim: Process, config: dict[str, Any]) -> None:
    account = _account(config, "starlink", 1)
    token = _token(account)
    headers = {"Authorization": f"Bearer {token}"}
    _set(sim, provider="starlink", account="1", mode="expired_token", ttl=0, count=1)
    expired = httpx.get(account["api_url"] + "/account", headers=headers, timeout=5)
    assert expired.status_code == 401 and "expired" in expired.text
    assert httpx.get(account["api_url"] + "/account", headers=headers, timeout=5).status_code == 401  # gone for good
    fresh = {"Authorization": f"Bearer {_token(account)}"}  # minting again once is the cure
    assert httpx.get(account["api_url"] + "/account", headers=fresh, timeout=5).status_code == 200
    _set(sim, provider="starlink", account="1", mode="revoked")
    assert httpx.get(account["api_url"] + "/account", headers=fresh, timeout=5).status_code == 401
    form = {"grant_type": "client_credentials", "client_id": account["client_id"]}
    refused = httpx.post(account["auth_url"], data={**form, "client_secret": account["client_secret"]}, timeout=5)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    _set(sim, provider="starlink", account="2", mode="server_error")  # other modes leave the token endpoint alone
    assert _token(_account(config, "starlink", 2))


def test_behind_makes_the_next_stream_calls_come_back_full(sim: Process, config: dict[str, Any]) -> None:
    account = _account(config, "starlink", 1)
    headers = {"Authorization": f"Bearer {_token(account)}"}
    body = {"batchSize": 5, "maxLingerMs": 0}
    url = account["api_url"] + "/telemetry/stream"
    for _ in range(200):  # drain to the present (bounded)
        if len(httpx.post(url, json=body, headers=headers, timeout=5).json()["data"]["values"]) < 5:
            break
    applied = _set(sim, provider="starlink", account="1", mode="behind", ticks=3)
    assert applied["applied"] == {"clients": 1, "ticks": 3}
    full = [len(httpx.post(url, json=body, headers=headers, timeout=5).json()["data"]["values"]) for _ in range(3)]
    assert full == [5, 5, 5]  # at least one tick again: 9 terminals and their routers
    assert httpx.get(sim.url + "/_sim/faults", timeout=5).json()["faults"] == []  # a one-off: nothing stays


@pytest.mark.parametrize(
    "spec",
    ["starlink:1", "kognitive:1:expired_token"],
)
def test_a_bad_fault_flag_exits_2(spec: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "simulator", "--web.listen-address", "127.0.0.1:0", "--fault", spec],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "--fault" in done.stderr


def test_kognitive_takes_its_own_faults_and_the_shared_ones_at_one_control(
    sim: Process, config: dict[str, Any]
) -> None:
    kognitive = _account(config, "kognitive", 1)
    headers = {"X-Auth-Key": kognitive["auth_key"]}
    url = kognitive["api_url"] + "/getAvailableProducts"
    own = httpx.post(sim.url + "/kognitive/_sim/faults", json={"endpoint": "*", "kind": "success_false"}, timeout=5)
    shared = httpx.post(sim.url + "/kognitive/_sim/faults", json={"account": "1", "mode": "malformed"}, timeout=5)
    assert own.status_code == shared.status_code == 200
    listed = httpx.get(sim.url + "/kognitive/_sim/faults", timeout=5).json()
    assert [f["kind"] for f in listed["kognitiveFaults"]] == ["success_false"]
    assert [f["mode"] for f in listed["faults"]] == ["malformed"]
    assert httpx.get(url, headers=headers, timeout=5).text.startswith("<html>")  # shared faults first
    assert httpx.delete(sim.url + "/kognitive/_sim/faults", timeout=5).json() == {"ok": True}
    assert httpx.get(url, headers=headers, timeout=5).json()["success"] is True


# ---- in process: the pure parts ------------------------------------------------------------------------


def test_spec_parsing_reshaping_and_windows() -> None:
    assert parse_spec("starlink:ACC-1:rate_limit:retry_after=5,count=10") == {
        "provider": "starlink",
        "account": "ACC-1",
        "mode": "rate_limit",
        "retry_after": 5,
        "count": 10,
    }
    assert parse_spec("oneweb:*:wrong_shape:shape=deep")["shape"] == "deep"
    with pytest.raises(FaultError):
        parse_spec("starlink::slow")
    assert reshape({"a": [1, 2]}, "top") == [{"a": [1, 2]}]
    assert reshape([1, 2, 3], "top") == {"count": 3}
    assert reshape({"a": [1, 2], "b": {"c": []}}, "deep") == {"a": {"count": 2}, "b": {"c": {"count": 0}}}
    assert max_in_window([0, 10, 59.9, 60, 61, 200]) == 4
    book = FaultBook(clock=lambda: 100.0)
    fault, _ = book.add("starlink", "*", "slow", count=2)
    assert book.find("starlink", ("ACC-1",), "/account") is fault
    assert book.find("starlink", ("ACC-1",), "token") is None  # the token endpoint only for revoked
    book.hit(fault)
    book.hit(fault)
    assert book.active() == []


# ---- churn ---------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _stream_ids(sim: StarlinkSimulator, pos: int) -> set[str]:
    client = sim._clients[sim.accounts[pos].client_id]
    ids: set[str] = set()
    while True:
        body = sim._read(client, 5000, allow_empty=True)
        assert body is not None
        data = orjson.loads(body)["data"]
        columns = data["columnNamesByDeviceType"]["u"]
        at = columns.index("DeviceId")
        rows = [row for row in data["values"] if row[0] == "u"]
        ids |= {row[at].removeprefix("ut") for row in rows}
        if len(data["values"]) < 5000:
            return ids


def test_churn_replaces_terminals_over_time_deterministically() -> None:
    clock = Clock()
    sim = StarlinkSimulator(2, 100, 5, clock=clock, row_interval=10, churn=0.05, churn_period=60, faults=FaultBook())
    twin = StarlinkSimulator(2, 100, 5, clock=clock, row_interval=10, churn=0.05, churn_period=60)
    plain = StarlinkSimulator(2, 100, 5, clock=clock, row_interval=10)
    number = sim.accounts[0].number
    start = sim.terminal_ids(number)
    assert start == plain.terminal_ids(number)  # before the first change, the fleet is the plain one
    offline = sim.offline_terminal_ids(number)
    assert offline and _stream_ids(sim, 0) == set(start) - offline
    clock.now += 130  # two changes: 2 x 5% of 50 terminals
    now = sim.terminal_ids(number)
    assert len(now) == 50 and now == twin.terminal_ids(number)
    gone, new = set(start) - set(now), set(now) - set(start)
    assert len(gone) == len(new) == 6
    state = sim.churn_state()
    assert set(state["accounts"][0]["departed"]) == gone and set(state["accounts"][0]["joined"]) == new
    streamed = _stream_ids(sim, 0)  # rows since the start: the departed ones until they left, the new ones since
    assert new <= streamed
    clock.now += 10
    assert _stream_ids(sim, 0) == set(now) - sim.offline_terminal_ids(number)  # the latest tick: today's fleet
    lines = set(sim.service_lines(number))
    owners = {t.service_line for t in sim.accounts[0].terminals if t.terminal_id in gone}
    assert not owners & lines  # a departed terminal takes its service line along
    sim.freeze_churn(True)
    clock.now += 600
    assert sim.terminal_ids(number) == now  # frozen: the end of a soak can be checked calmly
    sim.freeze_churn(False)
    assert sim.terminal_ids(number) != now


def test_churn_flag_serves_the_inventory_state(tmp_path: Path) -> None:
    args = ["simulator", "--accounts", "1", "--terminals", "40", "--churn", "0.1", "--churn-period", "1"]
    with run_module(args, tmp_path / "sim.log") as process:
        wait_for(process.url + "/", process)
        first = httpx.get(process.url + "/starlink/_sim/churn", timeout=5).json()
        assert first["enabled"] is True and first["perPeriod"] == [4]
        time.sleep(1.2)
        frozen = httpx.post(process.url + "/starlink/_sim/churn", json={"frozen": True}, timeout=5).json()
        assert frozen["frozen"] is True and frozen["epoch"] >= 1
        assert len(frozen["accounts"][0]["present"]) == 40 and len(frozen["accounts"][0]["departed"]) >= 4
