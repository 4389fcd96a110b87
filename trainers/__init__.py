"""Bundled trainer: base, SFT, DPO, SimPO, CPO, ORPO, KTO and GRPO checkpoints from one recipe, on TRL.

Modules, one concept each: ``methods`` (one module per training method, each registering its stage config,
data preparation and training call in ``evalsuite.registry.TRAINER_METHODS``), ``settings`` (config fields
the methods share), ``recipe`` (validated YAML), ``data`` (format loaders), ``parent`` (the checkpoint a
stage starts from), ``chatml`` (tokens and chat template), ``rewards`` (the built-in GRPO rewards),
``lora``, ``checkpoint`` (manifest, save), ``stage`` (one stage), ``pipeline`` (a recipe), ``trl_compat``
(the only TRL import), ``eval_callback`` (:class:`EvalCallback`, evaluation during training; ``eval_steps`` and
``eval_alarms`` its records and alarms). Importing this package imports neither torch nor TRL: ``EvalCallback``
is imported on first use.
"""

__all__ = ["EvalCallback"]


def __getattr__(name: str):
    if name == "EvalCallback":
        from evalsuite.trainers.eval_callback import EvalCallback

        return EvalCallback
    raise AttributeError(f"module 'evalsuite.trainers' has no attribute {name!r}")
