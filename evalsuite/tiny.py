"""Build a tiny, randomly initialised causal LM and byte-level BPE tokenizer locally.

Nothing can be downloaded on our machines, so tests, benchmarks and the smoke
demo need a model built here. The result is an ordinary Hugging Face checkpoint
directory (safetensors + tokenizer) that every loader accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

# Named sizes. Parameter counts are with a 32k vocabulary and tied embeddings
# (1m: ~1M with a 4k vocabulary); the benchmarks use 20m and 130m.
SIZES = {
    "1m": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4),
    "20m": dict(hidden_size=320, intermediate_size=864, num_hidden_layers=8, num_attention_heads=5),
    "130m": dict(hidden_size=768, intermediate_size=2560, num_hidden_layers=12, num_attention_heads=12),
}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000):
    """A byte-level BPE tokenizer (GPT-2 style pre-tokenization) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    size: str = "1m",
    vocab_size: int = 8000,
    max_position_embeddings: int = 4096,
    initializer_range: float = 0.02,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a Llama-config model of ``size``, save both to ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        initializer_range=initializer_range,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        **SIZES[size],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
