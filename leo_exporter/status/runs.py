"""One management action sent from the status page: what its page shows while and after it runs."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field


@dataclass
class Run:
    """One action sent from the page: its output as the command line would print it, its outcome."""

    id: str
    action: str
    label: str
    account: str
    target: str
    who: str
    address: str
    key: str
    started: float = field(default_factory=time.time)
    output: io.StringIO = field(default_factory=io.StringIO)
    code: int | None = None  # the sub-command's exit code, once done
    outcome: str = ""
    detail: str = ""
