"""vLLM's prompt_logprobs (its documented RequestOutput shape, built by hand) to continuation log-likelihoods.

vLLM cannot be installed here, so the objects below have the shape vLLM
documents: ``RequestOutput.prompt_logprobs`` is a list with ``None`` first, then
per position a dict token id -> ``Logprob(logprob, rank, decoded_token)`` holding
the prompt's own token besides the top ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evalsuite.backends.vllm import prompt_token_logprobs, score_from_prompt_logprobs
from evalsuite.errors import ModelError
from evalsuite.task import MultipleChoiceRequest


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None


def test_each_positions_own_token_is_read_whatever_the_top_tokens():
    entries = [None, {7: Logprob(-0.5, 1, "a"), 3: Logprob(-2.0, 4, "b")}, {9: Logprob(-0.1, 1, "c")}]
    assert prompt_token_logprobs([5, 3, 9], entries, "x") == [None, -2.0, -0.1]


@pytest.mark.parametrize("entries, message", [
    (None, "vLLM returned no prompt_logprobs; it must be asked with SamplingParams"),
    ([None, {3: Logprob(-1.0)}], "returned 2 prompt_logprobs for 3 tokens"),
    ([None, {4: Logprob(-1.0)}, {9: Logprob(-1.0)}], "position 1 lacks the prompt's token 3"),
])
def test_malformed_outputs_are_errors_naming_the_item(entries, message):
    with pytest.raises(ModelError, match=f"item q/1 option 0: .*{message}"):
        prompt_token_logprobs([5, 3, 9], entries, "item q/1 option 0")


def test_vllm_shaped_outputs_score_like_the_hf_backend(tiny_model):
    """Outputs built from the tiny model's own per-token log-probabilities give the hf backend's numbers."""
    import torch

    from evalsuite.backends import load_backend

    hf = load_backend("hf", {"model": str(tiny_model)})
    prefix = "The following are questions about the sea.\n\n"
    requests = [
        MultipleChoiceRequest(key=f"q/{i}", group="q", prefix=prefix, text=text, continuations=conts)
        for i, (text, conts) in enumerate([
            ("Which colour is the sea?\nAnswer:", [" A", " B", " C", " D"]),
            ("以下哪个是海？\n答案：", ["A", "B", "C", "D"]),
            ("Name the sea.\nAnswer:", [" the North Sea", " a lake", " blue"]),  # multi-token: lm-eval's general path
        ])
    ]
    sent = []

    def run(sequences):
        sent.extend(sequences)
        outputs = []
        for ids in sequences:
            with torch.inference_mode():
                logprobs = hf.model(torch.tensor([ids])).logits[0, :-1].float().log_softmax(-1)
            entries = [None]
            for position, token in enumerate(ids[1:]):
                best = int(logprobs[position].argmax())
                entries.append({best: Logprob(float(logprobs[position, best]), 1, "?"),
                                token: Logprob(float(logprobs[position, token]), 2, "?")})
            outputs.append(RequestOutput(prompt_token_ids=ids, prompt_logprobs=entries))
        return outputs

    results = score_from_prompt_logprobs(requests, lambda texts: hf.tokenizer(texts)["input_ids"], run,
                                         window=hf.max_length, truncation="error")
    reference = [None] * len(requests)
    for indices, batch in hf.loglikelihoods(requests):
        for i, result in zip(indices, batch):
            reference[i] = result
    assert len(sent) == 11 and all(r.path == "general" for r in results)
    for mine, theirs in zip(results, reference, strict=True):
        assert mine.loglikelihoods == pytest.approx(theirs.loglikelihoods, abs=1e-4)
        assert max(range(len(mine.loglikelihoods)), key=mine.loglikelihoods.__getitem__) == \
            max(range(len(theirs.loglikelihoods)), key=theirs.loglikelihoods.__getitem__)
        assert mine.prompt_tokens == theirs.prompt_tokens
