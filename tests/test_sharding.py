"""Sharding: rendezvous hashing of accounts over replicas, where the shard comes from, and what a
sharded exporter serves."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
import yaml

from leo_exporter.app import Exporter
from leo_exporter.providers import parse_config
from leo_exporter.sharding import ShardError, account_key, ordinal, owned, owner, resolve
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW, render
from tests.inprocess import SIM_URL, poll_all
from tests.processes import ROOT, run_module, scrape, wait_for

PROVIDERS = ("starlink", "kognitive", "oneweb")
KEYS = [account_key(PROVIDERS[i % 3], f"fleet-{i:04d}") for i in range(3000)]


# --------------------------------------------------------------------------- the hash


@pytest.mark.parametrize("total", range(1, 9))
def test_every_account_lands_in_exactly_one_shard(total: int) -> None:
    accounts = [SimpleNamespace(provider=k.split("/")[0], name=k.split("/")[1]) for k in KEYS]
    shards = [owned(accounts, index, total) for index in range(total)]
    seen = [id(a) for shard in shards for a in shard]
    assert len(seen) == len(set(seen)) == len(accounts)
    # and about evenly: every shard within 15% of its fair share
    for shard in shards:
        assert abs(len(shard) - len(accounts) / total) < 0.15 * len(accounts) / total, [len(s) for s in shards]


@pytest.mark.parametrize("total", range(1, 8))
def test_adding_a_shard_moves_about_one_in_n_plus_one_accounts_and_only_to_the_new_shard(total: int) -> None:
    before = {k: owner(k, total) for k in KEYS}
    after = {k: owner(k, total + 1) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == total for k in moved), "an account moved between two old shards"
    fraction = len(moved) / len(KEYS)
    expected = 1 / (total + 1)
    # 3000 accounts: the binomial standard deviation is below 0.01; 0.03 is over 3 of them.
    assert abs(fraction - expected) < 0.03, (fraction, expected)


def test_removing_a_shard_moves_only_that_shards_accounts() -> None:
    before = {k: owner(k, 5) for k in KEYS}
    after = {k: owner(k, 4) for k in KEYS}
    assert {k for k in KEYS if before[k] != after[k]} == {k for k in KEYS if before[k] == 4}


def test_the_hash_does_not_depend_on_the_process() -> None:
    """Python's own hash() is salted per process; every replica and restart must agree."""
    expected = [owner(k, 4) for k in KEYS[:40]]
    code = f"from leo_exporter.sharding import owner\nprint([owner(k, 4) for k in {KEYS[:40]!r}])"
    for seed in ("0", "1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert out.strip() == str(expected)


def test_known_assignments_do_not_change() -> None:
    """Pinned outputs of the shipped algorithm. A change here reshuffles every sharded
    installation on upgrade: don't, or call it out in the release notes."""
    assert [owner(f"starlink/fleet-{i}", 3) for i in range(8)] == PINNED_3
    assert [owner(f"oneweb/site-{i}", 5) for i in range(8)] == PINNED_5


PINNED_3 = [1, 1, 1, 2, 0, 0, 0, 2]
PINNED_5 = [4, 2, 0, 0, 0, 1, 4, 4]


# --------------------------------------------------------------------------- where the shard comes from


def test_statefulset_ordinal_from_the_host_name() -> None:
    assert ordinal("leo-exporter-0") == 0
    assert ordinal("leo-exporter-12") == 12
    assert ordinal("leo-exporter-3.leo-exporter.monitoring.svc.cluster.local") == 3
    with pytest.raises(ShardError, match="does not end in -<number>"):
        ordinal("leo-exporter-7d9c6b5f4-x2x8z")
    with pytest.raises(ShardError):
        ordinal("exporter")


def test_precedence_flags_then_environment_then_config_then_default() -> None:
    assert resolve() == resolve(env={}) and (resolve().index, resolve().total, resolve().source) == (0, 1, "default")
    assert (resolve(config_index=1, config_total=3).index, resolve(config_index=1, config_total=3).total) == (1, 3)
    env = {"LEO_SHARD_INDEX": "2", "LEO_SHARD_TOTAL": "4"}
    got = resolve(env=env, config_index=1, config_total=3)
    assert (got.index, got.total, got.source) == (2, 4, "environment")
    got = resolve(flag_index=0, flag_total=2, env=env, config_index=1, config_total=3)
    assert (got.index, got.total, got.source) == (0, 2, "flag")
    # index and total resolve separately: total from the environment, index from a flag
    got = resolve(flag_index=3, env=env)
    assert (got.index, got.total) == (3, 4)


def test_index_from_hostname_with_the_total_from_the_environment() -> None:
    env = {"LEO_SHARD_FROM_HOSTNAME": "true", "LEO_SHARD_TOTAL": "3", "HOSTNAME": "leo-exporter-2"}
    got = resolve(env=env)
    assert (got.index, got.total, got.source) == (2, 3, "host name")
    got = resolve(flag_from_hostname=True, flag_total=5, hostname="leo-exporter-4")
    assert (got.index, got.total) == (4, 5)
    # a flag index beats the environment's "from hostname"
    assert resolve(flag_index=1, env=env).index == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flag_index": 3, "flag_total": 3}, "not below the shard total 3"),
        ({"flag_index": 0, "flag_total": 0}, "at least 1"),
        ({"flag_index": 0, "flag_from_hostname": True, "hostname": "x-0"}, "not both"),
        ({"env": {"LEO_SHARD_INDEX": "1", "LEO_SHARD_FROM_HOSTNAME": "1"}}, "not both"),
        ({"env": {"LEO_SHARD_INDEX": "one"}}, "whole number"),
        ({"env": {"LEO_SHARD_FROM_HOSTNAME": "maybe"}}, "true or false"),
        ({"flag_from_hostname": True, "flag_total": 2, "hostname": "leo-exporter-2"}, "more StatefulSet replicas"),
        ({"flag_from_hostname": True, "hostname": "laptop"}, "does not end in"),
    ],
)
def test_bad_shard_settings_are_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ShardError, match=message):
        resolve(**kwargs)


# --------------------------------------------------------------------------- a sharded exporter


def _sharded(index: int, total: int, accounts: int = 4) -> Exporter:
    app = build_app(accounts=accounts, terminals=24, now=SIMULATED_NOW)
    data = demo_config(SIM_URL, app)
    for account in data["accounts"]:
        if account["provider"] == "starlink":
            account["telemetry"] = {"max_linger": "0s"}
    data["shard"] = {"index": index, "total": total}
    return Exporter(parse_config(data), transport=httpx.ASGITransport(app=app))


@pytest.mark.anyio
async def test_each_replica_polls_only_its_accounts_and_says_which_shard_it_is() -> None:
    total = 3
    polled: list[str] = []
    for index in range(total):
        exporter = _sharded(index, total)
        names = [a.name for a in exporter.config.accounts]
        mine = {a.state.name for a in exporter.accounts}
        assert mine == {n for n in names if owner(account_key(*_provider_name(exporter, n)), total) == index}
        assert {job.account.name for job in exporter.state.jobs} == mine
        polled.extend(mine)
        await poll_all(exporter)
        assert exporter.exposition is not None
        text = exporter.exposition.plain.decode()
        assert f'leo_exporter_shard_info{{index="{index}",total="{total}"}} 1.0\n' in text
        assert "leo_exporter_build_info" in text
    assert sorted(polled) == sorted(a.name for a in _sharded(0, 1).config.accounts)


def _provider_name(exporter: Exporter, name: str) -> tuple[str, str]:
    account = next(a for a in exporter.config.accounts if a.name == name)
    return account.provider, account.name


@pytest.mark.anyio
async def test_a_shard_without_accounts_still_serves_its_own_metrics_and_is_ready() -> None:
    # 8 shards over a handful of accounts: find a shard that owns none
    exporter0 = _sharded(0, 8, accounts=1)
    owners = {owner(account_key(a.provider, a.name), 8) for a in exporter0.config.accounts}
    empty = min(set(range(8)) - owners)
    exporter = _sharded(empty, 8, accounts=1)
    assert exporter.accounts == [] and exporter.state.jobs == []
    await exporter.render_now()
    assert exporter.not_ready() == [] and exporter.first_runs_pending() == []
    text = exporter.exposition.plain.decode() if exporter.exposition else ""
    assert f'leo_exporter_shard_info{{index="{empty}",total="8"}} 1.0' in text
    assert "leo_terminal_" not in text


def test_unsharded_exporter_says_0_of_1(tmp_path) -> None:
    from leo_exporter.state import FleetState

    text = render(FleetState()).plain.decode()
    assert 'leo_exporter_shard_info{index="0",total="1"} 1.0\n' in text


# --------------------------------------------------------------------------- processes


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_three_replicas_split_the_accounts_between_them(tmp_path) -> None:
    """The way Kubernetes runs it: the same config, each replica its shard from a flag, the
    environment, or a StatefulSet pod name."""
    sim_args = ["simulator", "--accounts", "3", "--terminals", "24", "--seed", "3"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/starlink/_sim/state", sim)
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        for account in config["accounts"]:
            if account["provider"] == "starlink":
                account["telemetry"] = {"max_linger": "1s"}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        names = sorted(a["name"] for a in config["accounts"])
        ways = [
            (["--shard.index", "0", "--shard.total", "3"], {}),
            (["--shard.from-hostname"], {"LEO_SHARD_FROM_HOSTNAME": "", "HOSTNAME": "leo-exporter-1",
                                         "LEO_SHARD_TOTAL": "3"}),
            ([], {"LEO_SHARD_FROM_HOSTNAME": "true", "HOSTNAME": "leo-exporter-2", "LEO_SHARD_TOTAL": "3"}),
        ]  # fmt: skip
        seen: dict[str, int] = {}
        for index, (args, env) in enumerate(ways):
            with run_module(["--config.file", str(path), *args], tmp_path / f"exporter-{index}.log", env=env) as exp:
                wait_for(f"{exp.url}/readyz", exp)
                families = scrape(exp.url)
            [shard] = families["leo_exporter_shard_info"]
            assert shard.labels == {"index": str(index), "total": "3"}
            for account in {s.labels["account"] for s in families.get("leo_account_info", [])}:
                assert account not in seen, "two replicas poll one account"
                seen[account] = index
            assert f"shard {index + 1} of 3" in exp.log()
    assert sorted(seen) == names
    assert seen == {n: owner(account_key(p, n), 3) for p, n in ((a["provider"], a["name"]) for a in config["accounts"])}


@pytest.mark.e2e
def test_an_impossible_shard_is_a_usage_error(tmp_path) -> None:
    with run_module(["--shard.index", "2", "--shard.total", "2"], tmp_path / "exporter.log") as exp:
        assert exp.popen.wait(30) == 2
    assert "shard index 2 is not below the shard total 2" in exp.log()
