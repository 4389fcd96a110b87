"""Preference stages on TRL: DPO (sigmoid, frozen reference), SimPO and CPO (reference-free, via
CPOTrainer), ORPO and KTO. Every trainer logs ``rewards/accuracies`` and ``rewards/margins``."""

from __future__ import annotations

from evalsuite.trainers import trl_compat
from evalsuite.trainers.recipe import CPOStage, DPOStage, KTOStage, ORPOStage, SimPOStage


def _dataset(examples: list[dict], columns: tuple[str, ...]):
    from datasets import Dataset

    return Dataset.from_list([{k: example[k] for k in columns} for example in examples])


def train(stage, model, tokenizer, examples: list[dict], args_kwargs: dict, callbacks: list, resume, load_reference):
    """Train ``model`` with the method of ``stage``; ``load_reference()`` returns a frozen copy of the parent."""
    pair_columns = ("prompt", "chosen", "rejected")
    if isinstance(stage, DPOStage):
        Config, Trainer = trl_compat.dpo()
        config = Config(**args_kwargs, beta=stage.beta, loss_type=["sigmoid"], max_length=stage.max_length,
                        truncation_mode="keep_start")
        # With LoRA the reference is the base with the adapter disabled; otherwise pass it explicitly:
        # TRL would reload it from config._name_or_path, which a model built in memory does not have.
        reference = None if _is_peft(model) else load_reference()
        trainer = Trainer(model=model, ref_model=reference, args=config, train_dataset=_dataset(examples, pair_columns),
                          processing_class=tokenizer, callbacks=callbacks)
    elif isinstance(stage, (SimPOStage, CPOStage)):
        Config, Trainer = trl_compat.cpo()
        extra = ({"loss_type": "simpo", "simpo_gamma": stage.gamma, "cpo_alpha": stage.cpo_alpha}
                 if isinstance(stage, SimPOStage) else {"loss_type": "sigmoid", "cpo_alpha": stage.cpo_alpha})
        config = Config(**args_kwargs, beta=stage.beta, max_length=stage.max_length, **extra)
        trainer = Trainer(model=model, args=config, train_dataset=_dataset(examples, pair_columns),
                          processing_class=tokenizer, callbacks=callbacks)
    elif isinstance(stage, ORPOStage):
        Config, Trainer = trl_compat.orpo()
        config = Config(**args_kwargs, beta=stage.beta, max_length=stage.max_length)
        trainer = Trainer(model=model, args=config, train_dataset=_dataset(examples, pair_columns),
                          processing_class=tokenizer, callbacks=callbacks)
    elif isinstance(stage, KTOStage):
        Config, Trainer = trl_compat.kto()
        config = Config(**args_kwargs, beta=stage.beta, max_length=stage.max_length,
                        desirable_weight=stage.desirable_weight, undesirable_weight=stage.undesirable_weight)
        reference = None if _is_peft(model) else load_reference()
        trainer = Trainer(model=model, ref_model=reference, args=config,
                          train_dataset=_dataset(examples, ("prompt", "completion", "label")),
                          processing_class=tokenizer, callbacks=callbacks)
    else:  # pragma: no cover - the recipe's discriminator admits no other stage here
        raise TypeError(f"not a preference stage: {type(stage).__name__}")
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config")
