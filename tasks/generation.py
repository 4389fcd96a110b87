"""Generation: sample N responses per prompt and score their diversity.

Prompt sets: the 805 AlpacaEval instructions and the 80 MT-Bench questions
(first turns) from ``$EVALSUITE_DATA_DIR/judging`` (AlpacaEval from the Hub when
not local), or a user's JSONL / JSON file. Every sample is stored (a killed run
resumes prompt by prompt); the scores are :func:`evalsuite.metrics.diversity.suite.diversity_report`
within prompts (across a prompt's N samples, averaged over prompts) and across
prompts (over all responses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from evalsuite.config import StrictModel
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.registry import register_task
from evalsuite.scores import DiversityScores
from evalsuite.jsonl import iter_records
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task

BUILTIN_PROMPT_SETS = {
    "alpaca_eval": ("alpaca_eval_instructions.json", "instruction", None),
    "mt_bench": ("mt_bench_questions.jsonl", "turns", "question_id"),
}


class GenerationParams(SamplingConfig):
    prompts: str = Field("alpaca_eval", description="alpaca_eval, mt_bench, or a path to a JSONL/JSON file of prompts.")
    text_field: str = Field("prompt", description="Field holding the prompt text in a user's file.")
    id_field: str | None = Field(None, description="Field holding a prompt id in a user's file (default: the row number).")
    limit: int | None = Field(None, ge=1, description="Use only the first N prompts.")
    chat_template: bool = Field(True, description="Format prompts with the model's chat template.")
    system_prompt: str | None = Field(None, description="Optional system message (chat template only).")
    tokenizer: str = Field("auto", description="Tokenizer of the n-gram diversity metrics.")
    n_boot: int = Field(200, ge=1, description="Bootstrap resamples for the metrics' confidence intervals.")

    @model_validator(mode="after")
    def _greedy_means_one(self) -> "GenerationParams":
        if self.temperature == 0 and self.n != 1:
            raise ValueError(f"temperature=0 is greedy decoding, which gives one response: set n=1 (got n={self.n})")
        return self


class Prompt(StrictModel):
    id: str
    text: str


def _prompts_from_file(path: Path, text_field: str, id_field: str | None) -> list[Prompt]:
    prompts = []
    for number, (where, record) in enumerate(iter_records(path)):
        where = f"{path}: {where}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object, got {type(record).__name__}")
        if text_field not in record:
            raise DataError(f"{where}: missing field {text_field!r} (fields: {', '.join(record)})")
        text = record[text_field]
        if isinstance(text, list):  # MT-Bench: the first turn
            text = text[0] if text else ""
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: field {text_field!r} must be a non-empty string, got {text!r}")
        prompt_id = str(record[id_field]) if id_field and id_field in record else str(number)
        prompts.append(Prompt(id=prompt_id, text=text))
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: prompt id {duplicate!r} appears more than once")
    return prompts


@register_task
class GenerationTask(Task):
    name = "generate"
    version = "1"
    description = "Sample N responses per prompt (AlpacaEval, MT-Bench or your file) and measure their diversity"
    Params = GenerationParams
    output_type = "generation"
    result_type = GenerationResult

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        self.source, self.prompts = self._load_prompts()
        if self.params.limit:
            self.prompts = self.prompts[: self.params.limit]

    def _load_prompts(self) -> tuple[str, list[Prompt]]:
        p = self.params
        if p.prompts in BUILTIN_PROMPT_SETS:
            filename, field, id_field = BUILTIN_PROMPT_SETS[p.prompts]
            if self.data.judging is not None:
                path = self.data.judging / filename
                if not path.is_file():
                    raise DataError(f"prompt set {p.prompts!r} not found at {path}; the data folder should hold judging/{filename}")
                return str(path), _prompts_from_file(path, field, id_field)
            if p.prompts == "alpaca_eval":
                import datasets

                rows = datasets.load_dataset("tatsu-lab/alpaca_eval", "alpaca_eval", split="eval")
                return "hub:tatsu-lab/alpaca_eval", [Prompt(id=str(i), text=r["instruction"]) for i, r in enumerate(rows)]
            raise DataError(f"prompt set {p.prompts!r} needs EVALSUITE_DATA_DIR (a folder holding judging/{filename})")
        path = Path(p.prompts)
        if not path.is_file():
            raise ConfigError(f"prompts: {p.prompts!r} is neither a built-in set ({', '.join(BUILTIN_PROMPT_SETS)}) nor a file")
        return str(path), _prompts_from_file(path, p.text_field, p.id_field)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(**{name: getattr(self.params, name) for name in SamplingConfig.model_fields})

    def requests(self) -> list[GenerationRequest]:
        sampling = self.sampling()
        requests = []
        for prompt in self.prompts:
            if self.params.chat_template:
                messages = ([{"role": "system", "content": self.params.system_prompt}] if self.params.system_prompt else [])
                messages.append({"role": "user", "content": prompt.text})
                requests.append(GenerationRequest(key=prompt.id, group=prompt.id, messages=messages, sampling=sampling))
            else:
                requests.append(GenerationRequest(key=prompt.id, group=prompt.id, prompt=prompt.text, sampling=sampling))
        return requests

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[DiversityScores, list[dict]]:
        """Diversity of the responses, within and across prompts; one sample record per response.

        Results pair with prompts by request key: a prompt whose generation failed is left out.
        """
        from evalsuite.metrics.diversity.suite import SuiteConfig, diversity_report, report_dict
        from evalsuite.metrics.resampling import Resampling

        prompts = {prompt.id: prompt for prompt in self.prompts}
        samples, texts, groups = [], [], []
        for request, result in zip(requests, results, strict=True):
            prompt = prompts[request.key]
            for index, (response, tokens, reason) in enumerate(
                zip(result.responses, result.new_tokens, result.finish_reasons, strict=True)
            ):
                samples.append(
                    {"prompt_id": prompt.id, "sample_index": index, "prompt": prompt.text, "response": response,
                     "new_tokens": tokens, "finish_reason": reason}
                )
                texts.append(response)
                groups.append(prompt.id)
        resampling = Resampling(ci=True, n_boot=self.params.n_boot, seed=self.params.seed)
        config = SuiteConfig(tokenizer=self.params.tokenizer, resampling=resampling, seed=self.params.seed)
        report = report_dict(diversity_report(texts, groups, config))
        return DiversityScores(**report, responses=len(texts), prompts=len(results)), samples

    def run_metadata(self) -> dict[str, Any]:
        return {"prompt_source": self.source, "prompts": len(self.prompts), "sampling": self.sampling().model_dump()}
