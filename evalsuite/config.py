"""Typed configuration: pydantic models with errors that name the field and value.

Every configuration object in evalsuite derives from :class:`StrictModel`
(unknown keys are errors, not silently ignored). ``key=value`` options from the
command line (``-T shots=5``, ``-C beta=0.1``) go through :func:`parse_key_values`
and are then validated by the model they configure.
"""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from evalsuite.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

ECHO_LIMIT = 200  # characters of a received value echoed in an error message


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out, for echoing in messages."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class StrictModel(BaseModel):
    """Base for configuration models: unknown fields are rejected, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """Render a pydantic error as lines naming each bad field and the value received."""
    lines = [f"invalid {where}:"]
    for err in exc.errors():
        field = shorten(".".join(str(part) for part in err["loc"]) or "(top level)")
        received = shorten(repr(err.get("input")))
        if err["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown field (got {received})")
        else:
            lines.append(f"  {field}: {shorten(err['msg'], 4 * ECHO_LIMIT)} (got {received})")
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
        value = yaml.load(text, Loader=_BoundedLoader)  # safe: a SafeLoader subclass
    except (yaml.YAMLError, RecursionError):
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


MAX_YAML_VALUES = 100_000  # values in a YAML document once its aliases are expanded


class _BoundedLoader(yaml.SafeLoader):
    """YAML's safe loader with aliases bounded. An alias (``*name``) repeats a value without copying it, so a
    few hundred bytes can stand for gigabytes once the value is validated or printed ("billion laughs"): a
    document whose aliases expand past :data:`MAX_YAML_VALUES` values, or that contains itself, is refused."""

    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            _expanded_values(node, {}, set())
        return node


def _expanded_values(node: yaml.Node, memo: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` holds with every alias written out (each shared node counted once per use)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_nodes:
        raise yaml.composer.ComposerError(None, None, "an alias refers to a value that contains it", node.start_mark)
    open_nodes.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else [])
    total = 1 + sum(_expanded_values(child, memo, open_nodes) for child in children)
    open_nodes.discard(key)
    if total > MAX_YAML_VALUES:
        raise yaml.composer.ComposerError(
            None, None, f"aliases (*name) expand this value past {MAX_YAML_VALUES} values; write it out without "
            "aliases", node.start_mark)
    memo[key] = total
    return total


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with errors that name the file; alias expansion is bounded."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_BoundedLoader)  # safe: a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {shorten(str(exc), 4 * ECHO_LIMIT)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply to read; flatten it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def template_field(*names: str) -> Any:
    """A ``str.format`` template that may use only the fields ``{name}`` for ``names``, with no conversion or
    format spec; ``{{`` and ``}}`` are literal braces. Anything else is a validation error at load time."""
    allowed = ", ".join("{" + name + "}" for name in names)

    def check(text: str) -> str:
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValueError(f"{exc}; a literal brace is written {{{{ or }}}}") from None
        for _, field, spec, conversion in parsed:
            if field is not None and (field not in names or spec or conversion):
                written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                raise ValueError(f"unknown field {shorten(written, 60)}; allowed: {allowed or 'none'} "
                                 "(a literal brace is written {{ or }})")
        return text

    return Annotated[str, AfterValidator(check)]


def _relative_path(text: str) -> str:
    path = PurePosixPath(text)
    if not text or "\\" in text or "\0" in text or path.is_absolute() or ".." in path.parts or text.startswith("~"):
        raise ValueError("must be a relative path inside its folder: no leading '/' or '~', no '..', no '\\'")
    return text


def _plain_name(text: str) -> str:
    if not text or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise ValueError("must be a plain name: not empty, '.' or '..', and without '/', '\\' or NUL")
    return text


RelativePath = Annotated[str, AfterValidator(_relative_path)]
PlainName = Annotated[str, AfterValidator(_plain_name)]


def path_template(*names: str) -> Any:
    """A :func:`template_field` that is also a relative path inside its folder (a file name pattern)."""
    return Annotated[template_field(*names), AfterValidator(_relative_path)]


def contained(folder: Path, relative: str, what: str) -> Path:
    """``folder / relative``, refused with a ConfigError when it leads outside ``folder`` (``..``, an absolute
    path, a symlink); nothing is read, so nothing of the file is echoed."""
    path = folder / relative
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"{what} {shorten(repr(relative))} leads outside {folder} (an absolute path, '..' or a "
                          "symlink); keep the files inside that folder")
    return path
