"""ChatML, as Qwen uses it: the special tokens and chat template of every checkpoint the trainers build.

Pretraining trains a tokenizer with these tokens; fine-tuning adds the template to a parent tokenizer that
has none, so every later stage speaks the same chat format.
"""

from __future__ import annotations

BOS, EOS_TEXT, PAD, IM_START, IM_END = "<|bos|>", "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [EOS_TEXT, PAD, IM_START, IM_END, BOS]

# A reply ends with <|im_end|>, which is the tokenizer's eos.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def chatml_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts`` with the ChatML special tokens and chat template.

    ``<|im_end|>`` is its eos, ``<|endoftext|>`` separates pretraining documents, ``<|pad|>`` pads.
    """
    from evalsuite.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts, vocab_size, special_tokens=SPECIAL_TOKENS, bos_token=BOS, eos_token=IM_END, pad_token=PAD,
        additional_special_tokens=[EOS_TEXT, IM_START],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
