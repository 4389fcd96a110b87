"""`evalsuite grid suite.yaml`: a suite's checkpoint × task grid once, without history, in this process or on Ray."""

from __future__ import annotations

from evalsuite.cli import EXIT_INCOMPLETE, EXIT_OK


def add_executor_arguments(parser) -> None:
    """``--executor`` and ``--address``, shared with ``evalsuite nightly``."""
    parser.add_argument("--executor", default="local", metavar="NAME",
                        help="where the cells run: local (this process, the default) or ray (one Ray actor per cell, "
                             "with the suite's resources; pip install 'evalsuite[ray]')")
    parser.add_argument("--address", help="Ray cluster to connect to, e.g. ray://head:10001 or auto "
                                           "(default: start a local Ray instance)")


def add_parser(subparsers):
    parser = subparsers.add_parser("grid", help="run a suite's checkpoints × tasks once (no history, no comparison)")
    parser.add_argument("suite", help="suite YAML: checkpoints (globs), tasks, data_dir, backend options, resources")
    parser.add_argument("--out", required=True, help="each cell's results go to OUT/<checkpoint>/<task name>/; "
                                                     "summary.json to OUT")
    parser.add_argument("--store", required=True, help="the results store (SQLite); a rerun computes only what is missing")
    add_executor_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Exit code 0, or 5 when some items failed after the backend's retries (a rerun retries only those)."""
    from evalsuite.jobs.grid import run_suite

    summary = run_suite(args.suite, args.out, args.store, executor=args.executor, address=args.address,
                        say=lambda line: print(line, flush=True))
    print(f"grid {summary['suite']} on {summary['executor']}: {len(summary['runs'])} runs, "
          f"{summary['items_computed']} items computed, {summary['items_from_store']} from the store, "
          f"{summary['seconds']}s; summary: {args.out}/summary.json")
    if summary["items_failed"]:
        print(f"{summary['items_failed']} items failed and are not stored; rerun the same command to retry only those")
        return EXIT_INCOMPLETE
    return EXIT_OK
