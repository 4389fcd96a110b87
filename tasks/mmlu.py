"""MMLU (Hendrycks et al., ICLR 2021), scored exactly as lm-evaluation-harness's default ``mmlu``."""

from __future__ import annotations

from evalsuite.registry import register_task
from evalsuite.tasks.multiple_choice import CSVLayout, MultipleChoiceTask, PromptFormat
from evalsuite.tasks.subjects import official_benchmark

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
    hub_row=lambda r: (r["question"], list(r["choices"]), "ABCD"[int(r["answer"])]),
    hub_splits={"val": "validation"},
)


MMLUTask = register_task(MultipleChoiceTask.for_benchmark(
    MMLU, "MMLU, 57 subjects, log-likelihood multiple choice (lm-eval's default mmlu prompts)"
))
