"""Base stage: a byte-level BPE tokenizer and a small Qwen2-style causal LM trained from scratch.

Used where no pretrained model can be downloaded. The tokenizer gets ChatML
special tokens and a chat template, so later stages use chat formats; the
model's RoPE positions allow ``max_position_embeddings`` (default 4096) tokens
at no parameter cost, so long few-shot prompts fit.
"""

from __future__ import annotations

from typing import Any

from evalsuite.trainers.recipe import PretrainStage

BOS, EOS_TEXT, PAD, IM_START, IM_END = "<|bos|>", "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [EOS_TEXT, PAD, IM_START, IM_END, BOS]

# ChatML, as Qwen uses it: a reply ends with <|im_end|>, which is the tokenizer's eos.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# hidden, layers, heads, kv heads, mlp width: ~2M / ~10M / ~30M parameters at vocab 8192 (tied embeddings).
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (128, 4, 4, 2, 384),
    "small": (256, 8, 4, 2, 1024),
    "medium": (384, 12, 6, 2, 1536),
}


def train_tokenizer(texts: list[str], vocab_size: int):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=IM_END, pad_token=PAD,
        additional_special_tokens=[EOS_TEXT, IM_START],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def model_config(stage: PretrainStage, tokenizer) -> Any:
    from transformers import Qwen2Config

    hidden, layers, heads, kv_heads, mlp = SIZES[stage.size]
    hidden = stage.hidden_size or hidden
    heads = stage.num_attention_heads or heads
    if hidden % heads:
        from evalsuite.errors import ConfigError

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


def train(stage: PretrainStage, texts: list[str], tokenizer_texts: list[str], args_kwargs: dict, callbacks: list,
          resume: str | None):
    """Train tokenizer and model; returns (model, tokenizer, trainer)."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments, default_data_collator

    tokenizer = train_tokenizer(tokenizer_texts, stage.vocab_size)
    model = build_model(stage, tokenizer, args_kwargs["seed"])
    blocks = pack(texts, tokenizer, stage.seq_len)
    dataset = Dataset.from_dict({"input_ids": blocks, "labels": blocks})
    args = TrainingArguments(**args_kwargs)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator,
                      callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer.model, tokenizer, trainer, len(blocks) * stage.seq_len
