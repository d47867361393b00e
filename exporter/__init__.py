"""leo-exporter: Prometheus exporter for LEO satellite terminal fleets."""

__version__ = "0.1.0"
