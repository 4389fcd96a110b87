"""Log-probabilities at one position per row, with the last layer computed only there.

Multiple-choice scoring at 0 shots reads one position per question (the one
that predicts the answer letter). Every layer but the last must still run on
every position, because the next layer attends to all of them; the last
layer's output, though, is read at that one position only. Its keys and
values are needed everywhere, but its query, attention output, MLP, the
final norm and the vocabulary projection only at the scored position: for a
decoder of L layers with an MLP twice the attention's size that is about
5/6 of a layer saved (10% of an 8-layer model, 7% of a 12-layer one), and
the vocabulary projection runs on one row per question instead of the span
of positions that right padding leaves between the shortest and longest row.

Supported: the Llama decoder family, whose layers are exactly
``x + attn(norm(x))`` then ``x + mlp(norm(x))`` with rotary attention
(``llama``, ``mistral``, ``qwen2``, ``qwen3``), matched by class name so a
changed architecture is never run through this code. The layers before the
last run through the model's own forward (a pre-hook on the last layer stops
it there and takes its inputs), so embeddings, rotary tables and masks are
the model's own. The backend compares this path with the full forward on its
first batch and falls back for the whole run if they differ.
"""

from __future__ import annotations

import sys

# model_type -> (causal LM class, decoder layer class, attention class)
SUPPORTED = {
    "llama": ("LlamaForCausalLM", "LlamaDecoderLayer", "LlamaAttention"),
    "mistral": ("MistralForCausalLM", "MistralDecoderLayer", "MistralAttention"),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2DecoderLayer", "Qwen2Attention"),
    "qwen3": ("Qwen3ForCausalLM", "Qwen3DecoderLayer", "Qwen3Attention"),
}


class _Stop(Exception):
    """Raised by the pre-hook to end the forward before the last layer."""


def supported(model) -> bool:
    """True when ``model`` has exactly the structure this module computes."""
    names = SUPPORTED.get(getattr(model.config, "model_type", None))
    if names is None or type(model).__name__ != names[0]:
        return False
    base = getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    if not layers or not hasattr(base, "norm") or not hasattr(model, "lm_head"):
        return False
    layer = layers[-1]
    attn = getattr(layer, "self_attn", None)
    return type(layer).__name__ == names[1] and type(attn).__name__ == names[2]


def window(model, attn) -> int | None:
    """The sliding window of this attention layer, or None."""
    if hasattr(attn, "sliding_window"):
        return attn.sliding_window
    return getattr(model.config, "sliding_window", None)  # mistral keeps it on the config


def fits(model, total_length: int) -> bool:
    """False when the last layer's sliding window would cut this long a context."""
    size = window(model, model.model.layers[-1].self_attn)
    return size is None or total_length < size


def last_position_logits(model, input_ids, last, past_key_values=None):
    """Logits ``[rows, vocab]`` at position ``last[r]`` of each right-padded row.

    ``past_key_values`` is an optional shared-prefix cache (already expanded to
    the rows); positions in ``last`` count from the start of ``input_ids``.
    """
    import torch
    import torch.nn.functional as F

    base = model.model
    layer = base.layers[-1]
    captured: dict = {}

    def stop(module, args, kwargs):
        captured["hidden"] = args[0] if args else kwargs["hidden_states"]
        captured["position_embeddings"] = kwargs["position_embeddings"]
        raise _Stop

    handle = layer.register_forward_pre_hook(stop, with_kwargs=True)
    try:
        base(input_ids=input_ids, past_key_values=past_key_values, use_cache=past_key_values is not None)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "hidden" not in captured:  # pragma: no cover - the forward did not reach the last layer
        raise RuntimeError("the model's forward did not call its last layer")

    hidden = captured["hidden"]  # [R, T, H]
    cos, sin = captured["position_embeddings"]  # [1 or R, T, head_dim]
    attn = layer.self_attn
    rotate_half = sys.modules[type(attn).__module__].rotate_half
    rows_n, length, _ = hidden.shape
    rows = torch.arange(rows_n, device=hidden.device)
    last = last.to(hidden.device)
    head_dim = attn.head_dim

    x = layer.input_layernorm(hidden)
    picked = x[rows, last]  # [R, H]
    q = attn.q_proj(picked).view(rows_n, 1, -1, head_dim)
    k = attn.k_proj(x).view(rows_n, length, -1, head_dim)
    v = attn.v_proj(x).view(rows_n, length, -1, head_dim).transpose(1, 2)
    if hasattr(attn, "q_norm"):  # qwen3: RMSNorm over each head before the rotation
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, k = q.transpose(1, 2), k.transpose(1, 2)  # [R, heads, T, head_dim]
    cos_q = cos.expand(rows_n, -1, -1)[rows, last][:, None, None, :]
    sin_q = sin.expand(rows_n, -1, -1)[rows, last][:, None, None, :]
    q = q * cos_q + rotate_half(q) * sin_q
    k = k * cos[:, None] + rotate_half(k) * sin[:, None]

    prefix = 0
    if past_key_values is not None:
        cached = past_key_values.layers[-1]
        prefix = cached.keys.shape[2]
        k = torch.cat([cached.keys, k], dim=2)
        v = torch.cat([cached.values, v], dim=2)
    groups = attn.num_key_value_groups
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    # row r sees the prefix and its own tokens up to last[r]
    visible = torch.arange(prefix + length, device=hidden.device)[None, :] <= (prefix + last)[:, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible[:, None, None, :], scale=attn.scaling)
    h = hidden[rows, last] + attn.o_proj(out.reshape(rows_n, -1))
    h = h + layer.mlp(layer.post_attention_layernorm(h))
    return model.lm_head(base.norm(h))
