"""Blind rating sheets for real human raters: the judges that are people.

``export_sheet`` writes, for the answers of one or more generation runs:
``sheet.csv`` (one row per answer: an opaque item id, the question, the answer,
an empty column per rubric dimension and a comment column), ``form.html`` (the
same as a self-contained page that saves a filled-in CSV; every text escaped)
and ``key.json`` (the seed, the rubric, and which run each item id came from —
keep it from the raters). Items are shuffled with the recorded seed. Reading the
filled-in sheets back is analysis: :mod:`evalsuite.reports.human_ratings`.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from evalsuite.escape import html_text
from evalsuite.files import atomic_write_csv, atomic_write_text
from evalsuite.jsonl import to_json
from evalsuite.tasks.judging.items import Item
from evalsuite.tasks.judging.rubric import Rubric


def _item_id(item: Item, salt: str) -> str:
    """An opaque, stable id: the same item, seed and rubric always give the same id."""
    return "i" + hashlib.sha256(f"{salt}|{item.ref}".encode("utf-8", "surrogatepass")).hexdigest()[:10]


def export_sheet(items: list[Item], rubric: Rubric, out: str | Path, seed: int = 0) -> Path:
    """Write ``sheet.csv``, ``form.html`` and ``key.json`` for ``items`` into ``out`` and return the folder.

    The order is shuffled with ``seed``; item ids are opaque hashes, so raters
    see neither the run names nor the original order.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    salt = f"{seed}|{rubric.fingerprint()}"
    rows = [(items[i], _item_id(items[i], salt)) for i in order]
    dims = rubric.dimension_names
    # Cells starting like a formula get a leading ' (raters open the sheet in spreadsheets).
    atomic_write_csv(folder / "sheet.csv", [["item_id", "question", "answer", *dims, "comment"]]
                     + [[item_id, item.question, item.answer, *[""] * len(dims), ""] for item, item_id in rows])
    key = {
        "seed": seed, "rubric": rubric.model_dump(mode="json"),
        "items": {item_id: {"label": it.label, "prompt_id": it.prompt_id, "sample_index": it.sample_index,
                            "ref": it.ref} for it, item_id in rows},
    }
    atomic_write_text(folder / "key.json", to_json(key, indent=2))
    atomic_write_text(folder / "form.html", _form(rows, rubric))
    return folder


def _form(rows: list[tuple[Item, str]], rubric: Rubric) -> str:
    """The self-contained HTML form: every text escaped, a script that saves the ratings as CSV."""
    e = html_text
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
