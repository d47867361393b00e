"""HA by lease with real processes: three replicas, four shards, the Lease double as the API and the
simulator counting who reads each account's telemetry stream. A SIGKILLed leader's shards come
back on another replica after the lease expires, a SIGTERMed one's at once, and a replica cut off
from the API stops polling before its leases can be taken. At no moment do two replicas read one
account's stream. Bounds here are generous (correctness, not speed): bench/ha_failover.py measures."""

from __future__ import annotations

import httpx
import pytest

from tests.ha_cluster import SHARDS, cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_failover_by_sigkill_sigterm_and_partition_with_one_reader_per_account(tmp_path) -> None:
    with cluster(tmp_path) as c:
        for name in ("replica-a", "replica-b", "replica-c"):
            c.start(name)
        c.wait(c.all_led, 120, "every shard led and served")
        held = {r: [s for s in range(SHARDS) if c.leader(s) == r] for r in c.replicas}
        assert all(len(shards) <= 2 for shards in held.values()), held  # --shard.max-per-replica 2
        # the status page and its API say which shards a replica leads
        first = c.replicas[c.leader(0)]
        led = ", ".join(map(str, held[first.name]))
        assert f"Leading shards {led} of {SHARDS} by lease" in httpx.get(first.url + "/", timeout=10).text
        api = httpx.get(first.url + "/api/status", timeout=10).json()
        assert api["shard"] == {"total": SHARDS, "leading": held[first.name]}, api

        # SIGKILL the leader of shard 0 (front and worker): its leases expire, then others take them
        victim = c.replicas[c.leader(0)]
        lost = held[victim.name]
        victim.kill()
        back = c.wait(lambda: all(c.leader(s) not in ("", victim.name) for s in lost), 30, "leases taken over")
        back = c.wait(c.all_led, 30, "the killed leader's shards served again")
        assert back < 30
        c.start("replica-d")  # Kubernetes replaces the pod: a standby until a lease is free

        # SIGTERM a leader: it stops polling, releases its leases, replica-d takes them at once
        leaving = next(r for r in c.replicas.values() if r.alive and r.name != "replica-d" and c.leader(0) == r.name)
        handed = [s for s in range(SHARDS) if c.leader(s) == leaving.name]
        c.wait(lambda: "shard leases: " in _verbose(c.replicas["replica-d"].url), 60, "replica-d running")
        leaving.terminate()
        c.wait(lambda: all(c.leader(s) not in ("", leaving.name) for s in handed), 20, "released leases taken")
        c.wait(c.all_led, 30, "the terminated leader's shards served again")
        assert leaving.popen.wait(10) == 0
        assert "released lease" in leaving.log()
        c.start("replica-e")
        c.wait(lambda: "shard leases: " in _verbose(c.replicas["replica-e"].url), 60, "replica-e running")

        # Partition a leader from the API: it stops polling and serving its shards on its own, and
        # only then (a lease duration after its last renewal) does another replica take them
        cut = next(c.replicas[c.leader(s)] for s in range(SHARDS) if c.leader(s))
        its = [s for s in range(SHARDS) if c.leader(s) == cut.name]
        c.double.partitioned.add(cut.name)
        c.wait(lambda: all(c.stopped_serving(cut, s) for s in its), 30, "the cut-off replica stops")
        c.wait(lambda: all(c.leader(s) not in ("", cut.name) for s in its), 30, "its leases taken over")
        c.wait(c.all_led, 30, "its shards served by another replica")
        assert "could not renew lease" in cut.log()
        c.double.partitioned.clear()

        # one reader at a time, all along; and the stream did change hands
        readers = c.readers()
        assert c.overlaps() == 0, readers
        assert sum(r["handovers"] for r in readers.values()) >= 3, readers


def _verbose(url: str) -> str:
    try:
        return httpx.get(f"{url}/readyz?verbose", timeout=5).text
    except httpx.HTTPError:
        return ""
