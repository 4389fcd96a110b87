"""Model backends, chosen by name from :data:`evalsuite.registry.BACKENDS`.

Importing this package registers the built-in backends as ``"module:class"``
strings, so listing them never imports torch, httpx or vLLM; each is imported
when it is first used. Outside packages register theirs through the
``evalsuite.backends`` entry-point group. Every backend class has a ``name``,
a ``Config`` model for its options and the methods of
:class:`evalsuite.backend.Backend`.
"""

from __future__ import annotations

from typing import Any

from evalsuite.config import StrictModel, validate
from evalsuite.registry import BACKENDS

BACKENDS.register("hf", "evalsuite.backends.hf:HFBackend")
BACKENDS.register("openai", "evalsuite.backends.openai:OpenAIBackend")
BACKENDS.register("vllm", "evalsuite.backends.vllm:VLLMBackend")


def backend_config(name: str, options: dict[str, Any]) -> StrictModel:
    """Backend ``name``'s options validated by its ``Config``; errors name each bad field and list the known ones."""
    return validate(BACKENDS.get(name).Config, options, f"options for backend {name!r}")


def load_backend(name: str, options: dict[str, Any]):
    """Construct backend ``name`` from ``options`` (validated first, so a typo costs no model load)."""
    return BACKENDS.get(name)(backend_config(name, options))
