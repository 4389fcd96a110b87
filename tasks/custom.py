"""Custom multiple-choice benchmarks from a YAML file, with no code.

See the README ("Custom multiple-choice tasks") for a complete example. The file
is validated like any configuration: unknown keys and bad values are errors
that name the field.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from evalsuite.config import PlainName, RelativePath, StrictModel, contained, load_yaml, validate
from evalsuite.errors import ConfigError
from evalsuite.registry import register_file_loader
from evalsuite.tasks.multiple_choice import (
    LETTERS,
    CSVLayout,
    DescriptionText,
    FilePattern,
    MCBenchmark,
    MultipleChoiceTask,
    OptionFormat,
    PromptFormat,
    QuestionTemplate,
    SubjectInfo,
)


class CustomTaskFile(StrictModel):
    name: str = Field(description="Task name, used in results and the store.")
    version: str = Field("1", description="Bump whenever the prompt or data changes.")
    data_folder: RelativePath = Field(description="Folder with the CSV files, relative to this YAML file and inside its folder.")
    files: dict[str, FilePattern] = Field(description="split -> file name pattern with {subject}, e.g. '{subject}_test.csv'.")
    header: bool = Field(True, description="Whether each CSV file starts with a header row.")
    columns: CSVLayout | dict = Field(description="question / options / answer: column names (header) or 0-based positions.")
    num_options: int = Field(4, ge=2, le=len(LETTERS))
    eval_split: str = "test"
    fewshot_split: str | None = "dev"
    language: str = "en"
    description: DescriptionText = Field("", description="First line(s) of each prompt; {subject_name} is replaced.")
    template: QuestionTemplate = Field("{question}\n{options}\nAnswer:", description="One question: {question} and {options}.")
    option_format: OptionFormat = "{letter}. {text}"
    answer_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    subjects: dict[PlainName, SubjectInfo] | list[PlainName] | None = Field(
        None, description="Subjects (a list, or name -> {name, category}); default: every file matching the eval pattern."
    )


def _discover_subjects(folder: Path, pattern: str) -> list[str]:
    regex = re.compile("^" + re.escape(pattern).replace(re.escape("{subject}"), "(?P<subject>[^/]+)") + "$")
    found = []
    for path in sorted(folder.rglob("*")):
        match = regex.match(path.relative_to(folder).as_posix())
        if match:
            found.append(match.group("subject"))
    return found


def load_task_file(path: Path) -> type[MultipleChoiceTask]:
    raw = load_yaml(path)
    columns = raw.get("columns")
    if isinstance(columns, dict):
        raw = {**raw, "columns": {"header": raw.get("header", True), **columns}}
    spec_file = validate(CustomTaskFile, raw, f"task file {path}")
    folder = contained(path.parent, spec_file.data_folder, f"{path}: data_folder").resolve()
    if spec_file.eval_split not in spec_file.files:
        raise ConfigError(f"{path}: files has no pattern for the eval split {spec_file.eval_split!r}")
    subjects = spec_file.subjects
    if subjects is None:
        if not folder.is_dir():
            raise ConfigError(f"{path}: data_folder {folder} does not exist")
        pattern = spec_file.files[spec_file.eval_split].replace("{split}", spec_file.eval_split)
        subjects = _discover_subjects(folder, pattern)
        if not subjects:
            raise ConfigError(f"{path}: no files in {folder} match {pattern!r}")
    if isinstance(subjects, list):
        subjects = {name: SubjectInfo(name=name.replace("_", " ")) for name in subjects}
    spec = MCBenchmark(
        name=spec_file.name,
        version=spec_file.version,
        data_folder=str(folder),
        files=spec_file.files,
        layout=spec_file.columns,
        eval_split=spec_file.eval_split,
        fewshot_split=spec_file.fewshot_split,
        num_options=spec_file.num_options,
        language=spec_file.language,
        subjects=subjects,
        prompts={
            "default": PromptFormat(
                description=spec_file.description,
                template=spec_file.template,
                option_format=spec_file.option_format,
                answer_delimiter=spec_file.answer_delimiter,
                fewshot_delimiter=spec_file.fewshot_delimiter,
            )
        },
    )
    return MultipleChoiceTask.for_benchmark(spec, f"custom task from {path}")


register_file_loader(".yaml", load_task_file)
register_file_loader(".yml", load_task_file)
