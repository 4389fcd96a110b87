"""`evalsuite plan suite.yaml`: per task and metric, the smallest change the suite can detect, and the items an effect needs."""

from __future__ import annotations

import json


def add_parser(subparsers):
    parser = subparsers.add_parser("plan", help="power planning: minimum detectable effects of a suite, items needed for an effect")
    parser.add_argument("suite", help="suite YAML (as for evalsuite nightly)")
    parser.add_argument("--history", metavar="OUT",
                        help="a nightly --out folder: use the discordance and variance observed on its latest night")
    parser.add_argument("--effect", type=float, help="an effect to detect (e.g. 0.02): print the items each task needs")
    parser.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level")
    parser.add_argument("--power", type=float, default=0.8, help="wanted probability of detecting the effect")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.jobs.plan import plan_lines, plan_suite

    plan = plan_suite(args.suite, history=args.history, effect=args.effect, alpha=args.alpha, power=args.power)
    print(json.dumps(plan.to_dict(), indent=2) if args.format == "json" else "\n".join(plan_lines(plan)))
    return 0
