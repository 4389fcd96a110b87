"""Subject lists shipped with the package (names and categories, as lm-eval defines them)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from evalsuite.tasks.multiple_choice import SubjectInfo

HERE = Path(__file__).resolve().parent


@cache
def load_subjects(benchmark: str) -> dict[str, SubjectInfo]:
    data = yaml.safe_load((HERE / f"{benchmark}_subjects.yaml").read_text(encoding="utf-8"))
    return {name: SubjectInfo(**info) for name, info in data.items()}
