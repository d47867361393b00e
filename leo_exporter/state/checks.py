"""Measurement checks: a value handed to the state through a catalogue handle fits that family.

A measurement that does not fit the catalogue (a family that is not in it or is of another entity
kind, labels missing or extra) is a bug in the exporter: with LEO_EXPORTER_STRICT_MEASUREMENTS=1
(the test suite sets it) it raises InvalidMeasurement; otherwise the state drops it, counts it in
`leo_exporter_invalid_measurements_total{family}` and logs it once per family and account.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from math import isfinite
from typing import Any, TypeAlias

from leo_exporter.catalog import BY_NAME, EntityKind, L, MetricSpec
from leo_exporter.labeltext import escape_label, label_fragment

STRICT_ENV = "LEO_EXPORTER_STRICT_MEASUREMENTS"
# The extra label values of one sample: a tuple in the order of the family's `extra`, or a mapping
# of label name to value.
LabelValues: TypeAlias = tuple[str, ...] | Mapping[str, str]
# The samples of one entity in a family with extra labels: label values -> value.
Samples: TypeAlias = Mapping[L, float] | Iterable[tuple[L | Mapping[str, str], float]]


def finite(value: float) -> bool:
    """True for a number Prometheus can take as a sample value from us (no NaN, no infinities)."""
    try:
        return isfinite(value)
    except (OverflowError, TypeError):
        return False


class InvalidMeasurement(ValueError):
    """A measurement that does not fit the catalogue: a bug in the exporter, never bad provider data."""


def strict_measurements() -> bool:
    """Raise on an invalid measurement (tests) rather than count and log it (production)."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def family_name(family: object) -> str:
    """What an invalid measurement's `family` label says: the handle's name, or what was given."""
    name = getattr(family, "name", None)
    return name if isinstance(name, str) else str(family)[:100]


def checked_name(family: object, kind: EntityKind, labelled: bool) -> str:
    """The family's name if `family` is a handle of the catalogue for entities of `kind` that takes
    values with (`labelled`) or without extra labels; else InvalidMeasurement saying why."""
    if not isinstance(family, MetricSpec):
        raise InvalidMeasurement(f"{family_name(family)!r} is not a family handle of leo_exporter.catalog")
    known = BY_NAME.get(family.name)
    if known is not family and known != family:
        raise InvalidMeasurement(f"{family.name} is not in the catalogue")
    if family.entity != kind:
        raise InvalidMeasurement(f"{family.name} is a {family.entity} family, given for a {kind}")
    if family.type == "info":
        raise InvalidMeasurement(f"{family.name} is an info family: its labels come from the entity's attributes")
    if labelled and not family.extra:
        raise InvalidMeasurement(f"{family.name} has no extra labels; its values are set without any")
    if not labelled and family.extra:
        raise InvalidMeasurement(f"{family.name} needs the labels {', '.join(family.extra)}")
    return family.name


def checked_fragment(family: MetricSpec[Any, Any], labels: object) -> str:
    """The escaped `a="1",b="2"` text of one sample's extra labels, in the catalogue's order."""
    names: tuple[str, ...] = family.extra
    if type(labels) is tuple and len(labels) == len(names):  # the usual case, kept quick
        parts = []
        for name, value in zip(names, labels, strict=True):
            if type(value) is not str:
                break
            parts.append(f'{name}="{escape_label(value)}"')
        else:
            return ",".join(parts)
    if isinstance(labels, tuple):
        values: tuple[Any, ...] = labels
        if len(values) != len(names):
            raise InvalidMeasurement(
                f"{family.name}: {len(values)} label value(s) given for the labels {', '.join(names) or 'none'}"
            )
    elif isinstance(labels, Mapping):
        if labels.keys() != set(names):
            missing = ", ".join(n for n in names if n not in labels) or "none"
            extra = ", ".join(sorted(str(k) for k in labels if k not in names)) or "none"
            raise InvalidMeasurement(f"{family.name}: labels missing: {missing}; labels not in the family: {extra}")
        values = tuple(labels[n] for n in names)
    else:
        raise InvalidMeasurement(
            f"{family.name}: label values must be a tuple or a mapping, not {type(labels).__name__}"
        )
    if not all(isinstance(v, str) for v in values):
        raise InvalidMeasurement(f"{family.name}: label values must be strings")
    return label_fragment(zip(names, values, strict=True))
