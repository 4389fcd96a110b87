"""``-T chat_template=true``: log-likelihood prompts rendered as lm-eval 0.4.13's ``--apply_chat_template``.

The conversation is checked against lm-eval's own message helpers, and the whole
path against ``lm_eval.simple_evaluate(apply_chat_template=True, fewshot_as_multiturn=...,
system_instruction=...)`` on the tiny model with a chat template: the same rendered
prompt text, the same predictions, log-likelihoods within 1e-4.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.provenance import sha256_text
from evalsuite.registry import get_task
from evalsuite.tasks.mc_variants import chat_messages, maybe_delimit

_spec = importlib.util.spec_from_file_location(
    "local_tasks", Path(__file__).resolve().parents[1] / "lm_eval_tasks" / "local_tasks.py"
)
local_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_tasks)

SYSTEM = "You are a careful examinee."
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"


@pytest.mark.parametrize("multiturn", [True, False])
@pytest.mark.parametrize("system", [None, SYSTEM])
def test_conversation_equals_lm_evals_messages(multiturn, system):
    from lm_eval.api.utils import Message, maybe_delimit as lm_eval_delimit, multiturn_to_singleturn

    description = "The following are multiple choice questions (with answers) about anatomy.\n\n"
    shots = [("Q1?\nA. a\nAnswer:", "B"), ("Q2?\nA. a\nAnswer:", "D")]
    question = "Q3?\nA. a\nAnswer:"
    system_prompt = maybe_delimit(system, description, "\n\n")
    assert system_prompt == lm_eval_delimit(system, description, "\n\n")
    # What lm-eval's fewshot_context / build_qa_turn build for a multiple-choice task.
    reference = [Message("system", system_prompt)]
    for q, a in shots:
        reference += [Message("user", q, " "), Message("assistant", a, "\n\n")]
    reference.append(Message("user", question, ""))
    expected = [m.to_dict() for m in reference] if multiturn else multiturn_to_singleturn(reference)
    ours = chat_messages(system_prompt, shots, question, answer_delimiter=" ", fewshot_delimiter="\n\n", multiturn=multiturn)
    assert ours == expected


@pytest.fixture(scope="module")
def chat_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a chat template (as tests/core/test_serve_openai.py adds one)."""
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("chat") / "model"
    shutil.copytree(tiny_model, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_loglikelihood_chat_needs_a_tokenizer_with_a_template(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="pass -T tokenizer="):
        get_task("mmlu")({"chat_template": True}, data=DataRoots(benchmarks=tmp_path))
    with pytest.raises(ConfigError, match="has no chat template"):
        get_task("mmlu")({"chat_template": True, "tokenizer": str(tiny_model)}, data=DataRoots(benchmarks=tmp_path))
    with pytest.raises(ConfigError, match="used only with -T chat_template=true"):
        get_task("mmlu")({"tokenizer": str(tiny_model)}, data=DataRoots(benchmarks=tmp_path))


def test_generate_mode_sends_the_turns_for_the_backend_to_render(tmp_path):
    root = tmp_path / "benchmarks" / "mmlu" / "test"
    root.mkdir(parents=True)
    (root / "anatomy_test.csv").write_text("Why?,w,x,y,z,C\n", encoding="utf-8")
    params = {"subjects": "anatomy", "mode": "generate", "chat_template": True, "system": SYSTEM}
    task = get_task("mmlu")(params, data=DataRoots(benchmarks=tmp_path / "benchmarks"))
    [request] = task.requests()
    description = "The following are multiple choice questions (with answers) about anatomy.\n\n"
    assert request.prompt is None
    assert request.messages == [
        {"role": "system", "content": f"{SYSTEM}\n\n{description}"},
        {"role": "user", "content": "Why?\nA. w\nB. x\nC. y\nD. z\nAnswer:"},
    ]
    resolved = task.resolved_params()
    assert (resolved["mode"], resolved["chat_template"], resolved["system"]) == ("generate", True, SYSTEM)
    assert "fewshot_as_multiturn" not in resolved and "chat_template_sha256" not in resolved


LIMIT = 10
CASES = {"mmlu": ["anatomy"], "ceval": ["accountant"]}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("shots", "multiturn"), [(0, True), (5, True), (5, False)])
def test_same_prompts_predictions_and_loglikelihoods_as_lm_eval(chat_model, data_dir, tmp_path, shots, multiturn):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from evalsuite.backends import load_backend
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    tasks = local_tasks.write_tasks(CASES, data_dir / "benchmarks", tmp_path)
    lm = HFLM(pretrained=str(chat_model), batch_size=8, device="cpu", dtype="float32")
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    reference = simple_evaluate(
        model=lm, tasks=sorted(tasks), num_fewshot=shots, limit=LIMIT, task_manager=manager, log_samples=True,
        apply_chat_template=True, fewshot_as_multiturn=multiturn, system_instruction=SYSTEM,
    )["samples"]

    backend = load_backend("hf", {"model": str(chat_model), "batch_size": 8})
    params = {"shots": shots, "limit": LIMIT, "chat_template": True, "fewshot_as_multiturn": multiturn, "system": SYSTEM,
              "tokenizer": str(chat_model)}
    ours: dict[tuple[str, int], dict] = {}
    with ResultStore(tmp_path / "store.sqlite") as store:
        for benchmark, subjects in CASES.items():
            task = get_task(benchmark)({**params, "subjects": subjects}, data=DataRoots.from_root(data_dir))
            assert task.resolved_params()["chat_template_sha256"] == sha256_text(TEMPLATE)
            evaluate(task, backend, store, out_dir=tmp_path / benchmark)
            for line in (tmp_path / benchmark / "samples.jsonl").read_text(encoding="utf-8").splitlines():
                sample = json.loads(line)
                ours[(sample["subject"], sample["index"])] = sample

    compared = 0
    for name, (benchmark, subject) in tasks.items():
        for sample in reference[name]:
            mine, where = ours[(subject, sample["doc_id"])], f"{benchmark}/{subject} item {sample['doc_id']}"
            context = sample["arguments"][0][0]
            assert context.startswith(f"<|system|>{SYSTEM}\n\n"), where
            assert mine["prompt_sha256"] == sha256_text(context), f"{where}: prompt text differs"
            lls = [float(resp[0]) for resp in sample["filtered_resps"]]
            assert mine["loglikelihoods"] == pytest.approx(lls, abs=1e-4), where
            assert mine["prediction"] == "ABCD"[max(range(4), key=lambda i: (lls[i], -i))], where
            compared += 1
    assert compared == LIMIT * len(CASES)
