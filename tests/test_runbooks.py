"""Every alert links its runbook, and the runbook has a section for it (docs/runbooks.md)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types

import pytest
import yaml

from tests.promstack import REPO, alerting_rules

RUNBOOKS = REPO / "docs" / "runbooks.md"


def github_anchors(markdown: str) -> dict[str, str]:
    """Heading anchors as GitHub renders them (lower case, punctuation dropped, spaces to dashes)."""
    anchors = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors[anchor] = heading
    return anchors


def sections(markdown: str) -> dict[str, str]:
    """Alert-level sections (###) by heading, with their text."""
    parts = re.split(r"^### +(\S+) *$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: r["alert"])
def test_every_alert_links_its_runbook_section(rule: dict) -> None:
    url = rule["annotations"].get("runbook_url", "")
    assert url == f"docs/runbooks.md#{rule['alert'].lower()}", f"{url!r}: run scripts/add-runbook-urls.py"
    anchor = url.partition("#")[2]
    assert anchor in github_anchors(RUNBOOKS.read_text()), f"docs/runbooks.md has no section #{anchor}"


def test_every_alert_has_a_section_saying_what_it_means_what_to_check_and_what_to_do() -> None:
    text = RUNBOOKS.read_text()
    alerts = {r["alert"] for r in alerting_rules()}
    found = sections(text)
    assert alerts == set(found), (
        f"runbook sections without an alert or alerts without one: {sorted(alerts ^ set(found))}"
    )
    for name in found:
        assert re.fullmatch(r"Leo[A-Z]\w+", name), f"### {name}: sections are named after alerts"
    for name, body in found.items():
        for part in ("**Meaning.**", "**Check.**", "**Act.**"):
            assert part in body, f"{name}: no {part}"


def test_links_between_runbook_sections_resolve() -> None:
    text = RUNBOOKS.read_text()
    anchors = github_anchors(text)
    for target in re.findall(r"\]\(#([\w-]+)\)", text):
        assert target in anchors, f"link to #{target}"


def _script() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("add_runbook_urls", REPO / "scripts" / "add-runbook-urls.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RULE = """\
groups:
  - name: g
    rules:
      - alert: LeoNew
        expr: up == 0
        labels:
          severity: warning
        annotations:
          summary: s.
          description: >-
            d.
"""
CASE = """\
tests:
  - alert_rule_test:
      - eval_time: 5m
        alertname: LeoNew
        exp_alerts:
          - exp_labels:
              alert: not_an_alert_name
              severity: warning
            exp_annotations:
              summary: s.
              description: d.
"""


@pytest.mark.parametrize("text", [RULE, CASE], ids=["rule", "promtool case"])
def test_the_script_adds_the_missing_runbook_url_once(text: str) -> None:
    new, added = _script().add_urls(text)
    assert added == ["LeoNew"]
    data = yaml.safe_load(new)
    annotations = (
        data["groups"][0]["rules"][0]["annotations"]
        if "groups" in data
        else data["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]
    )
    assert annotations["runbook_url"] == "docs/runbooks.md#leonew"
    assert _script().add_urls(new) == (new, [])


@pytest.mark.e2e
def test_the_script_finds_nothing_missing_in_the_repository() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "add-runbook-urls.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
