"""MMLU (Hendrycks et al., ICLR 2021), scored exactly as lm-evaluation-harness's default ``mmlu``."""

from __future__ import annotations

from evalsuite.registry import register_task
from evalsuite.tasks.multiple_choice import CSVLayout, MCRow, MultipleChoiceTask, PromptFormat
from evalsuite.tasks.subjects import load_hub_split, official_benchmark

MMLU = official_benchmark(
    "mmlu",
    # The official release has no header: question, A, B, C, D, answer.
    layout=CSVLayout(header=False, question=0, options=[1, 2, 3, 4], answer=5),
    eval_split="test",
    language="en",
    prompts={
        "lm-eval": PromptFormat(
            description="The following are multiple choice questions (with answers) about {subject_name}.\n\n",
            template="{question}\n{options}\nAnswer:",
        )
    },
    source="data (https://people.eecs.berkeley.edu/~hendrycks/data.tar)",
    example="test/anatomy_test.csv",
    hub_dataset="cais/mmlu",
)


@register_task
class MMLUTask(MultipleChoiceTask):
    name = "mmlu"
    version = MMLU.version
    description = "MMLU, 57 subjects, log-likelihood multiple choice (lm-eval's default mmlu prompts)"
    spec = MMLU

    def load_hub_rows(self, subject: str, split: str) -> list[MCRow]:
        ds = load_hub_split(self.spec.hub_dataset, subject, {"val": "validation"}.get(split, split))
        return [
            MCRow(index=i, question=r["question"], options=list(r["choices"]), answer="ABCD"[int(r["answer"])])
            for i, r in enumerate(ds)
        ]
