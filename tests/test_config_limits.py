"""A config file cannot make the exporter unfold it without end (issue #25, finding 10): aliases
that repeat each other, an alias inside itself, a file of any size. Merge keys still work."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from leo_exporter.config import ConfigError
from leo_exporter.providers import load_config
from leo_exporter.yamlfile import MAX_FILE_BYTES, MAX_VALUES
from tests.test_config import check_config

LETTERS = "abcdefghi"


def alias_bomb() -> str:
    """The classic: nine lists of nine aliases to the previous list, 9**9 strings once unfolded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in itertools.pairwise(LETTERS):
        lines.append(f"{name}: &{name} [{','.join(f'*{prev}' for _ in range(9))}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_by_check_config_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 400
    result = check_config(path)  # before: past 60 s and 1.5 GB (the `${VAR}` pass walked every copy)
    assert result.returncode == 2, result.stderr
    assert f"expands to more than {MAX_VALUES:,} values (YAML aliases that repeat each other?)" in result.stderr


def test_an_alias_inside_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yml"
    path.write_text("accounts: &loop\n  - *loop\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: nested more than 64 levels deep (a YAML alias inside itself?)"]


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: config file is larger than 16 MiB"]


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yml"
    path.write_text(
        "accounts:\n"
        "  - &first\n"
        "    provider: oneweb\n"
        "    name: one\n"
        "    client_id: c\n"
        "    client_secret: s\n"
        "    api_url: https://o.test\n"
        "  - <<: *first\n"
        "    name: two\n"
    )
    config = load_config(path)
    assert [(a.name, a.api_url) for a in config.accounts] == [("one", "https://o.test"), ("two", "https://o.test")]


def test_a_secret_file_is_read_only_as_far_as_a_secret_goes(tmp_path: Path) -> None:
    """`client_secret_file: /dev/zero` read for ever (the sibling of a config of any size)."""
    path = tmp_path / "config.yml"
    path.write_text(
        "accounts:\n"
        "  - provider: oneweb\n"
        "    client_id: c\n"
        "    client_secret_file: /dev/zero\n"
        "    api_url: https://o.test\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (
        caught.value.problems[0]
        == "accounts[0].client_secret_file: /dev/zero is larger than 64 KiB, which no secret is"
    )
