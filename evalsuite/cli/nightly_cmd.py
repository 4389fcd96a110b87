"""`evalsuite nightly suite.yaml`: one night of a benchmark suite; exit 1 on a regression, 75 if one is running."""

from __future__ import annotations

from evalsuite.cli import EXIT_OK, EXIT_REGRESSION
from evalsuite.cli.grid_cmd import add_executor_arguments
from evalsuite.errors import ConfigError


def add_parser(subparsers):
    parser = subparsers.add_parser("nightly", help="run a nightly suite: evaluate, compare, report, keep history")
    parser.add_argument("suite", help="suite YAML: checkpoints (globs), tasks, baseline, fail_on thresholds")
    parser.add_argument("--out", default="nightly", help="runs, history store, report and summary.json go here")
    parser.add_argument("--night", help="label of this night (default: today's UTC date)")
    add_executor_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.jobs.nightly import run_night

    summary = run_night(args.suite, args.out, night=args.night, say=print, executor=args.executor, address=args.address)
    print(f"night {summary['night']}: {summary['items_computed']} items computed, {summary['items_from_store']} from the store; "
          f"previous night: {summary['previous_night'] or 'none'}; report: {summary['report']}")
    # gate warnings were printed by run_night as they were found (summary.json keeps them)
    for regression in summary["regressions"]:
        print(f"regression: {regression['message']}")
    if summary["refused"] and not summary["regressions"]:  # fail closed, as compare: a gate not evaluated never passes
        raise ConfigError(f"fail_on: {len(summary['refused'])} rule(s) could not be evaluated: "
                          + "; ".join(v["message"] for v in summary["refused"]))
    return EXIT_REGRESSION if summary["regressions"] else EXIT_OK
