"""A job is declared once, as a `JobSpec` in its provider's folder: what repeats its name (the
rules' and Alertmanager's terminal-state regex, the docs' job tables, the config's defaults and
accepted keys, the CSV export's skips, the status API) is generated from it or held to it here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from leo_exporter.app import Exporter
from leo_exporter.catalog import COLLECTORS, DEFAULT_OFF
from leo_exporter.config import ConfigError
from leo_exporter.durations import format_duration
from leo_exporter.jobspec import JobSpec, by_name
from leo_exporter.providers import built_in, parse_config
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW
from tests.inprocess import SIM_URL, simulated_exporter

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.anyio


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_jobs", ROOT / "scripts" / "gen-jobs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str, after: str) -> list[list[str]]:
    """The cells of the first Markdown table after the line starting with `after`."""
    lines = text[text.index(after) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_generated_rules_alertmanager_and_job_table_are_current() -> None:
    gen = generator()
    stale = [str(path.relative_to(ROOT)) for path, text in gen.rendered(built_in()).items() if path.read_text() != text]
    assert stale == [], f"{stale} out of date: run `python3 scripts/gen-jobs.py`"


def test_the_terminal_state_regex_is_the_jobs_that_say_so() -> None:
    gen = generator()
    regex = gen.terminal_state_regex(built_in())
    rules = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert sorted(gen.stale_regexes(rules)) == [("!~", regex), ("=~", regex)]
    assert gen.inhibition_regexes(gen.ALERTMANAGER.read_text()) == [f'call=~"{regex}"']
    for provider in built_in().values():
        for job in provider.jobs:
            # the `call` label is shared across providers: a name is terminal state on all or none
            assert bool(re.fullmatch(regex, job.name)) == job.terminal_state, job.name


def test_a_new_terminal_state_job_changes_the_regex_where_it_is_used() -> None:
    """The generator rewrites the regex wherever the rules and Alertmanager use it, and nothing else."""
    gen = generator()
    text = 'a{call=~"telemetry|x"} b{call!~"telemetry|x"} c{call=~"data_usage"}'
    assert gen._replace_calls(text, {"telemetry|x"}, "telemetry|dishes") == (
        'a{call=~"telemetry|dishes"} b{call!~"telemetry|dishes"} c{call=~"data_usage"}'
    )


def test_every_job_feeds_known_collector_groups_and_is_named_once() -> None:
    for name, provider in built_in().items():
        assert list(by_name(provider.jobs)) == [job.name for job in provider.jobs]
        for job in provider.jobs:
            assert job.collectors <= set(COLLECTORS), f"{name} {job.name}: {job.collectors - set(COLLECTORS)}"
    spec = JobSpec(name="a", interval=1.0, timeout=1.0, collectors=frozenset(), terminal_state=False)
    with pytest.raises(ValueError, match="'a' is declared twice"):
        by_name([spec, spec])


def test_the_config_takes_its_defaults_and_keys_from_the_specs() -> None:
    config = parse_config(
        {"accounts": [{"provider": "kognitive", "name": "k", "auth_key": "x", "api_url": "http://x"}]}
    )
    resolved = {job.name: (job.interval, job.timeout) for job in config.accounts[0].resolved_jobs()}
    specs = built_in()["kognitive"].jobs
    assert resolved == {job.name: (job.interval, max(job.timeout, 30.0)) for job in specs}
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"accounts": [{"provider": "kognitive", "auth_key": "x", "api_url": "http://x", "jobs": {"t": {}}}]}
        )
    assert err.value.problems == [
        f"accounts[0].jobs: unknown job t; this provider has: {', '.join(job.name for job in specs)}"
    ]


def test_the_starlink_job_table_of_the_readme_is_the_specs() -> None:
    rows = table_rows((ROOT / "README.md").read_text(), "Jobs and the service-account permission each needs")
    expected = [[f"`{job.name}`", format_duration(job.interval), job.permission] for job in built_in()["starlink"].jobs]
    assert [[row[0], row[1], row[3]] for row in rows] == expected


@pytest.mark.parametrize(("provider", "interval_column"), [("kognitive", 2), ("oneweb", 1)])
def test_a_provider_page_job_table_is_its_specs(provider: str, interval_column: int) -> None:
    rows = table_rows((ROOT / "docs" / "providers" / f"{provider}.md").read_text(), "## Jobs")
    expected = [[f"`{job.name}`", format_duration(job.interval)] for job in built_in()[provider].jobs]
    assert [[row[0], row[interval_column]] for row in rows] == expected


async def test_every_driver_runs_exactly_its_providers_jobs_in_order() -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=2)
    try:
        calls: dict[str, list[str]] = {}
        for job in exporter.scheduler.jobs.values():
            calls.setdefault(job.status.account.provider, []).append(job.status.call)
        assert calls == {name: [job.name for job in p.jobs] for name, p in built_in().items()}
    finally:
        await exporter.aclose()


async def test_a_job_whose_groups_are_all_off_is_not_run() -> None:
    """`JobSpec.collectors`: switching off `usage` disables exactly the jobs that only feed usage."""
    app = build_app(accounts=1, terminals=2, now=SIMULATED_NOW)
    data = demo_config(SIM_URL, app)
    exporter = Exporter(parse_config({**data, "collectors": {"usage": False}}))
    try:
        off = {
            (j.status.account.provider, j.status.call) for j in exporter.scheduler.jobs.values() if not j.status.enabled
        }
        off_groups = {"usage"} | DEFAULT_OFF  # the groups off by default are off here too
        expected = {(n, job.name) for n, p in built_in().items() for job in p.jobs if job.collectors <= off_groups}
        assert off == expected
        assert ("starlink", "data_usage") in off
    finally:
        await exporter.aclose()
