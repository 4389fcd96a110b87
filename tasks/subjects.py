"""The official MMLU and C-Eval releases: packaged subject lists and their shared layout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from evalsuite.errors import DataError
from evalsuite.tasks.multiple_choice import CSVLayout, MCBenchmark, PromptFormat, SubjectInfo

HERE = Path(__file__).resolve().parent


@cache
def load_subjects(benchmark: str) -> dict[str, SubjectInfo]:
    """Subject names and categories shipped with the package (as lm-eval defines them)."""
    data = yaml.safe_load((HERE / f"{benchmark}_subjects.yaml").read_text(encoding="utf-8"))
    return {name: SubjectInfo(**info) for name, info in data.items()}


def official_benchmark(
    name: str, *, layout: CSVLayout, eval_split: str, language: str, prompts: dict[str, PromptFormat],
    source: str, example: str, hub_dataset: str, version: str = "1",
) -> MCBenchmark:
    """The spec of an official release laid out as ``<benchmarks>/<name>/<split>/<subject>_<split>.csv``.

    Shots come from ``dev``; subjects from the packaged list; the download hint
    names ``source`` (what to get), ``example`` (a file that must then exist
    below ``<name>/``) and the Hub dataset read when there is no local data.
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
        download_hint=(
            f"Get the official {source}, unpacked so that <root>/benchmarks/{name}/{example} exists, and pass "
            f"--data-dir <root> (the data root holding benchmarks/); or leave --data-dir and EVALSUITE_DATA_DIR "
            f"unset to read {hub_dataset} from the Hugging Face Hub."
        ),
    )


def load_hub_split(dataset: str, subject: str, split: str):
    """One subject's split of a Hub dataset (``datasets.load_dataset``), in the dataset's row order."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DataError(f"reading {dataset} from the Hub needs `datasets`: {exc}") from None
    return datasets.load_dataset(dataset, subject, split=split)
