"""Reading generations (errors name the record) and the `evalsuite metrics` command."""

import json

import pytest

from evalsuite.cli import main
from evalsuite.errors import DataError
from evalsuite.metrics.names import DIVERSITY
from evalsuite.registry import METRICS
from evalsuite.jobs.metrics_files import read_generations
from evalsuite.metrics import Fields, distinct_n, self_bleu
from evalsuite.metrics.resampling import Resampling


def read_records(path, text_field, group_field=None):
    return read_generations(path, Fields(text=text_field, group=group_field))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_reads_jsonl_and_json_list_keeping_empty_responses(tmp_path):
    rows = [{"response": "a b", "prompt_id": 1, "model": "m", "sample": 0}, {"response": "", "prompt_id": 1}]
    recs = read_records(write_jsonl(tmp_path / "g.jsonl", rows), "response", "prompt_id")
    assert [(r.text, r.group, r.model, r.sample) for r in recs] == [("a b", 1, "m", 0), ("", 1, None, None)]
    (tmp_path / "g.json").write_text(json.dumps(rows), encoding="utf-8")
    assert [r.text for r in read_records(tmp_path / "g.json", "response")] == ["a b", ""]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"g\.jsonl: the file is empty"),
        (b'{"response": "ok"}\n{"text": "x", "id": 2}\n', r"g\.jsonl:line 2: missing text field 'response' \(fields present: id, text\)"),
        (b'{"response": "ok"}\n\n{"response": 3}\n', r"g\.jsonl:line 3: field 'response' must be a string, got int \(3\)"),
        (b'{"response": null}\n', r"line 1: field 'response' must be a string, got NoneType"),
        (b'{"response": "ok"}\n{"response": "caf\xe9"}\n', r"g\.jsonl: line 2: not valid UTF-8 \(byte 0xe9.*mixes encodings"),
        (b'{"response": "ok"}\n{"response": \n', r"g\.jsonl: line 2: not valid JSON"),
        (b'[{"response": "ok"},\n {"response": ]', r"g\.jsonl: invalid JSON at line 2 column"),
        (b'["just a string"]', r"g\.jsonl:record 1: expected a JSON object"),
        (b"[]", r"the JSON list is empty"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "g.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_records(path, "response")


def test_missing_group_field_is_named(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"response": "a", "pid": 1}, {"response": "b"}])
    with pytest.raises(DataError, match=r"line 2: missing group field 'pid'"):
        read_records(path, "response", "pid")


def generations(tmp_path, name="gen.jsonl", template=False):
    rows = []
    for p in range(6):
        for s in range(3):
            n_words = 8 + (p + s) % 6
            words = ["I", "am", "a", "helpful", "assistant"] * 3 if template else [
                f"w{(p * 7 + s * 3 + k) % 23}" for k in range(14)
            ]
            text = " ".join(words[:n_words])
            rows.append({"prompt_id": f"p{p}", "sample": s, "response": text})
    return write_jsonl(tmp_path / name, rows), rows


def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    path, rows = generations(tmp_path)
    out = tmp_path / "m.json"
    assert main(["metrics", str(path), "--group-by", "prompt_id", "--out", str(out), "--n-boot", "50"]) == 0
    printed = capsys.readouterr().out
    assert "within" in printed and "across" in printed and "self_bleu_4" in printed
    data = json.loads(out.read_text())
    res = data["results"]["all"]
    texts = [r["response"] for r in rows]
    groups = [r["prompt_id"] for r in rows]
    # the JSON holds exactly what the library computes
    assert res["across"]["distinct_2"]["value"] == pytest.approx(distinct_n(texts, 2).value)
    assert res["within"]["distinct_2"]["value"] == pytest.approx(distinct_n(texts, 2, groups=groups, mode="within").value)
    assert res["within"]["self_bleu_4"]["value"] == pytest.approx(
        self_bleu(texts, groups=groups, mode="within").value
    )
    assert res["across"]["distinct_2"]["signature"].startswith("distinct|n:2|level:corpus|tok:auto|case:mixed|mode:across|ci:")
    lo, hi = res["across"]["distinct_2"]["ci"]
    assert lo <= res["across"]["distinct_2"]["value"] <= hi
    # every metric of the report, keyed by its one id, and the same numbers as through the registry
    assert list(res["within"]) == [n for n in DIVERSITY if n not in ("embedding_distance", "vendi")]
    resampling = Resampling(ci=True, n_boot=50)
    assert res["across"]["rep_w16"] == METRICS.get("rep_w16")(texts, groups=groups, resampling=resampling).to_dict()


def test_cli_compare_length_matched(tmp_path, capsys):
    a, _ = generations(tmp_path, "a.jsonl")
    b, _ = generations(tmp_path, "b.jsonl", template=True)
    out = tmp_path / "cmp.json"
    code = main(["metrics", str(a), "--compare", str(b), "--group-by", "prompt_id", "--no-ci", "--length-matched",
                 "--length-bins", "2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "comparison, across-prompt (length-matched)" in printed
    data = json.loads(out.read_text())
    assert set(data["results"]) == {"a.jsonl:all", "b.jsonl:all"}
    assert data["length_matched"]["kept"][0] == data["length_matched"]["kept"][1] > 0
    # the template answers are far less diverse, and the report shows it
    res = data["results"]
    assert res["b.jsonl:all"]["across"]["distinct_2"]["value"] < res["a.jsonl:all"]["across"]["distinct_2"]["value"]
    assert res["b.jsonl:all"]["within"]["self_bleu_4"]["value"] > res["a.jsonl:all"]["within"]["self_bleu_4"]["value"]


def test_cli_compare_flags_incomparable_pool_sizes(tmp_path, capsys):
    a, _ = generations(tmp_path, "a.jsonl")
    small = write_jsonl(tmp_path / "s.jsonl", [{"response": f"x{i} y z", "prompt_id": i} for i in range(5)])
    assert main(["metrics", str(a), "--compare", str(small), "--no-ci"]) == 0
    assert "not comparable: self_bleu_4: N: 18 vs 5 (pooled metrics depend on N" in capsys.readouterr().out


def test_cli_length_matching_without_overlap_is_an_error(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [{"response": "short one", "prompt_id": i} for i in range(4)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"response": " ".join(["long"] * 50), "prompt_id": i} for i in range(4)])
    assert main(["metrics", str(a), "--compare", str(b), "--no-ci", "--length-matched"]) == 3
    assert "do not overlap" in capsys.readouterr().err


def test_cli_errors_become_messages(tmp_path, capsys):
    path = write_jsonl(tmp_path / "g.jsonl", [{"text": "a"}])
    assert main(["metrics", str(path)]) == 3
    err = capsys.readouterr().err
    assert "evalsuite metrics: error:" in err and "missing text field 'response'" in err and "--text-field" in err
    assert main(["metrics", str(path), "--text-field", "text", "--length-matched"]) == 2
    assert "--compare" in capsys.readouterr().err
