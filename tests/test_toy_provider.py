"""The provider boundary is a fact: LunarLink (tests/toy_provider.py), a provider that exists only
in tests, is installed the way a third-party package installs one (a `*.dist-info` with an entry
point in the `leo_exporter.providers` group, on sys.path) and then shows up everywhere a built-in
one does: `check-config`, the simulator and its fault book, `/metrics` and `/api/jobs`, with no
file under leo_exporter/ naming it. What it brings of its own (a job, a metric family, a fault
mode) works end to end, and uninstalling it leaves the catalogue as the built-in providers make it.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from leo_exporter import catalog
from leo_exporter.actions.commands import actions
from leo_exporter.app import Exporter
from leo_exporter.cli import build_parser
from leo_exporter.providers import GROUP, built_in_catalog, parse_config, providers
from leo_exporter.simulator.app import build_app, demo_config
from tests.conftest import SIMULATED_NOW
from tests.inprocess import SIM_URL, front_client, poll_all
from tests.processes import run_module, wait_for

ROOT = Path(__file__).resolve().parent.parent
NAME = "lunarlink"
pytestmark = pytest.mark.anyio


def install(site: Path) -> Path:
    """What `pip install leo-lunarlink` would leave in site-packages, minus the code (it lives in tests/)."""
    dist = site / "leo_lunarlink-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leo-lunarlink\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{NAME} = tests.toy_provider:PROVIDER\n")
    return site


def forget_registry() -> None:
    """The registry is read once per process: read it again."""
    importlib.invalidate_caches()
    providers.cache_clear()
    actions.cache_clear()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """LunarLink installed in this process, and uninstalled afterwards."""
    monkeypatch.syspath_prepend(str(install(tmp_path / "site")))
    forget_registry()
    providers()  # read with it, as a process that starts with it installed does
    yield tmp_path / "site"
    monkeypatch.undo()
    forget_registry()
    providers()  # read again without it: the catalogue loses its family


def child_env(site: Path) -> dict[str, str]:
    """A child process that sees LunarLink installed (and this checkout, for `tests.toy_provider`)."""
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def test_no_file_under_exporter_names_the_toy_provider() -> None:
    named = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "leo_exporter").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and NAME in path.read_bytes().decode(errors="replace")
    ]
    assert named == []


def test_the_registry_finds_it_through_the_entry_point_group(site: Path) -> None:
    registry = providers()
    assert NAME in registry and {"starlink", "kognitive", "oneweb"} <= set(registry)
    assert registry[NAME].config_model.__module__ == "tests.toy_provider"
    assert "tests.toy_provider" in sys.modules


def test_its_family_joins_the_catalogue_while_it_is_installed(site: Path) -> None:
    from tests.toy_provider import TERMINAL_DUST_COVER_RATIO

    assert catalog.BY_NAME["leo_terminal_dust_cover_ratio"] is TERMINAL_DUST_COVER_RATIO
    assert TERMINAL_DUST_COVER_RATIO.collector == "terminal"
    # after the built-in providers' families, before the exporter's own figures
    names = [spec.name for spec in catalog.CATALOG]
    assert (
        names.index("leo_site_info") < names.index("leo_terminal_dust_cover_ratio") < names.index("leo_exporter_job_up")
    )


def test_uninstalled_it_leaves_the_catalogue_as_the_built_in_providers_make_it(tmp_path: Path) -> None:
    before = list(catalog.CATALOG)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(install(tmp_path / "site")))
        forget_registry()
        providers()
        assert "leo_terminal_dust_cover_ratio" in catalog.BY_NAME
    forget_registry()
    providers()
    assert before == catalog.CATALOG
    assert "leo_terminal_dust_cover_ratio" not in catalog.BY_NAME


def test_a_provider_whose_jobs_or_families_cannot_work_is_refused_when_the_registry_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in a plug-in's JobSpec or family is said at start, naming the provider and job."""
    import dataclasses

    from leo_exporter.jobspec import JobSpec
    from tests import toy_provider

    monkeypatch.syspath_prepend(str(install(tmp_path / "site")))
    bad_job = JobSpec(name="dishes", interval=1.0, timeout=1.0, collectors=frozenset({"dish"}), terminal_state=True)
    account = type("Broken", (toy_provider.LunarLinkAccount,), {"JOBS": (bad_job,)})
    cases = [
        (dataclasses.replace(toy_provider.PROVIDER, config_model=account), "job dishes: unknown collector dish"),
        (
            dataclasses.replace(toy_provider.PROVIDER, families=(catalog.TERMINAL_ONLINE,)),
            "leo_terminal_online is declared twice",
        ),
    ]
    try:
        for broken, message in cases:
            monkeypatch.setattr(toy_provider, "PROVIDER", broken)
            importlib.invalidate_caches()
            providers.cache_clear()
            with pytest.raises(RuntimeError, match=message):
                providers()
    finally:
        monkeypatch.undo()
        importlib.invalidate_caches()
        providers.cache_clear()
        providers()
    assert NAME not in providers()


async def test_installed_it_changes_no_test_of_ours(site: Path) -> None:
    """The golden exposition, docs/metrics.md and the schema are pinned to the built-in providers:
    with LunarLink installed (and its family in the catalogue) they hold as committed."""
    from leo_exporter.metric_schema import build, dumps, observe
    from tests import test_docs_metrics, test_golden_exposition
    from tests.inprocess import simulated_exporter

    assert "leo_terminal_dust_cover_ratio" in catalog.BY_NAME
    assert await test_golden_exposition.exposition() == test_golden_exposition.GOLDEN.read_text()
    test_docs_metrics.test_every_catalogued_metric_is_documented_with_its_type_and_labels()
    exporter, app = simulated_exporter(accounts=2, terminals=30, every_collector=True)  # as the schema is made
    assert NAME not in app.state.simulators
    try:
        await poll_all(exporter)
        assert exporter.exposition is not None
        observed = observe(exporter.exposition.plain.decode())
    finally:
        await exporter.aclose()
    schema = (ROOT / "docs" / "metrics-schema.json").read_text()
    assert dumps(build(observed, built_in_catalog())) == schema


def test_the_simulator_command_takes_its_option(site: Path) -> None:
    args = build_parser().parse_args(["simulator", "--lunarlink-dishes", "5"])
    assert args.lunarlink_dishes == 5


async def test_it_is_simulated_polled_and_served_like_a_built_in_provider(site: Path) -> None:
    app = build_app(accounts=2, terminals=8, now=SIMULATED_NOW, lunarlink_dishes=4)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SIM_URL) as sim:
        assert "LunarLink (a toy of the tests): /lunarlink/dishes" in (await sim.get("/")).text
        served = yaml.safe_load((await sim.get("/exporter-config.yml")).text)["accounts"]
    config = demo_config(SIM_URL, app)
    assert config["accounts"] == served
    lunar = [a for a in config["accounts"] if a["provider"] == NAME]
    assert [a["name"] for a in lunar] == ["lunar-1", "lunar-2"]
    assert config["accounts"][-2:] == lunar, "after the built-in providers (demo_position)"

    exporter = Exporter(parse_config(config), transport=httpx.ASGITransport(app=app))
    try:
        await poll_all(exporter)
        text = (await exporter.render_now()).plain.decode()
        async with front_client(exporter) as web:  # the front's app, as users reach it (tests/inprocess.py)
            jobs = (await web.get("/api/jobs")).json()["jobs"]
            scraped = (await web.get("/metrics")).text
        # its own fault mode, set at the simulator's control, acted on by its simulator
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SIM_URL) as sim:
            set_ = await sim.post("/_sim/faults", json={"provider": NAME, "account": "1", "mode": "eclipse"})
            assert set_.status_code == 200, set_.text
        await poll_all(exporter)
        eclipsed = (await exporter.render_now()).plain.decode()
    finally:
        await exporter.aclose()
    assert 'leo_terminal_online{provider="lunarlink",account="lunar-1",terminal_id="LL-1-1"} 0' in eclipsed
    assert 'leo_terminal_online{provider="lunarlink",account="lunar-2",terminal_id="LL-2-1"} 1' in eclipsed
    for text_ in (text, scraped):
        assert 'leo_terminal_online{provider="lunarlink",account="lunar-1",terminal_id="LL-1-1"} 1' in text_
        assert 'leo_terminal_online{provider="lunarlink",account="lunar-2",terminal_id="LL-2-4"} 0' in text_
        assert 'leo_terminal_info{provider="lunarlink",account="lunar-2",terminal_id="LL-2-3",name="dish 3"} 1' in text_
        assert 'leo_exporter_job_up{provider="lunarlink",account="lunar-1",call="dishes"} 1.0' in text_
        # its own family, with the HELP it declares
        assert 'leo_terminal_dust_cover_ratio{provider="lunarlink",account="lunar-2",terminal_id="LL-2-3"} 0.3' in text_
        assert "# HELP leo_terminal_dust_cover_ratio Fraction of the dish's surface covered" in text_
    ours = [job for job in jobs if job["provider"] == NAME]
    assert [(j["account"], j["call"], j["up"]) for j in ours] == [
        ("lunar-1", "dishes", True),
        ("lunar-2", "dishes", True),
    ]
    assert ours[0]["interval_seconds"] == 300.0  # its own default (the demo intervals are the CLI's)
    # what its JobSpec says, in the status API
    assert (ours[0]["collectors"], ours[0]["terminal_state"], ours[0]["permission"]) == (
        ["terminal"],
        True,
        "dishes:read",
    )


async def test_its_faults_come_from_the_shared_fault_book(site: Path) -> None:
    app = build_app(accounts=1, terminals=4, now=SIMULATED_NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SIM_URL) as sim:
        refused = await sim.post("/_sim/faults", json={"provider": NAME, "account": "1", "mode": "behind"})
        assert refused.status_code == 400
        assert refused.json()["error"] == "mode 'behind' does not exist for lunarlink: LunarLink has no stream"
        refused = await sim.post("/_sim/faults", json={"provider": NAME, "account": "1", "mode": "expired_token"})
        assert "does not exist for lunarlink: its simulator does not act on it" in refused.json()["error"]
        # its own mode: listed, taken for it, refused for a provider that does not have it
        listed = (await sim.get("/_sim/faults")).json()["modes"]
        assert listed["eclipse"].startswith("LunarLink: every dish")
        refused = await sim.post("/_sim/faults", json={"provider": "starlink", "account": "1", "mode": "eclipse"})
        assert refused.json()["error"] == "mode 'eclipse' does not exist for starlink: its simulator does not act on it"
        refused = await sim.post("/_sim/faults", json={"provider": NAME, "account": "1", "mode": "eclipse", "ttl": 1})
        assert refused.json()["error"].startswith("unknown parameter(s) ttl")
        set_ = await sim.post(
            "/_sim/faults", json={"provider": NAME, "account": "1", "mode": "server_error", "count": 1}
        )
        assert set_.status_code == 200
        headers = {"Authorization": "Bearer lunar-token-1"}
        assert (await sim.get("/lunarlink/dishes", headers=headers)).status_code == 503
        assert (await sim.get("/lunarlink/dishes", headers=headers)).status_code == 200
        counted = (await sim.get("/_sim/faults")).json()["requests"][NAME]["1"]
        assert counted["byStatus"] == {"503": 1, "200": 1}


@pytest.mark.e2e
def test_check_config_knows_it_in_a_fresh_process(site: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(
        "accounts:\n"
        "- {provider: lunarlink, name: moon, token: lunar-secret, api_url: 'https://api.lunar.example'}\n"
        "- {provider: lunarlink, name: far-side, token: other-secret, api_url: 'https://api.lunar.example',\n"
        "   jobs: {dishes: {interval: 1m}}}\n"
    )
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "accounts:\n- {provider: lunarlink, name: moon, token: lunar-secret, api_url: 'https://x', dish: 1}\n"
    )
    command = [sys.executable, "-m", "leo_exporter", "check-config", "--config.file"]
    env = {**os.environ, **child_env(site)}
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "- lunarlink account 'moon' at https://api.lunar.example" in ok.stdout
    assert "    dishes: every 5m, timeout 30s" in ok.stdout
    assert "    dishes: every 1m, timeout 30s" in ok.stdout
    assert "lunar-secret" not in ok.stdout + ok.stderr
    refused = subprocess.run([*command, str(bad)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert refused.returncode == 2
    assert "accounts[0].dish: unknown key" in refused.stderr


@pytest.mark.e2e
def test_the_demo_exporter_simulates_polls_and_serves_it(site: Path, tmp_path: Path) -> None:
    """`leo-exporter` without a config, in a fresh process: the built-in simulator mounts LunarLink
    too, the demo config polls it at its demo interval, and a scrape shows its dishes."""
    with run_module(["--simulator.accounts", "1", "--simulator.terminals", "8"], tmp_path / "log",
                    env=child_env(site)) as exporter:  # fmt: skip
        wait_for(f"{exporter.url}/readyz", exporter, timeout=90)
        text = httpx.get(f"{exporter.url}/metrics", timeout=30).text
        jobs = httpx.get(f"{exporter.url}/api/jobs", timeout=10).json()["jobs"]
    assert 'leo_terminal_online{provider="lunarlink",account="lunar-1",terminal_id="LL-1-3"} 1' in text
    (dishes,) = [job for job in jobs if job["provider"] == NAME]
    assert dishes["call"] == "dishes" and dishes["up"] is True
    assert dishes["interval_seconds"] == 5.0  # JobSpec.demo_interval


def test_adding_it_touched_its_own_files_only() -> None:
    """The measure of docs/adding-a-provider.md: a provider with a job, a family and a fault mode of
    its own is its code, its test and its docs page (and one entry-point line, which `install`
    writes here); no other tracked file names it, its family or its fault mode."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, timeout=30, check=True)
    names = (NAME, "leo_terminal_dust_cover_ratio", "eclipse")
    touched = {
        path
        for path in tracked.stdout.splitlines()
        if (ROOT / path).is_file() and any(n in (ROOT / path).read_bytes().decode(errors="replace") for n in names)
    }
    assert touched == {"tests/toy_provider.py", "tests/test_toy_provider.py", "docs/adding-a-provider.md"}


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_code_docs_adding_a_provider_quotes_is_the_toy_providers(tmp_path: Path) -> None:
    """Every Python block of the page is a run of whole lines of tests/toy_provider.py, and its
    entry-point block registers what `install` does: the page cannot go stale."""
    page = (ROOT / "docs" / "adding-a-provider.md").read_text()
    source = (ROOT / "tests" / "toy_provider.py").read_text()
    blocks = code_blocks(page, "python")
    assert len(blocks) >= 7
    lines = [line for line in source.splitlines() if line.strip()]
    for block in blocks:
        # whole lines in a row, blank lines aside and dedented as a whole (ruff formats the page's
        # blocks as modules of their own)
        wanted = [line for line in textwrap.dedent(block).splitlines() if line.strip()]
        runs = (lines[i : i + len(wanted)] for i in range(len(lines) - len(wanted) + 1))
        quoted = any(textwrap.dedent("\n".join(run)).splitlines() == wanted for run in runs)
        assert quoted, f"not in tests/toy_provider.py:\n{block}"
    (toml,) = code_blocks(page, "toml")
    assert toml == f'[project.entry-points."{GROUP}"]\n{NAME} = "tests.toy_provider:PROVIDER"\n'
    written = (install(tmp_path / "site") / "leo_lunarlink-1.0.dist-info" / "entry_points.txt").read_text()
    assert written == toml.replace('"', "").replace("project.entry-points.", "")
