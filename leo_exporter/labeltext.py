"""Label text of the exposition format: escaping, `a="1",b="2"` fragments, one copy of repeated text.

The state builds each entity's label text once, when the entity first appears, and the renderer
only concatenates; both use these, so a label value is escaped in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable


def escape_label(value: str) -> str:
    """Escape a label value as the text exposition format requires."""
    if "\\" in value or "\n" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def label_fragment(pairs: Iterable[tuple[str, str]]) -> str:
    """`a="1",b="2"`: the inside of the braces for the given label pairs."""
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)


def intern(text: str) -> str:
    """One copy of a label text or attribute that many entities repeat (`class="priority"`, a
    software version, a country): at 50,000 terminals the copies would cost tens of MiB."""
    return sys.intern(text) if type(text) is str else text
