"""The jobs of one Starlink V2 account: account, telemetry, user_terminals, service_lines, data_usage."""

from __future__ import annotations

import anyio.to_thread

from exporter.providers.base import AccountContext, JobFunction
from exporter.providers.errors import BadResponse
from exporter.providers.http import ApiClient, decode_json
from exporter.providers.starlink.auth import TokenSource
from exporter.providers.starlink.client import StarlinkClient
from exporter.providers.starlink.config import StarlinkAccount
from exporter.providers.starlink.management import (
    parse_account,
    parse_data_usage,
    parse_items,
    parse_service_line,
    parse_user_terminal,
)
from exporter.providers.starlink.telemetry import StreamDecoder, TelemetryBatch
from exporter.records import RouterRecord, TerminalRecord

PERMISSION = {
    "account": "Account information, View",
    "telemetry": "Device telemetry, View",
    "user_terminals": "Device management, View",
    "service_lines": "Service plan, View",
    "data_usage": "Service plan, View",
}
USAGE_PAGE_LIMIT = 250  # the API's maximum, to spend as few requests of the budget as possible


class StarlinkDriver:
    identify_job = "account"

    def __init__(self, ctx: AccountContext):
        assert isinstance(ctx.config, StarlinkAccount)
        self.ctx = ctx
        self.config: StarlinkAccount = ctx.config
        self.api = ApiClient(
            account=ctx.state,
            budget=ctx.budget,
            base_url=self.config.api_url,
            timeout=self.config.timeout,
            transport=ctx.transport,
        )
        secret = self.config.client_secret.get_secret_value()
        self.tokens = TokenSource(self.api, self.config.auth_url, self.config.client_id, secret)
        self.client = StarlinkClient(self.api, self.tokens)
        self.decoder = StreamDecoder(ctx.unknown.note, self.config.obstruction_scale)

    def jobs(self) -> dict[str, JobFunction]:
        return {
            "account": self.poll_account,
            "telemetry": self.poll_telemetry,
            "user_terminals": self.poll_user_terminals,
            "service_lines": self.poll_service_lines,
            "data_usage": self.poll_data_usage,
        }

    async def aclose(self) -> None:
        await self.api.aclose()

    async def poll_account(self) -> None:
        content = await self.client.content("GET", "account", endpoint="/account", permission=PERMISSION["account"])
        record = parse_account(content)
        await self.ctx.worker.apply(lambda: self.ctx.state.apply_account(record))

    async def poll_telemetry(self) -> None:
        """Drain the stream: a full batch means we are behind, so ask again at once."""
        options = self.config.telemetry
        body = {"batchSize": options.batch_size, "maxLingerMs": int(options.max_linger * 1000)}
        for _ in range(options.max_calls_per_run):
            response = await self.client.call(
                "POST",
                "telemetry/stream",
                endpoint="/telemetry/stream",
                permission=PERMISSION["telemetry"],
                json=body,
                timeout=options.max_linger + self.config.timeout,
            )
            decoded = await decode_json(response.content, "POST /telemetry/stream")
            batch = await anyio.to_thread.run_sync(self.decoder.decode, decoded)
            await self.ctx.worker.apply(lambda b=batch: self._apply_telemetry(b))
            if batch.invalid_rows:
                self.ctx.log.warning("skipped %d malformed telemetry rows", batch.invalid_rows)
            for (column, problem), count in batch.invalid_values.items():
                self.ctx.unknown.invalid(column, problem, count)
            if batch.total_rows < options.batch_size:
                return

    def _apply_telemetry(self, batch: TelemetryBatch) -> None:
        state = self.ctx.state
        state.terminals.apply_columns(batch.terminals, "leo_terminal_alert")
        state.routers.apply_columns(batch.routers, "leo_router_alert")
        for terminal_id, (stamp, fragments) in batch.ips.items():
            state.terminals.set_labelled_at("leo_terminal_ip_info", terminal_id, stamp, fragments)
        for device_type, count in batch.rows.items():
            state.count("leo_exporter_telemetry_rows_total", f'device_type="{device_type}"', count)
        if batch.invalid_rows:
            state.count("leo_exporter_telemetry_rows_total", 'device_type="invalid"', batch.invalid_rows)

    async def poll_user_terminals(self) -> None:
        terminals: dict[str, TerminalRecord] = {}
        routers: dict[str, RouterRecord] = {}
        skipped: list[str] = []
        async for results in self.client.pages(
            "GET", "user-terminals", endpoint="/user-terminals", permission=PERMISSION["user_terminals"]
        ):
            for terminal, its_routers in parse_items(results, parse_user_terminal, skipped):
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

        await self.ctx.worker.apply(apply)
        _raise_if_skipped(skipped, "user terminals")

    async def poll_service_lines(self) -> None:
        lines = {}
        skipped: list[str] = []
        async for results in self.client.pages(
            "GET", "service-lines", endpoint="/service-lines", permission=PERMISSION["service_lines"]
        ):
            for record in parse_items(results, parse_service_line, skipped):
                lines[record.service_line] = record
        state = self.ctx.state
        if not skipped:
            await self.ctx.worker.apply(lambda: state.replace_service_lines(lines.values()))
        _raise_if_skipped(skipped, "service lines")

    async def poll_data_usage(self) -> None:
        body = {"previousBillingCycles": self.config.previous_billing_cycles}
        usage = {}
        skipped: list[str] = []
        async for results in self.client.pages(
            "POST",
            "data-usage/query",
            endpoint="/data-usage/query",
            permission=PERMISSION["data_usage"],
            params={"limit": USAGE_PAGE_LIMIT},
            json=body,
        ):
            for record in parse_items(results, parse_data_usage, skipped):
                usage[record.service_line] = record
        await self.ctx.worker.apply(lambda: self.ctx.state.apply_usage(usage.values()))
        _raise_if_skipped(skipped, "data usage entries")


def _raise_if_skipped(skipped: list[str], what: str) -> None:
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise BadResponse(f"{len(skipped)} {what} could not be read and were kept as before: {skipped[0]}{more}")
