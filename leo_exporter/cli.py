"""Command line: the exporter itself, `check-config`, and `simulator`.

Exit codes: 0 success, 1 a runtime failure (e.g. the port is taken), 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

from leo_exporter import version as build
from leo_exporter.actions.commands import add_commands as add_action_commands
from leo_exporter.availability import add_command as add_availability_rules
from leo_exporter.backfill import add_command as add_backfill
from leo_exporter.catalog import COLLECTORS, DEFAULT_OFF
from leo_exporter.config import Config, ConfigError, ShardConfig
from leo_exporter.durations import format_duration
from leo_exporter.front import WorkerEnd
from leo_exporter.leases import (
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    LeaseError,
    LeaseSettings,
    default_namespace,
)
from leo_exporter.limits import add_flags as add_limit_flags
from leo_exporter.logs import setup_logging
from leo_exporter.providers import load_config, parse_config, providers, simulated
from leo_exporter.providers.spec import SimulatorFlag
from leo_exporter.sharding import ShardError, account_key, owner
from leo_exporter.sharding import resolve as resolve_shard
from leo_exporter.simulator.calendar import ENV_VAR as SIM_NOW_ENV
from leo_exporter.simulator.calendar import SimCalendar, parse_instant
from leo_exporter.status.export import add_command as add_export_csv
from leo_exporter.tagging import describe
from leo_exporter.usagereport import add_command as add_usage_report
from leo_exporter.webconfig import WebSecurity, load_web_config

log = logging.getLogger("leo_exporter")
DEFAULT_LISTEN = ":9819"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
# The front's app and the exporter in one process (no worker process): only for bench/fleet.py's
# comparison with the two-process layout; /metrics is served by the same app either way.
SINGLE_PROCESS_ENV = "LEO_BENCH_SINGLE_PROCESS"
# the worker's cyclic collector: a full pass after this many passes over the younger objects (see
# collect_cycles_rarely; Python's default is 10)
FULL_COLLECTION_AFTER = 1000
TRIM_EVERY = 2.0  # seconds between two returns of malloc's free memory to the system (release_freed_memory)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log.level",
        dest="log_level",
        default=os.environ.get("LEO_LOG_LEVEL", "info"),
        type=str.lower,
        choices=["debug", "info", "warn", "warning", "error"],
        help="log level: debug, info, warn (or warning), error (default info)",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        default=os.environ.get("LEO_LOG_FORMAT", "logfmt"),
        choices=["logfmt", "json"],
        help="log line format (default logfmt)",
    )


def _telemetry_path(value: str) -> str:
    """An absolute URL path that does not hide the exporter's own endpoints."""
    if not value.startswith("/") or value in {"/", "/healthz", "/readyz", "/-/reload"} or value.startswith("/api/"):
        raise argparse.ArgumentTypeError(f"{value!r}: need an absolute path other than /, /healthz, /readyz, /api/…")
    return value


class _VersionAction(argparse.Action):
    """`--version` as exporter-toolkit prints it: several lines, which argparse's own action would re-wrap."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(build.version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leo-exporter",
        description="Prometheus exporter for LEO satellite terminal fleets. "
        "Without --config.file it runs against the built-in simulator.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print version, revision, build date and exit")
    parser.add_argument(
        "--config.file",
        dest="config_file",
        default=os.environ.get("LEO_CONFIG_FILE"),
        help="YAML config; without it the exporter simulates a fleet",
    )
    parser.add_argument(
        "--config.default-file",
        dest="config_default_file",
        default=None,
        metavar="FILE",
        help="use FILE as --config.file when that is not given and FILE exists; otherwise simulate "
        "(the container image passes /etc/leo-exporter/config.yml)",
    )
    parser.add_argument(
        "--shard.index",
        dest="shard_index",
        type=int,
        default=None,
        help="this replica's shard, 0 .. total-1 (also LEO_SHARD_INDEX, or the config's shard.index)",
    )
    parser.add_argument(
        "--shard.total",
        dest="shard_total",
        type=int,
        default=None,
        help="number of shards the accounts are split into (also LEO_SHARD_TOTAL, or the config's shard.total)",
    )
    parser.add_argument(
        "--shard.from-hostname",
        dest="shard_from_hostname",
        action="store_true",
        help="take the shard index from the host name's trailing -<n>, a StatefulSet pod's ordinal "
        "(also LEO_SHARD_FROM_HOSTNAME=true)",
    )
    parser.add_argument(
        "--shard.leases",
        dest="shard_leases",
        action="store_true",
        help="high availability on Kubernetes: poll the shards whose Lease (leo-exporter-shard-<i>) this "
        "replica holds, of --shard.total (also LEO_SHARD_LEASES=true; needs the `ha` extra)",
    )
    parser.add_argument(
        "--shard.max-per-replica",
        dest="shard_max_per_replica",
        type=int,
        default=None,
        help="with --shard.leases: hold at most this many shards (default all; also LEO_SHARD_MAX_PER_REPLICA)",
    )
    parser.add_argument(
        "--shard.standby",
        dest="shard_standby",
        action="store_true",
        help="with --shard.leases: ready (/readyz) while holding no shard (also LEO_SHARD_STANDBY=true)",
    )
    for timing, default in (
        ("lease-duration", LEASE_DURATION),
        ("renew-deadline", RENEW_DEADLINE),
        ("retry-period", RETRY_PERIOD),
    ):
        parser.add_argument(
            f"--shard.{timing}",
            dest="shard_" + timing.replace("-", "_"),
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"with --shard.leases: the lease's {timing.replace('-', ' ')} (default {default:g}; "
            f"also LEO_SHARD_{timing.replace('-', '_').upper()})",
        )
    for name in COLLECTORS:
        parser.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"the {name} metric group (default {'off' if name in DEFAULT_OFF else 'on'}, "
            f"or the config's collectors.{name}); "
            f"--no-collector.{name} drops its families and the API calls only it needs",
        )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=os.environ.get("LEO_LISTEN_ADDRESS", DEFAULT_LISTEN),
        help=f"address to serve /metrics on (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        type=_telemetry_path,
        default="/metrics",
        help="path under which to expose metrics (default /metrics)",
    )
    parser.add_argument(
        "--web.grafana-url",
        dest="grafana_url",
        default=os.environ.get("LEO_GRAFANA_URL", ""),
        metavar="URL",
        help="Grafana's root URL (e.g. https://grafana.example.com): the status page links each terminal "
        "to its dashboard there (also LEO_GRAFANA_URL)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config",
        default=None,
        help="TLS and basic auth settings (exporter-toolkit format)",
    )
    add_limit_flags(parser)  # --web.max-header-bytes, --web.idle-timeout, ... (leo_exporter/limits.py)
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="lifecycle",
        action="store_true",
        help="allow POST /-/reload (off: 403; SIGHUP reloads either way)",
    )
    parser.add_argument(
        "--web.enable-admin-api",
        dest="admin_api",
        action="store_true",
        help="allow job control over HTTP (poll now, enable, disable, interval) and, on accounts with "
        "management_actions: true, the management actions on the status page (off: 403, no buttons)",
    )
    parser.add_argument(
        "--simulator.accounts",
        dest="sim_accounts",
        type=int,
        default=2,
        help="simulation mode: accounts to simulate per provider (default 2)",
    )
    parser.add_argument(
        "--simulator.terminals",
        dest="sim_terminals",
        type=int,
        default=40,
        help="simulation mode: terminals in all (default 40)",
    )
    _simulated_now(parser, "simulation mode (with --config.file: the calendar billing dates are judged by): ")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check-config", help="validate a config file, print a summary, exit 0 or 2")
    check.add_argument("--config.file", dest="config_file", required=True)
    check.add_argument(
        "--shard.total",
        dest="shard_total",
        type=int,
        default=None,
        help="show which shard index polls each account when split into this many shards",
    )
    check.add_argument(
        "--tags.metrics",
        dest="tags_metrics",
        default=None,
        metavar="URL_OR_FILE",
        help="count the terminals each tag rule matches in this exposition (a running exporter's /metrics)",
    )
    _common(check)

    sim = sub.add_parser("simulator", help="serve simulated provider APIs (for tests and demos)")
    sim.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:9820")
    sim.add_argument("--accounts", type=int, default=2, help="simulated accounts per provider (default 2)")
    sim.add_argument("--terminals", type=int, default=40, help="simulated terminals in all (default 40)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the simulated fleet (default 1)")
    for flag in _simulator_flags():
        sim.add_argument(flag.flag, dest=flag.dest, type=flag.type, default=flag.default, metavar=flag.metavar,
                         help=flag.help)  # fmt: skip
    sim.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=[],
        metavar="PROVIDER:ACCOUNT:MODE[:key=value,...]",
        help="start with a fault, e.g. starlink:ACC-…:rate_limit:retry_after=5,count=10 or oneweb:*:slow:delay=40 "
        "(repeatable; ACCOUNT is an account number, client id, partner name or id, a 1-based index, or *). "
        f"Modes: {_fault_modes()}. Change them at run time with /_sim/faults",
    )
    sim.add_argument(
        "--assume",
        dest="assume",
        action="append",
        default=[],
        metavar="PROVIDER.FIELD",
        help="also serve a field that no provider document or real payload shows (repeatable): "
        f"{', '.join(_assumptions()) or 'none'}. Off by default, so the simulator "
        "serves documented shapes; docs/providers/*.md lists each assumption and what would confirm it",
    )
    _simulated_now(sim)
    _common(sim)

    add_export_csv(sub, _common)  # export-csv
    add_backfill(sub, _common)  # backfill-usage
    add_usage_report(sub, _common)  # usage-report
    add_availability_rules(sub, _common)  # availability-rules
    add_action_commands(sub, _common)  # every provider's management actions (Provider.actions)
    return parser


def _simulator_flags() -> list[SimulatorFlag]:
    """The options of `leo-exporter simulator` that one provider's simulator reads (the registry
    holds them as data: no simulator is imported for them)."""
    return [flag for spec in simulated().values() for flag in spec.flags]


def _assumptions() -> list[str]:
    return sorted(f"{name}.{field}" for name, spec in simulated().items() for field in spec.assumptions)


def _fault_modes() -> str:
    """The fault modes for `--fault`'s help: the fault book's own, then those only some simulators have."""
    from leo_exporter.simulator.faults import SERVED

    extra = [
        f"{' and '.join(sorted(m.name for m in s.fault_modes))} ({name})"
        for name, s in simulated().items()
        if s.fault_modes
    ]
    return ", ".join([*SERVED, *extra])


def _instant(text: str) -> float:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _billing_calendar(start: float | None) -> Callable[[], float] | None:
    """With --config.file and --simulator.now (or its env), billing dates (has a usage report's
    cycle ended?) are judged by that simulated calendar: an exporter pointed at a simulator started
    at the same instant sees its cycles as the simulator does, whatever the machine's date."""
    if start is None:
        return None
    when = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.warning("billing dates judged by a simulated calendar starting at %s (--simulator.now)", when)
    return SimCalendar(start)


def _simulated_now(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "--simulator.now",
        dest="sim_now",
        type=_instant,
        default=os.environ.get(SIM_NOW_ENV),
        metavar="DATETIME",
        help=f"{prefix}start the simulated calendar (billing cycles, usage, activation dates) at this "
        f"UTC instant, e.g. 2027-03-01T00:30:00Z; it then runs at the real pace. Default: now "
        f"(env {SIM_NOW_ENV})",
    )


def summarize(config: Config) -> str:
    shards = f"{config.shard.total} shards" if config.shard.total > 1 else "not sharded"
    lines = [f"config is valid: {len(config.accounts)} account(s), {shards}"]
    for account in config.accounts:
        shard = owner(account_key(account.provider, account.name), config.shard.total)
        where = f" (shard index {shard})" if config.shard.total > 1 else ""
        lines.append(f"- {account.provider} account {account.name!r} at {account.api_url}{where}")
        for job in account.resolved_jobs():
            state = f"every {format_duration(job.interval)}" if job.enabled else "disabled"
            lines.append(f"    {job.name}: {state}, timeout {format_duration(job.timeout)}")
    return "\n".join(lines)


def check_config(path: str, shard_total: int | None = None, tags_metrics: str | None = None) -> int:
    try:
        config = load_config(path)
    except ConfigError as err:
        err.report(path)
        return EXIT_CONFIG
    exposition = None
    if tags_metrics and config.tags.keys:
        try:
            exposition = read_exposition(tags_metrics)
        except (OSError, httpx.HTTPError) as exc:
            print(f"--tags.metrics: cannot read {tags_metrics}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    tag_lines, tag_problems = describe(config.tags, config.tags_file, exposition)
    if tag_problems:
        ConfigError(tag_problems).report(path)
        return EXIT_CONFIG
    if shard_total is not None:
        if shard_total < 1:
            print("--shard.total must be at least 1", file=sys.stderr)
            return EXIT_CONFIG
        config = config.model_copy(update={"shard": ShardConfig(index=0, total=shard_total)})
    print("\n".join([summarize(config), *tag_lines]))
    return EXIT_OK


def read_exposition(where: str) -> str:
    """A Prometheus text exposition from a URL (http/https) or a file."""
    if where.startswith(("http://", "https://")):
        response = httpx.get(where, timeout=30)
        response.raise_for_status()
        return response.text
    return Path(where).read_text()


def _loop_options() -> dict[str, Any]:
    """uvloop when installed (it comes with uvicorn[standard] on Linux): faster sockets for big scrapes."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Hold glibc's malloc to `arenas` arenas, as MALLOC_ARENA_MAX would (which, when set, wins).

    Rendering, telemetry decoding and compression run on worker threads, and glibc gives threads
    up to 8 arenas per core, each keeping its own high-water mark. Done before any thread starts;
    a no-op where there is no glibc. (bench/soak.py: see `release_freed_memory`.)"""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(ctypes.c_int(-8), ctypes.c_int(arenas))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def give_large_blocks_pages(threshold: int = 256 * 1024) -> None:
    """Allocations of `threshold` bytes and more get pages of their own (glibc's
    M_MMAP_THRESHOLD), handed back to the system as soon as they are freed.

    glibc raises that threshold each time such a block is freed, up to 32 MiB: from then on the
    30 MiB exposition the front receives, the row list of a parsed telemetry page or the text of a
    rendered chunk come from the heap, where they stay resident after they are freed, in holes
    between live blocks. A fixed threshold keeps the peak to what is alive. MALLOC_MMAP_THRESHOLD_
    in the environment wins; a no-op where there is no glibc."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(ctypes.c_int(-3), ctypes.c_int(threshold))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def collect_cycles_rarely(full_after: int = FULL_COLLECTION_AFTER) -> None:
    """The cyclic collector's full pass after `full_after` passes over the younger objects, not 10.

    The worker holds millions of objects that reference counting alone frees (the answers it reads
    and the renderings it makes leave no cycle: tests/test_provider_limits.py), while the state it
    replaces ages into the oldest generation. At 3,000 accounts a full pass came every 4 to 12 s,
    held the GIL for 0.5 s (the event loop stood still: 24 s in 5.5 minutes) and found nothing to
    free. The younger passes still free a new cycle soon after it is made."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, full_after)


def release_freed_memory(every: float = TRIM_EVERY) -> None:
    """Every `every` seconds, hand the memory malloc holds free back to the system (glibc's
    malloc_trim, on a thread of its own; it releases the GIL).

    The exporter's big allocations are short-lived (a telemetry batch, a usage listing, a full
    render) while a churning fleet keeps adding small long-lived ones, so free memory ends up
    between live blocks where malloc never returns it: in a 10-minute soak with 2 % of 10,000
    terminals replaced every 30 s the resident memory rose 29 % after the first two minutes, and
    still 7-18 % after five with two arenas; with this as well it stays level (bench/soak.py).
    Every 10 s, the worker at 3,000 accounts rose by 10 to 22 MiB between two trims (a rendering's
    chunks and the answers of a few hundred jobs, freed in between); every 2 s its peak fell from
    about 325 to 312 MiB. A trim of that heap took 3.5 ms on average and 11 ms at most, with the
    GIL released."""
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim.argtypes = [ctypes.c_size_t]

    def loop() -> None:
        while True:
            time.sleep(every)
            trim(0)

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()
    give_large_blocks_pages()
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        if getattr(args, "handler", None) is not None:  # export-csv and the management actions
            handler: Callable[[argparse.Namespace], int] = args.handler
            return handler(args)
        if args.command == "check-config":
            return check_config(args.config_file, args.shard_total, args.tags_metrics)
        if args.command == "simulator":
            return anyio.run(_run_simulator, args, backend_options=_loop_options())
        from leo_exporter.front import worker_end

        link = worker_end()
        single = os.environ.get(SINGLE_PROCESS_ENV) == "1"
        if link is None:
            log.info(
                "starting leo-exporter",
                extra={"version": build.version_fields(), "build_context": build.build_context()},
            )
        if link is None and not single:  # the front: serves /metrics, runs this command line as its worker
            worker_argv = list(sys.argv[1:] if argv is None else argv)
            release_freed_memory()  # the bodies it received and the plain text it inflated
            return anyio.run(_run_front, args, worker_argv, backend_options=_loop_options())
        release_freed_memory()
        collect_cycles_rarely()
        if link is not None:
            log.info("worker process started", extra={"pid": os.getpid()})
        return anyio.run(_run_exporter, args, link, backend_options=_loop_options())
    except KeyboardInterrupt:
        return EXIT_OK


def _public_socket(args: argparse.Namespace) -> tuple[socket.socket, WebSecurity] | int:
    """The listening socket and the web config (TLS, basic auth), or the exit code: a busy port or
    a bad certificate is one clear error, before any worker starts."""
    from leo_exporter.server import bind_socket

    try:
        sock = bind_socket(args.listen)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_FAILURE if isinstance(exc, OSError) else EXIT_CONFIG
    try:
        return sock, WebSecurity(args.web_config)
    except ConfigError as err:
        for problem in err.problems:
            log.error("web config: %s", problem)
    except (ssl.SSLError, OSError) as exc:
        log.error("web config: cannot use the TLS certificate or key: %s", exc)
    sock.close()
    return EXIT_CONFIG


async def _run_front(args: argparse.Namespace, worker_argv: list[str]) -> int:
    """The front process (leo_exporter/front.py); the worker, this same command line, checks the config."""
    from leo_exporter.front import run_front
    from leo_exporter.limits import from_args, raise_fd_limit

    public = _public_socket(args)
    if isinstance(public, int):
        return public
    limits = from_args(args).within_fd_limit(raise_fd_limit())  # the worker inherits the raised limit
    return await run_front(worker_argv, *public, args.telemetry_path, limits)


async def _run_exporter(args: argparse.Namespace, link: WorkerEnd | None) -> int:
    """The worker: config, jobs, state and rendering; its HTTP server (status page, API, CSV, job
    control, reload) answers only the front, which serves /metrics from the renderings it hands over.
    Without a front process (`link` None: bench/fleet.py's --layout single, SINGLE_PROCESS_ENV) the
    front's app runs in this process too (leo_exporter/serving.py): the same /metrics server."""
    from leo_exporter.app import Exporter
    from leo_exporter.handoff import Publisher
    from leo_exporter.server import wait_for_signal
    from leo_exporter.serving import serve_alone, serve_worker

    public: tuple[socket.socket, WebSecurity] | None = None
    if link is None:
        bound = _public_socket(args)
        if isinstance(bound, int):
            return bound
        public = bound
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_signal, stop)
        config_file = _config_file(args)
        if config_file:
            try:  # off the event loop, like a reload: the signal handlers keep answering meanwhile
                config = await anyio.to_thread.run_sync(load_config, config_file)
            except ConfigError as err:
                for problem in err.problems:
                    log.error("config: %s", problem)
                tg.cancel_scope.cancel()
                return EXIT_CONFIG
            simulated = False
            calendar = _billing_calendar(args.sim_now)
        else:
            config, calendar = await _start_simulation(tg, args)
            simulated = True
        try:
            config = _with_flags(config, args)
            leases = _lease_settings(config, args, os.environ)
        except (ShardError, LeaseError) as err:
            log.error("shard: %s", err)
            tg.cancel_scope.cancel()
            return EXIT_CONFIG
        restarted = link is not None and link.restarted
        exporter = Exporter(config, simulated=simulated, calendar=calendar, leases=leases, restarted=restarted)
        if link is not None:
            exporter.publish = Publisher(link.control, exporter.shows_first_runs)
        exporter.config_path = config_file
        exporter.lifecycle, exporter.admin_api = args.lifecycle, args.admin_api
        exporter.grafana_url = args.grafana_url
        exporter.basic_auth = _basic_auth_configured(args.web_config)
        exporter.shard_override = lambda new: _with_flags(new, args)
        exporter.state.exporter_values["leo_exporter_config_last_reload_successful"] = 1.0
        exporter.state.exporter_values["leo_exporter_config_last_reload_success_timestamp_seconds"] = time.time()
        if leases is not None:
            log.info(
                "shards by lease: %d shard(s), at most %d held by this replica (%s in namespace %s)%s",
                leases.total,
                leases.limit,
                leases.identity,
                leases.namespace,
                ", a declared standby" if leases.standby else "",
            )
        elif config.shard.total > 1:
            log.info(
                "shard %d of %d (index %d): polling %d of %d account(s); the other shards poll the rest",
                config.shard.index + 1,
                config.shard.total,
                config.shard.index,
                len(exporter.accounts),
                len(config.accounts),
            )
        log.info(
            "listening on %s (%d account(s), %d job(s)); lifecycle API %s, admin API %s",
            args.listen,
            len(exporter.accounts),
            len(exporter.state.jobs),
            "on" if args.lifecycle else "off (read-only)",
            "on" if args.admin_api else "off (read-only)",
        )
        if public is not None:
            await serve_alone(exporter, public[0], public[1], args.telemetry_path, stop)
        else:
            assert link is not None
            await serve_worker(exporter, link.listen, link.token, stop)
        tg.cancel_scope.cancel()
    return EXIT_OK


def _basic_auth_configured(path: str | None) -> bool:
    """Whether the web config asks for basic auth (the front has checked the file already)."""
    if not path:
        return False
    try:
        return bool(load_web_config(path).basic_auth_users)
    except ConfigError:
        return False


def _config_file(args: argparse.Namespace) -> str | None:
    """--config.file (or LEO_CONFIG_FILE); else --config.default-file if that file exists."""
    given: str | None = args.config_file
    if given:
        return given
    default: str | None = args.config_default_file
    if default and Path(default).exists():
        log.info("using %s (--config.default-file)", default)
        return default
    if default:
        log.info("no config at %s (--config.default-file): simulating", default)
    return None


def _with_flags(config: Config, args: argparse.Namespace) -> Config:
    """The config with what flags and environment say over it: the shard and the collectors."""
    return _with_collectors(_with_shard(config, args), args)


def _with_collectors(config: Config, args: argparse.Namespace) -> Config:
    """`--[no-]collector.<name>` wins over the config's `collectors:`."""
    flags = {name: on for name in COLLECTORS if (on := getattr(args, f"collector_{name}", None)) is not None}
    if not flags:
        return config
    return config.model_copy(update={"collectors": {**config.collectors, **flags}})


def _with_shard(config: Config, args: argparse.Namespace) -> Config:
    """The config with the shard resolved from flags > environment > config (leo_exporter/sharding.py)."""
    shard = resolve_shard(
        flag_index=args.shard_index,
        flag_total=args.shard_total,
        flag_from_hostname=args.shard_from_hostname,
        env=os.environ,
        config_index=config.shard.index,
        config_total=config.shard.total,
    )
    return config.model_copy(update={"shard": ShardConfig(index=shard.index, total=shard.total)})


def _lease_settings(config: Config, args: argparse.Namespace, env: Mapping[str, str]) -> LeaseSettings | None:
    """--shard.leases and its settings (flags, then LEO_SHARD_* variables); None without it."""

    def number(flag: float | None, name: str, default: float) -> float:
        if flag is not None:
            return flag
        try:
            return float(env.get(name) or default)
        except ValueError:
            raise LeaseError(f"{name} must be a number of seconds") from None

    if not (args.shard_leases or _env_true(env, "LEO_SHARD_LEASES")):
        return None
    if args.shard_index is not None or env.get("LEO_SHARD_INDEX") or args.shard_from_hostname:
        raise LeaseError("--shard.leases takes no shard index: each replica polls the shards whose lease it holds")
    settings = LeaseSettings(
        total=config.shard.total,
        # POD_NAME is unique in the cluster; without it, two exporters on one host must still differ
        identity=env.get("POD_NAME") or f"{env.get('HOSTNAME') or socket.gethostname()}-{os.getpid()}",
        namespace=default_namespace(dict(env)),
        max_held=int(number(args.shard_max_per_replica, "LEO_SHARD_MAX_PER_REPLICA", 0)),
        lease_duration=number(args.shard_lease_duration, "LEO_SHARD_LEASE_DURATION", LEASE_DURATION),
        renew_deadline=number(args.shard_renew_deadline, "LEO_SHARD_RENEW_DEADLINE", RENEW_DEADLINE),
        retry_period=number(args.shard_retry_period, "LEO_SHARD_RETRY_PERIOD", RETRY_PERIOD),
        standby=args.shard_standby or _env_true(env, "LEO_SHARD_STANDBY"),
        kubeconfig=env.get("KUBECONFIG") or None,
    )
    settings.check()
    return settings


def _env_true(env: Mapping[str, str], name: str) -> bool:
    return (env.get(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def simulation_config(data: dict[str, Any]) -> Config:
    """The simulator's accounts, with intervals short enough that a demo fills up in seconds: each
    job's `JobSpec.demo_interval`, then the provider's `SimulatorSpec.demo_overrides` over its
    accounts (a mapping updates a mapping)."""
    registry = providers()
    for account in data["accounts"]:
        provider = registry.get(account.get("provider", ""))
        for job in provider.jobs if provider else ():
            if job.demo_interval is not None:
                account.setdefault("jobs", {}).setdefault(job.name, {}).setdefault("interval", job.demo_interval)
        overrides = provider.simulator.demo_overrides if provider and provider.simulator else {}
        for key, value in overrides.items():
            if isinstance(value, Mapping) and isinstance(account.get(key), dict):
                account[key].update(copy.deepcopy(dict(value)))
            else:
                account[key] = copy.deepcopy(value)
    return parse_config(data)


async def _start_simulation(tg: anyio.abc.TaskGroup, args: argparse.Namespace) -> tuple[Config, Callable[[], float]]:
    """The built-in simulator, served on a loopback port; its config and its calendar (billing
    dates are judged by the simulated calendar, which may run ahead of the machine's clock)."""
    import uvicorn

    from leo_exporter.server import QuietServer, bind_socket
    from leo_exporter.simulator.app import build_app, demo_config

    app = build_app(accounts=args.sim_accounts, terminals=args.sim_terminals, now=args.sim_now)
    sock = bind_socket("127.0.0.1:0")
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    tg.start_soon(server.serve, [sock])
    log.warning(
        "SIMULATION MODE: no --config.file given, polling a built-in simulator at %s "
        "(%d accounts, %d terminals). Pass --config.file for real accounts.",
        base_url,
        args.sim_accounts,
        args.sim_terminals,
    )
    return simulation_config(demo_config(base_url, app)), app.state.calendar


async def _run_simulator(args: argparse.Namespace) -> int:
    import uvicorn

    from leo_exporter.server import QuietServer, bind_socket, wait_for_signal
    from leo_exporter.simulator.app import build_app

    try:
        sock = bind_socket(args.listen)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    from leo_exporter.simulator.app import assumptions
    from leo_exporter.simulator.faults import FaultError, parse_spec

    unknown = sorted(set(args.assume) - set(assumptions()))
    if unknown:
        log.error("--assume %s: unknown; known: %s", ", ".join(unknown), ", ".join(sorted(assumptions())))
        return EXIT_CONFIG
    try:
        app = build_app(
            accounts=args.accounts,
            terminals=args.terminals,
            seed=args.seed,
            now=args.sim_now,
            assume=args.assume,
            **{flag.dest: getattr(args, flag.dest) for flag in _simulator_flags()},
        )
    except ValueError as exc:  # a value a simulator refuses (e.g. --churn 2)
        log.error("%s", exc)
        return EXIT_CONFIG
    for spec in args.faults:
        try:
            fault, _ = app.state.faults.add(**parse_spec(spec))
        except (FaultError, TypeError) as exc:
            log.error("--fault %s: %s", spec, exc)
            return EXIT_CONFIG
        log.warning("fault injected: %s", fault.public(fault.created))
    server = QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    stop = anyio.Event()
    host, port = sock.getsockname()[:2]
    log.info(
        "simulator listening on http://%s:%d (%d accounts, %d terminals)", host, port, args.accounts, args.terminals
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_signal, stop)
        tg.start_soon(server.serve, [sock])
        await stop.wait()
        await server.stop()
        tg.cancel_scope.cancel()
    return EXIT_OK
