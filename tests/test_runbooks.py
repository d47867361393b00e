"""Every alert links its runbook, and the runbook has a section for it (docs/runbooks.md)."""

from __future__ import annotations

import re

import pytest

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
    assert url == f"docs/runbooks.md#{rule['alert'].lower()}", url
    anchor = url.partition("#")[2]
    assert anchor in github_anchors(RUNBOOKS.read_text()), f"docs/runbooks.md has no section #{anchor}"


def test_every_alert_has_a_section_saying_what_it_means_what_to_check_and_what_to_do() -> None:
    text = RUNBOOKS.read_text()
    alerts = {r["alert"] for r in alerting_rules()}
    found = sections(text)
    assert alerts <= set(found), f"no runbook section for {sorted(alerts - set(found))}"
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
