"""Multiple-choice benchmarks stored as one CSV file per subject and split.

MMLU, C-Eval and user-defined benchmarks (a YAML file) are all described by a
:class:`MCBenchmark` spec; :class:`MultipleChoiceTask` turns a spec into prompts
that are character-for-character lm-evaluation-harness's ``multiple_choice``
prompts (description, first-n few-shot exemplars, target delimiter), and scores
the answers the way lm-eval does (argmax of log-likelihoods; group scores
weighted by size, with pooled standard errors).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import Field, field_validator

from evalsuite.config import PlainName, StrictModel, contained, path_template, shorten, template_field
from evalsuite.data import DataRoots
from evalsuite.scores import AccuracyScores
from evalsuite.errors import ConfigError, DataError
from evalsuite.provenance import sha256_text
from evalsuite.task import MultipleChoiceRequest, MultipleChoiceResult, Task

LETTERS = "ABCDEFGHIJ"
DescriptionText = template_field("subject_name")
QuestionTemplate = template_field("question", "options")
OptionFormat = template_field("letter", "text")
FilePattern = path_template("subject", "split")


class SubjectInfo(StrictModel):
    name: str = Field(description="Display name, substituted for {subject_name} in the description line.")
    category: str = Field("all", description="Category the subject is aggregated under.")


class CSVLayout(StrictModel):
    """Where the fields are in each row: column names when the file has a header, else 0-based positions."""

    header: bool = Field(description="Whether the first line of each file is a header row.")
    question: str | int = Field(description="Question column.")
    options: list[str | int] = Field(description="Option columns, in option order (A, B, ...).")
    answer: str | int = Field(description="Column holding the answer letter.")


class PromptFormat(StrictModel):
    description: DescriptionText = Field(description="First line(s) of every prompt; {subject_name} is replaced.")
    template: QuestionTemplate = Field(description="One question: {question} (stripped) and {options} (one line per option).")
    option_format: OptionFormat = Field("{letter}. {text}", description="How one option line is written.")
    answer_delimiter: str = Field(" ", description="Between the prompt and the answer letter (lm-eval's target_delimiter).")
    fewshot_delimiter: str = Field("\n\n", description="After each few-shot exemplar.")


class MCBenchmark(StrictModel):
    """Everything that defines a CSV multiple-choice benchmark."""

    name: str
    version: str
    data_folder: str = Field(description="Folder holding the split folders: below the data root's benchmarks/, or absolute.")
    files: dict[str, FilePattern] = Field(description="split -> file pattern inside the data folder, with {subject} and {split}.")
    layout: CSVLayout
    eval_split: str
    fewshot_split: str | None
    num_options: int = Field(4, ge=2, le=len(LETTERS))
    language: str = "en"
    subjects: dict[PlainName, SubjectInfo]
    prompts: dict[str, PromptFormat] = Field(description="Named prompt variants; the first is the default.")
    download_hint: str = ""
    hub_dataset: str | None = Field(None, description="Hub dataset read when there is no local data (see load_hub_rows).")
    hub_row: Callable[[dict], tuple[str, list[str], str]] | None = Field(
        None, exclude=True, description="A Hub row as (question, options, answer letter)."
    )
    hub_splits: dict[str, str] = Field(default_factory=dict, description="Our split name -> the Hub dataset's.")
    unscored_splits: dict[str, str] = Field(default_factory=dict, description="Splits without answers -> why.")

    @field_validator("prompts")
    @classmethod
    def _at_least_one_prompt(cls, value: dict[str, PromptFormat]) -> dict[str, PromptFormat]:
        if not value:
            raise ValueError("at least one prompt format is required")
        return value


class MCRow(StrictModel):
    index: int
    question: str
    options: list[str]
    answer: str


class MCParams(StrictModel):
    shots: int = Field(0, ge=0, description="Number of few-shot exemplars, taken in file order from the few-shot split.")
    subjects: list[str] | None = Field(None, description="Restrict the run to these subjects (comma-separated on the command line).")
    prompt: str | None = Field(None, description="Named prompt variant; default: the benchmark's first (lm-eval's).")
    limit: int | None = Field(None, ge=1, description="Score only the first N questions of each subject (for smoke runs).")

    @field_validator("subjects", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def read_csv_rows(path: Path, layout: CSVLayout, num_options: int) -> list[MCRow]:
    """Parse one subject file; every malformed row is an error naming file, row and field."""
    letters = LETTERS[:num_options]
    if len(layout.options) != num_options:
        raise ConfigError(f"layout lists {len(layout.options)} option columns but num_options is {num_options}")
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # -sig: a BOM is not part of the first question
    except OSError as exc:
        raise DataError(f"{path}: cannot open: {exc.strerror}") from None
    with handle:
        try:
            reader = csv.reader(handle)
            lines = list(reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable UTF-8 CSV file: {exc}") from None
    header: list[str] | None = None
    if layout.header:
        if not lines:
            raise DataError(f"{path}: empty file, expected a header row")
        header, lines = lines[0], lines[1:]

    def column(field: str, spec: str | int) -> int:
        if isinstance(spec, int):
            return spec
        if header is None:
            raise ConfigError(f"{path}: column {spec!r} named for field {field!r}, but the layout says the files have no header")
        if spec not in header:
            raise DataError(f"{path}: header has no column {spec!r} (field {field!r}); header is {shorten(repr(header))}")
        return header.index(spec)

    q_col = column("question", layout.question)
    opt_cols = [column(f"options[{i}]", spec) for i, spec in enumerate(layout.options)]
    ans_col = column("answer", layout.answer)
    width = max([q_col, ans_col, *opt_cols]) + 1
    rows = []
    first_line = 2 if layout.header else 1
    for index, fields in enumerate(lines):
        where = f"{path}: row {index} (record starting near line {first_line + index})"
        if len(fields) < width:
            raise DataError(f"{where}: expected at least {width} fields, got {len(fields)}: {shorten(repr(fields))}")
        answer = fields[ans_col].strip()
        if answer not in letters:
            raise DataError(f"{where}: field 'answer' must be one of {', '.join(letters)}, got {shorten(repr(answer))}")
        question = fields[q_col]
        if not question.strip():
            raise DataError(f"{where}: field 'question' is empty")
        rows.append(MCRow(index=index, question=question, options=[fields[c] for c in opt_cols], answer=answer))
    return rows


class MultipleChoiceTask(Task):
    """A CSV multiple-choice benchmark; subclasses set ``spec`` (and may override ``load_hub_rows``)."""

    spec: ClassVar[MCBenchmark]
    Params = MCParams
    output_type = "multiple_choice"

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        spec = self.spec
        subjects = self.params.subjects or sorted(spec.subjects)
        unknown = [s for s in subjects if s not in spec.subjects]
        if unknown:
            raise ConfigError(
                f"unknown subject(s) for {spec.name}: {', '.join(unknown)}; known subjects: {', '.join(sorted(spec.subjects))}"
            )
        self.subjects = subjects
        prompt_name = self.params.prompt or next(iter(spec.prompts))
        if prompt_name not in spec.prompts:
            raise ConfigError(f"unknown prompt {prompt_name!r} for {spec.name}; choose one of {', '.join(spec.prompts)}")
        self.prompt_name = prompt_name
        self.prompt = spec.prompts[prompt_name]
        if self.params.shots and not spec.fewshot_split:
            raise ConfigError(f"{spec.name} has no few-shot split, so shots must be 0 (got {self.params.shots})")
        self.data_folder = self._locate()
        self._rows: dict[tuple[str, str], list[MCRow]] = {}

    # -- data -----------------------------------------------------------------

    def _locate(self) -> Path | None:
        folder = Path(self.spec.data_folder)
        if not folder.is_absolute():
            root = self.data.benchmarks
            if root is None:
                return None
            folder = root / folder
        if not folder.is_dir():
            raise DataError(
                f"data folder for {self.spec.name} not found: {folder}. {self.spec.download_hint}".strip()
            )
        return folder

    def rows(self, subject: str, split: str) -> list[MCRow]:
        key = (subject, split)
        if key not in self._rows:
            if self.data_folder is None:
                self._rows[key] = self.load_hub_rows(subject, split)
            else:
                pattern = self.spec.files.get(split)
                if pattern is None:
                    raise ConfigError(f"{self.spec.name}: no file pattern for split {split!r}")
                path = contained(self.data_folder, pattern.format(subject=subject, split=split), f"{self.spec.name}: file")
                if not path.is_file():
                    raise DataError(f"{self.spec.name}: missing file {path} for subject {subject!r}, split {split!r}")
                self._rows[key] = read_csv_rows(path, self.spec.layout, self.spec.num_options)
        return self._rows[key]

    def load_hub_rows(self, subject: str, split: str) -> list[MCRow]:
        spec = self.spec
        if spec.hub_dataset is None or spec.hub_row is None:
            raise DataError(
                f"no local data for {spec.name}: pass --data-dir (the data root holding benchmarks/) or set "
                f"EVALSUITE_DATA_DIR. {spec.download_hint}".strip()
            )
        if split in spec.unscored_splits:
            raise DataError(f"{spec.name}: {spec.unscored_splits[split]}")
        rows = load_hub_split(spec.hub_dataset, subject, spec.hub_splits.get(split, split))
        return [
            MCRow(index=i, **dict(zip(("question", "options", "answer"), spec.hub_row(row)))) for i, row in enumerate(rows)
        ]

    @classmethod
    def for_benchmark(cls, spec: MCBenchmark, description: str) -> type["MultipleChoiceTask"]:
        """The task class of ``spec`` (a built-in benchmark or a custom task file)."""
        attributes = {"name": spec.name, "version": spec.version, "description": description, "spec": spec}
        return type(f"{spec.name.replace('-', '_').title()}Task", (cls,), attributes)

    # -- prompts --------------------------------------------------------------

    def format_question(self, row: MCRow) -> str:
        options = "\n".join(
            self.prompt.option_format.format(letter=LETTERS[i], text=text) for i, text in enumerate(row.options)
        )
        return self.prompt.template.format(question=row.question.strip(), options=options)

    def prefix(self, subject: str) -> str:
        """Description plus the first ``shots`` exemplars of the few-shot split: lm-eval's ``first_n`` sampler."""
        description = self.prompt.description.format(subject_name=self.spec.subjects[subject].name)
        shots = self.params.shots
        if not shots:
            return description
        exemplars = self.rows(subject, self.spec.fewshot_split)
        if len(exemplars) < shots:
            raise ConfigError(
                f"{self.spec.name}/{subject}: asked for {shots} shots but the {self.spec.fewshot_split!r} split has {len(exemplars)} rows"
            )
        pieces = [self.format_question(row) + self.prompt.answer_delimiter + row.answer for row in exemplars[:shots]]
        delimiter = self.prompt.fewshot_delimiter
        return description + delimiter.join(pieces) + delimiter

    def resolved_params(self) -> dict[str, Any]:
        resolved = super().resolved_params()
        resolved.update(subjects=self.subjects, prompt=self.prompt_name)
        return resolved

    def requests(self) -> list[MultipleChoiceRequest]:
        letters = LETTERS[: self.spec.num_options]
        continuations = [self.prompt.answer_delimiter + letter for letter in letters]
        requests = []
        for subject in self.subjects:
            prefix = self.prefix(subject)
            rows = self.rows(subject, self.spec.eval_split)
            if self.params.limit:
                rows = rows[: self.params.limit]
            for row in rows:
                requests.append(
                    MultipleChoiceRequest(
                        key=f"{subject}/{row.index}",
                        group=subject,
                        prefix=prefix,
                        text=self.format_question(row),
                        continuations=continuations,
                    )
                )
        return requests

    # -- scoring --------------------------------------------------------------

    def aggregate(self, requests: list[MultipleChoiceRequest], results: list[MultipleChoiceResult]) -> tuple[dict, list[dict]]:
        samples = []
        for request, result in zip(requests, results, strict=True):
            subject, index = request.key.rsplit("/", 1)
            row = self.rows(subject, self.spec.eval_split)[int(index)]
            lls = result.loglikelihoods
            predicted = max(range(len(lls)), key=lambda i: (lls[i], -i))  # first maximum, like np.argmax
            samples.append(
                {
                    "subject": subject,
                    "index": int(index),
                    "loglikelihoods": lls,
                    "prediction": LETTERS[predicted],
                    "target": row.answer,
                    "correct": LETTERS[predicted] == row.answer,
                    "prompt_sha256": sha256_text(request.context),
                    "prompt_tokens": result.prompt_tokens,
                    "path": result.path,
                    **({"truncated_tokens": result.truncated_tokens} if result.truncated_tokens else {}),
                }
            )
        return aggregate_accuracy(samples, {s: self.spec.subjects[s].category for s in self.subjects}), samples

    def run_metadata(self) -> dict[str, Any]:
        return {
            "data_source": str(self.data_folder) if self.data_folder else "hub",
            "eval_split": self.spec.eval_split,
            "fewshot": {
                "split": self.spec.fewshot_split,
                "sampler": "first_n",
                "shots": self.params.shots,
            },
            "prompt": self.prompt.model_dump(),
            "language": self.spec.language,
        }


def _mean_stderr(correct: list[bool]) -> float:
    """Standard error of a mean of 0/1 values with the n-1 sample variance (lm-eval's ``mean_stderr``)."""
    n = len(correct)
    if n < 2:
        return float("nan")
    mean = sum(correct) / n
    variance = sum((c - mean) ** 2 for c in correct) / (n - 1)
    return math.sqrt(variance / n)


def _pooled_stderr(parts: list[dict]) -> float:
    """lm-eval's ``pooled_sample_stderr`` for a size-weighted group of subtasks."""
    sizes = [p["n"] for p in parts]
    if sum(sizes) - len(sizes) <= 0 or any(math.isnan(p["stderr"]) for p in parts):
        return float("nan")
    pooled = sum((p["n"] - 1) * p["stderr"] ** 2 * p["n"] for p in parts) / (sum(sizes) - len(sizes))
    return math.sqrt(pooled / sum(sizes))


def _group(parts: list[dict]) -> dict:
    n = sum(p["n"] for p in parts)
    return {
        "acc": sum(p["acc"] * p["n"] for p in parts) / n,
        "stderr": _pooled_stderr(parts),
        "n": n,
        "subjects": len(parts),
    }


def aggregate_accuracy(samples: list[dict], category_of: dict[str, str]) -> AccuracyScores:
    """Accuracy per subject, per category and overall (question-weighted, as lm-eval's group
    score), plus the unweighted mean over subjects, labelled as such."""
    by_subject: dict[str, list[bool]] = {}
    for sample in samples:
        by_subject.setdefault(sample["subject"], []).append(bool(sample["correct"]))
    subjects = {
        name: {"acc": sum(c) / len(c), "stderr": _mean_stderr(c), "n": len(c), "category": category_of[name]}
        for name, c in by_subject.items()
    }
    categories: dict[str, list[dict]] = {}
    for entry in subjects.values():
        categories.setdefault(entry["category"], []).append(entry)
    overall = _group(list(subjects.values())) if subjects else {"acc": float("nan"), "stderr": float("nan"), "n": 0, "subjects": 0}
    accs = [s["acc"] for s in subjects.values()]
    return AccuracyScores.model_validate({
        "overall": overall,
        "overall_subject_mean": {
            "acc": sum(accs) / len(accs) if accs else float("nan"),
            "note": "unweighted mean over subjects; 'overall' is question-weighted (lm-eval's group score)",
        },
        "categories": {name: _group(parts) for name, parts in sorted(categories.items())},
        "subjects": dict(sorted(subjects.items())),
    })



def load_hub_split(dataset: str, subject: str, split: str):
    """One subject's split of a Hub dataset (``datasets.load_dataset``), in the dataset's row order."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DataError(f"reading {dataset} from the Hub needs `datasets`: {exc}") from None
    return datasets.load_dataset(dataset, subject, split=split)
