"""The families only Starlink sets, declared in its folder and installed into the catalogue by the
registry (`PROVIDER.families`): its routers' figures from the telemetry stream that no other
provider reports and the state does not derive (router info, online flag, uptime, clients, mesh
hops, Wi-Fi mode and alerts stay central: the state keeps routers). Each follows the central
router family it has always been rendered after."""

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

FAMILIES = (
    ROUTER_PING_LATENCY_SECONDS,
    ROUTER_PING_DROP_RATIO,
    ROUTER_WAN_RECEIVE_BYTES_TOTAL,
    ROUTER_WAN_TRANSMIT_BYTES_TOTAL,
    ROUTER_WIFI_CLIENT_RECEIVE_RATE_BYTES_PER_SECOND,
    ROUTER_WIFI_CLIENT_TRANSMIT_RATE_BYTES_PER_SECOND,
    ROUTER_WIFI_CLIENT_SIGNAL_STRENGTH_DBM,
)
