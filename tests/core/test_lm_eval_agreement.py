"""Agreement with lm-evaluation-harness on the same tiny model and the same questions.

lm-eval reads the same official CSV rows (converted to JSON, every field kept a
string) through task YAMLs that reproduce its own default templates; the test
first checks those templates against the installed lm-eval's files. Then every
item must have the same prompt text, the same prediction, and log-likelihoods
equal within 1e-4.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from evalsuite.provenance import sha256_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location(
    "local_tasks", Path(__file__).resolve().parents[1] / "lm_eval_tasks" / "local_tasks.py"
)
local_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_tasks)
LIMIT = 12
CASES = {"mmlu": ["anatomy", "high_school_geography"], "ceval": ["accountant", "high_school_chinese"]}


def test_templates_match_installed_lm_eval():
    official = {
        "mmlu_local.yaml": local_tasks.lm_eval_tasks_dir() / "mmlu" / "default" / "_default_template_yaml",
        "ceval_local.yaml": local_tasks.lm_eval_tasks_dir() / "ceval" / "_default_ceval_yaml",
    }
    for ours, theirs in official.items():
        mine, reference = local_tasks.read_yaml(local_tasks.TEMPLATES / ours), local_tasks.read_yaml(theirs)
        for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "fewshot_split", "fewshot_config", "output_type"):
            assert mine[key] == reference[key], f"{ours}: {key} differs from lm-eval's {theirs.name}"


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
    from evalsuite.backends import load_backend
    from evalsuite.data import DataRoots
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    benchmarks = data_dir / "benchmarks"
    tasks = local_tasks.write_tasks(CASES, benchmarks, tmp_path)
    reference = _run_lm_eval(tiny_model, tmp_path, sorted(tasks), shots)

    backend = load_backend("hf", {"model": str(tiny_model), "batch_size": 8})
    ours: dict[tuple[str, str], dict[int, dict]] = {}
    with ResultStore(tmp_path / "store.sqlite") as store:
        for benchmark, subjects in CASES.items():
            task = get_task(benchmark)({"subjects": subjects, "shots": shots, "limit": LIMIT}, data=DataRoots.from_root(data_dir))
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
