"""Starlink reboots, field for field as the Public API V2 OpenAPI states them:

- `POST /user-terminals/{deviceId}/reboot` ("User terminal ID, kit serial number, or dish serial
  number"), permission "Device command and configuration, Edit";
- `POST /routers/{routerId}/reboot`, the same permission.
Neither has a request body; both answer a `ServiceResponse` (errors, warnings, information,
isValid: no content), 422 when the device could not be rebooted.

Before sending, the action finds the device in the account's inventory (`GET /user-terminals`,
whose rows carry their routers), so a wrong id is refused before anything is sent and the operator
sees which dish or router goes down. A reboot costs nothing but service: the dish drops its link
for a few minutes (the router's clients lose their Wi-Fi for a minute or two). It is sent once,
never retried.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from leo_exporter.actions.base import EXIT_FAILED, EXIT_OK, Action, Refused, Result
from leo_exporter.actions.runner import Change, send_once
from leo_exporter.providers.common import json_object
from leo_exporter.providers.errors import RequestRejected
from leo_exporter.providers.http import decode_json_bytes
from leo_exporter.providers.starlink.auth import TokenSource
from leo_exporter.providers.starlink.client import StarlinkClient
from leo_exporter.providers.starlink.config import StarlinkAccount

COMMAND = "Device command and configuration, Edit"
TERMINALS_VIEW = "Device management, View"
TERMINAL_REBOOT = "/user-terminals/{deviceId}/reboot"
ROUTER_REBOOT = "/routers/{routerId}/reboot"


@dataclass(frozen=True, slots=True)
class Device:
    kind: str  # "user terminal" or "router"
    ident: str  # what goes in the path
    text: str  # how the operator is told which device it is


def service_response(body: Any, what: str) -> None:
    """A `ServiceResponse` without content: `isValid: false` is a refusal with the provider's words."""
    answer = json_object(body, what)
    if answer.get("isValid") is False:
        errors = answer.get("errors") or []
        texts = [str(e.get("errorMessage")) for e in errors if isinstance(e, dict) and e.get("errorMessage")]
        raise RequestRejected(f"{what}: provider says the request is invalid: {'; '.join(texts) or 'no reason'}")


async def _inventory(client: StarlinkClient) -> list[dict[str, Any]]:
    terminals: list[dict[str, Any]] = []
    pages = client.pages("GET", "user-terminals", endpoint="/user-terminals", permission=TERMINALS_VIEW)
    async for page in pages:
        terminals.extend(t for t in page if isinstance(t, dict))
    return terminals


def _find_terminal(terminals: list[dict[str, Any]], device: str) -> Device:
    bare = device.removeprefix("ut")
    for t in terminals:
        if bare in (t.get("userTerminalId"), t.get("kitSerialNumber"), t.get("dishSerialNumber")):
            tid = str(t.get("userTerminalId") or bare)
            nick = f" ({t['nickname']})" if t.get("nickname") else ""
            kit = f", kit {t['kitSerialNumber']}" if t.get("kitSerialNumber") else ""
            line = f", service line {t['serviceLineNumber']}" if t.get("serviceLineNumber") else ""
            return Device("user terminal", tid, f"user terminal {tid}{nick}{kit}{line}")
    raise Refused(f"user terminal {device} is not in this account's inventory (GET /user-terminals)", EXIT_FAILED)


def _find_router(terminals: list[dict[str, Any]], router: str) -> Device:
    for t in terminals:
        for r in t.get("routers") or []:
            if isinstance(r, dict) and r.get("routerId") == router:
                nick = f" ({r['nickname']})" if r.get("nickname") else ""
                return Device(
                    "router", router, f"router {router}{nick}, bonded to user terminal {t.get('userTerminalId')}"
                )
    raise Refused(
        f"router {router} is not bonded to any user terminal of this account (GET /user-terminals)", EXIT_FAILED
    )


async def reboot(act: Action, kind: str, wanted: str) -> Result:
    """Reboot a user terminal (`kind` "terminal") or a router ("router") once."""
    config = act.account
    assert isinstance(config, StarlinkAccount)
    act.target = wanted
    if not wanted.strip():
        raise Refused(f"give the {kind} to reboot")
    api = act.api()
    tokens = TokenSource(api, config.auth_url, config.client_id, config.client_secret.get_secret_value())
    client = StarlinkClient(api, tokens)
    try:
        account = json_object(
            await client.content("GET", "account", endpoint="/account", permission="Account information, View"),
            "GET /account",
        )
        act.account_id = str(account.get("accountNumber") or "")
        terminals = await _inventory(client)
        device = _find_terminal(terminals, wanted) if kind == "terminal" else _find_router(terminals, wanted)
        act.target = device.ident
        act.request = {}
        collection, endpoint = ("user-terminals", TERMINAL_REBOOT) if kind == "terminal" else ("routers", ROUTER_REBOOT)
        path = f"{collection}/{quote(device.ident, safe='')}/reboot"
        say = act.console.say
        say(f"Account {act.account_id}: will reboot {device.text}.")
        if kind == "terminal":
            say("Cost:      no charge; the dish drops its link for a few minutes while it restarts.")
        else:
            say("Cost:      no charge; the router's Wi-Fi and wired clients lose the network for a minute or two.")
        say("A reboot is sent once and never retried automatically.")

        async def send() -> None:
            token = await tokens.token()  # minted by `before`
            response = await api.request(
                "POST", path, endpoint=endpoint, permission=COMMAND, headers={"Authorization": f"Bearer {token}"}
            )
            service_response(decode_json_bytes(response.content, f"POST {endpoint}"), f"POST {endpoint}")

        async def done(_: None) -> Result:
            say(f"Done: the provider accepted the reboot of {device.kind} {device.ident}.")
            return Result("success", f"rebooting {device.kind} {device.ident}", EXIT_OK)

        return await send_once(
            act,
            Change(
                method="POST",
                url=f"{config.api_url}/{path}",
                headers={"Authorization": "Bearer <redacted>"},
                body={},
                question=f"Reboot {device.kind} {device.ident}?",
                would=f"would reboot {device.kind} {device.ident}",
                refused="the reboot",
                unknown=f"The {device.kind} may or may not be rebooting: watch its uptime before trying again",
                send=send,
                done=done,
                before=tokens.token,
            ),
        )
    finally:
        await api.aclose()


async def run_terminal(act: Action, args: argparse.Namespace) -> Result:
    return await reboot(act, "terminal", args.terminal)


async def run_router(act: Action, args: argparse.Namespace) -> Result:
    return await reboot(act, "router", args.router)


def terminal_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--terminal", required=True, help="user terminal id, kit serial number or dish serial number")


def router_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--router", required=True, help="router id")
