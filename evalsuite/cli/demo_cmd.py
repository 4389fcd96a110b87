"""`evalsuite demo`: train six checkpoints, evaluate, judge, and write the HTML report (see evalsuite.jobs.demo)."""

from __future__ import annotations

import time


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="train six checkpoints, evaluate, judge, and write the HTML report")
    parser.add_argument("--recipe", help="trainer recipe (default: recipes/demo.yaml of this checkout)")
    parser.add_argument("--work", default="runs/demo", help="where checkpoints, runs and the store go")
    parser.add_argument("--report", default="reports/demo/index.html", help="the HTML report to write")
    parser.add_argument("--data-dir", help="data root holding benchmarks/, judging/ and train/ (default: $EVALSUITE_DATA_DIR)")
    parser.add_argument("--quick", action="store_true", help="smallest settings (a few steps and questions): a smoke run")
    parser.add_argument("--judge", action="append", default=[], metavar="URL,MODEL[,NAME[,SEED[,KEYENV]]]",
                        help="use these judges instead of the local SFT checkpoint")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from pathlib import Path

    from evalsuite.cli.display import ProgressBar
    from evalsuite.jobs.demo import DemoSettings, run_demo
    from evalsuite.tasks.judging.judges import load_judge_specs

    started = time.perf_counter()
    settings = DemoSettings(work=Path(args.work), report=Path(args.report), recipe=args.recipe, data_dir=args.data_dir,
                            quick=args.quick, judges=load_judge_specs(args.judge) if args.judge else [])
    report = run_demo(settings, say=lambda line: print(line, flush=True), progress=ProgressBar)
    print(f"report: {report.resolve()}  ({time.perf_counter() - started:.0f}s in all)")
    return 0
