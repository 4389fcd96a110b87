"""The checkpoint a stage starts from: a stage of the recipe, a local directory, or a Hub id."""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import ModelError
from evalsuite.trainers.chatml import CHAT_TEMPLATE
from evalsuite.trainers.settings import Runtime


def _looks_local(reference: str) -> bool:
    path = Path(reference).expanduser()
    return (reference.startswith((".", "/", "~")) or reference.count("/") > 1
            or (len(path.parts) > 1 and Path(path.parts[0]).exists()))


def _require_safetensors(path: Path) -> None:
    """Weights load only from safetensors: ``.bin``/``.pt``/``.pth`` files are pickles, which run code when loaded."""
    if any(path.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    found = f"found only {', '.join(pickled[:5])}" if pickled else "found no weights"
    raise ModelError(
        f"parent checkpoint {path} has no .safetensors weights ({found}); evalsuite loads only safetensors, because "
        "pickled weights can run code when loaded. Convert it where you trust the file: "
        "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(new_dir, safe_serialization=True)"
    )


def resolve_parent(reference: str, stage_outputs: dict[str, str] | None = None) -> str:
    """Directory (or Hub id) of a parent: a stage of the recipe, a local checkpoint, or a Hub id."""
    if stage_outputs and reference in stage_outputs:
        return stage_outputs[reference]
    path = Path(reference).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"parent checkpoint {path} has no config.json; is it a finished checkpoint directory?")
        _require_safetensors(path)
        return str(path.resolve())
    if _looks_local(reference):
        known = f" (stages of this recipe: {', '.join(stage_outputs)})" if stage_outputs else ""
        raise ModelError(f"parent checkpoint not found: {reference}{known}; train it first or fix the path")
    return reference  # a Hub id


def load_parent(parent: str, runtime: Runtime, revision: str | None = None, trust_remote_code: bool = False):
    """Model and tokenizer of ``parent``, plus notes on what was changed (a chat template added).

    Weights only from safetensors (a Hub repository without them is refused); Hub revision and remote code
    only as a ``load`` stage says; a tokenizer without a chat template gets ChatML and one without a pad
    token pads with eos.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if runtime.precision == "bf16" and runtime.resolved_device() == "cuda" else torch.float32
    hub = {"trust_remote_code": trust_remote_code}
    if revision:
        hub["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(parent, **hub)
        model = AutoModelForCausalLM.from_pretrained(parent, dtype=dtype, use_safetensors=True, **hub)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load parent checkpoint {parent!r}: {exc}") from None
    notes = []
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHAT_TEMPLATE
        notes.append("parent tokenizer had no chat template; ChatML was added")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, notes
