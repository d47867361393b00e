"""Starlink's management actions: the one-time data top-up here, the reboots in `reboot.py`.

Top-up: `POST /service-lines/{serviceLineNumber}/data/top-up`.

A top-up is charged at once and is not idempotent: every successful call buys again. So:

1. read the service line (`GET /service-lines/{sln}`) and the account's products
   (`GET /products`), and check that the line's plan offers a top-up product (the API says a
   line "must be on a top up plan") and that it is the product asked for;
2. say what will be bought and what it costs, and ask for confirmation;
3. send the request exactly once. It is never retried: not after a timeout, not after a 5xx,
   not after a 401 (the token is minted before the purchase, so a token problem stops the run
   before anything is bought). No answer, or a 5xx, means the outcome is unknown: the operator
   is told to look at the line's one-time top-up blocks before trying again.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from leo_exporter.actions.base import (
    EXIT_FAILED,
    EXIT_OK,
    Action,
    ActionSpec,
    Choice,
    Choices,
    Refused,
    Result,
    WebField,
    WebForm,
    money,
    positive_argument,
)
from leo_exporter.actions.runner import Change, send_once
from leo_exporter.providers.common import json_object
from leo_exporter.providers.errors import ProviderError
from leo_exporter.providers.http import decode_json_bytes
from leo_exporter.providers.starlink import reboot
from leo_exporter.providers.starlink.auth import TokenSource
from leo_exporter.providers.starlink.client import StarlinkClient, unwrap
from leo_exporter.providers.starlink.config import StarlinkAccount

VIEW, EDIT = "Service plan, View", "Service plan, Edit"
LINE_ENDPOINT = "/service-lines/{serviceLineNumber}"
TOP_UP_ENDPOINT = "/service-lines/{serviceLineNumber}/data/top-up"


async def top_up(act: Action, service_line: str, count: int, product: str | None) -> Result:
    config = act.account
    assert isinstance(config, StarlinkAccount)
    act.target = service_line
    act.request = {"productId": product, "count": count}
    api = act.api()
    tokens = TokenSource(api, config.auth_url, config.client_id, config.client_secret.get_secret_value())
    client = StarlinkClient(api, tokens)
    path = f"service-lines/{quote(service_line, safe='')}"
    try:
        account = json_object(
            await client.content("GET", "account", endpoint="/account", permission="Account information, View"),
            "GET /account",
        )
        act.account_id = str(account.get("accountNumber") or "")
        line = json_object(await client.content("GET", path, endpoint=LINE_ENDPOINT, permission=VIEW), "service line")
        if line.get("active") is False:
            raise Refused(f"service line {service_line} is not active: it cannot be topped up", EXIT_FAILED)
        plan_id = line.get("productReferenceId") or ""
        products: list[Any] = []
        async for page in client.pages("GET", "products", endpoint="/products", permission=VIEW):
            products.extend(page)
        plan = next((p for p in products if isinstance(p, dict) and p.get("productReferenceId") == plan_id), None)
        if plan is None:
            raise Refused(
                f"the plan of service line {service_line} ({plan_id or 'none'}) is not among the account's "
                "products (GET /products): cannot tell which top-up it offers",
                EXIT_FAILED,
            )
        plan_name = plan.get("name") or plan_id
        top = (plan.get("dataProducts") or {}).get("topUpProduct")
        if not isinstance(top, dict) or not top.get("productId"):
            raise Refused(
                f"service line {service_line} is on {plan_name} ({plan_id}), which offers no one-time top-up: "
                "Starlink sells top-ups only to lines on a top up plan",
                EXIT_FAILED,
            )
        top_id = str(top["productId"])
        if product and product != top_id:
            raise Refused(
                f"product {product} is not available to service line {service_line}: the top-up product of its "
                f"plan {plan_name} is {top_id}",
                EXIT_FAILED,
            )
        act.request = {"productId": top_id, "count": count}
        amount = top.get("dataAmount")
        unit = top.get("dataUnit") or "GB"
        price = top.get("price")
        currency = top.get("isoCurrencyCode") or plan.get("isoCurrencyCode") or ""
        total = price * count if isinstance(price, int | float) else None
        data = f"{amount * count:g} {unit}" if isinstance(amount, int | float) else "the product's data amount"
        each = f" ({amount:g} {unit} each)" if isinstance(amount, int | float) else ""
        nickname = f" ({line['nickname']})" if line.get("nickname") else ""

        say = act.console.say
        say(f"Account {act.account_id}, service line {service_line}{nickname}, plan {plan_name} ({plan_id})")
        say(f"Will buy:  {count} x one-time top-up {top_id}{each} = {data} for the current billing cycle")
        say(f"Cost:      {count} x {money(price, currency)} = {money(total, currency)}, charged immediately")
        say("A top-up is not idempotent: every successful run buys again. It is never retried automatically.")
        summary = f"{count} x {top_id} = {data} for {money(total, currency)}"

        async def send() -> None:
            token = await tokens.token()  # minted by `before`, before anything was sent: reused here
            response = await api.request(
                "POST",
                f"{path}/data/top-up",
                endpoint=TOP_UP_ENDPOINT,
                permission=EDIT,
                headers={"Authorization": f"Bearer {token}"},
                json=act.request,
            )
            unwrap(decode_json_bytes(response.content, "POST top-up"), "POST top-up")

        async def done(_: None) -> Result:
            say(f"Done: bought {summary}.")
            await _show_blocks(act, client, path)
            return Result("success", f"bought {summary}", EXIT_OK)

        return await send_once(
            act,
            Change(
                method="POST",
                url=f"{config.api_url}/{path}/data/top-up",
                headers={"Authorization": "Bearer <redacted>", "Content-Type": "application/json"},
                body=act.request,
                question=f"Buy {data} for {money(total, currency)} on {service_line}?",
                would=f"would buy {summary}",
                refused="the top-up",
                unknown="The top-up may or may not have been bought: look at the service line's one-time top-up "
                "blocks before running this again",
                send=send,
                done=done,
                before=tokens.token,  # a token problem shows here, before anything is bought
            ),
        )
    finally:
        await api.aclose()


def _amount(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


async def _show_blocks(act: Action, client: StarlinkClient, path: str) -> None:
    """Best effort: what the line holds now (a failure here changes nothing about the purchase)."""
    try:
        line = await client.content("GET", path, endpoint=LINE_ENDPOINT, permission=VIEW)
        blocks = ((line or {}).get("dataBlocks") or {}).get("topUpBlocksOneTimePurchase") or []
    except ProviderError as exc:
        act.console.note(f"(could not read the service line back: {exc})")
        return
    if blocks:
        act.console.say(f"The line now has {len(blocks)} one-time top-up block(s) this cycle:")
        for block in blocks:
            act.console.say(
                f"  {block.get('count')} x {block.get('productId')} ({_amount(block.get('dataAmount'))} "
                f"{block.get('dataUnitType', '')}), until {block.get('expirationDate')}"
            )


async def top_up_choices(act: Action, service_line: str) -> Choices:
    """The top-up product the line's plan offers (`GET /service-lines/{sln}`, `GET /products`),
    with its data amount and price, for the status page's form."""
    config = act.account
    assert isinstance(config, StarlinkAccount)
    api = act.api()
    client = StarlinkClient(
        api, TokenSource(api, config.auth_url, config.client_id, config.client_secret.get_secret_value())
    )
    path = f"service-lines/{quote(service_line, safe='')}"
    try:
        line = json_object(await client.content("GET", path, endpoint=LINE_ENDPOINT, permission=VIEW), "service line")
        plan_id = line.get("productReferenceId") or ""
        plan: Any = None
        async for page in client.pages("GET", "products", endpoint="/products", permission=VIEW):
            plan = next((p for p in page if isinstance(p, dict) and p.get("productReferenceId") == plan_id), plan)
    finally:
        await api.aclose()
    top = ((plan or {}).get("dataProducts") or {}).get("topUpProduct")
    if not isinstance(top, dict) or not top.get("productId"):
        return {"--product": ([], f"the line's plan ({plan_id or 'none'}) offers no one-time top-up")}
    amount, unit = top.get("dataAmount"), top.get("dataUnit") or "GB"
    size = f"{amount:g} {unit}" if isinstance(amount, int | float) else "data block"
    currency = top.get("isoCurrencyCode") or plan.get("isoCurrencyCode") or ""
    label = f"{top['productId']}: {size} for {money(top.get('price'), currency)} each"
    return {
        "--product": ([Choice(str(top["productId"]), label)], f"the top-up of the plan {plan.get('name') or plan_id}")
    }


async def _run_top_up(act: Action, args: argparse.Namespace) -> Result:
    return await top_up(act, args.service_line, args.count, args.product)


def _top_up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service-line", dest="service_line", required=True, help="service line number, AST-...")
    p.add_argument("--count", type=positive_argument, default=1, help="blocks to buy (default 1)")
    p.add_argument("--product", default=None, help="top-up product id (default: the one the line's plan offers)")


# leo-exporter starlink-top-up --config.file F --account NAME --service-line AST-… [--count N] [--product ID]
ACTIONS = (
    ActionSpec(
        "starlink-top-up",
        "buy a one-time data top-up for a Starlink service line (charged at once, not idempotent)",
        _run_top_up,
        lambda a: a.service_line,
        _top_up_arguments,
        WebForm(
            "Top up",
            "service_line",
            "--service-line",
            (
                WebField("--product", "Top-up product", required=True),
                WebField("--count", "Blocks to buy", kind="number", default="1", required=True),
            ),
            top_up_choices,
        ),
    ),
    # leo-exporter starlink-reboot-terminal --config.file F --account NAME --terminal ID|KIT|DISH-SERIAL
    ActionSpec(
        "starlink-reboot-terminal",
        "reboot a Starlink user terminal (its link drops for a few minutes; no charge)",
        reboot.run_terminal,
        lambda a: a.terminal,
        reboot.terminal_arguments,
        WebForm("Reboot terminal", "terminal", "--terminal"),
    ),
    # leo-exporter starlink-reboot-router --config.file F --account NAME --router ID
    ActionSpec(
        "starlink-reboot-router",
        "reboot a Starlink router (its clients lose the network for a minute or two; no charge)",
        reboot.run_router,
        lambda a: a.router,
        reboot.router_arguments,
        WebForm("Reboot router", "router", "--router"),
    ),
)
