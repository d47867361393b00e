"""The command's entry point: SIGHUP is ignored from the first instant, before anything slow loads
(leo_exporter/hangup.py says why); then the command line proper."""

from __future__ import annotations

import sys

from leo_exporter.hangup import ignore_sighup


def skip_httpx_cli() -> None:
    """Keep httpx from loading its command-line tool (rich, click's help, pygments) on import: it
    is never used here and cost 5.5 MB of resident memory in every process, the front's included.
    httpx falls back to a stub `httpx.main` when `httpx._main` cannot be imported."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "cannot be imported"


def main() -> int:
    ignore_sighup()
    skip_httpx_cli()
    from leo_exporter.cli import main as cli_main

    return cli_main()
