"""User tags on terminals and service lines: the config's `tags:` section, its rules and the CSV file.

An operator groups terminals by what matters to them (the customer, the vessel, the region); the
provider knows none of it. The tag keys are declared once (a bounded set, each a label-safe
name: it becomes the label `tag_<key>` on `leo_terminal_tags` and `leo_service_line_tags`), and
values come from rules in the config and from rows of a CSV file (`tags_file:`), because resellers
keep that list in a spreadsheet.

Order decides conflicts, and it is documented: the config's rules in the order written, then the
file's rows in row order; for each key the **later** rule that matches wins (a broad rule such as
"this account is Blue Line" goes first, the exceptions after it, and the spreadsheet, the most
specific source, last). A rule on a service line tags the line's terminals; a rule on a terminal
tags its service line.

This module holds the model and the matching only (no exporter state): `resolve()` takes plain
entity views, so `check-config`, the exporter (leo_exporter/tagging.py) and tests share it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "FILE_ID_COLUMNS",
    "MAX_TAG_KEYS",
    "MAX_VALUE_LENGTH",
    "RESERVED_KEYS",
    "LineView",
    "Resolution",
    "TagRule",
    "TagsConfig",
    "TagsFileError",
    "TerminalView",
    "read_tags_file",
    "resolve",
    "tag_label",
]

MAX_TAG_KEYS = 10  # each key is a label on one series per tagged entity: a bounded set keeps it cheap
MAX_VALUE_LENGTH = 200
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Group names the dashboards and rules already take from the info series: a tag named the same
# would make "group by organization" mean two things.
RESERVED_KEYS = frozenset({"provider", "account", "provider_account", "organization"})
FILE_ID_COLUMNS = ("terminal_id", "kit_serial", "service_line")


def tag_label(key: str) -> str:
    """The label a tag key becomes: `customer` -> `tag_customer` (kube-state-metrics' habit)."""
    return f"tag_{key}"


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


Strings = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagMatch(_Strict):
    """Which terminals or service lines a rule tags: every given criterion must hold.

    Identifiers are exact (one value or a list); `name` and `line_name` are regular expressions
    matched against the whole nickname (anchored, as Prometheus anchors its regexes)."""

    provider: Strings = ()
    account: Strings = ()
    terminal_id: Strings = ()
    kit_serial: Strings = ()
    service_line: Strings = ()
    name: str | None = Field(default=None, description="regex on the terminal's nickname")
    line_name: str | None = Field(default=None, description="regex on the service line's nickname")

    @field_validator("name", "line_name")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TagMatch:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("give at least one criterion (provider, account, terminal_id, kit_serial, ...)")
        return self

    @property
    def on_terminal(self) -> bool:
        """A rule about terminals (its service lines follow), rather than about lines."""
        return bool(self.terminal_id or self.kit_serial or self.name)


class TagRule(_Strict):
    match: TagMatch
    set: dict[str, str] = Field(min_length=1)

    @field_validator("set")
    @classmethod
    def _values(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not text.strip():
                raise ValueError(f"{key}: a tag value must not be empty")
            if len(text) > MAX_VALUE_LENGTH:
                raise ValueError(f"{key}: a tag value must not be longer than {MAX_VALUE_LENGTH} characters")
        return value


class TagsConfig(_Strict):
    """`tags:` in the config: the declared keys and the rules (checked against the keys)."""

    keys: list[str] = Field(default_factory=list, max_length=MAX_TAG_KEYS)
    rules: list[TagRule] = Field(default_factory=list)

    @field_validator("keys")
    @classmethod
    def _label_safe(cls, keys: list[str]) -> list[str]:
        problems = []
        unsafe = [key for key in keys if not _KEY.fullmatch(key)]
        if unsafe:
            problems.append(
                f"not label-safe: {', '.join(map(repr, unsafe))} (lower-case letters, digits and _, starting "
                "with a letter, at most 40 characters)"
            )
        reserved = [key for key in keys if key in RESERVED_KEYS]
        if reserved:
            problems.append(f"reserved (labels the info series already carry): {', '.join(reserved)}")
        if len(set(keys)) != len(keys):
            problems.append("a tag key is declared more than once")
        if problems:
            raise ValueError("; ".join(problems))
        return keys

    @model_validator(mode="after")
    def _known_keys(self) -> TagsConfig:
        declared = set(self.keys)
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.set) - declared)
            if unknown:
                raise ValueError(
                    f"rules[{index}].set: unknown tag key {', '.join(unknown)}; declared: "
                    f"{', '.join(self.keys) or 'none (list them under tags.keys)'}"
                )
        return self


# --------------------------------------------------------------------------- the CSV file


class TagsFileError(ValueError):
    """The tags file cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class FileRow:
    """One row of the tags file: an identifier of `column` and the tags it sets."""

    line: int
    column: str
    ident: str
    tags: dict[str, str]


def read_tags_file(path: Path, keys: Sequence[str]) -> list[FileRow]:
    """Read and check the whole file (UTF-8, an Excel BOM allowed): the header is one identifier
    column (terminal_id, kit_serial or service_line) then declared tag keys; an empty cell sets no
    tag. Any problem raises TagsFileError naming the file and the line: the caller keeps the tags
    of the last good file rather than half of this one."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise TagsFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TagsFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise TagsFileError(f"{path} line 1: empty file; expected a header such as terminal_id,customer") from None
    except csv.Error as exc:
        raise TagsFileError(f"{path} line 1: {exc}") from None
    header = [h.strip() for h in header]
    if not header or header[0] not in FILE_ID_COLUMNS:
        raise TagsFileError(f"{path} line 1: the first column must be one of {', '.join(FILE_ID_COLUMNS)}")
    columns = header[1:]
    unknown = [c for c in columns if c not in keys]
    if unknown:
        raise TagsFileError(
            f"{path} line 1: unknown tag key {', '.join(unknown)}; declared: {', '.join(keys) or 'none'}"
        )
    if not columns or len(set(columns)) != len(columns):
        raise TagsFileError(f"{path} line 1: give each tag key once, at least one")
    rows: list[FileRow] = []
    seen: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise TagsFileError(f"{path} line {line}: {len(values)} column(s), the header has {len(header)}")
            ident = values[0].strip()
            if not ident:
                raise TagsFileError(f"{path} line {line}: no {header[0]}")
            if ident in seen:
                raise TagsFileError(f"{path} line {line}: {header[0]} {ident} is already on line {seen[ident]}")
            seen[ident] = line
            tags = {key: value.strip() for key, value in zip(columns, values[1:], strict=True) if value.strip()}
            long = [key for key, value in tags.items() if len(value) > MAX_VALUE_LENGTH]
            if long:
                raise TagsFileError(f"{path} line {line}: {long[0]} longer than {MAX_VALUE_LENGTH} characters")
            rows.append(FileRow(line, header[0], ident, tags))
    except csv.Error as exc:
        raise TagsFileError(f"{path} line {reader.line_num}: {exc}") from None
    return rows


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class TerminalView:
    provider: str
    account: str
    terminal_id: str
    kit_serial: str = ""
    service_line: str = ""
    name: str = ""

    @classmethod
    def of(cls, provider: str, account: str, terminal_id: str, attrs: Mapping[str, str]) -> TerminalView:
        """From a terminal's attributes (the state's, or the labels of its info series)."""
        get = attrs.get
        return cls(provider, account, terminal_id, get("kit_serial", ""), get("service_line", ""), get("name", ""))


@dataclass(frozen=True, slots=True)
class LineView:
    provider: str
    account: str
    service_line: str
    name: str = ""

    @classmethod
    def of(cls, provider: str, account: str, service_line: str, attrs: Mapping[str, str]) -> LineView:
        return cls(provider, account, service_line, attrs.get("name", ""))


Key = tuple[str, str]  # (account, id): ids are the provider's, unique within a config account


@dataclass(slots=True)
class Resolution:
    """What the rules and rows set: (account, id) -> {key: value}, and terminals matched per source."""

    terminals: dict[Key, dict[str, str]] = field(default_factory=dict)
    lines: dict[Key, dict[str, str]] = field(default_factory=dict)
    rule_terminals: list[int] = field(default_factory=list)  # per config rule, in order
    file_terminals: int = 0  # terminals the file's rows matched (each counted once)


class _Index:
    """The entities, indexed by the identifiers rules and rows name (one lookup per row)."""

    def __init__(self, terminals: Iterable[TerminalView], lines: Iterable[LineView]):
        self.terminals = list(terminals)
        self.lines = list(lines)
        self.by_terminal: dict[str, list[TerminalView]] = {}
        self.by_kit: dict[str, list[TerminalView]] = {}
        self.by_line_id: dict[str, list[TerminalView]] = {}
        self.lines_by_id: dict[str, list[LineView]] = {}
        self.line_of: dict[Key, LineView] = {}
        self.by_account: dict[str, list[TerminalView]] = {}
        self.lines_by_account: dict[str, list[LineView]] = {}
        for t in self.terminals:
            self.by_account.setdefault(t.account, []).append(t)
            self.by_terminal.setdefault(t.terminal_id, []).append(t)
            if t.kit_serial:
                self.by_kit.setdefault(t.kit_serial, []).append(t)
            if t.service_line:
                self.by_line_id.setdefault(t.service_line, []).append(t)
        for line in self.lines:
            self.lines_by_id.setdefault(line.service_line, []).append(line)
            self.lines_by_account.setdefault(line.account, []).append(line)
            self.line_of[(line.account, line.service_line)] = line

    def line_view(self, t: TerminalView) -> LineView | None:
        return self.line_of.get((t.account, t.service_line)) if t.service_line else None


def _in(values: tuple[str, ...], value: str) -> bool:
    return not values or value in values


def _terminal_matches(m: TagMatch, t: TerminalView, index: _Index) -> bool:
    if not (_in(m.provider, t.provider) and _in(m.account, t.account) and _in(m.terminal_id, t.terminal_id)):
        return False
    if not (_in(m.kit_serial, t.kit_serial) and _in(m.service_line, t.service_line)):
        return False
    if m.name is not None and not re.fullmatch(m.name, t.name):
        return False
    if m.line_name is not None:
        line = index.line_view(t)
        return line is not None and re.fullmatch(m.line_name, line.name) is not None
    return True


def _line_matches(m: TagMatch, line: LineView) -> bool:
    return (
        _in(m.provider, line.provider)
        and _in(m.account, line.account)
        and _in(m.service_line, line.service_line)
        and (m.line_name is None or re.fullmatch(m.line_name, line.name) is not None)
    )


def _candidates(m: TagMatch, index: _Index) -> Iterable[TerminalView]:
    """Terminals worth testing: by an identifier the rule names, else all of them."""
    if m.terminal_id:
        return [t for ident in m.terminal_id for t in index.by_terminal.get(ident, ())]
    if m.kit_serial:
        return [t for ident in m.kit_serial for t in index.by_kit.get(ident, ())]
    if m.service_line:
        return [t for ident in m.service_line for t in index.by_line_id.get(ident, ())]
    if m.account:
        return [t for ident in m.account for t in index.by_account.get(ident, ())]
    return index.terminals


_GROUP_REF = re.compile(r"\$(?:(\d+)|\{(\d+)\})")


def _expand(tags: dict[str, str], pattern: str | None, name: str) -> dict[str, str]:
    """`$1` / `${1}` in a value: that group of the `name` regex in the terminal's nickname
    (relabelling's habit), so one rule `name: "MV (.*)"`, `vessel: "$1"` names every vessel."""
    if pattern is None or not any("$" in v for v in tags.values()):
        return tags
    found = re.fullmatch(pattern, name)
    if found is None:
        return tags
    groups = found.groups()

    def group(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        return (groups[index - 1] or "") if 0 < index <= len(groups) else ""

    expanded = {key: _GROUP_REF.sub(group, value).strip() for key, value in tags.items()}
    return {key: value for key, value in expanded.items() if value}


def _apply(
    res: Resolution,
    rule: TagMatch | None,
    found: Iterable[TerminalView],
    lines: Iterable[LineView],
    tags: dict[str, str],
    index: _Index,
) -> int:
    count = 0
    pattern = rule.name if rule is not None else None
    for t in found:
        own = _expand(tags, pattern, t.name)
        res.terminals.setdefault((t.account, t.terminal_id), {}).update(own)
        if own is not tags and (line := index.line_view(t)) is not None:
            res.lines.setdefault((line.account, line.service_line), {}).update(own)
        count += 1
    if pattern is None or not any("$" in v for v in tags.values()):
        for line in lines:
            res.lines.setdefault((line.account, line.service_line), {}).update(tags)
    return count


def _rule_targets(m: TagMatch, index: _Index) -> tuple[list[TerminalView], list[LineView]]:
    if m.on_terminal:  # terminals first; their lines follow
        terminals = [t for t in _candidates(m, index) if _terminal_matches(m, t, index)]
        followed = {id(v): v for t in terminals if (v := index.line_view(t)) is not None}
        return terminals, list(followed.values())
    # a rule on service lines (or a whole account): the lines, and every terminal on them
    if m.service_line:
        pool = [v for ident in m.service_line for v in index.lines_by_id.get(ident, ())]
    elif m.account:
        pool = [v for ident in m.account for v in index.lines_by_account.get(ident, ())]
    else:
        pool = index.lines
    lines = [v for v in pool if _line_matches(m, v)]
    return [t for t in _candidates(m, index) if _terminal_matches(m, t, index)], lines


def resolve(
    rules: Sequence[TagRule],
    rows: Sequence[FileRow],
    terminals: Iterable[TerminalView],
    lines: Iterable[LineView],
) -> Resolution:
    """Apply the config's rules, then the file's rows, in order: for each key the later one wins."""
    index = _Index(terminals, lines)
    res = Resolution()
    for rule in rules:
        found, on_lines = _rule_targets(rule.match, index)
        res.rule_terminals.append(_apply(res, rule.match, found, on_lines, rule.set, index))
    matched: set[Key] = set()
    for row in rows:
        if row.column == "service_line":
            on_lines = index.lines_by_id.get(row.ident, [])
            found = index.by_line_id.get(row.ident, [])
        else:
            found = (index.by_terminal if row.column == "terminal_id" else index.by_kit).get(row.ident, [])
            on_lines = [v for t in found if (v := index.line_view(t)) is not None]
        _apply(res, None, found, on_lines, row.tags, index)
        matched.update((t.account, t.terminal_id) for t in found)
    res.file_terminals = len(matched)
    return res
