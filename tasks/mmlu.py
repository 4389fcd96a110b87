"""MMLU (Hendrycks et al., ICLR 2021), scored exactly as lm-evaluation-harness's default ``mmlu``."""

from __future__ import annotations

from evalsuite.errors import DataError
from evalsuite.registry import register_task
from evalsuite.tasks.multiple_choice import CSVLayout, MCBenchmark, MCRow, MultipleChoiceTask, PromptFormat
from evalsuite.tasks.subjects import load_subjects

MMLU = MCBenchmark(
    name="mmlu",
    version="1",
    data_folder="mmlu",
    files={split: f"{split}/{{subject}}_{split}.csv" for split in ("dev", "val", "test")},
    # The official release has no header: question, A, B, C, D, answer.
    layout=CSVLayout(header=False, question=0, options=[1, 2, 3, 4], answer=5),
    eval_split="test",
    fewshot_split="dev",
    language="en",
    subjects=load_subjects("mmlu"),
    prompts={
        "lm-eval": PromptFormat(
            description="The following are multiple choice questions (with answers) about {subject_name}.\n\n",
            template="{question}\n{options}\nAnswer:",
        )
    },
    download_hint=(
        "Get the official data (https://people.eecs.berkeley.edu/~hendrycks/data.tar, unpacked so that "
        "<dir>/mmlu/test/anatomy_test.csv exists) and pass --data-dir <dir>, or leave --data-dir and "
        "EVALSUITE_DATA_DIR unset to read cais/mmlu from the Hugging Face Hub."
    ),
)


@register_task
class MMLUTask(MultipleChoiceTask):
    name = "mmlu"
    version = MMLU.version
    description = "MMLU, 57 subjects, log-likelihood multiple choice (lm-eval's default mmlu prompts)"
    spec = MMLU

    def load_hub_rows(self, subject: str, split: str) -> list[MCRow]:
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - datasets is a core dependency
            raise DataError(f"reading MMLU from the Hub needs `datasets`: {exc}") from None
        hub_split = {"val": "validation"}.get(split, split)
        ds = datasets.load_dataset("cais/mmlu", subject, split=hub_split)
        return [
            MCRow(index=i, question=r["question"], options=list(r["choices"]), answer="ABCD"[int(r["answer"])])
            for i, r in enumerate(ds)
        ]
