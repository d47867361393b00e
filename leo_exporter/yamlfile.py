"""Config files read as bytes and decoded strictly, then parsed as YAML that refuses duplicate keys.

A stray byte or a key given twice (where the last `client_secret` would silently win) is a
ConfigError naming the file, the line and the column, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key written twice (merge keys `<<` may still override)."""

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
    """A file's text, strictly decoded; a ConfigError when it cannot be read or is not UTF-8."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read {what}: {exc.strerror}"]) from None
    return decode_strictly(raw, str(path))


def load_yaml(text: str, name: str) -> Any:
    """Parse YAML with unique keys; errors carry the line and column."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{name}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]) from None


def load_yaml_file(path: str | Path, what: str) -> Any:
    return load_yaml(read_text(path, what), str(path))
