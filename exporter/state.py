"""The fleet state: what every account's terminals, routers and service lines look like now.

Values are stored by metric family and entity id, and each entity's label string is built once
(when the entity first appears), so the renderer only concatenates. The `account` label is the
config account's name, fixed before any API call: the provider's own account ids are attributes
(`provider_account`) on info series, never identity. The big
tables are changed only inside the state worker (see `StateWorker`), which also runs the
renderer, so a render never sees a table half-updated. Small counters (requests, job status)
are changed on the event loop; the renderer copies those dicts, which CPython does atomically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from math import isfinite
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from exporter.records import (
    ROUTER_LIVE_MEASURES,
    TERMINAL_INVENTORY_LIKE_MEASURES,
    TERMINAL_LIVE_MEASURES,
    AccountRecord,
    PoolRecord,
    ProductRecord,
    RouterRecord,
    ServiceLineRecord,
    TelemetryColumns,
    TerminalRecord,
    UsageRecord,
)

T = TypeVar("T")


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


class EntityTable:
    """One kind of entity (terminals, routers, ...) of one account.

    `simple[family][id]` holds values of families with identity labels only;
    `labelled[family][id][fragment]` holds families with extra labels, `fragment` being the
    already escaped `alert="x"` part. `labels[id]` is the identity label string.
    """

    def __init__(
        self,
        prefix: str,
        id_label: str,
        live_measures: tuple[str, ...] = (),
        inventory_like: tuple[str, ...] = (),
    ):
        self.prefix = prefix
        self.id_label = id_label
        self.base = ""
        self.labels: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self.info_labels: dict[str, str] = {}
        self.common: dict[str, str] = {}  # attributes every entity's info series carries
        self.simple: dict[str, dict[str, float]] = {}
        self.labelled: dict[str, dict[str, dict[str, float]]] = {}
        self.alerts: dict[str, tuple[str, ...]] = {}
        self.last_seen: dict[str, float] = {}
        self.inventory: set[str] | None = None
        self.live_families = tuple(prefix + m for m in live_measures)
        # labelled families that describe the entity rather than a live reading: kept offline
        self.kept_families = frozenset(prefix + m for m in inventory_like)
        self.stamps: dict[str, dict[str, float]] = {}  # family -> id -> device time of its values
        self.version = 0  # bumped by every change, so the renderer re-renders only changed tables
        self._alerts_counted = -1

    def replace_family(self, family: str, values: dict[str, float]) -> None:
        """Set a whole family at once; a no-op (and no re-render) when nothing changed."""
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
        for entity_id in self.info_labels:
            self._rebuild_info(entity_id)

    def set_common(self, values: dict[str, str]) -> None:
        """Attributes shared by every entity's info series (Starlink: the `provider_account`)."""
        values = {k: v for k, v in values.items() if v}
        if values == self.common:
            return
        self.common = values
        self.version += 1
        for entity_id in self.info_labels:
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
        identity = self.labels.get(entity_id) or self._identity(entity_id)
        self.info_labels[entity_id] = f"{identity},{extra}" if extra else identity

    def update_attrs(self, entity_id: str, values: dict[str, str]) -> None:
        """Merge descriptive attributes; the info label string is rebuilt only if one changed."""
        self.ensure(entity_id)
        attrs = self.attrs[entity_id]
        changed = False
        for key, value in values.items():
            if attrs.get(key) != value:
                attrs[key] = value
                changed = True
        if changed:
            self._rebuild_info(entity_id)
            self.version += 1

    # --- values
    def family(self, name: str) -> dict[str, float]:
        return self.simple.setdefault(name, {})

    def set(self, family: str, entity_id: str, value: float | None) -> None:
        self.ensure(entity_id)
        self.version += 1
        if value is None or not finite(value):
            self.simple.get(family, {}).pop(entity_id, None)
        else:
            self.family(family)[entity_id] = float(value)

    def set_labelled(self, family: str, entity_id: str, values: dict[str, float]) -> None:
        """Replace all samples of one entity in a family with extra labels."""
        self.ensure(entity_id)
        self.version += 1
        table = self.labelled.setdefault(family, {})
        values = {frag: float(v) for frag, v in values.items() if finite(v)}
        if values:
            table[entity_id] = values
        else:
            table.pop(entity_id, None)

    def set_labelled_at(self, family: str, entity_id: str, stamp: float, values: dict[str, float]) -> bool:
        """`set_labelled` unless what we hold came from a newer row (batches may arrive out of order)."""
        stamps = self.stamps.setdefault(family, {})
        if stamps.get(entity_id, float("-inf")) > stamp:
            return False
        stamps[entity_id] = stamp
        if self.labelled.get(family, {}).get(entity_id) != values:
            self.set_labelled(family, entity_id, values)
        else:
            self.ensure(entity_id)
        return True

    def set_alerts(self, family: str, entity_id: str, names: tuple[str, ...]) -> None:
        names = tuple(sorted(set(names)))
        if self.alerts.get(entity_id) == names:
            return
        self.alerts[entity_id] = names
        self.set_labelled(family, entity_id, {f'alert="{escape_label(n)}"': 1.0 for n in names})

    def clear_live(self, entity_id: str) -> None:
        """Stop the series that exist only while the entity is online."""
        self.version += 1
        for family in self.live_families:
            table = self.simple.get(family)
            if table:
                table.pop(entity_id, None)
        for family, table in self.labelled.items():
            if family not in self.kept_families:
                table.pop(entity_id, None)
        self.alerts.pop(entity_id, None)

    def drop(self, entity_id: str) -> None:
        self.version += 1
        for table in self.simple.values():
            table.pop(entity_id, None)
        for table in self.labelled.values():
            table.pop(entity_id, None)
        for mapping in (self.labels, self.attrs, self.info_labels, self.alerts, self.last_seen):
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

    def expire(self, now: float, offline_after: float, online_family: str) -> None:
        """Derive online flags from telemetry age; offline entities keep info and last seen only."""
        cutoff = now - offline_after
        online: dict[str, float] = {}
        inventory = self.inventory
        previous = self.simple.get(online_family, {})
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

    def count_alerts(self, family: str) -> None:
        """Keep `<prefix>active_alerts` in step with the alert sets (only when they changed)."""
        if self._alerts_counted == self.version:
            return
        counts = {eid: float(len(self.alerts.get(eid, ()))) for eid in self.alerts}
        self.replace_family(family, counts)
        self._alerts_counted = self.version

    def apply_columns(self, cols: TelemetryColumns, alert_family: str | None) -> int:
        """Apply the newest telemetry per device; rows older than what we hold are ignored."""
        ids, stamps = cols.ids, cols.timestamps
        seen = self.last_seen
        keep = [i for i, (eid, ts) in enumerate(zip(ids, stamps, strict=True)) if ts > seen.get(eid, -1.0)]
        if len(keep) != len(ids):
            cols = _select(cols, keep)
            ids, stamps = cols.ids, cols.timestamps
        if not ids:
            return 0
        self.version += 1
        labels = self.labels
        for eid in ids:
            if eid not in labels:
                self.ensure(eid)
        seen.update(zip(ids, stamps, strict=True))
        self.family(self.prefix + "last_seen_timestamp_seconds").update(zip(ids, stamps, strict=True))
        for measure, column in cols.measures.items():
            table = self.family(self.prefix + measure)
            for eid, value in zip(ids, column, strict=True):
                if value is None or not finite(value):
                    table.pop(eid, None)
                else:
                    table[eid] = value
        for measure, by_label in cols.labelled.items():
            table = self.labelled.setdefault(self.prefix + measure, {})
            for index, eid in enumerate(ids):
                samples = {frag: col[index] for frag, col in by_label.items() if finite(col[index])}
                if samples:
                    table[eid] = samples
                else:
                    table.pop(eid, None)
        if alert_family and cols.alerts is not None:
            for eid, names in zip(ids, cols.alerts, strict=True):
                if names is not None:
                    self.set_alerts(alert_family, eid, names)
        for attr, column in cols.attributes.items():
            for eid, value in zip(ids, column, strict=True):
                if value is not None and self.attrs[eid].get(attr) != value:
                    self.update_attrs(eid, {attr: value})
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
        self.terminals = EntityTable(
            "leo_terminal_", "terminal_id", TERMINAL_LIVE_MEASURES, TERMINAL_INVENTORY_LIKE_MEASURES
        )
        self.routers = EntityTable("leo_router_", "router_id", ROUTER_LIVE_MEASURES)
        self.service_lines = EntityTable("leo_service_line_", "service_line")
        self.products = EntityTable("leo_product_", "product")
        self.organizations = EntityTable("leo_organization_", "organization")
        self.sites = EntityTable("leo_site_", "site")
        self.pools = EntityTable("leo_data_pool_", "pool")
        self.base = ""
        self._rebase()

    @property
    def tables(self) -> dict[str, EntityTable]:
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

    # --- called from the event loop (small, atomic dict updates)
    def count(self, family: str, fragment: str, amount: float = 1.0) -> None:
        table = self.counters.setdefault(family, {})
        table[fragment] = table.get(fragment, 0.0) + amount

    def set_value(self, family: str, value: float | None) -> None:
        if value is None:
            self.values.pop(family, None)
        else:
            self.values[family] = float(value)

    # --- called in the state worker
    def apply_account(self, record: AccountRecord) -> None:
        """The one provider-side account behind this config account (Starlink `GET /account`):
        its id goes on `leo_account_info` and on every terminal, router and service line info."""
        self.set_provider_accounts([record])
        common = {"provider_account": record.provider_account}
        for table in (self.terminals, self.routers, self.service_lines):
            table.set_common(common)
        self.set_value("leo_account_active_suspensions", record.active_suspensions)

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
        table.replace_family("leo_service_line_active", active)

    def set_terminal_online(self, flags: dict[str, bool]) -> None:
        """Providers that report online state themselves (Kognitive, OneWeb) set it here."""
        table = self.terminals
        for terminal_id in flags:
            table.ensure(terminal_id)
        table.replace_family("leo_terminal_online", {tid: 1.0 if on else 0.0 for tid, on in flags.items()})

    def apply_usage(self, records: Iterable[UsageRecord]) -> None:
        table = self.service_lines
        for rec in records:
            sln = rec.service_line
            table.set_labelled(
                "leo_service_line_usage_bytes",
                sln,
                {f'class="{escape_label(k)}"': v for k, v in rec.by_class.items()},
            )
            # No reported day (a cycle's first day, the previous cycle not asked for): no daily
            # figure, rather than the last one seen, which would pass for the newest day.
            table.set_labelled(
                "leo_service_line_daily_usage_bytes",
                sln,
                {f'class="{escape_label(k)}"': v for k, v in (rec.daily_by_class or {}).items()},
            )
            table.set("leo_service_line_daily_usage_date_timestamp_seconds", sln, rec.daily_date)
            table.set("leo_service_line_usage_limit_bytes", sln, rec.limit_bytes)
            table.set("leo_service_line_billing_cycle_start_timestamp_seconds", sln, rec.cycle_start)
            table.set("leo_service_line_billing_cycle_end_timestamp_seconds", sln, rec.cycle_end)
            table.set("leo_service_line_usage_updated_timestamp_seconds", sln, rec.updated)
            previous = rec.previous
            table.set_labelled(
                "leo_service_line_previous_cycle_usage_bytes",
                sln,
                {f'class="{escape_label(k)}"': v for k, v in (previous.by_class if previous else {}).items()},
            )
            table.set("leo_service_line_previous_cycle_start_timestamp_seconds", sln, previous and previous.start)
            table.set("leo_service_line_previous_cycle_end_timestamp_seconds", sln, previous and previous.end)
            products = {o.product: f'product="{escape_label(o.product)}"' for o in rec.overage}
            table.set_labelled(
                "leo_service_line_overage_bytes", sln, {products[o.product]: o.bytes for o in rec.overage}
            )
            table.set_labelled(
                "leo_service_line_overage_limit_bytes",
                sln,
                {products[o.product]: o.limit_bytes for o in rec.overage if o.limit_bytes is not None},
            )
            table.set_labelled(
                "leo_service_line_overage_cost",
                sln,
                {
                    f'{products[o.product]},currency="{escape_label(o.currency)}"': o.cost
                    for o in rec.overage
                    if o.cost is not None
                },
            )
            if rec.mobile is not None:
                table.update_attrs(sln, {"mobile": "true" if rec.mobile else "false"})

    def replace_pools(self, records: Iterable[PoolRecord]) -> None:
        """The account's data pools: info, capacity and use this period, and each line's share."""
        records = list(records)
        table = self.pools
        table.replace_inventory({r.pool: {"name": r.name, "product": r.product, "type": r.kind} for r in records})
        table.replace_family(
            "leo_data_pool_capacity_bytes", {r.pool: r.capacity_bytes for r in records if r.capacity_bytes is not None}
        )
        table.replace_family(
            "leo_data_pool_usage_bytes", {r.pool: r.usage_bytes for r in records if r.usage_bytes is not None}
        )
        table.replace_family(
            "leo_data_pool_period_end_timestamp_seconds",
            {r.pool: r.period_end for r in records if r.period_end is not None},
        )
        for r in records:
            table.set_labelled(
                "leo_data_pool_service_line_usage_bytes",
                r.pool,
                {f'service_line="{escape_label(sln)}"': v for sln, v in r.by_service_line.items()},
            )

    def set_balance(self, due: dict[str, float]) -> None:
        """The amount the account owes, per currency."""
        self.counters["leo_account_balance_due"] = {
            f'currency="{escape_label(currency)}"': amount for currency, amount in due.items() if finite(amount)
        }

    def replace_products(self, records: Iterable[ProductRecord]) -> None:
        records = list(records)
        table = self.products
        inventory = {rec.product: {"name": rec.name, "currency": rec.currency, **rec.attributes} for rec in records}
        table.replace_inventory(inventory)
        table.replace_family("leo_product_price", {r.product: r.price for r in records if r.price is not None})
        table.replace_family(
            "leo_product_data_bytes", {r.product: r.data_bytes for r in records if r.data_bytes is not None}
        )

    def expire(self, now: float) -> None:
        if self.online_from_telemetry:
            self.terminals.expire(now, self.offline_after, "leo_terminal_online")
            self.routers.expire(now, self.offline_after, "leo_router_online")
        for table in (self.terminals, self.routers):
            table.count_alerts(table.prefix + "active_alerts")


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
        self.exporter_values["leo_exporter_render_duration_seconds"] = seconds
        self.exporter_values["leo_exporter_exposition_bytes"] = float(length)

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
