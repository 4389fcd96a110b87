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
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import Field, field_validator

from evalsuite.config import PlainName, StrictModel, contained, path_template, shorten, template_field
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.provenance import sha256_text
from evalsuite.store import canonical_json
from evalsuite.task import GenerationRequest, GenerationResult, MultipleChoiceRequest, MultipleChoiceResult, SamplingConfig, Task
from evalsuite.tasks import mc_variants
from evalsuite.tasks.mc_accuracy import aggregate_accuracy

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
    mode: Literal["loglikelihood", "generate"] = Field(
        "loglikelihood", description="generate: answer generated greedily, letter extracted (lm-eval's mmlu_generative)."
    )
    chat_template: bool = Field(False, description="Render prompts with the model's chat template (lm-eval's --apply_chat_template).")
    fewshot_as_multiturn: bool = Field(False, description="With chat_template: exemplars as user/assistant turns.")
    system: str | None = Field(None, description="System instruction before the description (lm-eval's --system_instruction).")
    tokenizer: str | None = Field(
        None, description="Log-likelihood mode with chat_template: the model's folder or Hub id, whose chat template renders the prompts."
    )

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
        self.renderer = mc_variants.check_variant(self.params)
        self.data_folder = self._locate()
        self._rows: dict[tuple[str, str], list[MCRow]] = {}
        if self.params.mode == "generate":
            self.output_type, self.result_type = "generation", GenerationResult

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

    def system_prompt(self, subject: str) -> str:
        """The description line, after the system instruction when there is one (lm-eval's system prompt)."""
        text = self.prompt.description.format(subject_name=self.spec.subjects[subject].name)
        return mc_variants.maybe_delimit(self.params.system, text, self.prompt.fewshot_delimiter)

    def exemplars(self, subject: str) -> list[MCRow]:
        """The first ``shots`` rows of the few-shot split: lm-eval's ``first_n`` sampler."""
        shots = self.params.shots
        if not shots:
            return []
        exemplars = self.rows(subject, self.spec.fewshot_split)
        if len(exemplars) < shots:
            raise ConfigError(
                f"{self.spec.name}/{subject}: asked for {shots} shots but the {self.spec.fewshot_split!r} split has {len(exemplars)} rows"
            )
        return exemplars[:shots]

    def prefix(self, subject: str) -> str:
        """Description plus the few-shot exemplars, each answered and followed by the few-shot delimiter."""
        answered = (self.format_question(row) + self.prompt.answer_delimiter + row.answer for row in self.exemplars(subject))
        return self.system_prompt(subject) + "".join(piece + self.prompt.fewshot_delimiter for piece in answered)

    def messages(self, subject: str, row: MCRow) -> list[dict[str, str]]:
        """The chat turns of one question (lm-eval's ``fewshot_context`` with a chat template)."""
        shots = [(self.format_question(r), r.answer) for r in self.exemplars(subject)]
        return mc_variants.chat_messages(
            self.system_prompt(subject), shots, self.format_question(row), answer_delimiter=self.prompt.answer_delimiter,
            fewshot_delimiter=self.prompt.fewshot_delimiter, multiturn=self.params.fewshot_as_multiturn,
        )

    def eval_rows(self, subject: str) -> list[MCRow]:
        rows = self.rows(subject, self.spec.eval_split)
        return rows[: self.params.limit] if self.params.limit else rows

    def resolved_params(self) -> dict[str, Any]:
        resolved = super().resolved_params()
        # A variant's parameters appear only when set, so a default run keeps the run key it had before they existed;
        # the chat template stands for the tokenizer it came from.
        for name in mc_variants.VARIANT_PARAMS:
            if name == "tokenizer" or resolved[name] == MCParams.model_fields[name].default:
                del resolved[name]
        if self.renderer is not None:
            resolved["chat_template_sha256"] = self.renderer.template_sha256
        resolved.update(subjects=self.subjects, prompt=self.prompt_name)
        return resolved

    def requests(self) -> list[MultipleChoiceRequest] | list[GenerationRequest]:
        if self.params.mode == "generate":
            return self._generation_requests()
        # Through a chat template the letter follows the generation prompt directly (lm-eval: no target delimiter).
        delimiter = "" if self.params.chat_template else self.prompt.answer_delimiter
        continuations = [delimiter + letter for letter in LETTERS[: self.spec.num_options]]
        requests = []
        for subject in self.subjects:
            rows = self.eval_rows(subject)
            if self.renderer is not None:
                prefix, texts = mc_variants.split_shared([self.renderer.render(self.messages(subject, row)) for row in rows])
            else:
                prefix, texts = self.prefix(subject), [self.format_question(row) for row in rows]
            requests += [
                MultipleChoiceRequest(key=f"{subject}/{row.index}", group=subject, prefix=prefix, text=text, continuations=continuations)
                for row, text in zip(rows, texts)
            ]
        return requests

    def _generation_requests(self) -> list[GenerationRequest]:
        """Greedy answers; with a chat template the backend renders the turns (so chat-only endpoints work)."""
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=mc_variants.MAX_GEN_TOKS)
        requests = []
        for subject in self.subjects:
            prefix = "" if self.params.chat_template else self.prefix(subject)
            for row in self.eval_rows(subject):
                prompt = {"messages": self.messages(subject, row)} if self.params.chat_template else {"prompt": prefix + self.format_question(row)}
                requests.append(GenerationRequest(key=f"{subject}/{row.index}", group=subject, sampling=sampling, **prompt))
        return requests

    # -- scoring --------------------------------------------------------------

    def aggregate(self, requests: list, results: list) -> tuple[dict, list[dict]]:
        categories = {s: self.spec.subjects[s].category for s in self.subjects}
        if self.params.mode == "generate":
            samples = [self._generated_sample(request, result) for request, result in zip(requests, results, strict=True)]
            unparsed = sum(not sample["parsed"] for sample in samples)
            return aggregate_accuracy(samples, categories, mc_variants.GeneratedAnswerScores, unparsed=unparsed), samples
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
        return aggregate_accuracy(samples, categories), samples

    def _generated_sample(self, request: GenerationRequest, result: GenerationResult) -> dict[str, Any]:
        subject, index = request.key.rsplit("/", 1)
        row = self.rows(subject, self.spec.eval_split)[int(index)]
        prompt = request.prompt if request.messages is None else canonical_json(request.messages)
        return {
            "subject": subject,
            "index": int(index),
            **mc_variants.generated_sample(result.responses[0], LETTERS[: self.spec.num_options], row.answer),
            "prompt_sha256": sha256_text(prompt),
            "prompt_tokens": result.prompt_tokens,
            "finish_reason": result.finish_reasons[0],
        }

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
            **mc_variants.variant_metadata(self.params),
        }


def load_hub_split(dataset: str, subject: str, split: str):
    """One subject's split of a Hub dataset (``datasets.load_dataset``), in the dataset's row order."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DataError(f"reading {dataset} from the Hub needs `datasets`: {exc}") from None
    return datasets.load_dataset(dataset, subject, split=split)
