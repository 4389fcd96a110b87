"""Blind rating sheets for real human raters, and what their ratings say.

``export_sheet`` writes, for the answers of one or more generation runs:
``sheet.csv`` (one row per answer: an opaque item id, the question, the answer,
an empty column per rubric dimension and a comment column), ``form.html`` (the
same as a self-contained page that saves a filled-in CSV; every text escaped)
and ``key.json`` (which run each item id came from — keep it from the raters).
Items are shuffled with a recorded seed. ``import_ratings`` reads the filled-in
sheets back and reports human means per run and dimension, human–human
agreement, and, given a judge panel's run, judge–human agreement.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.results import atomic_write_text, read_jsonl
from evalsuite.tasks.judging.items import Item
from evalsuite.tasks.judging.rubric import Rubric


def _item_id(item: Item, salt: str) -> str:
    return "i" + hashlib.sha256(f"{salt}|{item.ref}".encode()).hexdigest()[:10]


def export_sheet(items: list[Item], rubric: Rubric, out: str | Path, seed: int = 0) -> Path:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    salt = f"{seed}|{rubric.fingerprint()}"
    rows = [(items[i], _item_id(items[i], salt)) for i in order]
    dims = rubric.dimension_names
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["item_id", "question", "answer", *dims, "comment"])
    for item, item_id in rows:
        writer.writerow([item_id, item.question, item.answer, *[""] * len(dims), ""])
    atomic_write_text(folder / "sheet.csv", buffer.getvalue())
    key = {
        "seed": seed, "rubric": rubric.model_dump(mode="json"),
        "items": {item_id: {"label": it.label, "prompt_id": it.prompt_id, "sample_index": it.sample_index,
                            "ref": it.ref} for it, item_id in rows},
    }
    atomic_write_text(folder / "key.json", json.dumps(key, ensure_ascii=False, indent=2))
    atomic_write_text(folder / "form.html", _form(rows, rubric))
    return folder


def _form(rows: list[tuple[Item, str]], rubric: Rubric) -> str:
    e = html.escape
    scale = range(rubric.scale_min, rubric.scale_max + 1)
    guide = "".join(
        f"<li><b>{e(d.name)}</b>: {e(d.description)}"
        + (" (" + "; ".join(f"{k} = {e(v)}" for k, v in sorted(d.anchors.items())) + ")" if d.anchors else "") + "</li>"
        for d in rubric.dimensions
    )
    cards = []
    for item, item_id in rows:
        selects = "".join(
            f"<label>{e(d)} <select name='{e(item_id)}|{e(d)}'><option value=''>-</option>"
            + "".join(f"<option>{v}</option>" for v in scale) + "</select></label> "
            for d in rubric.dimension_names
        )
        cards.append(
            f"<section data-item='{e(item_id)}'><h3>{e(item_id)}</h3><h4>Question</h4><pre>{e(item.question)}</pre>"
            f"<h4>Answer</h4><pre>{e(item.answer)}</pre><p>{selects}</p>"
            f"<label>comment <input name='{e(item_id)}|comment' size='60'></label></section>"
        )
    dims = json.dumps(rubric.dimension_names)
    # The script only reads the form and builds a CSV download; without JavaScript
    # the page still shows every item, and raters can fill in sheet.csv instead.
    script = (
        "<script>const dims=" + dims.replace("<", "\\u003c") + ";"
        "function q(s){s=String(s);return /[\",\\n]/.test(s)?'\"'+s.replace(/\"/g,'\"\"')+'\"':s}"
        "function save(){const rows=[['item_id',...dims,'comment']];"
        "document.querySelectorAll('section').forEach(sec=>{const id=sec.dataset.item;"
        "rows.push([id,...dims.map(d=>sec.querySelector(`[name=\"${id}|${d}\"]`).value),"
        "sec.querySelector(`[name=\"${id}|comment\"]`).value])});"
        "const blob=new Blob([rows.map(r=>r.map(q).join(',')).join('\\n')+'\\n'],{type:'text/csv'});"
        "const a=document.createElement('a');a.href=URL.createObjectURL(blob);a.download='ratings.csv';a.click()}</script>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Rating sheet</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}"
        "section{border-top:1px solid #ccc;margin-top:1em}</style></head><body>"
        f"<h1>Rating sheet</h1><p>Rate each answer from {rubric.scale_min} to {rubric.scale_max} on every dimension. "
        "You are not told which system wrote an answer.</p><ul>" + guide + "</ul>"
        + "".join(cards) + "<p><button type='button' onclick='save()'>Save ratings as CSV</button></p>"
        + script + "</body></html>\n"
    )


def read_ratings(path: str | Path, key: dict[str, Any], rubric: Rubric) -> dict[str, dict[str, float]]:
    """item id -> dimension -> score from one rater's filled-in sheet (blank cells are missing ratings)."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as a UTF-8 CSV file: {exc}") from None
    ratings: dict[str, dict[str, float]] = {}
    for number, row in enumerate(rows, start=2):
        item_id = (row.get("item_id") or "").strip()
        if item_id not in key["items"]:
            raise DataError(f"{path}: line {number}: field 'item_id': unknown item {item_id!r} (not in key.json)")
        for dim in rubric.dimension_names:
            if dim not in row:
                raise DataError(f"{path}: missing column {dim!r}; the sheet's header must keep every dimension")
            cell = (row[dim] or "").strip()
            if not cell:
                continue
            try:
                score = float(cell)
            except ValueError:
                raise DataError(f"{path}: line {number}: field {dim!r}: {cell!r} is not a number") from None
            if not rubric.scale_min <= score <= rubric.scale_max:
                raise DataError(
                    f"{path}: line {number}: field {dim!r}: {score:g} is outside {rubric.scale_min}..{rubric.scale_max}"
                )
            ratings.setdefault(item_id, {})[dim] = score
    return ratings


class HumanRatingsResult(BaseModel):
    schema_version: int = 1
    kind: str = "human_ratings"
    raters: list[str]
    items: int
    means: dict[str, dict[str, dict[str, Any]]]  # run -> dimension -> {mean, ci, n_items}
    human_agreement: dict[str, dict[str, Any]]  # dimension -> {krippendorff_alpha_ordinal, fleiss_kappa}
    judge_agreement: dict[str, dict[str, dict[str, Any]]]  # judge -> dimension -> {cohen_kappa_quadratic, spearman, n}


def import_ratings(sheet_dir: str | Path, rating_files: list[str | Path], panel_dir: str | Path | None = None,
                   n_boot: int = 1000, seed: int = 0) -> HumanRatingsResult:
    from evalsuite.metrics.judging.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, spearman
    from evalsuite.metrics.bootstrap import mean_ci

    key = json.loads(Path(sheet_dir, "key.json").read_text(encoding="utf-8"))
    rubric = Rubric.model_validate(key["rubric"])
    if not rating_files:
        raise DataError("no rating files given")
    raters = [str(p) for p in rating_files]
    sheets = [read_ratings(p, key, rubric) for p in rating_files]
    ids = sorted(key["items"])
    means: dict[str, dict[str, dict[str, Any]]] = {}
    human_mean: dict[tuple[str, str], float] = {}
    for item_id in ids:
        for dim in rubric.dimension_names:
            values = [s[item_id][dim] for s in sheets if dim in s.get(item_id, {})]
            if values:
                human_mean[(item_id, dim)] = float(np.mean(values))
    for label in sorted({v["label"] for v in key["items"].values()}):
        means[label] = {}
        for dim in rubric.dimension_names:
            values = np.array([human_mean[(i, dim)] for i in ids if key["items"][i]["label"] == label and (i, dim) in human_mean])
            means[label][dim] = {
                "mean": float(values.mean()) if len(values) else None,
                "ci": mean_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else None,
                "n_items": int(len(values)),
            }
    agreement: dict[str, dict[str, Any]] = {}
    for dim in rubric.dimension_names:
        matrix = [[s.get(i, {}).get(dim) for i in ids] for s in sheets]
        entry: dict[str, Any] = {"krippendorff_alpha_ordinal": None, "fleiss_kappa": None}
        if len(sheets) >= 2:
            try:
                entry["krippendorff_alpha_ordinal"] = float(krippendorff_alpha(matrix, level="ordinal").value)
            except (DataError, ValueError, ZeroDivisionError) as exc:
                entry["note"] = str(exc)
            complete = [[row[k] for row in matrix] for k in range(len(ids)) if all(row[k] is not None for row in matrix)]
            if complete:
                entry["fleiss_kappa"] = float(fleiss_kappa(complete).value)
        agreement[dim] = entry
    judges: dict[str, dict[str, dict[str, Any]]] = {}
    if panel_dir is not None:
        ref_to_id = {v["ref"]: k for k, v in key["items"].items()}
        for record in read_jsonl(Path(panel_dir, "judgments.jsonl")):
            if record.get("status") == "ok" and record["item"] in ref_to_id:
                judges.setdefault(record["judge"], {})[ref_to_id[record["item"]]] = record["scores"]
        judge_agreement: dict[str, dict[str, dict[str, Any]]] = {}
        for judge, scores in judges.items():
            judge_agreement[judge] = {}
            for dim in rubric.dimension_names:
                pairs = [(scores[i][dim], human_mean[(i, dim)]) for i in ids if i in scores and (i, dim) in human_mean]
                judge_scores = [p[0] for p in pairs]
                humans = [p[1] for p in pairs]
                entry = {"n": len(pairs), "cohen_kappa_quadratic": None, "spearman": None}
                if len(pairs) >= 2:
                    rounded = [int(round(h)) for h in humans]
                    try:
                        entry["cohen_kappa_quadratic"] = float(cohen_kappa(judge_scores, rounded, weights="quadratic").value)
                        entry["spearman"] = float(spearman(judge_scores, humans).value)
                    except (DataError, ValueError, ZeroDivisionError) as exc:
                        entry["note"] = str(exc)
                judge_agreement[judge][dim] = entry
        judges = judge_agreement
    return HumanRatingsResult(raters=raters, items=len(ids), means=means, human_agreement=agreement, judge_agreement=judges)
