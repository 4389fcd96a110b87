"""ROUGE-L homogenization: evalsuite's bit-parallel LCS against the ``diversity`` package (0.3.1), same texts.

    .venv/bin/python benchmarks/bench_homogenization.py --n 1000
    .venv/bin/python benchmarks/bench_homogenization.py --n 1000 --max-words 60   # the package in minutes, not hours

The responses are the real AlpacaEval answers in ``$EVALSUITE_DATA_DIR/judging/alpaca_eval_outputs``
(every model's file in name order, concatenated, the first ``--n``); ``--max-words`` cuts each to its
first words (both sides get the same texts). Printed: the package's estimated time (from a few of its
pair scores) before it runs, both wall times, the ratio, the two values and |difference| (the package
rounds to 3 decimals, so up to 5e-4 is equality). The package scores all N (N - 1) ordered pairs in pure
Python: at N = 1000 with whole answers (~300 tokens) it runs for hours. Quiet machine only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_texts(data_dir: Path, n: int, max_words: int | None) -> list[str]:
    folder = data_dir / "judging" / "alpaca_eval_outputs"
    texts = [r["output"] for path in sorted(folder.glob("*.json")) for r in json.loads(path.read_text(encoding="utf-8"))]
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} responses in {folder}; ask for --n {len(texts)} or fewer")
    texts = texts[:n]
    return [" ".join(t.split(" ")[:max_words]) for t in texts] if max_words else texts


def package_homogenization():
    spec = importlib.util.find_spec("diversity")
    if spec is None:
        raise SystemExit("pip install --no-deps diversity==0.3.1 (scripts/setup.sh does)")
    path = Path(next(iter(spec.submodule_search_locations))) / "homogenization.py"
    module_spec = importlib.util.spec_from_file_location("_diversity_homogenization", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.homogenization_score


def estimate_package_seconds(texts: list[str], pairs: int = 20) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    sample = [(texts[i % len(texts)], texts[(i * 7 + 1) % len(texts)]) for i in range(pairs)]
    start = time.perf_counter()
    for a, b in sample:
        scorer.score(a, b)
    return (time.perf_counter() - start) / pairs * len(texts) * (len(texts) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="responses (default 1000)")
    parser.add_argument("--max-words", type=int, default=None, help="cut each response to its first words")
    parser.add_argument("--data-dir", default=os.environ.get("EVALSUITE_DATA_DIR", str(REPO.parent / "shared" / "datasets")))
    args = parser.parse_args()
    from evalsuite.metrics.diversity.homogenization import homogenization_rougel

    texts = load_texts(Path(args.data_dir), args.n, args.max_words)
    package = package_homogenization()
    print(f"{len(texts)} responses, {sum(len(t.split()) for t in texts) / len(texts):.0f} words on average; "
          f"package estimated at {estimate_package_seconds(texts):.0f} s")
    start = time.perf_counter()
    ours = homogenization_rougel(texts).value
    ours_s = time.perf_counter() - start
    print(f"evalsuite: {ours_s:.2f} s, value {ours:.6f}", flush=True)
    start = time.perf_counter()
    theirs = package(texts, verbose=False)
    theirs_s = time.perf_counter() - start
    print(f"diversity 0.3.1: {theirs_s:.2f} s, value {theirs}")
    print(f"speed-up {theirs_s / ours_s:.1f}x; |difference| {abs(ours - theirs):.2e} "
          f"(package rounds to 3 decimals; equal: {round(ours, 3) == theirs})")


if __name__ == "__main__":
    main()
