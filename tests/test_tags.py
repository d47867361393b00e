"""Tags: the config's keys and rules, the CSV file, their order, and the `leo_*_tags` series."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.config import ConfigError
from leo_exporter.providers import load_config
from leo_exporter.state import AccountState
from leo_exporter.tags import LineView, TagRule, TagsFileError, TerminalView, read_tags_file, resolve
from tests.inprocess import poll_all, simulated_exporter

CONFIGS = Path(__file__).parent / "configs"
ROOT = Path(__file__).parent.parent

TERMINALS = [
    TerminalView("starlink", "north", "t1", kit_serial="KIT1", service_line="AST-1", name="MV Aurora"),
    TerminalView("starlink", "north", "t2", kit_serial="KIT2", service_line="AST-2", name="Site 2"),
    TerminalView("starlink", "north", "t3", kit_serial="KIT3", service_line="AST-2", name="Site 3"),
    TerminalView("oneweb", "polar", "359000000000001", service_line="SC-1", name="Nuuk UT1"),
]
LINES = [
    LineView("starlink", "north", "AST-1", name="Aurora line"),
    LineView("starlink", "north", "AST-2", name="Depot"),
    LineView("oneweb", "polar", "SC-1", name="Air Nuuk"),
]


def rules(*items: dict[str, object]) -> list[TagRule]:
    return [TagRule.model_validate(item) for item in items]


def config_problems(name: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / name, env={})
    return err.value.problems


# --------------------------------------------------------------------------- the config


def test_tag_keys_must_be_label_safe_and_rules_well_formed() -> None:
    assert config_problems("tags_problems.yml") == [
        "tags.keys: not label-safe: 'Customer', 'vessel-name' (lower-case letters, digits and _, starting with "
        "a letter, at most 40 characters); reserved (labels the info series already carry): account",
        "tags.rules[0].match: give at least one criterion (provider, account, terminal_id, kit_serial, ...)",
        "tags.rules[1].match.name: not a valid regular expression: missing ), unterminated subpattern at position 3",
    ]


def test_a_rule_setting_an_undeclared_key_is_rejected() -> None:
    assert config_problems("tags_unknown_key.yml") == ["tags: rules[1].set: unknown tag key colour; declared: customer"]


# --------------------------------------------------------------------------- the rules


def test_a_rule_on_a_line_tags_its_terminals_and_a_rule_on_a_terminal_its_line() -> None:
    res = resolve(
        rules(
            {"match": {"service_line": "AST-2"}, "set": {"customer": "Northwind"}},
            {"match": {"kit_serial": "KIT1"}, "set": {"customer": "Blue Line"}},
        ),
        [],
        TERMINALS,
        LINES,
    )
    assert res.terminals == {
        ("north", "t2"): {"customer": "Northwind"},
        ("north", "t3"): {"customer": "Northwind"},
        ("north", "t1"): {"customer": "Blue Line"},
    }
    assert res.lines == {("north", "AST-2"): {"customer": "Northwind"}, ("north", "AST-1"): {"customer": "Blue Line"}}
    assert res.rule_terminals == [2, 1]


def test_the_later_rule_wins_and_the_file_comes_after_the_rules() -> None:
    res = resolve(
        rules(
            {"match": {"account": "north"}, "set": {"customer": "Blue Line", "region": "north"}},
            {"match": {"name": "Site .*"}, "set": {"customer": "Northwind"}},
        ),
        [],
        TERMINALS,
        LINES,
    )
    assert {k: v["customer"] for k, v in res.terminals.items()} == {
        ("north", "t1"): "Blue Line",
        ("north", "t2"): "Northwind",
        ("north", "t3"): "Northwind",
    }
    assert res.terminals[("north", "t2")]["region"] == "north"  # the later rule set customer only


def test_file_rows_override_rules(tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_text("terminal_id,customer,vessel\nt2,Polar Air,\n")
    rows = read_tags_file(path, ["customer", "vessel"])
    res = resolve(rules({"match": {"account": "north"}, "set": {"customer": "Blue Line"}}), rows, TERMINALS, LINES)
    assert res.terminals[("north", "t2")] == {"customer": "Polar Air"}  # the empty vessel cell sets nothing
    assert res.lines[("north", "AST-2")] == {"customer": "Polar Air"}
    assert res.file_terminals == 1


def test_name_groups_fill_values_and_line_names_select_lines() -> None:
    res = resolve(
        rules(
            {"match": {"name": "MV (.+)"}, "set": {"vessel": "$1"}},
            {"match": {"provider": "oneweb", "line_name": "Air .*"}, "set": {"customer": "Polar Air"}},
        ),
        [],
        TERMINALS,
        LINES,
    )
    assert res.terminals == {
        ("north", "t1"): {"vessel": "Aurora"},
        ("polar", "359000000000001"): {"customer": "Polar Air"},
    }
    assert res.lines == {("north", "AST-1"): {"vessel": "Aurora"}, ("polar", "SC-1"): {"customer": "Polar Air"}}


# --------------------------------------------------------------------------- the file


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("terminal_id,customer\nt1,Blue\nt2\n", "line 3: 1 column(s), the header has 2"),
        ("terminal_id,colour\nt1,red\n", "line 1: unknown tag key colour; declared: customer"),
        ("name,customer\nx,Blue\n", "line 1: the first column must be one of terminal_id, kit_serial, service_line"),
        ("kit_serial,customer\nKIT1,A\n\nKIT1,B\n", "line 4: kit_serial KIT1 is already on line 2"),
        ("service_line,customer\n,Blue\n", "line 2: no service_line"),
        ("", "line 1: empty file; expected a header such as terminal_id,customer"),
    ],
)
def test_a_bad_row_names_the_file_and_the_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "tags.csv"
    path.write_text(text)
    with pytest.raises(TagsFileError) as err:
        read_tags_file(path, ["customer"])
    assert str(err.value) == f"{path} {error}"


def test_a_spreadsheet_export_with_a_bom_and_crlf_reads(tmp_path: Path) -> None:
    path = tmp_path / "tags.csv"
    path.write_bytes("\ufeffterminal_id,customer\r\nt1,Blåne Line\r\n".encode())
    (row,) = read_tags_file(path, ["customer"])
    assert (row.line, row.column, row.ident, row.tags) == (2, "terminal_id", "t1", {"customer": "Blåne Line"})


# --------------------------------------------------------------------------- the exporter


def tag_series(text: str, family: str) -> dict[str, dict[str, str]]:
    """identity -> the tag labels of each sample of `family`."""
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            for s in fam.samples:
                ident = s.labels.get("terminal_id") or s.labels["service_line"]
                out[ident] = {k: v for k, v in s.labels.items() if k.startswith("tag_")}
    return out


def value(text: str, name: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return s.value
    return None


@pytest.mark.anyio
async def test_the_exporter_serves_tags_and_follows_the_file(tmp_path: Path) -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=6)
    await poll_all(exporter)
    assert exporter.exposition is not None
    text = exporter.exposition.plain.decode()
    demo = tag_series(text, "leo_terminal_tags")
    starlink = [t for t in exporter.state.accounts["sim-starlink-1"].terminals.attrs]
    assert {demo[t]["tag_customer"] for t in starlink} == {"Blue Line"}  # the demo's account rule
    before = {
        line: (fam.name, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if (line := s.labels.get("terminal_id")) == starlink[0] and not fam.name.endswith("_tags")
    }

    # the file: read at the next rendering, its row wins over the demo's rule
    path = tmp_path / "tags.csv"
    path.write_text(f"terminal_id,customer\n{starlink[0]},Acme Shipping\n")
    config = exporter.config.model_copy(update={"tags_file": str(path)})
    await exporter.reload(config)
    text = (await exporter.render_now()).plain.decode()
    assert tag_series(text, "leo_terminal_tags")[starlink[0]]["tag_customer"] == "Acme Shipping"
    line = exporter.state.accounts["sim-starlink-1"].terminals.attrs[starlink[0]]["service_line"]
    assert tag_series(text, "leo_service_line_tags")[line]["tag_customer"] == "Acme Shipping"
    assert value(text, "leo_exporter_tags_file_last_load_successful") == 1.0
    after = {
        line: (fam.name, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if (line := s.labels.get("terminal_id")) == starlink[0] and not fam.name.endswith("_tags")
    }
    assert set(after) == set(before)  # no other series of the terminal changed its labels

    # a changed modification time re-reads it; a bad row keeps the last good tags
    path.write_text(f"terminal_id,customer\n{starlink[0]},Acme Shipping\n{starlink[1]}\n")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    text = (await exporter.render_now()).plain.decode()
    assert value(text, "leo_exporter_tags_file_last_load_successful") == 0.0
    assert "line 3: 1 column(s), the header has 2" in exporter.tagging.error
    assert tag_series(text, "leo_terminal_tags")[starlink[0]]["tag_customer"] == "Acme Shipping"

    path.write_text(f"terminal_id,customer\n{starlink[1]},Zephyr Air\n")
    os.utime(path, ns=(1, 3_000_000_000_000_000_000))
    text = (await exporter.render_now()).plain.decode()
    tags = tag_series(text, "leo_terminal_tags")
    assert tags[starlink[0]]["tag_customer"] == "Blue Line"  # back to the rule
    assert tags[starlink[1]]["tag_customer"] == "Zephyr Air"
    assert value(text, "leo_exporter_tags_file_last_load_successful") == 1.0


def test_check_config_counts_terminals_per_rule_and_refuses_a_bad_file(tmp_path: Path) -> None:
    exposition = tmp_path / "metrics.prom"
    exposition.write_text(
        "# TYPE leo_terminal_info gauge\n"
        'leo_terminal_info{provider="starlink",account="fleet-north",terminal_id="t1",name="MV Aurora",'
        'service_line="AST-1"} 1\n'
        'leo_terminal_info{provider="starlink",account="fleet-north",terminal_id="t2",name="Site 2",'
        'service_line="AST-2"} 1\n'
        'leo_terminal_info{provider="starlink",account="fleet-north",terminal_id="t3",name="Site 3",'
        'service_line="AST-2"} 1\n'
    )
    tags = tmp_path / "tags.csv"
    tags.write_text("terminal_id,customer\nt3,Polar Air\n")
    config = tmp_path / "config.yml"
    config.write_text((CONFIGS / "tags_valid.yml").read_text().replace("TAGS_PATH", str(tags)))

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "leo_exporter", "check-config", "--config.file", str(config), *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    good = run("--tags.metrics", str(exposition))
    assert good.returncode == 0, good.stderr
    assert "rule 1 (account=fleet-north) sets customer=Blue Line: 3 terminal(s)" in good.stdout
    assert "rule 2 (name=MV (.+)) sets vessel=$1: 1 terminal(s)" in good.stdout
    assert "rule 3 (service_line=AST-2) sets customer=Northwind: 2 terminal(s)" in good.stdout
    assert f"file {tags}: 1 row(s): 1 terminal(s)" in good.stdout

    tags.write_text("terminal_id,customer\nt3\n")
    bad = run()
    assert bad.returncode == 2
    assert f"tags_file: {tags} line 2: 1 column(s), the header has 2" in bad.stderr


def test_a_departed_terminal_loses_its_tags_and_the_others_keep_theirs() -> None:
    """A table's tags are replaced whole by the tagger; a terminal that leaves the inventory in
    between loses its `leo_terminal_tags` series at once, and an untagged table has none."""
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    terminals, lines = account.terminals, account.service_lines
    terminals.replace_inventory({"t1": {}, "t2": {}})
    lines.replace_inventory({"AST-1": {}})
    terminals.set_tags({"t1": [("tag_customer", "Northwind")], "t2": [("tag_customer", "Blue Line")]})
    terminals.replace_inventory({"t2": {}})  # t1 leaves before the tagger runs again
    lines.drop("AST-1")  # never tagged
    assert dict(terminals.tags) == {"t2": ',tag_customer="Blue Line"'}
    assert dict(terminals.tag_pairs) == {"t2": (("tag_customer", "Blue Line"),)}
    assert dict(lines.tags) == dict(lines.tag_pairs) == {}
