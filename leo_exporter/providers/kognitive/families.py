"""The families only Kognitive sets, declared in its folder and installed into the catalogue by the
registry (`PROVIDER.families`)."""

from __future__ import annotations

from leo_exporter import catalog

# the service address of a line (getAddress, joined where the data allows): after the data pools
AFTER_POOLS = catalog.DATA_POOL_SERVICE_LINE_USAGE_BYTES.name
SERVICE_LINE_LATITUDE_DEGREES = catalog.gauge(
    "leo_service_line_latitude_degrees",
    "service_line",
    "Latitude of the service line's registered service address (Kognitive getAddress); not the terminal's position.",
    follows=AFTER_POOLS,
)
SERVICE_LINE_LONGITUDE_DEGREES = catalog.gauge(
    "leo_service_line_longitude_degrees",
    "service_line",
    "Longitude of the service line's registered service address (Kognitive getAddress); not the terminal's position.",
    follows=AFTER_POOLS,
)

FAMILIES = (
    SERVICE_LINE_LATITUDE_DEGREES,
    SERVICE_LINE_LONGITUDE_DEGREES,
)
