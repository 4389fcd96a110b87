"""NoveltyBench's distinct_k and utility_k on hand-built cases: paraphrases, near-duplicates, short answers."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.diversity.novelty import Equivalence, distinct_k, partition, utility, utility_k
from evalsuite.metrics.resampling import Resampling


def angle_embed(angles: dict[str, float]):
    """A fixed encoder: each text is a unit vector at its angle (degrees) in the plane."""
    def embed(texts):
        return np.array([[np.cos(np.radians(angles[t])), np.sin(np.radians(angles[t]))] for t in texts])

    return embed


def sequential_partition(n: int, same) -> list[int]:
    """The greedy partition one pair at a time: each response against the first member of each class, in order."""
    heads, labels = [], []
    for i in range(n):
        for c, h in enumerate(heads):
            if same(h, i):
                labels.append(c)
                break
        else:
            labels.append(len(heads))
            heads.append(i)
    return labels


LONG = {  # paraphrases of two answers, and a third answer; all longer than the short-answer rule's 5 words
    "the capital of france is paris, a city on the seine": 0.0,
    "paris, on the river seine, is the capital city of france": 10.0,
    "france has paris as its capital city on the seine river": 15.0,
    "i would suggest visiting lyon for its food and old town": 90.0,
    "lyon is worth a visit for the food and the old town": 95.0,
    "marseille is a port city on the mediterranean coast of france": 200.0,
}


def test_paraphrases_form_classes_and_greedy_is_against_the_first_member():
    texts = list(LONG)
    result = distinct_k(texts, equivalence="embedding", embed=angle_embed(LONG), threshold=0.9)
    assert result.value == 3 and result.details["share"] == pytest.approx(0.5)
    # a chain: B is within 23 degrees of A and C of B, but C is 46 degrees from A, the class's first member
    chain = {"answer a one two three four": 0.0, "answer b one two three four": 23.0, "answer c one two three four": 46.0}
    eq = Equivalence(list(chain), "embedding", threshold=0.9, short_rule=True, prompts=None,
                     embed=angle_embed(chain), model=None)
    assert partition([[0, 1, 2]], eq) == [[0, 0, 1]]  # transitive closure would make one class
    assert partition([[2, 1, 0]], eq) == [[0, 0, 1]]  # order matters: C first, then B joins it, A does not


def test_round_partition_equals_the_sequential_greedy_partition_on_random_relations():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        relation = rng.random((n, n)) < 0.3
        relation = relation | relation.T
        texts = [f"response number {i} with enough words to be long" for i in range(n)]

        def judge(pairs, relation=relation):
            return [bool(relation[int(a.split()[2]), int(b.split()[2])]) for _, a, b in pairs]

        eq = Equivalence(texts, judge, threshold=None, short_rule=True, prompts=None, embed=None, model=None)
        assert partition([list(range(n))], eq) == [sequential_partition(n, lambda h, i: relation[h, i])]


def test_short_answer_rule_and_exact_match():
    texts = ["Paris", "paris", "Paris, France", "The answer is 42", "42 is the answer", "No"]
    # short answers (<= 5 words): equal when twice the shared lowercased words reach the longer length
    assert distinct_k(texts, equivalence="exact").value == 4  # {Paris, paris}, {Paris, France}, {42 x2}, {No}
    assert distinct_k(texts, equivalence="exact", short_answer_rule=False).value == 6
    long_same = ["a long answer that repeats itself word for word"] * 3 + ["a long answer that differs in one word here"]
    assert distinct_k(long_same, equivalence="exact").value == 2
    # "Paris, France" vs "Paris": the words are "paris," and "france" against "paris": nothing shared
    assert distinct_k(["Paris, France", "Paris"], equivalence="unigram").value == 2


def test_unigram_equivalence_is_rouge1_above_the_threshold(alpaca_eval_instructions):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"])
    texts = alpaca_eval_instructions[:40]
    eq = Equivalence(texts, "unigram", threshold=None, short_rule=False, prompts=None, embed=None, model=None)
    pairs = [(h, i) for h in range(40) for i in range(40) if h != i]
    expected = [scorer.score(texts[h], texts[i])["rouge1"].fmeasure > 0.458 for h, i in pairs]
    assert eq(pairs) == expected and any(expected)


def test_utility_by_hand_and_with_quality():
    # classes 0 0 1 0 2: new, repeat, new, repeat, new; weights 0.8 ** position
    weights = 0.8 ** np.arange(5)
    assert utility([0, 0, 1, 0, 2], [1] * 5, 0.8) == pytest.approx((1 + 0.64 + 0.4096) / weights.sum())
    assert utility([0, 0, 1, 0, 2], [9, 9, 5, 9, 2], 0.8) == pytest.approx((9 + 5 * 0.64 + 2 * 0.4096) / weights.sum())
    texts = list(LONG)
    groups = [0, 0, 0, 1, 1, 1]
    embed = angle_embed(LONG)
    u = utility_k(texts, equivalence="embedding", embed=embed, threshold=0.9, groups=groups, mode="within")
    # prompt 0: one class (new, repeat, repeat); prompt 1: lyon, lyon, marseille (new, repeat, new)
    assert u.value == pytest.approx(np.mean([1 / 2.44, (1 + 0.64) / 2.44]))
    d = distinct_k(texts, equivalence="embedding", embed=embed, threshold=0.9, groups=groups, mode="within")
    assert d.value == pytest.approx(1.5) and "eq:embedding|thr:0.9|short:yes|model:given|mode:within" in d.signature
    assert np.isnan(utility_k(texts, groups=groups, mode="across").value)


def test_judge_gets_one_batch_per_round_with_prompts_and_no_short_pairs():
    calls = []

    def judge(pairs):
        calls.append(pairs)
        return [a.split()[0] == b.split()[0] for _, a, b in pairs]

    texts = ["alpha one two three four five", "alpha six seven eight nine ten", "beta one two three four five",
             "yes", "yes", "gamma one two three four five"]
    prompts = ["p0"] * 3 + ["p1"] * 3
    result = distinct_k(texts, equivalence=judge, prompts=prompts, groups=prompts, mode="within")
    assert result.value == pytest.approx((2 + 2) / 2) and "eq:judge" in result.signature
    assert len(calls) == 2  # rounds 2 and 3; round 1 has nothing to compare
    assert calls[0] == [("p0", texts[0], texts[1])]  # "yes"/"yes" went to the short-answer rule
    assert calls[1] == [("p0", texts[0], texts[2]), ("p1", texts[3], texts[5])]


def test_across_mode_interval_and_errors():
    texts = list(LONG) * 3
    result = distinct_k(texts, equivalence="embedding", embed=angle_embed(LONG), resampling=Resampling(ci=True, n_boot=30))
    lo, hi = result.ci
    assert result.value == 3 and 1 <= lo <= 3 <= hi <= len(texts)
    with pytest.raises(ConfigError, match="equivalence must be one of"):
        distinct_k(texts, equivalence="bleu")
    with pytest.raises(ConfigError, match="needs model= .* or embed="):
        distinct_k(texts, equivalence="embedding")
    with pytest.raises(DataError, match="returned 0 verdicts for 1 pairs"):
        distinct_k(list(LONG)[:2], equivalence=lambda pairs: [])


def test_unigram_partition_equals_novelty_bench_pair_by_pair(alpaca_eval_instructions):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"])
    texts = [t for t in alpaca_eval_instructions if len(t.split()) > 5][:80]

    def same(h, i):  # NoveltyBench's equivalence_check_unigram(prompt, head, candidate)
        return scorer.score(texts[h], texts[i])["rouge1"].fmeasure > 0.458

    expected = sequential_partition(len(texts), same)
    eq = Equivalence(texts, "unigram", threshold=None, short_rule=True, prompts=None, embed=None, model=None)
    assert partition([list(range(len(texts)))], eq) == [expected] and len(set(expected)) < len(texts)
    assert distinct_k(texts).value == len(set(expected))
