"""`evalsuite run`: evaluate a model on a task, print a score table, write results."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from evalsuite.cli import EXIT_INCOMPLETE, EXIT_OK
from evalsuite.cli.options import add_backend_arguments, backend_options


def add_parser(subparsers):
    parser = subparsers.add_parser("run", help="evaluate a model on a task")
    parser.add_argument("--model", help="the backend's model option: checkpoint directory, Hub id, or endpoint model name")
    parser.add_argument("--task", required=True, help="registered task name, or a task .yaml file")
    parser.add_argument("-T", dest="task_args", action="append", metavar="KEY=VALUE", help="task parameter (repeatable)")
    parser.add_argument("--data-dir", help="the data root holding benchmarks/, judging/, code/, train/ "
                                           "(default: $EVALSUITE_DATA_DIR; with neither, benchmarks are read from the Hub)")
    parser.add_argument("--out", help="write results.json and samples.jsonl here")
    parser.add_argument("--store", help="SQLite results store (default: $EVALSUITE_STORE or ~/.cache/evalsuite/results.sqlite)")
    add_backend_arguments(parser)
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="shard the items over N worker processes (one GPU each when there are N GPUs, else an "
                             "equal share of the CPU threads), all writing the one store; under accelerate launch or "
                             "torchrun each rank computes its shard and rank 0 writes the merged record")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Exit code 0, or 5 when some items failed after the backend's retries (a rerun retries only those)."""
    from evalsuite.backends import backend_config, load_backend
    from evalsuite.cli.display import ProgressBar
    from evalsuite.config import parse_key_values
    from evalsuite.data import DataRoots
    from evalsuite.jobs.processes import RunSpec, launch_rank, run_processes, run_rank
    from evalsuite.registry import get_task
    from evalsuite.runner import default_store_path, evaluate
    from evalsuite.store import ResultStore

    # Validate backend options and the task (parameters, data) before paying for the model load.
    options = backend_options(args)
    config = backend_config(args.backend, options)
    task = get_task(args.task)(parse_key_values(args.task_args), data=DataRoots.from_env(args.data_dir))
    requests_preview = len(task.requests())
    store_path = Path(args.store) if args.store else default_store_path()
    rank = launch_rank()
    if args.processes != 1 or rank:
        spec = RunSpec(args.backend, options, args.task, parse_key_values(args.task_args), args.data_dir,
                       str(store_path), config.model_dump(mode="json"))
        record = run_rank(spec, *rank, args.out) if rank else run_processes(spec, args.processes, args.out)
        if record is None:
            print(f"rank {rank[0]}: shard stored; rank 0 writes the merged record")
            return EXIT_OK
        return _report(record, args)
    started = time.perf_counter()
    backend = load_backend(args.backend, options)
    load_seconds = time.perf_counter() - started
    try:
        with ResultStore(store_path) as store, ProgressBar(task.name, requests_preview, disabled=args.no_progress) as bar:
            record = evaluate(
                task, backend, store, out_dir=args.out, model_load_seconds=load_seconds,
                progress=bar.update, backend_config=config.model_dump(mode="json"),
            )
    finally:
        backend.close()
    return _report(record, args)


def _report(record, args) -> int:
    from evalsuite.cli.display import print_scores

    print_scores(record)
    if args.out:
        print(f"wrote {Path(args.out) / 'results.json'} and samples.jsonl")
    if record.failed:
        first = record.failed[0]
        print(f"{len(record.failed)} of {record.timings.items_total} items failed and are not stored "
              f"(first: {first.key}: {first.error}); rerun the same command to retry them", file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_OK
