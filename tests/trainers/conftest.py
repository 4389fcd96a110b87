"""Fixtures for trainer tests: tiny data written here and a tiny base + SFT model trained once per session."""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

WORDS = "the cat dog sat on a mat ran fast slow red blue green big small house tree 猫 狗 红色 房子".split()

TINY_MODEL = {"vocab_size": 400, "hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64,
              "num_attention_heads": 4, "seq_len": 32}
FAST = {"batch_size": 4, "logging_steps": 1, "max_length": 64, "max_prompt_length": 32, "save_steps": 100}


def shared_data_dir() -> Path | None:
    """The real demo data: EVALSUITE_DATA_DIR or <repo>/../shared/datasets, else None."""
    env = os.environ.get("EVALSUITE_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "datasets")
    for candidate in candidates:
        if (candidate / "train").is_dir():
            return candidate
    return None


def run_cli(argv: list[str]) -> int:
    """`evalsuite train ...` through the real parser, as the console script builds it."""
    from evalsuite.cli import train_cmd

    parser = argparse.ArgumentParser(prog="evalsuite")
    train_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    (root / "corpus.txt").write_text(
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(200)), encoding="utf-8")
    sft = [{"instruction": f"say {w}", "input": "", "output": f"{w} {w} {w}"} for w in WORDS]
    (root / "sft.json").write_text(json.dumps(sft, ensure_ascii=False), encoding="utf-8")
    prefs = [{"conversations": [{"from": "human", "value": f"what colour is the {w}?"}],
              "chosen": {"from": "gpt", "value": "blue blue blue"},
              "rejected": {"from": "gpt", "value": "red house tree big"}} for w in WORDS[:16]]
    (root / "prefs.json").write_text(json.dumps(prefs, ensure_ascii=False), encoding="utf-8")
    return root


def base_recipe(data_dir: Path, **stages) -> dict:
    return {
        "data_dir": str(data_dir),
        "stages": {
            "base": {"method": "pretrain", "corpora": ["corpus.txt"], **TINY_MODEL, "max_steps": 8,
                     "batch_size": 8, "logging_steps": 1, "save_steps": 100},
            "sft": {"method": "sft", "parent": "base", "data": ["sft.json"], **FAST, "max_steps": 6,
                    "learning_rate": 3e-3},
            **stages,
        },
    }


@pytest.fixture(scope="session")
def trained(data_dir, tmp_path_factory) -> dict[str, str]:
    """base and sft checkpoints of the tiny recipe."""
    from evalsuite.trainers.pipeline import run_pipeline

    return run_pipeline(base_recipe(data_dir), tmp_path_factory.mktemp("ckpt"))
