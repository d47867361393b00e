"""The jobs of one OneWeb account: user_terminals, products, organizations, sites,
terminal_performance, product_performance and usage_consumption, each on its own timer.

Reports arrive late and each carries its own time. A report is applied only if it is newer than
the one applied before for that terminal or product (and report kind); an older one is ignored
(logged at debug level), so no report timestamp ever moves backwards and a traffic volume is
never counted twice. A list with unreadable items updates what it could read, removes nobody,
and fails the job so the problem shows in `leo_exporter_job_up`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, TypeVar

import anyio.to_thread
import httpx

from leo_exporter import catalog
from leo_exporter.catalog import MetricSpec
from leo_exporter.providers.base import AccountContext, JobFunction
from leo_exporter.providers.common import FUTURE_TOLERANCE, apply_read, parse_items
from leo_exporter.providers.http import ApiClient
from leo_exporter.providers.oneweb import families
from leo_exporter.providers.oneweb.client import OneWebClient
from leo_exporter.providers.oneweb.config import OneWebAccount
from leo_exporter.providers.oneweb.jobspecs import (
    ORGANIZATIONS,
    PRODUCT_PERFORMANCE,
    PRODUCTS,
    SITES,
    TERMINAL_PERFORMANCE,
    USAGE_CONSUMPTION,
    USER_TERMINALS,
)
from leo_exporter.providers.oneweb.parse import (
    Organization,
    Product,
    ProductReport,
    Site,
    TerminalReport,
    UsageBucket,
    UserTerminal,
    parse_organization,
    parse_product,
    parse_product_report,
    parse_site,
    parse_terminal_report,
    parse_usage_report,
    parse_user_terminal,
    shapes_from,
    state_is_known,
)
from leo_exporter.providers.oneweb.schema import ONLINE_STATES
from leo_exporter.records import AccountRecord, BillingCycle, PoolRecord
from leo_exporter.state import EntityTable

T = TypeVar("T")
K = TypeVar("K", Literal["terminal"], Literal["service_line"])
# Lists up to this long are parsed on the event loop (a few milliseconds): a trip to a worker
# thread each, thousands at once at start with many accounts, queued on the thread limiter.
INLINE_PARSE_ITEMS = 500

# TerminalReport.signal key -> its family
SIGNAL_FAMILIES = {
    "rsrp_dbm": families.TERMINAL_RSRP_DBM,
    "rssi_dbm": families.TERMINAL_RSSI_DBM,
    "sinr_decibels": families.TERMINAL_SINR_DECIBELS,
}
# UsageBucket attribute -> its family (by usage class)
USAGE_FAMILIES: dict[str, MetricSpec[Literal["service_line"], tuple[str]]] = {
    "used": catalog.SERVICE_LINE_USAGE_BYTES,
    "remaining": families.SERVICE_LINE_USAGE_REMAINING_BYTES,
    "entitlement": families.SERVICE_LINE_USAGE_ENTITLEMENT_BYTES,
    "balance": families.SERVICE_LINE_USAGE_BALANCE_BYTES,
    "overage_blocks": families.SERVICE_LINE_USAGE_OVERAGE_BLOCKS,
}
TRAFFIC_FAMILIES = {
    "transmit": families.TERMINAL_TRANSMIT_BYTES_TOTAL,
    "receive": families.TERMINAL_RECEIVE_BYTES_TOTAL,
}
THROUGHPUT_FAMILIES = {
    "downlink": families.SERVICE_LINE_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND,
    "uplink": families.SERVICE_LINE_UPLINK_THROUGHPUT_BYTES_PER_SECOND,
}


class OneWebDriver:
    identify_job = None  # the account label is known from the config; nothing to wait for

    def __init__(self, ctx: AccountContext):
        assert isinstance(ctx.config, OneWebAccount)
        self.ctx = ctx
        self.config: OneWebAccount = ctx.config
        self.api = ApiClient(
            counting=ctx.counting,
            budget=ctx.budget,
            base_url=self.config.api_url,
            timeout=self.config.timeout,
            max_response_bytes=self.config.max_response_size,
            max_items=self.config.max_items_per_run,
            headers={"Accept": "application/json"},
            auth=httpx.BasicAuth(self.config.client_id, self.config.client_secret.get_secret_value()),
            transport=ctx.transport,
        )
        self.client = OneWebClient(self.config, self.api, ctx.log)
        self.shapes = shapes_from(self.config.field_paths())
        jobs = {job.name: job for job in self.config.resolved_jobs()}
        # Online flags: the inventory's resourceState is current; the performance report's lags.
        self.online_from_reports = not jobs[USER_TERMINALS.name].enabled
        # Links and report bookkeeping; changed only inside the state worker.
        self.terminal_products: dict[str, str] = {}  # IMEI -> product the terminal names itself
        self.product_of_imei: dict[str, str] = {}  # IMEI -> product whose inventory names the IMEI
        self.report_times: dict[tuple[str, str], dict[str, float]] = {}  # (entity, id) -> report -> time
        self._warned: set[str] = set()

    def jobs(self) -> dict[str, JobFunction]:
        return {
            USER_TERMINALS.name: self.poll_user_terminals,
            PRODUCTS.name: self.poll_products,
            ORGANIZATIONS.name: self.poll_organizations,
            SITES.name: self.poll_sites,
            TERMINAL_PERFORMANCE.name: self.poll_terminal_performance,
            PRODUCT_PERFORMANCE.name: self.poll_product_performance,
            USAGE_CONSUMPTION.name: self.poll_usage_consumption,
        }

    async def aclose(self) -> None:
        await self.api.aclose()

    # ---- helpers -----------------------------------------------------------------------------------

    async def _fetch(
        self, job: str, path: str, parse: Callable[[Any], T], params: dict[str, Any] | None = None
    ) -> tuple[list[T], list[str]]:
        """Every record of a list endpoint, a long list parsed off the event loop; bad items are
        listed in skipped."""
        items = await self.client.get_list(job, path, params)
        skipped: list[str] = []
        if len(items) <= INLINE_PARSE_ITEMS:
            return parse_items(items, parse, skipped), skipped
        records = await anyio.to_thread.run_sync(lambda: parse_items(items, parse, skipped))
        return records, skipped

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.ctx.log.warning(message, *args)

    def _fresh(self, entity: str, entity_id: str, report: str, when: float | None, *, ahead_ok: bool = False) -> bool:
        """True if a report of this time is newer than the one applied before (and remember it).

        A time more than FUTURE_TOLERANCE ahead of our clock is never remembered: it would make
        every later report look older until a restart. Such a performance report is rejected and
        counted; with `ahead_ok` (usage, dated by the provider's billing calendar, which a
        simulated world may run ahead of the machine's clock) it is applied, and holds nothing back."""
        if when is None:
            return True
        if when > self.ctx.clock() + FUTURE_TOLERANCE:
            if ahead_ok:
                return True
            self.ctx.unknown.invalid(f"{report}_time", f"more than {FUTURE_TOLERANCE:g}s in the future")
            return False
        times = self.report_times.setdefault((entity, entity_id), {})
        last = times.get(report)
        if last is not None and when <= last:
            if when < last:
                self.ctx.log.debug(
                    "ignoring the %s report of %s %s for %.0f: older than the one applied (%.0f)",
                    report,
                    entity,
                    entity_id,
                    when,
                    last,
                )
            return False
        times[report] = when
        return True

    def _report_times(
        self, table: EntityTable[K], family: MetricSpec[K, tuple[str]], entity: str, entity_id: str
    ) -> None:
        times = self.report_times.get((entity, entity_id), {})
        table.set_labelled(family, entity_id, {(report,): when for report, when in times.items()})

    def _forget(self, entity: str, keep: set[str]) -> None:
        for key in [k for k in self.report_times if k[0] == entity and k[1] not in keep]:
            del self.report_times[key]

    # ---- user terminals ----------------------------------------------------------------------------

    async def poll_user_terminals(self) -> None:
        config = self.config
        params = {"fields": ",".join(config.user_terminal_fields)} if config.user_terminal_fields else None
        records, skipped = await self._fetch(
            "user_terminals",
            config.paths.user_terminals,
            lambda item: parse_user_terminal(
                item,
                self.shapes,
                location_order=config.location_order,
                firmware_component=config.firmware_component,
            ),
            params,
        )
        for record in records:
            if not state_is_known(record.state):
                self.ctx.unknown.note("resource_state", record.state, f"user terminal {record.imei}")
            if record.location_problem:
                self._warn_once("location", "%s (further location problems are not logged)", record.location_problem)
        await apply_read(
            self.ctx.worker, lambda: self._apply_terminals(records, complete=not skipped), skipped, "user terminals"
        )

    def _apply_terminals(self, records: list[UserTerminal], complete: bool) -> None:
        state = self.ctx.state
        table = state.terminals
        by_imei = {r.imei: r for r in records}  # a repeated record: the last one wins
        own = {imei: r.product for imei, r in by_imei.items() if r.product}
        self.terminal_products = own if complete else {**self.terminal_products, **own}
        inventory = {
            imei: {"service_line": r.product or self.product_of_imei.get(imei, ""), **r.attrs}
            for imei, r in by_imei.items()
        }
        if complete:
            table.replace_inventory(inventory)
            self._forget("terminal", set(inventory))
        else:
            for imei, attrs in inventory.items():
                table.update_attrs(imei, attrs)
        last_seen = catalog.TERMINAL_LAST_SEEN_TIMESTAMP_SECONDS
        for imei, r in by_imei.items():
            if not self.online_from_reports:
                table.set(catalog.TERMINAL_ONLINE, imei, 1.0 if r.online else 0.0)
            table.set(catalog.TERMINAL_LATITUDE_DEGREES, imei, r.latitude)
            table.set(catalog.TERMINAL_LONGITUDE_DEGREES, imei, r.longitude)
            table.set(families.TERMINAL_ELEVATION_METERS, imei, r.elevation)
            table.set(families.TERMINAL_FIRST_SEEN_TIMESTAMP_SECONDS, imei, r.first_seen)
            held = table.get(last_seen, imei)
            if r.last_seen is not None and (held is None or r.last_seen > held):
                table.set(last_seen, imei, r.last_seen)  # never backwards
            table.set_labelled(
                families.TERMINAL_COMPONENT_INFO, imei, {(c.type, c.partition, c.version): 1.0 for c in r.components}
            )

    # ---- products ----------------------------------------------------------------------------------

    async def poll_products(self) -> None:
        records, skipped = await self._fetch(
            "products", self.config.paths.products, lambda item: parse_product(item, self.shapes)
        )
        await apply_read(
            self.ctx.worker, lambda: self._apply_products(records, complete=not skipped), skipped, "products"
        )

    def _apply_products(self, records: list[Product], complete: bool) -> None:
        state = self.ctx.state
        table = state.service_lines
        by_id = {p.product_id: p for p in records}
        inventory = {pid: p.attrs for pid, p in by_id.items()}
        if complete:
            table.replace_inventory(inventory)
            self._forget("service_line", set(inventory))
        else:
            for pid, attrs in inventory.items():
                table.update_attrs(pid, attrs)
        for pid, p in by_id.items():
            table.set(catalog.SERVICE_LINE_ACTIVE, pid, 1.0 if p.active else 0.0)
            table.set(catalog.SERVICE_LINE_USAGE_LIMIT_BYTES, pid, p.allowance_bytes)
            table.set(families.SERVICE_LINE_OVERAGE_INCREMENT_BYTES, pid, p.overage_increment_bytes)
            table.set(families.SERVICE_LINE_MAX_DOWNLINK_THROUGHPUT_BYTES_PER_SECOND, pid, p.max_downlink)
            table.set(families.SERVICE_LINE_MAX_UPLINK_THROUGHPUT_BYTES_PER_SECOND, pid, p.max_uplink)
        # IMEI -> product (ERD: Products.IMEI); an active product wins over an inactive one.
        links: dict[str, str] = {} if complete else dict(self.product_of_imei)
        for p in sorted(by_id.values(), key=lambda p: p.active):
            if p.imei:
                links[p.imei] = p.product_id
        self.product_of_imei = links
        terminals = state.terminals
        for imei in list(terminals.labels):
            if not self.terminal_products.get(imei):
                wanted = links.get(imei, "")
                if terminals.attrs.get(imei, {}).get("service_line", "") != wanted:
                    terminals.update_attrs(imei, {"service_line": wanted})

    # ---- organizations and sites -------------------------------------------------------------------

    async def poll_organizations(self) -> None:
        records, skipped = await self._fetch(
            "organizations", self.config.paths.organizations, lambda item: parse_organization(item, self.shapes)
        )
        await apply_read(
            self.ctx.worker, lambda: self._apply_organizations(records, complete=not skipped), skipped, "organizations"
        )

    def _apply_organizations(self, records: list[Organization], complete: bool) -> None:
        state = self.ctx.state
        inventory = {o.org_id: {"name": o.name, "parent": o.parent, "organization_kind": o.kind} for o in records}
        if complete:
            state.organizations.replace_inventory(inventory)
        else:
            for oid, attrs in inventory.items():
                state.organizations.update_attrs(oid, attrs)
        partners = [o for o in records if o.kind == "distribution_partner"]
        if len(partners) == 1:  # the credentials' own organization: the provider-side account
            partner = AccountRecord(provider_account=partners[0].org_id, name=partners[0].name)
            state.set_provider_accounts([partner])
            for table in (state.terminals, state.service_lines):
                table.set_common({"provider_account": partner.provider_account})

    async def poll_sites(self) -> None:
        records, skipped = await self._fetch(
            "sites", self.config.paths.sites, lambda item: parse_site(item, self.shapes)
        )
        await apply_read(self.ctx.worker, lambda: self._apply_sites(records, complete=not skipped), skipped, "sites")

    def _apply_sites(self, records: list[Site], complete: bool) -> None:
        table = self.ctx.state.sites
        inventory = {s.site_id: {"name": s.name, "organization": s.organization} for s in records}
        if complete:
            table.replace_inventory(inventory)
        else:
            for sid, attrs in inventory.items():
                table.update_attrs(sid, attrs)

    # ---- terminal performance ----------------------------------------------------------------------

    async def poll_terminal_performance(self) -> None:
        scale = self.config.link_availability_scale
        records, skipped = await self._fetch(
            "terminal_performance",
            self.config.paths.terminal_performance,
            lambda item: parse_terminal_report(item, self.shapes, availability_scale=scale),
        )
        await apply_read(
            self.ctx.worker, lambda: self._apply_terminal_reports(records), skipped, "user terminal performance reports"
        )

    def _apply_terminal_reports(self, reports: list[TerminalReport]) -> None:
        table = self.ctx.state.terminals
        known = table.inventory
        unknown = 0
        for report in reports:
            imei = report.imei
            if known is not None and imei not in known:
                unknown += 1  # not (yet) in the inventory: no series for a terminal we cannot describe
                continue
            if report.link_availability is not None and self._fresh(
                "terminal", imei, "link_availability", report.link_availability_time
            ):
                table.set(families.TERMINAL_LINK_AVAILABILITY_RATIO, imei, report.link_availability)
            if report.signal and self._fresh("terminal", imei, "signal_quality", report.signal_time):
                for measure, family in SIGNAL_FAMILIES.items():
                    table.set(family, imei, report.signal.get(measure))
            if report.traffic:
                self._apply_traffic(table, report)
            if report.state and self.online_from_reports:
                table.set(catalog.TERMINAL_ONLINE, imei, 1.0 if report.state.lower() in ONLINE_STATES else 0.0)
            self._report_times(table, families.TERMINAL_REPORT_TIMESTAMP_SECONDS, "terminal", imei)
        if unknown:
            self.ctx.log.debug("skipped performance reports of %d terminals not in the inventory", unknown)

    def _apply_traffic(self, table: EntityTable[Literal["terminal"]], report: TerminalReport) -> None:
        imei = report.imei
        cumulative = self.config.traffic_counters == "cumulative"
        if report.traffic_time is None and not cumulative:
            self._warn_once(
                "traffic_time",
                "traffic volumes without a report time cannot be counted exactly once and are ignored "
                "(set fields.terminal_performance.traffic_time, or traffic_counters: cumulative)",
            )
            return
        if not self._fresh("terminal", imei, "traffic", report.traffic_time):
            return
        for direction, family in TRAFFIC_FAMILIES.items():
            samples: dict[tuple[str], float] = {}
            for (way, traffic), volume in report.traffic.items():
                if way != direction:
                    continue
                before = 0.0 if cumulative else table.get_labelled(family, imei, (traffic,)) or 0.0
                samples[(traffic,)] = before + volume
            table.merge_labelled(family, imei, samples)  # traffic types not in this report keep their totals

    # ---- product performance -----------------------------------------------------------------------

    async def poll_product_performance(self) -> None:
        records, skipped = await self._fetch(
            "product_performance",
            self.config.paths.product_performance,
            lambda item: parse_product_report(item, self.shapes),
        )
        await apply_read(
            self.ctx.worker, lambda: self._apply_product_reports(records), skipped, "product performance reports"
        )

    def _apply_product_reports(self, reports: list[ProductReport]) -> None:
        table = self.ctx.state.service_lines
        known = table.inventory
        for report in reports:
            pid = report.product_id
            if known is not None and pid not in known:
                continue
            if not self._fresh("service_line", pid, "throughput", report.time):
                continue
            for direction, family in THROUGHPUT_FAMILIES.items():
                table.set_labelled(
                    family, pid, {(cls,): value for (way, cls), value in report.throughput.items() if way == direction}
                )
            self._report_times(table, families.SERVICE_LINE_REPORT_TIMESTAMP_SECONDS, "service_line", pid)

    # ---- usage consumption -------------------------------------------------------------------------

    async def poll_usage_consumption(self) -> None:
        note = self.ctx.unknown.note
        reports, skipped = await self._fetch(
            "usage_consumption",
            self.config.paths.usage_consumption,
            lambda item: parse_usage_report(item, self.shapes, note),
        )
        by_product: dict[str, list[UsageBucket]] = defaultdict(list)
        for buckets in reports:
            for bucket in buckets:
                by_product[bucket.product_id].append(bucket)
        await apply_read(self.ctx.worker, lambda: self._apply_usage(by_product), skipped, "usage consumption reports")

    def _apply_usage(self, by_product: dict[str, list[UsageBucket]]) -> None:
        table = self.ctx.state.service_lines
        known = table.inventory
        for pid, buckets in by_product.items():
            if known is not None and pid not in known:
                continue
            times = [b.time for b in buckets if b.time is not None]
            when = max(times) if times else None
            if not self._fresh("service_line", pid, "usage", when, ahead_ok=True):
                continue
            values: dict[str, dict[tuple[str], float]] = {attr: {} for attr in USAGE_FAMILIES}
            info: list[tuple[dict[str, str], float]] = []
            classes: set[str] = set()
            for bucket in buckets:
                cls = bucket.usage_class
                if cls in classes:  # two buckets of one name: keep both apart
                    cls = f"{cls}_{bucket.attrs.get('bucket') or len(classes)}"
                classes.add(cls)
                for attr in USAGE_FAMILIES:
                    value = getattr(bucket, attr)
                    if value is not None:
                        values[attr][(cls,)] = value
                info.append(({"class": cls, **bucket.attrs}, 1.0))
            starts = [b.cycle_start for b in buckets if b.cycle_start is not None]
            ends = [b.cycle_end for b in buckets if b.cycle_end is not None]
            start, end = (min(starts) if starts else None), (max(ends) if ends else None)
            cycle = _billing_cycle(pid, start, end, when, buckets, values["used"])
            if cycle is not None:
                self.ctx.state.apply_cycles([cycle])
            # The report lags: one of a cycle that has ended (at 00:30 on a cycle's first day, the
            # last cycle's) is the previous cycle's, and the current cycle has no figures yet.
            ended = end is not None and end <= self.ctx.state.clock()
            for attr, family in USAGE_FAMILIES.items():
                table.set_labelled(family, pid, {} if ended else values[attr])
            table.set_labelled(families.SERVICE_LINE_USAGE_BUCKET_INFO, pid, info)
            table.set(catalog.SERVICE_LINE_BILLING_CYCLE_START_TIMESTAMP_SECONDS, pid, None if ended else start)
            table.set(catalog.SERVICE_LINE_BILLING_CYCLE_END_TIMESTAMP_SECONDS, pid, None if ended else end)
            table.set(catalog.SERVICE_LINE_USAGE_UPDATED_TIMESTAMP_SECONDS, pid, when)
            self._previous_cycle(pid, None if ended or start is None else start)
        self.ctx.state.replace_pools(_pools(by_product))

    def _previous_cycle(self, pid: str, current_start: float | None) -> None:
        """The previous cycle's figures, from the last report of it the exporter kept (OneWeb
        reports only the running cycle): the newest kept cycle before the current one."""
        table = self.ctx.state.service_lines
        kept = self.ctx.state.cycles.newest(pid, self.ctx.state.cycles.keep)
        before = [c for c in kept if current_start is None or c.start < current_start]
        previous = before[-1] if before else None
        table.set_labelled(
            catalog.SERVICE_LINE_PREVIOUS_CYCLE_USAGE_BYTES,
            pid,
            {(cls,): v for cls, v in (previous.by_class if previous else {}).items()},
        )
        start, end = (previous.start, previous.end) if previous else (None, None)
        table.set(catalog.SERVICE_LINE_PREVIOUS_CYCLE_START_TIMESTAMP_SECONDS, pid, start)
        table.set(catalog.SERVICE_LINE_PREVIOUS_CYCLE_END_TIMESTAMP_SECONDS, pid, end)


def _billing_cycle(
    pid: str,
    start: float | None,
    end: float | None,
    when: float | None,
    buckets: list[UsageBucket],
    used: dict[tuple[str], float],
) -> BillingCycle | None:
    """The product's cycle as its newest usage report shows it, for the usage report. ASSUMED, as
    the report's shape is: the used amount per bucket by class; the limit is the entitlement of
    its own (not shared) buckets; OneWeb reports overage in blocks of a size it does not say, so
    the overage columns stay empty. None without a start date."""
    if start is None:
        return None
    own = [b.entitlement for b in buckets if b.entitlement is not None and b.attrs.get("shared") != "true"]
    return BillingCycle(
        service_line=pid,
        start=start,
        end=end,
        by_class={cls: value for (cls,), value in used.items()},
        limit_bytes=sum(own) if own else None,
        updated=when,
    )


def _pools(by_product: dict[str, list[UsageBucket]]) -> list[PoolRecord]:
    """Sub-pools as shared data pools (the same families as Starlink's): the capacity is the
    bucket's entitlement, which is the pool's and repeats on every member; the use adds up the
    members' own usage, and each member's share is its usage."""
    pools: dict[str, PoolRecord] = {}
    for pid, buckets in by_product.items():
        for bucket in buckets:
            pool = bucket.attrs.get("sub_pool", "")
            if not pool:
                continue
            record = pools.get(pool) or PoolRecord(pool, name=bucket.attrs.get("bucket_name", ""), usage_bytes=0.0)
            shares = {**record.by_service_line}
            if bucket.used is not None:
                shares[pid] = shares.get(pid, 0.0) + bucket.used
            capacity = max(filter(None, (record.capacity_bytes, bucket.entitlement)), default=None)
            ends = [t for t in (record.period_end, bucket.cycle_end) if t is not None]
            pools[pool] = replace(
                record,
                capacity_bytes=capacity,
                usage_bytes=sum(shares.values()),
                period_end=max(ends) if ends else None,
                by_service_line=shares,
            )
    return list(pools.values())
