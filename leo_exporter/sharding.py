"""Which accounts this replica polls: rendezvous hashing of accounts over `total` shards.

Several replicas of the exporter can split a large config between them, each started with
the same config and its own `index`. Every account belongs to exactly one shard: the shard
with the highest weight `blake2b("<provider>/<name>/<shard>")` (rendezvous, or
highest-random-weight, hashing). Going from N to N+1 shards moves only the accounts whose new
highest weight is shard N, about 1/(N+1) of them; none moves between the old shards.

This is what keeps one reader per Starlink service account: the telemetry stream has one
server-side cursor per service account, and two replicas reading it would split its rows.
The weight uses a fixed hash, never Python's `hash()` (salted per process), so every replica
and every restart agree.

Where the shard comes from, first match wins: the `--shard.*` flags, then `LEO_SHARD_INDEX`,
`LEO_SHARD_TOTAL` and `LEO_SHARD_FROM_HOSTNAME` in the environment, then the config's
`shard:`, then index 0 of 1. "From hostname" takes the index from the trailing `-<n>` of the
host name, which in a Kubernetes StatefulSet is the pod's ordinal (`leo-exporter-2` -> 2).
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

_ORDINAL = re.compile(r"-(\d+)$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class Sharded(Protocol):
    """What an account is sharded by: a config account, or anything named like one (the tests)."""

    @property
    def provider(self) -> str: ...
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Sharded)


class ShardError(ValueError):
    """The shard settings are contradictory or out of range (a usage error: exit code 2)."""


def account_key(provider: str, name: str) -> str:
    """The identity an account is sharded by: its provider and its (unique) config name."""
    return f"{provider}/{name}"


def weight(key: str, shard: int) -> int:
    """The rendezvous weight of an account on one shard: 64 bits of BLAKE2b, stable everywhere."""
    digest = hashlib.blake2b(f"{key}/{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, total: int) -> int:
    """The shard (0 .. total-1) that owns the account `key`."""
    if total < 1:
        raise ShardError("shard total must be at least 1")
    # Ties between 64-bit weights are practically impossible; the lower index wins if one happens.
    return max(range(total), key=lambda shard: (weight(key, shard), -shard))


def owned(accounts: Iterable[T], index: int, total: int) -> list[T]:
    """The accounts (anything with `provider` and `name`) that shard `index` of `total` polls."""
    return [a for a in accounts if owner(account_key(a.provider, a.name), total) == index]


def ordinal(hostname: str) -> int:
    """The StatefulSet ordinal at the end of a pod's host name: `leo-exporter-2` -> 2."""
    match = _ORDINAL.search(hostname.split(".", 1)[0])
    if match is None:
        raise ShardError(f"host name {hostname!r} does not end in -<number> (a StatefulSet pod's ordinal)")
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    total: int = 1
    source: str = "default"  # where it came from, for the start-up log line

    @property
    def sharded(self) -> bool:
        return self.total > 1


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ShardError(f"{name} must be true or false")


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ShardError(f"{name} must be a whole number") from None


def resolve(
    *,
    flag_index: int | None = None,
    flag_total: int | None = None,
    flag_from_hostname: bool = False,
    env: Mapping[str, str] | None = None,
    config_index: int = 0,
    config_total: int = 1,
    hostname: str | None = None,
) -> Shard:
    """The shard of this replica: flags, then environment, then config, then 0 of 1.

    Index and total are resolved separately (a StatefulSet sets the total in the environment and
    takes the index from the pod name). Giving both an index and "from hostname" at the same
    level is an error, as is an index that is not below the total.
    """
    env = {} if env is None else env
    env_index = _int(env.get("LEO_SHARD_INDEX"), "LEO_SHARD_INDEX")
    env_total = _int(env.get("LEO_SHARD_TOTAL"), "LEO_SHARD_TOTAL")
    env_from_hostname = _flag(env.get("LEO_SHARD_FROM_HOSTNAME"), "LEO_SHARD_FROM_HOSTNAME")
    if flag_index is not None and flag_from_hostname:
        raise ShardError("give --shard.index or --shard.from-hostname, not both")
    if env_index is not None and env_from_hostname:
        raise ShardError("set LEO_SHARD_INDEX or LEO_SHARD_FROM_HOSTNAME, not both")

    def from_hostname() -> int:
        return ordinal(hostname if hostname is not None else env.get("HOSTNAME") or socket.gethostname())

    if flag_index is not None:
        index, source = flag_index, "flag"
    elif flag_from_hostname:
        index, source = from_hostname(), "host name"
    elif env_index is not None:
        index, source = env_index, "environment"
    elif env_from_hostname:
        index, source = from_hostname(), "host name"
    else:
        index, source = config_index, "config" if (config_index, config_total) != (0, 1) else "default"
    total = next(t for t in (flag_total, env_total, config_total) if t is not None)
    if total < 1:
        raise ShardError(f"shard total must be at least 1, not {total}")
    if not 0 <= index < total:
        raise ShardError(
            f"shard index {index} is not below the shard total {total}"
            + (" (more StatefulSet replicas than shards?)" if source == "host name" else "")
        )
    return Shard(index, total, source)
