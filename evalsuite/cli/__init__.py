"""The `evalsuite` command line: the one place that wires everything together.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser) returning the
parser. Library code raises :class:`evalsuite.errors.EvalsuiteError`; this
module alone turns exceptions into a message on stderr and an exit code.

Exit codes, one meaning each (README, "Exit codes"): 0 done; 1 a regression gate
failed (``compare --fail-on``, ``nightly``); 2 a usage or configuration error (bad
arguments, options or parameters, a model or endpoint that cannot serve); 3 a data
error (an input file or the results store is missing, malformed or damaged); 4 an
internal error (a bug: the traceback is saved to a crash log whose path is
printed); 5 finished, but some items failed after the backend's retries and were
not stored (rerun the same command to retry only those); 75 a lock is busy
(another nightly run of the suite; try again later); 130 interrupted (finished
items are stored).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

from evalsuite import __version__
from evalsuite.errors import DataError, EvalsuiteError, LockBusyError
from evalsuite.files import atomic_write_text

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_DATA, EXIT_INTERNAL, EXIT_INCOMPLETE = 0, 1, 2, 3, 4, 5
EXIT_LOCKED, EXIT_INTERRUPTED = 75, 130  # EX_TEMPFAIL of sysexits.h; 128 + SIGINT

# The exit code of each error class, most specific first; every other EvalsuiteError
# (ConfigError, ModelError) is a usage or configuration error.
ERROR_CODES: list[tuple[type[EvalsuiteError], int]] = [
    (LockBusyError, EXIT_LOCKED), (DataError, EXIT_DATA), (EvalsuiteError, EXIT_USAGE),
]

# Subcommand modules, in the order `evalsuite --help` lists them.
COMMAND_MODULES = [
    "evalsuite.cli.tasks_cmd",
    "evalsuite.cli.run_cmd",
    "evalsuite.cli.demo_cmd",
    "evalsuite.cli.serve_cmd",
    "evalsuite.cli.compare_cmd",
    "evalsuite.cli.parity_cmd",
    "evalsuite.cli.report_cmd",
    "evalsuite.cli.nightly_cmd",
    "evalsuite.cli.plan_cmd",
    "evalsuite.cli.grid_cmd",
    "evalsuite.cli.train_cmd",
    "evalsuite.cli.metrics_cmd",
    "evalsuite.cli.code_eval_cmd",
    "evalsuite.cli.judge_cmd",
    "evalsuite.cli.import_outputs_cmd",
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
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EvalsuiteError as exc:
        print(f"evalsuite {args.command}: error: {exc}", file=sys.stderr)
        return next(code for kind, code in ERROR_CODES if isinstance(exc, kind))
    except KeyboardInterrupt:
        print(f"evalsuite {args.command}: interrupted; finished items are stored and a rerun resumes.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: keep the traceback, print one paragraph
        where = save_crash_log(args.command)
        first_line = (str(exc).splitlines() or [""])[0][:300]
        print(f"evalsuite {args.command}: internal error: {type(exc).__name__}: {first_line}\n"
              f"This is a bug in evalsuite; the traceback is saved in {where}. Please report it with that file.",
              file=sys.stderr)
        return EXIT_INTERNAL


def crash_log_dir() -> Path:
    """``$XDG_STATE_HOME/evalsuite`` (default ``~/.local/state/evalsuite``): where crash logs go."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "evalsuite"


def save_crash_log(command: str) -> str:
    """Write the exception being handled, with its traceback, to a new crash log; return its path.

    The log is written privately (mode 0600) and holds no arguments, which can
    carry credentials. If neither the state folder nor the temporary folder is
    writable, the traceback goes to stderr instead.
    """
    text = f"evalsuite {__version__}, command {command!r}, pid {os.getpid()}\n\n{traceback.format_exc()}"
    name = f"crash-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}.log"
    for folder in (crash_log_dir(), Path(tempfile.gettempdir()) / "evalsuite"):
        try:
            atomic_write_text(folder / name, text)
            return str(folder / name)
        except OSError:
            continue
    print(text, file=sys.stderr)
    return "the text above (no folder for crash logs was writable)"


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
