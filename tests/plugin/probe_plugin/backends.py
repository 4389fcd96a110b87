"""Probe backend: answers each prompt upper-cased, followed by its ``suffix`` option."""

from __future__ import annotations

from typing import ClassVar

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.config import StrictModel
from evalsuite.task import GenerationResult


class UpperConfig(StrictModel):
    model: str
    suffix: str = ""


class UpperBackend:
    name: ClassVar[str] = "probe-upper"
    Config = UpperConfig
    capabilities = Capabilities(generate=True)

    def __init__(self, config: UpperConfig):
        self.config = config
        self.fingerprint = ModelFingerprint(
            model=config.model, revision=None, weights_sha256="probe-" + config.suffix, backend=self.name,
            dtype="none", device="none",
        )

    def generate(self, requests):
        for i, request in enumerate(requests):
            text = request.prompt.upper() + self.config.suffix
            yield [i], [GenerationResult(responses=[text], new_tokens=[1], finish_reasons=["stop"], prompt_tokens=1)]

    def close(self) -> None:
        pass
