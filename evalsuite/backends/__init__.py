"""Model backends, by name. Each backend module imports its heavy SDK only when used."""

from __future__ import annotations

from typing import Any

from evalsuite.errors import ConfigError

BACKENDS = {"hf": "evalsuite.backends.hf", "openai": "evalsuite.backends.openai", "vllm": "evalsuite.backends.vllm"}


def load_backend(name: str, options: dict[str, Any]):
    """Construct backend ``name`` from validated ``options``."""
    import importlib

    from evalsuite.config import validate

    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    module = importlib.import_module(BACKENDS[name])
    config = validate(module.Config, options, f"options for backend {name!r}")
    return module.Backend(config)
