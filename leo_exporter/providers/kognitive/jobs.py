"""The jobs of one Kognitive account: terminal_status, service_lines, billing_usage, products, addresses.

Each job reads its call to the end, then hands the result to the state worker, where `_publish`
joins what all jobs know (terminals from two calls, service lines with their address and plan)
and replaces the account's tables. A listing that was not read cleanly removes nothing:

- an entry that cannot be read is skipped and reported (the job reports `up 0`), and whatever
  the account had before stays, that entry's last good data included;
- a listing that came back with fewer items than its declared `total` (items moved between
  pages while we read them) adds and updates but removes nobody;
- an item missing from one clean listing is kept once more and removed when it is missing from
  the next one too, so a page that silently dropped an item does not make a terminal vanish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from leo_exporter import catalog
from leo_exporter.providers.base import AccountContext, JobFunction
from leo_exporter.providers.common import apply_read, parse_items, raise_if_skipped
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.http import ApiClient
from leo_exporter.providers.kognitive import families
from leo_exporter.providers.kognitive import fields as F
from leo_exporter.providers.kognitive.client import KognitiveClient, Listing
from leo_exporter.providers.kognitive.config import KognitiveAccount
from leo_exporter.providers.kognitive.jobspecs import ADDRESSES, BILLING_USAGE, PRODUCTS, SERVICE_LINES, TERMINAL_STATUS
from leo_exporter.providers.kognitive.parse import (
    Address,
    Line,
    StatusMap,
    TerminalState,
    bool_text,
    parse_address_group,
    parse_history,
    parse_product_group,
    parse_service_line,
    parse_terminal_group,
    parse_usage,
    plan_limit,
)
from leo_exporter.records import (
    AccountRecord,
    LineHistory,
    ProductRecord,
    ServiceLineRecord,
    TerminalRecord,
    UsageRecord,
)

T = TypeVar("T")
MISSING_GRACE = 1  # clean listings an item may be missing from before it is removed


class Reconciled(Generic[T]):
    """An inventory by id that survives listings which lost items (see the module docstring)."""

    def __init__(self) -> None:
        self.items: dict[str, T] = {}
        self.missed: dict[str, int] = {}

    def update(self, fresh: dict[str, T], *, complete: bool) -> int:
        """Take a new listing; returns how many missing items were kept."""
        items = dict(fresh)
        kept = 0
        missed: dict[str, int] = {}
        for key, old in self.items.items():
            if key in fresh:
                continue
            count = self.missed.get(key, 0) + (1 if complete else 0)
            if not complete or count <= MISSING_GRACE:
                items[key] = old
                missed[key] = count
                kept += 1
        self.items, self.missed = items, missed
        return kept


class KognitiveDriver:
    identify_job = None  # the `account` label is the config name; no call has to go first

    def __init__(self, ctx: AccountContext):
        assert isinstance(ctx.config, KognitiveAccount)
        self.ctx = ctx
        self.config: KognitiveAccount = ctx.config
        key = self.config.auth_key.get_secret_value()
        self.api = ApiClient(
            counting=ctx.counting,
            budget=ctx.budget,
            base_url=self.config.api_url,
            timeout=self.config.timeout,
            max_response_bytes=self.config.max_response_size,
            max_items=self.config.max_items_per_run,
            headers={self.config.auth_header: key, "Content-Type": "application/json", "Accept": "application/json"},
            transport=ctx.transport,
        )
        self.client = KognitiveClient(self.api, self.config.auth_header)
        custom = self.config.subscription_statuses
        self.statuses = StatusMap(custom.active, custom.inactive)
        self.lines: Reconciled[Line] = Reconciled()
        self.status: Reconciled[TerminalState] = Reconciled()
        self.products: Reconciled[ProductRecord] = Reconciled()
        self.addresses: Reconciled[Address] = Reconciled()
        self.limits: dict[str, float] = {}  # Starlink account -> the data limit every line of it has

    def jobs(self) -> dict[str, JobFunction]:
        return {
            TERMINAL_STATUS.name: self.poll_terminal_status,
            SERVICE_LINES.name: self.poll_service_lines,
            BILLING_USAGE.name: self.poll_billing_usage,
            PRODUCTS.name: self.poll_products,
            ADDRESSES.name: self.poll_addresses,
        }

    async def aclose(self) -> None:
        await self.api.aclose()

    def _wanted(self, account: str) -> bool:
        wanted = self.config.starlink_account
        return wanted is None or not account or account == wanted

    async def _read_groups(
        self,
        path: str,
        style: F.PageStyle,
        params: dict[str, Any] | None,
        parse: Callable[[Any, list[str]], list[T]],
        key: Callable[[T], str],
        account: Callable[[T], str],
        problems: list[str],
    ) -> tuple[dict[str, T], bool, Listing]:
        """Page through a listing grouped by Starlink account; returns (items by id, complete, listing)."""
        listing = Listing("/" + path)
        found: dict[str, T] = {}
        seen: set[str] = set()
        async for page in self.client.pages(path, style, self.config.page_limit, listing, params):
            for entries in parse_items(page, lambda group: parse(group, problems), problems):
                for entry in entries:
                    seen.add(key(entry))
                    if self._wanted(account(entry)):
                        found[key(entry)] = entry  # a repeated entry (pages shifted) is the same entry
        return found, self._complete(listing, len(seen), problems), listing

    def _complete(self, listing: Listing, unique: int, problems: list[str]) -> bool:
        if problems:
            return False
        if listing.total is not None and unique < listing.total:
            self.ctx.log.warning(
                "%s changed while it was read: %d of %d items; nothing is removed this run",
                listing.endpoint,
                unique,
                listing.total,
            )
            return False
        for note in listing.notes:
            self.ctx.log.info("%s: %s", listing.endpoint, note)
        return True

    # --- jobs

    async def poll_terminal_status(self) -> None:
        problems: list[str] = []
        params = {F.TERMINAL_ACCOUNT_FILTER: self.config.starlink_account} if self.config.starlink_account else None
        found, complete, _ = await self._read_groups(
            F.GET_TERMINAL_STATUS,
            F.PAGE_NUMBER,
            params,
            parse_terminal_group,
            lambda t: t.terminal_id,
            lambda t: t.account,
            problems,
        )
        await apply_read(
            self.ctx.worker, lambda: self._take(self.status, found, complete), problems, "terminal status entries"
        )

    async def poll_service_lines(self) -> None:
        listing = Listing("/" + F.GET_SERVICE_LINES)
        found: dict[str, Line] = {}
        seen: set[str] = set()
        problems: list[str] = []
        unknown: list[str] = []
        async for page in self.client.pages(F.GET_SERVICE_LINES, F.PAGE_LIMIT, self.config.page_limit, listing):
            for line in parse_items(page, lambda item: parse_service_line(item, self.statuses), problems):
                seen.add(line.number)
                if not self._wanted(line.account):
                    continue
                if line.active is None:
                    line = self._unknown_status(line, unknown)
                found[line.number] = line
        complete = self._complete(listing, len(seen), problems)
        await apply_read(
            self.ctx.worker, lambda: self._take(self.lines, found, complete), problems + unknown, "service lines"
        )

    def _unknown_status(self, line: Line, unknown: list[str]) -> Line:
        """Keep the line's last known active flag, and say which word we did not know."""
        if line.status:
            self.ctx.unknown.note("subscription_status", line.status, f"service line {line.number}")
            unknown.append(
                f"service line {line.number}: unknown subscription_status {line.status[:40]!r}, its active flag "
                "keeps its last value (map the word under subscription_statuses in the config)"
            )
        else:
            unknown.append(f"service line {line.number}: no '{F.SL_STATUS}', its active flag keeps its last value")
        before = self.lines.items.get(line.number)
        if before is not None and before.active is not None:
            return replace(line, active=before.active)
        return line

    async def poll_billing_usage(self) -> None:
        listing = Listing("/" + F.GET_BILLING_USAGE)
        usage: dict[str, UsageRecord] = {}
        problems: list[str] = []
        async for page in self.client.pages(F.GET_BILLING_USAGE, F.PAGE_LIMIT, self.config.page_limit, listing):
            for parsed in parse_items(page, parse_usage, problems):
                if self._wanted(parsed.account):
                    usage[parsed.record.service_line] = parsed.record
        state = self.ctx.state

        def apply() -> None:
            state.apply_usage(usage.values())  # lines that could not be read keep their last figures
            self._publish()

        await apply_read(self.ctx.worker, apply, problems, "billing usage entries")

    async def usage_history(self, since: float) -> list[LineHistory]:
        """Every cycle getBillingUsage still returns, of every line (`backfill-usage`). The API takes
        no date: it answers with what it keeps (the current cycle and the closed ones before it), and
        the backfill keeps the days from `since` on."""
        listing = Listing("/" + F.GET_BILLING_USAGE)
        found: dict[str, LineHistory] = {}
        problems: list[str] = []
        async for page in self.client.pages(F.GET_BILLING_USAGE, F.PAGE_LIMIT, self.config.page_limit, listing):
            for parsed in parse_items(page, parse_history, problems):
                if self._wanted(parsed.account):
                    found[parsed.history.service_line] = parsed.history
        raise_if_skipped(problems, "billing usage entries")
        return list(found.values())

    async def poll_products(self) -> None:
        body = await self.client.get(F.GET_PRODUCTS)
        groups = body[F.DATA]
        if not isinstance(groups, list):
            raise BadResponse(f"GET /{F.GET_PRODUCTS}: 'data' should be a list of accounts")
        problems: list[str] = []
        found: dict[str, ProductRecord] = {}
        limits: dict[str, float] = {}

        def read_group(group: Any) -> list[ProductRecord]:
            records = parse_product_group(group, problems)
            account = records[0].attributes.get("provider_account", "") if records else ""
            if (limit := plan_limit(group, records)) is not None and account:
                limits[account] = limit
            return records

        for records in parse_items(groups, read_group, problems):
            for record in records:
                if self._wanted(record.attributes.get("provider_account", "")):
                    found[record.product] = _merge_product(found.get(record.product), record)

        def apply() -> None:
            self.limits = limits
            self._take(self.products, found, not problems)

        await apply_read(self.ctx.worker, apply, problems, "products or data blocks")

    async def poll_addresses(self) -> None:
        problems: list[str] = []
        params = {F.ADDRESS_ACCOUNT_FILTER: self.config.starlink_account} if self.config.starlink_account else None
        found, complete, _ = await self._read_groups(
            F.GET_ADDRESS,
            F.PAGE_LIMIT,
            params,
            parse_address_group,
            lambda a: a.reference,
            lambda a: a.account,
            problems,
        )
        await apply_read(self.ctx.worker, lambda: self._take(self.addresses, found, complete), problems, "addresses")

    # --- state (runs in the state worker)

    def _take(self, inventory: Reconciled[Any], found: dict[str, Any], complete: bool) -> None:
        inventory.update(found, complete=complete)
        self._publish()

    def _publish(self) -> None:
        """Join what every job knows and replace the account's tables with it."""
        state = self.ctx.state
        lines = self.lines.items
        status = self.status.items
        addresses = self.addresses.items
        products = self.products.items

        by_account: dict[str, list[Address]] = {}
        for known in addresses.values():
            by_account.setdefault(known.account, []).append(known)
        line_address: dict[str, Address | None] = {}
        records = []
        for line in lines.values():
            address = addresses.get(line.address) if line.address else None
            if address is None and not line.address and len(by_account.get(line.account, ())) == 1:
                address = by_account[line.account][0]  # the account's only address must be the line's
            line_address[line.number] = address
            attrs = {
                "provider_account": line.account,
                "provider_account_name": line.account_name,
                "status": line.status,  # the provider's own word (subscription_status)
            }
            if address is not None:
                attrs["address_reference_id"] = address.reference
                attrs["address"] = address.formatted
            plan = products.get(line.product) if line.product else None
            if plan is not None:
                attrs["product_name"] = plan.name  # `product` is the id; the catalogue names it
            records.append(
                ServiceLineRecord(
                    service_line=line.number,
                    name=line.nickname,
                    product=line.product,
                    active=line.active,
                    attributes={k: v for k, v in attrs.items() if v},
                )
            )
        state.replace_service_lines(records)
        table = state.service_lines
        for number, address in line_address.items():
            table.set(families.SERVICE_LINE_LATITUDE_DEGREES, number, address.latitude if address else None)
            table.set(families.SERVICE_LINE_LONGITUDE_DEGREES, number, address.longitude if address else None)
            table.set(catalog.SERVICE_LINE_USAGE_LIMIT_BYTES, number, self.limits.get(lines[number].account))

        terminals = _terminals(lines, status)
        state.replace_terminals(terminals.values())
        state.set_terminal_online({tid: entry.online for tid, entry in status.items() if tid in terminals})
        if self.config.terminal_location_from_address:
            for record in terminals.values():
                address = line_address.get(record.service_line)
                lat, lon = (address.latitude, address.longitude) if address else (None, None)
                state.terminals.set(catalog.TERMINAL_LATITUDE_DEGREES, record.terminal_id, lat)
                state.terminals.set(catalog.TERMINAL_LONGITUDE_DEGREES, record.terminal_id, lon)

        state.replace_products(products.values())
        # one leo_account_info series per Starlink account the key's data names, with its name
        names = {t.account: "" for t in status.values()} | {line.account: line.account_name for line in lines.values()}
        names.pop("", None)
        state.set_provider_accounts(AccountRecord(provider_account=a, name=names[a]) for a in sorted(names))


def _terminals(lines: dict[str, Line], status: dict[str, TerminalState]) -> dict[str, TerminalRecord]:
    """Terminals from both calls: the service line listing names them, the status call adds the rest."""
    listed: dict[str, tuple[Line, str]] = {}
    for listing in lines.values():
        for terminal_id, kit in listing.terminals:
            listed[terminal_id] = (listing, kit)
    out = {}
    for terminal_id in {**dict.fromkeys(listed), **dict.fromkeys(status)}:  # both calls' order, no set
        entry = status.get(terminal_id)
        line: Line | None
        line, kit = listed.get(terminal_id, (None, ""))
        if line is None and entry is not None and entry.service_line:
            line = lines.get(entry.service_line)
        number = line.number if line else (entry.service_line if entry else "")
        account = line.account if line else (entry.account if entry else "")
        attrs = {"provider_account": account, "terminal_status": bool_text(entry.status) if entry else ""}
        out[terminal_id] = TerminalRecord(
            terminal_id=terminal_id,
            service_line=number,
            name=line.nickname if line else "",
            kit_serial=kit or (entry.kit_serial if entry else ""),
            attributes={k: v for k, v in attrs.items() if v},
        )
    return out


def _merge_product(before: ProductRecord | None, record: ProductRecord) -> ProductRecord:
    """The same product offered to several Starlink accounts is one series naming all of them."""
    if before is None:
        return record
    accounts = set(before.attributes.get("provider_account", "").split(",")) | {
        record.attributes.get("provider_account", "")
    }
    accounts.discard("")
    return ProductRecord(
        product=before.product,
        name=before.name,
        price=before.price,
        currency=before.currency,
        data_bytes=before.data_bytes,
        attributes={**before.attributes, "provider_account": ",".join(sorted(accounts))},
    )
