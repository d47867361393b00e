"""Providers measure through the catalogue's typed handles, and only the state turns them into
Prometheus text: a measurement that fits no family raises in tests and is counted and logged once
in production; and no provider module holds a metric name or builds label text itself."""

from __future__ import annotations

import ast
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leo_exporter import catalog
from leo_exporter.providers.oneweb import families
from leo_exporter.records import TelemetryColumns
from leo_exporter.state import STRICT_ENV, AccountState, FleetState, InvalidMeasurement
from tests.conftest import render

PROVIDERS = Path(__file__).parent.parent / "leo_exporter" / "providers"
METRIC_NAME = re.compile(r"^leo_[a-z0-9_]*$")  # a family name, or the start of one built in an f-string
LABEL_TEXT = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*="')  # `name="`: a hand-built label fragment
ESCAPING = re.compile(r"\b(escape_label|label_fragment|checked_fragment)\b")


def fleet() -> tuple[FleetState, AccountState]:
    state = FleetState(lambda: 1_800_000_000.0)
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=False)
    state.add_account(account)
    return state, account


def samples(state: FleetState, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = render(state).plain.decode()
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def misspelt() -> Any:
    """A handle that looks right but is not the catalogue's (as a copy-pasted spec with a typo would be)."""
    return dataclasses.replace(families.TERMINAL_SINR_DECIBELS, name="leo_terminal_sinr_db")


def bad_measurements(account: AccountState) -> list[tuple[str, Any]]:
    """Each way a measurement can miss the catalogue, as a call the type checker would refuse."""
    t: Any = account.terminals  # Any: these are the calls mypy rejects; the state must refuse them too
    a: Any = account
    return [
        ("a name instead of a handle", lambda: t.set("leo_terminal_uptime_seconds", "T1", 1.0)),
        ("a handle not in the catalogue", lambda: t.set(misspelt(), "T1", 1.0)),
        ("a router family for a terminal", lambda: t.set(catalog.ROUTER_UPTIME_SECONDS, "T1", 1.0)),
        ("an account family for a terminal", lambda: t.set(catalog.ACCOUNT_ACTIVE_SUSPENSIONS, "T1", 1.0)),
        ("labels missing", lambda: t.set(catalog.TERMINAL_ALERT, "T1", 1.0)),
        ("labels where there are none", lambda: t.set_labelled(catalog.TERMINAL_ONLINE, "T1", {("x",): 1.0})),
        ("one label value too few", lambda: t.set_labelled(catalog.TERMINAL_IP_INFO, "T1", {("ipv4",): 1.0})),
        ("one label value too many", lambda: t.set_labelled(catalog.TERMINAL_ALERT, "T1", {("a", "b"): 1.0})),
        (
            "a mapping with a wrong label name",
            lambda: t.set_labelled(catalog.TERMINAL_ALERT, "T1", [({"alarm": "x"}, 1.0)]),
        ),
        (
            "a mapping with an extra label",
            lambda: t.set_labelled(catalog.TERMINAL_ALERT, "T1", [({"alert": "x", "kind": "y"}, 1.0)]),
        ),
        ("an info family given values", lambda: t.set(catalog.TERMINAL_INFO, "T1", 1.0)),
        ("a terminal family counted on the account", lambda: a.count(catalog.TERMINAL_ONLINE, ())),
        ("a counter without its labels", lambda: a.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/account",))),
        ("a labelled account value", lambda: a.set_value(catalog.ACCOUNT_BALANCE_DUE, 1.0)),
        (
            "telemetry of a router family for terminals",
            lambda: t.apply_columns(
                TelemetryColumns(["T1"], [1.0], measures={catalog.ROUTER_MESH_HOPS: [1.0]}), catalog.TERMINAL_ALERT
            ),
        ),
        (
            "telemetry with the wrong alert family",
            lambda: t.apply_columns(TelemetryColumns(["T1"], [1.0], alerts=[("x",)]), catalog.ROUTER_ALERT),
        ),
    ]


@pytest.mark.parametrize("index", range(len(bad_measurements(fleet()[1]))))
def test_a_measurement_that_misses_the_catalogue_raises_in_tests(index: int) -> None:
    _, account = fleet()
    _, call = bad_measurements(account)[index]
    with pytest.raises(InvalidMeasurement):
        call()


def test_valid_measurements_in_both_label_forms_render_the_same_text() -> None:
    state, account = fleet()
    account.terminals.set_labelled(catalog.TERMINAL_IP_INFO, "T1", {("ipv4", 'a"b\\c'): 1.0})
    account.terminals.set_labelled(catalog.TERMINAL_IP_INFO, "T2", [({"address": 'a"b\\c', "kind": "ipv4"}, 1.0)])
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, {"code": "200", "endpoint": "/x"})
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/x", "200"))
    text = render(state).plain.decode()
    assert 'terminal_id="T1",kind="ipv4",address="a\\"b\\\\c"} 1.0' in text
    assert 'terminal_id="T2",kind="ipv4",address="a\\"b\\\\c"} 1.0' in text
    assert 'leo_exporter_api_requests_total{provider="starlink",account="north",endpoint="/x",code="200"} 2.0' in text


def test_in_production_a_bad_measurement_is_dropped_counted_and_logged_once_per_family(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV)
    state, account = fleet()
    assert samples(state, "leo_exporter_invalid_measurements_total") == {}  # absent while all is well
    caplog.set_level(logging.ERROR, logger="leo_exporter.state")
    for _ in range(3):
        account.terminals.set(misspelt(), "T1", -3.5)
    account.terminals.set(catalog.ROUTER_UPTIME_SECONDS, "T1", 10.0)
    account.terminals.set_labelled(catalog.TERMINAL_ALERT, "T1", {("a", "b"): 1.0})
    account.terminals.set(catalog.TERMINAL_UPTIME_SECONDS, "T1", 7.0)  # the good one still lands

    counted = samples(state, "leo_exporter_invalid_measurements_total")
    assert {dict(labels)["family"]: value for labels, value in counted.items()} == {
        "leo_terminal_sinr_db": 3.0,
        "leo_router_uptime_seconds": 1.0,
        "leo_terminal_alert": 1.0,
    }
    assert {dict(labels)["account"] for labels in counted} == {"north"}
    assert list(samples(state, "leo_terminal_uptime_seconds").values()) == [7.0]
    for dropped in ("leo_terminal_sinr_db", "leo_router_uptime_seconds", "leo_terminal_alert"):
        assert samples(state, dropped) == {}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3  # once per family, not once per measurement
    assert any("leo_terminal_sinr_db is not in the catalogue" in m for m in logged)
    assert any("leo_router_uptime_seconds is a router family, given for a terminal" in m for m in logged)
    assert any("2 label value(s) given for the labels alert" in m for m in logged)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal but docstrings (prose may quote `kind="alert"`), f-string parts included,
    with its line."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_no_provider_module_holds_a_metric_name_or_builds_label_text() -> None:
    found = []
    # a provider's simulator/ plays the provider's API (HTTP headers like `Bearer error="…"`), it never
    # writes to the state; its families.py declares the families only it sets (Provider.families), the
    # one module that names them; everything else under providers/ is held to the rule
    files = sorted(
        p
        for p in PROVIDERS.rglob("*.py")
        if "simulator" not in p.relative_to(PROVIDERS).parts and p.name != "families.py"
    )
    assert len(files) > 20
    for path in files:
        source = path.read_text()
        where = path.relative_to(PROVIDERS.parent.parent)
        for lineno, text in _strings(ast.parse(source)):
            if METRIC_NAME.match(text):
                found.append(f"{where}:{lineno}: metric name {text!r} (use the handle in leo_exporter.catalog)")
            if LABEL_TEXT.search(text):
                found.append(f"{where}:{lineno}: label text {text!r} (hand label values to the state)")
        for lineno, line in enumerate(source.splitlines(), 1):
            if ESCAPING.search(line):
                found.append(f"{where}:{lineno}: label escaping {line.strip()!r} (the state escapes)")
    assert found == []


def test_the_check_finds_what_it_looks_for() -> None:
    """The scan above would see the habits it forbids (so its silence means something)."""
    source = '''"""Doc: kind="alert"."""
x = f"leo_terminal_{d}_bytes"
y = f'band="{b}"'
z = "leo_terminal_online"
'''
    texts = [text for _, text in _strings(ast.parse(source))]
    assert sum(bool(METRIC_NAME.match(t)) for t in texts) == 2
    assert sum(bool(LABEL_TEXT.search(t)) for t in texts) == 1
    assert ESCAPING.search("from leo_exporter.state import escape_label")
    assert not METRIC_NAME.match("leo_exporter.providers")  # the entry-point group is not a family


def test_providers_use_only_the_states_public_classes() -> None:
    """Providers reach the state through its tables and accounts (typed by these classes), never
    through its helpers (escaping, label text) or storage; import-linter cannot tell names apart."""
    public = {"AccountState", "EntityTable", "StateWorker"}
    imported: dict[str, set[str]] = {}
    for path in sorted(PROVIDERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "leo_exporter.state":
                imported.setdefault(str(path.relative_to(PROVIDERS)), set()).update(a.name for a in node.names)
            if isinstance(node, ast.Import) and any(a.name == "leo_exporter.state" for a in node.names):
                imported.setdefault(str(path.relative_to(PROVIDERS)), set()).add("*module*")
    assert imported, "the providers should type their state handles"
    assert {where: names - public for where, names in imported.items() if names - public} == {}
