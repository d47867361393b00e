"""The jobs of one Starlink V2 account: account, telemetry, user_terminals, service_lines, data_usage,
data_pools, balance."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from leo_exporter import catalog
from leo_exporter.providers.base import AccountContext, JobFunction
from leo_exporter.providers.common import apply_read, parse_items, raise_if_skipped
from leo_exporter.providers.errors import NotFound, PermissionDenied
from leo_exporter.providers.http import ApiClient, decode_json_into
from leo_exporter.providers.starlink import families
from leo_exporter.providers.starlink.auth import TokenSource
from leo_exporter.providers.starlink.client import StarlinkClient
from leo_exporter.providers.starlink.config import StarlinkAccount
from leo_exporter.providers.starlink.jobspecs import (
    ACCOUNT,
    BALANCE,
    DATA_POOLS,
    DATA_USAGE,
    SERVICE_LINES,
    TELEMETRY,
    USER_TERMINALS,
)
from leo_exporter.providers.starlink.management import (
    LineDataBlocks,
    PlanUsage,
    parse_account,
    parse_balance,
    parse_data_blocks,
    parse_history,
    parse_plan_usage,
    parse_pool,
    parse_pool_usage,
    parse_service_line,
    parse_user_terminal,
    pool_automatic_top_up,
)
from leo_exporter.providers.starlink.telemetry import StreamDecoder, TelemetryBatch
from leo_exporter.records import LineHistory, PoolRecord, RouterRecord, ServiceLineRecord, TerminalRecord

USAGE_PAGE_LIMIT = 250  # the API's maximum, to spend as few requests of the budget as possible
POOLS_USAGE_PAGE_LIMIT = 100  # GET /data-pools/usage: the maximum
UNAVAILABLE_RETRY = 86400.0  # a call the account cannot make (403/404) is tried again a day later
log = logging.getLogger(__name__)
U = TypeVar("U", PlanUsage, LineHistory)


class StarlinkDriver:
    # The `account` label is the config name, known before any call: telemetry need not wait for
    # `GET /account` (which needs a permission of its own) to know which account it belongs to.
    identify_job = None

    def __init__(self, ctx: AccountContext):
        assert isinstance(ctx.config, StarlinkAccount)
        self.ctx = ctx
        self.config: StarlinkAccount = ctx.config
        self.api = ApiClient(
            counting=ctx.counting,
            budget=ctx.budget,
            base_url=self.config.api_url,
            timeout=self.config.timeout,
            max_response_bytes=self.config.max_response_size,
            max_items=self.config.max_items_per_run,
            transport=ctx.transport,
        )
        secret = self.config.client_secret.get_secret_value()
        self.tokens = TokenSource(self.api, self.config.auth_url, self.config.client_id, secret)
        self.client = StarlinkClient(self.api, self.tokens)
        self.decoder = StreamDecoder(ctx.unknown.note, self.config.obstruction_scale, ctx.clock)
        self.unavailable: dict[str, float] = {}  # call -> when it answered 403/404 (monotonic)
        self.batch_size = self.config.telemetry.batch_size  # what the next stream request asks (grows)

    def jobs(self) -> dict[str, JobFunction]:
        return {
            ACCOUNT.name: self.poll_account,
            TELEMETRY.name: self.poll_telemetry,
            USER_TERMINALS.name: self.poll_user_terminals,
            SERVICE_LINES.name: self.poll_service_lines,
            DATA_USAGE.name: self.poll_data_usage,
            DATA_POOLS.name: self.poll_data_pools,
            BALANCE.name: self.poll_balance,
        }

    async def aclose(self) -> None:
        await self.api.aclose()

    async def poll_account(self) -> None:
        content = await self.client.content("GET", "account", endpoint="/account", permission=ACCOUNT.permission)
        record = parse_account(content)
        await self.ctx.worker.apply(lambda: self.ctx.state.apply_account(record))

    async def poll_telemetry(self) -> None:
        """Drain the stream: a full batch means we are behind, so ask again at once, for more."""
        options = self.config.telemetry
        for _ in range(options.max_calls_per_run):
            asked = self.batch_size
            body = {"batchSize": asked, "maxLingerMs": int(options.max_linger * 1000)}
            response = await self.client.call(
                "POST",
                "telemetry/stream",
                endpoint="/telemetry/stream",
                permission=TELEMETRY.permission,
                json=body,
                timeout=options.max_linger + self.config.timeout,
                query=True,  # a read: a connection dropped under it delivered nothing, so it is asked again
            )
            batch = await decode_json_into(response.content, "POST /telemetry/stream", self.decoder.decode)
            del response  # its body (megabytes) is not needed while the batch is applied
            await self.ctx.worker.apply(functools.partial(self._apply_telemetry, batch))
            if batch.invalid_rows:
                # within the account's rate of warnings about provider data: a drain is up to 50 answers
                self.ctx.unknown.gate.warning("skipped %d malformed telemetry rows", batch.invalid_rows)
            for (column, problem), count in batch.invalid_values.items():
                self.ctx.unknown.invalid(column, problem, count)
            self.batch_size = next_batch_size(asked, batch.total_rows, options.max_batch_size)
            if batch.total_rows < asked:
                return

    def _apply_telemetry(self, batch: TelemetryBatch) -> None:
        state = self.ctx.state
        state.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
        state.routers.apply_columns(batch.routers, catalog.ROUTER_ALERT)
        for terminal_id, (stamp, allocations) in batch.ips.items():
            state.terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, terminal_id, stamp, allocations)
        for device_type, count in batch.rows.items():
            state.count(catalog.EXPORTER_TELEMETRY_ROWS_TOTAL, (device_type,), count)
        if batch.invalid_rows:
            state.count(catalog.EXPORTER_TELEMETRY_ROWS_TOTAL, ("invalid",), batch.invalid_rows)

    async def poll_user_terminals(self) -> None:
        terminals: dict[str, TerminalRecord] = {}
        routers: dict[str, RouterRecord] = {}
        skipped: list[str] = []
        async for parsed in self.client.pages(
            "GET",
            "user-terminals",
            endpoint="/user-terminals",
            permission=USER_TERMINALS.permission,
            parse=parse_user_terminal,
            skipped=skipped,
        ):
            for terminal, its_routers in parsed:
                terminals[terminal.terminal_id] = terminal  # pages may repeat an item: reconcile by id
                routers.update((r.router_id, r) for r in its_routers)
        state = self.ctx.state

        def apply() -> None:
            if skipped:  # an unreadable item may be a terminal we hold: add, but remove nobody
                for rec in terminals.values():
                    state.terminals.update_attrs(rec.terminal_id, rec.labels())
                return
            state.replace_terminals(terminals.values())
            state.replace_routers(routers.values())

        await apply_read(self.ctx.worker, apply, skipped, "user terminals")

    async def poll_service_lines(self) -> None:
        lines: dict[str, tuple[ServiceLineRecord, LineDataBlocks]] = {}
        skipped: list[str] = []
        async for parsed in self.client.pages(
            "GET",
            "service-lines",
            endpoint="/service-lines",
            permission=SERVICE_LINES.permission,
            parse=_line_and_blocks,
            skipped=skipped,
        ):
            for record, blocks in parsed:
                lines[record.service_line] = (record, blocks)
        state = self.ctx.state

        def apply() -> None:
            if skipped:  # an unreadable item may be a line we hold: replace nothing
                return
            state.replace_service_lines(record for record, _ in lines.values())
            table = state.service_lines
            for number, (_, blocks) in lines.items():
                recurring = blocks.recurring
                table.set_labelled(
                    families.SERVICE_LINE_RECURRING_DATA_BLOCKS, number, {(p,): n for p, (n, _) in recurring.items()}
                )
                table.set_labelled(
                    families.SERVICE_LINE_RECURRING_DATA_BLOCK_SIZE_BYTES,
                    number,
                    {(p,): each for p, (_, each) in recurring.items() if each is not None},
                )
                top_ups = blocks.top_ups
                table.set_labelled(
                    families.SERVICE_LINE_TOP_UP_DATA_BLOCKS, number, {k: n for k, (n, _) in top_ups.items()}
                )
                table.set_labelled(
                    families.SERVICE_LINE_TOP_UP_DATA_BYTES,
                    number,
                    {k: total for k, (_, total) in top_ups.items() if total is not None},
                )

        await apply_read(self.ctx.worker, apply, skipped, "service lines")

    async def poll_data_usage(self) -> None:
        # every line, deactivated ones too: a line deactivated mid-cycle is still billed for it
        body = {"previousBillingCycles": self.config.previous_cycles_asked, "activeServiceLinesOnly": False}
        skipped: list[str] = []
        usage = await self._usage_query(body, parse_plan_usage, skipped)
        state = self.ctx.state

        def apply() -> None:
            state.apply_usage(u.record for u in usage.values())
            for number, u in usage.items():
                opted = None if u.opted_into_overage is None else float(u.opted_into_overage)
                state.service_lines.set(families.SERVICE_LINE_OVERAGE_OPTED_IN, number, opted)

        await apply_read(self.ctx.worker, apply, skipped, "data usage entries")

    async def usage_history(self, since: float) -> list[LineHistory]:
        """Every cycle the provider keeps from the one containing `since` on, of every line
        (deactivated ones too): `queryStartDate` overrides the first cycle's start."""
        start = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        skipped: list[str] = []
        history = await self._usage_query(
            {"queryStartDate": start, "activeServiceLinesOnly": False}, parse_history, skipped
        )
        raise_if_skipped(skipped, "data usage entries")
        return list(history.values())

    async def _usage_query(
        self, body: Mapping[str, object], parse: Callable[[Any], U], skipped: list[str]
    ) -> dict[str, U]:
        """`POST /data-usage/query`, every page, each item parsed and keyed by its service line."""
        found: dict[str, U] = {}
        async for parsed in self.client.pages(
            "POST",
            "data-usage/query",
            endpoint="/data-usage/query",
            permission=DATA_USAGE.permission,
            params={"limit": USAGE_PAGE_LIMIT},
            json=body,
            parse=parse,
            skipped=skipped,
            query=True,  # a search, sent as a POST
        ):
            for record in parsed:
                found[record.service_line] = record
        return found

    def _available(self, call: str) -> bool:
        """False while a call the account may not make (403/404) waits for its daily retry."""
        since = self.unavailable.get(call)
        return since is None or time.monotonic() - since >= UNAVAILABLE_RETRY

    def _mark_unavailable(self, call: str, exc: Exception) -> None:
        """One log line, then no calls (and no failing job) until the daily retry: data pools are
        pre-release ("select audiences only") and the balance needs a permission many service
        accounts lack; neither is a fault to alert on."""
        self.unavailable[call] = time.monotonic()
        log.warning(
            "%s is not available to this account (%s); not asking again for a day",
            call,
            exc,
            extra={"provider": "starlink", "account": self.ctx.state.name, "job": call},
        )

    async def poll_data_pools(self) -> None:
        if not self._available(DATA_POOLS.name):
            return
        pools: dict[str, PoolRecord] = {}
        automatic: dict[str, bool | None] = {}
        skipped: list[str] = []
        try:
            async for results in self.client.pages(
                "GET", "data-pools", endpoint="/data-pools", permission=DATA_POOLS.permission
            ):
                for record, top_up in parse_items(results, _pool_and_top_up, skipped):
                    pools[record.pool] = record
                    automatic[record.pool] = top_up
            async for results in self.client.pages(
                "GET",
                "data-pools/usage",
                endpoint="/data-pools/usage",
                permission=DATA_POOLS.permission,
                params={"limit": POOLS_USAGE_PAGE_LIMIT},
            ):
                for usage in parse_items(results, parse_pool_usage, skipped):
                    info = pools.get(usage.pool, PoolRecord(usage.pool))
                    pools[usage.pool] = replace(usage, name=info.name, product=info.product, kind=info.kind)
        except (PermissionDenied, NotFound) as exc:
            self._mark_unavailable(DATA_POOLS.name, exc)
            return
        self.unavailable.pop(DATA_POOLS.name, None)

        def apply() -> None:
            if skipped:  # an unreadable item may be a pool we hold: replace nothing
                return
            state = self.ctx.state
            state.replace_pools(pools.values())
            for pool, enabled in automatic.items():
                if pool in pools:
                    value = None if enabled is None else float(enabled)
                    state.pools.set(families.DATA_POOL_AUTOMATIC_TOP_UP_ENABLED, pool, value)

        await apply_read(self.ctx.worker, apply, skipped, "data pools")

    async def poll_balance(self) -> None:
        if not self._available(BALANCE.name):
            return
        try:
            content = await self.client.content(
                "GET", "billing/balance", endpoint="/billing/balance", permission=BALANCE.permission
            )
        except (PermissionDenied, NotFound) as exc:
            self._mark_unavailable(BALANCE.name, exc)
            return
        self.unavailable.pop(BALANCE.name, None)
        due = parse_balance(content)
        await self.ctx.worker.apply(lambda: self.ctx.state.set_balance(due))


def _line_and_blocks(item: Any) -> tuple[ServiceLineRecord, LineDataBlocks]:
    return parse_service_line(item), parse_data_blocks(item)


def _pool_and_top_up(item: Any) -> tuple[PoolRecord, bool | None]:
    return parse_pool(item), pool_automatic_top_up(item)


def next_batch_size(asked: int, rows: int, largest: int) -> int:
    """The stream's next batchSize: four times the last after a full batch (behind), up to
    `largest`, and kept there. Never shrunk: a response holds the rows there are, whatever was
    asked, so a larger size costs nothing while caught up; shrunk after each trickle, every
    tick's burst of rows took two calls again (freshness p99 5.9 s at 50,000 terminals)."""
    if rows >= asked:
        return max(asked, min(largest, asked * 4))
    return asked
