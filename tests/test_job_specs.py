"""A job is declared once, as a `JobSpec` in its provider's folder: what repeats its name (the
rules' and Alertmanager's terminal-state regex, the docs' job tables, the config's defaults and
accepted keys, the CSV export's skips, the status API) is generated from it or held to it here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from leo_exporter.catalog import COLLECTORS
from leo_exporter.config import ConfigError, parse_config
from leo_exporter.durations import format_duration
from leo_exporter.jobspec import JobSpec, by_name
from leo_exporter.providers import built_in

ROOT = Path(__file__).resolve().parent.parent


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
