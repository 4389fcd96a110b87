"""``evalsuite judge import | export-sheet | import-ratings``: judgments and ratings that arrive as files.

    evalsuite judge import annotations.json --format alpaca_eval --out runs/judge
    evalsuite judge import gpt-4_pair.jsonl --format mt_bench --baseline gpt-3.5-turbo --out runs/mt

``import`` prints one row per model (percentages, as AlpacaEval and FastChat
print them) and writes ``OUT/results.json`` and ``OUT/judgments.jsonl``.
"""

from __future__ import annotations

import argparse


def add_subcommands(sub) -> None:
    """Add ``import``, ``export-sheet`` and ``import-ratings`` to the subparsers of ``evalsuite judge``."""
    imp = sub.add_parser("import", help="import a judgment file and write win rates", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", help="AlpacaEval annotations.json or FastChat pairwise judgment JSONL")
    imp.add_argument("--format", required=True, choices=("alpaca_eval", "mt_bench", "mt_bench_single"),
                     help="format of FILE (mt_bench_single: FastChat single-answer gradings, per turn)")
    imp.add_argument("--out", required=True, help="run folder for results.json and judgments.jsonl")
    imp.add_argument("--baseline", default=None,
                     help="baseline model (AlpacaEval default: generator_1; MT-Bench default: every pair counts)")
    imp.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for intervals (default: 1000)")
    imp.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    imp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    imp.add_argument("--lc-table", help="AlpacaEval's df_gamed.csv: length control as AlpacaEval 2 (length_controlled_v1); "
                     "without it the minimal GLM (length and intercept only)")
    imp.add_argument("--lc-instructions", help="the instruction list df_gamed.csv indexes (JSON), e.g. "
                     "judging/alpaca_eval_instructions.json")
    imp.set_defaults(func=run_import)

    sheet = sub.add_parser("export-sheet", help="blind rating sheet (CSV + self-contained HTML form) for human raters")
    sheet.add_argument("runs", nargs="+", help="generation run directories")
    sheet.add_argument("--rubric", default="default", help="default, default-en, default-zh, or a rubric .yaml file")
    sheet.add_argument("--samples-per-prompt", type=int, default=1)
    sheet.add_argument("--seed", type=int, default=0, help="seed of the shuffled item order")
    sheet.add_argument("--out", required=True, help="folder for sheet.csv, form.html and key.json (keep key.json from raters)")
    sheet.set_defaults(func=run_export_sheet)

    ratings = sub.add_parser("import-ratings", help="human means and agreement from filled-in rating sheets")
    ratings.add_argument("sheet", help="the folder export-sheet wrote (reads key.json)")
    ratings.add_argument("ratings", nargs="+", help="one filled-in CSV per rater")
    ratings.add_argument("--panel", help="a judge panel run folder, for judge-human agreement")
    ratings.add_argument("--out", required=True, help="folder for results.json")
    ratings.set_defaults(func=run_import_ratings)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def run_import(args: argparse.Namespace) -> int:
    from evalsuite.metrics.resampling import Resampling
    from evalsuite.errors import ConfigError
    from evalsuite.reports.judge_import import import_judgments, read_lc_table, write_run

    if (args.lc_table is None) != (args.lc_instructions is None):
        raise ConfigError("--lc-table and --lc-instructions go together: the table indexes that instruction list")
    table = read_lc_table(args.lc_table, args.lc_instructions) if args.lc_table else None
    resampling = Resampling(ci=True, n_boot=args.n_boot, confidence=args.confidence, seed=args.seed)
    if args.format == "mt_bench_single":
        return _run_import_single(args, resampling)
    result, judgments = import_judgments(args.file, args.format, baseline=args.baseline, resampling=resampling,
                                         lc_table=table)
    write_run(args.out, result, judgments)
    print(f"{result.format}: {result.records} records, {result.unparseable} unparseable (excluded)"
          + (f", {result.skipped_without_baseline} without the baseline (skipped)" if result.skipped_without_baseline else "")
          + (f"; baseline {result.baseline}" if result.baseline else ""))
    header = f"{'model':<32} {'win rate':>9} {'± se':>6} {'95% CI':>15} {'W/T/L':>13}"
    header += f" {'soft':>7} {'± se':>6} {'LC':>7} {'± se':>6}" if result.format == "alpaca_eval" else f" {'order-inconsistent':>19}"
    print(header)
    for name, m in sorted(result.models.items(), key=lambda kv: -(kv[1].win_rate.win_rate or 0)):
        w = m.win_rate
        ci = "-" if w.ci is None else f"[{_pct(w.ci[0])}, {_pct(w.ci[1])}]"
        line = f"{name:<32} {_pct(w.win_rate):>9} {_pct(w.standard_error):>6} {ci:>15} {f'{w.wins}/{w.ties}/{w.losses}':>13}"
        if m.soft is not None:
            lc = m.length_controlled
            line += f" {_pct(m.soft.soft_win_rate):>7} {_pct(m.soft.standard_error):>6}"
            line += f" {_pct(lc.value if lc else None):>7} {_pct(lc.standard_error if lc else None):>6}"
        elif m.position_bias is not None:
            line += f" {_pct(m.position_bias.share_inconsistent):>18}%"
        print(line)
    for name, m in sorted(result.models.items()):
        lc = m.length_controlled
        if lc is not None:
            ci = "-" if lc.ci is None else f"[{_pct(lc.ci[0])}, {_pct(lc.ci[1])}]"
            coef = ", ".join(f"{k} {v:+.3f}" for k, v in lc.coefficients.items())
            print(f"LC {name}: {lc.glm}, {ci} bootstrap CI, coefficients {coef}"
                  + (" (far from the raw win rate: check the fit)" if lc.extreme_change else ""))
        elif m.length_controlled_error:
            print(f"LC {name}: not fitted ({m.length_controlled_error})")
    if result.bradley_terry_error:
        print(f"Bradley-Terry not fitted: {result.bradley_terry_error}")
    print(f"wrote {args.out}/results.json and {args.out}/judgments.jsonl")
    return 0


def run_export_sheet(args: argparse.Namespace) -> int:
    from evalsuite.tasks.judging.human_sheet import export_sheet
    from evalsuite.tasks.judging.items import load_items
    from evalsuite.tasks.judging.rubric import load_rubric

    folder = export_sheet(load_items(args.runs, args.samples_per_prompt), load_rubric(args.rubric), args.out, seed=args.seed)
    print(f"wrote {folder / 'sheet.csv'} and {folder / 'form.html'} for raters; keep {folder / 'key.json'} to yourself")
    return 0


def _run_import_single(args: argparse.Namespace, resampling) -> int:
    from evalsuite.reports.mt_bench_single import import_single, write_single

    result, records = import_single(args.file, resampling)
    write_single(args.out, result, records)
    print(f"mt_bench_single: {result.records} gradings, {result.unparseable} unparseable (score -1, excluded)")
    print(f"{'model':<32} {'turn 1':>8} {'turn 2':>8} {'average':>8} {'95% CI (average)':>18}")
    for name, m in sorted(result.models.items(), key=lambda kv: -(kv[1].average.mean or 0)):
        cells = ["-" if t.mean is None else f"{t.mean:.4f}" for t in (m.turn_1, m.turn_2, m.average)]
        ci = "-" if m.average.ci is None else f"[{m.average.ci[0]:.2f}, {m.average.ci[1]:.2f}]"
        print(f"{name:<32} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} {ci:>18}")
    print(f"wrote {args.out}/results.json and {args.out}/judgments.jsonl")
    return 0


def run_import_ratings(args: argparse.Namespace) -> int:
    from evalsuite.reports.human_ratings import import_ratings, write_ratings

    result = import_ratings(args.sheet, args.ratings, panel_dir=args.panel)
    path = write_ratings(args.out, result)
    for label, dims in result.means.items():
        cells = [f"{dim} " + ("-" if v.mean is None else f"{v.mean:.2f}") for dim, v in dims.items()]
        print(f"{label}: " + ", ".join(cells))
    for dim, entry in result.human_agreement.items():
        alpha = entry.krippendorff_alpha_ordinal
        print(f"human-human {dim}: Krippendorff's alpha {'-' if alpha is None else f'{alpha:.3f}'}")
    print(f"wrote {path}")
    return 0
