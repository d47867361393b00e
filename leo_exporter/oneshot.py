"""What the one-shot commands (`export-csv`, `usage-report`) share: poll once, then write once.

`poll_once` runs the wanted jobs of every account of the config once, through the same
`Exporter` a running replica uses (so a one-shot answer parses, checks and derives exactly as a
scrape would see it), then reads one snapshot of the state. `deliver` writes that answer
atomically to a file or to stdout and turns the failures into the commands' common exit codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

import anyio
import httpx

from leo_exporter.app import Exporter
from leo_exporter.atomic import write_atomically
from leo_exporter.config import Config, ShardConfig
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers import providers
from leo_exporter.state import FleetState

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = 0, 1, 2
Answer = TypeVar("Answer")


async def poll_once(
    config: Config,
    wanted: Callable[[JobSpec], bool],
    snapshot: Callable[[FleetState], Answer],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    calendar: Callable[[], float] | None = None,
) -> tuple[Answer, list[str]]:
    """Run every enabled job whose spec `wanted` accepts once (accounts side by side, each account's
    identifying job first and always, since the others wait for it), render once (tags and
    online flags are applied as a scrape would see them) and return (`snapshot` of the state,
    failures as `job: error`). All accounts are polled whatever the config's shard says."""
    exporter = Exporter(config.model_copy(update={"shard": ShardConfig()}), transport=transport, calendar=calendar)
    calls = {name: {spec.name for spec in p.jobs if wanted(spec)} for name, p in providers().items()}
    failures: list[str] = []
    try:
        by_account: dict[str, list] = {}
        for job in exporter.scheduler.jobs.values():
            by_account.setdefault(job.status.account.name, []).append(job)

        async def run_account(jobs: list) -> None:
            gated = any(j.gate is not None for j in jobs)
            for job in sorted(jobs, key=lambda j: j.gate is not None):  # the identifying job first
                status = job.status
                identifying = gated and job.gate is None
                if not status.enabled or not (identifying or status.call in calls[status.account.provider]):
                    continue
                if job.gate is not None and not job.gate.is_set():
                    failures.append(f"{status.key}: not run, the account could not be identified")
                    continue
                ok, _ = await exporter.scheduler.run_once(job)
                if not ok:
                    failures.append(f"{status.key}: {status.last_error}")

        async with anyio.create_task_group() as tg:
            for jobs in by_account.values():
                tg.start_soon(run_account, jobs)
        await exporter.render_now()
        answer = await exporter.worker.run(lambda: snapshot(exporter.state))
    finally:
        await exporter.aclose()
    return answer, failures


def deliver(output: str, chunks: Iterable[bytes], written: str, failures: list[str]) -> int:
    """Write `chunks` to `output` (`-` or empty: stdout; a file: whole or not at all), print each
    failure and a one-line summary (`wrote <written>`) to stderr; returns the exit code."""
    to_stdout = output in ("-", "")
    try:
        if to_stdout:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        else:
            write_atomically(output, chunks)
    except OSError as exc:
        print(f"cannot write {output}: {exc.strerror}", file=sys.stderr)
        return EXIT_PARTIAL
    for failure in failures:
        print(f"job failed: {failure}", file=sys.stderr)
    where = "" if to_stdout else f" to {output}"
    failed = f"; {len(failures)} job(s) failed" if failures else ""
    print(f"wrote {written}{where}{failed}", file=sys.stderr)
    return EXIT_PARTIAL if failures else EXIT_OK
