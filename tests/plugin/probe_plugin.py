"""A throwaway outside package for tests/test_plugins.py (copied into a temporary package and installed)."""

from __future__ import annotations

from typing import ClassVar

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.config import StrictModel
from evalsuite.task import GenerationRequest, GenerationResult, SamplingConfig, Task

WORDS = ["alpha", "beta", "gamma"]


class EchoParams(StrictModel):
    suffix: str = "!"


class EchoTask(Task):
    name = "probe-echo"
    version = "1"
    description = "probe: the backend must answer each word upper-cased with the suffix"
    Params = EchoParams
    output_type = "generation"
    result_type = GenerationResult

    def requests(self):
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=8)
        return [GenerationRequest(key=w, group=w, prompt=w, sampling=sampling) for w in WORDS]

    def aggregate(self, requests, results):
        samples = [{"key": r.key, "response": res.responses[0]} for r, res in zip(requests, results)]
        matches = sum(s["response"] == s["key"].upper() + self.params.suffix for s in samples)
        return {"matches": matches, "items": len(samples)}, samples


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
