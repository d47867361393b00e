"""Every metric family leo-exporter exposes: name, type, help and where its labels come from.

The central families (those the state sets, or more than one provider) are declared here; a
family only one provider sets is declared in that provider's folder and listed in its
`Provider.families`, which the registry installs into this catalogue when it loads. The renderer
walks the catalogue in order, `docs/metrics.md` is held to it by a test, and the dashboards and
rules are written against it.

Entity kinds say which identity label a family carries besides `provider` and `account`:
`terminal` -> `terminal_id`, `router` -> `router_id`, `service_line` -> `service_line`,
`product` -> `product`, `organization` -> `organization`, `site` -> `site`, `pool` -> `pool`, `account` -> none,
`job` -> `call` (the bare API call name: a poll job is one (account, call); never `job`, which is
Prometheus' target label), `exporter` -> no provider/account.
`extra` names labels added per sample (e.g. `alert`, `class`); `info` families carry their
descriptive labels per entity and always have the value 1.

Each family is declared once, as a module constant that is its typed handle (`TERMINAL_UPTIME_SECONDS`
for `leo_terminal_uptime_seconds`): `MetricSpec[entity kind, extra label values]`. Providers hand
the state measurements through these handles, never through names, so mypy rejects a router
family given for a terminal or a labelled family set without labels, and a typo is a NameError at
import; the state checks all of it again at run time (leo_exporter/state/checks.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

MetricType = Literal["gauge", "counter", "info"]
EntityKind = Literal[
    "account", "terminal", "router", "service_line", "product", "organization", "site", "pool", "job", "exporter",
    "process",
]  # fmt: skip
E = TypeVar("E", bound=EntityKind)
E_co = TypeVar("E_co", bound=EntityKind, covariant=True)
L = TypeVar("L", bound=tuple[str, ...])
L_co = TypeVar("L_co", bound=tuple[str, ...], covariant=True)
NoLabels = tuple[()]  # a family with identity labels only


# The collector group a family belongs to unless its declaration names another (`collector=`).
ENTITY_COLLECTOR: dict[str, str] = {
    "account": "account",
    "terminal": "terminal",
    "router": "router",
    "service_line": "service_line",
    "pool": "pool",
    "product": "product",
    "organization": "organization",
    "site": "organization",
    "job": "exporter",
    "exporter": "exporter",
    "process": "exporter",
}


@dataclass(frozen=True, slots=True)
class MetricSpec(Generic[E_co, L_co]):
    """One family, and the handle providers measure through: `MetricSpec[E, L]` takes values of
    entities of kind E, each sample with extra label values L (a tuple in the order of `extra`)."""

    name: str
    type: MetricType
    entity: E_co
    help: str
    extra: L_co
    # its collector group (COLLECTORS, or "exporter": always on); empty: the entity kind's group
    collector: str = ""
    # a provider's family: the central family it follows in the exposition; None: it comes after
    # every central data family (before the exporter's own), in the registry's order
    follows: str | None = None

    def __post_init__(self) -> None:
        if not self.collector:
            object.__setattr__(self, "collector", ENTITY_COLLECTOR[self.entity])

    @property
    def exposition_type(self) -> str:
        """The `# TYPE` word: info families are gauges in the text format."""
        return "gauge" if self.type == "info" else self.type

    @property
    def header(self) -> str:
        """The family's `# HELP` and `# TYPE` lines, the same wherever it is rendered."""
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.exposition_type}\n"


_declared: list[MetricSpec[Any, Any]] = []  # in declaration order, which is the exposition's


def _declare(spec: MetricSpec[E, L]) -> MetricSpec[E, L]:
    _declared.append(spec)
    return spec


# Constructors of a family handle. A provider declares its own families with them in its folder
# and lists them in `Provider.families`; the registry installs them here (`install`).
@overload
def gauge(
    name: str, entity: E, help: str, *, collector: str = "", follows: str | None = None
) -> MetricSpec[E, NoLabels]: ...
@overload
def gauge(
    name: str, entity: E, help: str, extra: L, *, collector: str = "", follows: str | None = None
) -> MetricSpec[E, L]: ...
def gauge(
    name: str,
    entity: EntityKind,
    help: str,
    extra: tuple[str, ...] = (),
    *,
    collector: str = "",
    follows: str | None = None,
) -> MetricSpec[Any, Any]:
    return MetricSpec(name, "gauge", entity, help, extra, collector, follows)


@overload
def counter(
    name: str, entity: E, help: str, *, collector: str = "", follows: str | None = None
) -> MetricSpec[E, NoLabels]: ...
@overload
def counter(
    name: str, entity: E, help: str, extra: L, *, collector: str = "", follows: str | None = None
) -> MetricSpec[E, L]: ...
def counter(
    name: str,
    entity: EntityKind,
    help: str,
    extra: tuple[str, ...] = (),
    *,
    collector: str = "",
    follows: str | None = None,
) -> MetricSpec[Any, Any]:
    return MetricSpec(name, "counter", entity, help, extra, collector, follows)


def info(
    name: str, entity: E, help: str, *, collector: str = "", follows: str | None = None
) -> MetricSpec[E, NoLabels]:
    return MetricSpec(name, "info", entity, help, (), collector, follows)


# The central families: those every provider may set, declared here in exposition order.
@overload
def _g(name: str, entity: E, help: str, *, collector: str = "") -> MetricSpec[E, NoLabels]: ...
@overload
def _g(name: str, entity: E, help: str, extra: L, *, collector: str = "") -> MetricSpec[E, L]: ...
def _g(
    name: str, entity: EntityKind, help: str, extra: tuple[str, ...] = (), *, collector: str = ""
) -> MetricSpec[Any, Any]:
    return _declare(gauge(name, entity, help, extra, collector=collector))


@overload
def _c(name: str, entity: E, help: str, *, collector: str = "") -> MetricSpec[E, NoLabels]: ...
@overload
def _c(name: str, entity: E, help: str, extra: L, *, collector: str = "") -> MetricSpec[E, L]: ...
def _c(
    name: str, entity: EntityKind, help: str, extra: tuple[str, ...] = (), *, collector: str = ""
) -> MetricSpec[Any, Any]:
    return _declare(counter(name, entity, help, extra, collector=collector))


def _i(name: str, entity: E, help: str) -> MetricSpec[E, NoLabels]:
    return _declare(info(name, entity, help))


# --- accounts
ACCOUNT_INFO = _i("leo_account_info", "account", "Configured provider account (value 1); labels name the account.")
ACCOUNT_ACTIVE_SUSPENSIONS = _g(
    "leo_account_active_suspensions", "account", "Number of active suspensions the provider reports."
)
ACCOUNT_BALANCE_DUE = _g(
    "leo_account_balance_due",
    "account",
    "Amount the account owes the provider, in units of `currency` (Starlink billing balance).",
    ("currency",),
)
# --- terminals
TERMINAL_INFO = _i("leo_terminal_info", "terminal", "Known user terminal (value 1) with its descriptive attributes.")
TERMINAL_TAGS = _i(
    "leo_terminal_tags",
    "terminal",
    "The operator's tags of the terminal (value 1), one label tag_<key> per tag set (config tags: and tags_file:).",
)
TERMINAL_ONLINE = _g(
    "leo_terminal_online",
    "terminal",
    "1 if the terminal is online, 0 if known from inventory but offline "
    "(Starlink: no telemetry for offline_after; other providers: as reported).",
)
TERMINAL_LAST_SEEN_TIMESTAMP_SECONDS = _g(
    "leo_terminal_last_seen_timestamp_seconds",
    "terminal",
    "Device time of the newest telemetry received for the terminal (Unix seconds).",
)
TERMINAL_UPTIME_SECONDS = _g("leo_terminal_uptime_seconds", "terminal", "Terminal uptime reported by the device.")
TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND = _g(
    "leo_terminal_downlink_throughput_bytes_per_second",
    "terminal",
    "Downlink throughput averaged over the last reporting period.",
)
TERMINAL_UPLINK_THROUGHPUT_BYTES_PER_SECOND = _g(
    "leo_terminal_uplink_throughput_bytes_per_second",
    "terminal",
    "Uplink throughput averaged over the last reporting period.",
)
TERMINAL_POP_PING_LATENCY_SECONDS = _g(
    "leo_terminal_pop_ping_latency_seconds", "terminal", "Mean ping latency from terminal to point of presence."
)
TERMINAL_POP_PING_DROP_RATIO = _g(
    "leo_terminal_pop_ping_drop_ratio", "terminal", "Fraction of pings to the point of presence dropped (0-1)."
)
TERMINAL_OBSTRUCTION_RATIO = _g(
    "leo_terminal_obstruction_ratio", "terminal", "Fraction of time the sky view was obstructed (0-1)."
)
TERMINAL_SIGNAL_QUALITY_RATIO = _g("leo_terminal_signal_quality_ratio", "terminal", "Signal quality normalised to 0-1.")
TERMINAL_SOFTWARE_UPDATE_REBOOT_DELAY_SECONDS = _g(
    "leo_terminal_software_update_reboot_delay_seconds",
    "terminal",
    "Seconds until a pending software update may reboot the terminal; absent while deferral is off.",
    collector="details",
)
TERMINAL_IN_TERRITORIAL_WATERS = _g(
    "leo_terminal_in_territorial_waters",
    "terminal",
    "1 if the terminal reports being in territorial waters.",
    collector="details",
)
TERMINAL_LATITUDE_DEGREES = _g(
    "leo_terminal_latitude_degrees",
    "terminal",
    "Terminal latitude (Starlink: centre of the reported H3 cell; OneWeb: reported location).",
)
TERMINAL_LONGITUDE_DEGREES = _g(
    "leo_terminal_longitude_degrees",
    "terminal",
    "Terminal longitude (Starlink: centre of the reported H3 cell; OneWeb: reported location).",
)
TERMINAL_ALERT = _g(
    "leo_terminal_alert",
    "terminal",
    "1 while the named alert is active on the terminal; absent otherwise.",
    ("alert",),
)
TERMINAL_ACTIVE_ALERTS = _g("leo_terminal_active_alerts", "terminal", "Number of alerts active on the terminal.")
TERMINAL_IP_INFO = _g(
    "leo_terminal_ip_info",
    "terminal",
    "Public address or prefix allocated to the terminal (value 1); kind is ipv4, ipv6_ue or ipv6_cpe.",
    ("kind", "address"),
    collector="ip",
)
# (OneWeb's terminal signal and traffic families follow here: leo_exporter/providers/oneweb/families.py)
# --- routers (Starlink; its stream's ping, WAN and Wi-Fi client figures: leo_exporter/providers/starlink/families.py)
ROUTER_INFO = _i("leo_router_info", "router", "Known router (value 1) with its descriptive attributes.")
ROUTER_ONLINE = _g("leo_router_online", "router", "1 if the router sent telemetry within offline_after, else 0.")
ROUTER_LAST_SEEN_TIMESTAMP_SECONDS = _g(
    "leo_router_last_seen_timestamp_seconds",
    "router",
    "Device time of the newest router telemetry.",
    collector="details",
)
ROUTER_UPTIME_SECONDS = _g("leo_router_uptime_seconds", "router", "Wi-Fi router uptime.")
ROUTER_CLIENTS = _g("leo_router_clients", "router", "Connected clients by band (all, 2ghz, 5ghz, ethernet).", ("band",))
ROUTER_MESH_HOPS = _g(
    "leo_router_mesh_hops",
    "router",
    "Mesh hops from the controller (0: connected to the terminal).",
    collector="router_wifi",
)
ROUTER_ALERT = _g(
    "leo_router_alert", "router", "1 while the named alert is active on the router; absent otherwise.", ("alert",)
)
ROUTER_ACTIVE_ALERTS = _g(
    "leo_router_active_alerts", "router", "Number of alerts active on the router.", collector="details"
)
ROUTER_WIFI_REPEATER = _g(
    "leo_router_wifi_repeater",
    "router",
    "1 if the router runs as a Wi-Fi mesh repeater, 0 if not.",
    collector="router_wifi",
)
ROUTER_WIFI_BYPASSED = _g(
    "leo_router_wifi_bypassed",
    "router",
    "1 if the router's Wi-Fi is bypassed (the terminal used without it), 0 if not.",
    collector="router_wifi",
)
# --- service lines
SERVICE_LINE_INFO = _i(
    "leo_service_line_info", "service_line", "Known service line (value 1) with its descriptive attributes."
)
SERVICE_LINE_TAGS = _i(
    "leo_service_line_tags",
    "service_line",
    "The operator's tags of the service line (value 1), one label tag_<key> per tag set (config tags: and tags_file:).",
)
SERVICE_LINE_ACTIVE = _g("leo_service_line_active", "service_line", "1 if the service line is active, 0 if not.")
SERVICE_LINE_USAGE_BYTES = _g(
    "leo_service_line_usage_bytes",
    "service_line",
    "Data used in the current billing cycle by class (priority includes opt_in_priority). "
    "Providers refresh usage with a lag of up to a day.",
    ("class",),
    collector="usage",
)
SERVICE_LINE_DAILY_USAGE_BYTES = _g(
    "leo_service_line_daily_usage_bytes",
    "service_line",
    "Data used on the newest day the provider has reported, by class.",
    ("class",),
    collector="usage",
)
SERVICE_LINE_DAILY_USAGE_DATE_TIMESTAMP_SECONDS = _g(
    "leo_service_line_daily_usage_date_timestamp_seconds",
    "service_line",
    "Start (UTC midnight) of the day leo_service_line_daily_usage_bytes refers to.",
    collector="details",
)
SERVICE_LINE_USAGE_LIMIT_BYTES = _g(
    "leo_service_line_usage_limit_bytes",
    "service_line",
    "Data limit of the plan, where the plan has one.",
    collector="usage",
)
SERVICE_LINE_BILLING_CYCLE_START_TIMESTAMP_SECONDS = _g(
    "leo_service_line_billing_cycle_start_timestamp_seconds",
    "service_line",
    "Start of the current billing cycle.",
    collector="usage",
)
SERVICE_LINE_BILLING_CYCLE_END_TIMESTAMP_SECONDS = _g(
    "leo_service_line_billing_cycle_end_timestamp_seconds",
    "service_line",
    "End of the current billing cycle.",
    collector="usage",
)
SERVICE_LINE_USAGE_UPDATED_TIMESTAMP_SECONDS = _g(
    "leo_service_line_usage_updated_timestamp_seconds",
    "service_line",
    "When the provider last refreshed the usage figures.",
    collector="usage",
)
SERVICE_LINE_PREVIOUS_CYCLE_USAGE_BYTES = _g(
    "leo_service_line_previous_cycle_usage_bytes",
    "service_line",
    "Data used in the billing cycle before the current one, by class, so that the first day of a cycle is not blank.",
    ("class",),
    collector="usage",
)
SERVICE_LINE_PREVIOUS_CYCLE_START_TIMESTAMP_SECONDS = _g(
    "leo_service_line_previous_cycle_start_timestamp_seconds",
    "service_line",
    "Start of the billing cycle before the current one.",
    collector="details",
)
SERVICE_LINE_PREVIOUS_CYCLE_END_TIMESTAMP_SECONDS = _g(
    "leo_service_line_previous_cycle_end_timestamp_seconds",
    "service_line",
    "End of the billing cycle before the current one.",
    collector="usage",
)
SERVICE_LINE_OVERAGE_BYTES = _g(
    "leo_service_line_overage_bytes",
    "service_line",
    "Priority data used beyond the plan's limit this cycle while opted into overage, by overage product.",
    ("product",),
    collector="usage",
)
SERVICE_LINE_OVERAGE_LIMIT_BYTES = _g(
    "leo_service_line_overage_limit_bytes",
    "service_line",
    "The plan's included priority data before overage charges apply, by overage product.",
    ("product",),
    collector="usage",
)
SERVICE_LINE_OVERAGE_COST = _g(
    "leo_service_line_overage_cost",
    "service_line",
    "What this cycle's overage costs so far before taxes and fees, in units of `currency`.",
    ("product", "currency"),
    collector="usage",
)
# --- shared data pools (Starlink, pre-release at the provider)
DATA_POOL_INFO = _i(
    "leo_data_pool_info", "pool", "Shared data pool (value 1) with its name, product and data product type."
)
DATA_POOL_CAPACITY_BYTES = _g(
    "leo_data_pool_capacity_bytes", "pool", "Data the pool's blocks hold in their current period."
)
DATA_POOL_USAGE_BYTES = _g(
    "leo_data_pool_usage_bytes", "pool", "Data drawn from the pool's blocks in their current period."
)
DATA_POOL_PERIOD_END_TIMESTAMP_SECONDS = _g(
    "leo_data_pool_period_end_timestamp_seconds",
    "pool",
    "When the current period of the pool's data blocks ends (and their data with it).",
)
DATA_POOL_SERVICE_LINE_USAGE_BYTES = _g(
    "leo_data_pool_service_line_usage_bytes",
    "pool",
    "Data each service line drew from the pool in its blocks' current period.",
    ("service_line",),
)
# (Kognitive's service address families follow here: leo_exporter/providers/kognitive/families.py)
# --- products (Kognitive; OneWeb's products are its service lines)
PRODUCT_INFO = _i("leo_product_info", "product", "Product or data block available to the account (value 1).")
PRODUCT_PRICE = _g("leo_product_price", "product", "Price of the product in its currency (see leo_product_info).")
PRODUCT_DATA_BYTES = _g("leo_product_data_bytes", "product", "Data amount included in the product or data block.")
# --- exporter self-monitoring
EXPORTER_JOB_UP = _g("leo_exporter_job_up", "job", "1 if the job's last run succeeded, 0 if it failed.")
EXPORTER_JOB_ENABLED = _g(
    "leo_exporter_job_enabled", "job", "1 if the job is enabled now, 0 if disabled (by the config or at run time)."
)
EXPORTER_JOB_CONFIGURED_ENABLED = _g(
    "leo_exporter_job_configured_enabled",
    "job",
    "1 if the config file enables the job, 0 if it disables it (whatever was changed at run time).",
)
EXPORTER_JOB_LAST_RUN_TIMESTAMP_SECONDS = _g(
    "leo_exporter_job_last_run_timestamp_seconds",
    "job",
    "When the job last finished a run, successful or not.",
)
EXPORTER_JOB_LAST_SUCCESS_TIMESTAMP_SECONDS = _g(
    "leo_exporter_job_last_success_timestamp_seconds",
    "job",
    "When the job last succeeded. Jobs poll on their own timers (provider rate limits and the "
    "Starlink stream cursor forbid fetching on scrape), so time() minus this is the data's age.",
)
EXPORTER_JOB_DURATION_SECONDS = _g("leo_exporter_job_duration_seconds", "job", "Duration of the job's last run.")
EXPORTER_JOB_INTERVAL_SECONDS = _g(
    "leo_exporter_job_interval_seconds",
    "job",
    "Current interval between runs of the job (the configured one unless changed at run time).",
)
EXPORTER_JOB_CONFIGURED_INTERVAL_SECONDS = _g(
    "leo_exporter_job_configured_interval_seconds",
    "job",
    "Interval between runs of the job as the config file sets it; freshness alerts compare with this.",
)
EXPORTER_JOB_RUNS_TOTAL = _c(
    "leo_exporter_job_runs_total", "job", "Runs of the job by result (success, error).", ("result",)
)
EXPORTER_ACCOUNT_AUTHENTICATED = _g(
    "leo_exporter_account_authenticated",
    "account",
    "1 if the last authentication with the provider succeeded, 0 if it failed.",
    collector="exporter",
)
EXPORTER_API_REQUESTS_TOTAL = _c(
    "leo_exporter_api_requests_total",
    "account",
    "HTTP requests to the provider by endpoint and status code (code is 'error' when no response came).",
    ("endpoint", "code"),
    collector="exporter",
)
EXPORTER_RATE_LIMITED_TOTAL = _c(
    "leo_exporter_rate_limited_total",
    "account",
    "Responses with HTTP 429 from the provider.",
    collector="exporter",
)
EXPORTER_UNKNOWN_FIELDS_TOTAL = _c(
    "leo_exporter_unknown_fields_total",
    "account",
    "New column, alert or device type names seen in provider data (each is logged once).",
    ("kind",),
    collector="exporter",
)
EXPORTER_INVALID_VALUES_TOTAL = _c(
    "leo_exporter_invalid_values_total",
    "account",
    "Values in provider data that could not be read and were left out (an H3 cell that is no cell, "
    "a timestamp that is no time), by field; each field and kind of problem is logged once.",
    ("field",),
    collector="exporter",
)
EXPORTER_INVALID_MEASUREMENTS_TOTAL = _c(
    "leo_exporter_invalid_measurements_total",
    "account",
    "Measurements the exporter's own provider code handed the state that do not fit the catalogue (a family "
    "that is not in it, of another entity kind, or with missing or extra labels) and were dropped, by family; "
    "each family is logged once. Anything but absent is a bug in the exporter.",
    ("family",),
    collector="exporter",
)
EXPORTER_TELEMETRY_ROWS_TOTAL = _c(
    "leo_exporter_telemetry_rows_total",
    "account",
    "Telemetry rows received from the provider's stream, by device type.",
    ("device_type",),
    collector="exporter",
)
EXPORTER_BUILD_INFO = _i(
    "leo_exporter_build_info",
    "exporter",
    "Build information of the running exporter (value 1): version, source revision, Python version.",
)
EXPORTER_SHARD_INFO = _i(
    "leo_exporter_shard_info",
    "exporter",
    "Shard of this exporter replica (value 1): it polls only the accounts that rendezvous hashing "
    "assigns to shard `index` of `total`.",
)
EXPORTER_SHARD_LEADER = _g(
    "leo_exporter_shard_leader",
    "exporter",
    "1 while this replica holds the Kubernetes Lease of the shard and polls its accounts, else 0 "
    "(--shard.leases only). Each shard should have exactly one replica at 1.",
    ("shard",),
)
EXPORTER_SHARD_TRANSITIONS_TOTAL = _c(
    "leo_exporter_shard_transitions_total",
    "exporter",
    "Times this replica gained or lost the shard's lease (--shard.leases only); a fast rise is leadership flapping.",
    ("shard",),
)
EXPORTER_RENDER_DURATION_SECONDS = _g(
    "leo_exporter_render_duration_seconds", "exporter", "Time the last rendering of the exposition took."
)
EXPORTER_CONFIG_LAST_RELOAD_SUCCESSFUL = _g(
    "leo_exporter_config_last_reload_successful",
    "exporter",
    "1 if the last config (re)load succeeded, 0 if it failed and the previous config is still running.",
)
EXPORTER_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS = _g(
    "leo_exporter_config_last_reload_success_timestamp_seconds",
    "exporter",
    "When the config was last loaded successfully (start, SIGHUP or POST /-/reload).",
)
EXPORTER_TAGS_FILE_LAST_LOAD_SUCCESSFUL = _g(
    "leo_exporter_tags_file_last_load_successful",
    "exporter",
    "1 if the tags file (tags_file:) was last read without error, 0 if not (the previous tags stay).",
)
EXPORTER_TAGS_FILE_LAST_LOAD_SUCCESS_TIMESTAMP_SECONDS = _g(
    "leo_exporter_tags_file_last_load_success_timestamp_seconds",
    "exporter",
    "When the tags file was last read successfully (start, reload, or a change of its modification time).",
)
EXPORTER_EXPOSITION_BYTES = _g(
    "leo_exporter_exposition_bytes", "exporter", "Size of the last rendered exposition, uncompressed."
)

# served by the front process (leo_exporter/front.py) beside the worker's exposition, never rendered
EXPORTER_WORKER_UP = _g(
    "leo_exporter_worker_up",
    "exporter",
    "1 if the worker process (state, jobs, rendering) runs and has handed over its exposition, 0 while "
    "the front restarts it and serves the last exposition it had.",
)
EXPORTER_WORKER_RESTARTS_TOTAL = _c(
    "leo_exporter_worker_restarts_total",
    "exporter",
    "Times the front process restarted the worker process after it exited.",
)

CENTRAL: tuple[MetricSpec[Any, Any], ...] = tuple(_declared)
# Info families whose labels are the user's tags, not the entity's attributes (the renderer reads
# EntityTable.tags for them): tags live on these series only, never on a data series.
TAG_FAMILIES: frozenset[MetricSpec[Any, Any]] = frozenset({TERMINAL_TAGS, SERVICE_LINE_TAGS})

# The standard process families, from prometheus_client's ProcessCollector, rendered at the end
# of the cached exposition (always on, like every exporter's; empty where /proc is missing).
PROCESS_CATALOG: tuple[MetricSpec[Literal["process"], NoLabels], ...] = (
    MetricSpec("process_virtual_memory_bytes", "gauge", "process", "Virtual memory size in bytes.", ()),
    MetricSpec("process_resident_memory_bytes", "gauge", "process", "Resident memory size in bytes.", ()),
    MetricSpec(
        "process_start_time_seconds", "gauge", "process", "Start time of the process since unix epoch in seconds.", ()
    ),
    MetricSpec(
        "process_cpu_seconds_total", "counter", "process", "Total user and system CPU time spent in seconds.", ()
    ),
    MetricSpec("process_open_fds", "gauge", "process", "Number of open file descriptors.", ()),
    MetricSpec("process_max_fds", "gauge", "process", "Maximum number of open file descriptors.", ()),
)

# --- collectors: families in named groups, switched with --[no-]collector.<name> or `collectors:`
# in the config. The exporter's own figures (`exporter`) are always on.
COLLECTORS: tuple[str, ...] = (
    "account",
    "terminal",
    "router",
    "ip",
    "service_line",
    "usage",
    "pool",
    "product",
    "organization",
    "router_wifi",
    "details",
)
ALWAYS_ON = "exporter"
# Off unless switched on (`--collector.<name>`), the node_exporter way: figures few users need, that
# no shipped dashboard panel or alert uses by default, about 15 series a Starlink terminal (issue 29).
# router_wifi: the per-band min/avg/max of every router's Wi-Fi clients, mesh hops, repeater and
# bypass flags; details: the rest of that kind (territorial waters, reboot delay, router last seen
# and alert count, the day of the daily usage, the previous cycle's start).
DEFAULT_OFF: frozenset[str] = frozenset({"router_wifi", "details"})

# --- the catalogue: the central families and those of the registered providers, in exposition
# order. Both are filled in place when the provider registry loads (`install`), so a module that
# imported them sees the providers' families; before that they hold the central families only.
CATALOG: list[MetricSpec[Any, Any]] = list(CENTRAL)
BY_NAME: dict[str, MetricSpec[Any, Any]] = {spec.name: spec for spec in (*CATALOG, *PROCESS_CATALOG)}


def install(provided: Sequence[MetricSpec[Any, Any]]) -> None:
    """Make the catalogue the central families plus `provided` (every registered provider's, in the
    registry's order), replacing what an earlier call installed. A provider's family comes right
    after the central family it `follows`, else after the central data families, so that the
    exporter's own figures stay last. Raises ValueError for a family that cannot be served."""
    central = {spec.name for spec in (*CENTRAL, *PROCESS_CATALOG)}
    data = [spec for spec in CENTRAL if spec.collector != ALWAYS_ON]
    anchors = {spec.name for spec in data}
    seen: set[str] = set()
    for spec in provided:
        if not spec.name.startswith("leo_") or spec.name.startswith("leo_exporter_"):
            raise ValueError(f"{spec.name}: a provider's family is named leo_<entity>_…, never leo_exporter_…")
        if spec.name in central or spec.name in seen:
            raise ValueError(f"{spec.name} is declared twice (centrally or by two providers)")
        if spec.collector not in COLLECTORS:
            raise ValueError(f"{spec.name}: unknown collector {spec.collector!r}; there are: {', '.join(COLLECTORS)}")
        if spec.follows is not None and spec.follows not in anchors:
            raise ValueError(f"{spec.name} follows {spec.follows!r}, which is no central data family")
        seen.add(spec.name)
    ordered: list[MetricSpec[Any, Any]] = []
    for spec in data:
        ordered.append(spec)
        ordered.extend(p for p in provided if p.follows == spec.name)
    ordered.extend(p for p in provided if p.follows is None)
    ordered.extend(spec for spec in CENTRAL if spec.collector == ALWAYS_ON)
    CATALOG[:] = ordered
    BY_NAME.clear()
    BY_NAME.update((spec.name, spec) for spec in (*CATALOG, *PROCESS_CATALOG))


IDENTITY_LABEL: dict[str, str | None] = {
    "account": None,
    "terminal": "terminal_id",
    "router": "router_id",
    "service_line": "service_line",
    "product": "product",
    "organization": "organization",
    "site": "site",
    "pool": "pool",
    "job": "call",
    "exporter": None,
    "process": None,
}
