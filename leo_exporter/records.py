"""Typed records: what provider clients hand to the fleet state.

Providers speak in these and in the catalogue's family handles (`leo_exporter.catalog`); they know
nothing of Prometheus text: the state resolves the handles, checks the labels and escapes.
Telemetry arrives as columns (one list per family, aligned with `ids`) because a 65,000-row
batch must be applied without building an object per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leo_exporter.catalog import MetricSpec, NoLabels


@dataclass(slots=True)
class TelemetryColumns:
    """The newest sample per device of one kind, column by column.

    `ids` are bare provider ids (prefixes already stripped); `timestamps` are Unix seconds of
    the device's own clock. `measures[family][i]` belongs to `ids[i]`; None means not reported.
    `labelled[family][label values][i]` is the same for families with extra labels (router
    clients by band, ping by target). `alerts[i]` is None when the row had no alert column.
    """

    ids: list[str]
    timestamps: list[float]
    measures: dict[MetricSpec[Any, NoLabels], list[float | None]] = field(default_factory=dict)
    labelled: dict[MetricSpec[Any, Any], dict[tuple[str, ...], list[float | None]]] = field(default_factory=dict)
    alerts: list[tuple[str, ...] | None] | None = None
    attributes: dict[str, list[str | None]] = field(default_factory=dict)
    parents: list[str | None] | None = None  # router rows: the terminal they are bonded to


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A provider-side account: its id and name become `provider_account` / `provider_account_name`."""

    provider_account: str
    name: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    active_suspensions: int | None = None


@dataclass(frozen=True, slots=True)
class TerminalRecord:
    terminal_id: str
    service_line: str = ""
    name: str = ""
    kit_serial: str = ""
    serial: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    def labels(self) -> dict[str, str]:
        """Descriptive labels of `leo_terminal_info`."""
        return {
            "service_line": self.service_line,
            "name": self.name,
            "kit_serial": self.kit_serial,
            "serial": self.serial,
            **self.attributes,
        }


@dataclass(frozen=True, slots=True)
class RouterRecord:
    router_id: str
    terminal_id: str = ""
    name: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceLineRecord:
    service_line: str
    name: str = ""
    product: str = ""
    active: bool | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OverageRecord:
    """Data used beyond a plan's limit in the current cycle, for one overage product."""

    product: str
    bytes: float
    cost: float | None = None
    currency: str = ""
    limit_bytes: float | None = None


@dataclass(frozen=True, slots=True)
class CycleUsage:
    """A closed billing cycle's totals by class."""

    start: float | None
    end: float | None
    by_class: dict[str, float]


@dataclass(frozen=True, slots=True)
class BillingCycle:
    """One service line's usage in one billing cycle, as the provider's own billing data gives it:
    the rows of the monthly usage report (`usage-report`, `/usage.csv`, `/api/usage`).

    Bytes, Unix seconds, cost in the currency's units. None: the provider did not say (a Kognitive
    cycle has no overage figures, a pooled line no limit of its own). Whether the cycle is complete
    is judged when the report is read (its end against the clock), not here."""

    service_line: str
    start: float
    end: float | None
    by_class: dict[str, float]
    limit_bytes: float | None = None
    overage_bytes: float | None = None
    overage_cost: float | None = None
    currency: str = ""
    mobile: bool | None = None
    updated: float | None = None  # when the provider's figures are as of, where it says


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Current billing cycle usage of one service line. Bytes and Unix seconds."""

    service_line: str
    by_class: dict[str, float]
    limit_bytes: float | None = None
    cycle_start: float | None = None
    cycle_end: float | None = None
    updated: float | None = None
    daily_by_class: dict[str, float] | None = None
    daily_date: float | None = None
    previous: CycleUsage | None = None  # the cycle before the current one, when the provider gave it
    overage: tuple[OverageRecord, ...] = ()
    mobile: bool | None = None
    cycles: tuple[BillingCycle, ...] = ()  # every cycle the response held, for the usage report


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """A shared data pool: what it holds this period, what it has given out, and to which lines."""

    pool: str
    name: str = ""
    product: str = ""
    kind: str = ""
    capacity_bytes: float | None = None
    usage_bytes: float | None = None
    period_end: float | None = None  # when the blocks' current period ends
    by_service_line: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    product: str
    name: str = ""
    price: float | None = None
    currency: str = ""
    data_bytes: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineHistory:
    """The usage a provider still keeps for one service line: each reported day by class, and the
    billing cycles those days belong to (start, end, totals). For `backfill-usage`."""

    service_line: str
    days: tuple[tuple[float, dict[str, float]], ...]  # (UTC midnight, bytes by class)
    cycles: tuple[CycleUsage, ...]
