"""The stock way: the same series through prometheus_client's labelled metrics and generate_latest.

Used by the renderer equivalence test and by the fleet benchmark as the baseline. Families are
taken from a parsed exposition, so both sides hold exactly the same series.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

disable_created_metrics()


def parse(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))


class _Families:
    """A collector of ready families, for the rare family whose samples differ in label names."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def stock_registry(families: Iterable[Metric]) -> CollectorRegistry:
    """A registry of labelled Gauges and Counters (`labels(...).set()`) holding the families' samples."""
    registry = CollectorRegistry(auto_describe=False)
    mixed: list[Metric] = []
    for family in families:
        labelnames = {tuple(sample.labels) for sample in family.samples}
        if len(labelnames) != 1:
            mixed.append(family)  # info series of different providers carry different attributes
            continue
        names = next(iter(labelnames))
        cls = Counter if family.type == "counter" else Gauge
        metric = cls(family.name, family.documentation, names, registry=registry)
        for sample in family.samples:
            child = metric.labels(**sample.labels) if names else metric
            if cls is Counter:
                child.inc(sample.value)
            else:
                child.set(sample.value)
    if mixed:
        registry.register(_Families(mixed))
    return registry


def render_stock(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
