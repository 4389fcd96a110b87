"""The hf backend adds a tokenizer's BOS exactly where lm-eval's tok_encode does (chat-rendered prompts
already begin with it and must not get a second one)."""

from __future__ import annotations

from types import SimpleNamespace

from evalsuite.backends.hf import HFBackend
from evalsuite.tiny import train_tokenizer

TEXTS = ["The sea is calm today.", "Question: what is two plus two? Answer: four."] * 20


def _bos_tokenizer():
    from tokenizers.processors import TemplateProcessing

    tokenizer = train_tokenizer(TEXTS, vocab_size=300, special_tokens=("<s>", "</s>"), bos_token="<s>", eos_token="</s>")
    bos = tokenizer.convert_tokens_to_ids("<s>")
    tokenizer._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return tokenizer, bos


def test_bos_added_once_as_lm_eval_does():
    from lm_eval.models.utils import has_bos_prefix

    tokenizer, bos = _bos_tokenizer()
    backend = SimpleNamespace(config=SimpleNamespace(add_bos_token=None), tokenizer=tokenizer)
    texts = ["The sea", "<s>The sea", "Answer: four", "<s><s>x"]
    ours = HFBackend._encode(backend, texts)
    reference = [
        tokenizer.encode(t, add_special_tokens=False) if has_bos_prefix(t, tokenizer.decode(bos)) else tokenizer.encode(t)
        for t in texts
    ]
    assert ours == reference
    assert ours[0][0] == bos and ours[1][0] == bos and ours[1][1] != bos  # one BOS, never two
    forced = HFBackend._encode(SimpleNamespace(config=SimpleNamespace(add_bos_token=False), tokenizer=tokenizer), texts)
    assert forced[0][0] != bos
