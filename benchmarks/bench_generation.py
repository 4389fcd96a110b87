"""Generation throughput: the hf backend against a plain `model.generate` loop with the same settings.

    .venv/bin/python benchmarks/bench_generation.py --size 20m --prompts 16 --n 4 --max-new-tokens 64

Both sides use one process, the same model, prompts and sampling settings, and
are timed in the same run, interleaved and repeated (best of each; model loading excluded). Printed: samples
per second for the plain loop, the backend (one prompt per batch, the default)
and the backend with several prompts per left-padded batch, and the ratios.
Quiet machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="20m", choices=["1m", "20m", "130m"])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-prompts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best time of each side counts")
    parser.add_argument("--data-dir", default=os.environ.get("EVALSUITE_DATA_DIR", str(REPO.parent / "shared" / "datasets")))
    parser.add_argument("--cache", default=str(REPO / ".cache" / "bench"))
    args = parser.parse_args()

    import torch
    from transformers import GenerationConfig

    from bench_mmlu import build_model
    from evalsuite.backends import load_backend
    from evalsuite.task import GenerationRequest, SamplingConfig

    data = Path(args.data_dir)
    model_dir = build_model(args.size, Path(args.cache), data)
    instructions = json.loads((data / "judging" / "alpaca_eval_instructions.json").read_text(encoding="utf-8"))
    prompts = [r["instruction"] for r in instructions[: args.prompts]]
    sampling = SamplingConfig(n=args.n, temperature=0.7, top_p=0.95, max_new_tokens=args.max_new_tokens, seed=0)
    requests = [GenerationRequest(key=str(i), group=str(i), prompt=p, sampling=sampling) for i, p in enumerate(prompts)]

    backend = load_backend("hf", {"model": str(model_dir)})
    batched = load_backend("hf", {"model": str(model_dir), "generation_batch_prompts": args.batch_prompts})
    model, tokenizer = backend.model, backend.tokenizer
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=True, temperature=0.7, top_p=0.95, top_k=None,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)

    def plain() -> int:
        count = 0
        for i, prompt in enumerate(prompts):
            torch.manual_seed(i)
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"].repeat(args.n, 1)
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
            count += args.n
        return count

    def ours(b) -> int:
        return sum(len(r.responses) for _, results in b.generate(requests) for r in results)

    # Warm-up (kernel selection, allocator) so that no side pays for it.
    with torch.inference_mode():
        warm = tokenizer(prompts[0], return_tensors="pt")["input_ids"]
        model.generate(input_ids=warm, attention_mask=torch.ones_like(warm), generation_config=config)
    # Interleaved repeats, best of each: the order of the runs must not decide the ratio.
    timings: dict[str, tuple[int, float]] = {}
    sides = (("plain model.generate loop", plain), ("evalsuite hf backend", lambda: ours(backend)),
             (f"evalsuite, {args.batch_prompts} prompts/batch", lambda: ours(batched)))
    for _ in range(args.repeats):
        for name, fn in sides:
            started = time.perf_counter()
            samples = fn()
            elapsed = time.perf_counter() - started
            if name not in timings or elapsed < timings[name][1]:
                timings[name] = (samples, elapsed)
    print(f"model {args.size}, {args.prompts} prompts x {args.n} samples, max_new_tokens {args.max_new_tokens}, "
          f"load average {os.getloadavg()[0]:.2f}")
    reference = timings["plain model.generate loop"]
    for name, (samples, seconds) in timings.items():
        print(f"{name:<34} {seconds:7.1f} s  {samples / seconds:7.2f} samples/s  ratio {reference[1] / seconds:.2f}x")


if __name__ == "__main__":
    main()
