"""YAML config -> validated, typed config.

Every problem is reported with its key path (`accounts[1].client_secret`), all at once, and
never with the offending value: values may be secrets. `${VAR}` is replaced from the
environment and `*_file` keys are read from disk before validation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from leo_exporter.durations import parse_duration
from leo_exporter.jobspec import JobSpec
from leo_exporter.logs import basic_credentials
from leo_exporter.tags import TagsConfig
from leo_exporter.yamlfile import ConfigError, decode_strictly, load_yaml_file

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

Duration = Annotated[float, BeforeValidator(parse_duration)]
MIN_TIMEOUT = 0.1  # below 100 ms no provider answers: a timeout that small only makes failures
MIN_BACKOFF = 0.1  # a 0 s backoff retries a failing call (or the token endpoint) in a tight loop
# a response body larger than this once decoded is refused (a 65,000-row telemetry page: ~30 MiB)
DEFAULT_MAX_RESPONSE_SIZE = 128 * 1024 * 1024
MIN_RESPONSE_SIZE = 64 * 1024
MAX_BILLING_CYCLES_KEPT = 25  # the current cycle and two years before it
DEFAULT_MAX_ITEMS_PER_RUN = 1_000_000  # far beyond any fleet; a provider paging for ever stops here
MAX_SECRET_FILE_BYTES = 64 * 1024


def at_least(value: float, minimum: float) -> float:
    if value < minimum:
        raise ValueError(f"must be at least {round(minimum * 1000)}ms")
    return value


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobConfig(Strict):
    enabled: bool = True
    interval: Duration | None = None
    timeout: Duration | None = None

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be greater than 0s")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float | None) -> float | None:
        return value if value is None else at_least(value, MIN_TIMEOUT)


@dataclass(frozen=True, slots=True)
class ResolvedJob:
    name: str
    enabled: bool
    interval: float
    timeout: float


class AccountConfig(Strict):
    """Keys every provider account has. Providers subclass it with their own keys."""

    provider: str
    name: str = Field(min_length=1)
    api_url: str
    jobs: dict[str, JobConfig] = Field(default_factory=dict)
    request_budget_per_minute: int = Field(default=100, ge=1, le=10000)
    timeout: Duration = 30.0
    backoff_base: Duration = 5.0
    backoff_max: Duration = 300.0
    offline_after: Duration | None = None
    management_actions: bool = False
    # the most a response body may be once decoded (`128MiB`, `1GiB` or bytes): a gzip bomb or an
    # endless body fails that call with a clear error instead of taking the memory
    max_response_size: ByteSize = ByteSize(DEFAULT_MAX_RESPONSE_SIZE)
    # billing cycles per service line (the running one included) that the usage jobs ask for and
    # the monthly usage report keeps (`usage-report`, `/usage.csv`); a provider may bound it lower
    billing_cycles_kept: int = Field(default=3, ge=1, le=MAX_BILLING_CYCLES_KEPT)
    # the most items one run reads across the pages of a listing: a provider that pages for ever,
    # or claims millions of pages, fails that run with a clear error instead of growing it
    max_items_per_run: int = Field(default=DEFAULT_MAX_ITEMS_PER_RUN, ge=1)

    # the provider's jobs, in order (its JobSpecs, declared once in its folder): the `jobs:` keys
    # this model accepts and the defaults `resolved_jobs` fills in
    JOBS: ClassVar[tuple[JobSpec, ...]] = ()

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        return at_least(value, MIN_TIMEOUT)

    @field_validator("max_response_size")
    @classmethod
    def _response_size(cls, value: ByteSize) -> ByteSize:
        if value < MIN_RESPONSE_SIZE:
            raise ValueError("must be at least 64KiB")
        return value

    @field_validator("backoff_base", "backoff_max")
    @classmethod
    def _backoff(cls, value: float) -> float:
        return at_least(value, MIN_BACKOFF)

    @field_validator("offline_after")
    @classmethod
    def _offline_after(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> AccountConfig:
        if self.backoff_max < self.backoff_base:
            raise ValueError("backoff_max must not be below backoff_base")
        return self

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("jobs", mode="before")
    @classmethod
    def _known_jobs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            names = [job.name for job in cls.JOBS]
            unknown = sorted(str(k) for k in set(value) - set(names))
            if unknown:
                known = ", ".join(names)
                raise ValueError(f"unknown job {', '.join(unknown)}; this provider has: {known}")
        return value

    @classmethod
    def secret_fields(cls) -> list[str]:
        """Fields that hold secrets: each may instead be read from `<field>_file`."""
        return [name for name, f in cls.model_fields.items() if SecretStr in (f.annotation, *get_args(f.annotation))]

    def resolved_jobs(self) -> list[ResolvedJob]:
        """Every job of the account with defaults filled in, in the provider's order."""
        out = []
        for default in self.JOBS:
            cfg = self.jobs.get(default.name, JobConfig())
            interval = cfg.interval or default.interval
            timeout = cfg.timeout or max(default.timeout, self.timeout)
            enabled = cfg.enabled if default.name in self.jobs else default.enabled
            out.append(ResolvedJob(default.name, enabled, interval, timeout))
        return out

    def secrets(self) -> list[str]:
        """Secret values, so that logs and pages can redact them wherever they turn up (with a
        `client_id`, also the Base64 `client_id:secret` of an HTTP Basic header)."""
        values = []
        client_id = getattr(self, "client_id", None)
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
                if isinstance(client_id, str) and client_id:
                    values.append(basic_credentials(client_id, value.get_secret_value()))
        return values


class ShardConfig(Strict):
    index: int = Field(default=0, ge=0)
    total: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _index_in_range(self) -> ShardConfig:
        if self.index >= self.total:
            raise ValueError(f"index must be below total ({self.total})")
        return self


class Config(Strict):
    # Validated per provider by parse_config (each account with its own provider's model).
    accounts: list[AccountConfig] = Field(default_factory=list)
    shard: ShardConfig = ShardConfig()
    offline_after: Duration = 180.0
    render_interval: Duration = Field(default=10.0, description="re-render at least this often")
    collectors: dict[str, bool] = Field(
        default_factory=dict,
        description="metric groups to switch on or off (on by default, but router_wifi and details)",
    )
    tags: TagsConfig = Field(default_factory=TagsConfig, description="tag keys and rules (leo_exporter/tags.py)")
    tags_file: str | None = Field(default=None, description="CSV of tags: an identifier column, then tag keys")

    @property
    def disabled_collectors(self) -> frozenset[str]:
        return frozenset(name for name, on in self.collectors.items() if not on)

    @field_validator("offline_after", "render_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value


def _secrets_from_files(raw: dict[str, Any], model: type[AccountConfig], where: str, problems: list[str]) -> None:
    """Fold each `<secret>_file` key into `<secret>` (file content, stripped)."""
    for key in model.secret_fields():
        file_key = f"{key}_file"
        if file_key not in raw:
            continue
        path = Path(str(raw.pop(file_key)))
        if raw.get(key) not in (None, ""):
            problems.append(f"{where}.{file_key}: give either {key} or {file_key}, not both")
            continue
        try:
            with path.open("rb") as file:  # at most a little more than a secret: not /dev/zero for ever
                content = file.read(MAX_SECRET_FILE_BYTES + 1)
            if len(content) > MAX_SECRET_FILE_BYTES:
                problems.append(f"{where}.{file_key}: {path} is larger than 64 KiB, which no secret is")
                continue
            raw[key] = decode_strictly(content, f"{where}.{file_key}").strip()
        except OSError as exc:
            problems.append(f"{where}.{file_key}: cannot read {path}: {exc.strerror}")
        except ConfigError as err:
            problems.extend(err.problems)


def _expand_env(node: Any, path: str, env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, _join(path, str(k)), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            return env[name]

        return _ENV_REF.sub(lookup, node)
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _loc_to_path(loc: tuple[Any, ...], tags: set[str]) -> str:
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif index == 0 and part in tags:
            continue  # pydantic names the union member chosen by `provider`; users never wrote it
        else:
            path = _join(path, str(part))
    return path


def _format_errors(err: ValidationError, prefix: str, tags: set[str]) -> list[str]:
    """One line per problem: `<key path>: <message>`; never the offending value."""
    problems = []
    for item in err.errors(include_input=False, include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        path = _loc_to_path(tuple(item["loc"]), tags)
        where = f"{prefix}.{path}" if prefix and path else (prefix or path or "(top level)")
        problems.append(f"{where}: {message}")
    return problems


def parse_config(
    data: Any,
    models: Mapping[str, type[AccountConfig]],
    env: Mapping[str, str] | None = None,
    *,
    collectors: Sequence[str] = (),
    default_off: Collection[str] = (),
) -> Config:
    """Validate a parsed YAML document; raises ConfigError listing every problem.

    `models`: each provider's account model by provider name, `collectors`: the collector groups
    there are, `default_off`: those off unless the config switches them on. The caller hands them
    in (`leo_exporter.providers.parse_config` passes the registry's and the catalogue's), so this
    module imports no provider and no other part of the exporter."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping of keys (accounts, shard, ...)"])
    problems: list[str] = []
    data = _expand_env(data, "", os.environ if env is None else env, problems)
    tags = set(models)
    config: Config | None = None
    listed = isinstance(data.get("accounts"), list)
    raw_accounts: list[Any] = data["accounts"] if listed else []
    try:  # a list of accounts is checked below, each item against its provider's model
        config = Config.model_validate({**data, "accounts": []} if listed else data)
    except ValidationError as err:
        problems.extend(_format_errors(err, "", tags))
    if config is not None and collectors:
        problems.extend(_unknown_collectors(config.collectors, collectors))

    accounts: list[AccountConfig] = []
    for index, raw in enumerate(raw_accounts):
        where = f"accounts[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        provider = raw.get("provider")
        model = models.get(provider) if isinstance(provider, str) else None
        if model is None:
            known = " | ".join(sorted(models))
            problems.append(f"{where}.provider: must be one of {known}")
            continue
        raw = dict(raw)
        raw.setdefault("name", f"{provider}-{index + 1}")
        _secrets_from_files(raw, model, where, problems)
        try:
            accounts.append(TypeAdapter(model).validate_python(raw))
        except ValidationError as err:
            problems.extend(_format_errors(err, where, tags))
    names = [a.name for a in accounts]
    problems.extend(
        f"accounts: name {dup!r} is used more than once; names must be unique"
        for dup in sorted({n for n in names if names.count(n) > 1})
    )
    if problems or config is None:
        raise ConfigError(problems)
    switched = {**{name: False for name in sorted(default_off)}, **config.collectors}
    return config.model_copy(update={"accounts": accounts, "collectors": switched})


def _unknown_collectors(given: Mapping[str, bool], collectors: Sequence[str]) -> list[str]:
    unknown = sorted(set(given) - set(collectors))
    if not unknown:
        return []
    return [f"collectors: unknown collector {', '.join(unknown)}; there are: {', '.join(collectors)}"]


def load_config(
    path: str | Path,
    models: Mapping[str, type[AccountConfig]],
    env: Mapping[str, str] | None = None,
    *,
    collectors: Sequence[str] = (),
    default_off: Collection[str] = (),
) -> Config:
    """Read (as bytes, decoded strictly), parse (no duplicate keys) and validate a config file."""
    data = load_yaml_file(path, "config file")
    return parse_config(data, models, env, collectors=collectors, default_off=default_off)
