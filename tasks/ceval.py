"""C-Eval (Huang et al., NeurIPS 2023): the ``val`` split scored, ``dev`` for shots.

The default prompt is lm-evaluation-harness's ``ceval-valid``; ``-T prompt=official``
selects the C-Eval authors' own template (``…考试的单项选择题…``, ``答案：A``).
"""

from __future__ import annotations

from evalsuite.errors import DataError
from evalsuite.registry import register_task
from evalsuite.tasks.multiple_choice import CSVLayout, MCBenchmark, MCRow, MultipleChoiceTask, PromptFormat
from evalsuite.tasks.subjects import load_subjects

CEVAL = MCBenchmark(
    name="ceval",
    version="1",
    data_folder="ceval",
    files={split: f"{split}/{{subject}}_{split}.csv" for split in ("dev", "val", "test")},
    layout=CSVLayout(header=True, question="question", options=["A", "B", "C", "D"], answer="answer"),
    # The test split's answers are hidden by the benchmark's authors.
    eval_split="val",
    fewshot_split="dev",
    language="zh",
    subjects=load_subjects("ceval"),
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
    download_hint=(
        "Get the official ceval-exam zip (https://huggingface.co/datasets/ceval/ceval-exam), unpacked so that "
        "<dir>/ceval/val/accountant_val.csv exists, and pass --data-dir <dir>; or leave --data-dir and "
        "EVALSUITE_DATA_DIR unset to read ceval/ceval-exam from the Hugging Face Hub."
    ),
)


@register_task
class CEvalTask(MultipleChoiceTask):
    name = "ceval"
    version = CEVAL.version
    description = "C-Eval, 52 subjects, val split (lm-eval's ceval-valid prompts; -T prompt=official for the authors')"
    spec = CEVAL

    def load_hub_rows(self, subject: str, split: str) -> list[MCRow]:
        if split == "test":
            raise DataError("C-Eval's test split has no answers; it cannot be scored")
        import datasets

        ds = datasets.load_dataset("ceval/ceval-exam", subject, split=split)
        return [
            MCRow(index=i, question=r["question"], options=[r[c] for c in "ABCD"], answer=r["answer"].strip())
            for i, r in enumerate(ds)
        ]
