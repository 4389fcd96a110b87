"""A leaner CPU forward for Llama-family decoders, for multiple-choice scoring.

On a CPU, a small decoder's forward pass spends a third of its time outside
the matrix products: rotary embeddings written as four multiplies, a negation,
a concatenation and an add per tensor, separate q/k/v and gate/up projections,
and the modules' Python around ~30 small ops per layer. This module computes
the same function with

- one projection for q, k and v and one for gate and up (concatenated weights),
- the rotary embedding as one complex multiplication: the rows of the q and k
  projections are permuted so that each rotated pair (i, i + head_dim/2) sits
  side by side, which changes no attention score (q and k get the same
  permutation; the rotated keys of a cached prefix are permuted the same way),
- the last layer only at the scored position (see ``final_layer``).

It serves float32 models on the CPU (the exact path) of the families in
``final_layer.SUPPORTED`` whose rotary tables have the usual duplicated
halves; the backend checks it against the model's own forward on the first
batch of a run and falls back if they differ. The concatenated weights are
extra memory (q, k, v, gate and up again), so models whose copy would exceed
``MAX_EXTRA_BYTES`` keep the model's own forward.
"""

from __future__ import annotations

MAX_EXTRA_BYTES = 2 << 30


class FusedLlama:
    def __init__(self, model):
        import torch

        self.model = model
        self.base = model.model
        attn = self.base.layers[0].self_attn
        self.head_dim = hd = attn.head_dim
        self.scaling = attn.scaling
        self.heads = model.config.num_attention_heads
        self.kv_heads = model.config.num_key_value_heads
        # pair (i, i + hd/2) becomes (2i, 2i + 1)
        pairs = torch.stack([torch.arange(hd // 2), torch.arange(hd // 2) + hd // 2], 1).reshape(-1)
        self.pairs = pairs

        def rows(n_heads):
            return (torch.arange(n_heads)[:, None] * hd + pairs[None]).reshape(-1)

        q_rows, k_rows = rows(self.heads), rows(self.kv_heads)
        self.layers = []
        with torch.no_grad():
            for layer in self.base.layers:
                a, mlp = layer.self_attn, layer.mlp
                qkv = torch.cat([a.q_proj.weight[q_rows], a.k_proj.weight[k_rows], a.v_proj.weight])
                bias = None
                if a.q_proj.bias is not None:
                    bias = torch.cat([a.q_proj.bias[q_rows], a.k_proj.bias[k_rows], a.v_proj.bias])
                norms = None
                if hasattr(a, "q_norm"):  # qwen3: RMSNorm over each head, weights permuted like the rows
                    norms = (a.q_norm, a.q_norm.weight[pairs], a.k_norm, a.k_norm.weight[pairs])
                gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
                self.layers.append((layer, qkv, bias, norms, gate_up))

    @staticmethod
    def extra_bytes(model) -> int:
        total = 0
        for layer in model.model.layers:
            a, mlp = layer.self_attn, layer.mlp
            for linear in (a.q_proj, a.k_proj, a.v_proj, mlp.gate_proj, mlp.up_proj):
                total += linear.weight.numel() * linear.weight.element_size()
        return total

    @classmethod
    def applicable(cls, model, device) -> bool:
        import torch

        if device.type != "cpu" or model.dtype != torch.float32:
            return False
        if cls.extra_bytes(model) > MAX_EXTRA_BYTES:
            return False
        cfg = model.config
        mlp = model.model.layers[0].mlp
        if getattr(mlp, "act_fn", None) is None or getattr(cfg, "hidden_act", None) != "silu":
            return False
        if any(getattr(layer.mlp.gate_proj, "bias", None) is not None for layer in model.model.layers):
            return False  # mlp_bias: not handled here
        return True

    def fits(self, total_length: int) -> bool:
        """False when some layer's sliding window would cut this long a context
        (this module's attention has no windows)."""
        from evalsuite.backends.final_layer import window

        sizes = (window(self.model, layer.self_attn) for layer in self.base.layers)
        return all(size is None or total_length < size for size in sizes)

    def _rms(self, norm, weight, x):
        # the module's own arithmetic, with a permuted weight
        import torch

        var = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(var + norm.variance_epsilon))

    def _rotate(self, x, freqs):
        """Rotary embedding of ``x [..., heads, head_dim]`` (pair order) as one complex product."""
        import torch

        pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], self.head_dim // 2, 2).contiguous())
        return torch.view_as_real(pairs * freqs).reshape(x.shape)

    def _normed(self, norms, q, k):
        if norms is None:
            return q, k
        q_norm, q_w, k_norm, k_w = norms
        return self._rms(q_norm, q_w, q), self._rms(k_norm, k_w, k)

    def _qkv(self, entry, h, rows_n, length, freqs):
        import torch.nn.functional as F

        layer, qkv_w, bias, norms, _ = entry
        hd, nq, nk = self.head_dim, self.heads, self.kv_heads
        qkv = F.linear(h, qkv_w, bias).view(rows_n, length, nq + 2 * nk, hd)
        q, k = self._normed(norms, qkv[:, :, :nq], qkv[:, :, nq : nq + nk])
        q, k = self._rotate(q, freqs), self._rotate(k, freqs)
        return q.transpose(1, 2), k.transpose(1, 2), qkv[:, :, nq + nk :].transpose(1, 2)

    def _last_qkv(self, entry, h, rows, last, freqs):
        """Keys and values at every position, the query at ``last`` only."""
        import torch.nn.functional as F

        layer, qkv_w, bias, norms, _ = entry
        hd, nq, nk = self.head_dim, self.heads, self.kv_heads
        split = nq * hd
        rows_n, length = h.shape[:2]
        kv = F.linear(h, qkv_w[split:], None if bias is None else bias[split:]).view(rows_n, length, 2 * nk, hd)
        q = F.linear(h[rows, last], qkv_w[:split], None if bias is None else bias[:split]).view(rows_n, 1, nq, hd)
        q, k = self._normed(norms, q, kv[:, :, :nk])
        q = self._rotate(q, freqs[0, last][:, None])
        k = self._rotate(k, freqs)
        return q.transpose(1, 2), k.transpose(1, 2), kv[:, :, nk:].transpose(1, 2)

    def _attend(self, q, k, v, mask):
        import torch.nn.functional as F

        groups = self.heads // self.kv_heads
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None, scale=self.scaling)

    def _mlp(self, entry, x):
        import torch.nn.functional as F

        layer, _, _, _, gate_up = entry
        g, u = F.linear(layer.post_attention_layernorm(x), gate_up).chunk(2, dim=-1)
        return x + layer.mlp.down_proj(F.silu(g) * u)

    def prefix_keys(self, cache):
        """The prefix cache's keys and values per layer, keys in this module's pair order."""
        return [(layer.keys[..., self.pairs], layer.values) for layer in cache.layers]

    def logits(self, ids, last, prefix=None):
        """Logits ``[rows, vocab]`` at position ``last[r]`` of each right-padded row.

        ``prefix``: ``prefix_keys`` of a shared-prefix cache (one row), or None.
        """
        import torch

        rows_n, length = ids.shape
        start = prefix[0][0].shape[2] if prefix else 0
        x = self.base.embed_tokens(ids)
        positions = torch.arange(start, start + length, device=ids.device)[None]
        cos, sin = self.base.rotary_emb(x, positions)
        half = self.head_dim // 2
        if not (torch.equal(cos[..., :half], cos[..., half:]) and torch.equal(sin[..., :half], sin[..., half:])):
            raise ValueError("rotary tables without duplicated halves")
        freqs = torch.complex(cos[0, :, :half], sin[0, :, :half])[None, :, None, :]
        mask = None
        if start:
            mask = torch.arange(start + length)[None, :] <= (start + torch.arange(length))[:, None]
        n_layers = len(self.layers)
        for index, entry in enumerate(self.layers):
            layer = entry[0]
            h = layer.input_layernorm(x)
            if index < n_layers - 1:
                q, k, v = self._qkv(entry, h, rows_n, length, freqs)
                if prefix:
                    k = torch.cat([prefix[index][0].expand(rows_n, -1, -1, -1), k], dim=2)
                    v = torch.cat([prefix[index][1].expand(rows_n, -1, -1, -1), v], dim=2)
                out = self._attend(q, k, v, mask)
                x = x + layer.self_attn.o_proj(out.transpose(1, 2).reshape(rows_n, length, -1))
                x = self._mlp(entry, x)
                continue
            # last layer: keys and values everywhere, the rest at the scored position only
            rows = torch.arange(rows_n)
            q, k, v = self._last_qkv(entry, h, rows, last, freqs)  # q: [R, heads, 1, hd]
            if prefix:
                k = torch.cat([prefix[index][0].expand(rows_n, -1, -1, -1), k], dim=2)
                v = torch.cat([prefix[index][1].expand(rows_n, -1, -1, -1), v], dim=2)
            visible = torch.arange(start + length)[None, :] <= (start + last)[:, None]
            out = self._attend(q, k, v, visible[:, None, None, :])
            picked = x[rows, last] + layer.self_attn.o_proj(out.reshape(rows_n, -1))
            return self.model.lm_head(self.base.norm(self._mlp(entry, picked)))
