"""Imports point one way (README, "Layout"); checked on the source, so a new import cannot slip in."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# evalsuite.errors is a dependency-free leaf (exception classes only) that every layer may raise.
ALLOWED = {
    "metrics": {"evalsuite.metrics", "evalsuite.errors"},
    "trainers": {"evalsuite.trainers", "evalsuite.config", "evalsuite.errors", "evalsuite.provenance", "evalsuite.metrics"},
    "reports": {"evalsuite.reports", "evalsuite.errors", "evalsuite.results", "evalsuite.metrics", "evalsuite.terminal"},
    "tasks": {"evalsuite.tasks", "evalsuite.metrics", "evalsuite.errors", "evalsuite.config", "evalsuite.registry",
              "evalsuite.task", "evalsuite.provenance", "evalsuite.results", "evalsuite.store", "evalsuite.backends",
              "evalsuite.execution.sandbox"},
}
CORE_FORBIDDEN = ("evalsuite.tasks", "evalsuite.trainers", "evalsuite.reports")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "evalsuite"}


def _allowed(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_side_folders_import_only_what_they_may():
    for folder, allowed in ALLOWED.items():
        for path in (ROOT / folder).rglob("*.py"):
            bad = sorted(n for n in _imports(path) if not _allowed(n, allowed))
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_core_never_imports_tasks_trainers_or_reports():
    for path in (ROOT / "evalsuite").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "evalsuite").parts:
            continue  # the CLI is the one place that wires everything
        bad = sorted(n for n in _imports(path) if n.startswith(CORE_FORBIDDEN))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
