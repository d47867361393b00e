"""docs/providers/oneweb.md lists exactly the assumptions the code makes."""

from __future__ import annotations

from pathlib import Path

from leo_exporter.providers.oneweb.doc import BEGIN, END, tables

DOC = Path(__file__).parent.parent / "docs" / "providers" / "oneweb.md"


def test_the_documented_shapes_are_the_ones_in_schema_py() -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == tables(), "run `python -m leo_exporter.providers.oneweb.doc` and paste its output"


def test_every_job_and_config_key_is_documented() -> None:
    from leo_exporter.providers.oneweb.config import OneWebAccount

    text = DOC.read_text()
    for job in OneWebAccount.JOBS:
        assert f"| `{job.name}` |" in text, job.name
    for key in OneWebAccount.model_fields:
        if key not in (
            "provider",
            "jobs",
            "timeout",
            "backoff_base",
            "backoff_max",
            "offline_after",
            "request_budget_per_minute",
            "max_response_size",  # common to every account: docs/reliability.md
            "max_items_per_run",  # likewise
            "management_actions",
            "billing_cycles_kept",  # common to every account: README, "Monthly usage report"
        ):
            assert f"{key}:" in text, key
