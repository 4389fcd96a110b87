"""The answers a judge reads: items loaded from generation runs' ``samples.jsonl``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.jsonl import iter_jsonl


class Item(BaseModel):
    label: str  # which run (checkpoint) the answer comes from; kept out of the judge prompt
    prompt_id: str
    sample_index: int
    question: str
    answer: str

    @property
    def ref(self) -> str:
        return f"{self.label}/{self.prompt_id}/{self.sample_index}"


def run_labels(run_dirs: list[str | Path]) -> list[str]:
    """Readable, unique labels for runs: the folder name, or parent/name when names repeat."""
    paths = [Path(p).resolve() for p in run_dirs]
    names = [p.name for p in paths]
    labels = names if len(set(names)) == len(names) else [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(labels)) != len(labels):
        raise DataError(f"cannot tell the runs apart by folder name: {labels}; give them distinct folders")
    return labels


def load_items(run_dirs: list[str | Path], samples_per_prompt: int = 1) -> list[Item]:
    """Answers from generation runs (``samples.jsonl``), the first ``samples_per_prompt`` per prompt."""
    items = []
    for run, label in zip(map(Path, run_dirs), run_labels(run_dirs)):
        path = run / "samples.jsonl"
        if not path.is_file():
            raise DataError(f"{run}: no samples.jsonl; pass run directories written by `evalsuite run --task generate`")
        for number, record in iter_jsonl(path):
            missing = [f for f in ("prompt_id", "sample_index", "prompt", "response") if f not in record]
            if missing:
                raise DataError(f"{path}: line {number}: missing field(s) {', '.join(missing)}")
            if record["sample_index"] < samples_per_prompt:
                items.append(Item(label=label, prompt_id=str(record["prompt_id"]), sample_index=record["sample_index"],
                                  question=record["prompt"], answer=record["response"]))
    return items
