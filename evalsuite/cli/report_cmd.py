"""`evalsuite report`: tables, plots and a self-contained HTML report from stored runs."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser("report", help="write the HTML report, plots and tables for a folder of runs")
    parser.add_argument("root", help="folder of runs: ROOT/<checkpoint>/<run>/results.json (and ROOT/_judging/...)")
    parser.add_argument("--out", default="reports/index.html", help="the HTML file; plots and tables go beside it")
    parser.add_argument("--baseline", help="checkpoint the others are tested against (default: the first)")
    parser.add_argument("--checkpoints", help="folder of trainer checkpoints, for training curves")
    parser.add_argument("--title", default="evalsuite report")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.reports.html import build_report

    path = build_report(args.root, args.out, baseline=args.baseline, checkpoints_dir=args.checkpoints, title=args.title)
    print(f"wrote {path}")
    return 0
