"""The plumbing every method that fine-tunes a parent checkpoint on data files shares (SFT, the preference
methods, KTO, GRPO): parent resolution and loading, data conversion with prompt-length checks, LoRA, and one
TRL trainer run. A method says only what differs: its data layout, its TRL classes and their options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError
from evalsuite.provenance import sha256_file
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers import data as data_mod
from evalsuite.trainers import lora
from evalsuite.trainers.methods.base import Inputs, Method, Prepared, StageRun, Trained, bind_callbacks, trainable_parameters
from evalsuite.trainers.methods.load import LoadStage
from evalsuite.trainers.parent import load_parent, resolve_parent
from evalsuite.trainers.settings import FinetuneSettings


def _load_source(stage: FinetuneSettings, run: StageRun) -> LoadStage | None:
    """The recipe's `load` stage this stage's parent is, if it is one: it carries the Hub options."""
    source = run.recipe.stages.get(stage.parent)
    return source if isinstance(source, LoadStage) else None


def data_file_info(path: Path, rows: int, used: int, stats: data_mod.FitStats | None = None,
                   synthetic: int = 0) -> ckpt.DataFileInfo:
    """The manifest's record of one data file: its hash and how many rows were used, dropped or truncated."""
    return ckpt.DataFileInfo(
        path=str(path), sha256=sha256_file(path), rows=rows, rows_used=used,
        dropped_long_prompt=stats.dropped_long_prompt if stats else 0,
        truncated_prompt=stats.truncated_prompt if stats else 0, synthetic_pairs=synthetic,
    )


@dataclass(frozen=True)
class FinetuneMethod(Method):
    """Fine-tune the parent with one TRL trainer; a method gives only what differs.

    ``trl`` returns the TRL config and trainer classes (from ``trl_compat``, the one place that imports TRL);
    ``examples(stage, path, rows)`` turns one file's rows into TRL's layout (DataError naming file, row and
    field), of which the trainer reads ``columns``; ``options(stage)`` gives the method's own TRL config
    fields; ``reference`` passes the frozen parent as ``ref_model``; ``extra(stage)`` adds trainer arguments.
    """

    name: str
    Stage: type[FinetuneSettings]
    trl: Callable[[], tuple[type, type]]
    columns: tuple[str, ...]
    examples: Callable[[Any, Path, list[dict]], list[dict]]
    options: Callable[[Any], dict[str, Any]]
    reference: bool = False
    extra: Callable[[Any], dict[str, Any]] | None = None

    model_field = "parent"
    data_field = "data"

    def config_options(self, stage: Any) -> dict[str, Any]:
        """The TRL config fields beyond the shared training arguments."""
        return self.options(stage)

    def inputs(self, stage: FinetuneSettings, run: StageRun) -> Inputs:
        files = [run.recipe.resolve_data(p) for p in stage.data]
        parent = resolve_parent(stage.parent, run.stage_outputs)
        parent_hash = ckpt.weights_sha256(parent) if Path(parent).is_dir() else None
        source = _load_source(stage, run)
        ref = f"{parent}@{source.revision}" if source and source.revision else parent
        return Inputs(files={"data": files, "tokenizer": []}, parent=parent, parent_hash=parent_hash, parent_ref=ref)

    def load_parent(self, stage: FinetuneSettings, parent: str, run: StageRun):
        """Model, tokenizer and notes of the parent, with the Hub options of a `load` stage it names."""
        source = _load_source(stage, run)
        return load_parent(parent, run.runtime, source.revision if source else None,
                           bool(source and source.trust_remote_code))

    def reference_model(self, stage: FinetuneSettings, model, run: StageRun):
        """A frozen copy of the parent, or None under LoRA (the base with the adapter disabled is the reference).

        Passed explicitly: TRL would reload it from config._name_or_path, which a model built in memory lacks.
        """
        if hasattr(model, "peft_config"):
            return None
        parent = resolve_parent(stage.parent, run.stage_outputs)
        return self.load_parent(stage, parent, run)[0].eval()

    def load_examples(self, stage: FinetuneSettings, files: list[Path], tokenizer) -> tuple[list[dict], list[ckpt.DataFileInfo]]:
        """Examples of all files, prompt-length-checked; DataError when a file leaves nothing usable."""
        examples, infos = [], []
        for path in files:
            rows = data_mod.read_rows(path)
            converted = self.examples(stage, path, rows)
            kept, stats = data_mod.fit_prompts(converted, tokenizer, stage.max_prompt_length, stage.long_prompts)
            if not kept:
                raise DataError(
                    f"{path}: no usable rows: all {len(rows)} prompts exceed max_prompt_length={stage.max_prompt_length} "
                    "tokens; raise max_prompt_length/max_length or set long_prompts: truncate"
                )
            room = len(kept) if stage.max_rows is None else max(0, stage.max_rows - len(examples))
            kept = kept[:room]  # max_rows counts across files, in file order
            synthetic = sum(bool(e.get("synthetic_pair")) for e in kept)
            infos.append(data_file_info(path, len(rows), len(kept), stats, synthetic))
            examples.extend(kept)
        return examples, infos

    def prepare(self, stage: FinetuneSettings, inputs: Inputs, run: StageRun) -> Prepared:
        model, tokenizer, notes = self.load_parent(stage, inputs.parent, run)
        examples, infos = self.load_examples(stage, inputs.files["data"], tokenizer)
        if stage.lora is not None:
            lora.check_targets(model, stage.lora)
        return Prepared(files=infos, data=examples, model=model, tokenizer=tokenizer, notes=notes)

    def train(self, stage: FinetuneSettings, prepared: Prepared, run: StageRun) -> Trained:
        from datasets import Dataset

        model = prepared.model if stage.lora is None else lora.apply_lora(prepared.model, stage.lora)
        Config, Trainer = self.trl()
        config = Config(**stage.trainer_arguments(run.runtime, run.trainer_dir), **self.config_options(stage))
        dataset = Dataset.from_list([{k: example[k] for k in self.columns} for example in prepared.data])
        extra = self.extra(stage) if self.extra else {}
        if self.reference:
            extra["ref_model"] = self.reference_model(stage, model, run)
        trainer = Trainer(model=model, args=config, train_dataset=dataset, processing_class=prepared.tokenizer,
                          callbacks=run.callbacks, **extra)
        bind_callbacks(trainer, run.callbacks, prepared.tokenizer)
        trainer.train(resume_from_checkpoint=run.resume)
        model = trainer.model
        trainable = trainable_parameters(model)
        if stage.lora is None:
            return Trained(model, prepared.tokenizer, trainable)
        info = {**stage.lora.model_dump(mode="json"), "adapter_dir": "adapter"}
        return Trained(lora.export(model, run.out_dir, stage.lora), prepared.tokenizer, trainable, info)
