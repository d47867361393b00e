#!/usr/bin/env python3
"""Give every alert that lacks one its `runbook_url` annotation, in the rules and their promtool tests.

    python3 scripts/add-runbook-urls.py            # edit deploy/prometheus/rules and tests in place
    python3 scripts/add-runbook-urls.py --check    # exit 1 and name the alerts that lack one

The URL is `docs/runbooks.md#<alert name in lower case>`; it is inserted as the first line of the
alert's `annotations:` (and of each `exp_annotations:` of its promtool cases, which must list
every annotation), keeping the files' comments and layout. Write the runbook section itself by
hand (tests/test_runbooks.py requires one per alert), then run scripts/gen-prometheusrule.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules"
TESTS = ROOT / "deploy" / "prometheus" / "tests"
ALERT = re.compile(r"^\s*(?:- alert|-?\s*alertname):\s*(\w+)\s*$")  # a rule, or a promtool case
BLOCK = re.compile(r"^(\s*)(annotations|exp_annotations):\s*$")


def runbook_url(alert: str) -> str:
    return f"docs/runbooks.md#{alert.lower()}"


def add_urls(text: str) -> tuple[str, list[str]]:
    """The text with the missing annotations added, and the alerts they were added for."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    added: list[str] = []
    alert = ""
    for i, line in enumerate(lines):
        named = ALERT.match(line)
        if named:
            alert = named.group(1)
        out.append(line)
        block = BLOCK.match(line)
        if not block or not alert:
            continue
        indent = len(block.group(1))
        body = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        if any(b.lstrip().startswith("runbook_url:") for b in body):
            continue
        inner = next((b for b in body if b.strip()), " " * (indent + 2) + "x")
        out.append(" " * (len(inner) - len(inner.lstrip())) + f"runbook_url: {runbook_url(alert)}\n")
        added.append(alert)
    return "".join(out), added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if an annotation is missing")
    args = parser.parse_args()
    missing = []
    for path in sorted([*RULES.glob("*.yml"), *TESTS.glob("*.yml")]):
        text = path.read_text()
        new, added = add_urls(text)
        if added:
            missing.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(set(added)))}")
            if not args.check:
                path.write_text(new)
    for line in missing:
        print(("missing runbook_url in " if args.check else "added runbook_url in ") + line)
    return 1 if missing and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
