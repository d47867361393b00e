"""The audit trail of management actions: one JSON line per action, whatever its outcome.

    {"time": "2026-01-02T03:04:05.678Z", "action": "starlink-top-up", "provider": "starlink",
     "account": "fleet-north", "account_id": "ACC-…", "target": "AST-…", "outcome": "success",
     "dry_run": false, "detail": "…", "request": {"productId": "…", "count": 1}}

`outcome` is one of `success`, `failed` (the provider said no, or the call failed before it was
sent), `unknown` (no answer: the action may or may not have happened), `refused` (the config or
the checks before sending refused it), `declined` (the operator said no) and `dry-run`.
An action run from the status page adds `"who"` (the basic auth user, or `anonymous`) and
`"address"` (the client's address). Lines go to stderr, or are appended to `--audit-log FILE`
(opened before anything is sent, so an action that cannot be audited is not performed). No
secret goes in: bodies carry ids only, and the line passes through the same redaction as the logs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

from leo_exporter.logs import REDACT

OUTCOMES = ("success", "failed", "unknown", "refused", "declined", "dry-run")


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    def __init__(self, path: str | None = None, stream: IO[str] | None = None):
        self.path = path
        self.stream = stream
        self.fd: int | None = None
        self.written = 0
        if path:
            # O_APPEND: each line is one write(2), so concurrent runs never interleave within a line.
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(
        self,
        *,
        action: str,
        provider: str,
        account: str,
        target: str,
        outcome: str,
        dry_run: bool = False,
        account_id: str = "",
        detail: str = "",
        request: dict[str, Any] | None = None,
        who: str | None = None,
        address: str | None = None,
    ) -> str:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        entry: dict[str, Any] = {
            "time": _now(),
            "action": action,
            "provider": provider,
            "account": account,
            "account_id": account_id,
            "target": target,
            "outcome": outcome,
            "dry_run": dry_run,
            "detail": detail,
        }
        if request is not None:
            entry["request"] = request
        if who is not None:  # from the status page: who asked, from which address
            entry["who"] = who
            entry["address"] = address or ""
        line = REDACT(json.dumps(entry, ensure_ascii=False, sort_keys=False)) + "\n"
        if self.fd is not None:
            os.write(self.fd, line.encode("utf-8"))
            os.fsync(self.fd)
        else:
            stream = self.stream or sys.stderr
            stream.write(line)
            stream.flush()
        self.written += 1
        return line

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
