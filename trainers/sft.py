"""SFT stage: TRL's SFTTrainer on conversational prompt/completion rows; loss on the completion only."""

from __future__ import annotations

from evalsuite.trainers import trl_compat
from evalsuite.trainers.recipe import SFTStage


def train(stage: SFTStage, model, tokenizer, examples: list[dict], args_kwargs: dict, callbacks: list, resume):
    from datasets import Dataset

    SFTConfig, SFTTrainer = trl_compat.sft()
    config = SFTConfig(**args_kwargs, max_length=stage.max_length, completion_only_loss=True, packing=False)
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer
