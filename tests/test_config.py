"""Config validation, one fixture file per case (tests/configs/), and the check-config command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leo_exporter.config import ConfigError
from leo_exporter.providers import load_config, parse_config
from leo_exporter.simulator.app import build_app, demo_config

CONFIGS = Path(__file__).parent / "configs"
ROOT = Path(__file__).parent.parent


def problems(name: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / name, env=env or {})
    return err.value.problems


def test_valid_config_fills_defaults_and_expands_env() -> None:
    config = load_config(CONFIGS / "valid.yml", env={"STARLINK_SECRET": "s3cret-from-env"})
    account = config.accounts[0]
    assert account.client_secret.get_secret_value() == "s3cret-from-env"
    jobs = {job.name: job for job in account.resolved_jobs()}
    assert jobs["telemetry"].interval == 15
    assert jobs["data_usage"].interval == 3600
    assert jobs["service_lines"].interval == 300  # not in the file: the provider's default
    assert account.api_url == "https://starlink.com/api/public/v2"
    assert config.offline_after == 180


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("file-secret-value\n")
    text = (CONFIGS / "secret_file.yml").read_text().replace("SECRET_PATH", str(secret))
    path = tmp_path / "config.yml"
    path.write_text(text)
    assert load_config(path, env={}).accounts[0].client_secret.get_secret_value() == "file-secret-value"


def test_missing_environment_variable_names_the_key() -> None:
    assert problems("missing_env.yml") == [
        "accounts[0].client_secret: environment variable LEO_TEST_UNSET_VARIABLE is not set"
    ]


def test_every_problem_is_reported_with_its_key_path_and_no_secret() -> None:
    found = problems("many_problems.yml")
    expected = [
        "shard: index must be below total (2)",
        "offline_after: invalid duration",
        "accounts[0].client_id: required key is missing",
        "accounts[0].api_url: must start with http:// or https://",
        "accounts[0].jobs: unknown job telemtry; this provider has: account, telemetry, user_terminals, "
        "service_lines, data_usage",
        "accounts[1].jobs.telemetry.interval: invalid duration: expected e.g. 500ms, 15s, 5m, 1h30m",
        "accounts[1].colour: unknown key",
        "accounts[2].provider: must be one of",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)
    assert len(found) == len(expected)
    joined = "\n".join(found)
    assert "hunter2" not in joined
    assert "another-secret-value" not in joined


def test_duplicate_account_names() -> None:
    assert problems("duplicate_names.yml") == ["accounts: name 'same' is used more than once; names must be unique"]


def test_invalid_yaml_says_where() -> None:
    (problem,) = problems("invalid_yaml.yml")
    assert "not valid YAML at line" in problem


def test_not_a_mapping() -> None:
    assert problems("not_a_mapping.yml") == ["(top level): expected a mapping of keys (accounts, shard, ...)"]


def test_empty_file_is_a_valid_config_with_no_accounts() -> None:
    assert load_config(CONFIGS / "empty.yml", env={}).accounts == []


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(CONFIGS / "does-not-exist.yml")


def check_config(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leo_exporter", "check-config", "--config.file", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.e2e
def test_check_config_command_exit_codes_and_summary() -> None:
    good = check_config(CONFIGS / "valid.yml", {"STARLINK_SECRET": "cli-secret-value"})
    assert good.returncode == 0, good.stderr
    assert "config is valid: 1 account(s)" in good.stdout
    assert "telemetry: every 15s" in good.stdout
    assert "cli-secret-value" not in good.stdout + good.stderr

    bad = check_config(CONFIGS / "many_problems.yml")
    assert bad.returncode == 2
    assert "8 problem(s)" in bad.stderr
    assert "accounts[1].colour: unknown key" in bad.stderr
    assert "hunter2" not in bad.stdout + bad.stderr


@pytest.mark.e2e
def test_example_configs_are_valid() -> None:
    assert check_config(ROOT / "examples" / "config.yml", {"STARLINK_SECRET": "x-secret"}).returncode == 0
    result = check_config(ROOT / "examples" / "simulator.yml")
    assert result.returncode == 0, result.stderr


def test_simulator_example_matches_what_the_simulator_serves() -> None:
    shipped = yaml.safe_load((ROOT / "examples" / "simulator.yml").read_text())
    assert shipped == demo_config("http://127.0.0.1:9820", build_app())


def test_a_non_utf8_byte_is_one_message_with_line_and_column() -> None:
    assert problems("not_utf8.yml") == [f"{CONFIGS / 'not_utf8.yml'}: not UTF-8 text: byte 0xe9 at line 3, column 14"]


@pytest.mark.e2e
def test_check_config_on_a_non_utf8_file_exits_2_without_a_traceback() -> None:
    result = check_config(CONFIGS / "not_utf8.yml")
    assert result.returncode == 2
    assert "not UTF-8 text: byte 0xe9 at line 3, column 14" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_key_given_twice_is_refused_with_both_line_numbers() -> None:
    (problem,) = problems("duplicate_keys.yml")
    assert "duplicate key 'client_secret' (first at line 5, again at line 6)" in problem
    assert "secret-value" not in problem


def test_absurd_durations_are_refused_without_printing_the_value() -> None:
    found = problems("absurd_values.yml", env={"LEO_TEST_SECRET": "s3cr3t-duration-like-1h"})
    assert sorted(found) == sorted(
        [
            "accounts[0].timeout: must be at least 100ms",
            "accounts[0].backoff_base: must be at least 100ms",
            "accounts[0].backoff_max: invalid duration: expected e.g. 500ms, 15s, 5m, 1h30m",
            "accounts[0].jobs.telemetry.interval: invalid duration: must be a finite number of seconds",
            "accounts[0].jobs.data_usage.interval: invalid duration: must be a finite number of seconds",
            "accounts[0].jobs.user_terminals.interval: invalid duration: expected e.g. 500ms, 15s, 5m, 1h30m",
            "accounts[0].jobs.service_lines.timeout: must be at least 100ms",
            "accounts[0].jobs.account.interval: invalid duration: cannot be negative",
        ]
    )
    assert "s3cr3t" not in "\n".join(found)


def test_a_secret_file_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"abc\xffdef")
    path = tmp_path / "config.yml"
    path.write_text((CONFIGS / "secret_file.yml").read_text().replace("SECRET_PATH", str(secret)))
    found = problems_at(path)
    assert "accounts[0].client_secret_file: not UTF-8 text: byte 0xff at line 1, column 4" in found
    assert not any("abc" in p or "def" in p for p in found)


def problems_at(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    return err.value.problems


@pytest.mark.parametrize(
    ("account", "key", "words"),
    [
        ({"provider": "kognitive", "auth_key": "k"}, "offline_after", "Kognitive reports online state itself"),
        ({"provider": "oneweb", "client_id": "c", "client_secret": "s"}, "offline_after", "OneWeb reports online"),
        ({"provider": "oneweb", "client_id": "c", "client_secret": "s"}, "account", "always the account's `name`"),
    ],
)
def test_keys_a_provider_would_ignore_are_rejected_with_the_reason(account: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"accounts": [{**account, "name": "x", key: "DP-1" if key == "account" else "5m"}]})
    (problem,) = raised.value.problems
    assert problem.startswith(f"accounts[0]: {key}: ") and words in problem


def test_offline_after_stays_a_starlink_key() -> None:
    config = parse_config(
        {
            "accounts": [
                {"provider": "starlink", "name": "s", "client_id": "c", "client_secret": "s", "offline_after": "5m"}
            ]
        }
    )
    assert config.accounts[0].offline_after == 300.0


def test_the_config_module_parses_with_the_models_it_is_handed_and_loads_no_provider() -> None:
    """config.py knows no provider: the caller hands in the account models (the registry's, normally)."""
    probe = (
        "import sys\n"
        "from leo_exporter import config\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('leo_exporter') and m != 'leo_exporter._version')\n"
        "from leo_exporter.providers.starlink.config import StarlinkAccount\n"
        "try:\n"
        "    config.parse_config({'accounts': [{'provider': 'oneweb'}]}, {'starlink': StarlinkAccount})\n"
        "except config.ConfigError as err:\n"
        "    print(err.problems)\n"
        "done = config.parse_config({'collectors': {'router': False}}, {'starlink': StarlinkAccount})\n"
        "print(done.disabled_collectors)\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    lines = out.stdout.splitlines()
    assert lines[0] == "['accounts[0].provider: must be one of starlink']"
    assert lines[1] == "frozenset({'router'})"  # no collector list handed in: none checked
    # what importing config loads: its own helpers, never the registry, a provider or the wiring
    own = ("config", "durations", "jobspec", "logs", "tags", "version", "yamlfile")
    assert lines[2] == str(["leo_exporter", *(f"leo_exporter.{name}" for name in own)])
