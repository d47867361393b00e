"""The tags applied to the fleet: rules and file rows (leo_exporter/tags.py) -> `leo_*_tags` series.

Runs on the state worker before each rendering (see `Exporter._tick_and_render`). It re-reads
the tags file when its modification time or size changed, and re-resolves the tags only when the
rules, the file or the entities' attributes (`EntityTable.attrs_version`) changed: a telemetry
poll, which changes values only, costs one comparison. A bad file is logged with its line, shown
in `leo_exporter_tags_file_last_load_successful` (0), and the tags of the last good file stay.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable
from pathlib import Path

from leo_exporter import catalog
from leo_exporter.state import AccountState, FleetState
from leo_exporter.tags import (
    FileRow,
    LineView,
    TagsConfig,
    TagsFileError,
    TerminalView,
    read_tags_file,
    resolve,
    tag_label,
)

log = logging.getLogger("leo_exporter.tags")

__all__ = ["Tagging", "describe", "fleet_views", "views_from_exposition"]


def fleet_views(accounts: list[AccountState]) -> tuple[list[TerminalView], list[LineView]]:
    """What the rules match on: each terminal's and line's identifiers and nickname."""
    terminals: list[TerminalView] = []
    lines: list[LineView] = []
    for account in accounts:
        provider, name = account.provider, account.name
        terminals.extend(TerminalView.of(provider, name, tid, a) for tid, a in account.terminals.attrs.items())
        lines.extend(LineView.of(provider, name, sln, a) for sln, a in account.service_lines.attrs.items())
    return terminals, lines


class Tagging:
    """The config's tag rules and the tags file, kept applied to the fleet state."""

    def __init__(
        self,
        config: TagsConfig,
        path: str | None,
        *,
        values: dict[str, float],
        clock: Callable[[], float],
        previous: Tagging | None = None,
    ):
        self.config = config
        self.path = Path(path) if path else None
        self.values = values  # the exporter's own figures (FleetState.exporter_values)
        self.clock = clock
        # a reload re-reads the file; until it reads well, the last good rows of the same keys stay
        keep = previous is not None and previous.config.keys == config.keys
        self.rows: list[FileRow] = previous.rows if keep and previous is not None else []
        self._stamp: tuple[int, int] | None = None
        self._applied: Hashable = None
        self.generation = 0
        self._logged: int | None = None  # the generation last logged at info
        # the counts of the last resolution, to log when they change (not the resolution: its
        # tags of every entity, 26 MiB at 50,000 terminals, live in the tables already)
        self.last_counts: tuple[list[int], int] = ([], 0)
        self.error = ""

    @property
    def active(self) -> bool:
        return bool(self.config.keys)

    def refresh(self) -> None:
        """Read the file if it is new or changed (modification time or size)."""
        if self.path is None or not self.active:
            return
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            rows = read_tags_file(self.path, self.config.keys)
        except TagsFileError as err:
            self.error = str(err)
            self.values[catalog.EXPORTER_TAGS_FILE_LAST_LOAD_SUCCESSFUL.name] = 0.0
            log.error("tags file not applied, keeping the last good tags: %s", err)
            return
        self.error = ""
        self.rows = rows
        self.generation += 1
        self.values[catalog.EXPORTER_TAGS_FILE_LAST_LOAD_SUCCESSFUL.name] = 1.0
        self.values[catalog.EXPORTER_TAGS_FILE_LAST_LOAD_SUCCESS_TIMESTAMP_SECONDS.name] = self.clock()
        log.info("tags file %s read: %d row(s)", self.path, len(rows))

    def apply(self, state: FleetState) -> None:
        """Set every account's terminal and line tags, if anything they depend on changed."""
        accounts = list(state.accounts.values())
        signature = (
            self.generation,
            tuple(
                (id(a), a.terminals.attrs_version, a.service_lines.attrs_version, len(a.terminals.labels))
                for a in accounts
            ),
        )
        if signature == self._applied:
            return
        self._applied = signature
        if not self.active:
            for account in accounts:
                account.terminals.set_tags({})
                account.service_lines.set_tags({})
            return
        terminals, lines = fleet_views(accounts)
        res = resolve(self.config.rules, self.rows, terminals, lines)
        keys = self.config.keys
        by_account: dict[str, tuple[dict[str, list[tuple[str, str]]], dict[str, list[tuple[str, str]]]]] = {
            a.name: ({}, {}) for a in accounts
        }
        # one label string a key, shared by every tagged entity (not a copy each: 28,000 at 10,000 terminals)
        labels = [(key, tag_label(key)) for key in keys]
        for side, found in ((0, res.terminals), (1, res.lines)):
            for (acct, ident), tags in found.items():
                by_account[acct][side][ident] = [(label, tags[key]) for key, label in labels if key in tags]
        for account in accounts:
            on_terminals, on_lines = by_account[account.name]
            account.terminals.set_tags(on_terminals)
            account.service_lines.set_tags(on_lines)
        counts = (res.rule_terminals, res.file_terminals)
        if counts != self.last_counts:
            # info when the rules or the file are new (start, reload, file read); debug as the
            # fleet's inventories change the counts (at start, once per account and listing)
            level = logging.INFO if self._logged != self.generation and terminals else logging.DEBUG
            if level == logging.INFO:
                self._logged = self.generation
            log.log(
                level,
                "tags applied: terminals matched per rule %s, by the file's rows %d",
                res.rule_terminals,
                res.file_terminals,
            )
        self.last_counts = counts


def views_from_exposition(text: str) -> tuple[list[TerminalView], list[LineView]]:
    """Terminals and lines as a running exporter's `/metrics` shows them (its info series), so that
    `check-config --tags.metrics` can say what each rule would match."""
    from prometheus_client.parser import text_string_to_metric_families

    terminals: list[TerminalView] = []
    lines: list[LineView] = []
    for family in text_string_to_metric_families(text):
        if family.name not in (catalog.TERMINAL_INFO.name, catalog.SERVICE_LINE_INFO.name):
            continue
        for sample in family.samples:
            labels = sample.labels
            provider, account = labels.get("provider", ""), labels.get("account", "")
            if family.name == catalog.TERMINAL_INFO.name:
                terminals.append(TerminalView.of(provider, account, labels.get("terminal_id", ""), labels))
            else:
                lines.append(LineView.of(provider, account, labels.get("service_line", ""), labels))
    return terminals, lines


def describe(config: TagsConfig, path: str | None, exposition: str | None) -> tuple[list[str], list[str]]:
    """check-config's tag lines (keys, each rule and, given an exposition, the terminals it
    matches) and its problems (a bad tags file)."""
    if not config.keys:
        return [], []
    out = [f"tags: keys {', '.join(config.keys)}; {len(config.rules)} rule(s); later rules win"]
    problems: list[str] = []
    rows: list[FileRow] = []
    if path:
        try:
            rows = read_tags_file(Path(path), config.keys)
        except TagsFileError as err:
            problems.append(f"tags_file: {err}")
    res = None
    if exposition is not None:
        terminals, lines = views_from_exposition(exposition)
        res = resolve(config.rules, rows, terminals, lines)
        out[0] += f"; {len(terminals)} terminal(s) in the exposition"
    for index, rule in enumerate(config.rules):
        criteria = ", ".join(
            f"{k}={v if isinstance(v, str) else '|'.join(v)}"
            for k, v in rule.match.model_dump().items()
            if v not in (None, (), [])
        )
        setting = ", ".join(f"{k}={v}" for k, v in rule.set.items())
        matched = f": {res.rule_terminals[index]} terminal(s)" if res is not None else ""
        out.append(f"    rule {index + 1} ({criteria}) sets {setting}{matched}")
    if path and not problems:
        matched = f": {res.file_terminals} terminal(s)" if res is not None else ""
        out.append(f"    file {path}: {len(rows)} row(s){matched}")
    if res is None:
        out.append("    (to count the terminals each rule matches: --tags.metrics http://<exporter>/metrics)")
    return out, problems
