"""A whole recipe: every stage in dependency order, each into ``<out>/<stage>``; finished stages are skipped.

:func:`run_pipeline` trains the stages one after another in this process. ``evalsuite train pipeline``
runs independent stages side by side in separate processes (``evalsuite.jobs.train_pipeline``), each
through :func:`run_recipe_stage`, so a stage trains the same way either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalsuite.errors import ConfigError
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.methods.base import StageRun
from evalsuite.trainers.recipe import Recipe, load_recipe, method_named, stage_from_options
from evalsuite.trainers.stage import TRAINER_DIR, StageResult, _digest, run_stage


def needed_stages(recipe: Recipe, only: list[str] | None = None) -> list[str]:
    """The recipe's stages in dependency order, or only those named in ``only`` and their ancestors."""
    order = recipe.order()
    if not only:
        return order
    unknown = [name for name in only if name not in recipe.stages]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; this recipe has: {', '.join(order)}")
    needed: set[str] = set()
    for name in only:
        while name in recipe.stages and name not in needed:
            needed.add(name)
            name = getattr(recipe.stages[name], "parent", None)
    return [name for name in order if name in needed]


def stage_parent(recipe: Recipe, name: str) -> str | None:
    """The stage of ``recipe`` that stage ``name`` starts from, or None (a checkpoint outside the recipe, or none)."""
    parent = getattr(recipe.stages[name], "parent", None)
    return parent if parent in recipe.stages else None


def run_recipe_stage(recipe: Recipe, name: str, out_dir: str | Path, stage_outputs: dict[str, str], *,
                     force: bool = False) -> StageResult:
    """Train stage ``name`` of ``recipe`` into ``out_dir/name``; ``stage_outputs`` holds its finished parents."""
    return run_stage(name, recipe.stages[name], recipe.runtime, Path(out_dir) / name, recipe=recipe,
                     stage_outputs=stage_outputs, force=force)


def finished_stage(recipe: Recipe, name: str, out_dir: str | Path, stage_outputs: dict[str, str]) -> StageResult | None:
    """The result of stage ``name`` when ``out_dir/name`` holds it finished with the same config, else None.

    Loads nothing: it hashes the parent's weights and the data only when a manifest is there, as
    :func:`evalsuite.trainers.stage.run_stage` would before deciding to skip.
    """
    stage, folder = recipe.stages[name], (Path(out_dir) / name).resolve()
    method = method_named(stage.method)
    if not method.trains or ckpt.read_manifest(folder) is None:
        return None
    run = StageRun(name=name, out_dir=folder, trainer_dir=folder / TRAINER_DIR, runtime=recipe.runtime,
                   recipe=recipe, stage_outputs=stage_outputs)
    if not ckpt.is_finished(folder, _digest(name, stage, recipe.runtime, method.inputs(stage, run))):
        return None
    return StageResult(name=name, path=str(folder), skipped=True, manifest=ckpt.read_manifest(folder))


def run_pipeline(recipe: str | Path | dict[str, Any] | Recipe, out_dir: str | Path, *, only: list[str] | None = None,
                 force: bool = False, on_stage: Callable[[StageResult], None] | None = None) -> dict[str, str]:
    """Train the recipe's stages (or ``only`` these and their ancestors) one after another in this process;
    returns stage name -> checkpoint path.

    Rerunning with the same recipe and data skips finished stages, so the call is resumable and cheap when
    everything exists already.
    """
    recipe = load_recipe(recipe)
    outputs: dict[str, str] = {}
    for name in needed_stages(recipe, only):
        result = run_recipe_stage(recipe, name, out_dir, outputs, force=force)
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
