"""A small "cluster" on loopback for the HA tests and bench/ha_failover.py: the simulator, the Lease
double, and exporter replicas with --shard.leases, each its own process group (a pod)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from leo_exporter.leases import lease_name
from leo_exporter.sharding import account_key, owner
from tests.conftest import free_port
from tests.lease_double import LeaseDouble, serve
from tests.processes import ROOT, run_module, samples_by_name, starlink_config, wait_for

SHARDS = 4
# Short leases, so a test takes seconds; the ratios are client-go's (15 s, 10 s, 2 s).
TIMING = {"LEO_SHARD_LEASE_DURATION": "5", "LEO_SHARD_RENEW_DEADLINE": "3", "LEO_SHARD_RETRY_PERIOD": "1"}


@dataclass
class Replica:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def scrape(self) -> dict[str, list[Any]]:
        try:
            return samples_by_name(httpx.get(f"{self.url}/metrics", timeout=5).text)
        except httpx.HTTPError:
            return {}

    def kill(self) -> None:
        """SIGKILL the whole pod (front and worker), as a node failure or the OOM killer would."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self) -> None:
        """SIGTERM to the front, as the kubelet sends it to the container's first process."""
        self.popen.send_signal(signal.SIGTERM)


@dataclass
class Cluster:
    tmp: Path
    double: LeaseDouble
    double_url: str
    sim_url: str
    config_path: Path
    accounts: dict[str, int]  # account name -> shard
    numbers: dict[str, str]  # account name -> Starlink account number
    replicas: dict[str, Replica] = field(default_factory=dict)
    stack: ExitStack = field(default_factory=ExitStack)

    def start(self, name: str, max_held: int = 2) -> Replica:
        token = f"token-{name}"
        self.double.tokens[token] = name
        kubeconfig = self.double.kubeconfig(self.tmp / f"{name}.kubeconfig", self.double_url, token)
        port = free_port()
        env = {
            **os.environ,
            **TIMING,
            "KUBECONFIG": str(kubeconfig),
            "POD_NAME": name,
            "POD_NAMESPACE": "leo",
            "LEO_SHARD_LEASES": "true",
            "LEO_SHARD_TOTAL": str(SHARDS),
            "LEO_SHARD_MAX_PER_REPLICA": str(max_held),
            "LEO_SHARD_STANDBY": "true",
        }
        log_path = self.tmp / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "leo_exporter", "--config.file", str(self.config_path),
                 "--web.listen-address", f"127.0.0.1:{port}"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        replica = Replica(name, popen, f"http://127.0.0.1:{port}", log_path)
        self.replicas[name] = replica
        self.stack.callback(_stop, replica)
        return replica

    def shard_accounts(self, shard: int) -> list[str]:
        return sorted(name for name, s in self.accounts.items() if s == shard)

    def leader(self, shard: int) -> str:
        return self.double.holder(lease_name(shard))

    def serves(self, replica: Replica, shard: int) -> bool:
        """The replica leads the shard and its /metrics has the shard's accounts' telemetry."""
        families = replica.scrape()
        leads = any(
            s.labels["shard"] == str(shard) and s.value == 1 for s in families.get("leo_exporter_shard_leader", [])
        )
        seen = {s.labels["account"] for s in families.get("leo_terminal_last_seen_timestamp_seconds", [])}
        return leads and set(self.shard_accounts(shard)) <= seen

    def stopped_serving(self, replica: Replica, shard: int) -> bool:
        families = replica.scrape()
        if not families:
            return False
        leads = any(
            s.labels["shard"] == str(shard) and s.value == 1 for s in families.get("leo_exporter_shard_leader", [])
        )
        seen = {s.labels["account"] for s in families.get("leo_terminal_last_seen_timestamp_seconds", [])}
        return not leads and not (set(self.shard_accounts(shard)) & seen)

    def readers(self) -> dict[str, dict[str, int]]:
        return httpx.get(f"{self.sim_url}/starlink/_sim/readers", timeout=10).json()

    def overlaps(self) -> int:
        """Reads of a stream by an earlier reader after a later one began: two readers at once."""
        return sum(r["overlaps"] for r in self.readers().values())

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Seconds until `condition` holds (checked every 0.1 s); fails with the replicas' logs."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                logs = "\n".join(f"--- {r.name}\n{r.log()[-2500:]}" for r in self.replicas.values())
                raise AssertionError(f"not within {timeout}s: {what}\n{logs}")
            time.sleep(0.1)
        return time.monotonic() - started

    def all_led(self) -> bool:
        for shard in range(SHARDS):
            holder = self.replicas.get(self.leader(shard))
            if holder is None or not holder.alive or not self.serves(holder, shard):
                return False
        return True


def _stop(replica: Replica) -> None:
    if replica.alive:
        replica.popen.send_signal(signal.SIGTERM)
        try:
            replica.popen.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(replica.popen.pid, signal.SIGKILL)
            replica.popen.wait(5)


@contextmanager
def cluster(tmp: Path, accounts: int = 9) -> Iterator[Cluster]:
    """The simulator (Starlink accounts only, a telemetry row every second) and the Lease double."""
    sim_args = ["simulator", "--accounts", str(accounts), "--terminals", str(2 * accounts), "--seed", "3",
                "--row-interval", "1"]  # fmt: skip
    with run_module(sim_args, tmp / "sim.log") as sim:
        wait_for(f"{sim.url}/starlink/_sim/state", sim)
        path = tmp / "config.yml"
        config = starlink_config(sim.url, path, telemetry={"max_linger": "1s"})
        shards = {a["name"]: owner(account_key("starlink", a["name"]), SHARDS) for a in config["accounts"]}
        numbers = {a["name"]: a.get("account_number", "") for a in config["accounts"]}
        double = LeaseDouble({})
        with serve(double) as url:
            found = Cluster(tmp, double, url, sim.url, path, shards, numbers)
            with found.stack:
                yield found
