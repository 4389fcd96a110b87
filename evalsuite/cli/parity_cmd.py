"""`evalsuite parity a b`: do two runs of the same task through different backends agree item by item?"""

from __future__ import annotations

import sys

from evalsuite.cli import EXIT_OK, EXIT_REGRESSION


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "parity", help="item-by-item agreement of two runs of one task (backends, dtypes, batch sizes)",
        description="Compare two runs of the same model, task, version and parameters computed through different "
                    "backends, dtypes or batch sizes: prediction flips, max and 50/90/99th percentile "
                    "|delta log-likelihood|, and the items that disagree. Exit codes: 0 no flips and every "
                    "|delta| within --tolerance; 1 beyond it (the gate failed, as for compare --fail-on); "
                    "2 the runs are not of the same task, version and parameters; 3 a run is unreadable.",
    )
    parser.add_argument("a", help="a run directory (results.json and samples.jsonl)")
    parser.add_argument("b", help="the other run directory")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest |delta log-likelihood| per item that still agrees (default 1e-4)")
    parser.add_argument("--format", choices=["text", "md", "json"], default="text")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """0 within the tolerance, 1 beyond it."""
    from evalsuite.reports.parity import parity, to_json_text, to_markdown, to_text

    report = parity(args.a, args.b, tolerance=args.tolerance)
    sys.stdout.write({"text": to_text, "md": to_markdown, "json": to_json_text}[args.format](report))
    if not report.within_tolerance:
        print(f"parity: {report.flips} prediction flip(s), max |delta log-likelihood| {report.max_abs_delta:.3g} "
              f"(tolerance {report.tolerance:g})", file=sys.stderr)
        return EXIT_REGRESSION
    return EXIT_OK
