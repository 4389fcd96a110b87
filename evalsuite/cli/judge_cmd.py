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

    panel = sub.add_parser("panel", help="rubric judging of generation runs by a panel of model judges (blind)")
    panel.add_argument("runs", nargs="+", help="generation run directories (samples.jsonl)")
    _judge_options(panel)
    panel.add_argument("--rubric", default="default", help="default, default-en, default-zh, or a rubric .yaml file")
    panel.add_argument("--samples-per-prompt", type=int, default=1, help="answers judged per prompt and run")
    panel.add_argument("--seed", type=int, default=0, help="seed of the shuffled judging order and the bootstrap")
    panel.set_defaults(func=run_panel_cmd)

    pair = sub.add_parser("pairwise", help="A/B judging of two or more generation runs, both orders, by model judges")
    pair.add_argument("runs", nargs="+", help="generation run directories; the first is the baseline")
    _judge_options(pair)
    pair.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    pair.set_defaults(func=run_pairwise_cmd)

    mt = sub.add_parser("mt-bench", help="MT-Bench single-answer grading (1-10) with the published judge prompts")
    mt.add_argument("runs", nargs="+", help="generation runs made with -T prompts=mt_bench")
    _judge_options(mt)
    mt.add_argument("--data-dir", help="data root holding judging/ (default: $EVALSUITE_DATA_DIR)")
    mt.set_defaults(func=run_mt_bench_cmd)

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
    return p


def run_mt_bench_cmd(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from evalsuite.errors import DataError
    from evalsuite.runner import default_store_path
    from evalsuite.store import ResultStore
    from evalsuite.tasks.mt_bench_judge import run_mt_bench, write_mt_bench

    root = args.data_dir or os.environ.get("EVALSUITE_DATA_DIR")
    if not root:
        raise DataError("MT-Bench grading reads the published judge prompts from <data>/judging: set EVALSUITE_DATA_DIR or --data-dir")
    specs = judge_specs(args.judge, args.judges)
    with ResultStore(Path(args.store) if args.store else default_store_path()) as store:
        result, records = run_mt_bench(args.runs, specs, store, Path(root) / "judging")
    write_mt_bench(args.out, result, records)
    c = result.judgments
    print(f"{c['ok']} ratings, {c['unparseable']} unparseable (excluded), {c['failed']} failed, {c['from_store']} from the store")
    for label, per_judge in result.scores.items():
        for judge, s in per_judge.items():
            mean = "-" if s.mean is None else f"{s.mean:.2f}"
            print(f"{label:<28} {judge:<14} mean {mean} (n={s.n})")
    print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


def run_export_sheet(args: argparse.Namespace) -> int:
    from evalsuite.tasks.human_ratings import export_sheet
    from evalsuite.tasks.judge_panel import load_items
    from evalsuite.tasks.judging.rubric import load_rubric

    folder = export_sheet(load_items(args.runs, args.samples_per_prompt), load_rubric(args.rubric), args.out, seed=args.seed)
    print(f"wrote {folder / 'sheet.csv'} and {folder / 'form.html'} for raters; keep {folder / 'key.json'} to yourself")
    return 0


def run_import_ratings(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalsuite.results import atomic_write_text
    from evalsuite.tasks.human_ratings import import_ratings

    result = import_ratings(args.sheet, args.ratings, panel_dir=args.panel)
    atomic_write_text(Path(args.out) / "results.json", result.model_dump_json(indent=2))
    for label, dims in result.means.items():
        cells = [f"{dim} " + ("-" if v["mean"] is None else f"{v['mean']:.2f}") for dim, v in dims.items()]
        print(f"{label}: " + ", ".join(cells))
    for dim, entry in result.human_agreement.items():
        alpha = entry["krippendorff_alpha_ordinal"]
        print(f"human-human {dim}: Krippendorff's alpha {'-' if alpha is None else f'{alpha:.3f}'}")
    print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


def run_pairwise_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalsuite.runner import default_store_path
    from evalsuite.store import ResultStore
    from evalsuite.tasks.judge_pairwise import run_pairwise, write_pairwise

    specs = judge_specs(args.judge, args.judges)
    with ResultStore(Path(args.store) if args.store else default_store_path()) as store:
        result, records = run_pairwise(args.runs, specs, store, seed=args.seed)
    write_pairwise(args.out, result, records)
    c = result.judgments
    print(f"{c['ok']} verdicts, {c['unparseable']} unparseable (excluded), {c['failed']} failed (rerun to retry), "
          f"{c['from_store']} from the store")
    print(f"{'candidate vs baseline':<40} {'judge':<12} {'win rate':>9} {'95% CI':>17} {'W/T/L':>11} {'order-inconsistent':>19}")
    for s in result.pairs:
        ci = "-" if s.ci is None else f"[{_pct(s.ci[0])}, {_pct(s.ci[1])}]"
        print(f"{s.candidate + ' vs ' + s.baseline:<40} {s.judge:<12} {_pct(s.win_rate):>9} {ci:>17} "
              f"{f'{s.wins}/{s.ties}/{s.losses}':>11} {_pct(s.order_inconsistent_share):>18}%")
    print(f"wrote {Path(args.out) / 'results.json'} and judgments.jsonl")
    return 0


def _judge_options(parser: argparse.ArgumentParser) -> None:
    """The options every model-judging subcommand takes: judges, the store, the output folder."""
    parser.add_argument("--judge", action="append", default=[], metavar="URL,MODEL[,NAME[,SEED]]",
                        help="an OpenAI-compatible judge (repeatable); e.g. http://127.0.0.1:8001/v1,tiny,j1")
    parser.add_argument("--judges", help="YAML file with a list `judges:` of {name, base_url, model, seed, ...}")
    parser.add_argument("--store", help="results store (default: $EVALSUITE_STORE or ~/.cache/evalsuite/results.sqlite)")
    parser.add_argument("--out", required=True, help="folder for results.json and judgments.jsonl")


def judge_specs(judge: list[str], judges_file: str | None) -> list:
    """Judges from ``--judge URL,MODEL[,NAME[,SEED]]`` options and/or a ``--judges`` YAML file."""
    from evalsuite.config import load_yaml, validate
    from evalsuite.errors import ConfigError
    from evalsuite.tasks.judge_panel import JudgeSpec

    specs = []
    if judges_file:
        data = load_yaml(judges_file)
        if not isinstance(data.get("judges"), list):
            raise ConfigError(f"{judges_file}: expected a list under `judges:`")
        specs += [validate(JudgeSpec, j, f"judge {i} in {judges_file}") for i, j in enumerate(data["judges"])]
    for i, text in enumerate(judge):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 2:
            raise ConfigError(f"--judge expects URL,MODEL[,NAME[,SEED]], got {text!r}")
        fields = {"base_url": parts[0], "model": parts[1], "name": parts[2] if len(parts) > 2 else f"judge{i + 1}"}
        if len(parts) > 3:
            fields["seed"] = int(parts[3])
        specs.append(validate(JudgeSpec, fields, f"--judge {text!r}"))
    if not specs:
        raise ConfigError("name at least one judge with --judge URL,MODEL or --judges FILE")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"judge names must be unique, got {names}")
    return specs


def run_panel_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalsuite.runner import default_store_path
    from evalsuite.store import ResultStore
    from evalsuite.tasks.judge_panel import load_items, run_panel, write_panel
    from evalsuite.tasks.judging.rubric import load_rubric

    specs = judge_specs(args.judge, args.judges)
    rubric = load_rubric(args.rubric)
    items = load_items(args.runs, args.samples_per_prompt)
    with ResultStore(Path(args.store) if args.store else default_store_path()) as store:
        result, records = run_panel(items, specs, rubric, store, seed=args.seed)
    write_panel(args.out, result, records)
    c = result.judgments
    print(f"{result.items} answers x {len(specs)} judges: {c['ok']} scored, {c['unparseable']} unparseable (excluded), "
          f"{c['failed']} failed (rerun to retry), {c['from_store']} from the store")
    dims = [d["name"] for d in result.rubric["dimensions"]]
    print(f"{'run':<24}" + "".join(f"{d:>22}" for d in dims))
    for label, stats in result.scores.items():
        cells = []
        for d in dims:
            s = stats[d]
            cells.append("-" if s.mean is None else f"{s.mean:.2f}" + (f" [{s.ci[0]:.2f},{s.ci[1]:.2f}]" if s.ci else ""))
        print(f"{label:<24}" + "".join(f"{cell:>22}" for cell in cells))
    alphas = {d: a.krippendorff_alpha_ordinal for d, a in result.agreement.items()}
    print("Krippendorff's alpha (ordinal) across judges: "
          + ", ".join(f"{d} {'-' if a is None else f'{a:.3f}'}" for d, a in alphas.items()))
    print(f"wrote {Path(args.out) / 'results.json'} and judgments.jsonl")
    return 0


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
