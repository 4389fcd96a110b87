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
        help='exit 1 when a rule on a delta (b - a) fails, e.g. "mmlu.acc<-0.01" (threshold crossed and Holm-significant), '
             '"mmlu.acc<-0.01@point", "mmlu.acc<-0.01@ci", "mmlu.acc~0.01" (must not move: equivalence)',
    )
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.reports.compare import compare, print_table, to_html, to_json, to_markdown
    from evalsuite.reports.gates import evaluate, parse_fail_on

    rules = parse_fail_on(args.fail_on)
    if any(rule.mode == "history" for rule in rules):
        from evalsuite.errors import ConfigError

        raise ConfigError("--fail-on: history rules compare with earlier nights and belong in a nightly suite's fail_on")
    result = compare(args.a, args.b, alpha=args.alpha, n_boot=args.n_boot, seed=args.seed)
    verdicts = evaluate(result, rules, against=str(args.a))
    if args.format == "table":
        print_table(result)
        for verdict in verdicts:
            print(("FAIL " if verdict.failed else "pass ") + verdict.message)
    else:
        sys.stdout.write({"md": to_markdown, "json": to_json, "html": to_html}[args.format](result, verdicts))
    failures = [v for v in verdicts if v.failed]
    for failure in failures:
        print(f"regression: {failure.message}", file=sys.stderr)
    return 1 if failures else 0
