"""`evalsuite run`: evaluate a model on a task, print a score table, write results."""

from __future__ import annotations

import time
from pathlib import Path


def add_parser(subparsers):
    parser = subparsers.add_parser("run", help="evaluate a model on a task")
    parser.add_argument("--model", required=True, help="checkpoint directory or Hugging Face Hub id")
    parser.add_argument("--task", required=True, help="registered task name, or a task .yaml file")
    parser.add_argument("-T", dest="task_args", action="append", metavar="KEY=VALUE", help="task parameter (repeatable)")
    parser.add_argument("--data-dir", help="folder with one subfolder per benchmark (default: $EVALSUITE_DATA_DIR/benchmarks, else the Hub)")
    parser.add_argument("--out", help="write results.json and samples.jsonl here")
    parser.add_argument("--store", help="SQLite results store (default: $EVALSUITE_STORE or ~/.cache/evalsuite/results.sqlite)")
    parser.add_argument("--backend", default="hf", choices=["hf", "openai", "vllm"],
                        help="hf: local/Hub checkpoint; openai: an OpenAI-compatible endpoint; vllm: vLLM on a GPU (generation)")
    parser.add_argument("--base-url", help="openai backend: endpoint root, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--concurrency", type=int, help="openai backend: requests in flight")
    parser.add_argument("--revision")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--batch-size", type=int,
        help="most sequences in one forward pass (default 64; a 1,024-token budget per pass usually binds first)",
    )
    parser.add_argument("--max-length", type=int, help="context window (default: from the model config)")
    parser.add_argument("--truncation", default="error", choices=["error", "left"], help="what to do with prompts longer than the context")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--autocast", choices=["off", "bfloat16", "float16"], default="off",
        help="opt-in reduced-precision compute (not exact; agreement with fp32 on a sample is reported)",
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the checkpoint (only if you trust it)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
    return parser


def backend_options(args) -> dict:
    if args.backend == "vllm":
        options = {"model": args.model, "revision": args.revision, "dtype": args.dtype,
                   "trust_remote_code": args.trust_remote_code}
        return {k: v for k, v in options.items() if v is not None}
    if args.backend == "openai":
        options = {"model": args.model, "base_url": args.base_url, "concurrency": args.concurrency, "revision": args.revision}
        return {k: v for k, v in options.items() if v is not None}
    options = {
        "model": args.model,
        "revision": args.revision,
        "dtype": args.dtype,
        "device": args.device,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "truncation": args.truncation,
        "threads": args.threads,
        "autocast": args.autocast,
        "trust_remote_code": args.trust_remote_code,
    }
    return {k: v for k, v in options.items() if v is not None}


def run(args) -> int:
    import evalsuite.tasks  # noqa: F401  (registers the built-in tasks)
    from evalsuite.backends import load_backend
    from evalsuite.config import parse_key_values
    from evalsuite.registry import get_task
    from evalsuite.runner import default_store_path, evaluate
    from evalsuite.store import ResultStore

    from evalsuite.cli.display import ProgressBar, print_scores

    # Validate the task (parameters, data) before paying for the model load.
    task = get_task(args.task)(parse_key_values(args.task_args), data_dir=args.data_dir)
    requests_preview = len(task.requests())
    options = backend_options(args)
    started = time.perf_counter()
    backend = load_backend(args.backend, options)
    load_seconds = time.perf_counter() - started
    store_path = Path(args.store) if args.store else default_store_path()
    with ResultStore(store_path) as store, ProgressBar(f"{task.name}", requests_preview, disabled=args.no_progress) as bar:
        record = evaluate(
            task, backend, store, out_dir=args.out, model_load_seconds=load_seconds,
            progress=bar.update, backend_config=options,
        )
    print_scores(record)
    if args.out:
        print(f"wrote {Path(args.out) / 'results.json'} and samples.jsonl")
    return 0
