"""Write lm-eval task YAMLs that read the official local MMLU / C-Eval CSVs.

Used by the agreement test and by benchmarks/bench_mmlu.py, so both run
lm-eval on exactly the rows evalsuite reads. Each task includes this folder's
template (a copy of lm-eval's own, checked by the test) and takes its
description line from the installed lm-eval's per-subject YAML.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parent
EVAL_SPLIT = {"mmlu": "test", "ceval": "val"}


def lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def official_subject_yaml(benchmark: str, subject: str) -> Path:
    if benchmark == "mmlu":
        return lm_eval_tasks_dir() / "mmlu" / "default" / f"mmlu_{subject}.yaml"
    return lm_eval_tasks_dir() / "ceval" / f"ceval-valid_{subject}.yaml"


def write_data(benchmark: str, subject: str, source: Path, dest: Path) -> dict[str, str]:
    """Convert one subject's CSVs to JSON lines in the Hub datasets' field layout, all fields strings."""
    files = {}
    for split in ("dev", EVAL_SPLIT[benchmark]):
        with open(source / benchmark / split / f"{subject}_{split}.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        if benchmark == "mmlu":
            records = [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in rows]
        else:
            header, body = rows[0], rows[1:]
            records = [dict(zip(header, r)) for r in body]
        path = dest / f"{benchmark}_{subject}_{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        files[split] = str(path)
    return files


def write_tasks(
    cases: dict[str, list[str]], source: Path, dest: Path, variant: str = ""
) -> dict[str, tuple[str, str]]:
    """Write task YAMLs for ``{benchmark: [subject, ...]}`` into ``dest``; return task name -> (benchmark, subject).

    ``variant`` picks the template: ``""`` (log-likelihood) or ``"_generative"`` (MMLU only, as in lm-eval).
    """
    dest.mkdir(parents=True, exist_ok=True)
    for template in ("mmlu_local.yaml", "ceval_local.yaml", "mmlu_generative_local.yaml"):
        (dest / template).write_text((TEMPLATES / template).read_text(encoding="utf-8"), encoding="utf-8")
    tasks = {}
    for benchmark, subjects in cases.items():
        for subject in subjects:
            name = f"local_{benchmark}{variant}_{subject}"
            config = {
                "include": f"{benchmark}{variant}_local.yaml",
                "task": name,
                "description": read_yaml(official_subject_yaml(benchmark, subject))["description"],
                "dataset_kwargs": {"data_files": write_data(benchmark, subject, source, dest)},
            }
            (dest / f"{name}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            tasks[name] = (benchmark, subject)
    return tasks
