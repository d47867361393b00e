"""Everything known about one configured account: its entity tables, counters and values.

The `account` label is the config account's name, fixed before any API call: the provider's own
account ids are attributes (`provider_account`) on info series, never identity. Usage, pools,
products and the balance go through leo_exporter/state/billing.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Literal, NamedTuple

from leo_exporter import catalog, lazyset
from leo_exporter.catalog import L, MetricSpec, NoLabels
from leo_exporter.labeltext import intern, label_fragment
from leo_exporter.records import (
    AccountRecord,
    BillingCycle,
    PoolRecord,
    ProductRecord,
    RouterRecord,
    ServiceLineRecord,
    TerminalRecord,
    UsageRecord,
)
from leo_exporter.state import billing
from leo_exporter.state.checks import (
    InvalidMeasurement,
    checked_fragment,
    checked_name,
    family_name,
    strict_measurements,
)
from leo_exporter.state.cycles import CycleBook
from leo_exporter.state.tables import EntityTable

log = logging.getLogger("leo_exporter.state")

# Label sets one account's counter family may have: beyond them, new ones are counted under
# "other" in every label (a provider, or a provider plugin, handing over names from its data
# cannot grow the exposition without end; providers/names.py bounds them closer to the source).
MAX_COUNTER_SERIES = 1000


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


class TableKind(NamedTuple):
    """How one kind of entity's table names and keeps its series."""

    prefix: str
    id_label: str
    live: tuple[MetricSpec[Any, Any], ...] = ()
    kept: tuple[MetricSpec[Any, Any], ...] = ()


TABLE_KINDS: dict[str, TableKind] = {
    "terminal": TableKind("leo_terminal_", "terminal_id", TERMINAL_LIVE, TERMINAL_KEPT),
    "router": TableKind("leo_router_", "router_id", ROUTER_LIVE),
    "service_line": TableKind("leo_service_line_", "service_line"),
    "product": TableKind("leo_product_", "product"),
    "organization": TableKind("leo_organization_", "organization"),
    "site": TableKind("leo_site_", "site"),
    "pool": TableKind("leo_data_pool_", "pool"),
}

# the kinds whose info series carry the provider's account id (Starlink's `GET /account`)
COMMON_KINDS = ("terminal", "router", "service_line")
# the kinds that go offline and count alerts: (kind, its online family, its alert count family)
_AGEING = (
    ("terminal", catalog.TERMINAL_ONLINE, catalog.TERMINAL_ACTIVE_ALERTS),
    ("router", catalog.ROUTER_ONLINE, catalog.ROUTER_ACTIVE_ALERTS),
)


class AccountState:
    """Everything known about one configured account."""

    def __init__(
        self,
        provider: str,
        name: str,
        *,
        offline_after: float,
        online_from_telemetry: bool,
        cycles_kept: int = 3,
        clock: Callable[[], float] = time.time,
    ):
        self.provider = provider
        self.clock = clock  # judges whether a usage report's cycle has ended
        self.name = name
        self.offline_after = offline_after
        self.online_from_telemetry = online_from_telemetry
        # provider-side account id -> its attributes (provider_account_name, region, ...): one
        # `leo_account_info` series each; a Kognitive key may cover several Starlink accounts
        self.provider_accounts: dict[str, dict[str, str]] = {}
        self.values: dict[str, float] = {}
        self.counters: dict[str, dict[str, float]] = {}
        self.invalid_logged: AbstractSet[str] = lazyset.EMPTY  # families whose invalid measurements were logged
        self.cycles = CycleBook(cycles_kept)  # each line's last billing cycles (the usage report)
        # entity -> table, made when first used (the renderer looks a table up for every family and
        # account): most accounts use four or five of the seven kinds, and an empty table costs
        # about 1.6 KiB (5 MiB at 3,000 accounts)
        self.tables: dict[str, EntityTable[Any]] = {}
        self.common: dict[str, str] = {}  # what the info series of COMMON_KINDS carry (`provider_account`)
        # bumped by every change of the account's own series (values, counters, provider accounts,
        # labels), so the renderer remakes an account's chunks only after one changed
        self.version = 0
        self.base = ""
        self._rebase()

    def table(self, entity: str) -> EntityTable[Any]:
        """The account's table of one kind of entity (made empty if there is none yet)."""
        table = self.tables.get(entity)
        if table is None:
            kind = TABLE_KINDS[entity]
            table = self.tables[entity] = EntityTable(entity, kind.prefix, kind.id_label, kind.live, kind.kept)
            table.report = self.invalid_measurement
            table.rebase(self.base)
            if entity in COMMON_KINDS:
                table.set_common(self.common)
        return table

    @property
    def terminals(self) -> EntityTable[Literal["terminal"]]:
        return self.table("terminal")

    @property
    def routers(self) -> EntityTable[Literal["router"]]:
        return self.table("router")

    @property
    def service_lines(self) -> EntityTable[Literal["service_line"]]:
        return self.table("service_line")

    @property
    def products(self) -> EntityTable[Literal["product"]]:
        return self.table("product")

    @property
    def organizations(self) -> EntityTable[Literal["organization"]]:
        return self.table("organization")

    @property
    def sites(self) -> EntityTable[Literal["site"]]:
        return self.table("site")

    @property
    def pools(self) -> EntityTable[Literal["pool"]]:
        return self.table("pool")

    def _rebase(self) -> None:
        self.base = label_fragment((("provider", self.provider), ("account", self.name)))
        self.version += 1
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
            self.invalid_logged = lazyset.with_added(self.invalid_logged, name)
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
        table = self.counters.get(name)
        if table is not None and fragment not in table and len(table) >= MAX_COUNTER_SERIES:
            fragment = checked_fragment(family, tuple("other" for _ in family.extra))  # a backstop: see the constant
        self._add(name, fragment, amount)

    def _add(self, family: str, fragment: str, amount: float) -> None:
        table = self.counters.setdefault(family, {})
        if fragment not in table:
            fragment = intern(fragment)  # `endpoint="/user-terminals",code="200"`: one copy for every account
        table[fragment] = table.get(fragment, 0.0) + amount
        self.version += 1

    def count_request(self, endpoint: str, code: str) -> None:
        """One answer of the provider (the HTTP client's counting callback); a 429 is also counted
        as rate limited."""
        self.count(catalog.EXPORTER_API_REQUESTS_TOTAL, (endpoint, code))
        if code == "429":
            self.count(catalog.EXPORTER_RATE_LIMITED_TOTAL, ())

    def set_authenticated(self, ok: bool) -> None:
        """Whether the provider took the account's credentials (the HTTP client's callback)."""
        self.set_value(catalog.EXPORTER_ACCOUNT_AUTHENTICATED, 1.0 if ok else 0.0)

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
        self.version += 1

    # --- called in the state worker
    def apply_account(self, record: AccountRecord) -> None:
        """The one provider-side account behind this config account (Starlink `GET /account`):
        its id goes on `leo_account_info` and on every terminal, router and service line info."""
        self.set_provider_accounts([record])
        self.common = {"provider_account": record.provider_account}
        for entity in COMMON_KINDS:
            if entity in self.tables:  # the others get it when they are made
                self.tables[entity].set_common(self.common)
        self.set_value(catalog.ACCOUNT_ACTIVE_SUSPENSIONS, record.active_suspensions)

    def set_provider_accounts(self, records: Iterable[AccountRecord]) -> None:
        """Every provider-side account seen under this config account (Kognitive: each Starlink
        account the key's data names)."""
        self.provider_accounts = {
            rec.provider_account: {k: v for k, v in {"provider_account_name": rec.name, **rec.attributes}.items() if v}
            for rec in records
            if rec.provider_account
        }
        self.version += 1

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
        """Usage reports: the metric figures (a report of a cycle that has ended goes to the previous
        cycle's, see `billing.lagging`) and every cycle they hold, for the usage report."""
        records = list(records)
        billing.apply_usage(self.service_lines, records, self.clock())
        self.cycles.merge(cycle for rec in records for cycle in rec.cycles)

    def apply_cycles(self, records: Iterable[BillingCycle]) -> None:
        """Billing cycles of providers whose usage does not come as `UsageRecord`s (OneWeb)."""
        self.cycles.merge(records)

    def replace_pools(self, records: Iterable[PoolRecord]) -> None:
        """The account's data pools: info, capacity and use this period, and each line's share."""
        billing.replace_pools(self.pools, records)

    def set_balance(self, due: dict[str, float]) -> None:
        """The amount the account owes, per currency."""
        self.counters[catalog.ACCOUNT_BALANCE_DUE.name] = billing.balance(due)
        self.version += 1

    def replace_products(self, records: Iterable[ProductRecord]) -> None:
        billing.replace_products(self.products, records)

    def expire(self, now: float) -> None:
        """Online flags from telemetry age and the alert counts, of the tables the account has."""
        for entity, online, alerts in _AGEING:
            table = self.tables.get(entity)
            if table is not None:
                if self.online_from_telemetry:
                    table.expire(now, self.offline_after, online)
                table.count_alerts(alerts)
