"""The front process's limits: what one client, or many, may cost it before it refuses them.

The front has no authentication ahead of it (basic auth is checked after a request's head is
read), so its limits are the exporter's: a header of 200 MiB, a connection that never sends a
byte, a scraper that never reads its answer or a flood of idle sockets must each cost a bounded,
small amount of memory, time and file descriptors, and never the scrapes of everyone else.
Every limit has a flag (`--web.*`, `--worker.*`) with a generous default; docs/reliability.md
("Front and supervision limits") lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
from dataclasses import dataclass, replace

from leo_exporter.durations import format_duration, parse_duration

log = logging.getLogger("leo_exporter.front")

# File descriptors the front keeps for itself beyond its connections: the listening and internal
# sockets, the handoff pair, the worker's pipes, the proxy's connections to the worker, logs.
FD_RESERVE = 64


@dataclass(frozen=True, slots=True)
class FrontLimits:
    """What each connection and the front as a whole may hold (the defaults are the flags')."""

    max_header_bytes: int = 64 * 1024  # all header fields of one request; beyond: 431
    max_url_bytes: int = 8 * 1024  # the request target (path and query); beyond: 414
    idle_timeout: float = 30.0  # a connection must send a whole request head within this
    write_timeout: float = 60.0  # a client that reads nothing of its answer for this long is cut off
    max_connections: int = 512  # open connections; the oldest idle one makes room, else the new one goes
    max_requests: int = 64  # requests in progress (/healthz aside); beyond: 503 with Retry-After
    # one peer address's share: a flood from one address cannot take every connection or request
    max_connections_per_address: int = 128  # beyond: that address's oldest idle connection, else the new one, goes
    max_requests_per_address: int = 16  # beyond: that address's stalled answer makes way, else 503 at once
    heartbeat_timeout: float = 10.0  # a worker silent this long is taken for hung and restarted

    def within_fd_limit(self, soft: int) -> FrontLimits:
        """These limits with the connection cap lowered, when need be, to fit `soft` descriptors."""
        room = max(8, soft - FD_RESERVE)
        if self.max_connections <= room:
            return self.per_address_within()
        log.warning(
            "--web.max-connections %d does not fit the open file limit of %d; serving at most %d connections",
            self.max_connections,
            soft,
            room,
        )
        return replace(self, max_connections=room).per_address_within()

    def per_address_within(self) -> FrontLimits:
        """These limits with one address's share no larger than the whole."""
        return replace(
            self,
            max_connections_per_address=min(self.max_connections_per_address, self.max_connections),
            max_requests_per_address=min(self.max_requests_per_address, self.max_requests),
        )


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: must be at least 1")
    return number


def _size(value: str) -> int:
    """Bytes, with an optional KiB/MiB suffix (`64KiB`, `1MiB`, `65536`)."""
    text = value.strip()
    for suffix, factor in (("KiB", 1024), ("MiB", 1024 * 1024), ("B", 1)):
        if text.endswith(suffix):
            return _positive_int(text[: -len(suffix)]) * factor
    return _positive_int(text)


def _timeout(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: must be more than 0s")
    return seconds


def _heartbeat_timeout(value: str) -> float:
    seconds = _timeout(value)
    if seconds < 2:
        raise argparse.ArgumentTypeError(f"{value!r}: must be at least 2s (the worker beats every second)")
    return seconds


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The limits' flags on the exporter's command line (the worker parses and ignores them)."""
    d = FrontLimits()
    add = parser.add_argument
    add(
        "--web.max-header-bytes",
        dest="limit_max_header_bytes",
        type=_size,
        default=d.max_header_bytes,
        help="largest set of request header fields a client may send, in bytes (or 64KiB, 1MiB); "
        f"beyond: 431 (default {d.max_header_bytes // 1024}KiB)",
    )
    add(
        "--web.max-url-bytes",
        dest="limit_max_url_bytes",
        type=_size,
        default=d.max_url_bytes,
        help=f"longest request target (path and query); beyond: 414 (default {d.max_url_bytes // 1024}KiB)",
    )
    add(
        "--web.idle-timeout",
        dest="limit_idle_timeout",
        type=_timeout,
        default=d.idle_timeout,
        help="close a connection that has not sent a whole request head this long after it opened or got "
        f"its last answer (default {format_duration(d.idle_timeout)})",
    )
    add(
        "--web.write-timeout",
        dest="limit_write_timeout",
        type=_timeout,
        default=d.write_timeout,
        help="cut off a client that reads nothing of its answer for this long "
        f"(default {format_duration(d.write_timeout)})",
    )
    add(
        "--web.max-connections",
        dest="limit_max_connections",
        type=_positive_int,
        default=d.max_connections,
        help="open client connections; a new one closes the oldest idle one, else is refused "
        f"(default {d.max_connections}, lowered to fit the open file limit)",
    )
    add(
        "--web.max-requests",
        dest="limit_max_requests",
        type=_positive_int,
        default=d.max_requests,
        help=f"requests in progress at once (/healthz aside); beyond: 503 with Retry-After (default {d.max_requests})",
    )
    add(
        "--web.max-connections-per-address",
        dest="limit_max_connections_per_address",
        type=_positive_int,
        default=d.max_connections_per_address,
        help="open connections from one client address; a new one closes that address's oldest idle one, "
        f"else is refused (default {d.max_connections_per_address}; raise it behind a reverse proxy)",
    )
    add(
        "--web.max-requests-per-address",
        dest="limit_max_requests_per_address",
        type=_positive_int,
        default=d.max_requests_per_address,
        help="requests in progress from one client address (/healthz aside); beyond: 503 with Retry-After "
        f"(default {d.max_requests_per_address}; raise it behind a reverse proxy)",
    )
    add("--worker.heartbeat-timeout", dest="limit_heartbeat_timeout", type=_heartbeat_timeout,
        default=d.heartbeat_timeout, help="kill and restart the worker when it sends no heartbeat for this long "
        f"(stopped or hung; default {format_duration(d.heartbeat_timeout)})")  # fmt: skip


def from_args(args: argparse.Namespace) -> FrontLimits:
    """The limits the command line asked for."""
    return FrontLimits(
        max_header_bytes=args.limit_max_header_bytes,
        max_url_bytes=args.limit_max_url_bytes,
        idle_timeout=args.limit_idle_timeout,
        write_timeout=args.limit_write_timeout,
        max_connections=args.limit_max_connections,
        max_requests=args.limit_max_requests,
        max_connections_per_address=args.limit_max_connections_per_address,
        max_requests_per_address=args.limit_max_requests_per_address,
        heartbeat_timeout=args.limit_heartbeat_timeout,
    )


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one (systemd and containerd leave the soft
    one at 1,024, which a few hundred sockets exhaust) and return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft
