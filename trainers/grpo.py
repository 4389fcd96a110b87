"""GRPO stage: TRL's GRPOTrainer with rewards from the registry, weighted as the recipe says."""

from __future__ import annotations

from evalsuite.trainers import rewards as reward_registry
from evalsuite.trainers import trl_compat
from evalsuite.trainers.recipe import GRPOStage


def train(stage: GRPOStage, model, tokenizer, examples: list[dict], args_kwargs: dict, callbacks: list, resume):
    from datasets import Dataset

    funcs, weights = reward_registry.trl_reward_funcs(stage.rewards, stage.reward_options)
    GRPOConfig, GRPOTrainer = trl_compat.grpo()
    config = GRPOConfig(
        **args_kwargs, num_generations=stage.num_generations, max_completion_length=stage.max_completion_length,
        temperature=stage.temperature, beta=stage.kl_beta, reward_weights=weights,
    )
    dataset = Dataset.from_list([{"prompt": e["prompt"], "answer": e["answer"]} for e in examples])
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer
