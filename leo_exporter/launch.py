"""The command's entry point: SIGHUP is ignored from the first instant, before anything slow loads
(leo_exporter/hangup.py says why); then the command line proper."""

from __future__ import annotations

from leo_exporter.hangup import ignore_sighup


def main() -> int:
    ignore_sighup()
    from leo_exporter.cli import main as cli_main

    return cli_main()
