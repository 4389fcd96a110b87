"""The completions path's overhead: MMLU through `evalsuite serve` + `--backend openai` against `--backend hf`.

    .venv/bin/python benchmarks/bench_completions.py --size 20m --shots 0 --subjects 2 --limit 20

One run, the same model and questions: the hf backend in this process, and the
openai backend (token-id prompts, echo + logprobs, one request per option)
against `evalsuite serve` on 127.0.0.1 in a child process with the same
threads. Printed: each side's wall time (model loading and server start
excluded), the ratio, and the largest |Δ log-likelihood| and prediction flips.
Quiet machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _serve(model_dir: Path, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(Path(sys.executable).parent / "evalsuite"), "serve", "--model", str(model_dir), "--name", "bench",
               "--port", str(port), "--threads", str(threads), "--max-waiting", "256"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
        if process.poll() is not None:
            raise SystemExit(process.stderr.read().decode())
    raise SystemExit("evalsuite serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="20m", choices=["1m", "20m", "130m"])
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--subjects", type=int, default=2, help="how many subjects of bench_mmlu's fixed list")
    parser.add_argument("--limit", type=int, default=20, help="questions per subject")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on each side")
    parser.add_argument("--concurrency", type=int, default=4, help="requests the openai backend keeps in flight")
    parser.add_argument("--data-dir", default=os.environ.get("EVALSUITE_DATA_DIR", str(REPO.parent / "shared" / "datasets")))
    parser.add_argument("--cache", default=str(REPO / ".cache" / "bench"))
    args = parser.parse_args()

    from bench_mmlu import SUBJECTS, build_model
    from evalsuite.backends import load_backend
    from evalsuite.data import DataRoots
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    data = Path(args.data_dir)
    model_dir = build_model(args.size, Path(args.cache), data)
    task = get_task("mmlu")({"subjects": SUBJECTS[: args.subjects], "shots": args.shots, "limit": args.limit},
                            data=DataRoots.from_root(data))
    process, url = _serve(model_dir, args.threads)
    try:
        sides = {
            "hf": load_backend("hf", {"model": str(model_dir), "threads": args.threads}),
            "openai (completions)": load_backend("openai", {
                "model": "bench", "base_url": url, "api_key_env": "", "tokenizer": str(model_dir),
                "concurrency": args.concurrency}),
        }
        seconds, samples = {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, backend in sides.items():
                with ResultStore(Path(tmp) / f"{len(seconds)}.sqlite") as store:
                    started = time.perf_counter()
                    evaluate(task, backend, store, out_dir=Path(tmp) / str(len(seconds)))
                    seconds[name] = time.perf_counter() - started
                lines = (Path(tmp) / str(len(samples)) / "samples.jsonl").read_text(encoding="utf-8").splitlines()
                samples[name] = {(s["subject"], s["index"]): s for s in map(json.loads, lines)}
    finally:
        process.terminate()
        process.wait(timeout=30)
    hf, remote = samples["hf"], samples["openai (completions)"]
    delta = max(abs(a - b) for k in hf for a, b in zip(hf[k]["loglikelihoods"], remote[k]["loglikelihoods"]))
    flips = sum(hf[k]["prediction"] != remote[k]["prediction"] for k in hf)
    print(f"model {args.size}, {args.shots}-shot, {args.subjects} subjects x {args.limit} questions ({len(hf)} items)")
    for name, value in seconds.items():
        print(f"  {name:22s} {value:8.2f} s  {len(hf) / value:8.1f} questions/s")
    print(f"  completions / hf wall time: {seconds['openai (completions)'] / seconds['hf']:.2f}x; "
          f"max |Δ log-likelihood| {delta:.2e}, prediction flips {flips}")


if __name__ == "__main__":
    main()
