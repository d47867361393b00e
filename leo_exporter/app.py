"""Wiring: config -> accounts, drivers and jobs -> state -> render loop -> `publish` (the handoff).

Data flows one way. Jobs fetch on their own timers and change the state on the state worker;
the render loop turns a changed state into cached bytes and hands them to the front, which serves
them. The wiring knows no HTTP: leo_exporter/serving.py puts it behind the worker's routes.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import httpx

from leo_exporter.config import AccountConfig, Config, ConfigError
from leo_exporter.hangup import ignore_sighup
from leo_exporter.jobstatus import JobStatus
from leo_exporter.leases import LeaseSettings, ShardLeases
from leo_exporter.logs import REDACT
from leo_exporter.providers import load_config, providers
from leo_exporter.providers.base import AccountContext, AccountDriver, UnknownNames
from leo_exporter.providers.budget import RateBudget
from leo_exporter.render import Exposition, Renderer
from leo_exporter.scheduler import Gate, Job, Scheduler
from leo_exporter.sharding import account_key, owned, owner
from leo_exporter.state import AccountState, FleetState, StateWorker
from leo_exporter.tagging import Tagging

log = logging.getLogger("leo_exporter")
# Pause after each rendering while changes keep coming. Only the changed (family, account) chunks
# are rendered again, so the work per second of changes is about the same at any gap; a rendering
# with nothing to redo costs ~30 ms at 50,000 terminals, so the gap bounds that overhead, and the
# latency it adds to a row's way into /metrics.
MIN_RENDER_GAP = 0.5


@dataclass
class AccountRuntime:
    state: AccountState
    driver: AccountDriver
    config: AccountConfig
    budget: RateBudget
    jobs: list[Job] = field(default_factory=list)


class Exporter:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        simulated: bool = False,
        calendar: Callable[[], float] | None = None,
        leases: LeaseSettings | None = None,
        restarted: bool = False,
    ):
        """`restarted`: this worker replaces one that died or hung; its accounts' budgets start
        without a burst (the last worker's requests of the last minute still count at the provider)."""
        self.config = config
        self.simulated = simulated
        # `calendar`: the clock billing dates are judged by (has a cycle ended?); a simulated
        # world's calendar runs ahead of the machine's clock, which live data keeps
        self.state = FleetState(clock, calendar)
        self.worker = StateWorker(self.state)
        self.renderer = Renderer(
            self.state,
            shard=(config.shard.index, config.shard.total),
            disabled=config.disabled_collectors,
            restarted=restarted,
        )
        self.scheduler = Scheduler(clock)
        self.tagging = Tagging(config.tags, config.tags_file, values=self.state.exporter_values, clock=clock)
        self.exposition: Exposition | None = None
        self.accounts: list[AccountRuntime] = []
        self.config_path: str | None = None  # what SIGHUP and POST /-/reload re-read
        self.lifecycle = False  # --web.enable-lifecycle: POST /-/reload
        self.admin_api = False  # --web.enable-admin-api: job control (poll now, enable, disable, interval)
        self.grafana_url = ""  # --web.grafana-url: the status page links terminals to their dashboard
        self.basic_auth = False  # --web.config.file has basic_auth_users (the status page warns when not)
        self.shard_override: Callable[[Config], Config] | None = None  # flags/env that win over the file
        self._reload_lock: anyio.Lock | None = None
        # Under the front process (leo_exporter/front.py): hands each rendering over before it counts
        # as rendered, so what /readyz?verbose reports is what a scrape gets.
        self.publish: Callable[[Exposition], Awaitable[None]] | None = None
        self._complete_from: int | None = None  # the first rendering begun after every job's first run
        # --shard.leases: the shards this replica polls are those whose Lease it holds (leases.py)
        self.leases = ShardLeases(leases, self._gain_shard, self._lose_shard, self._leases_changed) if leases else None
        self._build(transport, restarted)

    def _build(self, transport: httpx.AsyncBaseTransport | None, restarted: bool) -> None:
        self._transport = transport
        for account_config in self.config.accounts:
            REDACT.add(*account_config.secrets())
        # Sharding: this replica polls only the accounts its shard owns (leo_exporter/sharding.py);
        # by lease, those of the shards it leads, none yet.
        for account_config in self._wanted(self.config):
            self._add_account(account_config, burst=not restarted)
        self._leases_changed()

    def _wanted(self, config: Config) -> list[AccountConfig]:
        """The accounts this replica polls: its shard's, or those of the shards whose lease it holds."""
        if self.leases is None:
            return owned(config.accounts, config.shard.index, config.shard.total)
        held, total = set(self.leases.held), self.leases.settings.total
        return [a for a in config.accounts if owner(account_key(a.provider, a.name), total) in held]

    # --- shard leases (leo_exporter/leases.py calls these)
    async def _gain_shard(self, shard: int) -> None:
        assert self.leases is not None
        running = {runtime.config.name for runtime in self.accounts}
        for account_config in owned(self.config.accounts, shard, self.leases.settings.total):
            if account_config.name not in running:
                self._add_account(account_config)
        self._complete_from = None
        self.state.mark_changed()

    async def _lose_shard(self, shard: int) -> None:
        """Stop polling the shard's accounts (in-flight calls cancelled) and drop their series."""
        assert self.leases is not None
        total = self.leases.settings.total
        for runtime in list(self.accounts):
            if owner(account_key(runtime.config.provider, runtime.config.name), total) == shard:
                await self._remove_account(runtime)
        self.state.mark_changed()

    def _leases_changed(self) -> None:
        if self.leases is not None:
            self.state.shard_leases = {s.shard: (s.leader, s.transitions) for s in self.leases.shards}
            self.state.mark_changed()

    def _add_account(self, account_config: AccountConfig, *, burst: bool = True) -> AccountRuntime:
        """`burst` False: its budget starts at the even pace (a restarted worker's accounts; one
        added later, by a reload or a shard gained, was never polled by this process's predecessor)."""
        provider = providers()[account_config.provider]
        state = AccountState(
            provider.name,
            account_config.name,
            offline_after=account_config.offline_after or self.config.offline_after,
            online_from_telemetry=provider.online_from_telemetry,
            cycles_kept=account_config.billing_cycles_kept,
            clock=self.state.calendar,
        )
        adapter = logging.LoggerAdapter(
            logging.getLogger(f"leo_exporter.{provider.name}"),
            {"provider": provider.name, "account_name": account_config.name},
        )
        resolved = {job.name: job for job in account_config.resolved_jobs()}
        specs = {job.name: job for job in provider.jobs}
        # The account's pause (Retry-After) holds up every job: bounded like the busiest job's own
        # retry, by the larger of its interval and backoff_max.
        shortest = min((job.interval for job in resolved.values() if job.enabled), default=0.0)
        ctx = AccountContext(
            config=account_config,
            state=state,
            worker=self.worker,
            budget=RateBudget(
                account_config.request_budget_per_minute,
                pause_base=account_config.backoff_base,
                pause_max=min(60.0, account_config.backoff_max),
                pause_limit=max(shortest, account_config.backoff_max),
                burst=burst,
            ),
            log=adapter,
            unknown=UnknownNames(state, adapter),
            transport=self._transport,
            clock=self.state.clock,
        )
        driver = provider.create(ctx)
        runtime = AccountRuntime(state, driver, account_config, ctx.budget)
        identify = driver.identify_job if resolved.get(driver.identify_job or "") else None
        if identify and not resolved[identify].enabled:
            identify = None
        identified = Gate()
        statuses = []
        for name, function in driver.jobs().items():
            spec = resolved[name]
            feeds = specs[name].collectors
            needed = not feeds or not feeds <= self.config.disabled_collectors  # else no consumer: no calls
            status = JobStatus(state, name, spec.interval, spec.timeout, enabled=spec.enabled and needed)
            statuses.append(status)
            runtime.jobs.append(
                Job(
                    status,
                    function,
                    backoff_base=account_config.backoff_base,
                    backoff_max=account_config.backoff_max,
                    gate=identified if identify and name != identify else None,
                    opens=identified if name == identify else None,
                )
            )
        self.state.add_account(state)
        self.state.jobs = [*self.state.jobs, *statuses]  # a new list: the renderer may be iterating the old
        self.accounts.append(runtime)
        for job in runtime.jobs:
            self.scheduler.add(job)
        return runtime

    async def _remove_account(self, runtime: AccountRuntime) -> None:
        for job in runtime.jobs:
            self.scheduler.remove(job)
        self.accounts.remove(runtime)
        gone = set(map(id, (job.status for job in runtime.jobs)))

        def forget() -> None:
            self.state.accounts.pop(runtime.state.name, None)
            self.state.jobs = [j for j in self.state.jobs if id(j) not in gone]

        await self.worker.apply(forget)
        with contextlib.suppress(Exception):
            await runtime.driver.aclose()

    # --- management actions from the status page
    def account_budget(self, name: str) -> RateBudget | None:
        """The running account's request budget (its polls and the page's actions share it)."""
        return next((a.budget for a in self.accounts if a.config.name == name), None)

    @property
    def provider_transport(self) -> httpx.AsyncBaseTransport | None:
        """How the accounts reach their providers (None: the network; tests: the simulator)."""
        return self._transport

    # --- reload
    async def reload(self, config: Config) -> tuple[int, int, int]:
        """Apply a new config: accounts whose config is unchanged keep their state and jobs; removed or
        changed ones stop (and changed ones start afresh). Returns (kept, added, removed)."""
        for account_config in config.accounts:
            REDACT.add(*account_config.secrets())
        wanted = {a.name: a for a in self._wanted(config)}
        kept = removed = 0
        for runtime in list(self.accounts):
            if (
                wanted.get(runtime.config.name) == runtime.config
                and config.offline_after == self.config.offline_after
                and config.collectors == self.config.collectors
            ):
                wanted.pop(runtime.config.name)
                kept += 1
            else:
                await self._remove_account(runtime)
                removed += 1
        self.config = config
        self.tagging = Tagging(
            config.tags,
            config.tags_file,
            values=self.state.exporter_values,
            clock=self.state.clock,
            previous=self.tagging,
        )
        self.renderer.shard = (config.shard.index, config.shard.total)
        self.renderer.disabled = config.disabled_collectors
        for account_config in wanted.values():
            self._add_account(account_config)
        self._complete_from = None
        self.state.mark_changed()
        return kept, len(wanted), removed

    async def reload_from_file(self) -> list[str]:
        """Reload `config_path`; on any problem keep running on the old config. Returns the problems."""
        if self._reload_lock is None:
            self._reload_lock = anyio.Lock()
        async with self._reload_lock:  # a SIGHUP and a POST /-/reload at once apply one after the other
            problems = await self._reload_from_file()
        await self.render_now()  # the outcome is in /metrics by the time the caller hears of it
        return problems

    async def _reload_from_file(self) -> list[str]:
        values = self.state.exporter_values
        if self.config_path is None:
            return ["no --config.file to reload (simulation mode)"]
        try:
            # off the event loop: polls, renders and the handoff go on while a large file is read
            config = await anyio.to_thread.run_sync(load_config, self.config_path)
            if self.shard_override is not None:
                config = self.shard_override(config)
        except Exception as exc:  # ConfigError, or anything else: the running config stays either way
            problems = exc.problems if isinstance(exc, ConfigError) else [f"{type(exc).__name__}: {exc}"]
            problems = [REDACT(p) for p in problems]
            values["leo_exporter_config_last_reload_successful"] = 0.0
            self.state.mark_changed()
            for problem in problems:
                log.error("config reload failed, keeping the running config: %s", problem)
            return problems
        kept, added, removed = await self.reload(config)
        values["leo_exporter_config_last_reload_successful"] = 1.0
        values["leo_exporter_config_last_reload_success_timestamp_seconds"] = self.state.clock()
        log.info(
            "config reloaded from %s: %d account(s) kept, %d added, %d removed", self.config_path, kept, added, removed
        )
        return []

    # --- readiness
    def not_ready(self) -> list[str]:
        """What /readyz waits for: the first render. The config is loaded once an Exporter exists,
        and HTTP serves if /readyz answers at all. Providers are not waited for: with wrong
        credentials or a provider down the pod is ready, and the job metrics and alerts say what
        is wrong (a readiness that waited for them would stall every rollout behind a provider)."""
        if self.exposition is None:
            return ["first render"]
        if self.leases is not None and not self.leases.held and not self.leases.settings.standby:
            return ["a shard lease (a declared standby is ready without one: --shard.standby)"]
        return []

    def leases_summary(self) -> str:
        """`leading shards 0, 2 of 4` for /readyz?verbose and the status page; empty when not by lease."""
        if self.leases is None:
            return ""
        held = self.leases.held
        role = " (standby)" if self.leases.settings.standby else ""
        led = ", ".join(map(str, held)) if held else "none"
        return f"leading shards {led} of {self.leases.settings.total} by lease{role}"

    def not_succeeded(self) -> list[str]:
        """Enabled jobs that have not succeeded yet (`/readyz?verbose`)."""
        return [j.key for j in self.state.jobs if j.enabled and j.last_success is None]

    def first_runs_pending(self) -> list[str]:
        """Enabled jobs that have not run yet, and 'render' until an exposition made after the
        last of those first runs exists (`/readyz?verbose`; tests and benchmarks wait for it)."""
        waiting = [j.key for j in self.state.jobs if j.enabled and j.last_run is None]
        if self.exposition is None or not self.shows_first_runs(self.exposition):
            waiting.append("render")
        return waiting

    def shows_first_runs(self, exposition: Exposition) -> bool:
        """Whether `exposition` was rendered after every enabled job had run once (the front keeps
        a restarted worker's earlier renderings back: they would drop every series for seconds).
        Judged by the order of renderings, not the wall clock, which may step either way."""
        return self._complete_from is not None and exposition.sequence >= self._complete_from

    # --- rendering
    async def render_now(self) -> Exposition:
        """Tick the state to now, then render it (both on the state worker)."""
        exposition = await self.worker.run(self._tick_and_render)
        if self.publish is not None:
            await self.publish(exposition)
        self.exposition = exposition
        return exposition

    def _tick_and_render(self) -> Exposition:
        if self._complete_from is None and not any(j.enabled and j.last_run is None for j in self.state.jobs):
            self._complete_from = self.renderer.sequence + 1  # this rendering: begun after every first run
        self.state.tick()
        self.tagging.refresh()  # the tags file, when its modification time changed
        self.tagging.apply(self.state)
        exposition = self.renderer.render()
        self.state.note_render(exposition.duration, exposition.length)
        return exposition

    async def render_loop(self) -> None:
        """Render when the state changed (at most every MIN_RENDER_GAP; scrapes are the front
        process's, so they never wait for a rendering, and changes queued meanwhile run first: the
        worker's limiter serves in order), and at least every render_interval so online flags age."""
        last = 0.0
        while True:
            now = time.monotonic()
            changed = self.state.changed.is_set()
            if changed or now - last >= self.config.render_interval:
                self.state.changed.clear()
                await self.render_now()
                last = time.monotonic()
                await anyio.sleep(MIN_RENDER_GAP)
            else:
                await anyio.sleep(0.1)

    async def stop_leases(self) -> None:
        """On SIGTERM, before anything else: hand the shards over (leo_exporter/leases.py)."""
        if self.leases is not None:
            await self.leases.stop()

    async def aclose(self) -> None:
        for account in self.accounts:
            with contextlib.suppress(Exception):
                await account.driver.aclose()

    async def run(self) -> None:
        """The exporter's own work until cancelled: jobs on their timers, the render loop and reloads
        on SIGHUP. Serving is the caller's (leo_exporter/serving.py): the wiring knows no HTTP."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.scheduler.run)
                tg.start_soon(self.render_loop)
                tg.start_soon(self._reload_on_sighup)
                if self.leases is not None:
                    tg.start_soon(self.leases.run)
        finally:
            with anyio.CancelScope(shield=True):
                await self.aclose()

    async def _reload_on_sighup(self) -> None:
        try:
            receiver = anyio.open_signal_receiver(signal.SIGHUP)
            with receiver as signals:
                async for _ in signals:
                    log.info("received SIGHUP, reloading the config")
                    try:
                        await self.reload_from_file()
                    except Exception as exc:  # the next SIGHUP must still be heard, whatever went wrong
                        self.state.exporter_values["leo_exporter_config_last_reload_successful"] = 0.0
                        self.state.mark_changed()
                        log.error("config reload failed: %s", REDACT(f"{type(exc).__name__}: {exc}"), exc_info=True)
        except (ValueError, NotImplementedError):  # not the main thread (tests): no signal to wait for
            await anyio.sleep_forever()
        finally:
            ignore_sighup()  # removing the handler restored the default action, which ends the process
