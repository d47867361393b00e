"""LunarLink, a toy provider that exists only in tests: the proof that a provider plugs in through
the registry alone (tests/test_toy_provider.py registers it through the `leo_exporter.providers`
entry-point group; no file under leo_exporter/ names it).

It has what docs/adding-a-provider.md asks of a provider, each piece as small as it can be: a
config model with one secret and one job, a driver whose job reads the dish list over the
exporter's HTTP client and hands typed records to the state, and a simulator of one API route
behind the shared fault book, with one simulator option of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from leo_exporter import catalog
from leo_exporter.config import AccountConfig
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers.base import AccountContext, JobFunction, ProviderDefinition
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.http import ApiClient
from leo_exporter.providers.spec import SimulatorFlag, SimulatorSpec
from leo_exporter.records import TerminalRecord

if TYPE_CHECKING:  # as for the built-in providers, importing the provider does not import a simulator
    from leo_exporter.simulator.plugin import SimulatorContext

NAME = "lunarlink"

DISHES = JobSpec(
    name="dishes",
    interval=300.0,
    timeout=30.0,
    collectors=frozenset({"terminal"}),
    terminal_state=True,
    demo_interval="5s",
)


class LunarLinkAccount(AccountConfig):
    """`provider: lunarlink`: a bearer token and the API's root."""

    provider: Literal["lunarlink"]
    token: SecretStr

    JOBS: ClassVar[tuple[JobSpec, ...]] = (DISHES,)


class LunarLinkDriver:
    """One account's job: `dishes`, the dish list with each dish's online flag."""

    identify_job = None

    def __init__(self, ctx: AccountContext) -> None:
        assert isinstance(ctx.config, LunarLinkAccount)
        self.ctx = ctx
        self.api = ApiClient(
            counting=ctx.counting,
            budget=ctx.budget,
            base_url=ctx.config.api_url,
            timeout=ctx.config.timeout,
            headers={"Authorization": f"Bearer {ctx.config.token.get_secret_value()}"},
            transport=ctx.transport,
        )

    def jobs(self) -> dict[str, JobFunction]:
        return {DISHES.name: self.poll_dishes}

    async def aclose(self) -> None:
        await self.api.aclose()

    async def poll_dishes(self) -> None:
        items = await self.api.get_json("dishes", endpoint="/dishes")
        if not isinstance(items, list):
            raise BadResponse("GET /dishes: expected a list")
        records = [TerminalRecord(terminal_id=str(item["id"]), name=str(item["name"])) for item in items]
        online = {str(item["id"]): bool(item["online"]) for item in items}
        await self.ctx.worker.apply(lambda: self._apply(records, online))

    def _apply(self, records: list[TerminalRecord], online: dict[str, bool]) -> None:
        """On the state worker, as every provider's changes are."""
        self.ctx.state.replace_terminals(records)
        for dish, is_online in online.items():
            self.ctx.state.terminals.set(catalog.TERMINAL_ONLINE, dish, 1.0 if is_online else 0.0)


# ---- the simulator ------------------------------------------------------------------------------------


class LunarLinkSimulator:
    """One partner per simulated account, each with `--lunarlink-dishes` dishes; every other dish is offline."""

    def __init__(self, ctx: SimulatorContext) -> None:
        self.faults = ctx.faults
        self.tokens = [f"lunar-token-{n}" for n in range(1, ctx.accounts + 1)]
        self.dishes = int(ctx.options["lunarlink_dishes"])

    def routes(self) -> list[BaseRoute]:
        return [Route("/dishes", self._dishes)]

    async def _dishes(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return JSONResponse({"error": "unknown token"}, 401)
        index = self.tokens.index(token) + 1
        dishes = [
            {"id": f"LL-{index}-{d}", "name": f"dish {d}", "online": d % 2 == 1} for d in range(1, self.dishes + 1)
        ]

        async def run() -> Response:
            return JSONResponse(dishes)

        def error(status: int, message: str, headers: Any) -> Response:
            return JSONResponse({"error": message}, status, headers=dict(headers))

        return await self.faults.serve(NAME, (token, str(index)), str(index), "dishes", request, run, error)

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        return [
            {"provider": NAME, "name": f"lunar-{n}", "token": token, "api_url": base_url}
            for n, token in enumerate(self.tokens, start=1)
        ]

    def describe(self, prefix: str) -> list[str]:
        return [f"LunarLink (a toy of the tests): {prefix}/dishes", f"  {len(self.tokens)} accounts"]


PROVIDER = ProviderDefinition(
    name=NAME,
    config_model=LunarLinkAccount,
    driver=LunarLinkDriver,
    simulator=SimulatorSpec(
        prefix="/lunarlink",
        factory="tests.toy_provider:LunarLinkSimulator",
        flags=(SimulatorFlag("--lunarlink-dishes", "lunarlink_dishes", int, 3, "dishes per LunarLink account"),),
        missing_faults={"behind": "LunarLink has no stream"},
    ),
)
