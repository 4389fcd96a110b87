"""C-Eval (Huang et al., NeurIPS 2023): the ``val`` split scored, ``dev`` for shots.

The default prompt is lm-evaluation-harness's ``ceval-valid``; ``-T prompt=official``
selects the C-Eval authors' own template (``…考试的单项选择题…``, ``答案：A``).
"""

from __future__ import annotations

from evalsuite.registry import register_task
from evalsuite.tasks.multiple_choice import CSVLayout, MultipleChoiceTask, PromptFormat
from evalsuite.tasks.subjects import official_benchmark

CEVAL = official_benchmark(
    "ceval",
    layout=CSVLayout(header=True, question="question", options=["A", "B", "C", "D"], answer="answer"),
    # The test split's answers are hidden by the benchmark's authors.
    eval_split="val",
    language="zh",
    prompts={
        "lm-eval": PromptFormat(
            description="以下是中国关于{subject_name}的单项选择题，请选出其中的正确答案。\n\n",
            template="{question}\n{options}\n答案：",
        ),
        "official": PromptFormat(
            description="以下是中国关于{subject_name}考试的单项选择题，请选出其中的正确答案。\n\n",
            template="{question}\n{options}\n答案：",
            answer_delimiter="",
        ),
    },
    source="ceval-exam zip (https://huggingface.co/datasets/ceval/ceval-exam)",
    example="val/accountant_val.csv",
    hub_dataset="ceval/ceval-exam",
    hub_row=lambda r: (r["question"], [r[c] for c in "ABCD"], r["answer"].strip()),
    unscored_splits={"test": "C-Eval's test split has no answers; it cannot be scored"},
)


CEvalTask = register_task(MultipleChoiceTask.for_benchmark(
    CEVAL, "C-Eval, 52 subjects, val split (lm-eval's ceval-valid prompts; -T prompt=official for the authors')"
))
