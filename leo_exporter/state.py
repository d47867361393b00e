"""The fleet state: what every account's terminals, routers and service lines look like now.

Values are stored by metric family and entity id, and each entity's label string is built once
(when the entity first appears), so the renderer only concatenates. The `account` label is the
config account's name, fixed before any API call: the provider's own account ids are attributes
(`provider_account`) on info series, never identity. The big
tables are changed only inside the state worker (see `StateWorker`), which also runs the
renderer, so a render never sees a table half-updated. Small counters (requests, job status)
are changed on the event loop; the renderer copies those dicts, which CPython does atomically.

Providers measure through the catalogue's typed handles (`table.set(TERMINAL_UPTIME_SECONDS, id,
value)`, `table.set_labelled(ROUTER_CLIENTS, id, {("2ghz",): 3})`); only this module turns them
into names and escaped label text. A measurement that does not fit the catalogue (a family that
is not in it or is of another entity kind, labels missing or extra) is a bug in the exporter:
with LEO_EXPORTER_STRICT_MEASUREMENTS=1 (the test suite sets it) it raises InvalidMeasurement;
otherwise it is dropped, counted in `leo_exporter_invalid_measurements_total{family}` and logged
once per family and account, so a slip costs one series, never a job.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from math import isfinite
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import anyio
import anyio.to_thread

from leo_exporter import catalog
from leo_exporter.catalog import BY_NAME, E, EntityKind, L, MetricSpec, NoLabels
from leo_exporter.records import (
    AccountRecord,
    PoolRecord,
    ProductRecord,
    RouterRecord,
    ServiceLineRecord,
    TelemetryColumns,
    TerminalRecord,
    UsageRecord,
)
from leo_exporter.samples import FragmentSets
from leo_exporter.samples import Samples as HeldSamples

T = TypeVar("T")
log = logging.getLogger("leo_exporter.state")

STRICT_ENV = "LEO_EXPORTER_STRICT_MEASUREMENTS"
# The extra label values of one sample: a tuple in the order of the family's `extra`, or a mapping
# of label name to value.
LabelValues: TypeAlias = tuple[str, ...] | Mapping[str, str]
# The samples of one entity in a family with extra labels: label values -> value.
Samples: TypeAlias = Mapping[L, float] | Iterable[tuple[L | Mapping[str, str], float]]

# Series that exist only while the entity is online (they stop when it goes offline).
TERMINAL_LIVE: tuple[MetricSpec[Literal["terminal"], Any], ...] = (
    catalog.TERMINAL_UPTIME_SECONDS,
    catalog.TERMINAL_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND,
    catalog.TERMINAL_UPLINK_THROUGHPUT_BYTES_PER_SECOND,
    catalog.TERMINAL_POP_PING_LATENCY_SECONDS,
    catalog.TERMINAL_POP_PING_DROP_RATIO,
    catalog.TERMINAL_OBSTRUCTION_RATIO,
    catalog.TERMINAL_SIGNAL_QUALITY_RATIO,
    catalog.TERMINAL_SOFTWARE_UPDATE_REBOOT_DELAY_SECONDS,
    catalog.TERMINAL_IN_TERRITORIAL_WATERS,
    catalog.TERMINAL_LATITUDE_DEGREES,
    catalog.TERMINAL_LONGITUDE_DEGREES,
)
# Labelled terminal families that describe the terminal, not a live reading: Starlink sends IP
# allocations at least every 5 minutes and on change, so they stay while the terminal is known
# (online or not) until new ones arrive or it leaves the inventory.
TERMINAL_KEPT: tuple[MetricSpec[Literal["terminal"], Any], ...] = (catalog.TERMINAL_IP_INFO,)
ROUTER_LIVE: tuple[MetricSpec[Literal["router"], Any], ...] = (
    catalog.ROUTER_UPTIME_SECONDS,
    catalog.ROUTER_MESH_HOPS,
    catalog.ROUTER_WIFI_REPEATER,
    catalog.ROUTER_WIFI_BYPASSED,
)


def finite(value: float) -> bool:
    """True for a number Prometheus can take as a sample value from us (no NaN, no infinities)."""
    try:
        return isfinite(value)
    except (OverflowError, TypeError):
        return False


def escape_label(value: str) -> str:
    """Escape a label value as the text exposition format requires."""
    if "\\" in value or "\n" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def label_fragment(pairs: Iterable[tuple[str, str]]) -> str:
    """`a="1",b="2"`: the inside of the braces for the given label pairs."""
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)


def intern(text: str) -> str:
    """One copy of a label text or attribute that many entities repeat (`class="priority"`, a
    software version, a country): at 50,000 terminals the copies would cost tens of MiB."""
    return sys.intern(text) if type(text) is str else text


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


class InfoLabels(Mapping[str, str]):
    """A table's info label texts, joined when asked for (the table keeps identity and attributes apart)."""

    def __init__(self, labels: dict[str, str], extra: dict[str, str]):
        self._labels = labels
        self._extra = extra

    def __getitem__(self, entity_id: str) -> str:
        return self._labels[entity_id] + self._extra[entity_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._extra)

    def __len__(self) -> int:
        return len(self._extra)


def _unowned(family: object, problem: InvalidMeasurement) -> None:
    """How a table outside any account reports an invalid measurement: it has nowhere to count it."""
    if strict_measurements():
        raise problem
    log.error("invalid measurement dropped: %s", problem)


class EntityTable(Generic[E]):
    """One kind of entity (terminals, routers, ...) of one account.

    `simple[family][id]` holds values of families with identity labels only;
    `labelled[family][id][fragment]` holds families with extra labels, `fragment` being the
    already escaped `alert="x"` part (a read-only `leo_exporter.samples.Samples` per entity).
    `labels[id]` is the identity label string, `info_extra[id]` what its info series adds.

    The public methods take the catalogue's handles for families of this table's `kind` and check
    them (see the module docstring); the `_store*` methods below them hold the values by name.
    """

    def __init__(
        self,
        kind: E,
        prefix: str,
        id_label: str,
        live: tuple[MetricSpec[E, Any], ...] = (),
        kept: tuple[MetricSpec[E, Any], ...] = (),
    ):
        self.kind: E = kind
        self.prefix = prefix
        self.id_label = id_label
        self.base = ""
        self.labels: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        # the info series' labels after the identity: `,name="x",...` (or ""); the identity is not
        # repeated here (150,000 entities at 50,000 terminals: ~20 MiB of copies)
        self.info_extra: dict[str, str] = {}
        self.common: dict[str, str] = {}  # attributes every entity's info series carries
        self.simple: dict[str, dict[str, float]] = {}
        # family -> entity id -> its samples (label texts shared between entities, values in an array)
        self.labelled: dict[str, dict[str, HeldSamples]] = {}
        self._fragment_sets = FragmentSets()
        self.alerts: dict[str, tuple[str, ...]] = {}
        self.last_seen: dict[str, float] = {}
        self.inventory: set[str] | None = None
        self.live_families = tuple(spec.name for spec in live)
        # labelled families that describe the entity rather than a live reading: kept offline
        self.kept_families = frozenset(spec.name for spec in kept)
        self.stamps: dict[str, dict[str, float]] = {}  # family -> id -> device time of its values
        self.version = 0  # bumped by every change, so the renderer re-renders only changed tables
        self._alerts_counted = -1
        # where an invalid measurement goes: the account's counter (AccountState sets it)
        self.report: Callable[[object, InvalidMeasurement], None] = _unowned

    # --- checking the handles providers measure through
    def _name(self, family: object, labelled: bool) -> str | None:
        try:
            return checked_name(family, self.kind, labelled)
        except InvalidMeasurement as problem:
            self.report(family, problem)
            return None

    def _fragments(self, family: MetricSpec[Any, Any], samples: Samples[Any]) -> dict[str, float] | None:
        """label values -> value as escaped fragment -> value; None (reported) if any label is wrong."""
        pairs = samples.items() if type(samples) is dict or isinstance(samples, Mapping) else samples
        try:
            return {intern(checked_fragment(family, labels)): value for labels, value in pairs}
        except InvalidMeasurement as problem:
            self.report(family, problem)
            return None
        except (TypeError, ValueError):
            self.report(family, InvalidMeasurement(f"{family.name}: samples must map label values to numbers"))
            return None

    def replace_family(self, family: MetricSpec[E, NoLabels], values: Mapping[str, float]) -> None:
        """Set a whole family at once (entity id -> value); a no-op (and no re-render) when nothing changed."""
        name = self._name(family, labelled=False)
        if name is not None:
            self._store_family(name, values)

    def _store_family(self, family: str, values: Mapping[str, float]) -> None:
        values = {eid: float(v) for eid, v in values.items() if finite(v)}
        if self.simple.get(family) != values:
            self.simple[family] = values
            self.version += 1

    # --- identity
    def rebase(self, base: str) -> None:
        """Set the provider/account labels (once, before any entity exists) and rebuild label strings."""
        self.base = base
        self.version += 1
        for entity_id in self.labels:
            self.labels[entity_id] = self._identity(entity_id)
        for entity_id in self.info_extra:
            self._rebuild_info(entity_id)

    def set_common(self, values: dict[str, str]) -> None:
        """Attributes shared by every entity's info series (Starlink: the `provider_account`)."""
        values = {k: v for k, v in values.items() if v}
        if values == self.common:
            return
        self.common = values
        self.version += 1
        for entity_id in self.info_extra:
            self._rebuild_info(entity_id)

    def _identity(self, entity_id: str) -> str:
        return f'{self.base},{self.id_label}="{escape_label(entity_id)}"'

    def ensure(self, entity_id: str) -> None:
        if entity_id not in self.labels:
            self.labels[entity_id] = self._identity(entity_id)
            self.attrs[entity_id] = {}
            self._rebuild_info(entity_id)
            self.version += 1

    def _rebuild_info(self, entity_id: str) -> None:
        attrs = self.attrs.get(entity_id, {})
        if self.common:  # an entity's own value wins (a OneWeb line names its partner itself)
            attrs = {**attrs, **{k: v for k, v in self.common.items() if not attrs.get(k)}}
        # an empty attribute is no label: Prometheus drops empty labels anyway, and a provider that
        # never fills one (Kognitive's serial) does not show it
        extra = label_fragment((k, v) for k, v in attrs.items() if v and k != self.id_label)
        self.info_extra[entity_id] = f",{extra}" if extra else ""

    @property
    def info_labels(self) -> Mapping[str, str]:
        """entity id -> the whole label text of its info series (identity and attributes)."""
        return InfoLabels(self.labels, self.info_extra)

    def update_attrs(self, entity_id: str, values: dict[str, str]) -> None:
        """Merge descriptive attributes; the info label string is rebuilt only if one changed."""
        self.ensure(entity_id)
        attrs = self.attrs[entity_id]
        changed = False
        for key, value in values.items():
            if attrs.get(key) != value:
                attrs[intern(key)] = intern(value)
                changed = True
        if changed:
            self._rebuild_info(entity_id)
            self.version += 1

    # --- values, through the catalogue's handles
    def set(self, family: MetricSpec[E, NoLabels], entity_id: str, value: float | None) -> None:
        """One entity's value; None (or NaN, infinity) removes its series."""
        name = self._name(family, labelled=False)
        if name is not None:
            self._store(name, entity_id, value)

    def get(self, family: MetricSpec[E, NoLabels], entity_id: str) -> float | None:
        """The value held for one entity, if any."""
        name = self._name(family, labelled=False)
        return None if name is None else self.simple.get(name, {}).get(entity_id)

    def set_labelled(self, family: MetricSpec[E, L], entity_id: str, samples: Samples[L]) -> None:
        """Replace all samples of one entity in a family with extra labels (none: no series)."""
        name = self._name(family, labelled=True)
        fragments = None if name is None else self._fragments(family, samples)
        if name is not None and fragments is not None:
            self._store_labelled(name, entity_id, fragments)

    def merge_labelled(self, family: MetricSpec[E, L], entity_id: str, samples: Samples[L]) -> None:
        """Change the given samples of one entity and keep its others."""
        name = self._name(family, labelled=True)
        fragments = None if name is None else self._fragments(family, samples)
        if name is not None and fragments is not None:
            held = self.labelled.get(name, {}).get(entity_id)
            self._store_labelled(name, entity_id, {**(held.as_dict() if held else {}), **fragments})

    def get_labelled(self, family: MetricSpec[E, L], entity_id: str, labels: L | Mapping[str, str]) -> float | None:
        """The value of one sample held for one entity, if any."""
        name = self._name(family, labelled=True)
        fragments = None if name is None else self._fragments(family, [(labels, 0.0)])
        if name is None or fragments is None:
            return None
        (fragment,) = fragments
        held = self.labelled.get(name, {}).get(entity_id)
        return None if held is None else held.get(fragment)

    def set_labelled_at(self, family: MetricSpec[E, L], entity_id: str, stamp: float, samples: Samples[L]) -> bool:
        """`set_labelled` unless what we hold came from a newer row (batches may arrive out of order)."""
        name = self._name(family, labelled=True)
        fragments = None if name is None else self._fragments(family, samples)
        if name is None or fragments is None:
            return False
        stamps = self.stamps.setdefault(name, {})
        if stamps.get(entity_id, float("-inf")) > stamp:
            return False
        stamps[entity_id] = stamp
        if self.labelled.get(name, {}).get(entity_id) != fragments:
            self._store_labelled(name, entity_id, fragments)
        else:
            self.ensure(entity_id)
        return True

    # --- storage by family name (checked above)
    def family(self, name: str) -> dict[str, float]:
        return self.simple.setdefault(name, {})

    def _store(self, family: str, entity_id: str, value: float | None) -> None:
        self.ensure(entity_id)
        self.version += 1
        if value is None or not finite(value):
            self.simple.get(family, {}).pop(entity_id, None)
        else:
            self.family(family)[entity_id] = float(value)

    def _store_labelled(self, family: str, entity_id: str, values: dict[str, float]) -> None:
        self.ensure(entity_id)
        self.version += 1
        table = self.labelled.setdefault(family, {})
        values = {frag: float(v) for frag, v in values.items() if finite(v)}
        if values:
            table[entity_id] = HeldSamples.of(values, self._fragment_sets)
        else:
            table.pop(entity_id, None)

    def _store_alerts(self, family: str, entity_id: str, names: tuple[str, ...]) -> None:
        names = tuple(sorted(set(names)))
        if self.alerts.get(entity_id) == names:
            return
        self.alerts[entity_id] = names
        self._store_labelled(family, entity_id, {intern(f'alert="{escape_label(n)}"'): 1.0 for n in names})

    def clear_live(self, entity_id: str) -> None:
        """Stop the series that exist only while the entity is online."""
        self.version += 1
        for family in self.live_families:
            table = self.simple.get(family)
            if table:
                table.pop(entity_id, None)
        for family, labelled in self.labelled.items():
            if family not in self.kept_families:
                labelled.pop(entity_id, None)
        self.alerts.pop(entity_id, None)

    def drop(self, entity_id: str) -> None:
        self.version += 1
        for table in self.simple.values():
            table.pop(entity_id, None)
        for labelled in self.labelled.values():
            labelled.pop(entity_id, None)
        for mapping in (self.labels, self.attrs, self.info_extra, self.alerts, self.last_seen):
            mapping.pop(entity_id, None)
        for stamps in self.stamps.values():
            stamps.pop(entity_id, None)

    def replace_inventory(self, records: dict[str, dict[str, str]]) -> None:
        """The provider's full list: new entities appear, departed ones (and all their series) go."""
        previous = self.inventory or set()
        for gone in previous - records.keys():
            self.drop(gone)
        for entity_id, attrs in records.items():
            self.update_attrs(entity_id, attrs)
        self.inventory = set(records)

    def expire(self, now: float, offline_after: float, online_family: MetricSpec[E, NoLabels]) -> None:
        """Derive online flags from telemetry age; offline entities keep info and last seen only."""
        cutoff = now - offline_after
        online: dict[str, float] = {}
        inventory = self.inventory
        previous = self.simple.get(online_family.name, {})
        for entity_id in list(self.labels):
            seen = self.last_seen.get(entity_id)
            if seen is not None and seen >= cutoff:
                online[entity_id] = 1.0
                continue
            if inventory is not None and entity_id not in inventory:
                self.drop(entity_id)  # seen only in telemetry, and gone quiet: not ours to keep
                continue
            if previous.get(entity_id) != 0.0:
                self.clear_live(entity_id)  # just went offline (or never was online)
            online[entity_id] = 0.0
        self.replace_family(online_family, online)

    def count_alerts(self, family: MetricSpec[E, NoLabels]) -> None:
        """Keep `<prefix>active_alerts` in step with the alert sets (only when they changed)."""
        if self._alerts_counted == self.version:
            return
        counts = {eid: float(len(self.alerts.get(eid, ()))) for eid in self.alerts}
        self.replace_family(family, counts)
        self._alerts_counted = self.version

    def apply_columns(self, cols: TelemetryColumns, alert_family: MetricSpec[E, tuple[str]] | None) -> int:
        """Apply the newest telemetry per device; rows older than what we hold are ignored."""
        ids, stamps = cols.ids, cols.timestamps
        seen = self.last_seen
        keep = [i for i, (eid, ts) in enumerate(zip(ids, stamps, strict=True)) if ts > seen.get(eid, -1.0)]
        if len(keep) != len(ids):
            cols = _select(cols, keep)
            ids, stamps = cols.ids, cols.timestamps
        # each column's family (and label text) is checked once, not per row
        measures = [(name, column) for spec, column in cols.measures.items() if (name := self._name(spec, False))]
        labelled: list[tuple[str, dict[str, list[float | None]]]] = []
        for spec, by_label in cols.labelled.items():
            name = self._name(spec, labelled=True)
            fragments = None if name is None else self._fragments(spec, ((v, 0.0) for v in by_label))
            if name is not None and fragments is not None:
                labelled.append((name, dict(zip(fragments, by_label.values(), strict=True))))
        alerts = self._name(alert_family, labelled=True) if alert_family is not None else None
        if not ids:
            return 0
        self.version += 1
        labels = self.labels
        for eid in ids:
            if eid not in labels:
                self.ensure(eid)
        seen.update(zip(ids, stamps, strict=True))
        self.family(self.prefix + "last_seen_timestamp_seconds").update(zip(ids, stamps, strict=True))
        for name, column in measures:
            table = self.family(name)
            for eid, value in zip(ids, column, strict=True):
                if value is None or not finite(value):
                    table.pop(eid, None)
                else:
                    table[eid] = value
        for name, by_fragment in labelled:
            held = self.labelled.setdefault(name, {})
            for index, eid in enumerate(ids):
                samples = {frag: v for frag, col in by_fragment.items() if (v := col[index]) is not None and finite(v)}
                if samples:
                    held[eid] = HeldSamples.of(samples, self._fragment_sets)
                else:
                    held.pop(eid, None)
        if alerts and cols.alerts is not None:
            for eid, names in zip(ids, cols.alerts, strict=True):
                if names is not None:
                    self._store_alerts(alerts, eid, names)
        for attr, strings in cols.attributes.items():
            for eid, text in zip(ids, strings, strict=True):
                if text is not None and self.attrs[eid].get(attr) != text:
                    self.update_attrs(eid, {attr: text})
        if cols.parents is not None:
            for eid, parent in zip(ids, cols.parents, strict=True):
                if parent and self.attrs[eid].get("terminal_id") != parent:
                    self.update_attrs(eid, {"terminal_id": parent})
        return len(ids)


def _select(cols: TelemetryColumns, keep: list[int]) -> TelemetryColumns:
    def pick(column: list[Any]) -> list[Any]:
        return [column[i] for i in keep]

    return TelemetryColumns(
        ids=pick(cols.ids),
        timestamps=pick(cols.timestamps),
        measures={k: pick(v) for k, v in cols.measures.items()},
        labelled={k: {f: pick(c) for f, c in v.items()} for k, v in cols.labelled.items()},
        alerts=pick(cols.alerts) if cols.alerts is not None else None,
        attributes={k: pick(v) for k, v in cols.attributes.items()},
        parents=pick(cols.parents) if cols.parents is not None else None,
    )


@dataclass(slots=True)
class JobStatus:
    """What the scheduler knows about one job; read by the renderer and the status page."""

    account: AccountState
    call: str
    interval: float
    timeout: float
    enabled: bool = True
    up: float | None = None
    last_run: float | None = None
    last_success: float | None = None
    duration: float | None = None
    next_run: float | None = None
    last_error: str = ""
    runs: dict[str, float] = field(default_factory=lambda: {"success": 0.0, "error": 0.0})
    # What the config file says; `enabled` and `interval` may differ after a change at run time
    # (the admin API), and the rules compare with these so such a change cannot hide a dead job.
    configured_interval: float = 0.0
    configured_enabled: bool = True

    def __post_init__(self) -> None:
        self.configured_interval = self.configured_interval or self.interval
        self.configured_enabled = self.enabled

    @property
    def key(self) -> str:
        return f"{self.account.provider}/{self.account.name}/{self.call}"


class AccountState:
    """Everything known about one configured account."""

    def __init__(self, provider: str, name: str, *, offline_after: float, online_from_telemetry: bool):
        self.provider = provider
        self.name = name
        self.offline_after = offline_after
        self.online_from_telemetry = online_from_telemetry
        # provider-side account id -> its attributes (provider_account_name, region, ...): one
        # `leo_account_info` series each; a Kognitive key may cover several Starlink accounts
        self.provider_accounts: dict[str, dict[str, str]] = {}
        self.values: dict[str, float] = {}
        self.counters: dict[str, dict[str, float]] = {}
        self.invalid_logged: set[str] = set()  # families whose invalid measurements were logged
        self.terminals = EntityTable("terminal", "leo_terminal_", "terminal_id", TERMINAL_LIVE, TERMINAL_KEPT)
        self.routers = EntityTable("router", "leo_router_", "router_id", ROUTER_LIVE)
        self.service_lines = EntityTable("service_line", "leo_service_line_", "service_line")
        self.products = EntityTable("product", "leo_product_", "product")
        self.organizations = EntityTable("organization", "leo_organization_", "organization")
        self.sites = EntityTable("site", "leo_site_", "site")
        self.pools = EntityTable("pool", "leo_data_pool_", "pool")
        self.base = ""
        for table in self.tables.values():
            table.report = self.invalid_measurement
        self._rebase()

    @property
    def tables(self) -> dict[str, EntityTable[Any]]:
        return {
            "terminal": self.terminals,
            "router": self.routers,
            "service_line": self.service_lines,
            "product": self.products,
            "organization": self.organizations,
            "site": self.sites,
            "pool": self.pools,
        }

    def _rebase(self) -> None:
        self.base = label_fragment((("provider", self.provider), ("account", self.name)))
        for table in self.tables.values():
            table.rebase(self.base)

    @property
    def identified(self) -> bool:
        """True once the provider named at least one of its own accounts behind this config account."""
        return bool(self.provider_accounts)

    def info_labels(self) -> list[str]:
        """Label strings of `leo_account_info`: one per provider-side account, or one bare series
        while none is known (so every configured account has its info series from the start)."""
        if not self.provider_accounts:
            return [self.base]
        return [
            f"{self.base},{label_fragment({'provider_account': pid, **attrs}.items())}"
            for pid, attrs in self.provider_accounts.items()
        ]

    def invalid_measurement(self, family: object, problem: InvalidMeasurement) -> None:
        """A measurement that fits no family of the catalogue: raised in tests, else dropped,
        counted and logged once per family (it is a bug in the exporter, and will repeat)."""
        if strict_measurements():
            raise problem
        name = family_name(family)
        self._add(catalog.EXPORTER_INVALID_MEASUREMENTS_TOTAL.name, label_fragment([("family", name)]), 1.0)
        if name not in self.invalid_logged:
            self.invalid_logged.add(name)
            log.error(
                "invalid measurement dropped (a bug in the exporter; further ones of this family are only "
                "counted in leo_exporter_invalid_measurements_total): %s",
                problem,
                extra={"provider": self.provider, "account_name": self.name},
            )

    # --- called from the event loop (small, atomic dict updates)
    def count(
        self, family: MetricSpec[Literal["account"], L], labels: L | Mapping[str, str], amount: float = 1.0
    ) -> None:
        """Add to an account's counter (labels: the family's extra label values, `()` if none)."""
        try:
            name = checked_name(family, "account", labelled=bool(getattr(family, "extra", ())))
            fragment = checked_fragment(family, labels)
        except InvalidMeasurement as problem:
            self.invalid_measurement(family, problem)
            return
        self._add(name, fragment, amount)

    def _add(self, family: str, fragment: str, amount: float) -> None:
        table = self.counters.setdefault(family, {})
        table[fragment] = table.get(fragment, 0.0) + amount

    def set_value(self, family: MetricSpec[Literal["account"], NoLabels], value: float | None) -> None:
        """An account-wide value without extra labels; None removes it."""
        try:
            name = checked_name(family, "account", labelled=False)
        except InvalidMeasurement as problem:
            self.invalid_measurement(family, problem)
            return
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = float(value)

    # --- called in the state worker
    def apply_account(self, record: AccountRecord) -> None:
        """The one provider-side account behind this config account (Starlink `GET /account`):
        its id goes on `leo_account_info` and on every terminal, router and service line info."""
        self.set_provider_accounts([record])
        common = {"provider_account": record.provider_account}
        for table in (self.terminals, self.routers, self.service_lines):
            table.set_common(common)
        self.set_value(catalog.ACCOUNT_ACTIVE_SUSPENSIONS, record.active_suspensions)

    def set_provider_accounts(self, records: Iterable[AccountRecord]) -> None:
        """Every provider-side account seen under this config account (Kognitive: each Starlink
        account the key's data names)."""
        self.provider_accounts = {
            rec.provider_account: {k: v for k, v in {"provider_account_name": rec.name, **rec.attributes}.items() if v}
            for rec in records
            if rec.provider_account
        }

    def replace_terminals(self, records: Iterable[TerminalRecord]) -> None:
        self.terminals.replace_inventory({rec.terminal_id: rec.labels() for rec in records})

    def replace_routers(self, records: Iterable[RouterRecord]) -> None:
        inventory = {
            rec.router_id: {"terminal_id": rec.terminal_id, "name": rec.name, **rec.attributes} for rec in records
        }
        self.routers.replace_inventory(inventory)

    def replace_service_lines(self, records: Iterable[ServiceLineRecord]) -> None:
        inventory: dict[str, dict[str, str]] = {}
        active: dict[str, float] = {}
        for rec in records:
            inventory[rec.service_line] = {"name": rec.name, "product": rec.product, **rec.attributes}
            if rec.active is not None:
                active[rec.service_line] = 1.0 if rec.active else 0.0
        table = self.service_lines
        table.replace_inventory(inventory)
        table.replace_family(catalog.SERVICE_LINE_ACTIVE, active)

    def set_terminal_online(self, flags: dict[str, bool]) -> None:
        """Providers that report online state themselves (Kognitive, OneWeb) set it here."""
        table = self.terminals
        for terminal_id in flags:
            table.ensure(terminal_id)
        table.replace_family(catalog.TERMINAL_ONLINE, {tid: 1.0 if on else 0.0 for tid, on in flags.items()})

    def apply_usage(self, records: Iterable[UsageRecord]) -> None:
        table = self.service_lines
        for rec in records:
            sln = rec.service_line
            table.set_labelled(catalog.SERVICE_LINE_USAGE_BYTES, sln, {(k,): v for k, v in rec.by_class.items()})
            # No reported day (a cycle's first day, the previous cycle not asked for): no daily
            # figure, rather than the last one seen, which would pass for the newest day.
            table.set_labelled(
                catalog.SERVICE_LINE_DAILY_USAGE_BYTES, sln, {(k,): v for k, v in (rec.daily_by_class or {}).items()}
            )
            table.set(catalog.SERVICE_LINE_DAILY_USAGE_DATE_TIMESTAMP_SECONDS, sln, rec.daily_date)
            table.set(catalog.SERVICE_LINE_USAGE_LIMIT_BYTES, sln, rec.limit_bytes)
            table.set(catalog.SERVICE_LINE_BILLING_CYCLE_START_TIMESTAMP_SECONDS, sln, rec.cycle_start)
            table.set(catalog.SERVICE_LINE_BILLING_CYCLE_END_TIMESTAMP_SECONDS, sln, rec.cycle_end)
            table.set(catalog.SERVICE_LINE_USAGE_UPDATED_TIMESTAMP_SECONDS, sln, rec.updated)
            previous = rec.previous
            table.set_labelled(
                catalog.SERVICE_LINE_PREVIOUS_CYCLE_USAGE_BYTES,
                sln,
                {(k,): v for k, v in (previous.by_class if previous else {}).items()},
            )
            table.set(
                catalog.SERVICE_LINE_PREVIOUS_CYCLE_START_TIMESTAMP_SECONDS, sln, previous.start if previous else None
            )
            table.set(
                catalog.SERVICE_LINE_PREVIOUS_CYCLE_END_TIMESTAMP_SECONDS, sln, previous.end if previous else None
            )
            table.set_labelled(catalog.SERVICE_LINE_OVERAGE_BYTES, sln, {(o.product,): o.bytes for o in rec.overage})
            table.set_labelled(
                catalog.SERVICE_LINE_OVERAGE_LIMIT_BYTES,
                sln,
                {(o.product,): o.limit_bytes for o in rec.overage if o.limit_bytes is not None},
            )
            table.set_labelled(
                catalog.SERVICE_LINE_OVERAGE_COST,
                sln,
                {(o.product, o.currency): o.cost for o in rec.overage if o.cost is not None},
            )
            if rec.mobile is not None:
                table.update_attrs(sln, {"mobile": "true" if rec.mobile else "false"})

    def replace_pools(self, records: Iterable[PoolRecord]) -> None:
        """The account's data pools: info, capacity and use this period, and each line's share."""
        records = list(records)
        table = self.pools
        table.replace_inventory({r.pool: {"name": r.name, "product": r.product, "type": r.kind} for r in records})
        table.replace_family(
            catalog.DATA_POOL_CAPACITY_BYTES,
            {r.pool: r.capacity_bytes for r in records if r.capacity_bytes is not None},
        )
        table.replace_family(
            catalog.DATA_POOL_USAGE_BYTES, {r.pool: r.usage_bytes for r in records if r.usage_bytes is not None}
        )
        table.replace_family(
            catalog.DATA_POOL_PERIOD_END_TIMESTAMP_SECONDS,
            {r.pool: r.period_end for r in records if r.period_end is not None},
        )
        for r in records:
            table.set_labelled(
                catalog.DATA_POOL_SERVICE_LINE_USAGE_BYTES, r.pool, {(sln,): v for sln, v in r.by_service_line.items()}
            )

    def set_balance(self, due: dict[str, float]) -> None:
        """The amount the account owes, per currency."""
        self.counters[catalog.ACCOUNT_BALANCE_DUE.name] = {
            label_fragment([("currency", currency)]): amount for currency, amount in due.items() if finite(amount)
        }

    def replace_products(self, records: Iterable[ProductRecord]) -> None:
        records = list(records)
        table = self.products
        inventory = {rec.product: {"name": rec.name, "currency": rec.currency, **rec.attributes} for rec in records}
        table.replace_inventory(inventory)
        table.replace_family(catalog.PRODUCT_PRICE, {r.product: r.price for r in records if r.price is not None})
        table.replace_family(
            catalog.PRODUCT_DATA_BYTES, {r.product: r.data_bytes for r in records if r.data_bytes is not None}
        )

    def expire(self, now: float) -> None:
        if self.online_from_telemetry:
            self.terminals.expire(now, self.offline_after, catalog.TERMINAL_ONLINE)
            self.routers.expire(now, self.offline_after, catalog.ROUTER_ONLINE)
        self.terminals.count_alerts(catalog.TERMINAL_ACTIVE_ALERTS)
        self.routers.count_alerts(catalog.ROUTER_ACTIVE_ALERTS)


class FleetState:
    """All accounts, all jobs, and the exporter's own figures."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.accounts: dict[str, AccountState] = {}
        self.jobs: list[JobStatus] = []
        self.exporter_values: dict[str, float] = {}
        self.changed = threading.Event()

    def add_account(self, account: AccountState) -> None:
        self.accounts[account.name] = account

    def tick(self) -> None:
        """Age the fleet to now: online flags from telemetry age, live series of entities that went
        offline cleared, departed ones dropped. The render loop asks for it before each render, on
        the state worker, so that rendering itself only reads."""
        now = self.clock()
        for account in list(self.accounts.values()):
            account.expire(now)

    def note_render(self, seconds: float, length: int) -> None:
        """The last render's figures, shown by the next one."""
        self.exporter_values[catalog.EXPORTER_RENDER_DURATION_SECONDS.name] = seconds
        self.exporter_values[catalog.EXPORTER_EXPOSITION_BYTES.name] = float(length)

    def mark_changed(self) -> None:
        self.changed.set()


class StateWorker:
    """Runs state changes and renders one at a time on a worker thread, off the event loop.

    One limiter of size 1 serialises them, so the renderer never iterates a table that is
    being changed, and neither blocks the event loop that serves scrapes.
    """

    def __init__(self, state: FleetState):
        self.state = state
        self.limiter = anyio.CapacityLimiter(1)

    async def apply(self, change: Callable[[], T]) -> T:
        result = await anyio.to_thread.run_sync(change, limiter=self.limiter)
        self.state.mark_changed()
        return result

    async def run(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)
