"""`evalsuite import-outputs`: AlpacaEval outputs files as generation runs that compare and report read."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from evalsuite.errors import DataError
from evalsuite.jobs.import_outputs import import_outputs, load_answers
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics.diversity.distinct import distinct_n
from evalsuite.metrics.diversity.self_bleu import self_bleu
from evalsuite.results import load_run

OUTPUTS = "judging/alpaca_eval_outputs"


def test_round_trip_on_a_real_file(data_dir, tmp_path):
    path = data_dir / OUTPUTS / "Meta-Llama-3-8B-Instruct.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    import_outputs(path, tmp_path / "run", n_boot=None)  # values only: the intervals cost time, not coverage here
    record = load_run(tmp_path / "run")
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    assert len(samples) == len(rows) == record.scores.responses == record.scores.prompts == 805
    assert record.task.name == "generate" and record.model["name"] == "Meta-Llama-3-8B-Instruct"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.model["sha256"] == record.task_metadata["sha256"] == digest
    assert record.task_metadata["imported_from"] == str(path.resolve())
    for row, sample in zip(rows, samples):
        assert sample["prompt_id"] == hashlib.sha256(row["instruction"].encode()).hexdigest()[:16]
        assert (sample["prompt"], sample["response"], sample["sample_index"]) == (row["instruction"], row["output"], 0)
    texts = [r["output"] for r in rows]
    assert record.scores.across["distinct_2"].value == pytest.approx(distinct_n(texts, 2).value, abs=1e-12)
    assert record.scores.across["self_bleu_4"].value == pytest.approx(self_bleu(texts, 4).value, abs=1e-12)


def test_two_imported_files_pair_by_prompt_whatever_their_order(data_dir, tmp_path):
    from evalsuite.reports.compare import compare

    base = json.loads((data_dir / OUTPUTS / "Meta-Llama-3-8B-Instruct.json").read_text(encoding="utf-8"))[:30]
    simpo = json.loads((data_dir / OUTPUTS / "Llama-3-Instruct-8B-SimPO.json").read_text(encoding="utf-8"))[:30]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "simpo.json").write_text(json.dumps(simpo[::-1]))  # reversed: pairing must not rely on order
    import_outputs(tmp_path / "base.json", tmp_path / "a" / "generate")
    import_outputs(tmp_path / "simpo.json", tmp_path / "b" / "generate")
    a, b = load_answers(tmp_path / "a" / "generate"), load_answers(tmp_path / "b" / "generate")
    assert a.keys() == b.keys() and len(a) == 30
    by_instruction = {r["instruction"]: r["output"] for r in simpo}
    samples = {s["prompt_id"]: s["prompt"] for s in read_jsonl(tmp_path / "a" / "generate" / "samples.jsonl")}
    assert all(b[k] == by_instruction[samples[k]] for k in a)
    result = compare(tmp_path / "a" / "generate", tmp_path / "b" / "generate", n_boot=50)
    assert result.only_in_a == [] and result.only_in_b == []  # the two imported runs matched as one task
    assert all(c.n_paired == 30 and c.only_in_a == c.only_in_b == 0 for c in result.comparisons)


def test_cli_writes_the_run(data_dir, tmp_path, capsys):
    from evalsuite.cli import import_outputs_cmd

    parser = argparse.ArgumentParser()
    import_outputs_cmd.add_parser(parser.add_subparsers())
    path = data_dir / OUTPUTS / "gemma-2-9b-it-SimPO.json"
    args = parser.parse_args(["import-outputs", str(path), "--out", str(tmp_path / "run"), "--name", "g", "--limit", "12"])
    assert args.func(args) == 0
    record = load_run(tmp_path / "run")
    assert record.model["name"] == "g" and record.scores.responses == 12
    assert record.scores.across["distinct_2"].ci is not None  # the default report has intervals
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'run'}: 12 answers of g (sha256 ")


def _write(tmp_path: Path, data, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


GOOD = {"instruction": "Say hi.", "output": "Hi.", "generator": "m", "dataset": "d"}


@pytest.mark.parametrize("data, message", [
    ({"instruction": "x"}, "expected a JSON list of {instruction, output, generator, dataset} records, got dict"),
    ([], "the list is empty; nothing to import"),
    ([GOOD, "text"], "record 1: expected an object, got str"),
    ([GOOD, {"instruction": "Other."}], "record 1: missing field 'output' (fields: instruction)"),
    ([GOOD, {"instruction": 3, "output": "x"}], "record 1: field 'instruction' must be a string, got int"),
    ([GOOD, {**GOOD, "instruction": "B", "output": None}], "record 1: field 'output' must be a string, got NoneType"),
    ([GOOD, {**GOOD, "instruction": "  "}], "record 1: field 'instruction' is empty"),
    ([GOOD, {**GOOD, "instruction": "B"}, GOOD], "record 2: field 'instruction' repeats record 0's instruction"),
    ([GOOD, {**GOOD, "instruction": "B", "generator": "other"}],
     "record 1: field 'generator' is 'other', but record 0's is 'm'"),
    ("[{\"instruction\": ", "not valid JSON: Expecting value at line 1, column 18"),
])
def test_bad_input_names_file_record_and_field(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(DataError) as caught:
        import_outputs(path, tmp_path / "out")
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert not (tmp_path / "out").exists()  # nothing half-written
