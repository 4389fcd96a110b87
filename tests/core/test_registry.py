"""The one registry type: lazy entries, one name one object, errors that list what exists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evalsuite.errors import ConfigError
from evalsuite.registry import BACKENDS, METRICS, REWARDS, TASKS, TRAINER_METHODS, Registry


def test_lazy_entries_are_imported_on_first_use():
    registry: Registry = Registry("widget", group="")
    registry.register("csv-reader", "csv:reader")
    assert registry.names() == ["csv-reader"]
    import csv

    assert registry.get("csv-reader") is csv.reader


def test_one_name_one_object():
    registry: Registry = Registry("widget", group="")
    registry.register("a", len)
    registry.register("a", len)  # the same object again is fine
    registry.register("b", "builtins:len")
    registry.register("b", len)  # a lazy reference and the object it names are one entry
    with pytest.raises(ConfigError, match="registered twice"):
        registry.register("a", max)


def test_unknown_names_list_the_known_ones():
    registry: Registry = Registry("widget", group="")
    registry.register("alpha", len)
    with pytest.raises(ConfigError, match=r"unknown widget 'beta'; registered: alpha"):
        registry.get("beta")


def test_builtins_of_every_registry_load():
    assert {"mmlu", "ceval", "generate", "humaneval", "judge-rubric"} <= set(TASKS.names())
    assert {"hf", "openai", "vllm", "sandbox"} <= set(BACKENDS.names())
    assert {"sft", "dpo", "simpo", "cpo", "grpo"} <= set(TRAINER_METHODS.names())
    assert REWARDS.names() and METRICS.names()


def test_listing_backends_and_tasks_imports_no_torch():
    code = (
        "import sys; from evalsuite.registry import BACKENDS, TASKS; BACKENDS.names(); TASKS.names(); "
        "print('torch' in sys.modules, 'evalsuite.backends.hf' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == "False False"
