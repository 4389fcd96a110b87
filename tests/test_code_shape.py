"""The package stays readable: bounded file, function and CLI-module sizes (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("evalsuite", "metrics", "tasks", "reports", "trainers", "execution")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_CLI_MODULE_LINES = 150


def _files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_file_over_the_limit():
    long = {p.relative_to(ROOT).as_posix(): _lines(p) for p in _files() if _lines(p) > MAX_FILE_LINES}
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_function_over_the_limit():
    long = {}
    for path in _files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {node.name}"] = length
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_cli_modules_only_parse_and_print():
    long = {p.name: _lines(p) for p in (ROOT / "evalsuite" / "cli").glob("*.py") if _lines(p) > MAX_CLI_MODULE_LINES}
    assert not long, f"CLI modules over {MAX_CLI_MODULE_LINES} lines (move logic into a room or evalsuite/jobs): {long}"
