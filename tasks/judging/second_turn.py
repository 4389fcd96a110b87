"""``generate-turn2``: MT-Bench's second turn, answered with the model's own first answer in the conversation.

FastChat's ``gen_model_answer`` asks each question's turns in one conversation:
the second question follows the model's own first answer. Here the first turns
come from a generation run (``evalsuite run --task generate -T prompts=mt_bench``);
each of its answers gets one second-turn answer to the chat
``[system], user: turn 1, assistant: that answer, user: turn 2``, sampled with the
first run's settings unless overridden (FastChat's per-category temperatures
are not applied). ``samples.jsonl`` holds both turns of every conversation;
``judge-mt-bench`` given this run grades both turns. Request keys are
``<prompt id>/<first-turn sample>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from evalsuite.config import StrictModel
from evalsuite.data import DataRoots
from evalsuite.errors import DataError
from evalsuite.jsonl import iter_jsonl, read_jsonl
from evalsuite.registry import register_task
from evalsuite.results import RunResult, load_run
from evalsuite.scores import DiversityScores
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task
from evalsuite.tasks.judging.items import Item, load_items, run_labels

SECOND_TURN_TASK = "generate-turn2"
_OVERRIDABLE = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", "seed")


class SecondTurnParams(StrictModel):
    first_turn: str = Field(description="The generation run of the first turns (made with -T prompts=mt_bench).")
    temperature: float | None = Field(None, ge=0.0, description="Default: the first run's.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Default: the first run's.")
    top_k: int | None = Field(None, ge=0, description="Default: the first run's.")
    repetition_penalty: float | None = Field(None, gt=0.0, description="Default: the first run's.")
    max_new_tokens: int | None = Field(None, ge=1, description="Default: the first run's.")
    seed: int | None = Field(None, description="Default: the first run's.")
    tokenizer: str = Field("auto", description="Tokenizer of the n-gram diversity metrics.")
    n_boot: int = Field(200, ge=1, description="Bootstrap resamples for the metrics' confidence intervals.")


def questions(data: DataRoots) -> dict[str, dict[str, Any]]:
    """MT-Bench's questions by id, from the data root's ``judging/mt_bench_questions.jsonl``."""
    path = data.require("judging", "MT-Bench (the questions)") / "mt_bench_questions.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found; the MT-Bench files live in the data root's judging/ folder")
    return {str(q["question_id"]): q for q in read_jsonl(path)}


def first_turn_run(folder: str | Path) -> RunResult:
    """The record of a first-turn generation run; an error naming the folder when it is not one."""
    record = load_run(folder)
    if record.task.name != "generate":
        raise DataError(f"{Path(folder) / 'results.json'}: field 'task.name': expected 'generate' (the first turns), "
                        f"got {record.task.name!r}")
    if not record.task.params_resolved.get("chat_template", True):
        raise DataError(f"{folder}: generated with chat_template=false; a second turn needs the chat conversation")
    return record


@register_task
class SecondTurnTask(Task):
    name = SECOND_TURN_TASK
    version = "1"
    description = "MT-Bench second turns, asked after the model's own first answers (one per first-turn sample)"
    Params = SecondTurnParams
    output_type = "generation"
    result_type = GenerationResult

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        self.first = first_turn_run(self.params.first_turn)
        self.questions = questions(self.data)
        path = Path(self.params.first_turn) / "samples.jsonl"
        self.turns = load_items([self.params.first_turn], samples_per_prompt=10**9)  # every first-turn answer
        for item in self.turns:
            question = self.questions.get(item.prompt_id)
            if question is None or len(question["turns"]) < 2:
                raise DataError(f"{path}: prompt id {item.prompt_id!r} is no two-turn MT-Bench question; "
                                "generate the first turns with -T prompts=mt_bench")

    def sampling(self) -> SamplingConfig:
        recorded = self.first.task.params_resolved
        values = {name: recorded.get(name, SamplingConfig.model_fields[name].default) for name in SamplingConfig.model_fields}
        values.update({name: getattr(self.params, name) for name in _OVERRIDABLE if getattr(self.params, name) is not None})
        return SamplingConfig(**{**values, "n": 1})

    def resolved_params(self) -> dict[str, Any]:
        resolved = self.params.model_dump(mode="json")
        resolved.update(first_turn=str(Path(self.params.first_turn).resolve()), **self.sampling().model_dump())
        resolved["system_prompt"] = self.first.task.params_resolved.get("system_prompt")
        return resolved

    def requests(self) -> list[GenerationRequest]:
        system = self.first.task.params_resolved.get("system_prompt")
        sampling, requests = self.sampling(), []
        for item in self.turns:
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": item.question}, {"role": "assistant", "content": item.answer},
                {"role": "user", "content": self.questions[item.prompt_id]["turns"][1]}]
            key = f"{item.prompt_id}/{item.sample_index}"
            requests.append(GenerationRequest(key=key, group=key, messages=messages, sampling=sampling))
        return requests

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[DiversityScores, list[dict]]:
        """Both turns of each conversation as one sample (``prompt``/``response`` the second); diversity of the second."""
        from evalsuite.metrics.diversity.suite import SuiteConfig, diversity_report, report_dict
        from evalsuite.metrics.resampling import Resampling

        by_key = {f"{i.prompt_id}/{i.sample_index}": i for i in self.turns}
        samples = []
        for request, result in zip(requests, results, strict=True):
            item = by_key[request.key]
            samples.append({"prompt_id": item.prompt_id, "sample_index": item.sample_index, "turn": 2,
                            "prompt": self.questions[item.prompt_id]["turns"][1], "response": result.responses[0],
                            "turn1_prompt": item.question, "turn1_response": item.answer,
                            "new_tokens": result.new_tokens[0], "finish_reason": result.finish_reasons[0]})
        seed = self.sampling().seed
        config = SuiteConfig(tokenizer=self.params.tokenizer, seed=seed,
                             resampling=Resampling(ci=True, n_boot=self.params.n_boot, seed=seed))
        report = report_dict(diversity_report([s["response"] for s in samples], [s["prompt_id"] for s in samples], config))
        return DiversityScores(**report, responses=len(samples), prompts=len({s["prompt_id"] for s in samples})), samples

    def run_metadata(self) -> dict[str, Any]:
        return {"first_turn_run": str(Path(self.params.first_turn).resolve()), "conversations": len(self.turns),
                "sampling": self.sampling().model_dump()}


def is_second_turn_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``generate-turn2`` run (by its record's task name; no record: a first-turn run)."""
    return (Path(folder) / "results.json").is_file() and load_run(folder).task.name == SECOND_TURN_TASK


def load_conversations(run_dirs: list[str], samples_per_prompt: int) -> tuple[list[Item], dict[str, Item]]:
    """First-turn items of every run, and for ``generate-turn2`` runs each item's second turn (by the item's ref)."""
    items, second = [], {}
    for run, label in zip(run_dirs, run_labels(run_dirs)):
        if not is_second_turn_run(run):
            items += [item.model_copy(update={"label": label}) for item in load_items([run], samples_per_prompt)]
            continue
        path = Path(run) / "samples.jsonl"
        for number, r in iter_jsonl(path):
            missing = [f for f in ("prompt_id", "sample_index", "prompt", "response", "turn1_prompt", "turn1_response")
                       if f not in r]
            if missing:
                raise DataError(f"{path}: line {number}: missing field(s) {', '.join(missing)}")
            if r["sample_index"] < samples_per_prompt:
                first = Item(label=label, prompt_id=str(r["prompt_id"]), sample_index=r["sample_index"],
                             question=r["turn1_prompt"], answer=r["turn1_response"])
                items.append(first)
                second[first.ref] = first.model_copy(update={"question": r["prompt"], "answer": r["response"]})
    return items, second
