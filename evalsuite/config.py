"""Typed configuration: pydantic models with errors that name the field and value.

Every configuration object in evalsuite derives from :class:`StrictModel`
(unknown keys are errors, not silently ignored). ``key=value`` options from the
command line (``-T shots=5``, ``-C beta=0.1``) go through :func:`parse_key_values`
and are then validated by the model they configure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from evalsuite.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for configuration models: unknown fields are rejected, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """Render a pydantic error as lines naming each bad field and the value received."""
    lines = [f"invalid {where}:"]
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown field (got {err.get('input')!r})")
        else:
            lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate(model: type[M], data: dict[str, Any], where: str) -> M:
    """Build ``model`` from ``data``; raise :class:`ConfigError` naming fields and values on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        known = ", ".join(sorted(model.model_fields))
        raise ConfigError(f"{describe_validation_error(exc, where)}\n  known fields: {known}") from None


def parse_value(text: str) -> Any:
    """Parse a command-line value the way YAML would (``5`` -> 5, ``true`` -> True, ``a,b`` stays a string)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if value is None and text.strip() not in ("", "~", "null", "Null", "NULL"):
        return text  # a YAML tag or directive ("!", "!x") that parsed to nothing: the user meant the text
    # Mappings and dates are never what a user meant on a command line.
    return value if isinstance(value, (str, int, float, bool, list)) or value is None else text


def parse_key_values(items: list[str] | None, option: str = "-T") -> dict[str, Any]:
    """Turn ``["shots=5", "subjects=anatomy,virology"]`` into a dict; reject items without '='."""
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects key=value, got {item!r}")
        result[key.strip()] = parse_value(value.strip())
    return result


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data
