"""The one place that imports TRL (pinned exactly in the `train` extra).

CPO/SimPO/ORPO live under ``trl.experimental`` in TRL 1.16; when upstream moves
them again, only this file changes.
"""

from __future__ import annotations

import importlib
import os
import warnings
from functools import partial

from evalsuite.errors import ConfigError

TRL_VERSION = "1.16.0"


def _trl():
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        import trl
    except ImportError:
        raise ConfigError("training needs TRL and peft: pip install 'evalsuite[train]'") from None
    if trl.__version__ != TRL_VERSION:
        warnings.warn(f"evalsuite.trainers is tested with trl=={TRL_VERSION}, found {trl.__version__}", stacklevel=3)
    return trl


# Trainer name -> the module that defines <NAME>Config and <NAME>Trainer.
_MODULES = {
    "SFT": "trl", "DPO": "trl", "KTO": "trl", "GRPO": "trl",
    "CPO": "trl.experimental.cpo",  # SimPO is CPO with loss_type="simpo"
    "ORPO": "trl.experimental.orpo",
}


def trainer_classes(name: str) -> tuple[type, type]:
    """TRL's config and trainer classes for ``name`` (``"DPO"`` -> ``DPOConfig``, ``DPOTrainer``)."""
    _trl()
    module = importlib.import_module(_MODULES[name])
    return getattr(module, f"{name}Config"), getattr(module, f"{name}Trainer")


sft = partial(trainer_classes, "SFT")
dpo = partial(trainer_classes, "DPO")
kto = partial(trainer_classes, "KTO")
grpo = partial(trainer_classes, "GRPO")
cpo = partial(trainer_classes, "CPO")
orpo = partial(trainer_classes, "ORPO")
