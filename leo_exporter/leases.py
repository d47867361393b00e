"""Shards as Kubernetes Leases: any number of replicas, each shard polled by whoever holds its lease.

The accounts are split into `total` shards by rendezvous hashing (leo_exporter/sharding.py), and
shard `i` is the `coordination.k8s.io/v1` Lease `leo-exporter-shard-<i>` in the pod's namespace.
The election is kubernetes_asyncio's (`LeaderElection` over a `LeaseLock`, the Kubernetes
project's asyncio client, a port of client-go's): a follower takes a lease that is free, released
or unchanged for a whole lease duration by its own clock; a leader renews every `retry_period`.

What this module adds around it is the one promise the exporter needs: never two readers of one
account. A shard's accounts are polled only between `on_gain` and `on_lose`, and `on_lose` runs
as soon as no renewal has succeeded for `renew_deadline` (counted from the start of the last
successful attempt, so a request that hangs counts against it), which is `lease_duration -
renew_deadline` before any other replica may take the lease (it counts the whole duration from
when it saw that renewal, which is later). A replica holds at most `max_held` leases, and on
SIGTERM stops polling and then releases every lease (holder emptied, as client-go's
ReleaseOnCancel does), so another replica takes it at its next retry instead of after expiry.

The identity is the pod's name: a worker the front restarts (the old one is gone by then) takes
its pod's leases straight back, as client-go lets a holder do.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from leo_exporter.sharding import weight

log = logging.getLogger("leo_exporter.leases")

LEASE_PREFIX = "leo-exporter-shard-"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
RELEASE_TIMEOUT = 2.0  # seconds SIGTERM waits for the releases (the front gives the worker 3)


class LeaseError(ValueError):
    """The lease settings are wrong, or kubernetes_asyncio is missing (a usage error: exit code 2)."""


def lease_name(shard: int) -> str:
    return f"{LEASE_PREFIX}{shard}"


# client-go's lease duration and renew deadline; a retry period of 1 s instead of its 2 s, so a
# released shard is taken within about a second of a SIGTERM (docs/deploy.md, measured there).
LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 1.0


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """How this replica takes part in the election (flags and LEO_SHARD_* / LEO_LEASE_* variables)."""

    total: int
    identity: str  # unique per replica: the pod name
    namespace: str
    max_held: int = 0  # 0: every shard
    lease_duration: float = LEASE_DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry_period: float = RETRY_PERIOD
    standby: bool = False  # a declared standby is ready without a shard
    kubeconfig: str | None = None  # else the pod's service account (in-cluster)

    @property
    def limit(self) -> int:
        return self.total if self.max_held <= 0 else min(self.max_held, self.total)

    def check(self) -> None:
        """The library's own rules, with a clear message instead of its ValueError or sys.exit."""
        if self.total < 1:
            raise LeaseError("shard total must be at least 1")
        if not self.identity:
            raise LeaseError("lease identity is empty: set POD_NAME")
        if not self.namespace:
            raise LeaseError("lease namespace is unknown: set POD_NAMESPACE")
        if self.retry_period < 1:
            raise LeaseError("lease retry period must be at least 1s")
        if self.renew_deadline <= 1.2 * self.retry_period:
            raise LeaseError("lease renew deadline must be more than 1.2 x the retry period")
        if not float(self.lease_duration).is_integer():
            raise LeaseError("lease duration must be whole seconds (a Lease's leaseDurationSeconds)")
        if self.lease_duration <= self.renew_deadline:
            raise LeaseError("lease duration must be longer than the renew deadline")


def default_namespace(env: dict[str, str]) -> str:
    """POD_NAMESPACE, else the namespace of the pod's service account, else empty."""
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    with contextlib.suppress(OSError), open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as file:
        return file.read().strip()
    return ""


@dataclass
class ShardLease:
    """One shard as this replica sees it: whether it leads it, and how often that changed."""

    shard: int
    leader: bool = False
    transitions: int = 0  # this replica's gains and losses of the lease
    renewed: float | None = None  # monotonic start of the last successful attempt


class ShardLeases:
    """Run one candidate per shard; call `on_gain(shard)` / `on_lose(shard)` around its polling."""

    def __init__(
        self,
        settings: LeaseSettings,
        on_gain: Callable[[int], Awaitable[None]],
        on_lose: Callable[[int], Awaitable[None]],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        settings.check()
        self.settings = settings
        self.on_gain = on_gain
        self.on_lose = on_lose
        self.on_change = on_change  # leadership changed: render again
        self.shards = [ShardLease(i) for i in range(settings.total)]
        self._taking = anyio.Lock()  # one acquisition at a time, so max_held holds
        self._api: Any = None
        self._scope: anyio.CancelScope | None = None
        self._done: anyio.Event | None = None

    @property
    def held(self) -> list[int]:
        return [s.shard for s in self.shards if s.leader]

    async def run(self) -> None:
        """Until cancelled; then stop polling every held shard and release its lease."""
        try:
            from kubernetes_asyncio.client import ApiClient, Configuration
        except ImportError:
            raise LeaseError("--shard.leases needs kubernetes_asyncio: pip install 'leo-exporter[ha]'") from None
        configuration = Configuration()
        await _load_credentials(configuration, self.settings.kubeconfig)
        self._done = anyio.Event()
        try:
            async with ApiClient(configuration) as api:
                self._api = api
                try:
                    with anyio.CancelScope() as self._scope:
                        async with anyio.create_task_group() as tg:
                            # Each replica tries the shards in its own order, so replicas started
                            # together spread over the shards instead of racing for shard 0.
                            for shard in _preference(self.settings.identity, self.settings.total):
                                tg.start_soon(self._candidate, shard)
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(RELEASE_TIMEOUT):
                        await self._release_all()
        finally:
            self._done.set()

    async def stop(self) -> None:
        """Stop polling every shard and release the leases, first thing on SIGTERM (bounded)."""
        if self._scope is None or self._done is None:
            return
        self._scope.cancel()
        with anyio.move_on_after(RELEASE_TIMEOUT + 0.5):
            await self._done.wait()

    async def _candidate(self, shard: int) -> None:
        from kubernetes_asyncio.leaderelection.electionconfig import Config

        settings = self.settings
        state = self.shards[shard]
        lock = _Lock(lease_name(shard), settings.namespace, settings.identity, self._api)
        election = _Election(
            Config(lock, int(settings.lease_duration), settings.renew_deadline, settings.retry_period, _idle, _idle),
            state,
            request_timeout=settings.renew_deadline,
        )
        while True:
            taken = False
            async with self._taking:
                if len(self.held) < settings.limit:
                    taken = await election.try_acquire_or_renew()
                    if taken:
                        self._set(state, True)
            if not taken:
                await anyio.sleep(settings.retry_period)
                continue
            log.info("leading shard %d (lease %s): polling its accounts", shard, lock.name)
            try:
                await self.on_gain(shard)
                await self._lead(election, state)
            finally:
                with anyio.CancelScope(shield=True):
                    await self.on_lose(shard)  # polling stopped before the lease can be another's
                    self._set(state, False)
            log.warning("lost shard %d: could not renew lease %s within %gs", shard, lock.name, settings.renew_deadline)
            election.observed_record = None  # start over as a follower, waiting a whole lease duration
            await anyio.sleep(settings.retry_period)

    async def _lead(self, election: Any, state: ShardLease) -> None:
        """Return once the lease may be lost: the library's renew loop gave up, or no renewal
        succeeded within the renew deadline (a hanging request does not hold this up)."""
        deadline = self.settings.renew_deadline
        async with anyio.create_task_group() as tg:

            async def renew() -> None:
                await election.renew_loop()
                tg.cancel_scope.cancel()

            tg.start_soon(renew)
            while True:  # the watchdog: polls a monotonic clock, there is no event to wait for
                if state.renewed is None or time.monotonic() - state.renewed >= deadline:
                    tg.cancel_scope.cancel()
                    return
                await anyio.sleep(min(0.2, deadline / 10))

    def _set(self, state: ShardLease, leader: bool) -> None:
        if state.leader != leader:
            state.leader = leader
            state.transitions += 1
            if not leader:
                state.renewed = None
            self.on_change()

    async def _release_all(self) -> None:
        """Release the leases this replica still names as holder (after polling stopped)."""
        from kubernetes_asyncio.client import CoordinationV1Api
        from kubernetes_asyncio.client.exceptions import ApiException

        api = CoordinationV1Api(self._api)
        for shard in (s.shard for s in self.shards if s.transitions):  # the leases it ever held
            name = lease_name(shard)
            try:
                lease = await api.read_namespaced_lease(name, self.settings.namespace)
                if lease.spec is None or lease.spec.holder_identity != self.settings.identity:
                    continue
                lease.spec.holder_identity = None  # type: ignore[assignment]  # released: no holder
                lease.spec.lease_duration_seconds = 1
                lease.spec.renew_time = _now()
                await api.replace_namespaced_lease(name, self.settings.namespace, lease)
                log.info("released lease %s", name)
            except (ApiException, OSError) as exc:  # 409: taken meanwhile; anything else: it expires
                log.warning("could not release lease %s: %s", name, getattr(exc, "reason", exc))


async def _idle() -> None:
    """The library's start/stop callbacks: the candidate loop above does that work."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _preference(identity: str, total: int) -> list[int]:
    """This replica's order of the shards: rendezvous weights of its identity, stable everywhere."""
    return sorted(range(total), key=lambda shard: -weight(identity, shard))


async def _load_credentials(configuration: Any, kubeconfig: str | None) -> None:
    """A kubeconfig file when given (KUBECONFIG), else the pod's service account."""
    from kubernetes_asyncio import config

    if kubeconfig:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)


@functools.cache
def _classes() -> tuple[type, type]:
    """LeaderElection and LeaseLock with what this module needs (kubernetes_asyncio is optional)."""
    from kubernetes_asyncio.leaderelection.leaderelection import LeaderElection
    from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

    class Election(LeaderElection):
        """Times each attempt (the watchdog counts from its start) and bounds one that hangs."""

        def __init__(self, config: Any, state: ShardLease, request_timeout: float) -> None:
            super().__init__(config)
            self.state = state
            self.request_timeout = request_timeout

        async def try_acquire_or_renew(self) -> bool:
            started = time.monotonic()
            ok = False
            with anyio.move_on_after(self.request_timeout):
                ok = bool(await super().try_acquire_or_renew())
            if ok:
                self.state.renewed = started
            return ok

    class Lock(LeaseLock):
        """Counts `leaseTransitions` on every acquisition by a new holder (also after a release), as
        client-go does; the API server leaves that count to its clients."""

        async def update(self, name: str, namespace: str, updated_record: Any) -> bool:
            spec = self.lease_reference.spec if self.lease_reference is not None else None
            if spec is not None and spec.holder_identity != updated_record.holder_identity:
                spec.lease_transitions = (spec.lease_transitions or 0) + 1
            return bool(await super().update(name, namespace, updated_record))

    return Election, Lock


def _Election(config: Any, state: ShardLease, request_timeout: float) -> Any:
    return _classes()[0](config, state, request_timeout)


def _Lock(name: str, namespace: str, identity: str, api: Any) -> Any:
    return _classes()[1](name, namespace, identity, api)
