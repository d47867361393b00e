"""Config keys of a `provider: oneweb` account.

```yaml
- provider: oneweb
  name: hns-partner              # shown in logs; the `account` label unless `account` is given
  account: DP-1001               # the `account` label, e.g. the distribution partner id
  client_id: "…"                 # developer portal, "My applications"
  client_secret_file: /run/secrets/oneweb
  api_url: https://api.oneweb.net          # https://api.oneweb.training for training
  pagination: auto               # auto | none | offset (offset/limit with X-Total-Count)
  location_order: lon_lat        # GeoJSON order; lat_lon if your data says otherwise
  paths:                         # the guessed endpoints, relative to api_url
    sites: geographicSiteManagement/v4/geographicSite
  fields:                        # the guessed JSON field paths, by record kind
    product:
      allowance: productCharacteristic[name=allowance].value
      max_downlink: {path: maxDownlink, unit: kbps}
```
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from leo_exporter.config import AccountConfig, Strict
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers.oneweb.jobspecs import JOBS
from leo_exporter.providers.oneweb.schema import (
    DEFAULT_API_URL,
    ENDPOINTS,
    SHAPES,
    USER_TERMINAL_FIELDS,
    compile_path,
)
from leo_exporter.providers.oneweb.units import dimension_of, unit_factor
from leo_exporter.providers.removed import OFFLINE_AFTER_IGNORED, REMOVED_KEYS, rejecting


def _clean_path(value: str) -> str:
    value = value.strip()
    if not value or value.startswith(("http://", "https://")) or "?" in value:
        raise ValueError("must be a path relative to api_url, without a query string")
    return value.strip("/")


class OneWebPaths(Strict):
    """Endpoint paths relative to `api_url` (see schema.ENDPOINTS for which are confirmed)."""

    hello: str = ENDPOINTS["hello"].path
    user_terminals: str = ENDPOINTS["user_terminals"].path
    products: str = ENDPOINTS["products"].path
    organizations: str = ENDPOINTS["organizations"].path
    sites: str = ENDPOINTS["sites"].path
    terminal_performance: str = ENDPOINTS["terminal_performance"].path
    product_performance: str = ENDPOINTS["product_performance"].path
    usage_consumption: str = ENDPOINTS["usage_consumption"].path

    @field_validator("*")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _clean_path(value)


class FieldOverride(Strict):
    path: str
    unit: str = ""


class OneWebAccount(AccountConfig):
    provider: Literal["oneweb"]
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    api_url: str = DEFAULT_API_URL
    paths: OneWebPaths = OneWebPaths()
    fields: dict[str, dict[str, str | FieldOverride]] = Field(default_factory=dict)
    user_terminal_fields: list[str] = Field(default_factory=lambda: list(USER_TERMINAL_FIELDS))
    pagination: Literal["auto", "none", "offset"] = "auto"
    page_size: int = Field(default=500, ge=1, le=10000)
    location_order: Literal["lon_lat", "lat_lon"] = "lon_lat"
    link_availability_scale: Literal["percent", "ratio"] = "percent"
    traffic_counters: Literal["per_report", "cumulative"] = "per_report"
    firmware_component: str = Field(default="UT", description="component type whose version is software_version")

    JOBS: ClassVar[tuple[JobSpec, ...]] = JOBS

    _removed = model_validator(mode="before")(
        rejecting({**REMOVED_KEYS, "offline_after": OFFLINE_AFTER_IGNORED.format(provider="OneWeb")})
    )

    @field_validator("fields", mode="before")
    @classmethod
    def _known_fields(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        problems = []
        for kind, overrides in value.items():
            if kind not in SHAPES:
                problems.append(f"unknown record kind {kind!r} (known: {', '.join(SHAPES)})")
                continue
            if not isinstance(overrides, dict):
                continue  # pydantic says what is wrong with it
            for name, spec in overrides.items():
                if name not in SHAPES[kind]:
                    problems.append(f"{kind}: unknown field {name!r} (known: {', '.join(SHAPES[kind])})")
                    continue
                path = spec.get("path") if isinstance(spec, dict) else spec
                unit = spec.get("unit", "") if isinstance(spec, dict) else ""
                if isinstance(path, str):
                    try:
                        compile_path(path)
                    except ValueError as exc:
                        problems.append(f"{kind}.{name}: {exc}")
                default_unit = SHAPES[kind][name].unit
                if unit and isinstance(unit, str):
                    if not default_unit:
                        problems.append(f"{kind}.{name}: this field takes no unit")
                    else:
                        try:
                            unit_factor(unit, dimension_of(default_unit))
                        except ValueError as exc:
                            problems.append(f"{kind}.{name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("user_terminal_fields")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or "," in name or name.strip() != name:
                raise ValueError("each entry must be one field name, without commas or spaces")
        return value

    def field_paths(self) -> dict[str, dict[str, tuple[str, str]]]:
        """kind -> field -> (path, unit of a bare number), the schema with this account's overrides."""
        out: dict[str, dict[str, tuple[str, str]]] = {}
        for kind, fields in SHAPES.items():
            overrides = self.fields.get(kind, {})
            table = {}
            for name, spec in fields.items():
                given = overrides.get(name)
                if isinstance(given, FieldOverride):
                    table[name] = (given.path, given.unit or spec.unit)
                elif isinstance(given, str):
                    table[name] = (given, spec.unit)
                else:
                    table[name] = (spec.path, spec.unit)
            out[kind] = table
        return out
