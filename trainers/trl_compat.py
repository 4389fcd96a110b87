"""The one place that imports TRL (pinned exactly in the `train` extra).

CPO/SimPO/ORPO live under ``trl.experimental`` in TRL 1.16; when upstream moves
them again, only this file changes.
"""

from __future__ import annotations

import os
import warnings

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


def sft():
    trl = _trl()
    return trl.SFTConfig, trl.SFTTrainer


def dpo():
    trl = _trl()
    return trl.DPOConfig, trl.DPOTrainer


def kto():
    trl = _trl()
    return trl.KTOConfig, trl.KTOTrainer


def grpo():
    trl = _trl()
    return trl.GRPOConfig, trl.GRPOTrainer


def cpo():
    """CPOConfig/CPOTrainer; SimPO is CPO with ``loss_type="simpo"``."""
    _trl()
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    return CPOConfig, CPOTrainer


def orpo():
    _trl()
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer
