"""Imports point one way (docs/architecture.md); checked on the source, so a new import cannot slip in.

From the bottom up: ``evalsuite.metrics`` (pure) -> core (``evalsuite/*.py``,
``evalsuite/backends``) -> the rooms ``tasks``, ``reports``, ``trainers``,
``execution`` (independent of each other) -> ``evalsuite.jobs`` ->
``evalsuite.cli``. There is no list of tolerated exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Leaves every layer may use: exception classes and the registry type (which imports only errors).
LEAVES = {"evalsuite.errors", "evalsuite.registry"}
ROOMS = {"evalsuite.tasks", "evalsuite.reports", "evalsuite.trainers", "evalsuite.execution"}
ABOVE_ROOMS = {"evalsuite.jobs", "evalsuite.cli"}


def _layer(name: str) -> str:
    """The layer a module (dotted name) belongs to."""
    parts = name.split(".")
    if name in LEAVES or ".".join(parts[:2]) in LEAVES:
        return "leaf"
    head = ".".join(parts[:2])
    if head == "evalsuite.metrics":
        return "metrics"
    if head in ROOMS:
        return head
    if head in ABOVE_ROOMS:
        return head
    return "core"


def _may_import(src: str, dst: str) -> bool:
    a, b = _layer(src), _layer(dst)
    if b == "leaf" or a == b:
        return True
    if a == "leaf":
        return dst == "evalsuite.errors"
    if a == "metrics":
        return False
    if a == "core":
        return b == "metrics"
    if a in ROOMS:
        return b in ("metrics", "core")
    if a == "evalsuite.jobs":
        return b != "evalsuite.cli"
    return True  # the CLI wires everything


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "evalsuite":
        parts.insert(0, "evalsuite")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "evalsuite")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "evalsuite" and n != "evalsuite"}


def _package_files() -> list[Path]:
    folders = ["evalsuite", "metrics", "tasks", "reports", "trainers", "execution"]
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_point_one_way(path):
    src = _module_name(path)
    bad = sorted(n for n in _imports(path) if not _may_import(src, n))
    assert not bad, f"{path.relative_to(ROOT)} ({_layer(src)}) imports {bad}"


def test_the_rules_themselves():
    # A few fixed points, so a change to the rules above is a deliberate one.
    assert _may_import("evalsuite.metrics.diversity.distinct", "evalsuite.errors")
    assert not _may_import("evalsuite.metrics.common", "evalsuite.results")
    assert _may_import("evalsuite.runner", "evalsuite.metrics.names")
    assert not _may_import("evalsuite.runner", "evalsuite.tasks.mmlu")
    assert not _may_import("evalsuite.backends.hf", "evalsuite.trainers")
    assert not _may_import("evalsuite.reports.compare", "evalsuite.tasks.generation")
    assert not _may_import("evalsuite.tasks.generation", "evalsuite.execution.sandbox")
    assert not _may_import("evalsuite.trainers.stage", "evalsuite.reports.html")
    assert _may_import("evalsuite.jobs.grid", "evalsuite.tasks")
    assert not _may_import("evalsuite.jobs.grid", "evalsuite.cli.display")
    assert _may_import("evalsuite.cli.run_cmd", "evalsuite.jobs.grid")
