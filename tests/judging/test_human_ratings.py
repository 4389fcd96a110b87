"""Blind rating sheets out, filled-in sheets back: means, human-human and judge-human agreement."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from evalsuite.cli import main
from evalsuite.errors import DataError
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.human_ratings import import_ratings
from evalsuite.results import load_result
from evalsuite.tasks.judging.human_sheet import export_sheet
from evalsuite.tasks.judging.items import load_items
from evalsuite.tasks.judging.rubric import load_rubric

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")
DIMS = ["task_completion", "naturalness", "tone_style_fit", "informativeness"]


@pytest.fixture()
def runs(tmp_path):
    out = []
    for name, answers in (("ckpt-a", ["fine <script>alert(1)</script>", "ok", "好的"]), ("ckpt-b", ["x", "y", "z"])):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "samples.jsonl").write_text("".join(
            json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Q{i} <b>", "response": a}, ensure_ascii=False) + "\n"
            for i, a in enumerate(answers)), encoding="utf-8")
        out.append(folder)
    return out


def _fill(sheet: Path, dest: Path, score) -> Path:
    rows = list(csv.DictReader(sheet.read_text(encoding="utf-8").splitlines()))
    with open(dest, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, **{d: score(row["item_id"], d) for d in DIMS}})
    return dest


def test_sheet_is_blind_shuffled_and_escaped(runs, tmp_path):
    subprocess.run([EVALSUITE, "judge", "export-sheet", *map(str, runs), "--out", str(tmp_path / "sheet"), "--seed", "3"],
                   check=True, capture_output=True)
    sheet = (tmp_path / "sheet" / "sheet.csv").read_text(encoding="utf-8")
    form = (tmp_path / "sheet" / "form.html").read_text(encoding="utf-8")
    key = json.loads((tmp_path / "sheet" / "key.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(sheet.splitlines()))
    assert len(rows) == 6 and set(rows[0]) == {"item_id", "question", "answer", *DIMS, "comment"}
    assert "ckpt-" not in sheet and "ckpt-" not in form  # raters never see the run names
    assert {v["label"] for v in key["items"].values()} == {"ckpt-a", "ckpt-b"}
    assert "<script>alert(1)" not in form and "&lt;script&gt;alert(1)&lt;/script&gt;" in form and "好的" in form
    assert [r["answer"] for r in rows] != ["fine <script>alert(1)</script>", "ok", "好的", "x", "y", "z"]  # shuffled


def test_import_means_and_agreement_against_reference_libraries(runs, tmp_path):
    rubric = load_rubric("default")
    folder = export_sheet(load_items(runs), rubric, tmp_path / "sheet", seed=1)
    key = json.loads((folder / "key.json").read_text())
    base = {i: (3 if v["label"] == "ckpt-a" else 2) + int(v["prompt_id"]) % 2 for i, v in key["items"].items()}
    r1 = _fill(folder / "sheet.csv", tmp_path / "r1.csv", lambda i, d: base[i])
    r2 = _fill(folder / "sheet.csv", tmp_path / "r2.csv", lambda i, d: min(5, base[i] + (1 if d == "naturalness" else 0)))
    panel = tmp_path / "panel"
    panel.mkdir()
    judge_scores = {i: {d: 5 - base[i] for d in DIMS} for i in key["items"]}
    (panel / "judgments.jsonl").write_text("".join(
        json.dumps({"judge": "j", "item": key["items"][i]["ref"], "status": "ok", "scores": judge_scores[i]}) + "\n"
        for i in key["items"]))
    result = import_ratings(folder, [r1, r2], panel_dir=panel, resampling=Resampling(ci=True, n_boot=100))
    ids = sorted(key["items"])
    a_ids = [i for i in ids if key["items"][i]["label"] == "ckpt-a"]
    assert result.means["ckpt-a"]["task_completion"].mean == pytest.approx(np.mean([base[i] for i in a_ids]))
    assert result.means["ckpt-a"]["naturalness"].mean == pytest.approx(np.mean([base[i] + 0.5 for i in a_ids]))
    matrix = [[base[i] for i in ids], [min(5, base[i] + 1) for i in ids]]
    expected_alpha = krippendorff.alpha(reliability_data=np.array(matrix, float), level_of_measurement="ordinal")
    assert result.human_agreement["naturalness"].krippendorff_alpha_ordinal == pytest.approx(expected_alpha)
    assert result.human_agreement["task_completion"].krippendorff_alpha_ordinal == pytest.approx(1.0)
    humans = [base[i] for i in ids]
    judged = [5 - base[i] for i in ids]
    got = result.judge_agreement["j"]["task_completion"]
    assert got.cohen_kappa_quadratic == pytest.approx(cohen_kappa_score(judged, humans, weights="quadratic"))
    assert got.spearman == pytest.approx(spearmanr(judged, humans).statistic) and got.spearman < 0


def test_bad_rating_names_file_line_and_field(runs, tmp_path):
    folder = export_sheet(load_items(runs), load_rubric("default"), tmp_path / "sheet")
    bad = _fill(folder / "sheet.csv", tmp_path / "bad.csv", lambda i, d: 9 if d == "naturalness" else 3)
    with pytest.raises(DataError, match=r"bad.csv: line 2: field 'naturalness': 9 is outside 1..5"):
        import_ratings(folder, [bad])


def test_cli_import_ratings_writes_a_typed_record(runs, tmp_path, capsys):
    folder = export_sheet(load_items(runs), load_rubric("default"), tmp_path / "sheet")
    r1 = _fill(folder / "sheet.csv", tmp_path / "r1.csv", lambda i, d: 4)
    assert main(["judge", "import-ratings", str(folder), str(r1), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ckpt-a: task_completion 4.00" in out and "human-human naturalness: Krippendorff's alpha -" in out
    record = load_result(tmp_path / "out")
    assert record.kind == "human_ratings" and record.provenance.packages and record.raters == [str(r1)]
    assert record.means["ckpt-b"]["informativeness"].n_items == 3 and record.judge_agreement == {}


def test_bad_key_and_panel_name_file_line_and_field(runs, tmp_path):
    folder = export_sheet(load_items(runs), load_rubric("default"), tmp_path / "sheet")
    r1 = _fill(folder / "sheet.csv", tmp_path / "r1.csv", lambda i, d: 4)
    panel = tmp_path / "panel"
    panel.mkdir()
    (panel / "judgments.jsonl").write_text('{"judge": "j", "status": "failed"}\n{"judge": "j", "status": "ok", "scores": {}}\n')
    with pytest.raises(DataError, match=r"judgments.jsonl: line 2: field 'item' is missing"):
        import_ratings(folder, [r1], panel_dir=panel)
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    del next(iter(key["items"].values()))["ref"]
    (folder / "key.json").write_text(json.dumps(key), encoding="utf-8")
    with pytest.raises(DataError, match=r"key.json:\n  items\.i[0-9a-f]+\.ref: Field required"):
        import_ratings(folder, [r1])


def test_a_sheet_saved_by_excel_is_imported(runs, tmp_path):
    """Excel in a decimal-comma locale saves UTF-8 CSV with a byte-order mark, ';' between cells and CRLF."""
    folder = export_sheet(load_items(runs), load_rubric("default"), tmp_path / "sheet", seed=2)
    plain = _fill(folder / "sheet.csv", tmp_path / "plain.csv", lambda i, d: 4 if d == "naturalness" else 2)
    header, *rows = csv.reader(io.StringIO(plain.read_bytes().decode("utf-8"), newline=""))
    scores = {header.index(d) for d in DIMS}
    excel = io.StringIO()
    csv.writer(excel, delimiter=";", lineterminator="\r\n").writerows(
        [header] + [[f"{cell},0" if k in scores else cell for k, cell in enumerate(row)] for row in rows])  # 4 saved as "4,0"
    saved = tmp_path / "excel.csv"
    saved.write_bytes(("\ufeff" + excel.getvalue()).encode("utf-8"))
    assert import_ratings(folder, [saved]).means == import_ratings(folder, [plain]).means
    assert import_ratings(folder, [saved]).means["ckpt-a"]["naturalness"].mean == 4
