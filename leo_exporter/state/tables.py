"""One kind of entity of one account (terminals, routers, service lines, ...): its label text and
its values, stored by family name and entity id, column-wise.

Each entity's label string is built once (when the entity first appears), so the renderer only
concatenates. The public methods take the catalogue's typed handles and check them
(leo_exporter/state/checks.py); the `_store*` methods hold the values by name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import Any, Generic

from leo_exporter.catalog import E, L, MetricSpec, NoLabels
from leo_exporter.labeltext import escape_label, intern, label_fragment
from leo_exporter.records import TelemetryColumns
from leo_exporter.samples import Samples as HeldSamples
from leo_exporter.state.checks import (
    InvalidMeasurement,
    Samples,
    checked_fragment,
    checked_name,
    finite,
    strict_measurements,
)

log = logging.getLogger("leo_exporter.state")


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


@cache
def _names(specs: tuple[MetricSpec[Any, Any], ...]) -> tuple[str, ...]:
    """The families' names: one tuple for every table of a kind, not one each."""
    return tuple(spec.name for spec in specs)


@cache
def _name_set(specs: tuple[MetricSpec[Any, Any], ...]) -> frozenset[str]:
    """The families' names as a set: one for every table of a kind (an empty one is 216 bytes)."""
    return frozenset(spec.name for spec in specs)


def _unowned(family: object, problem: InvalidMeasurement) -> None:
    """How a table outside any account reports an invalid measurement: it has nowhere to count it."""
    if strict_measurements():
        raise problem
    log.error("invalid measurement dropped: %s", problem)


_NONE: Mapping[str, Any] = MappingProxyType({})


class EntityTable(Generic[E]):
    """One kind of entity (terminals, routers, ...) of one account.

    `simple[family][id]` holds values of families with identity labels only;
    `labelled[family][id][fragment]` holds families with extra labels, `fragment` being the
    already escaped `alert="x"` part (a read-only `leo_exporter.samples.Samples` per entity).
    `labels[id]` is the identity label string, `info_extra[id]` what its info series adds.

    The public methods take the catalogue's handles for families of this table's `kind` and check
    them (see the module docstring); the `_store*` methods below them hold the values by name.
    """

    # no dict of its own: an account has about four tables (0.4 KiB less an account in all)
    __slots__ = (
        "__weakref__",  # the status page's views keep tables weakly
        "_alerts_counted",
        "alerts",
        "attrs",
        "attrs_version",
        "base",
        "common",
        "id_label",
        "info_extra",
        "inventory",
        "kept_families",
        "kind",
        "labelled",
        "labels",
        "last_seen",
        "live_families",
        "prefix",
        "report",
        "simple",
        "stamps",
        "tag_pairs",
        "tags",
        "version",
    )

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
        self.alerts: dict[str, tuple[str, ...]] = {}
        self.last_seen: dict[str, float] = {}
        self.inventory: set[str] | None = None
        self.live_families = _names(live)
        # labelled families that describe the entity rather than a live reading: kept offline
        self.kept_families = _name_set(kept)
        self.stamps: dict[str, dict[str, float]] = {}  # family -> id -> device time of its values
        self.version = 0  # bumped by every change, so the renderer re-renders only changed tables
        # the `<prefix>tags` series: entity id -> `,tag_customer="x",...` (tagged entities only),
        # set by leo_exporter/tagging.py, which re-reads attributes when attrs_version moves
        # both replaced whole by set_tags (tag_pairs: the same as (label, value) pairs, for reports);
        # untagged tables (most) share one empty mapping
        self.tags: Mapping[str, str] = _NONE
        self.tag_pairs: Mapping[str, tuple[tuple[str, str], ...]] = _NONE
        self.attrs_version = 0
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
            entity_id = intern(entity_id)  # the same string as telemetry's ids (strip_prefix)
            self.labels[entity_id] = self._identity(entity_id)
            self.attrs[entity_id] = {}
            self._rebuild_info(entity_id)
            self.version += 1

    def _rebuild_info(self, entity_id: str) -> None:
        self.attrs_version += 1
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

    def set_tags(self, tags: Mapping[str, Iterable[tuple[str, str]]]) -> None:
        """The user tags of each known entity (label name, value), replacing all; a no-op when unchanged."""
        pairs = {eid: tuple(p) for eid, p in tags.items() if eid in self.labels}
        pairs = {eid: p for eid, p in pairs.items() if p}
        texts = {eid: f",{label_fragment(p)}" for eid, p in pairs.items()}
        if texts != self.tags:
            self.tags = texts
            self.tag_pairs = pairs
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
            table[entity_id] = HeldSamples.of(values)
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
        self.attrs_version += 1
        for mapping in (self.labels, self.attrs, self.info_extra, self.alerts, self.last_seen):
            mapping.pop(entity_id, None)
        if entity_id in self.tags:  # until the tagger replaces them: copies without it
            self.tags = {eid: text for eid, text in self.tags.items() if eid != entity_id}
            self.tag_pairs = {eid: pairs for eid, pairs in self.tag_pairs.items() if eid != entity_id}
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
        previous = self.simple.get(online_family.name, {})
        if not self.labels and not previous:  # no entity: most accounts' routers (ticked every rendering)
            return
        cutoff = now - offline_after
        online: dict[str, float] = {}
        inventory = self.inventory
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
        if online != previous:  # the same flags as before: nothing to store, no copy made
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
                    held[eid] = HeldSamples.of(samples)
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
