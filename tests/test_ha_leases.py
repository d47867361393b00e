"""Shards as Kubernetes Leases (leo_exporter/leases.py): the Lease double held to the official
client's model, and the real kubernetes_asyncio leader election driven against it in-process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from leo_exporter.app import Exporter
from leo_exporter.cli import _lease_settings, build_parser
from leo_exporter.config import Config
from leo_exporter.leases import LeaseError, LeaseSettings, ShardLeases, lease_name
from leo_exporter.serving import in_process
from tests.lease_double import LEASE_FIELDS, SPEC_FIELDS, LeaseDouble, serve
from tests.processes import samples_by_name

pytestmark = pytest.mark.anyio
TOKENS = {"token-a": "replica-a", "token-b": "replica-b", "token-c": "replica-c"}
FAST = {"lease_duration": 4.0, "renew_deadline": 2.5, "retry_period": 1.0}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # kubernetes_asyncio is asyncio's


@pytest.fixture
def double(tmp_path: Path):
    lease_double = LeaseDouble(dict(TOKENS))
    with serve(lease_double) as url:
        lease_double.url = url  # type: ignore[attr-defined]
        for token, name in TOKENS.items():
            lease_double.kubeconfig(tmp_path / f"{name}.kubeconfig", url, token)
        yield lease_double


@asynccontextmanager
async def api_as(double: LeaseDouble, tmp_path: Path, who: str) -> AsyncIterator[client.CoordinationV1Api]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(tmp_path / f"{who}.kubeconfig"), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield client.CoordinationV1Api(api)


def new_lease(name: str, holder: str) -> client.V1Lease:
    spec = client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15, lease_transitions=0)
    return client.V1Lease(metadata=client.V1ObjectMeta(name=name), spec=spec)


# --------------------------------------------------------------------------- the double is faithful


def test_the_double_knows_the_lease_schema_of_the_official_client() -> None:
    assert set(client.V1Lease.attribute_map.values()) == LEASE_FIELDS
    assert set(client.V1LeaseSpec.attribute_map.values()) == SPEC_FIELDS


async def test_create_read_and_optimistic_concurrency_as_the_api_server(double: LeaseDouble, tmp_path: Path) -> None:
    async with api_as(double, tmp_path, "replica-a") as a, api_as(double, tmp_path, "replica-b") as b:
        with pytest.raises(ApiException) as missing:
            await a.read_namespaced_lease("x", "leo")
        assert missing.value.status == 404 and '"code":404' in missing.value.body.replace(" ", "")
        created = await a.create_namespaced_lease("leo", new_lease("x", "replica-a"))
        assert isinstance(created, client.V1Lease) and created.metadata.resource_version
        with pytest.raises(ApiException) as again:
            await b.create_namespaced_lease("leo", new_lease("x", "replica-b"))
        assert again.value.status == 409

        # both read the same version; the first write wins, the second is a 409 Conflict
        seen_a, seen_b = await a.read_namespaced_lease("x", "leo"), await b.read_namespaced_lease("x", "leo")
        seen_a.spec.renew_time = "2026-12-05T12:00:00.5Z"
        seen_b.spec.holder_identity = "replica-b"
        seen_b.spec.renew_time = "2026-12-05T12:00:01Z"
        written = await a.replace_namespaced_lease("x", "leo", seen_a)
        assert written.metadata.resource_version != seen_a.metadata.resource_version
        with pytest.raises(ApiException) as conflict:
            await b.replace_namespaced_lease("x", "leo", seen_b)
        assert conflict.value.status == 409 and "the object has been modified" in conflict.value.body

        # the fields the election reads come back typed by the official model
        lease = await b.read_namespaced_lease("x", "leo")
        assert lease.spec.holder_identity == "replica-a"
        assert lease.spec.renew_time.isoformat() == "2026-12-05T12:00:00.500000+00:00"
        assert (lease.spec.lease_duration_seconds, lease.spec.lease_transitions) == (15, 0)

        # no resourceVersion: Leases allow no unconditional update
        lease.metadata.resource_version = None
        with pytest.raises(ApiException) as unconditional:
            await b.replace_namespaced_lease("x", "leo", lease)
        assert unconditional.value.status == 422
        listed = await b.list_namespaced_lease("leo")
        assert [item.metadata.name for item in listed.items] == ["x"]


# --------------------------------------------------------------------------- the election, in-process


class Replica:
    """ShardLeases with callbacks that log when polling starts and stops for each shard."""

    def __init__(self, name: str, tmp_path: Path, total: int, max_held: int = 0) -> None:
        self.name = name
        self.events: list[tuple[float, str, int]] = []
        settings = LeaseSettings(
            total=total,
            identity=name,
            namespace="leo",
            max_held=max_held,
            kubeconfig=str(tmp_path / f"{name}.kubeconfig"),
            **FAST,
        )
        self.leases = ShardLeases(settings, self._gain, self._lose)
        self.scope = anyio.CancelScope()

    async def _gain(self, shard: int) -> None:
        self.events.append((time.monotonic(), "gain", shard))

    async def _lose(self, shard: int) -> None:
        self.events.append((time.monotonic(), "lose", shard))

    async def run(self) -> None:
        with self.scope:
            await self.leases.run()


async def wait_until(condition, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Check `condition` every 50 ms (it reads state other tasks change: there is no event)."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.05)


def polling(replicas: list[Replica], shard: int, at: float) -> list[str]:
    """Which replicas were polling `shard` at monotonic time `at`, from their gain/lose logs."""
    who = []
    for replica in replicas:
        on = False
        for when, what, s in replica.events:
            if s == shard and when <= at:
                on = what == "gain"
        if on:
            who.append(replica.name)
    return who


def never_two(replicas: list[Replica], total: int) -> None:
    moments = sorted(when for r in replicas for when, _, _ in r.events)
    for shard in range(total):
        for moment in moments:
            assert len(polling(replicas, shard, moment)) <= 1, (shard, [r.events for r in replicas])


async def test_every_shard_gets_one_leader_up_to_the_maximum_and_sigterm_hands_over(
    double: LeaseDouble, tmp_path: Path
) -> None:
    replicas = [Replica("replica-a", tmp_path, 4, max_held=2), Replica("replica-b", tmp_path, 4, max_held=2)]
    async with anyio.create_task_group() as tg:
        for replica in replicas:
            tg.start_soon(replica.run)
        await wait_until(lambda: all(double.holder(lease_name(i)) for i in range(4)))
        await wait_until(lambda: sum(len(r.leases.held) for r in replicas) == 4)
        assert [len(r.leases.held) for r in replicas] == [2, 2]
        a = replicas[0]
        held_by_a = a.leases.held
        # SIGTERM: a's polling stops, then its leases are released (holder emptied) ...
        a.scope.cancel()
        await wait_until(lambda: all(double.holder(lease_name(i)) != "replica-a" for i in held_by_a), 10)
        # ... and b takes them? No: b is at its maximum. A third replica takes them at its next retry.
        c = Replica("replica-c", tmp_path, 4, max_held=2)
        replicas.append(c)
        released = time.monotonic()
        tg.start_soon(c.run)
        await wait_until(lambda: sorted(c.leases.held) == sorted(held_by_a), 15)
        # released leases need no expiry: taken well before a lease duration would have run out
        assert time.monotonic() - released < 15
        never_two(replicas, 4)
        tg.cancel_scope.cancel()
    transitions = [s.transitions for s in a.leases.shards if s.shard in held_by_a]
    assert transitions == [2, 2]  # gained once, lost once
    leases = {name: lease for (_, name), lease in double.leases.items()}
    assert all(leases[lease_name(i)]["spec"].get("leaseTransitions", 0) >= 1 for i in held_by_a)


async def test_a_partitioned_leader_stops_polling_before_its_lease_expires(double: LeaseDouble, tmp_path: Path) -> None:
    a, b = Replica("replica-a", tmp_path, 1), Replica("replica-b", tmp_path, 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await wait_until(lambda: a.leases.held == [0])
        tg.start_soon(b.run)
        await wait_until(lambda: double.requests.get("replica-b", 0) >= 2)  # b follows
        double.partitioned.add("replica-a")  # a's requests now go unanswered
        await wait_until(lambda: b.leases.held == [0], 30)
        double.partitioned.clear()
        tg.cancel_scope.cancel()
    lost = next(when for when, what, _ in a.events if what == "lose")
    gained = next(when for when, what, _ in b.events if what == "gain")
    assert lost < gained
    # a stopped within the renew deadline (plus a watchdog tick) of its last good renewal; b could
    # not take the lease before a whole lease duration after seeing that renewal
    last_renewal = max(c.at for c in double.changes if c.client == "replica-a")
    assert gained - lost > FAST["lease_duration"] - FAST["renew_deadline"] - 1.0, (lost, gained, last_renewal)
    never_two([a, b], 1)


# --------------------------------------------------------------------------- what a user sees


def settings_for(total: int, standby: bool) -> LeaseSettings:
    return LeaseSettings(total=total, identity="p", namespace="leo", standby=standby)


@pytest.mark.parametrize("standby", [False, True])
async def test_ready_with_a_shard_or_as_a_declared_standby(standby: bool) -> None:
    exporter = Exporter(Config.model_validate({"shard": {"total": 2}}), leases=settings_for(2, standby))
    await exporter.render_now()
    if standby:
        assert exporter.not_ready() == []
    else:
        [waiting] = exporter.not_ready()
        assert waiting.startswith("a shard lease")
    assert exporter.leases_summary() == "leading shards none of 2 by lease" + (" (standby)" if standby else "")
    # holding a shard makes any replica ready
    assert exporter.leases is not None
    exporter.leases.shards[1].leader = True
    assert exporter.not_ready() == []
    assert exporter.leases_summary().startswith("leading shards 1 of 2")


async def test_the_exposition_has_a_leader_gauge_per_shard_and_no_shard_info() -> None:
    exporter = Exporter(Config.model_validate({"shard": {"total": 3}}), leases=settings_for(3, True))
    assert exporter.leases is not None
    exporter.leases._set(exporter.leases.shards[2], True)  # what a gained lease does
    families = samples_by_name(await exposition_text(exporter))
    leader = {s.labels["shard"]: s.value for s in families["leo_exporter_shard_leader"]}
    assert leader == {"0": 0.0, "1": 0.0, "2": 1.0}
    transitions = {s.labels["shard"]: s.value for s in families["leo_exporter_shard_transitions_total"]}
    assert transitions == {"0": 0.0, "1": 0.0, "2": 1.0}
    assert "leo_exporter_shard_info" not in families


async def exposition_text(exporter: Exporter) -> str:
    async with in_process(exporter) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as http:
            await exporter.render_now()
            return (await http.get("/metrics")).text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEO_SHARD_LEASES": "true", "LEO_SHARD_INDEX": "1"}, "takes no shard index"),
        ({"LEO_SHARD_LEASES": "true", "LEO_SHARD_LEASE_DURATION": "5", "LEO_SHARD_RENEW_DEADLINE": "6"}, "longer"),
        ({"LEO_SHARD_LEASES": "true", "LEO_SHARD_LEASE_DURATION": "15.5"}, "whole seconds"),
        ({"LEO_SHARD_LEASES": "true", "LEO_SHARD_RETRY_PERIOD": "soon"}, "number of seconds"),
    ],
)
def test_bad_lease_settings_are_one_clear_error(env: dict[str, str], message: str) -> None:
    args = build_parser().parse_args([])
    with pytest.raises(LeaseError, match=message):
        _lease_settings(Config.model_validate({"shard": {"total": 2}}), args, {"POD_NAMESPACE": "leo", **env})
