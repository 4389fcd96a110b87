"""Agreement with lm-evaluation-harness on the same tiny model and the same questions.

lm-eval reads the same official CSV rows (converted to JSON, every field kept a
string) through task YAMLs that reproduce its own default templates; the test
first checks those templates against the installed lm-eval's files. Then every
item must have the same prompt text, the same prediction, and log-likelihoods
equal within 1e-4.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from evalsuite.provenance import sha256_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parent / "lm_eval_tasks"
LIMIT = 12
CASES = {"mmlu": ["anatomy", "high_school_geography"], "ceval": ["accountant", "high_school_chinese"]}


def _lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


def _read_lm_eval_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_templates_match_installed_lm_eval():
    official = {
        "mmlu_local.yaml": _lm_eval_tasks_dir() / "mmlu" / "default" / "_default_template_yaml",
        "ceval_local.yaml": _lm_eval_tasks_dir() / "ceval" / "_default_ceval_yaml",
    }
    for ours, theirs in official.items():
        mine, reference = _read_lm_eval_yaml(TEMPLATES / ours), _read_lm_eval_yaml(theirs)
        for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "fewshot_split", "fewshot_config", "output_type"):
            assert mine[key] == reference[key], f"{ours}: {key} differs from lm-eval's {theirs.name}"


def _write_lm_eval_data(benchmark: str, subject: str, source: Path, dest: Path) -> dict[str, str]:
    files = {}
    for split in ("dev", "test" if benchmark == "mmlu" else "val"):
        with open(source / benchmark / split / f"{subject}_{split}.csv", encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        if benchmark == "mmlu":
            records = [
                {"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in rows
            ]
        else:
            header, body = rows[0], rows[1:]
            records = [dict(zip(header, r)) for r in body]
        path = dest / f"{benchmark}_{subject}_{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        files[split] = str(path)
    return files


def _write_task_yamls(source: Path, dest: Path) -> dict[str, tuple[str, str]]:
    (dest / "mmlu_local.yaml").write_text((TEMPLATES / "mmlu_local.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (dest / "ceval_local.yaml").write_text((TEMPLATES / "ceval_local.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    tasks = {}
    for benchmark, subjects in CASES.items():
        for subject in subjects:
            if benchmark == "mmlu":
                official = _read_lm_eval_yaml(_lm_eval_tasks_dir() / "mmlu" / "default" / f"mmlu_{subject}.yaml")
            else:
                official = _read_lm_eval_yaml(_lm_eval_tasks_dir() / "ceval" / f"ceval-valid_{subject}.yaml")
            name = f"local_{benchmark}_{subject}"
            config = {
                "include": f"{benchmark}_local.yaml",
                "task": name,
                "description": official["description"],
                "dataset_kwargs": {"data_files": _write_lm_eval_data(benchmark, subject, source, dest)},
            }
            (dest / f"{name}.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            tasks[name] = (benchmark, subject)
    return tasks


def _run_lm_eval(model_dir: Path, task_dir: Path, names: list[str], shots: int) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(model_dir), batch_size=8, device="cpu", dtype="float32")
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    out = simple_evaluate(model=lm, tasks=names, num_fewshot=shots, limit=LIMIT, task_manager=manager, log_samples=True)
    return out["samples"]


def _context_of(sample: dict) -> str:
    arguments = sample["arguments"]
    first = arguments[0] if isinstance(arguments, list) else next(iter(arguments.values()))
    return first[0] if isinstance(first, (list, tuple)) else first["arg_0"]


@pytest.mark.parametrize("shots", [0, 5])
def test_same_prompts_predictions_and_loglikelihoods(tiny_model, data_dir, tmp_path, shots):
    import evalsuite.tasks  # noqa: F401
    from evalsuite.backends import load_backend
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    benchmarks = data_dir / "benchmarks"
    tasks = _write_task_yamls(benchmarks, tmp_path)
    reference = _run_lm_eval(tiny_model, tmp_path, sorted(tasks), shots)

    backend = load_backend("hf", {"model": str(tiny_model), "batch_size": 8})
    ours: dict[tuple[str, str], dict[int, dict]] = {}
    with ResultStore(tmp_path / "store.sqlite") as store:
        for benchmark, subjects in CASES.items():
            task = get_task(benchmark)({"subjects": subjects, "shots": shots, "limit": LIMIT}, data_dir=benchmarks)
            evaluate(task, backend, store, out_dir=tmp_path / benchmark)
            for line in (tmp_path / benchmark / "samples.jsonl").read_text(encoding="utf-8").splitlines():
                sample = json.loads(line)
                ours.setdefault((benchmark, sample["subject"]), {})[sample["index"]] = sample

    compared = 0
    for name, (benchmark, subject) in tasks.items():
        theirs = reference[name]
        assert len(theirs) == LIMIT
        for sample in theirs:
            mine = ours[(benchmark, subject)][sample["doc_id"]]
            where = f"{benchmark}/{subject} item {sample['doc_id']} ({shots}-shot)"
            assert mine["prompt_sha256"] == sha256_text(_context_of(sample)), f"{where}: prompt text differs"
            lls = [float(resp[0]) for resp in sample["filtered_resps"]]
            assert mine["loglikelihoods"] == pytest.approx(lls, abs=1e-4), where
            predicted = "ABCD"[max(range(4), key=lambda i: (lls[i], -i))]
            assert mine["prediction"] == predicted, where
            assert mine["target"] == "ABCD"[int(sample["target"])], where
            compared += 1
    assert compared == LIMIT * sum(len(s) for s in CASES.values())
