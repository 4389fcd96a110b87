"""A whole recipe: every stage in dependency order, each into ``<out>/<stage>``; finished stages are skipped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalsuite.errors import ConfigError
from evalsuite.trainers.recipe import Recipe, load_recipe, method_named, stage_from_options
from evalsuite.trainers.stage import StageResult, run_stage


def run_pipeline(recipe: str | Path | dict[str, Any] | Recipe, out_dir: str | Path, *, only: list[str] | None = None,
                 force: bool = False, on_stage: Callable[[StageResult], None] | None = None) -> dict[str, str]:
    """Train the recipe's stages (or ``only`` these and their ancestors); returns stage name -> checkpoint path.

    Rerunning with the same recipe and data skips finished stages, so the call is resumable and cheap when
    everything exists already.
    """
    recipe = load_recipe(recipe)
    order = recipe.order()
    if only:
        unknown = [name for name in only if name not in recipe.stages]
        if unknown:
            raise ConfigError(f"unknown stage(s) {unknown}; this recipe has: {', '.join(order)}")
        needed: set[str] = set()
        for name in only:
            while name in recipe.stages and name not in needed:
                needed.add(name)
                name = getattr(recipe.stages[name], "parent", None)
        order = [name for name in order if name in needed]
    outputs: dict[str, str] = {}
    for name in order:
        result = run_stage(name, recipe.stages[name], recipe.runtime, Path(out_dir) / name, recipe=recipe,
                           stage_outputs=outputs, force=force)
        outputs[name] = result.path
        if on_stage:
            on_stage(result)
    return outputs


def train_stage(method: str, options: dict[str, Any], out_dir: str | Path, *, model: str | None = None,
                data: list[str] | None = None, force: bool = False) -> StageResult:
    """Train one stage of ``method`` from ``key=value`` options, as ``evalsuite train <method>`` does.

    ``model`` and ``data`` fill the stage fields the method names for ``--model`` and ``--data`` (data paths
    are made absolute); runtime keys among the options (seed, threads, device, precision) go to the runtime.
    """
    spec = method_named(method)
    options = dict(options)
    if spec.model_field and model is not None:
        options[spec.model_field] = model
    if spec.data_field and data is not None:
        options[spec.data_field] = [str(Path(p).resolve()) for p in data]
    runtime, stage = stage_from_options(method, options)
    return run_stage(method, stage, runtime, out_dir, recipe=Recipe(stages={}, runtime=runtime), force=force)
