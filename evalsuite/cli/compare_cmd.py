"""`evalsuite compare a b`: deltas, paired tests and a regression gate between two sets of runs."""

from __future__ import annotations

import sys


def add_parser(subparsers):
    parser = subparsers.add_parser("compare", help="compare two run directories with paired significance tests")
    parser.add_argument("a", help="baseline: a run directory, or a folder of run directories")
    parser.add_argument("b", help="candidate: a run directory, or a folder of run directories")
    parser.add_argument("--format", choices=["table", "md", "json", "html"], default="table")
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate for the Holm correction")
    parser.add_argument("--n-boot", type=int, default=2000, help="paired bootstrap resamples for the delta CIs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fail-on", metavar="RULES",
        help='exit 1 when a delta (b - a) crosses a threshold, e.g. "mmlu.acc<-0.01,ceval.acc<-0.02"',
    )
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.reports.compare import compare, failed_rules, parse_fail_on, print_table, to_html, to_json, to_markdown

    rules = parse_fail_on(args.fail_on) if args.fail_on else []
    result = compare(args.a, args.b, alpha=args.alpha, n_boot=args.n_boot, seed=args.seed)
    if args.format == "table":
        print_table(result)
    else:
        sys.stdout.write({"md": to_markdown, "json": to_json, "html": to_html}[args.format](result))
    failures = failed_rules(result, rules)
    for failure in failures:
        print(f"regression: {failure}", file=sys.stderr)
    return 1 if failures else 0
