"""HTTP handlers of the operator tools: the status page, its JSON API, job control and the CSV.

    GET  /                           status page (HTML)
    GET  /api/status                 accounts, fleet summary, alert counts
    GET  /api/jobs                   every job with its timings
    GET  /api/terminals              ?q=&state=&account=&provider=&page=&per_page=
    GET  /api/alerts                 ?limit= (devices listed; counts cover all)
    GET  /terminals.csv              the ticketing CSV
    GET  /usage.csv                  the monthly usage report: ?cycles=N&by=tag:<key>
    GET  /api/usage                  the same as JSON
    POST /api/jobs/{job}/poll        run now (?wait=SECONDS to wait for the result)
    POST /api/jobs/{job}/enable      | disable
    POST /api/jobs/{job}/interval    form or JSON: interval=30s (or interval_seconds=30)

Job keys contain slashes (`starlink/fleet-north/telemetry`). The POST endpoints take a JSON body or
an HTML form; a form post is answered with a redirect back to the page (303), so the page needs
no JavaScript. Changes are in memory only, never written to the config file: a restart restores
the file's settings (a reload does so for the accounts whose config changed).

The POST endpoints exist only with `--web.enable-admin-api` (403 without, and the page shows no
buttons). A browser that an operator is logged in with (basic auth) would send a forged form post
from another site with its credentials, so a POST must also be same-origin (`same_origin`).
Authentication itself is the web config layer's, which wraps this whole app.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from leo_exporter import __version__
from leo_exporter.durations import format_duration, parse_duration
from leo_exporter.status import csvexport, page, usage, views
from leo_exporter.status.actions import ActionDesk
from leo_exporter.status.posts import BadRequest, change_refused, is_form, read_body

__all__ = ["StatusRoutes", "change_refused", "routes"]

if TYPE_CHECKING:
    from leo_exporter.port import ExporterPort
    from leo_exporter.scheduler import Job

MIN_INTERVAL, MAX_INTERVAL = 1.0, 7 * 86400.0
FORM_WAIT = 5.0  # a form's "Poll now" waits this long for the run before showing the page again
MAX_WAIT = 60.0
ALERT_ROWS, ALERT_ROWS_MAX = 50, 1000
NOTICE_PARAMS = ("done", "job", "result", "value", "error")


def _back_query(value: str) -> dict[str, str]:
    """The page's own filters, from a form's hidden `back` field (known keys only)."""
    keep = ("q", "state", "account", "provider", "page", "per_page")
    return {k: v for k, v in parse_qsl(value.lstrip("?"), keep_blank_values=False) if k in keep}


def _to_page(request: Request, back: str, anchor: str, **notice: str) -> RedirectResponse:
    """A 303 to the status page, as a relative URL (right behind a path-prefixing proxy too)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    depth = raw_path.split(b"?", 1)[0].count(b"/") - 1
    query = urlencode({**_back_query(back), **notice})
    location = ("../" * depth or "./") + (f"?{query}" if query else "") + f"#{anchor}"
    return RedirectResponse(location, status_code=303)


class StatusRoutes:
    def __init__(self, exporter: ExporterPort):
        self.exporter = exporter
        self.desk = ActionDesk(exporter)  # management actions (leo_exporter/status/actions.py)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page),
            Route("/api/status", self.status),
            Route("/api/jobs", self.jobs),
            Route("/api/terminals", self.terminals),
            Route("/api/alerts", self.alerts),
            Route("/terminals.csv", self.csv),
            Route("/usage.csv", self.usage_csv),
            Route("/api/usage", self.usage_json),
            Route("/api/jobs/{job:path}/poll", self.poll, methods=["POST"]),
            Route("/api/jobs/{job:path}/enable", self.enable, methods=["POST"]),
            Route("/api/jobs/{job:path}/disable", self.disable, methods=["POST"]),
            Route("/api/jobs/{job:path}/interval", self.interval, methods=["POST"]),
            *self.desk.routes(),
        ]

    # --- reading ------------------------------------------------------------------------------

    @property
    def shard(self) -> dict[str, Any]:
        shard = self.exporter.config.shard
        leases = self.exporter.state.shard_leases
        if leases:  # by lease: the shards this replica leads now
            return {"total": len(leases), "leading": [i for i, (lead, _) in sorted(leases.items()) if lead]}
        return {"index": shard.index, "total": shard.total}

    def _jobs(self) -> list[dict[str, Any]]:
        return [views.job_view(status) for status in self.exporter.state.jobs]

    async def _overview(self, query: views.TerminalQuery | None, alert_rows: int) -> dict[str, Any]:
        state = self.exporter.state

        def read() -> tuple[list[dict[str, Any]], views.TerminalPage | None, dict[str, Any]]:
            terminals = views.query_terminals(state, query) if query is not None else None
            return views.account_summaries(state), terminals, views.active_alerts(state, alert_rows)

        accounts, terminals, alerts = await self.exporter.worker.run(read)
        return {"accounts": accounts, "terminals": terminals, "alerts": alerts}

    async def page(self, request: Request) -> Response:
        started = time.perf_counter()
        params = dict(request.query_params)
        try:
            query = views.TerminalQuery.from_params(params)
        except views.QueryError as exc:
            return HTMLResponse(f"<p>Bad query: {page.e(exc)}. <a href='./'>Back to the status page</a></p>", 400)
        data = await self._overview(query, ALERT_ROWS)
        accounts = data["accounts"]
        shard = self.exporter.config.shard
        back = urlencode({k: v for k, v in params.items() if k not in NOTICE_PARAMS})
        body = page.render(
            version=__version__,
            simulated=self.exporter.simulated,
            shard=(shard.index + 1, shard.total),
            leases=self.exporter.leases_summary(),
            now=self.exporter.state.clock(),
            accounts=accounts,
            totals=views.totals(accounts),
            jobs=self._jobs(),
            terminals=data["terminals"],
            alerts=data["alerts"],
            params=params,
            back=back,
            grafana_url=self.exporter.grafana_url,
            controls=self.exporter.admin_api,
            actions=self.desk.allowed_accounts(),
            basic_auth=self.exporter.basic_auth,
        )
        took = time.perf_counter() - started
        timing = f"render;dur={took * 1000:.1f}"
        return HTMLResponse(body, headers={"Cache-Control": "no-store", "Server-Timing": timing})

    async def status(self, request: Request) -> Response:
        data = await self._overview(None, 0)
        accounts = data["accounts"]
        jobs = self._jobs()
        for account in accounts:
            its = [j for j in jobs if j["account_name"] == account["name"]]
            account["jobs"] = {
                "enabled": sum(1 for j in its if j["enabled"]),
                "up": sum(1 for j in its if j["enabled"] and j["up"]),
                "total": len(its),
            }
        alerts = data["alerts"]
        return _json(
            {
                "version": __version__,
                "simulated": self.exporter.simulated,
                "shard": self.shard,
                "time": self.exporter.state.clock(),
                "accounts": accounts,
                "totals": views.totals(accounts),
                "alerts": {"devices": alerts["devices"], "by_name": alerts["by_name"]},
            }
        )

    async def jobs(self, request: Request) -> Response:
        return _json({"jobs": self._jobs()})

    async def terminals(self, request: Request) -> Response:
        try:
            query = views.TerminalQuery.from_params(request.query_params)
        except views.QueryError as exc:
            return _json({"error": str(exc)}, 400)
        state = self.exporter.state
        result = await self.exporter.worker.run(lambda: views.query_terminals(state, query))
        return _json(
            {
                "total": result.total,
                "page": query.page,
                "per_page": query.per_page,
                "pages": result.pages,
                "terminals": result.rows,
            }
        )

    async def alerts(self, request: Request) -> Response:
        raw = request.query_params.get("limit", str(ALERT_ROWS))
        if not raw.isdigit() or not 0 <= int(raw) <= ALERT_ROWS_MAX:
            return _json({"error": f"limit must be a whole number from 0 to {ALERT_ROWS_MAX}"}, 400)
        state = self.exporter.state
        return _json(await self.exporter.worker.run(lambda: views.active_alerts(state, int(raw))))

    async def csv(self, request: Request) -> Response:
        state = self.exporter.state
        rows = await self.exporter.worker.run(lambda: csvexport.snapshot(state))
        return StreamingResponse(
            csvexport.stream(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="terminals.csv"', "Cache-Control": "no-store"},
        )

    async def _usage(self, request: Request) -> tuple[list[usage.Row], int, str | None]:
        """The report's rows for `?cycles=N` (default: the most any account keeps) and `?by=tag:<key>`."""
        config = self.exporter.config
        kept = max((a.billing_cycles_kept for a in config.accounts), default=3)
        params = request.query_params
        cycles = usage.cycles_param(params.get("cycles"), kept)
        by = usage.by_param(params.get("by"))
        if by is not None and by not in config.tags.keys:
            known = ", ".join(config.tags.keys) or "none are declared"
            raise usage.ReportError(f"by: {by!r} is not a tag key of the config's tags: ({known})")
        state = self.exporter.state
        return await self.exporter.worker.run(lambda: usage.snapshot(state, cycles)), cycles, by

    async def usage_csv(self, request: Request) -> Response:
        try:
            rows, _, by = await self._usage(request)
        except usage.ReportError as exc:
            return Response(f"{exc}\n", status_code=400, media_type="text/plain; charset=utf-8")
        body = await anyio.to_thread.run_sync(usage.csv_bytes, rows, by)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="usage.csv"', "Cache-Control": "no-store"},
        )

    async def usage_json(self, request: Request) -> Response:
        try:
            rows, cycles, by = await self._usage(request)
        except usage.ReportError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(await anyio.to_thread.run_sync(usage.json_data, rows, cycles, by))

    # --- job control -----------------------------------------------------------------------------

    async def _control(self, request: Request, change: str) -> Response:
        form = is_form(request)
        key = request.path_params["job"]
        body: dict[str, Any] = {}
        try:
            refused = change_refused(request, self.exporter.admin_api, "--web.enable-admin-api")
            if refused:
                raise BadRequest(refused, 403, "forbidden")
            body = await read_body(request)
            job = self.exporter.scheduler.find(key)
            if job is None:
                raise BadRequest(f"no job {key!r}", 404, "job")
            if change == "poll":
                return await self._poll(request, job, form, str(body.get("back", "")))
            if change in ("enable", "disable"):
                job.set_enabled(change == "enable")
                value = ""
            else:
                seconds = _interval(body)
                job.set_interval(seconds)
                value = format_duration(seconds)
        except BadRequest as exc:
            if form and exc.status in (400, 404):
                return _to_page(request, str(body.get("back", "")), "jobs", done="error", error=exc.code or "bad")
            return _json({"error": exc.message}, exc.status)
        if form:
            return _to_page(request, str(body.get("back", "")), "jobs", done=change, job=job.key, value=value)
        return _json({"job": job.key, "changed": change, "status": views.job_view(job.status)})

    async def _poll(self, request: Request, job: Job, form: bool, back: str) -> Response:
        wait = FORM_WAIT if form else 0.0
        raw = request.query_params.get("wait")
        if raw is not None:
            try:
                wait = min(MAX_WAIT, max(0.0, float(raw)))
            except ValueError:
                raise BadRequest("wait must be a number of seconds") from None
        status = job.status
        before = status.successes + status.errors
        job.trigger()
        ran = False
        if wait > 0:
            with anyio.move_on_after(wait):
                while status.successes + status.errors == before:  # noqa: ASYNC110 - a job run sets no event to wait on
                    await anyio.sleep(0.05)
                ran = True
            if ran:
                await self.exporter.render_now()  # what the run brought is in /metrics when we answer
        if form:
            result = ("ok" if job.status.up == 1.0 else "error") if ran else "queued"
            return _to_page(request, back, "jobs", done="poll", job=job.key, result=result)
        return _json(
            {"job": job.key, "triggered": True, "completed": ran, "status": views.job_view(job.status)},
            200 if ran else 202,
        )

    async def poll(self, request: Request) -> Response:
        return await self._control(request, "poll")

    async def enable(self, request: Request) -> Response:
        return await self._control(request, "enable")

    async def disable(self, request: Request) -> Response:
        return await self._control(request, "disable")

    async def interval(self, request: Request) -> Response:
        return await self._control(request, "interval")


def _interval(body: dict[str, Any]) -> float:
    raw = body.get("interval", body.get("interval_seconds"))
    if isinstance(raw, str) and raw.strip().replace(".", "", 1).isascii() and raw.strip().replace(".", "", 1).isdigit():
        raw = float(raw)  # plain seconds
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise BadRequest(f"interval: {exc}", 400, "interval") from None
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise BadRequest("interval: must be from 1s to 7d", 400, "interval")
    return seconds


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def routes(exporter: ExporterPort) -> list[Route]:
    return StatusRoutes(exporter).routes()
