"""Config files read as bytes and decoded strictly, then parsed as YAML that refuses duplicate keys.

A stray byte or a key given twice (where the last `client_secret` would silently win) is a
ConfigError naming the file, the line and the column, never a traceback.

A file is at most MAX_FILE_BYTES, and what it expands to at most MAX_VALUES values MAX_DEPTH
deep: YAML aliases share one node wherever they are used, so a 385-byte file of nested aliases
(anchors and merge keys stay allowed) unfolds into billions of values when the config is walked
(the `${VAR}` pass, validation). Such a file is refused before any walk starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

MAX_FILE_BYTES = 16 * 1024 * 1024  # a config of 10,000 accounts is about 3 MB
MAX_VALUES = 500_000  # scalars, lists and mappings, counted with every alias unfolded
MAX_DEPTH = 64


class ConfigError(Exception):
    """The config is unusable; `problems` holds one message per problem, each naming its key path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))

    def report(self, path: str) -> None:
        """One line naming the file and the count, then one line per problem, on standard error."""
        print(f"{path}: {len(self.problems)} problem(s):", file=sys.stderr)
        for problem in self.problems:
            print(f"  {problem}", file=sys.stderr)


# libyaml's parser where PyYAML was built with it (the wheels are): a 3,000-account config parsed
# about 8 times faster, and without the pure-Python scanner's tokens and events, which left tens of
# MiB of the worker's heap in holes between the accounts' long-lived objects
if TYPE_CHECKING:  # the stubs know CSafeLoader only as a parser with SafeLoader's constructor
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_Base):
    """A safe loader that refuses a mapping key written twice (merge keys `<<` may still override)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):  # the stubs say so; PyYAML's callers do not promise it
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeLoader says so itself
                if first is not None:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {str(key)[:60]!r} (first at line {first}, again at line {line})",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def decode_strictly(raw: bytes, name: str) -> str:
    """UTF-8 text, or a ConfigError naming the first bad byte's line and column."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            [f"{name}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {column}"]
        ) from None


def read_text(path: str | Path, what: str) -> str:
    """A file's text, strictly decoded; a ConfigError when it cannot be read, is larger than
    MAX_FILE_BYTES or is not UTF-8."""
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read {what}: {exc.strerror}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([f"{path}: {what} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"])
    return decode_strictly(raw, str(path))


def check_size(data: Any, name: str) -> None:
    """Refuse a document that unfolds into more than MAX_VALUES values or nests deeper than
    MAX_DEPTH (aliases unfolded, as every later walk will see it); costs at most MAX_VALUES steps."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(
                [f"{name}: expands to more than {MAX_VALUES:,} values (YAML aliases that repeat each other?)"]
            )
        if depth > MAX_DEPTH:
            raise ConfigError([f"{name}: nested more than {MAX_DEPTH} levels deep (a YAML alias inside itself?)"])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            count += len(node)  # the keys
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def load_yaml(text: str, name: str) -> Any:
    """Parse YAML with unique keys; errors carry the line and column."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{name}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]) from None
    check_size(data, name)
    return data


def load_yaml_file(path: str | Path, what: str) -> Any:
    return load_yaml(read_text(path, what), str(path))
