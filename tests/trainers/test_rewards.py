import math

import pytest

from evalsuite.errors import ConfigError
from evalsuite.registry import REWARDS
from evalsuite.trainers import rewards


def test_registry_rejects_unknown_and_duplicate_names():
    with pytest.raises(ConfigError, match="unknown reward 'nope'"):
        REWARDS.get("nope")
    with pytest.raises(ConfigError, match="'distinct_n' is registered twice"):
        REWARDS.register("distinct_n", lambda completions, **_: [0.0] * len(completions))
    assert REWARDS.get("distinct_n") is rewards.distinct_n_contribution


def test_entropy_is_zero_for_repetition_and_one_for_distinct_tokens():
    values = REWARDS.get("diversity_entropy")(["go go go go", "a b c d"], groups=[0, 0], answers=["", ""])
    assert values[0] == 0.0 and math.isclose(values[1], 1.0)


def test_distinct_n_rewards_the_completion_that_adds_new_ngrams():
    completions = ["the cat sat", "the cat sat", "a dog ran home"]
    values = REWARDS.get("distinct_n")(completions, groups=[0, 0, 0], answers=[""] * 3, n=2)
    # Removing the novel completion lowers distinct-2 of the group, removing a duplicate raises it.
    assert values[2] > 0 > values[0] and values[0] == values[1]


def test_similarity_penalty_hits_near_duplicates_within_a_group_only():
    completions = ["red blue green", "red blue green", "red blue green", "dog cat fish"]
    values = REWARDS.get("similarity_penalty")(completions, groups=[0, 0, 1, 1], answers=[""] * 4, threshold=0.8)
    assert values == [-1.0, -1.0, 0.0, 0.0]


def test_length_penalty_and_exact_answer():
    assert REWARDS.get("length_penalty")(["a b", "a b c d e f"], groups=[0, 0], answers=["", ""], max_tokens=4) == [0.0, -0.5]
    got = REWARDS.get("exact_answer")(["Paris.", "paris is it", "x"], groups=[0, 0, 1], answers=["paris", "paris", ""])
    assert got == [1.0, 0.0, None]


def test_trl_wrappers_group_by_prompt_and_check_options():
    funcs, weights = rewards.trl_reward_funcs({"similarity_penalty": 2.0}, {"similarity_penalty": {"threshold": 0.5}})
    assert weights == [2.0] and funcs[0].__name__ == "similarity_penalty"
    prompts = [[{"role": "user", "content": "p1"}]] * 2 + [[{"role": "user", "content": "p2"}]] * 2
    completions = [[{"role": "assistant", "content": t}] for t in ("x y", "x y", "x y", "q r")]
    assert funcs[0](prompts=prompts, completions=completions) == [-1.0, -1.0, 0.0, 0.0]
    with pytest.raises(ConfigError, match="bad reward_options"):
        rewards.trl_reward_funcs({"length_penalty": 1.0}, {"length_penalty": {"maxtokens": 3}})
