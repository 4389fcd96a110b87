"""Build a tiny, randomly initialised causal LM and byte-level BPE tokenizer locally.

Nothing can be downloaded on our machines, so tests, benchmarks and the smoke
demo need a model built here. The result is an ordinary Hugging Face checkpoint
directory (safetensors + tokenizer) that every loader accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

# Named sizes. Parameter counts are with a 32k vocabulary and tied embeddings
# (1m: ~1M with a 4k vocabulary); the benchmarks use 20m and 130m.
SIZES = {
    "1m": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4),
    "20m": dict(hidden_size=320, intermediate_size=864, num_hidden_layers=8, num_attention_heads=5),
    "130m": dict(hidden_size=768, intermediate_size=2560, num_hidden_layers=12, num_attention_heads=12),
}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, special_tokens: Sequence[str] = ("<|endoftext|>",),
                    **token_names: Any):
    """A byte-level BPE tokenizer (GPT-2 style pre-tokenization) trained on ``texts``, as a transformers fast tokenizer.

    ``special_tokens`` enter the vocabulary first; ``token_names`` tell transformers their roles (``eos_token=``,
    ``pad_token=``, ``additional_special_tokens=``). By default the first special token is both eos and pad.
    This is evalsuite's one tokenizer trainer: the trainers' pretrain stage uses it too.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    names = token_names or {"eos_token": special_tokens[0], "pad_token": special_tokens[0]}
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **names)


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
