"""Run one stage: find its inputs, check everything, train, save a checkpoint with its manifest.

What happens here is the same for every method (``evalsuite.trainers.methods``): a stage whose checkpoint
already has a manifest with the same config hash is skipped without loading anything; every check that
can fail (parent missing, malformed or empty data, LoRA targets) runs in the method's ``prepare``, before
training starts; an interrupted stage resumes from its last trainer checkpoint under ``<out>/.trainer``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from evalsuite.errors import DataError
from evalsuite.provenance import git_state, package_versions, sha256_file
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.methods.base import Inputs, Prepared, StageRun, Trained
from evalsuite.trainers.recipe import Recipe, config_hash, method_named
from evalsuite.trainers.settings import Runtime, StageConfig

TRAINER_DIR = ".trainer"


@dataclass
class StageResult:
    name: str
    path: str
    skipped: bool
    manifest: ckpt.Manifest | None = None
    notes: list[str] = field(default_factory=list)


def run_stage(name: str, stage: StageConfig, runtime: Runtime, out_dir: str | Path, *, recipe: Recipe | None = None,
              stage_outputs: dict[str, str] | None = None, force: bool = False, callbacks: tuple = ()) -> StageResult:
    """Train ``stage`` into ``out_dir`` (or skip it when finished with the same config); see the module docstring."""
    import torch

    method = method_named(stage.method)
    out_dir = Path(out_dir).resolve()
    run = StageRun(name=name, out_dir=out_dir, trainer_dir=out_dir / TRAINER_DIR, runtime=runtime,
                   recipe=recipe or Recipe(stages={}), stage_outputs=stage_outputs or {})
    inputs = method.inputs(stage, run)
    if not method.trains:
        return StageResult(name=name, path=inputs.parent, skipped=True, notes=["loaded, not trained"])

    started, started_at = time.time(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    torch.set_num_threads(runtime.threads)
    digest = _digest(name, stage, runtime, inputs)
    if not force and ckpt.is_finished(out_dir, digest):
        return StageResult(name=name, path=str(out_dir), skipped=True, manifest=ckpt.read_manifest(out_dir))

    prepared = method.prepare(stage, inputs, run)  # everything that can be wrong with the inputs fails here
    evaluator = _eval_callback(name, stage, run)  # and with the eval tasks' data
    run.resume = _resume_point(run.trainer_dir, digest)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ckpt.MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "adapter", ignore_errors=True)  # from an earlier LoRA run of this stage
    run.trainer_dir.mkdir(parents=True, exist_ok=True)
    (run.trainer_dir / "config_hash").write_text(digest)
    resume_step = _step_of(run.resume)
    run.callbacks = [ckpt.make_log_callback(out_dir, resume_step), *callbacks]
    if evaluator is not None:
        run.callbacks.append(evaluator)

    torch.manual_seed(runtime.seed)
    trained = method.train(stage, prepared, run)
    for old in out_dir.glob("*.safetensors"):
        old.unlink()
    ckpt.save_model(trained.model, trained.tokenizer, out_dir)
    manifest = _manifest(run, stage, inputs, prepared, trained, digest=digest, resume_step=resume_step,
                         started=started, started_at=started_at)
    if evaluator is not None:
        manifest.evals = ckpt.EvalPointer(steps=[r.step for r in evaluator.records], stop_reason=evaluator.stop_reason)
    ckpt.write_manifest(out_dir, manifest)
    shutil.rmtree(run.trainer_dir, ignore_errors=True)
    return StageResult(name=name, path=str(out_dir), skipped=False, manifest=manifest, notes=prepared.notes)


def _eval_callback(name: str, stage: StageConfig, run: StageRun):
    """The stage's EvalCallback when its config has ``eval``; it writes under ``<out>/evals``."""
    settings = getattr(stage, "eval", None)
    if settings is None:
        return None
    from evalsuite.trainers.eval_callback import EvalCallback
    from evalsuite.trainers.recipe import expand_env

    evaluator = EvalCallback(settings, stage=name, out_dir=run.out_dir, data_dir=expand_env(run.recipe.data_dir))
    return evaluator.check()


def _digest(name: str, stage: StageConfig, runtime: Runtime, inputs: Inputs) -> str:
    """The config hash: method, config, seed, device, precision, and the contents (not locations) of the
    parent and data, so moving the data or the checkpoints does not force retraining."""
    for path in sorted({p for files in inputs.files.values() for p in files}):
        if not path.is_file():
            raise DataError(f"data file not found: {path} (stage {name!r}; relative paths resolve against data_dir / EVALSUITE_DATA_DIR)")
    hash_of: dict[Path, str] = {}
    data_hashes = {role: [hash_of.setdefault(p, sha256_file(p)) for p in files] for role, files in inputs.files.items()}
    config = stage.model_dump(mode="json")
    if config.get("eval", False) is None:
        del config["eval"]  # stages without evaluation keep the hash they had before `eval` existed
    return config_hash({
        "method": stage.method, "config": config, "seed": runtime.seed,
        "device": runtime.resolved_device(), "precision": runtime.precision,
        "parent": inputs.parent_hash or inputs.parent_ref, "data": data_hashes,
    })


def _manifest(run: StageRun, stage: StageConfig, inputs: Inputs, prepared: Prepared, trained: Trained, *,
              digest: str, resume_step: int | None, started: float, started_at: str) -> ckpt.Manifest:
    git = git_state()
    return ckpt.Manifest(
        stage=run.name, method=stage.method, config_hash=digest,
        parent=ckpt.ParentInfo(path=inputs.parent, weights_sha256=inputs.parent_hash),
        config=stage.model_dump(mode="json"), runtime=run.runtime.model_dump(mode="json"), data=prepared.files,
        seeds={"seed": run.runtime.seed, "data_seed": run.runtime.seed}, git_commit=git.commit, git_dirty=git.dirty,
        packages=package_versions(), wall_time_s=round(time.time() - started, 3), started_at=started_at,
        num_parameters=sum(p.numel() for p in trained.model.parameters()),
        trainable_parameters=trained.trainable_parameters, weights_sha256=ckpt.weights_sha256(run.out_dir),
        lora=trained.lora, metrics=ckpt.summarise_log(ckpt.read_log(run.out_dir)), resumed_from_step=resume_step,
        notes=prepared.notes,
    )


def _resume_point(trainer_dir: Path, digest: str) -> str | None:
    """Last trainer checkpoint of an interrupted run with the same config; stale state is removed."""
    if not trainer_dir.is_dir():
        return None
    marker = trainer_dir / "config_hash"
    if not marker.is_file() or marker.read_text().strip() != digest:
        shutil.rmtree(trainer_dir)
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(trainer_dir))


def _step_of(checkpoint_dir: str | None) -> int | None:
    if checkpoint_dir is None:
        return None
    return int(Path(checkpoint_dir).name.rsplit("-", 1)[-1])
