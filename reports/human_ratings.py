"""What human raters' filled-in sheets say: means per run, human-human and judge-human agreement.

Reads what ``evalsuite judge export-sheet`` wrote (``key.json``: the seed, the
rubric, and which run each opaque item id came from) and one filled-in
``sheet.csv`` per rater. Given a judge panel's run folder, its
``judgments.jsonl`` (one line per judge and item: ``judge``, ``item`` (the
answer's ``run/prompt_id/sample_index`` reference), ``status``, ``scores``)
gives judge-human agreement. Errors name the file, the line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from evalsuite.config import describe_validation_error
from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import NOT_UTF8_HINT, iter_jsonl
from evalsuite.metrics.bootstrap import mean_ci
from evalsuite.metrics.judging import cohen_kappa, fleiss_kappa, krippendorff_alpha, spearman
from evalsuite.metrics.resampling import Resampling
from evalsuite.results import Record, provenance, register_result_kind

DEFAULT_RESAMPLING = Resampling(ci=True)
Cell = tuple[str, str]  # (item id, dimension)


class SheetDimension(BaseModel):
    name: str


class SheetRubric(BaseModel):
    """The part of the rubric stored in ``key.json`` that reading ratings needs."""

    dimensions: list[SheetDimension]
    scale_min: int = 1
    scale_max: int = 5

    @property
    def dimension_names(self) -> list[str]:
        return [d.name for d in self.dimensions]


class SheetItem(BaseModel):
    label: str  # the run the answer came from
    prompt_id: str
    sample_index: int
    ref: str  # label/prompt_id/sample_index, as judge panels name items


class SheetKey(BaseModel):
    """``key.json`` of a rating sheet: kept from the raters, it unblinds their ratings."""

    seed: int
    rubric: SheetRubric
    items: dict[str, SheetItem]  # opaque item id -> where the answer came from


class DimensionMean(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n_items: int


class HumanAgreement(BaseModel):
    krippendorff_alpha_ordinal: float | None = None
    fleiss_kappa: float | None = None
    note: str | None = None


class JudgeHumanAgreement(BaseModel):
    n: int
    cohen_kappa_quadratic: float | None = None
    spearman: float | None = None
    note: str | None = None


class HumanRatingsResult(Record):
    """The record ``evalsuite judge import-ratings`` writes as ``results.json``."""

    kind: Literal["human_ratings"] = "human_ratings"
    sheet: str
    panel: str | None
    raters: list[str]
    items: int
    means: dict[str, dict[str, DimensionMean]]  # run -> dimension
    human_agreement: dict[str, HumanAgreement]  # dimension
    judge_agreement: dict[str, dict[str, JudgeHumanAgreement]]  # judge -> dimension
    resampling: dict[str, float | int | bool]  # ci, n_boot, confidence, seed of the means' intervals


register_result_kind("human_ratings", HumanRatingsResult)


def load_key(sheet_dir: str | Path) -> SheetKey:
    """The sheet's ``key.json``; a missing or malformed key is an error naming the file and field."""
    path = Path(sheet_dir, "key.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; pass the folder `evalsuite judge export-sheet` wrote") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as JSON ({exc})") from None
    try:
        return SheetKey.model_validate(data)
    except ValidationError as exc:
        raise DataError(describe_validation_error(exc, f"rating sheet key {path}")) from None


def _score(path: Path, number: int, dim: str, cell: str, rubric: SheetRubric) -> float:
    try:
        # A spreadsheet in a locale with a decimal comma saves 4.5 as "4,5".
        score = float(cell.replace(",", ".") if "." not in cell else cell)
    except ValueError:
        raise DataError(f"{path}: line {number}: field {dim!r}: {cell!r} is not a number") from None
    if not rubric.scale_min <= score <= rubric.scale_max:
        raise DataError(f"{path}: line {number}: field {dim!r}: {score:g} is outside {rubric.scale_min}..{rubric.scale_max}")
    return score


DELIMITERS = ",;\t"  # what spreadsheets save: Excel uses ";" where the decimal separator is a comma


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file as raters' spreadsheets save it: UTF-8 with or without a byte-order mark,
    ``,``, ``;`` or tab between cells (the one the header line uses most), any line ending."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); {NOT_UTF8_HINT}") from None
    header = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: not a readable CSV row ({exc}); re-save the sheet as CSV") from None


def read_ratings(path: str | Path, key: SheetKey) -> dict[str, dict[str, float]]:
    """item id -> dimension -> score from one rater's filled-in sheet (blank cells are missing ratings)."""
    path = Path(path)
    ratings: dict[str, dict[str, float]] = {}
    for number, row in _csv_rows(path):
        item_id = (row.get("item_id") or "").strip()
        if item_id not in key.items:
            raise DataError(f"{path}: line {number}: field 'item_id': unknown item {item_id!r} (not in key.json)")
        for dim in key.rubric.dimension_names:
            if dim not in row:
                raise DataError(f"{path}: missing column {dim!r}; the sheet's header must keep every dimension")
            cell = (row[dim] or "").strip()
            if cell:
                ratings.setdefault(item_id, {})[dim] = _score(path, number, dim, cell, key.rubric)
    return ratings


def read_panel_scores(panel_dir: str | Path, key: SheetKey) -> dict[str, dict[str, dict[str, float]]]:
    """judge -> item id -> dimension -> score from a panel's ``judgments.jsonl``, for the sheet's items."""
    path = Path(panel_dir, "judgments.jsonl")
    ref_to_id = {item.ref: item_id for item_id, item in key.items.items()}
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for number, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number}: a JSON {type(record).__name__}, not a judgment object")
        if record.get("status") != "ok":
            continue
        for field in ("judge", "item", "scores"):
            if field not in record:
                raise DataError(f"{path}: line {number}: field {field!r} is missing from a judgment with status ok")
        if record["item"] in ref_to_id:
            scores.setdefault(record["judge"], {})[ref_to_id[record["item"]]] = record["scores"]
    return scores


def _human_means(key: SheetKey, sheets: list[dict[str, dict[str, float]]]) -> dict[Cell, float]:
    """The raters' mean score of each (item, dimension) that at least one rater scored."""
    means = {}
    for item_id in sorted(key.items):
        for dim in key.rubric.dimension_names:
            values = [s[item_id][dim] for s in sheets if dim in s.get(item_id, {})]
            if values:
                means[(item_id, dim)] = float(np.mean(values))
    return means


def _run_means(key: SheetKey, human: dict[Cell, float], resampling: Resampling) -> dict[str, dict[str, DimensionMean]]:
    """Per run and dimension: the mean over items of the raters' mean, with a bootstrap interval over items."""
    out: dict[str, dict[str, DimensionMean]] = {}
    for label in sorted({item.label for item in key.items.values()}):
        ids = [i for i in sorted(key.items) if key.items[i].label == label]
        out[label] = {}
        for dim in key.rubric.dimension_names:
            values = np.array([human[(i, dim)] for i in ids if (i, dim) in human])
            ci = mean_ci(values, resampling) if resampling.ci and len(values) > 1 else None
            out[label][dim] = DimensionMean(mean=float(values.mean()) if len(values) else None, ci=ci, n_items=len(values))
    return out


def _human_agreement(key: SheetKey, sheets: list[dict[str, dict[str, float]]]) -> dict[str, HumanAgreement]:
    """Per dimension: Krippendorff's alpha (ordinal) over every rating, Fleiss' kappa over items all raters scored."""
    ids = sorted(key.items)
    out = {}
    for dim in key.rubric.dimension_names:
        entry = HumanAgreement()
        if len(sheets) >= 2:
            matrix = [[s.get(i, {}).get(dim) for i in ids] for s in sheets]
            try:
                entry.krippendorff_alpha_ordinal = float(krippendorff_alpha(matrix, level="ordinal").value)
            except (DataError, ValueError, ZeroDivisionError) as exc:
                entry.note = str(exc)
            complete = [[row[k] for row in matrix] for k in range(len(ids)) if all(row[k] is not None for row in matrix)]
            if complete:
                entry.fleiss_kappa = float(fleiss_kappa(complete).value)
        out[dim] = entry
    return out


def _judge_agreement(
    key: SheetKey, panel: dict[str, dict[str, dict[str, float]]], human: dict[Cell, float]
) -> dict[str, dict[str, JudgeHumanAgreement]]:
    """Per judge and dimension: quadratic-weighted Cohen's kappa (humans' mean rounded) and Spearman's rho."""
    ids = sorted(key.items)
    out: dict[str, dict[str, JudgeHumanAgreement]] = {}
    for judge, scores in panel.items():
        out[judge] = {}
        for dim in key.rubric.dimension_names:
            pairs = [(scores[i][dim], human[(i, dim)]) for i in ids if i in scores and (i, dim) in human]
            entry = JudgeHumanAgreement(n=len(pairs))
            if len(pairs) >= 2:
                judged, humans = [p[0] for p in pairs], [p[1] for p in pairs]
                try:
                    rounded = [int(round(h)) for h in humans]
                    entry.cohen_kappa_quadratic = float(cohen_kappa(judged, rounded, weights="quadratic").value)
                    entry.spearman = float(spearman(judged, humans).value)
                except (DataError, ValueError, ZeroDivisionError) as exc:
                    entry.note = str(exc)
            out[judge][dim] = entry
    return out


def import_ratings(
    sheet_dir: str | Path, rating_files: list[str | Path], panel_dir: str | Path | None = None,
    *, resampling: Resampling = DEFAULT_RESAMPLING,
) -> HumanRatingsResult:
    """Read one filled-in sheet per rater and summarize: means per run, human-human and judge-human agreement."""
    key = load_key(sheet_dir)
    if not rating_files:
        raise DataError("no rating files given")
    sheets = [read_ratings(p, key) for p in rating_files]
    human = _human_means(key, sheets)
    panel = read_panel_scores(panel_dir, key) if panel_dir is not None else {}
    return HumanRatingsResult(
        provenance=provenance(), sheet=str(sheet_dir), panel=None if panel_dir is None else str(panel_dir),
        raters=[str(p) for p in rating_files], items=len(key.items),
        means=_run_means(key, human, resampling), human_agreement=_human_agreement(key, sheets),
        judge_agreement=_judge_agreement(key, panel, human), resampling=dataclasses.asdict(resampling),
    )


def write_ratings(out: str | Path, result: HumanRatingsResult) -> Path:
    """Write ``OUT/results.json`` atomically and return its path."""
    path = Path(out, "results.json")
    atomic_write_text(path, result.model_dump_json(indent=2) + "\n")
    return path
