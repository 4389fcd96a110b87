"""Judge-derived metrics in ``evalsuite compare``: a rubric panel's scores of two checkpoints, item by item.

When a rubric panel (``evalsuite judge panel``; the demo writes ``RUNS/_judging/panel``)
judged the answers of both sides' generation runs, ``compare`` adds one
comparison per rubric dimension and scoring: ``<panel>.<dimension>.parsed`` (the
scores the judges wrote) and ``<panel>.<dimension>.probability`` (the
probability-weighted scores, where the judges' prompts were also scored from
their log-likelihoods). A panel is found in ``_judging/`` beside either side
(its parent folder, or its grandparent for a single run directory), or given
with ``--judging``; it is used when it judged a run of each side, matched by the
run's path (or, for moved folders, by the panel's label of it: the folder name,
or ``<checkpoint>/<run>``).

An item is one answer (prompt id and sample index); the two sides' items are
paired by it. Every judge's score of an item counts once, so a side's value is
the mean over its items of the judges' mean score whenever every judge scored
every item (a judge whose verdict did not parse leaves that item with fewer
scores). The judges of one item are not independent of each other: the interval
and the p-value come from a bootstrap that resamples whole items, with all their
judges' scores, on both sides at once (:func:`evalsuite.metrics.clustered.paired_cluster_deltas`;
the signature says ``resample:cluster=item``).

Each comparison carries :func:`evalsuite.reports.judge_audit.gate_refusal` for its
dimension: when the panel's Krippendorff alpha on it is below ``min_judge_alpha``
(or undefined), a ``fail_on`` rule on that metric is refused, never evaluated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.clustered import bootstrap_p, paired_cluster_deltas
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.collect import JUDGING
from evalsuite.reports.judge_audit import GATE_ALPHA, gate_refusal
from evalsuite.reports.judge_runs import PanelResult, read_judge_runs
from evalsuite.reports.judge_scoring import PARSED, PROBABILITY, read_probability_runs
from evalsuite.results import load_result

SCORINGS = {"parsed": ("scores", PARSED), "probability": ("probability_scores", PROBABILITY)}


def find_panels(a_path: str | Path, b_path: str | Path, judging: str | Path | None = None) -> list[Path]:
    """Rubric panel folders: ``judging`` (a panel folder, or a folder of them), else ``_judging/*`` beside a side."""
    if judging is not None:
        folder = Path(judging)
        found = [folder] if (folder / "results.json").is_file() else sorted(p.parent for p in folder.glob("*/results.json"))
        if not found:
            raise DataError(f"--judging {folder}: no results.json here or in its subfolders; give a panel folder "
                            "written by `evalsuite judge panel --out`")
        panels = [p for p in found if isinstance(load_result(p), PanelResult)]
        if not panels:
            raise DataError(f"--judging {folder}: holds no rubric_panel record")
        return panels
    roots = []
    for side in (Path(a_path).resolve(), Path(b_path).resolve()):
        roots += [up / JUDGING for up in (side.parent, side.parent.parent) if (up / JUDGING).is_dir()]
    folders = sorted({p.parent for root in dict.fromkeys(roots) for p in root.glob("*/results.json")})
    return [p for p in folders if isinstance(load_result(p), PanelResult)]


def _match(folder: Path, by_path: dict[Path, str], labels: list[str]) -> str | None:
    """The panel's label of run ``folder``: by its resolved path, else by its folder name (or parent/name)."""
    resolved = folder.resolve()
    if resolved in by_path:
        return by_path[resolved]
    for name in (f"{resolved.parent.name}/{resolved.name}", resolved.name):
        if name in labels:
            return name
    return None


def _item_scores(samples: list[dict], label: str, dimension: str, field: str) -> dict[str, list[float]]:
    """``{item: [every judge's score]}`` of one run label on one dimension (missing scores left out)."""
    out: dict[str, list[float]] = {}
    for s in samples:
        value = (s.get(field) or {}).get(dimension) if s.get("label") == label else None
        if value is not None:
            out.setdefault(json.dumps([str(s["prompt_id"]), int(s["sample_index"])]), []).append(float(value))
    return out


def _pooled(items: dict[str, list[float]], keys: list[str]) -> float:
    return float(np.mean([v for k in keys for v in items[k]]))


def _panel_comparisons(folder: Path, record: PanelResult, pairs: list, n_boot: int, seed: int, threshold: float) -> list:
    from evalsuite.reports.compare import Comparison, _interval, _signature

    runs = read_judge_runs(folder, [j["name"] for j in record.judges], "judge-rubric")
    paths, labels = runs[0].params["runs"], runs[0].metadata["labels"]
    by_path = {Path(p).resolve(): label for p, label in zip(paths, labels)}
    samples = {"scores": [s for r in runs for s in r.samples if s.get("status") == "ok"],
               "probability_scores": [s for r in read_probability_runs(folder, runs, "judge-rubric-probs") for s in r.samples]}
    matched = [(a, b, _match(a.folder, by_path, labels), _match(b.folder, by_path, labels)) for a, b in pairs]
    matched = [m for m in matched if m[2] and m[3] and m[2] != m[3]]
    resampling = Resampling(ci=True, n_boot=n_boot, seed=seed)
    dims = [d["name"] for d in record.rubric["dimensions"]]
    out = []
    for a, b, label_a, label_b in matched:
        task = folder.name if len(matched) == 1 else f"{folder.name}/{a.label}"
        for dim in dims:
            refusal = gate_refusal(record, threshold, [dim])
            for scoring, (field, description) in SCORINGS.items():
                xa, xb = (_item_scores(samples[field], label, dim, field) for label in (label_a, label_b))
                shared = sorted(xa.keys() & xb.keys())
                if not shared:
                    continue
                delta, deltas = paired_cluster_deltas(xa, xb, resampling)
                test = "paired-cluster-bootstrap"
                out.append(Comparison(
                    task=task, metric=f"{dim}.{scoring}", a=_pooled(xa, shared), b=_pooled(xb, shared), delta=delta,
                    ci=_interval(deltas), p_value=bootstrap_p(deltas, n_boot), test=test, n_paired=len(shared),
                    only_in_a=len(xa.keys() - xb.keys()), only_in_b=len(xb.keys() - xa.keys()),
                    se=float(deltas.std(ddof=1)), signature=_signature(test, n_boot, "item"), gate_refusal=refusal,
                    details={"panel": str(folder), "labels": [label_a, label_b], "scoring": description,
                             "judges": [j["name"] for j in record.judges],
                             "scores_a": sum(map(len, (xa[k] for k in shared))),
                             "scores_b": sum(map(len, (xb[k] for k in shared))),
                             "krippendorff_alpha": record.agreement[dim].krippendorff_alpha_ordinal
                             if dim in record.agreement else None},
                ))
    return out


def judge_comparisons(a_path, b_path, pairs: list, n_boot: int, seed: int, judging: str | Path | None = None,
                      min_judge_alpha: float = GATE_ALPHA) -> list:
    """Every panel's per-dimension comparisons of the paired generation runs ``pairs`` ((a, b) ``RunData``)."""
    out = []
    for folder in find_panels(a_path, b_path, judging):
        out += _panel_comparisons(folder, load_result(folder), pairs, n_boot, seed, min_judge_alpha)
    return out
