"""The families only Starlink sets, declared in its folder and installed into the catalogue by the
registry (`PROVIDER.families`): its routers' figures from the telemetry stream that no other
provider reports and the state does not derive (router info, online flag, uptime, clients, mesh
hops, Wi-Fi mode and alerts stay central: the state keeps routers). Each follows the central
router family it has always been rendered after.

Also the "additional services" of a service line and a pool that only Starlink's V2 API reports
(`ServiceLineResponse.dataBlocks`, `DataServicePlan.isOptedIntoOverage`,
`DataPoolResponseV2.automaticTopUpEnabled`): they follow the overage families, beside the limit
they raise. The data blocks come with the service line listing (the `service_lines` job), so they
are in its collector group, `service_line`; the overage opt-in comes with the usage."""

from __future__ import annotations

from leo_exporter import catalog

ROUTER_PING_LATENCY_SECONDS = catalog.gauge(
    "leo_router_ping_latency_seconds",
    "router",
    "Ping latency from the router by target (internet, pop, dish).",
    ("target",),
    follows=catalog.ROUTER_CLIENTS.name,
)
ROUTER_PING_DROP_RATIO = catalog.gauge(
    "leo_router_ping_drop_ratio",
    "router",
    "Fraction of pings dropped from the router by target (internet, pop, dish).",
    ("target",),
    follows=catalog.ROUTER_CLIENTS.name,
)
ROUTER_WAN_RECEIVE_BYTES_TOTAL = catalog.counter(
    "leo_router_wan_receive_bytes_total",
    "router",
    "Bytes received on the router WAN port.",
    follows=catalog.ROUTER_MESH_HOPS.name,
)
ROUTER_WAN_TRANSMIT_BYTES_TOTAL = catalog.counter(
    "leo_router_wan_transmit_bytes_total",
    "router",
    "Bytes transmitted on the router WAN port.",
    follows=catalog.ROUTER_MESH_HOPS.name,
)
ROUTER_WIFI_CLIENT_RECEIVE_RATE_BYTES_PER_SECOND = catalog.gauge(
    "leo_router_wifi_client_receive_rate_bytes_per_second",
    "router",
    "Receive link rate of the router's Wi-Fi clients by band (2ghz, 5ghz) and stat (min, avg, max).",
    ("band", "stat"),
    collector="router_wifi",
    follows=catalog.ROUTER_WIFI_BYPASSED.name,
)
ROUTER_WIFI_CLIENT_TRANSMIT_RATE_BYTES_PER_SECOND = catalog.gauge(
    "leo_router_wifi_client_transmit_rate_bytes_per_second",
    "router",
    "Transmit link rate of the router's Wi-Fi clients by band (2ghz, 5ghz) and stat (min, avg, max).",
    ("band", "stat"),
    collector="router_wifi",
    follows=catalog.ROUTER_WIFI_BYPASSED.name,
)
ROUTER_WIFI_CLIENT_SIGNAL_STRENGTH_DBM = catalog.gauge(
    "leo_router_wifi_client_signal_strength_dbm",
    "router",
    "Signal strength of the router's Wi-Fi clients by band (2ghz, 5ghz) and stat (min, avg, max).",
    ("band", "stat"),
    collector="router_wifi",
    follows=catalog.ROUTER_WIFI_BYPASSED.name,
)

SERVICE_LINE_OVERAGE_OPTED_IN = catalog.gauge(
    "leo_service_line_overage_opted_in",
    "service_line",
    "1 if the service line is opted into overage (priority data beyond the limit billed per GB), 0 if not.",
    collector="usage",
    follows=catalog.SERVICE_LINE_OVERAGE_COST.name,
)
SERVICE_LINE_RECURRING_DATA_BLOCKS = catalog.gauge(
    "leo_service_line_recurring_data_blocks",
    "service_line",
    "Recurring data blocks added to the line's data in the current billing cycle, by block product.",
    ("product",),
    collector="service_line",
    follows=catalog.SERVICE_LINE_OVERAGE_COST.name,
)
SERVICE_LINE_RECURRING_DATA_BLOCK_SIZE_BYTES = catalog.gauge(
    "leo_service_line_recurring_data_block_size_bytes",
    "service_line",
    "Data each recurring data block of the current billing cycle holds, by block product.",
    ("product",),
    collector="service_line",
    follows=catalog.SERVICE_LINE_OVERAGE_COST.name,
)
SERVICE_LINE_TOP_UP_DATA_BLOCKS = catalog.gauge(
    "leo_service_line_top_up_data_blocks",
    "service_line",
    "Top-up data blocks bought for the current billing cycle, by block product and purchase "
    "(one_time: bought by hand; opt_in: bought automatically when the line ran out of data).",
    ("product", "purchase"),
    collector="service_line",
    follows=catalog.SERVICE_LINE_OVERAGE_COST.name,
)
SERVICE_LINE_TOP_UP_DATA_BYTES = catalog.gauge(
    "leo_service_line_top_up_data_bytes",
    "service_line",
    "Data the top-up blocks bought for the current billing cycle add (blocks times each block's data), "
    "by block product and purchase.",
    ("product", "purchase"),
    collector="service_line",
    follows=catalog.SERVICE_LINE_OVERAGE_COST.name,
)
DATA_POOL_AUTOMATIC_TOP_UP_ENABLED = catalog.gauge(
    "leo_data_pool_automatic_top_up_enabled",
    "pool",
    "1 if the pool buys top-up data blocks automatically when it runs out (opted into overage top-ups), 0 if not.",
    follows=catalog.DATA_POOL_PERIOD_END_TIMESTAMP_SECONDS.name,
)

FAMILIES = (
    ROUTER_PING_LATENCY_SECONDS,
    ROUTER_PING_DROP_RATIO,
    ROUTER_WAN_RECEIVE_BYTES_TOTAL,
    ROUTER_WAN_TRANSMIT_BYTES_TOTAL,
    ROUTER_WIFI_CLIENT_RECEIVE_RATE_BYTES_PER_SECOND,
    ROUTER_WIFI_CLIENT_TRANSMIT_RATE_BYTES_PER_SECOND,
    ROUTER_WIFI_CLIENT_SIGNAL_STRENGTH_DBM,
    SERVICE_LINE_OVERAGE_OPTED_IN,
    SERVICE_LINE_RECURRING_DATA_BLOCKS,
    SERVICE_LINE_RECURRING_DATA_BLOCK_SIZE_BYTES,
    SERVICE_LINE_TOP_UP_DATA_BLOCKS,
    SERVICE_LINE_TOP_UP_DATA_BYTES,
    DATA_POOL_AUTOMATIC_TOP_UP_ENABLED,
)
