"""pretrain: a byte-level BPE tokenizer and a small Qwen2-style causal LM trained from scratch on plain text.

Used where no pretrained model can be downloaded. The tokenizer gets ChatML special tokens and a chat
template, so later stages use chat formats; the model's RoPE positions allow ``max_position_embeddings``
(default 4096) tokens at no parameter cost, so long few-shot prompts fit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from evalsuite.errors import ConfigError
from evalsuite.trainers import data as data_mod
from evalsuite.trainers.chatml import EOS_TEXT, chatml_tokenizer
from evalsuite.trainers.methods.base import Inputs, Method, Prepared, StageRun, Trained, register_method
from evalsuite.trainers.methods.base import bind_callbacks, trainable_parameters
from evalsuite.trainers.methods.finetune import data_file_info
from evalsuite.trainers.settings import TrainSettings

# hidden, layers, heads, kv heads, mlp width: ~2M / ~10M / ~30M parameters at vocab 8192 (tied embeddings).
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (128, 4, 4, 2, 384),
    "small": (256, 8, 4, 2, 1024),
    "medium": (384, 12, 6, 2, 1536),
}


class PretrainStage(TrainSettings):
    """Train a byte-level BPE tokenizer and a small causal LM from scratch on plain text."""

    method: Literal["pretrain"]
    corpora: list[str] = Field(description="Text corpora: .txt (one document a line), .jsonl with `text`, or .json.")
    tokenizer_corpora: list[str] | None = Field(
        None, description="Corpora the tokenizer is trained on (default: corpora); add Chinese text so C-Eval prompts stay short."
    )
    vocab_size: int = Field(8192, ge=300, description="BPE vocabulary size, special tokens included.")
    size: Literal["tiny", "small", "medium"] = Field(
        "tiny", description="Model size preset: tiny ~2M, small ~10M, medium ~30M parameters (at vocab 8192)."
    )
    hidden_size: int | None = Field(None, ge=8, description="Override the preset's hidden size.")
    num_hidden_layers: int | None = Field(None, ge=1, description="Override the preset's layer count.")
    intermediate_size: int | None = Field(None, ge=8, description="Override the preset's MLP width.")
    num_attention_heads: int | None = Field(None, ge=1, description="Override the preset's head count.")
    max_position_embeddings: int = Field(4096, ge=64, description="Longest sequence the model accepts (RoPE, so no extra weights).")
    seq_len: int = Field(256, ge=16, description="Length of the packed training blocks.")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate.")
    warmup_ratio: float = Field(0.05, ge=0, le=1, description="Fraction of steps spent warming up.")
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name.")

    @model_validator(mode="after")
    def _no_lora_from_scratch(self):
        if self.lora is not None:
            raise ValueError("lora cannot be used with pretrain: a model trained from scratch has no frozen base to adapt")
        return self


def model_config(stage: PretrainStage, tokenizer) -> Any:
    from transformers import Qwen2Config

    hidden, layers, heads, kv_heads, mlp = SIZES[stage.size]
    hidden = stage.hidden_size or hidden
    heads = stage.num_attention_heads or heads
    if hidden % heads:
        raise ConfigError(f"hidden_size ({hidden}) must be divisible by num_attention_heads ({heads})")
    kv_heads = kv_heads if heads % kv_heads == 0 else heads
    return Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=stage.num_hidden_layers or layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, intermediate_size=stage.intermediate_size or mlp,
        max_position_embeddings=stage.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def build_model(stage: PretrainStage, tokenizer, seed: int):
    """A freshly initialised causal LM (seeded) for ``stage``'s size."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config(stage, tokenizer))
    doc_end = tokenizer.convert_tokens_to_ids(EOS_TEXT)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, doc_end], pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, do_sample=False,
    )
    return model


def pack(texts: list[str], tokenizer, seq_len: int) -> list[list[int]]:
    """Concatenate documents separated by <|endoftext|> and cut into blocks of ``seq_len`` tokens."""
    doc_end = tokenizer.convert_tokens_to_ids(EOS_TEXT)
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(doc_end)
    return [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


class Pretrain(Method):
    name = "pretrain"
    Stage = PretrainStage
    data_field = "corpora"

    def inputs(self, stage: PretrainStage, run: StageRun) -> Inputs:
        files = [run.recipe.resolve_data(p) for p in stage.corpora]
        tokenizer_files = [run.recipe.resolve_data(p) for p in (stage.tokenizer_corpora or stage.corpora)]
        return Inputs(files={"data": files, "tokenizer": tokenizer_files})

    def prepare(self, stage: PretrainStage, inputs: Inputs, run: StageRun) -> Prepared:
        files, tokenizer_files = inputs.files["data"], inputs.files["tokenizer"]
        per_file = {path: data_mod.read_texts(path) for path in sorted(set(files + tokenizer_files))}
        texts = [t for path in files for t in per_file[path]]
        tokenizer_texts = [t for path in tokenizer_files for t in per_file[path]]
        infos = [data_file_info(path, len(rows), len(rows)) for path, rows in per_file.items()]
        return Prepared(files=infos, data=(texts, tokenizer_texts))

    def train(self, stage: PretrainStage, prepared: Prepared, run: StageRun) -> Trained:
        from datasets import Dataset
        from transformers import Trainer, TrainingArguments, default_data_collator

        texts, tokenizer_texts = prepared.data
        tokenizer = chatml_tokenizer(tokenizer_texts, stage.vocab_size)
        model = build_model(stage, tokenizer, run.runtime.seed)
        blocks = pack(texts, tokenizer, stage.seq_len)
        dataset = Dataset.from_dict({"input_ids": blocks, "labels": blocks})
        args = TrainingArguments(**stage.trainer_arguments(run.runtime, run.trainer_dir))
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator,
                          callbacks=run.callbacks)
        bind_callbacks(trainer, run.callbacks, tokenizer)
        trainer.train(resume_from_checkpoint=run.resume)
        return Trained(trainer.model, tokenizer, trainable_parameters(trainer.model))


register_method(Pretrain())
