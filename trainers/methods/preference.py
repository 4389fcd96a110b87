"""What the pairwise preference methods (DPO, SimPO, CPO, ORPO) share: their settings, the
``{prompt, chosen, rejected}`` data, and pairs built from single-response rows. Every one of them logs
``rewards/accuracies`` and ``rewards/margins``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from evalsuite.trainers import data as data_mod
from evalsuite.trainers.methods.base import Inputs, Prepared, StageRun
from evalsuite.trainers.methods.finetune import FinetuneMethod
from evalsuite.trainers.settings import FinetuneSettings


class PreferenceSettings(FinetuneSettings):
    beta: float = Field(0.1, gt=0, description="Inverse temperature of the preference loss.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    pairs_from_single: Literal["off", "truncate", "sample"] = Field(
        "off",
        description="Build pairs from rows with one response (SimPO seed idea): rejected = the response cut to half "
        "(truncate) or a sampled reply of the parent model (sample). Counted as synthetic_pairs in the manifest; off by default.",
    )


def _pairs(stage: PreferenceSettings, path: Path, rows: list[dict]) -> list[dict]:
    return data_mod.preference_examples(path, rows, stage.pairs_from_single)


@dataclass(frozen=True)
class PreferenceMethod(FinetuneMethod):
    """A method trained on ``{prompt, chosen, rejected}`` pairs; ``beta`` and ``max_length`` always go to TRL."""

    columns: tuple[str, ...] = ("prompt", "chosen", "rejected")
    examples: Callable[[Any, Path, list[dict]], list[dict]] = _pairs
    options: Callable[[Any], dict[str, Any]] = lambda stage: {}

    def config_options(self, stage: PreferenceSettings) -> dict[str, Any]:
        return {"beta": stage.beta, "max_length": stage.max_length, **self.options(stage)}

    def prepare(self, stage: PreferenceSettings, inputs: Inputs, run: StageRun) -> Prepared:
        prepared = super().prepare(stage, inputs, run)
        if stage.pairs_from_single == "sample":
            sampled = sample_rejected(prepared.model, prepared.tokenizer, prepared.data, run.runtime.seed,
                                      max_new_tokens=stage.max_length - stage.max_prompt_length)
            prepared.notes.append(f"{sampled} rejected replies sampled from the parent model (pairs_from_single: sample)")
        return prepared


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
