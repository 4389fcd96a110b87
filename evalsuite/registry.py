"""The one task registry: a name maps to a task class; a ``.yaml`` path is a custom task.

Built-in tasks register themselves with :func:`register_task` when
``evalsuite.tasks`` is imported (the CLI does that). Outside packages register
through the ``evalsuite.tasks`` entry-point group, whose entries point at task
classes. Core code looks tasks up here by name and never imports a concrete task.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from evalsuite.errors import ConfigError

if TYPE_CHECKING:
    from evalsuite.task import Task

T = TypeVar("T", bound="type[Task]")

_TASKS: dict[str, type["Task"]] = {}
# Loader for task files (``--task path/to/task.yaml``), installed by evalsuite.tasks.
_FILE_LOADERS: dict[str, Callable[[Path], type["Task"]]] = {}
_entry_points_loaded = False


def register_task(cls: T) -> T:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    name = cls.name
    if name in _TASKS and _TASKS[name] is not cls:
        raise ConfigError(f"task {name!r} is registered twice: {_TASKS[name].__module__} and {cls.__module__}")
    _TASKS[name] = cls
    return cls


def register_file_loader(suffix: str, loader: Callable[[Path], type["Task"]]) -> None:
    """Let ``--task FILE`` accept files ending in ``suffix`` (e.g. ``.yaml``)."""
    _FILE_LOADERS[suffix] = loader


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in metadata.entry_points(group="evalsuite.tasks"):
        cls = entry.load()
        if entry.name not in _TASKS:
            _TASKS[entry.name] = cls


def task_names() -> list[str]:
    _load_entry_points()
    return sorted(_TASKS)


def get_task(name_or_path: str) -> type["Task"]:
    """The task class for a registered name, or for a task file such as ``my_bench.yaml``."""
    _load_entry_points()
    if name_or_path in _TASKS:
        return _TASKS[name_or_path]
    suffix = Path(name_or_path).suffix
    if suffix in _FILE_LOADERS:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"task file not found: {path}")
        return _FILE_LOADERS[suffix](path)
    known = ", ".join(task_names()) or "(none registered)"
    raise ConfigError(f"unknown task {name_or_path!r}; registered tasks: {known}; or pass a task .yaml file")
