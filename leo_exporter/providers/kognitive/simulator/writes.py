"""The Kognitive write calls' bodies as the API page (seed 001) states them, and a check against it.

The simulator refuses (HTTP 400, `success: false`) any body that breaks these rules, so a client
that sends a field the page does not name, leaves out a mandatory one or sends the wrong type
fails its tests instead of passing against a lenient fake. `docs/providers/kognitive.md` quotes
the page for each rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leo_exporter.providers.kognitive import fields as F


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: type  # str, bool, list (of strings), or dict (a list of objects checked by `items`)
    mandatory: bool = False
    items: tuple[Rule, ...] | None = None  # for kind dict: the fields of each object


WRITE_RULES: dict[str, tuple[Rule, ...]] = {
    # "7. Pause": accountNumber, endNow and serviceLineNumber "mandatory"; rejectReason "(if any)"
    F.POST_PAUSE: (
        Rule(F.W_ACCOUNT, str, True),
        Rule(F.W_END_NOW, bool, True),
        Rule(F.W_REJECT_REASON, str),
        Rule(F.W_SERVICE_LINE, str, True),
    ),
    # "8. Resume": customPlanId and productReferenceId "mandatory to resume"; the table lists
    # accountNumber and serviceLineNumber ("mandatory") under dataBlockProducts ("array of objects")
    F.POST_RESUME: (
        Rule(F.W_CUSTOM_PLAN, str, True),
        Rule(F.W_ACCOUNT, str, True),
        Rule(F.W_SERVICE_LINE, str, True),
        Rule(F.W_PRODUCT, str, True),
        Rule(F.W_DATA_BLOCKS, dict, items=(Rule(F.W_ACCOUNT, str, True), Rule(F.W_SERVICE_LINE, str, True))),
    ),
    # "9. Create a new Starlink service line": only customPlanId is "mandatory"; userTerminalIds is
    # a String, emailIds an Array; dataBlockProducts an Array whose items the page does not describe
    F.POST_NEW_SERVICE_LINE: (
        Rule(F.W_CUSTOM_PLAN, str, True),
        Rule(F.W_NAME, str),
        Rule(F.W_ACCOUNT, str),
        Rule(F.W_ADDRESS, str),
        Rule(F.W_TERMINALS, str),
        Rule(F.W_EMAILS, list),
        Rule(F.W_PRODUCT, str),
        Rule(F.W_DATA_BLOCKS, dict, items=()),
    ),
    # "6. Track the Progress": trackingId "mandatory"
    F.POST_TRACKING: (Rule(F.W_TRACKING_ID, str, True),),
}

_TYPE_WORDS = {str: "a string", bool: "true or false", list: "an array of strings", dict: "an array of objects"}


def check_body(endpoint: str, body: dict[str, Any]) -> list[str]:
    """Every way `body` breaks the page's rules for `endpoint`; empty when it follows them."""
    return _check(WRITE_RULES[endpoint], body, "")


def _check(rules: tuple[Rule, ...], body: dict[str, Any], where: str) -> list[str]:
    known = {rule.name for rule in rules}
    problems = [f"{where}{name} is not a field of this call" for name in body if name not in known]
    for rule in rules:
        path = f"{where}{rule.name}"
        if rule.name not in body:
            if rule.mandatory:
                problems.append(f"{path} is mandatory")
            continue
        value = body[rule.name]
        if not _typed(value, rule.kind):
            problems.append(f"{path} must be {_TYPE_WORDS[rule.kind]}")
        elif rule.mandatory and rule.kind is str and not value.strip():
            problems.append(f"{path} is mandatory and must not be empty")
        elif rule.kind is dict and rule.items:
            for index, item in enumerate(value):
                problems += _check(rule.items, item, f"{path}[{index}].")
    return problems


def _typed(value: Any, kind: type) -> bool:
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is dict:
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return type(value) is kind
