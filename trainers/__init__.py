"""Bundled trainer: base, SFT, DPO, SimPO, CPO, ORPO, KTO and GRPO checkpoints from one recipe, on TRL.

Modules, one concept each: ``recipe`` (validated YAML), ``data`` (format loaders), ``pretrain`` (tokenizer
and tiny model from scratch), ``sft``/``preference``/``grpo`` (one TRL trainer each), ``rewards`` (GRPO
reward registry), ``lora``, ``checkpoint`` (manifest, save), ``stage`` (one stage), ``pipeline`` (a
recipe), ``trl_compat`` (the only TRL import). Importing this package imports neither torch nor TRL.
"""
