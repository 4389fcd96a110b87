"""The `evalsuite` command line: the one place that wires everything together.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser) returning the
parser. Library code raises :class:`evalsuite.errors.EvalsuiteError`; this
module turns those into a message on stderr and exit code 2.

Exit codes, one meaning each (README, "Exit codes"): 0 done; 1 a regression gate
failed (``compare --fail-on``, ``nightly``); 2 an error (bad input, configuration,
a model or endpoint that cannot serve); 5 finished, but some items failed after the
backend's retries and were not stored (rerun the same command to retry only
those); 130 interrupted (finished items are stored).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys

from evalsuite import __version__
from evalsuite.errors import EvalsuiteError

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 5, 130

# Subcommand modules, in the order `evalsuite --help` lists them.
COMMAND_MODULES = [
    "evalsuite.cli.tasks_cmd",
    "evalsuite.cli.run_cmd",
    "evalsuite.cli.demo_cmd",
    "evalsuite.cli.serve_cmd",
    "evalsuite.cli.compare_cmd",
    "evalsuite.cli.report_cmd",
    "evalsuite.cli.nightly_cmd",
    "evalsuite.cli.train_cmd",
    "evalsuite.cli.metrics_cmd",
    "evalsuite.cli.code_eval_cmd",
    "evalsuite.cli.judge_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalsuite",
        description="Evaluate LLM checkpoints: knowledge benchmarks, generation diversity, judging.",
    )
    parser.add_argument("--version", action="version", version=f"evalsuite {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EvalsuiteError as exc:
        print(f"evalsuite {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"evalsuite {args.command}: interrupted; finished items are stored and a rerun resumes.", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry() -> None:
    """The console script: ``main``, then a quick exit.

    After a run, tearing down the interpreter (torch, transformers and
    thousands of modules) takes over a second. Everything evalsuite writes is
    closed by then (results are written atomically, the store is closed by its
    context manager), so once the exit handlers have run and the streams are
    flushed, the process ends without that teardown.
    """
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
