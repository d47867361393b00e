"""Config keys that no longer exist, rejected with a message saying what replaced them.

A key that is silently dropped would leave a user believing it still works; the strict models
would call it "unknown key", which does not tell them where it went.
"""

from __future__ import annotations

from typing import Any

REMOVED_KEYS: dict[str, str] = {
    "account": (
        "removed in metric contract v1: the `account` label is always the account's `name` "
        "(rename the account instead); the provider's own account id is the `provider_account` "
        "label of leo_account_info"
    ),
}


def reject_removed_keys(value: Any) -> Any:
    """A `model_validator(mode="before")` body: one message per removed key present."""
    if isinstance(value, dict):
        problems = [f"{key}: {why}" for key, why in REMOVED_KEYS.items() if key in value]
        if problems:
            raise ValueError("; ".join(problems))
    return value
