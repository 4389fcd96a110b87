"""Where data lives: one object naming the four data roots a task may read.

A data root (``--data-dir``, a suite's ``data_dir``, or ``$EVALSUITE_DATA_DIR``)
holds ``benchmarks/`` (official MMLU and C-Eval layouts), ``judging/``,
``code/`` and ``train/``. Tasks receive a :class:`DataRoots` and read the
folder they need, so no caller has to know which subfolder a task wants.
Any root may be ``None``: the task then reads from the Hub or says what to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV = "EVALSUITE_DATA_DIR"


@dataclass(frozen=True)
class DataRoots:
    benchmarks: Path | None = None
    judging: Path | None = None
    code: Path | None = None
    train: Path | None = None

    @classmethod
    def from_root(cls, root: str | Path | None) -> "DataRoots":
        """The four roots below one data folder (``None``: no local data)."""
        if root is None or str(root) == "":
            return cls()
        base = Path(root).expanduser()
        return cls(benchmarks=base / "benchmarks", judging=base / "judging", code=base / "code", train=base / "train")

    @classmethod
    def from_env(cls, explicit: str | Path | None = None) -> "DataRoots":
        """``explicit`` if given, else ``$EVALSUITE_DATA_DIR``, else no local data."""
        return cls.from_root(explicit if explicit else os.environ.get(ENV) or None)

    def require(self, name: str, what: str) -> Path:
        """The root ``name`` (e.g. ``"judging"``); an error saying how to provide it when it is unset."""
        from evalsuite.errors import DataError

        path = getattr(self, name)
        if path is None:
            raise DataError(f"{what} needs the data folder's {name}/: pass --data-dir or set {ENV} (a folder holding {name}/)")
        return path
