"""MMLU speed: lm-evaluation-harness and evalsuite on the same model and questions, in one run.

Both are run as their command-line tools in fresh processes, so wall time
includes start-up, model loading, tokenization and scoring. The script then
checks that every item has the same prediction and log-likelihoods within 1e-4 relative to their size,
and prints questions/second for both and the ratio.

    .venv/bin/python benchmarks/bench_mmlu.py --size 20m --shots 0 --subjects 8
    .venv/bin/python benchmarks/bench_mmlu.py --size 130m --shots 5 --subjects 2 --limit 50

Quiet machine only: do not run it beside other heavy jobs. The load average is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Subjects in a fixed order, so a run with --subjects k is reproducible.
SUBJECTS = [
    "anatomy", "high_school_geography", "astronomy", "business_ethics", "college_biology",
    "high_school_psychology", "marketing", "philosophy", "world_religions", "virology",
    "prehistory", "nutrition", "high_school_us_history", "professional_law",
]


def _local_tasks():
    spec = importlib.util.spec_from_file_location("local_tasks", REPO / "tests" / "lm_eval_tasks" / "local_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(size: str, cache: Path, data: Path) -> Path:
    from evalsuite.tiny import build_tiny_model

    folder = cache / f"bench-{size}"
    if (folder / "model.safetensors").exists():
        return folder
    english = (data / "train" / "wiki_demo.txt").read_text(encoding="utf-8").splitlines()
    web = [json.loads(line)["text"] for line in (data / "train" / "c4_demo.jsonl").read_text(encoding="utf-8").splitlines()]
    chinese = [r["instruction"] + r["output"] for r in json.loads((data / "train" / "alpaca_zh_demo.json").read_text(encoding="utf-8"))]
    return build_tiny_model(folder, english + web + chinese, size=size, vocab_size=32000, initializer_range=0.2)


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="20m", choices=["1m", "20m", "130m"])
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--subjects", type=int, default=4, help="how many subjects of the fixed list")
    parser.add_argument("--limit", type=int, help="questions per subject (default: all)")
    parser.add_argument("--batch-size", type=int, default=8, help="lm-eval's batch size (evalsuite uses its defaults)")
    parser.add_argument("--data-dir", default=os.environ.get("EVALSUITE_DATA_DIR", str(REPO.parent / "shared" / "datasets")))
    parser.add_argument("--cache", default=str(REPO / ".cache" / "bench"))
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="run both tools this many times, alternating, and compare each tool's fastest run "
        "(a shared VM's speed drifts by 10%% or more over minutes; every run is printed)",
    )
    args = parser.parse_args()

    data = Path(args.data_dir)
    model = build_model(args.size, Path(args.cache), data)
    subjects = SUBJECTS[: args.subjects]
    n_params = sum(
        v.numel() for v in __import__("safetensors.torch", fromlist=["load_file"]).load_file(model / "model.safetensors").values()
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tasks = _local_tasks().write_tasks({"mmlu": subjects}, data / "benchmarks", tmp / "tasks")
        limit = ["--limit", str(args.limit)] if args.limit else []
        lm_eval_cmd = [
            str(BIN / "lm_eval"), "--model", "hf",
            "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
            "--batch_size", str(args.batch_size), "--tasks", ",".join(sorted(tasks)),
            "--include_path", str(tmp / "tasks"), "--num_fewshot", str(args.shots),
            "--output_path", str(tmp / "lm_eval_out"), "--log_samples", *limit,
        ]
        ours_cmd = [
            str(BIN / "evalsuite"), "run", "--model", str(model), "--task", "mmlu",
            "-T", f"subjects={','.join(subjects)}", "-T", f"shots={args.shots}",
            *(["-T", f"limit={args.limit}"] if args.limit else []),
            "--data-dir", str(data), "--out", str(tmp / "ours"),
            "--store", str(tmp / "store.sqlite"), "--no-progress",
        ]
        load_before = os.getloadavg()
        lm_eval_runs, ours_runs = [], []
        for repeat in range(args.repeats):
            for path in (tmp / "lm_eval_out", tmp / "ours", tmp / "store.sqlite"):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            lm_eval_runs.append(timed(lm_eval_cmd, env))
            ours_runs.append(timed(ours_cmd, env))
        lm_eval_seconds, ours_seconds = min(lm_eval_runs), min(ours_runs)
        load_after = os.getloadavg()

        ours = {}
        for line in (tmp / "ours" / "samples.jsonl").read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            ours[(sample["subject"], sample["index"])] = sample
        questions = len(ours)
        worst = worst_relative = 0.0
        mismatches = 0
        for path in (tmp / "lm_eval_out").rglob("samples_*.jsonl"):
            name = path.name.removeprefix("samples_").rsplit("_", 1)[0]
            subject = tasks[name][1]
            for line in path.read_text(encoding="utf-8").splitlines():
                sample = json.loads(line)
                mine = ours[(subject, sample["doc_id"])]
                lls = [float(r[0]) for r in sample["filtered_resps"]]
                for a, b in zip(lls, mine["loglikelihoods"]):
                    worst = max(worst, abs(a - b))
                    worst_relative = max(worst_relative, abs(a - b) / max(1.0, abs(a)))
                predicted = "ABCD"[max(range(4), key=lambda i: (lls[i], -i))]
                mismatches += predicted != mine["prediction"]
        result = json.loads((tmp / "ours" / "results.json").read_text(encoding="utf-8"))

    print(f"model: {args.size} ({n_params / 1e6:.1f}M parameters), {args.shots}-shot, {len(subjects)} subjects, {questions} questions")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}  (cpus: {os.cpu_count()})")
    print(f"lm-eval   : {lm_eval_seconds:8.1f} s wall  {questions / lm_eval_seconds:8.2f} q/s")
    print(f"evalsuite : {ours_seconds:8.1f} s wall  {questions / ours_seconds:8.2f} q/s   "
          f"(last run: model load {result['timings']['model_load_seconds']:.1f} s, compute {result['timings']['compute_seconds']:.1f} s)")
    if args.repeats > 1:
        print(f"all runs  : lm-eval {', '.join(f'{t:.1f}' for t in lm_eval_runs)} s; "
              f"evalsuite {', '.join(f'{t:.1f}' for t in ours_runs)} s (alternating; fastest of each compared)")
    print(f"speed-up  : {lm_eval_seconds / ours_seconds:.2f}x (wall, start-up included)")
    print(f"agreement : {mismatches} differing predictions, max |delta loglikelihood| = {worst:.2e} "
          f"(relative {worst_relative:.1e}), paths {result['computation']}")
    # Random-init benchmark models amplify fp32 rounding (the same model differs by ~1e-5 relative
    # between batch sizes 1 and 16), so the check is relative to the log-likelihood's size.
    if mismatches or worst_relative > 1e-4:
        sys.exit("results differ from lm-eval")


if __name__ == "__main__":
    main()
