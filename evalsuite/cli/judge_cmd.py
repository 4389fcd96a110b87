"""``evalsuite judge``: pairwise judging statistics.

    evalsuite judge import annotations.json --format alpaca_eval --out runs/judge
    evalsuite judge import gpt-4_pair.jsonl --format mt_bench --baseline gpt-3.5-turbo --out runs/mt

Prints one row per model (percentages, as AlpacaEval and FastChat print
them) and writes ``OUT/results.json`` and ``OUT/judgments.jsonl``.
"""

from __future__ import annotations

import argparse

DESCRIPTION = "Pairwise judging: import AlpacaEval / MT-Bench judgments and compute win rates and biases."


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("judge", help=DESCRIPTION, description=DESCRIPTION)
    sub = p.add_subparsers(dest="judge_command", metavar="SUBCOMMAND")
    # `evalsuite judge` alone shows this command's help (and exits 2), not the top-level one.
    p.set_defaults(func=lambda args: p.print_help() or 2)
    imp = sub.add_parser("import", help="import a judgment file and write win rates", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", help="AlpacaEval annotations.json or FastChat pairwise judgment JSONL")
    imp.add_argument("--format", required=True, choices=("alpaca_eval", "mt_bench"), help="format of FILE")
    imp.add_argument("--out", required=True, help="run folder for results.json and judgments.jsonl")
    imp.add_argument("--baseline", default=None,
                     help="baseline model (AlpacaEval default: generator_1; MT-Bench default: every pair counts)")
    imp.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals (default: 1000)")
    imp.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    imp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    imp.set_defaults(func=run_import)
    return p


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def run_import(args: argparse.Namespace) -> int:
    from evalsuite.tasks.judge_import import import_judgments, write_run

    result, judgments = import_judgments(args.file, args.format, baseline=args.baseline, n_boot=args.n_boot,
                                         confidence=args.confidence, seed=args.seed)
    write_run(args.out, result, judgments)
    print(f"{result.format}: {result.records} records, {result.unparseable} unparseable (excluded)"
          + (f", {result.skipped_without_baseline} without the baseline (skipped)" if result.skipped_without_baseline else "")
          + (f"; baseline {result.baseline}" if result.baseline else ""))
    header = f"{'model':<32} {'win rate':>9} {'± se':>6} {'95% CI':>15} {'W/T/L':>13}"
    header += f" {'soft':>7} {'± se':>6}" if result.format == "alpaca_eval" else f" {'order-inconsistent':>19}"
    print(header)
    for name, m in sorted(result.models.items(), key=lambda kv: -(kv[1].win_rate.win_rate or 0)):
        w = m.win_rate
        ci = "-" if w.ci is None else f"[{_pct(w.ci[0])}, {_pct(w.ci[1])}]"
        line = f"{name:<32} {_pct(w.win_rate):>9} {_pct(w.standard_error):>6} {ci:>15} {f'{w.wins}/{w.ties}/{w.losses}':>13}"
        if m.soft is not None:
            line += f" {_pct(m.soft.soft_win_rate):>7} {_pct(m.soft.standard_error):>6}"
        elif m.position_bias is not None:
            line += f" {_pct(m.position_bias.share_inconsistent):>18}%"
        print(line)
    if result.bradley_terry_error:
        print(f"Bradley-Terry not fitted: {result.bradley_terry_error}")
    print(f"wrote {args.out}/results.json and {args.out}/judgments.jsonl")
    return 0
