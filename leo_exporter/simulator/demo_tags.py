"""The demo fleet's tags: a few customers and the vessels, so the group views of `make run` are filled.

Generic over providers (this frame knows them only through the registry): each demo account
belongs to one customer, in turn; every terminal named like a vessel or a rig ("MV Southern
Star", "Rig Delta 8") gets its vessel tag from the name; and the clinics are re-assigned to a
customer of their own by a later rule, which shows the documented order (the later rule wins).
"""

from __future__ import annotations

from typing import Any

CUSTOMERS = ("Blue Line", "Northwind Offshore", "Terra Rural", "Polar Air")


def demo_tags(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The `tags:` section for the demo accounts."""
    rules: list[dict[str, Any]] = [
        {"match": {"account": account["name"]}, "set": {"customer": CUSTOMERS[index % len(CUSTOMERS)]}}
        for index, account in enumerate(accounts)
    ]
    rules.append({"match": {"name": "(?:MV|Rig) (.+)"}, "set": {"vessel": "$1"}})
    rules.append({"match": {"name": "Clinic .*"}, "set": {"customer": "Health Ministry"}})
    return {"keys": ["customer", "vessel"], "rules": rules}
