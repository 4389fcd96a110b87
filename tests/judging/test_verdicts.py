"""Judge-output parsing: formats from the MT-Bench judge prompts; ambiguity is never resolved by guessing."""

from __future__ import annotations

import json

import pytest

from evalsuite.errors import ConfigError
from evalsuite.tasks.judging.mt_bench import parse_rating
from evalsuite.tasks.judging.pairwise import pairwise_outcome, parse_pairwise, parse_pairwise_scores
from evalsuite.tasks.judging.rubric import load_rubric, parse_rubric
from evalsuite.tasks.judging.verdicts import summarize


@pytest.mark.parametrize(
    "text, value",
    [("The answer is fine. Rating: [[7]]", 7.0), ("Rating: [[8.5]]", 8.5), ("Rating: [4]", 4.0), ("[[9]] ... again [[9]]", 9.0)],
)
def test_rating_parses(text, value):
    v = parse_rating(text)
    assert v.parsed and v.value == value and v.raw == text


@pytest.mark.parametrize(
    "text, why",
    [("no score here", "no [[rating]]"), ("Rating: [[11]]", "outside"), ("[[3]] or maybe [[7]]", "ambiguous"),
     (None, "no [[rating]]"), ("Rating: [[0]]", "outside")],
)
def test_rating_unparseable_is_not_guessed(text, why):
    v = parse_rating(text)
    assert not v.parsed and v.value is None and why in v.error


def test_rating_without_backup_ignores_single_brackets():
    assert not parse_rating("see reference [2]", backup=False).parsed


@pytest.mark.parametrize(
    "text, value, why",
    [("Final verdict: [[A]]", "A", None), ("[[B]]", "B", None), ("It is a tie: [[C]]", "tie", None),
     ("[[B]] is better than [[A]]", None, "ambiguous"), ("A is better", None, "no [[A]]")],
)
def test_pairwise(text, value, why):
    v = parse_pairwise(text)
    assert v.value == value
    assert (v.error is None) if why is None else (why in v.error)


def test_pairwise_two_scores_uses_fastchat_tie_delta():
    assert parse_pairwise_scores("[[8, 6]]").value == "A"
    assert parse_pairwise_scores("[[6.0, 6.05]]").value == "tie"
    assert parse_pairwise_scores("scores [5, 9]").value == "B"
    assert not parse_pairwise_scores("[[8, 6]] then [[5, 9]]").parsed


def test_rubric_json_fenced_and_tags():
    text = "Here you go:\n```json\n" + json.dumps({"helpfulness": 4, "harmlessness": {"score": 5, "reason": "ok"}}) + "\n```"
    v = parse_rubric(text, dimensions=["helpfulness", "harmlessness"], low=1, high=5)
    assert v.value == {"helpfulness": 4.0, "harmlessness": 5.0}
    tags = parse_rubric("[[helpfulness: 3]] and [[honesty: 2.5]]")
    assert tags.value == {"helpfulness": 3.0, "honesty": 2.5}


@pytest.mark.parametrize(
    "text, kwargs, why",
    [('{"helpfulness": 4}', {"dimensions": ["helpfulness", "honesty"]}, "missing dimensions"),
     ('{"helpfulness": "good"}', {}, "non-numeric"),
     ('{"helpfulness": 9}', {"high": 5}, "outside"),
     ("[[helpfulness: 3]] [[helpfulness: 4]]", {}, "ambiguous"),
     ("I liked it.", {}, "no JSON")],
)
def test_rubric_unparseable(text, kwargs, why):
    v = parse_rubric(text, **kwargs)
    assert not v.parsed and why in v.error and v.raw == text


def test_summarize_counts_reasons():
    verdicts = [parse_pairwise("[[A]]"), parse_pairwise("nothing"), parse_pairwise("[[A]] [[B]]"), parse_pairwise("[[C]]")]
    s = summarize(verdicts)
    assert (s.n, s.parsed, s.unparseable) == (4, 2, 2)
    assert s.reasons == {"no [[A]], [[B]] or [[C]] found": 1, "ambiguous": 1}


def test_pairwise_outcome_for_either_position_feeds_combine_orders():
    from evalsuite.metrics.judging.pairwise import combine_orders

    # Model shown as A in order 1 and as B in order 2; the judge prefers A both times (position bias).
    first, second = parse_pairwise("[[A]]"), parse_pairwise("[[A]]")
    assert (pairwise_outcome(first, "A"), pairwise_outcome(second, "B")) == ("win", "loss")
    assert combine_orders(pairwise_outcome(first, "A"), pairwise_outcome(second, "B")) == "tie"
    assert pairwise_outcome(parse_pairwise("[[C]]"), "B") == "tie"
    assert pairwise_outcome(parse_pairwise("no verdict"), "A") is None
    with pytest.raises(ConfigError, match="side must be"):
        pairwise_outcome(first, "C")


def test_a_rubric_parses_its_own_dimensions_within_its_scale():
    rubric = load_rubric("default")
    ok = rubric.parse("".join(f"[[{d}: 4]]" for d in rubric.dimension_names))
    assert ok.value == {d: 4.0 for d in rubric.dimension_names}
    assert "outside" in rubric.parse("".join(f"[[{d}: 6]]" for d in rubric.dimension_names)).error
    assert "missing dimensions" in rubric.parse("[[naturalness: 3]]").error
