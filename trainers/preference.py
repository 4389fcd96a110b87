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


def sample_rejected(model, tokenizer, examples: list[dict], seed: int, max_new_tokens: int) -> int:
    """Fill ``rejected`` of examples that lack one with a sampled reply of ``model`` (the parent); returns how many.

    A sample identical to the chosen reply is resampled up to three times, then kept as the truncated chosen
    reply, so no pair compares a response with itself.
    """
    import torch

    missing = [e for e in examples if e.get("rejected") is None]
    generator_seed = seed
    model.eval()
    for example in missing:
        inputs = tokenizer.apply_chat_template(example["prompt"], add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt")
        chosen = example["chosen"][0]["content"]
        text = ""
        for _ in range(3):
            torch.manual_seed(generator_seed)
            generator_seed += 1
            with torch.no_grad():
                out = model.generate(**inputs, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
            text = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
            if text and text != chosen.strip():
                break
        else:
            text = chosen[: max(1, len(chosen) // 2)]
        example["rejected"] = [{"role": "assistant", "content": text}]
    model.train()
    return len(missing)

