"""leo-exporter: Prometheus exporter for LEO satellite terminal fleets."""

from leo_exporter.version import version as __version__

__all__ = ["__version__"]
