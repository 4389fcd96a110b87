"""The last layer computed only at the scored position (and the fused CPU forward) equal the full forward."""

import pytest
import torch

from evalsuite.backends import final_layer

ARCHITECTURES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}),
}


def tiny(arch, **overrides):
    import transformers

    config_name, model_name, extra = ARCHITECTURES[arch]
    config = getattr(transformers, config_name)(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, **{**extra, **overrides},
    )
    torch.manual_seed(0)
    return getattr(transformers, model_name)(config).eval()


def full_last_logits(model, ids, last, cache=None):
    with torch.inference_mode():
        out = model(input_ids=ids, past_key_values=cache, use_cache=cache is not None)
    return out.logits[torch.arange(len(ids)), last]


def prefix_cache(model, prefix, rows):
    from evalsuite.backends.mc_scoring import expand_cache

    with torch.inference_mode():
        cache = model(input_ids=prefix, use_cache=True).past_key_values
    return lambda: expand_cache(cache, rows)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("with_prefix", [False, True])
def test_equals_the_full_forward(arch, with_prefix):
    model = tiny(arch)
    assert final_layer.supported(model)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (5, 12), generator=gen)
    last = torch.tensor([11, 3, 7, 0, 9])  # right padding: row r is real up to last[r]
    cache = prefix_cache(model, torch.randint(1, 97, (1, 6), generator=gen), 5) if with_prefix else lambda: None
    expected = full_last_logits(model, ids, last, cache())
    with torch.inference_mode():
        got = final_layer.last_position_logits(model, ids, last, cache())
    assert got.shape == expected.shape == (5, 97)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("with_prefix", [False, True])
def test_fused_forward_equals_the_full_forward(arch, with_prefix):
    from evalsuite.backends.fused_llama import FusedLlama

    model = tiny(arch)
    assert FusedLlama.applicable(model, torch.device("cpu"))
    fused = FusedLlama(model)
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 97, (5, 12), generator=gen)
    last = torch.tensor([11, 3, 7, 0, 9])
    cache = prefix_cache(model, torch.randint(1, 97, (1, 6), generator=gen), 5) if with_prefix else lambda: None
    expected = full_last_logits(model, ids, last, cache())
    with torch.inference_mode():
        prefix = fused.prefix_keys(cache()) if with_prefix else None
        got = fused.logits(ids, last, prefix)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_fused_forward_is_only_for_float32_on_cpu():
    from evalsuite.backends.fused_llama import FusedLlama

    model = tiny("llama")
    assert not FusedLlama.applicable(model.to(torch.bfloat16), torch.device("cpu"))
    assert not FusedLlama.applicable(tiny("llama"), torch.device("cuda"))


def test_fused_forward_refuses_contexts_a_lower_layer_window_would_cut():
    from evalsuite.backends.fused_llama import FusedLlama

    model = tiny("qwen2", use_sliding_window=True, sliding_window=8,
                 layer_types=["sliding_attention", "full_attention", "full_attention"])
    fused = FusedLlama(model)
    assert fused.fits(7) and not fused.fits(8)
    assert final_layer.fits(model, 100)  # the last layer itself has no window


def test_padding_after_the_scored_position_does_not_matter():
    model = tiny("llama")
    ids = torch.randint(1, 97, (2, 10), generator=torch.Generator().manual_seed(2))
    other = ids.clone()
    other[0, 5:] = 0  # change only what follows row 0's scored position
    last = torch.tensor([4, 9])
    with torch.inference_mode():
        a = final_layer.last_position_logits(model, ids, last)
        b = final_layer.last_position_logits(model, other, last)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)


def test_other_architectures_and_sliding_windows_are_not_taken():
    import transformers

    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50, n_embd=32, n_layer=1, n_head=2))
    assert not final_layer.supported(gpt2)
    windowed = tiny("mistral", sliding_window=8)
    assert final_layer.supported(windowed)
    assert final_layer.fits(windowed, 7) and not final_layer.fits(windowed, 8)
    assert final_layer.fits(tiny("llama"), 10_000)


def test_backend_falls_back_when_the_shortcut_disagrees(tmp_path, monkeypatch):
    """A wrong shortcut is caught on the first batch and the run uses the full forward."""
    from evalsuite.backends.hf import HFBackend, HFConfig
    from evalsuite.task import MultipleChoiceRequest
    from evalsuite.tiny import build_tiny_model

    texts = [f"Question {i} is about things and answers A B C D." for i in range(200)]
    folder = build_tiny_model(tmp_path / "m", texts, size="1m", vocab_size=300, initializer_range=0.2)
    requests = [
        MultipleChoiceRequest(
            key=str(i), group="g", prefix="Questions about things.\n\n", text=f"Question {i} is {'long ' * i}?\nAnswer:",
            continuations=[" A", " B", " C", " D"],
        )
        for i in range(6)
    ]

    def scores(backend):
        out = {}
        for indices, results in backend.loglikelihoods(requests):
            out.update({i: r.loglikelihoods for i, r in zip(indices, results)})
        return [out[i] for i in range(len(requests))]

    reference = scores(HFBackend(HFConfig(model=str(folder), final_layer_at_scored_position=False)))
    shortcut = HFBackend(HFConfig(model=str(folder)))
    assert shortcut.scorer.shortcut
    torch.testing.assert_close(torch.tensor(scores(shortcut)), torch.tensor(reference), rtol=1e-5, atol=1e-5)
    assert shortcut.scorer.shortcut_agrees is True
    assert shortcut.scorer.fused is not None  # float32 on the CPU: the fused forward did the scoring

    # under autocast the check still runs in float32, so reduced precision alone never disables the shortcut
    autocast = HFBackend(HFConfig(model=str(folder), autocast="bfloat16"))
    scores(autocast)
    assert autocast.scorer.shortcut_agrees is True

    from evalsuite.backends.fused_llama import FusedLlama

    real, real_fused = final_layer.last_position_logits, FusedLlama.logits
    monkeypatch.setattr(final_layer, "last_position_logits", lambda *a: real(*a).flip(-1))  # wrong on purpose
    monkeypatch.setattr(FusedLlama, "logits", lambda *a: real_fused(*a).flip(-1))
    broken = HFBackend(HFConfig(model=str(folder)))
    torch.testing.assert_close(torch.tensor(scores(broken)), torch.tensor(reference), rtol=1e-5, atol=1e-5)
    assert broken.scorer.shortcut_agrees is False
