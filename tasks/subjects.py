"""The official MMLU and C-Eval releases: packaged subject lists and their shared layout."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from evalsuite.config import load_yaml
from evalsuite.tasks.multiple_choice import CSVLayout, MCBenchmark, PromptFormat, SubjectInfo

HERE = Path(__file__).resolve().parent


@cache
def load_subjects(benchmark: str) -> dict[str, SubjectInfo]:
    """Subject names and categories shipped with the package (as lm-eval defines them)."""
    data = load_yaml(HERE / f"{benchmark}_subjects.yaml")
    return {name: SubjectInfo(**info) for name, info in data.items()}


def official_benchmark(
    name: str, *, layout: CSVLayout, eval_split: str, language: str, prompts: dict[str, PromptFormat],
    source: str, example: str, hub_dataset: str, version: str = "1", **hub: Any,
) -> MCBenchmark:
    """The spec of an official release laid out as ``<benchmarks>/<name>/<split>/<subject>_<split>.csv``.

    Shots come from ``dev``; subjects from the packaged list; the download hint
    names ``source`` (what to get), ``example`` (a file that must then exist
    below ``<name>/``) and the Hub dataset read when there is no local data;
    ``hub`` holds the Hub reading options (``hub_row``, ``hub_splits``, ``unscored_splits``).
    """
    return MCBenchmark(
        name=name,
        version=version,
        data_folder=name,
        files={split: f"{split}/{{subject}}_{split}.csv" for split in ("dev", "val", "test")},
        layout=layout,
        eval_split=eval_split,
        fewshot_split="dev",
        language=language,
        subjects=load_subjects(name),
        prompts=prompts,
        hub_dataset=hub_dataset,
        **hub,
        download_hint=(
            f"Get the official {source}, unpacked so that <root>/benchmarks/{name}/{example} exists, and pass "
            f"--data-dir <root> (the data root holding benchmarks/); or leave --data-dir and EVALSUITE_DATA_DIR "
            f"unset to read {hub_dataset} from the Hugging Face Hub."
        ),
    )
