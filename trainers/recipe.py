"""Training recipes: one YAML file describes every stage of a pipeline.

A recipe is a mapping of stage name to stage config. Every stage names its
``method``, a name in ``evalsuite.registry.TRAINER_METHODS`` whose config model
validates the stage (looked up when the recipe is validated, so a method
registered at runtime or by an outside package is accepted like a built-in);
most methods also name a ``parent``: another stage of the recipe, a local
checkpoint directory, or a Hub id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SerializeAsAny, model_validator

from evalsuite.config import StrictModel, load_yaml, shorten, validate
from evalsuite.errors import ConfigError
from evalsuite.registry import TRAINER_METHODS
from evalsuite.trainers.settings import AlarmSettings, EvalSettings, LoraSettings, Runtime, StageConfig

_STAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ENV_PATTERN = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
# The only environment variables a recipe may read: anything else (a token, a password) would be copied into
# data paths and from there into manifests and messages. Documented in trainers/README.md.
RECIPE_VARIABLES = ("EVALSUITE_DATA_DIR",)


def check_variables(text: str) -> str:
    """``text`` unchanged; a ConfigError when it names a ``${VAR}`` outside :data:`RECIPE_VARIABLES`."""
    for match in _ENV_PATTERN.finditer(text):
        if match.group(1) not in RECIPE_VARIABLES:
            raise ConfigError(
                f"{shorten(repr(text))} uses ${{{shorten(match.group(1), 60)}}}, which recipes may not read; allowed "
                f"variables: {', '.join(RECIPE_VARIABLES)} (write other paths out, '~' for your home directory)"
            )
    return text


def expand_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` for the variables in :data:`RECIPE_VARIABLES`; another
    variable, or an unset one without a default, is an error."""

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ConfigError(f"{shorten(repr(text))} uses ${{{name}}} but {name} is not set; export it or write ${{{name}:-default}}")

    return _ENV_PATTERN.sub(replace, check_variables(text))


def _check_all_variables(value: Any) -> None:
    """Every string in a recipe passes :func:`check_variables`, so a bad variable fails before any stage trains."""
    if isinstance(value, str):
        check_variables(value)
    elif isinstance(value, dict):
        for item in value.values():
            _check_all_variables(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_all_variables(item)


def method_named(name: Any):
    """The registered training method called ``name``; a ConfigError listing the known methods otherwise."""
    if not isinstance(name, str) or name not in TRAINER_METHODS:
        raise ConfigError(f"unknown training method {name!r}; known methods: {', '.join(TRAINER_METHODS.names())}")
    return TRAINER_METHODS.get(name)


def _stage_config(value: Any) -> Any:
    """Validate a stage mapping with the config model of the method it names (looked up at validation time)."""
    if not isinstance(value, dict):
        return value  # a config object already, or pydantic reports the wrong type
    if "method" not in value:
        raise ValueError(f"missing field 'method': one of {', '.join(TRAINER_METHODS.names())}")
    return method_named(value["method"]).Stage.model_validate(value)


class Recipe(StrictModel):
    name: str = Field("recipe", description="Recipe name, recorded in every manifest.")
    data_dir: str = Field(
        "${EVALSUITE_DATA_DIR:-../shared/datasets}",
        description="Relative data paths resolve against this directory; ${EVALSUITE_DATA_DIR} and "
        "${EVALSUITE_DATA_DIR:-default} expand (the only variable a recipe may read).",
    )
    runtime: Runtime = Field(default_factory=Runtime, description="Seed, threads, device and precision for all stages.")
    stages: dict[str, Annotated[SerializeAsAny[StageConfig], BeforeValidator(_stage_config)]] = Field(
        description="Stage name -> stage config (its `method` picks the config model), trained in dependency order."
    )

    @model_validator(mode="after")
    def _stage_names_and_parents(self):
        _check_all_variables(self.model_dump())
        for name, stage in self.stages.items():
            if not _STAGE_NAME.fullmatch(name):
                raise ValueError(f"stage name {name!r} must be letters, digits, '_', '-' or '.' (it becomes a directory name)")
            if getattr(stage, "parent", None) == name:
                raise ValueError(f"stage {name!r} names itself as parent")
        return self

    def order(self) -> list[str]:
        """Stage names so that every parent comes before its children."""
        done: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                raise ConfigError(f"recipe stages form a cycle through {name!r}")
            visiting.add(name)
            parent = getattr(self.stages[name], "parent", None)
            if parent in self.stages:
                visit(parent)
            visiting.discard(name)
            done.append(name)

        for name in self.stages:
            visit(name)
        return done

    def resolve_data(self, path: str) -> Path:
        """Absolute path of a data file named in this recipe."""
        expanded = Path(expand_env(path)).expanduser()
        if expanded.is_absolute():
            return expanded
        return (Path(expand_env(self.data_dir)).expanduser() / expanded).resolve()


def load_recipe(source: str | Path | dict[str, Any] | Recipe) -> Recipe:
    """Validate a recipe from a YAML path, a mapping, or return a Recipe unchanged."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, dict):
        return validate(Recipe, source, "recipe")
    return validate(Recipe, load_yaml(source), f"recipe {source}")


def stage_from_options(method: str, options: dict[str, Any]) -> tuple[Runtime, StageConfig]:
    """Build one stage (and the runtime) from ``-C key=value`` options, as ``evalsuite train <method>`` does."""
    method_named(method)
    runtime_keys = set(Runtime.model_fields)
    runtime = validate(Runtime, {k: v for k, v in options.items() if k in runtime_keys}, "runtime options")
    stage_data = {k: v for k, v in options.items() if k not in runtime_keys}
    recipe = validate(Recipe, {"stages": {method: {"method": method, **stage_data}}, "runtime": runtime.model_dump()}, f"{method} options")
    return recipe.runtime, recipe.stages[method]


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set ``stage.key=value``, ``runtime.key=value``, ``name`` or ``data_dir`` in a recipe mapping (in place)."""
    for key, value in overrides.items():
        if "." not in key and key not in ("name", "data_dir"):
            raise ConfigError(f"-C {key}=...: name the stage or section, e.g. -C dpo.{key}=... or -C runtime.{key}=...")
        dotted = key if "." not in key or key.startswith("runtime.") else f"stages.{key}"
        mapping, parts = data, dotted.split(".")
        for part in parts[:-1]:
            mapping = mapping.setdefault(part, {})
            if not isinstance(mapping, dict):
                raise ConfigError(f"-C {dotted}: {part!r} is not a mapping in the recipe")
        mapping[parts[-1]] = value
    return data


# Parts of a stage config documented on their own by `evalsuite train fields <section>`.
SECTIONS = {"runtime": Runtime, "lora": LoraSettings, "eval": EvalSettings, "alarm": AlarmSettings}


def field_docs(name: str) -> tuple[str, list[tuple[str, str, str]]]:
    """What ``evalsuite train fields`` prints for a method or a section (:data:`SECTIONS`: ``runtime``, ``lora``,
    ``eval``, ``alarm``): the model's docstring and (field, default or "required", description) for every field
    but ``method``."""
    model = SECTIONS.get(name) or method_named(name).Stage
    fields = [(field, "required" if info.is_required() else repr(info.get_default(call_default_factory=True)),
               info.description or "") for field, info in model.model_fields.items() if field != "method"]
    return (model.__doc__ or "").strip(), fields


def config_hash(payload: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able mapping."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
