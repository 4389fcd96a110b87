"""distinct_k with an LLM equivalence judge through a backend: one runner call per round, verdicts stored."""

from __future__ import annotations

import re

import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.metrics.diversity.novelty import distinct_k, utility_k
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult
from evalsuite.tasks.novelty_judge import SYSTEM, judge_equivalence, parse_equivalence


class TopicJudge:
    """Says two responses are equivalent when they name the same topic word (the first word); "???" answers garble."""

    name = "stub"

    def __init__(self):
        self.fingerprint = ModelFingerprint(model="topic-judge", revision=None, weights_sha256="0" * 64, backend="stub",
                                            dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True)
        self.seen: list[str] = []

    def generate(self, requests):
        for i, r in enumerate(requests):
            assert r.messages[0] == {"role": "system", "content": SYSTEM}
            user = r.messages[1]["content"]
            self.seen.append(user)
            a = re.search(r"Response A: (\S+)", user)[1]
            b = re.search(r"Response B: (\S+)", user)[1]
            text = "I am not sure" if "???" in (a, b) else f'{{"equivalent": {"true" if a == b else "false"}}}'
            yield [i], [GenerationResult(responses=[text], new_tokens=[1], finish_reasons=["stop"], prompt_tokens=1)]

    def close(self):
        pass


def test_parse_equivalence():
    assert parse_equivalence('{"equivalent": true}').value is True
    assert parse_equivalence('Sure. {"Equivalent" : FALSE}').value is False
    assert parse_equivalence("They are the same.").error == "no equivalence verdict"
    assert parse_equivalence('{"equivalent": true} or {"equivalent": false}').error == "both verdicts"


def test_distinct_k_through_a_judge_backend_and_the_store(tmp_path):
    texts = ["cats are the best pets for small flats", "cats again, said in other words here",
             "dogs need walks every day and a garden", "??? garbled answer that the judge cannot read",
             "cats once more with a third wording", "fish are quiet pets that need a tank"]
    prompts = ["Which pet?"] * 6
    backend = TopicJudge()
    with ResultStore(tmp_path / "judge.sqlite") as store:
        judge = judge_equivalence(backend, store)
        result = distinct_k(texts, equivalence=judge, prompts=prompts, groups=prompts, mode="within")
        # classes: cats x3, dogs, ??? (unparseable -> not merged), fish
        assert result.value == 4 and "eq:judge:topic-judge" in result.signature
        # a round asks about every class at once: ??? against cats and dogs, then the fifth (cats) and the
        # sixth (fish) answers against ??? among the others
        assert judge.unparseable == 4 and judge.judged == 1 + 1 + 2 + 3 + 3
        assert all(s.startswith("Prompt: Which pet?\n\nResponse A: ") for s in backend.seen)
        asked = len(backend.seen)
        again = utility_k(texts, equivalence=judge_equivalence(backend, store), prompts=prompts, groups=prompts,
                          mode="within")
        assert len(backend.seen) == asked  # every pair read back from the store
        # new, repeat, new, new, repeat, new with weights 0.8 ** position
        weights = [0.8**i for i in range(6)]
        assert again.value == pytest.approx((1 + 0.64 + 0.512 + 0.8**5) / sum(weights))
