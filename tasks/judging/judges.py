"""Judges are backends: a :class:`JudgeSpec` names an OpenAI-compatible endpoint and how to sample it.

:func:`load_judge_specs` reads judges from ``--judge URL,MODEL[,NAME[,SEED[,KEYENV]]]``
options and a ``--judges`` YAML file (the CLI and the demo share it). A judge
names the environment variable that holds its key (``api_key_env``); the key
goes only to https or loopback endpoints, and credentials in ``base_url`` are
recorded as ``***``.
:func:`run_judges` runs one judging task per judge through the one runner,
writing ``OUT/<judge name>/`` (results.json, samples.jsonl); resumption from
the store and failed-item handling come from :func:`evalsuite.runner.evaluate`.
Given the task's probability-scoring twin (``judge-rubric-probs``,
``judge-mt-bench-probs``), it also scores each judge's prompts from the judge's
log-likelihoods into ``OUT/<judge name>/probability/``; a judge whose endpoint
cannot give them (an ``openai`` judge needs the served model's ``tokenizer``) is
refused before any judge runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import Field, field_serializer

from evalsuite.config import StrictModel, load_yaml, validate
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.redact import redact_url
from evalsuite.results import RunResult
from evalsuite.store import ResultStore


class JudgeSpec(StrictModel):
    name: str = Field(description="How the judge is named in results (never shown to other judges).")
    base_url: str = Field(description="OpenAI-compatible endpoint root, e.g. http://127.0.0.1:8001/v1.")
    model: str = Field(description="Model name at the endpoint.")
    seed: int = Field(0, description="Sampling seed sent with each request.")
    temperature: float = Field(0.0, ge=0.0, description="0: deterministic judging, as published practice.")
    max_tokens: int = Field(512, ge=1)
    concurrency: int = Field(2, ge=1)
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)
    backoff: float = Field(1.0, ge=0)
    api_key_env: str | None = Field(
        None, description="Environment variable holding this judge's API key; unset: the openai backend's "
        "default ($OPENAI_API_KEY); empty: send no key.")
    tokenizer: str | None = Field(
        None, description="The served model's tokenizer (folder or Hub id): log-likelihoods through /completions "
        "for probability-weighted scores, and its chat template renders the scored prompts.")

    @field_serializer("base_url")
    def _without_credentials(self, url: str) -> str:
        return redact_url(url)

    def backend_options(self) -> dict[str, Any]:
        """Options of the ``openai`` backend that asks this judge (``base_url`` with its credentials)."""
        names = ["model", "base_url", "timeout", "max_retries", "backoff", "concurrency"]
        names += [name for name in ("api_key_env", "tokenizer") if getattr(self, name) is not None]
        return {name: getattr(self, name) for name in names}

    def task_params(self) -> dict[str, Any]:
        """The judging task's sampling parameters for this judge."""
        return {"judge_temperature": self.temperature, "judge_max_tokens": self.max_tokens, "judge_seed": self.seed}


def load_judge_specs(judge: list[str], judges_file: str | Path | None = None) -> list[JudgeSpec]:
    """Judges from ``URL,MODEL[,NAME[,SEED[,KEYENV[,TOKENIZER]]]]`` strings and/or a YAML file with a list ``judges:``;
    names unique."""
    specs = []
    if judges_file:
        data = load_yaml(judges_file)
        if not isinstance(data.get("judges"), list):
            raise ConfigError(f"{judges_file}: expected a list under `judges:`")
        specs += [validate(JudgeSpec, j, f"judge {i} in {judges_file}") for i, j in enumerate(data["judges"])]
    for i, text in enumerate(judge):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 2:
            raise ConfigError(f"--judge expects URL,MODEL[,NAME[,SEED[,KEYENV[,TOKENIZER]]]], got {redact_url(text)!r}")
        fields = {"base_url": parts[0], "model": parts[1], "name": parts[2] if len(parts) > 2 else f"judge{i + 1}"}
        if len(parts) > 3:
            fields["seed"] = parts[3]
        if len(parts) > 4:
            fields["api_key_env"] = parts[4]
        if len(parts) > 5 and parts[5]:
            fields["tokenizer"] = parts[5]
        specs.append(validate(JudgeSpec, fields, f"--judge {redact_url(parts[0])},{','.join(parts[1:])}"))
    if not specs:
        raise ConfigError("name at least one judge with --judge URL,MODEL or --judges FILE")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"judge names must be unique, got {names}")
    return specs


def run_judges(
    task_cls: type,
    params: dict[str, Any],
    judges: list[JudgeSpec],
    store: ResultStore,
    out: str | Path,
    data: DataRoots | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    probability_cls: type | None = None,
) -> dict[str, RunResult]:
    """Run ``task_cls(params + judge sampling)`` once per judge into ``out/<judge name>``; the records by judge.

    With ``probability_cls`` (the task's probability-scoring twin) each judge's
    prompts are also scored from its log-likelihoods into
    ``out/<judge name>/probability``; every judge's endpoint is checked first, and
    one that cannot give log-likelihoods stops everything with the reason.
    ``progress(judge, done, total)`` is called as verdicts arrive.
    """
    from evalsuite.backends import load_backend
    from evalsuite.runner import evaluate

    records, backends = {}, {}
    try:
        for spec in judges:
            backends[spec.name] = load_backend("openai", spec.backend_options())
            if probability_cls is not None:
                refuse_without_loglikelihoods(spec, backends[spec.name])
        for spec in judges:
            backend = backends[spec.name]
            report = (lambda done, total, name=spec.name: progress(name, done, total)) if progress else None
            task = task_cls({**params, **spec.task_params()}, data)
            records[spec.name] = evaluate(task, backend, store, out_dir=Path(out) / spec.name, progress=report,
                                          backend_config=spec.model_dump())
            if probability_cls is not None:
                scoring = probability_cls({**params, **spec.task_params(), "judge_tokenizer": spec.tokenizer}, data)
                evaluate(scoring, backend, store, out_dir=Path(out) / spec.name / PROBABILITY_DIR, progress=report,
                         backend_config=spec.model_dump())
    finally:
        for backend in backends.values():
            backend.close()
    return records


PROBABILITY_DIR = "probability"


def refuse_without_loglikelihoods(spec: JudgeSpec, backend) -> None:
    """A :class:`ConfigError` naming the judge when its backend cannot score log-likelihoods (fail closed)."""
    if not backend.capabilities.loglikelihoods:
        why = backend.capabilities.notes.get("loglikelihoods", "the backend has no log-likelihoods")
        raise ConfigError(
            f"judge {spec.name!r}: probability-weighted scores need the judge's log-likelihoods, which its endpoint "
            f"cannot give: {why}. Give the judge's tokenizer (`tokenizer:` in --judges, or the 6th field of --judge), "
            "or judge without probability scores"
        )
