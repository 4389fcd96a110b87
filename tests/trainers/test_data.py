import json

import pytest

from evalsuite.errors import DataError
from evalsuite.trainers import data

from .conftest import shared_data_dir


def _write(tmp_path, rows, name="d.json"):
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return path


def test_three_sft_formats_become_prompt_completion(tmp_path):
    rows = [
        {"instruction": "Add", "input": "1 and 2", "output": "3"},
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"},
                      {"role": "assistant", "content": "a"}]},
    ]
    path = _write(tmp_path, rows, "d.jsonl")
    examples = data.sft_examples(path, data.read_rows(path))
    assert examples[0] == {"prompt": [{"role": "user", "content": "Add\n\n1 and 2"}],
                           "completion": [{"role": "assistant", "content": "3"}]}
    assert examples[1]["prompt"] == [{"role": "user", "content": "hi"}]
    assert examples[2]["prompt"][0]["role"] == "system" and examples[2]["completion"][0]["content"] == "a"


def test_preference_row_without_rejected_names_file_row_and_field(tmp_path):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}]
    path = _write(tmp_path, rows)
    with pytest.raises(DataError) as info:
        data.preference_examples(path, data.read_rows(path))
    message = str(info.value)
    assert str(path) in message and "row 1" in message and "'rejected'" in message


def test_empty_dataset_is_an_error(tmp_path):
    path = _write(tmp_path, [])
    with pytest.raises(DataError, match="empty"):
        data.read_rows(path)


def test_unknown_speaker_and_missing_file(tmp_path):
    path = _write(tmp_path, [{"conversations": [{"from": "robot", "value": "x"}], "chosen": "a", "rejected": "b"}])
    with pytest.raises(DataError, match="row 0.*unknown speaker 'robot'"):
        data.preference_examples(path, data.read_rows(path))
    with pytest.raises(DataError, match="not found"):
        data.read_rows(tmp_path / "missing.json")


def test_pairs_from_single_are_explicit_and_labelled(tmp_path):
    path = _write(tmp_path, [{"instruction": "Tell", "input": "", "output": "a long answer here"}])
    with pytest.raises(DataError, match="'chosen'"):
        data.preference_examples(path, data.read_rows(path))
    [pair] = data.preference_examples(path, data.read_rows(path), pairs_from_single="truncate")
    assert pair["synthetic_pair"] is True
    assert pair["rejected"][0]["content"] == "a long an"  # first half of 18 characters


def test_fit_prompts_drops_or_truncates_long_prompts(tmp_path):
    from evalsuite.trainers.chatml import chatml_tokenizer

    tokenizer = chatml_tokenizer(["short text words " * 20], vocab_size=300)
    examples = [{"prompt": [{"role": "user", "content": "word " * n}], "chosen": []} for n in (2, 200)]
    kept, stats = data.fit_prompts(examples, tokenizer, 40, "drop")
    assert len(kept) == 1 and stats.dropped_long_prompt == 1
    kept, stats = data.fit_prompts(examples, tokenizer, 40, "truncate")
    assert len(kept) == 2 and stats.truncated_prompt == 1
    encoded = tokenizer.apply_chat_template(kept[1]["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)
    assert len(encoded["input_ids"]) <= 40


def test_shared_preference_and_kto_files_load():
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared datasets not found (set EVALSUITE_DATA_DIR)")
    path = root / "train" / "dpo_en_demo.json"
    pairs = data.preference_examples(path, data.read_rows(path))
    assert len(pairs) == 300
    assert pairs[0]["prompt"][-1]["role"] == "user" and pairs[0]["chosen"][0]["role"] == "assistant"
    kto_path = root / "train" / "kto_en_demo.json"
    rows = data.kto_examples(kto_path, data.read_rows(kto_path))
    assert {r["label"] for r in rows} == {True, False}


def test_real_preference_prompts_are_fitted_so_no_completion_is_empty():
    from evalsuite.trainers.chatml import chatml_tokenizer

    root = shared_data_dir()
    if root is None:
        pytest.skip("shared datasets not found (set EVALSUITE_DATA_DIR)")
    path = root / "train" / "dpo_en_demo.json"
    pairs = data.preference_examples(path, data.read_rows(path))
    tokenizer = chatml_tokenizer([t for p in pairs[:100] for t in (p["prompt"][-1]["content"], p["chosen"][0]["content"])], 1000)
    kept, stats = data.fit_prompts(pairs, tokenizer, 192, "drop")
    assert stats.dropped_long_prompt > 0 and stats.kept == len(kept) == 300 - stats.dropped_long_prompt
    for example in kept:
        encoded = tokenizer.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)
        assert len(encoded["input_ids"]) <= 192
