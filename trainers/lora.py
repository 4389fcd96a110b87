"""LoRA for any stage (peft): target checks before training, and a merged plain export."""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import ConfigError
from evalsuite.trainers.settings import LoraSettings


def linear_module_names(model) -> list[str]:
    """Distinct last-name components of the model's Linear layers (what ``target_modules`` can name)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)})


def check_targets(model, settings: LoraSettings) -> None:
    """Raise ConfigError for a target module that matches no layer of the model."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [target for target in settings.target_modules if target not in names]
    if missing:
        raise ConfigError(
            f"lora.target_modules {missing} match no module of {type(model).__name__}; "
            f"its Linear layers are: {', '.join(linear_module_names(model))}"
        )


def apply_lora(model, settings: LoraSettings):
    """Wrap ``model`` in a peft LoRA adapter (targets checked first)."""
    from peft import LoraConfig, get_peft_model

    check_targets(model, settings)
    config = LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules), task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def export(model, out_dir: str | Path, settings: LoraSettings):
    """Save the adapter under ``out_dir/adapter`` and return the model to save as the checkpoint (merged when asked)."""
    model.save_pretrained(Path(out_dir) / "adapter")
    if settings.merge:
        return model.merge_and_unload()
    return model
