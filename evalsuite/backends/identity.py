"""What identifies a model's numbers, shared by every backend.

Stored results are keyed by a :class:`ModelFingerprint`: the weights' sha256
for local checkpoints (whatever backend loads them), a hash of the endpoint
and model name for remote ones. :func:`resolve_checkpoint` turns ``--model``
into a local folder (downloading a Hub snapshot when needed), so every
backend that loads weights hashes the same files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from evalsuite.config import StrictModel
from evalsuite.errors import ModelError
from evalsuite.provenance import sha256_file

# What a Hub download fetches: configs, weights, tokenizer files, chat templates.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.py", "*.tiktoken", "*.jinja"]


class ModelFingerprint(StrictModel):
    """What identifies the numbers a model produces: stored results are keyed by it."""

    model: str
    revision: str | None
    weights_sha256: str
    backend: str = "hf"
    dtype: str
    device: str

    def store_key(self) -> dict:
        """The part of the fingerprint that decides whether a stored result may be reused."""
        # The device is left out on purpose: the same weights and dtype give the same
        # numbers (to float tolerance) on any device, so a rerun elsewhere can resume.
        return {"model_weights": self.weights_sha256, "backend": self.backend, "dtype": self.dtype}


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's safetensors files; an error when there are none."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelError(
            f"{folder} has no .safetensors weights; evalsuite loads weights only as safetensors "
            "(convert a .bin checkpoint with `transformers` save_pretrained(safe_serialization=True))"
        )
    return files


def weights_fingerprint(folder: Path) -> str:
    """sha256 over the names and contents of the checkpoint's weight files."""
    digest = hashlib.sha256()
    for path in weight_files(folder):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def resolve_checkpoint(model: str, revision: str | None) -> tuple[Path, str | None]:
    """The local folder for ``--model`` and the revision to record.

    A local directory is used as it is; anything shaped like a Hub id
    (``org/name``) is downloaded, and the snapshot's commit becomes the revision.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"--model {model}: expected a checkpoint directory, got a file")
        return path, revision
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelError(f"--model {model}: no such directory (and it does not look like a Hub id such as org/name)")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS)
    except Exception as exc:  # the hub client raises many types; all mean "could not get it"
        raise ModelError(
            f"--model {model}: not a local directory, and the Hub download failed ({type(exc).__name__}: {exc}). "
            "Pass a local checkpoint directory, or check the id and your network/HF_TOKEN."
        ) from None
    folder = Path(folder)
    return folder, folder.name  # a snapshot folder is named by its commit hash


def sample_seed(seed: int, key: str) -> int:
    """The seed one prompt's samples are drawn with: from the run's seed and the prompt's key only,
    so samples do not depend on batching, on the other prompts of a run, or on resumption."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16)
