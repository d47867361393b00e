"""The families only OneWeb sets, declared in its folder and installed into the catalogue by the
registry (`PROVIDER.families`). Assumed report shapes are marked in docs/metrics.md and
docs/providers/oneweb.md."""

from __future__ import annotations

from leo_exporter import catalog

# signal and traffic of a terminal, from the performance reports: they follow the central terminal families
AFTER_TERMINALS = catalog.TERMINAL_IP_INFO.name
TERMINAL_LINK_AVAILABILITY_RATIO = catalog.gauge(
    "leo_terminal_link_availability_ratio",
    "terminal",
    "Link availability over the report period (0-1).",
    follows=AFTER_TERMINALS,
)
TERMINAL_RSRP_DBM = catalog.gauge(
    "leo_terminal_rsrp_dbm", "terminal", "Reference signal received power.", follows=AFTER_TERMINALS
)
TERMINAL_RSSI_DBM = catalog.gauge(
    "leo_terminal_rssi_dbm", "terminal", "Received signal strength indicator.", follows=AFTER_TERMINALS
)
TERMINAL_SINR_DECIBELS = catalog.gauge(
    "leo_terminal_sinr_decibels", "terminal", "Signal to interference plus noise ratio.", follows=AFTER_TERMINALS
)
TERMINAL_REPORT_TIMESTAMP_SECONDS = catalog.gauge(
    "leo_terminal_report_timestamp_seconds",
    "terminal",
    "Time the provider's newest performance report of each kind refers to (never the scrape time; "
    "OneWeb report: link_availability, signal_quality, traffic).",
    ("report",),
    follows=AFTER_TERMINALS,
)
TERMINAL_RECEIVE_BYTES_TOTAL = catalog.counter(
    "leo_terminal_receive_bytes_total",
    "terminal",
    "Bytes received by the terminal per traffic type, as reported by the provider.",
    ("traffic",),
    follows=AFTER_TERMINALS,
)
TERMINAL_TRANSMIT_BYTES_TOTAL = catalog.counter(
    "leo_terminal_transmit_bytes_total",
    "terminal",
    "Bytes transmitted by the terminal per traffic type, as reported by the provider.",
    ("traffic",),
    follows=AFTER_TERMINALS,
)
# inventory, products, usage buckets, organizations and sites: after the central data families
TERMINAL_FIRST_SEEN_TIMESTAMP_SECONDS = catalog.gauge(
    "leo_terminal_first_seen_timestamp_seconds",
    "terminal",
    "When the provider first saw the terminal on its network (Unix seconds).",
)
TERMINAL_ELEVATION_METERS = catalog.gauge(
    "leo_terminal_elevation_meters", "terminal", "Terminal elevation as reported with its location."
)
TERMINAL_COMPONENT_INFO = catalog.gauge(
    "leo_terminal_component_info",
    "terminal",
    "Hardware or software component of the terminal and its version (value 1).",
    ("component", "partition", "version"),
)
SERVICE_LINE_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND = catalog.gauge(
    "leo_service_line_downlink_throughput_bytes_per_second",
    "service_line",
    "Downlink throughput of the product instance by DiffServ traffic class over the provider's report period.",
    ("traffic_class",),
)
SERVICE_LINE_UPLINK_THROUGHPUT_BYTES_PER_SECOND = catalog.gauge(
    "leo_service_line_uplink_throughput_bytes_per_second",
    "service_line",
    "Uplink throughput of the product instance by DiffServ traffic class over the provider's report period.",
    ("traffic_class",),
)
SERVICE_LINE_REPORT_TIMESTAMP_SECONDS = catalog.gauge(
    "leo_service_line_report_timestamp_seconds",
    "service_line",
    "Time the provider's newest report of each kind for the service line refers to (never the scrape time).",
    ("report",),
)
SERVICE_LINE_MAX_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND = catalog.gauge(
    "leo_service_line_max_downlink_throughput_bytes_per_second",
    "service_line",
    "Maximum downlink bandwidth of the plan.",
)
SERVICE_LINE_MAX_UPLINK_THROUGHPUT_BYTES_PER_SECOND = catalog.gauge(
    "leo_service_line_max_uplink_throughput_bytes_per_second",
    "service_line",
    "Maximum uplink bandwidth of the plan.",
)
SERVICE_LINE_OVERAGE_INCREMENT_BYTES = catalog.gauge(
    "leo_service_line_overage_increment_bytes",
    "service_line",
    "Size of one overage block added when the allowance is used up.",
    collector="usage",
)
SERVICE_LINE_USAGE_ENTITLEMENT_BYTES = catalog.gauge(
    "leo_service_line_usage_entitlement_bytes",
    "service_line",
    "Data the usage bucket grants per billing cycle (the monthly entitlement).",
    ("class",),
    collector="usage",
)
SERVICE_LINE_USAGE_REMAINING_BYTES = catalog.gauge(
    "leo_service_line_usage_remaining_bytes",
    "service_line",
    "Allowance left in the usage bucket this billing cycle (a shared sub-pool's: the pool's).",
    ("class",),
    collector="usage",
)
SERVICE_LINE_USAGE_BALANCE_BYTES = catalog.gauge(
    "leo_service_line_usage_balance_bytes",
    "service_line",
    "Current balance of the usage bucket as the provider reports it.",
    ("class",),
    collector="usage",
)
SERVICE_LINE_USAGE_OVERAGE_BLOCKS = catalog.gauge(
    "leo_service_line_usage_overage_blocks",
    "service_line",
    "Overage blocks consumed in the current billing cycle.",
    ("class",),
    collector="usage",
)
SERVICE_LINE_USAGE_BUCKET_INFO = catalog.gauge(
    "leo_service_line_usage_bucket_info",
    "service_line",
    "Usage bucket of the service line (value 1): its id, name, type and sub-pool.",
    ("class", "bucket", "bucket_name", "bucket_type", "usage_type", "sub_pool", "shared"),
    collector="usage",
)
ORGANIZATION_INFO = catalog.info(
    "leo_organization_info",
    "organization",
    "Organization known to the account (value 1): distribution partner or customer, with its parent.",
)
SITE_INFO = catalog.info(
    "leo_site_info", "site", "Site (physical location products are deployed at) known to the account (value 1)."
)

FAMILIES = (
    TERMINAL_LINK_AVAILABILITY_RATIO,
    TERMINAL_RSRP_DBM,
    TERMINAL_RSSI_DBM,
    TERMINAL_SINR_DECIBELS,
    TERMINAL_REPORT_TIMESTAMP_SECONDS,
    TERMINAL_RECEIVE_BYTES_TOTAL,
    TERMINAL_TRANSMIT_BYTES_TOTAL,
    TERMINAL_FIRST_SEEN_TIMESTAMP_SECONDS,
    TERMINAL_ELEVATION_METERS,
    TERMINAL_COMPONENT_INFO,
    SERVICE_LINE_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND,
    SERVICE_LINE_UPLINK_THROUGHPUT_BYTES_PER_SECOND,
    SERVICE_LINE_REPORT_TIMESTAMP_SECONDS,
    SERVICE_LINE_MAX_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND,
    SERVICE_LINE_MAX_UPLINK_THROUGHPUT_BYTES_PER_SECOND,
    SERVICE_LINE_OVERAGE_INCREMENT_BYTES,
    SERVICE_LINE_USAGE_ENTITLEMENT_BYTES,
    SERVICE_LINE_USAGE_REMAINING_BYTES,
    SERVICE_LINE_USAGE_BALANCE_BYTES,
    SERVICE_LINE_USAGE_OVERAGE_BLOCKS,
    SERVICE_LINE_USAGE_BUCKET_INFO,
    ORGANIZATION_INFO,
    SITE_INFO,
)
