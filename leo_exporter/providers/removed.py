"""Config keys a provider does not take, rejected with a message saying why and what instead.

A key that is silently dropped or ignored would leave a user believing it works; the strict models
would call a removed key "unknown key", which does not tell them where it went.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REMOVED_KEYS: dict[str, str] = {
    "account": (
        "removed in metric contract v1: the `account` label is always the account's `name` "
        "(rename the account instead); the provider's own account id is the `provider_account` "
        "label of leo_account_info"
    ),
}

# `offline_after` turns Starlink terminals offline when telemetry stops; providers that report
# online state themselves have nothing to time out.
OFFLINE_AFTER_IGNORED = "{provider} reports online state itself, so offline_after would do nothing here"


def rejecting(keys: dict[str, str]) -> Callable[[Any], Any]:
    """A `model_validator(mode="before")` body: one message per rejected key present."""

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            problems = [f"{key}: {why}" for key, why in keys.items() if key in value]
            if problems:
                raise ValueError("; ".join(problems))
        return value

    return check
