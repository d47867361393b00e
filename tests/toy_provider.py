"""LunarLink, a toy provider that exists only in tests: the proof that a provider plugs in through
the registry alone (tests/test_toy_provider.py registers it through the `leo_exporter.providers`
entry-point group; no file under leo_exporter/ names it).

It has what docs/adding-a-provider.md asks of a provider, each piece as small as it can be, and
brings one of each thing a provider may own: a job (`JobSpec`), a metric family only it sets
(`Provider.families`) and a fault mode only its simulator has (`SimulatorSpec.fault_modes`). Its
config model has one secret; its driver's job reads the dish list over the exporter's HTTP client
and hands typed records and measurements to the state; its simulator serves one API route behind
the shared fault book, with one simulator option of its own. docs/adding-a-provider.md quotes this
file, and tests/test_toy_provider.py checks that every quote is still in it.
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
from leo_exporter.providers.spec import FaultMode, SimulatorFlag, SimulatorSpec
from leo_exporter.records import TerminalRecord

if TYPE_CHECKING:  # as for the built-in providers, importing the provider does not import a simulator
    from leo_exporter.simulator.plugin import SimulatorContext

NAME = "lunarlink"

# ---- its job, declared once -----------------------------------------------------------------------

DISHES = JobSpec(
    name="dishes",
    interval=300.0,
    timeout=30.0,
    collectors=frozenset({"terminal"}),  # switched off with --no-collector.terminal: no requests
    terminal_state=True,  # dish online flags: its staleness silences the account's terminal alerts
    permission="dishes:read",  # named in the log line of a 403
    demo_interval="5s",  # when the exporter runs on the built-in simulator
)

# ---- its family, which only it sets ---------------------------------------------------------------

TERMINAL_DUST_COVER_RATIO = catalog.gauge(
    "leo_terminal_dust_cover_ratio",
    "terminal",
    "Fraction of the dish's surface covered by regolith dust (0-1), as LunarLink reports it.",
)

# ---- its config ----------------------------------------------------------------------------------


class LunarLinkAccount(AccountConfig):
    """`provider: lunarlink`: a bearer token and the API's root."""

    provider: Literal["lunarlink"]
    token: SecretStr  # any SecretStr field may also be given as `token_file`

    JOBS: ClassVar[tuple[JobSpec, ...]] = (DISHES,)


# ---- its driver ----------------------------------------------------------------------------------


class LunarLinkDriver:
    """One account's job: `dishes`, the dish list with each dish's online flag and dust cover."""

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
        items = await self.api.get_json("dishes", endpoint="/dishes", permission=DISHES.permission)
        if not isinstance(items, list):
            raise BadResponse("GET /dishes: expected a list")
        records = [TerminalRecord(terminal_id=str(item["id"]), name=str(item["name"])) for item in items]
        online = {str(item["id"]): bool(item["online"]) for item in items}
        dust = {str(item["id"]): float(item["dust"]) for item in items}
        await self.ctx.worker.apply(lambda: self._apply(records, online, dust))

    def _apply(self, records: list[TerminalRecord], online: dict[str, bool], dust: dict[str, float]) -> None:
        """On the state worker, as every provider's changes are."""
        self.ctx.state.replace_terminals(records)
        for dish, is_online in online.items():
            self.ctx.state.terminals.set(catalog.TERMINAL_ONLINE, dish, 1.0 if is_online else 0.0)
        for dish, ratio in dust.items():
            self.ctx.state.terminals.set(TERMINAL_DUST_COVER_RATIO, dish, ratio)


# ---- its simulator -------------------------------------------------------------------------------

# a fault only LunarLink's simulator has: the shared fault book takes it for lunarlink alone
ECLIPSE = FaultMode("eclipse", "LunarLink: every dish of the account reports offline (the Earth is in the way)")


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
        keys = (token, str(index))
        eclipse = self.faults.find(NAME, keys, "dishes", (ECLIPSE.name,))
        if eclipse is not None:
            self.faults.hit(eclipse)
        dishes = [
            {"id": f"LL-{index}-{d}", "name": f"dish {d}", "online": eclipse is None and d % 2 == 1, "dust": d / 10}
            for d in range(1, self.dishes + 1)
        ]

        async def run() -> Response:
            return JSONResponse(dishes)

        def error(status: int, message: str, headers: Any) -> Response:
            return JSONResponse({"error": message}, status, headers=dict(headers))

        return await self.faults.serve(NAME, keys, str(index), "dishes", request, run, error)

    def demo_accounts(self, base_url: str) -> list[dict[str, Any]]:
        return [
            {"provider": NAME, "name": f"lunar-{n}", "token": token, "api_url": base_url}
            for n, token in enumerate(self.tokens, start=1)
        ]

    def describe(self, prefix: str) -> list[str]:
        return [f"LunarLink (a toy of the tests): {prefix}/dishes", f"  {len(self.tokens)} accounts"]


# ---- the registry's entry --------------------------------------------------------------------------

PROVIDER = ProviderDefinition(
    name=NAME,
    config_model=LunarLinkAccount,
    driver=LunarLinkDriver,
    families=(TERMINAL_DUST_COVER_RATIO,),
    simulator=SimulatorSpec(
        prefix="/lunarlink",
        factory="tests.toy_provider:LunarLinkSimulator",
        flags=(SimulatorFlag("--lunarlink-dishes", "lunarlink_dishes", int, 3, "dishes per LunarLink account"),),
        fault_modes=(ECLIPSE,),
        missing_faults={"behind": "LunarLink has no stream"},
    ),
)
