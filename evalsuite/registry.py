"""The one registry type: a name maps to a lazily loaded object.

evalsuite keeps five registries of this one type — tasks, backends, trainer
methods, rewards and metrics. An entry is either the object itself or a
``"module:attribute"`` string imported on first use, so listing names never
imports torch. Each registry knows

* the module that registers the built-in entries (imported by name on the first
  lookup, so core code never imports a concrete task or backend), and
* an entry-point group through which outside packages register theirs
  (``[project.entry-points."evalsuite.tasks"] my_task = "my_pkg.tasks:MyTask"``).

This module is a leaf: it imports nothing from evalsuite but ``errors``, so
every room may use it.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from evalsuite.errors import ConfigError

T = TypeVar("T")

# The entry-point groups outside packages register through (documented in the README).
ENTRY_POINT_GROUPS = {
    "task": "evalsuite.tasks",
    "backend": "evalsuite.backends",
    "trainer method": "evalsuite.trainer_methods",
    "reward": "evalsuite.rewards",
    "metric": "evalsuite.metrics",
}


def load_reference(reference: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, sep, attribute = reference.partition(":")
    if not sep:
        raise ConfigError(f"expected 'module:attribute', got {reference!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names to objects (classes, functions), loaded on first use."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = (), group: str | None = None):
        self.kind = kind
        self.group = group if group is not None else ENTRY_POINT_GROUPS.get(kind)
        self._builtins = builtins
        self._entries: dict[str, Any] = {}  # name -> object or "module:attr"
        self._loaded = False

    def register(self, name: str, obj: Any = None):
        """Register ``obj`` (an object or a ``"module:attr"`` string) under ``name``.

        Without ``obj`` this is a decorator: ``@TASKS.register("mmlu")``.
        """
        if obj is None:
            def decorator(target):
                self.register(name, target)
                return target
            return decorator
        current = self._entries.get(name)
        if current is not None and not self._same(current, obj):
            raise ConfigError(f"{self.kind} {name!r} is registered twice: {self._describe(current)} and {self._describe(obj)}")
        self._entries[name] = obj
        return obj

    @staticmethod
    def _describe(obj: Any) -> str:
        if isinstance(obj, str):
            return obj
        return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"

    def _same(self, a: Any, b: Any) -> bool:
        # A lazy string and the object it names are the same entry; two objects are the same only if equal.
        if isinstance(a, str) or isinstance(b, str):
            return self._describe(a) == self._describe(b)
        return a is b or a == b

    def _load_all(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtins:
            importlib.import_module(module)
        if self.group:
            for entry in metadata.entry_points(group=self.group):
                # Built-ins win over an outside package that reuses their name.
                self._entries.setdefault(entry.name, entry)

    def names(self) -> list[str]:
        self._load_all()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_all()
        return name in self._entries

    def get(self, name: str) -> T:
        """The object registered as ``name``; an error listing the known names otherwise."""
        self._load_all()
        if name not in self._entries:
            known = ", ".join(self.names()) or "(none registered)"
            raise ConfigError(f"unknown {self.kind} {name!r}; registered: {known}")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = load_reference(entry)
        elif isinstance(entry, metadata.EntryPoint):
            try:
                entry = self._entries[name] = entry.load()
            except Exception as exc:  # an outside package's import error, whatever its type
                raise ConfigError(
                    f"{self.kind} {name!r} from entry point {entry.value!r} ({self.group}) failed to load: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return entry


# Each registry imports these modules (by name) on its first lookup; they register the built-ins.
TASKS: Registry[Any] = Registry("task", builtins=("evalsuite.tasks", "evalsuite.execution"))
BACKENDS: Registry[Any] = Registry("backend", builtins=("evalsuite.backends", "evalsuite.execution"))
TRAINER_METHODS: Registry[Any] = Registry("trainer method", builtins=("evalsuite.trainers.methods",))
REWARDS: Registry[Any] = Registry("reward", builtins=("evalsuite.trainers.rewards",))
METRICS: Registry[Any] = Registry("metric", builtins=("evalsuite.metrics.catalog",))

# Task files (``--task path/to/task.yaml``): a suffix maps to a loader, installed by evalsuite.tasks.
_FILE_LOADERS: dict[str, Callable[[Path], Any]] = {}


def register_file_loader(suffix: str, loader: Callable[[Path], Any]) -> None:
    """Let ``--task FILE`` accept files ending in ``suffix`` (e.g. ``.yaml``)."""
    _FILE_LOADERS[suffix] = loader


def register_task(cls):
    """Class decorator: register a task class under its ``name``."""
    return TASKS.register(cls.name, cls)


def task_names() -> list[str]:
    return TASKS.names()


def get_task(name_or_path: str):
    """The task class for a registered name, or for a task file such as ``my_bench.yaml``."""
    if name_or_path in TASKS:
        return TASKS.get(name_or_path)
    suffix = Path(name_or_path).suffix
    if suffix in _FILE_LOADERS:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"task file not found: {path}")
        return _FILE_LOADERS[suffix](path)
    known = ", ".join(task_names()) or "(none registered)"
    raise ConfigError(f"unknown task {name_or_path!r}; registered tasks: {known}; or pass a task .yaml file")
