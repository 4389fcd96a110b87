"""Real text for the golden tests, found the way a user would point at it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path | None:
    env = os.environ.get("EVALSUITE_DATA_DIR")
    if env:
        return Path(env)
    default = ROOT.parent / "shared" / "datasets"
    return default if default.is_dir() else None


def _load(name: str) -> list[dict]:
    base = data_dir()
    path = base / name if base else None
    if path is None or not path.exists():
        pytest.skip(f"real data {name} not found: set EVALSUITE_DATA_DIR (../shared/datasets)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def alpaca_en() -> list[str]:
    return [r["output"] for r in _load("train/alpaca_en_demo.json")]


@pytest.fixture(scope="session")
def alpaca_zh() -> list[str]:
    return [r["output"] for r in _load("train/alpaca_zh_demo.json")]


@pytest.fixture(scope="session")
def alpaca_eval_instructions() -> list[str]:
    return [r["instruction"] for r in _load("judging/alpaca_eval_instructions.json")]
