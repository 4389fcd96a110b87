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
             '"mmlu.acc<-0.01@point", "mmlu.acc<-0.01@ci", "mmlu.acc~0.01" (must not move: equivalence), or on a '
             'similarity level: "generate.homogenization_rougel.between>0.8"; a rule on a judge-derived metric whose panel '
             'disagrees (--min-judge-alpha) is refused and exits 2 unless another rule failed',
    )
    parser.add_argument("--embedder", metavar="PATH",
                        help="a local sentence-transformers folder: adds embedding-cosine similarity of the two runs' answers "
                             "(nothing is downloaded; without it only ROUGE-L)")
    parser.add_argument("--judging", metavar="PATH",
                        help="a rubric panel folder (or a folder of them) to compare; default: _judging/* beside a or b")
    parser.add_argument("--min-judge-alpha", type=float, metavar="ALPHA",
                        help="panel Krippendorff alpha below which a judge-derived metric refuses to gate "
                             "(default: 0.667, Krippendorff's lowest for tentative conclusions)")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.reports.compare import compare, print_table, to_html, to_json, to_markdown
    from evalsuite.reports.gates import evaluate, parse_fail_on
    from evalsuite.reports.judge_audit import GATE_ALPHA

    rules = parse_fail_on(args.fail_on)
    if any(rule.mode == "history" for rule in rules):
        from evalsuite.errors import ConfigError

        raise ConfigError("--fail-on: history rules compare with earlier nights and belong in a nightly suite's fail_on")
    result = compare(args.a, args.b, alpha=args.alpha, n_boot=args.n_boot, seed=args.seed, embedder=args.embedder,
                     judging=args.judging,
                     min_judge_alpha=GATE_ALPHA if args.min_judge_alpha is None else args.min_judge_alpha)
    verdicts = evaluate(result, rules, against=str(args.a))
    if args.format == "table":
        print_table(result)
        for verdict in verdicts:
            print(f"{verdict.status} {verdict.message}")
    else:
        sys.stdout.write({"md": to_markdown, "json": to_json, "html": to_html}[args.format](result, verdicts))
    failures = [v for v in verdicts if v.failed]
    for failure in failures:
        print(f"regression: {failure.message}", file=sys.stderr)
    refused = [v for v in verdicts if v.refused]
    if refused and not failures:  # fail closed: a gate that cannot be evaluated never passes silently
        from evalsuite.errors import ConfigError

        raise ConfigError(f"--fail-on: {len(refused)} rule(s) could not be evaluated: "
                          + "; ".join(f"{v.rule} on {v.name}: {v.refused}" for v in refused))
    return 1 if failures else 0
