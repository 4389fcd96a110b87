"""The published MT-Bench judge prompts (shared data) against the verdict parsers."""

from __future__ import annotations

import json
import re

import pytest

from evalsuite.tasks.judging.mt_bench import parse_rating
from evalsuite.tasks.judging.pairwise import parse_pairwise

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def judge_prompts(data_dir):
    path = data_dir / "judging" / "mt_bench_judge_prompts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_pairwise_prompts_verdict_tags_parse_and_an_echoed_prompt_is_not_guessed(judge_prompts):
    pairwise = [p for p in judge_prompts if p["type"] == "pairwise"]
    assert pairwise
    for p in pairwise:
        # Each prompt asks for exactly these three tags; each on its own is a verdict.
        tags = sorted(set(re.findall(r"\[\[[ABC]\]\]", p["system_prompt"])))
        assert tags == ["[[A]]", "[[B]]", "[[C]]"], p["name"]
        assert [parse_pairwise(f"Final verdict: {t}").value for t in tags] == ["A", "B", "tie"]
        # A judge that echoes its instructions names all three: unparseable (FastChat would read "A").
        echoed = parse_pairwise(p["system_prompt"])
        assert not echoed.parsed and "ambiguous" in echoed.error


def test_single_prompts_rating_format(judge_prompts):
    single = [p for p in judge_prompts if p["type"] == "single"]
    assert single
    for p in single:
        assert p["output_format"] == "[[rating]]"
        text = p["system_prompt"] + p["prompt_template"]  # some variants put the instructions in the template
        example = re.search(r"Rating: \[\[\d+\]\]", text).group(0)  # the prompt's own example
        assert parse_rating(example).value == float(example[10:-2])
        assert not parse_rating(p["output_format"]).parsed  # the placeholder itself is no rating
