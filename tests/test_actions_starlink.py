"""`leo-exporter starlink-top-up` against the Starlink simulator, in process: checks before buying,
confirmation, dry run, the audit line, the opt-in, no retries, and the top-up in the next poll."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from starlette.applications import Starlette

from leo_exporter.actions import commands
from leo_exporter.actions.base import Console
from leo_exporter.cli import build_parser
from leo_exporter.providers.starlink.simulator.fleet import ServiceLine
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW
from tests.inprocess import SIM_URL, poll_all, simulated_exporter

TOP_UP = "/data/top-up"


class Stdin(io.StringIO):
    """Standard input that may claim to be a terminal."""

    def __init__(self, text: str = "", tty: bool = False):
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Recording(httpx.AsyncBaseTransport):
    """The simulator over ASGI, recording every request; `fail` answers chosen requests itself
    (a response, or an exception it raises: a connection dropped under the request)."""

    def __init__(self, app: Starlette, fail: Any = None):
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[tuple[str, str]] = []
        self.fail = fail

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if self.fail is not None:
            answer = self.fail(request)
            if isinstance(answer, Exception):
                raise answer
            if answer is not None:
                return answer
        return await self.inner.handle_async_request(request)

    def sent(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.endswith(suffix))


class Env:
    def __init__(self, tmp_path: Path, *, enabled: bool = True, terminals: int = 16):
        self.app = build_app(accounts=1, terminals=terminals, seed=3, now=SIMULATED_NOW)
        self.sim = self.app.state.starlink
        data = demo_config(SIM_URL, self.app)
        for account in data["accounts"]:
            account["management_actions"] = enabled
        self.config = tmp_path / "config.yml"
        self.config.write_text(yaml.safe_dump(data))
        self.audit = tmp_path / "audit.log"
        self.transport = Recording(self.app)
        self.account = self.sim.accounts[0]
        self.secrets = [a.get("client_secret") or a.get("auth_key") for a in data["accounts"]]

    def line(self, *, top_up: bool = True, active: bool = True) -> ServiceLine:
        for line in self.account.service_lines:
            if line.active == active and (line.plan.limit_gb is not None) == top_up and line.terminal_index is not None:
                return line
        raise AssertionError("no such line in the simulated fleet")

    def run(self, *argv: str, stdin: Stdin | None = None) -> tuple[int, str, str]:
        args = build_parser().parse_args([argv[0], "--config.file", str(self.config), *argv[1:]])
        out, err = io.StringIO(), io.StringIO()
        console = Console(stdin=stdin or Stdin(), stdout=out, stderr=err)
        code = commands.run(args, transport=self.transport, console=console)
        return code, out.getvalue(), err.getvalue()

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def limit_after_poll(self, number: str) -> float | None:
        exporter, _ = simulated_exporter(self.app)

        async def poll() -> float | None:
            await poll_all(exporter)
            account = next(a for a in exporter.state.accounts.values() if a.provider == "starlink")
            return account.service_lines.simple.get("leo_service_line_usage_limit_bytes", {}).get(number)

        return anyio.run(poll)


def test_dry_run_checks_and_prints_the_request_but_sends_nothing(tmp_path: Path) -> None:
    env = Env(tmp_path)
    line = env.line()
    code, out, err = env.run(
        "starlink-top-up", "--service-line", line.number, "--count", "2", "--dry-run", "--audit-log", str(env.audit)
    )
    assert code == 0, err
    product = f"{line.plan.product_id}-TOPUP-50GB"
    assert f"Will buy:  2 x one-time top-up {product} (50 GB each) = 100 GB" in out
    assert "Cost:      2 x 25.00 USD = 50.00 USD, charged immediately" in out
    assert "not idempotent" in out and "never retried" in out
    assert f"POST {SIM_URL}/starlink/api/public/v2/service-lines/{line.number}/data/top-up" in out
    assert "Authorization: Bearer <redacted>" in out and f'"productId": "{product}"' in out
    assert env.transport.sent("POST", TOP_UP) == 0 and env.sim.top_ups == {}
    assert env.transport.sent("GET", "/products") == 1  # the availability check ran
    [audit] = env.audit_lines()
    assert audit == {
        **audit,
        "action": "starlink-top-up",
        "provider": "starlink",
        "account": "sim-starlink-1",
        "account_id": env.account.number,
        "target": line.number,
        "outcome": "dry-run",
        "dry_run": True,
        "request": {"productId": product, "count": 2},
    }
    assert audit["time"].endswith("Z")


def test_top_up_is_bought_once_and_shows_in_the_next_poll(tmp_path: Path) -> None:
    env = Env(tmp_path)
    line = env.line()
    assert env.limit_after_poll(line.number) == 50e9
    code, out, err = env.run("starlink-top-up", "--service-line", line.number, "--count", "2", "--yes")
    assert code == 0, err
    assert "Done: bought 2 x" in out and "1 one-time top-up block(s)" in out
    assert env.transport.sent("POST", TOP_UP) == 1
    [block] = env.sim.top_ups[line.number]
    assert (block.count, block.amount_gb) == (2, 50.0)
    audit = json.loads(err.strip().splitlines()[-1])  # without --audit-log the line goes to stderr
    assert (audit["outcome"], audit["dry_run"], audit["target"]) == ("success", False, line.number)
    assert env.limit_after_poll(line.number) == 150e9  # the data usage poll shows the bigger limit
    for secret in env.secrets:
        assert secret not in out + err


def test_confirmation_on_a_terminal(tmp_path: Path) -> None:
    env = Env(tmp_path)
    line = env.line()
    code, _, err = env.run("starlink-top-up", "--service-line", line.number, stdin=Stdin("no\n", tty=True))
    assert code == 1 and "Type 'yes' to confirm" in err and "not confirmed" in err
    assert env.transport.sent("POST", TOP_UP) == 0
    assert '"outcome": "declined"' in err
    code, _, err = env.run("starlink-top-up", "--service-line", line.number, stdin=Stdin("yes\n", tty=True))
    assert code == 0, err
    assert env.transport.sent("POST", TOP_UP) == 1


def test_refused_without_a_terminal_or_yes(tmp_path: Path) -> None:
    env = Env(tmp_path)
    code, _, err = env.run("starlink-top-up", "--service-line", env.line().number, "--audit-log", str(env.audit))
    assert code == 2 and "pass --yes" in err
    assert env.transport.requests == []
    [audit] = env.audit_lines()
    assert (audit["outcome"], audit["account"]) == ("refused", "sim-starlink-1")


def test_refused_unless_the_account_enables_management_actions(tmp_path: Path) -> None:
    env = Env(tmp_path, enabled=False)
    code, _, err = env.run(
        "starlink-top-up", "--service-line", env.line().number, "--yes", "--audit-log", str(env.audit)
    )
    assert code == 2
    assert "does not allow management actions: set `management_actions: true`" in err
    assert env.transport.requests == []
    [audit] = env.audit_lines()
    assert audit["outcome"] == "refused" and "management_actions" in audit["detail"]


def test_wrong_account_or_provider_is_refused(tmp_path: Path) -> None:
    env = Env(tmp_path)
    code, _, err = env.run("starlink-top-up", "--account", "kognitive-dp-1", "--service-line", "X", "--yes")
    assert code == 2 and "is a kognitive account; starlink-top-up needs a starlink account" in err
    code, _, err = env.run("starlink-top-up", "--account", "nobody", "--service-line", "X", "--yes")
    assert code == 2 and "no account named 'nobody'" in err


def test_lines_without_a_top_up_plan_and_other_products_are_refused_before_sending(tmp_path: Path) -> None:
    env = Env(tmp_path, terminals=40)
    unlimited = env.line(top_up=False)
    code, _, err = env.run("starlink-top-up", "--service-line", unlimited.number, "--yes")
    assert code == 1 and "offers no one-time top-up" in err
    code, _, err = env.run("starlink-top-up", "--service-line", env.line().number, "--product", "OTHER", "--yes")
    assert code == 1 and "product OTHER is not available to service line" in err
    code, _, err = env.run("starlink-top-up", "--service-line", "AST-000000-00000-00", "--yes")
    assert code == 1 and "was not found" in err
    assert env.transport.sent("POST", TOP_UP) == 0


def test_the_providers_reason_is_reported(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.sim.refuse_next_top_up(env.account.number, "The payment method on file was declined.")
    code, _, err = env.run("starlink-top-up", "--service-line", env.line().number, "--yes")
    assert code == 1
    assert "the provider refused the top-up" in err and "The payment method on file was declined." in err
    assert '"outcome": "failed"' in err
    assert env.transport.sent("POST", TOP_UP) == 1 and env.sim.top_ups == {}


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("timed out", request=r)), "unknown"),
        (lambda r: httpx.Response(503, json={"errors": [], "isValid": False}), "unknown"),
        (lambda r: httpx.Response(401, json={"errors": [], "isValid": False}), "failed"),
    ],
    ids=["timeout", "503", "401"],
)
def test_the_top_up_is_never_retried(tmp_path: Path, answer: Any, outcome: str) -> None:
    env = Env(tmp_path)
    env.transport.fail = lambda request: answer(request) if request.url.path.endswith(TOP_UP) else None
    code, _, err = env.run("starlink-top-up", "--service-line", env.line().number, "--yes")
    assert code == 1
    assert env.transport.sent("POST", TOP_UP) == 1  # once, whatever happened
    assert f'"outcome": "{outcome}"' in err
    if outcome == "unknown":
        assert "may or may not have been bought" in err


def test_an_unwritable_audit_log_stops_the_action(tmp_path: Path) -> None:
    env = Env(tmp_path)
    code, _, err = env.run(
        "starlink-top-up", "--service-line", env.line().number, "--yes", "--audit-log", str(tmp_path / "no/such/dir")
    )
    assert code == 2 and "cannot open the audit log" in err
    assert env.transport.requests == []
