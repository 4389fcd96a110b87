"""Run one stage: resolve parent and data, check everything, train, save a checkpoint with its manifest.

Every check that can fail (parent missing, malformed or empty data, LoRA
targets) runs before training starts. A stage whose checkpoint already has a
manifest with the same config hash is skipped; an interrupted stage resumes
from its last trainer checkpoint under ``<out>/.trainer``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError, ModelError
from evalsuite.provenance import git_state, package_versions, sha256_file
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers import data as data_mod
from evalsuite.trainers.recipe import KTOStage, LoadStage, PretrainStage, Recipe, Runtime, config_hash

TRAINER_DIR = ".trainer"
PREFERENCE_METHODS = ("dpo", "simpo", "cpo", "orpo")


@dataclass
class StageResult:
    name: str
    path: str
    skipped: bool
    manifest: ckpt.Manifest | None = None
    notes: list[str] = field(default_factory=list)


def _looks_local(reference: str) -> bool:
    path = Path(reference).expanduser()
    return (reference.startswith((".", "/", "~")) or reference.count("/") > 1
            or (len(path.parts) > 1 and Path(path.parts[0]).exists()))


def resolve_parent(reference: str, stage_outputs: dict[str, str] | None = None) -> str:
    """Directory (or Hub id) of a parent: a stage of the recipe, a local checkpoint, or a Hub id."""
    if stage_outputs and reference in stage_outputs:
        return stage_outputs[reference]
    path = Path(reference).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"parent checkpoint {path} has no config.json; is it a finished checkpoint directory?")
        return str(path.resolve())
    if _looks_local(reference):
        known = f" (stages of this recipe: {', '.join(stage_outputs)})" if stage_outputs else ""
        raise ModelError(f"parent checkpoint not found: {reference}{known}; train it first or fix the path")
    return reference  # a Hub id


def resolve_device(runtime: Runtime) -> str:
    if runtime.device != "auto":
        return runtime.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def training_arguments(stage, runtime: Runtime, out_dir: Path) -> dict[str, Any]:
    """TrainingArguments fields common to every TRL config; precision and device are always explicit."""
    device = resolve_device(runtime)
    return dict(
        output_dir=str(out_dir / TRAINER_DIR), learning_rate=stage.learning_rate,
        lr_scheduler_type=stage.lr_scheduler_type, warmup_steps=stage.warmup_ratio, weight_decay=stage.weight_decay,
        num_train_epochs=stage.num_train_epochs, max_steps=stage.max_steps,
        per_device_train_batch_size=stage.batch_size, gradient_accumulation_steps=stage.gradient_accumulation_steps,
        max_grad_norm=stage.max_grad_norm, gradient_checkpointing=stage.gradient_checkpointing,
        logging_steps=stage.logging_steps, logging_first_step=True, save_strategy="steps", save_steps=stage.save_steps,
        save_total_limit=1, seed=runtime.seed, data_seed=runtime.seed,
        bf16=runtime.precision == "bf16", fp16=runtime.precision == "fp16", use_cpu=device == "cpu",
        report_to="none", disable_tqdm=True, dataloader_num_workers=0,
    )


def _file_info(path: Path, sha: str, rows: int, used: int, stats: data_mod.FitStats | None = None,
               synthetic: int = 0) -> ckpt.DataFileInfo:
    return ckpt.DataFileInfo(
        path=str(path), sha256=sha, rows=rows, rows_used=used,
        dropped_long_prompt=stats.dropped_long_prompt if stats else 0,
        truncated_prompt=stats.truncated_prompt if stats else 0, synthetic_pairs=synthetic,
    )


def _examples(stage, path: Path, rows: list[dict]) -> list[dict]:
    if stage.method == "sft":
        return data_mod.sft_examples(path, rows)
    if stage.method in PREFERENCE_METHODS:
        return data_mod.preference_examples(path, rows, stage.pairs_from_single)
    if stage.method == "kto":
        return data_mod.kto_examples(path, rows)
    return data_mod.prompt_examples(path, rows)


def load_examples(stage, files: list[Path], tokenizer) -> tuple[list[dict], list[ckpt.DataFileInfo]]:
    """Examples of a fine-tuning stage, prompt-length-checked; raises DataError when nothing usable is left."""
    examples, infos = [], []
    for path in files:
        rows = data_mod.read_rows(path)
        converted = _examples(stage, path, rows)
        kept, stats = data_mod.fit_prompts(converted, tokenizer, stage.max_prompt_length, stage.long_prompts)
        if not kept:
            raise DataError(
                f"{path}: no usable rows: all {len(rows)} prompts exceed max_prompt_length={stage.max_prompt_length} "
                "tokens; raise max_prompt_length/max_length or set long_prompts: truncate"
            )
        room = len(kept) if stage.max_rows is None else max(0, stage.max_rows - len(examples))
        kept = kept[:room]  # max_rows counts across files, in file order
        synthetic = sum(bool(e.get("synthetic_pair")) for e in kept)
        infos.append(_file_info(path, sha256_file(path), len(rows), len(kept), stats, synthetic))
        examples.extend(kept)
    if isinstance(stage, KTOStage) and len({e["label"] for e in examples}) < 2:
        raise DataError("kto needs both desirable (label true) and undesirable (label false) rows")
    return examples, infos


def _load_parent(parent: str, runtime: Runtime, source: LoadStage | None = None):
    """Model and tokenizer of the parent; Hub revision and remote code only as a `load` stage says."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if runtime.precision == "bf16" and resolve_device(runtime) == "cuda" else torch.float32
    hub = {"trust_remote_code": bool(source and source.trust_remote_code)}
    if source and source.revision:
        hub["revision"] = source.revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(parent, **hub)
        model = AutoModelForCausalLM.from_pretrained(parent, dtype=dtype, **hub)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load parent checkpoint {parent!r}: {exc}") from None
    notes = []
    if tokenizer.chat_template is None:
        from evalsuite.trainers.pretrain import CHAT_TEMPLATE

        tokenizer.chat_template = CHAT_TEMPLATE
        notes.append("parent tokenizer had no chat template; ChatML was added")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, notes, dtype


def _method_module(method: str):
    from evalsuite.trainers import grpo, preference, sft

    return {"sft": sft, "grpo": grpo, "kto": preference, **{m: preference for m in PREFERENCE_METHODS}}[method]


def run_stage(name: str, stage, runtime: Runtime, out_dir: str | Path, *, recipe: Recipe | None = None,
              stage_outputs: dict[str, str] | None = None, force: bool = False, callbacks: tuple = ()) -> StageResult:
    """Train ``stage`` into ``out_dir`` (or skip it when finished with the same config); see the module docstring."""
    import torch

    recipe = recipe or Recipe(stages={})
    if isinstance(stage, LoadStage):
        path = resolve_parent(stage.model)
        return StageResult(name=name, path=path, skipped=True, notes=["loaded, not trained"])

    started, started_at = time.time(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    torch.set_num_threads(runtime.threads)
    out_dir = Path(out_dir).resolve()
    config = stage.model_dump(mode="json")
    runtime_config = runtime.model_dump(mode="json")

    # Identify inputs cheaply first, so a finished stage is skipped without loading anything.
    if isinstance(stage, PretrainStage):
        files = [recipe.resolve_data(p) for p in stage.corpora]
        tok_files = [recipe.resolve_data(p) for p in (stage.tokenizer_corpora or stage.corpora)]
        parent, parent_hash = None, None
        hashed = sorted(set(files + tok_files))
    else:
        files = [recipe.resolve_data(p) for p in stage.data]
        parent = resolve_parent(stage.parent, stage_outputs)
        parent_hash = ckpt.weights_sha256(parent) if Path(parent).is_dir() else None
        tok_files, hashed = [], files
    for path in hashed:
        if not path.is_file():
            raise DataError(f"data file not found: {path} (stage {name!r}; relative paths resolve against data_dir / EVALSUITE_DATA_DIR)")
    # Contents, not locations: moving the data or the checkpoints does not force retraining.
    hash_of = {p: sha256_file(p) for p in hashed}
    data_hashes = {"data": [hash_of[p] for p in files], "tokenizer": [hash_of[p] for p in tok_files]}
    digest = config_hash({
        "method": stage.method, "config": config, "seed": runtime.seed, "device": resolve_device(runtime),
        "precision": runtime.precision, "parent": parent_hash or _hub_ref(parent, recipe, stage), "data": data_hashes,
    })
    if not force and ckpt.is_finished(out_dir, digest):
        return StageResult(name=name, path=str(out_dir), skipped=True, manifest=ckpt.read_manifest(out_dir))

    # Everything that can be wrong with the inputs is checked here, before training.
    notes: list[str] = []
    args_kwargs = training_arguments(stage, runtime, out_dir)
    if isinstance(stage, PretrainStage):
        per_file = {p: data_mod.read_texts(p) for p in hashed}
        texts = [t for p in files for t in per_file[p]]
        tok_texts = [t for p in tok_files for t in per_file[p]]
        infos = [_file_info(p, hash_of[p], len(per_file[p]), len(per_file[p])) for p in hashed]
    else:
        source = recipe.stages.get(stage.parent)
        source = source if isinstance(source, LoadStage) else None
        model, tokenizer, notes, _dtype = _load_parent(parent, runtime, source)
        examples, infos = load_examples(stage, files, tokenizer)
        if getattr(stage, "pairs_from_single", "off") == "sample":
            from evalsuite.trainers.preference import sample_rejected

            sampled = sample_rejected(model, tokenizer, examples, runtime.seed,
                                      max_new_tokens=stage.max_length - stage.max_prompt_length)
            notes.append(f"{sampled} rejected replies sampled from the parent model (pairs_from_single: sample)")
        if stage.lora is not None:
            from evalsuite.trainers import lora

            lora.check_targets(model, stage.lora)

    trainer_dir = out_dir / TRAINER_DIR
    resume = _resume_point(trainer_dir, digest)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ckpt.MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "adapter", ignore_errors=True)  # from an earlier LoRA run of this stage
    trainer_dir.mkdir(parents=True, exist_ok=True)
    (trainer_dir / "config_hash").write_text(digest)
    resume_step = _step_of(resume)
    callbacks = [ckpt.make_log_callback(out_dir, resume_step), *callbacks]

    torch.manual_seed(runtime.seed)
    if isinstance(stage, PretrainStage):
        from evalsuite.trainers import pretrain

        model, tokenizer, trainer, _tokens = pretrain.train(stage, texts, tok_texts, args_kwargs, callbacks, resume)
    else:
        if stage.lora is not None:
            from evalsuite.trainers import lora

            model = lora.apply_lora(model, stage.lora)
        module = _method_module(stage.method)
        kwargs = {}
        if module.__name__.endswith("preference"):
            kwargs["load_reference"] = lambda: _load_parent(parent, runtime, source)[0].eval()
        trainer = module.train(stage, model, tokenizer, examples, args_kwargs, callbacks, resume, **kwargs)
        model = trainer.model

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lora_info = None
    if getattr(stage, "lora", None) is not None:
        from evalsuite.trainers import lora

        lora_info = {**stage.lora.model_dump(mode="json"), "adapter_dir": "adapter"}
        model = lora.export(model, out_dir, stage.lora)
    for old in out_dir.glob("*.safetensors"):
        old.unlink()
    ckpt.save_model(model, tokenizer, out_dir)
    manifest = ckpt.Manifest(
        stage=name, method=stage.method, config_hash=digest,
        parent=ckpt.ParentInfo(path=parent, weights_sha256=parent_hash), config=config, runtime=runtime_config,
        data=infos, seeds={"seed": runtime.seed, "data_seed": runtime.seed},
        **_git(), packages=package_versions(), wall_time_s=round(time.time() - started, 3), started_at=started_at,
        num_parameters=sum(p.numel() for p in model.parameters()), trainable_parameters=trainable,
        weights_sha256=ckpt.weights_sha256(out_dir), lora=lora_info,
        metrics=ckpt.summarise_log(ckpt.read_log(out_dir)), resumed_from_step=resume_step, notes=notes,
    )
    ckpt.write_manifest(out_dir, manifest)
    shutil.rmtree(trainer_dir, ignore_errors=True)
    return StageResult(name=name, path=str(out_dir), skipped=False, manifest=manifest, notes=notes)


def _hub_ref(parent: str | None, recipe: Recipe, stage) -> str | None:
    source = recipe.stages.get(getattr(stage, "parent", None) or "")
    revision = source.revision if isinstance(source, LoadStage) else None
    return f"{parent}@{revision}" if revision else parent


def _git() -> dict[str, Any]:
    state = git_state()
    return {"git_commit": state.commit, "git_dirty": state.dirty}


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
