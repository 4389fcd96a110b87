"""``evalsuite judge``: model judges grade generation runs; judgments and ratings that arrive as files.

    evalsuite judge panel runs/sft/generate runs/dpo/generate --judge http://127.0.0.1:8001/v1,tiny,j1 --out runs/panel
    evalsuite judge pairwise runs/sft/generate runs/dpo/generate --judges judges.yaml --out runs/pairwise
    evalsuite judge mt-bench runs/sft/turn2 --judge http://127.0.0.1:8001/v1,tiny,j1,0,,./ckpt/judge --probabilities --out runs/mt

``--probabilities`` also scores each judge's prompts from its log-likelihoods (G-Eval; the judge needs its tokenizer).

Each judge's run is written by the runner to ``OUT/<judge name>/`` (a rerun resumes from the store and retries
failed requests); ``OUT/results.json`` and ``OUT/judgments.jsonl`` combine the judges.
"""

from __future__ import annotations

import argparse

DESCRIPTION = "Judging: model judges grade generation runs (rubric panel, pairwise A/B, MT-Bench); judgment files."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from evalsuite.cli import judge_files_cmd

    p = subparsers.add_parser("judge", help=DESCRIPTION, description=DESCRIPTION)
    sub = p.add_subparsers(dest="judge_command", metavar="SUBCOMMAND")
    # `evalsuite judge` alone shows this command's help (and exits 2), not the top-level one.
    p.set_defaults(func=lambda args: p.print_help() or 2)
    judge_files_cmd.add_subcommands(sub)

    panel = sub.add_parser("panel", help="rubric judging of generation runs by a panel of model judges (blind)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    mt.add_argument("runs", nargs="+", help="runs made with -T prompts=mt_bench, or generate-turn2 runs (both turns)")
    _judge_options(mt)
    mt.add_argument("--data-dir", help="data root holding judging/ (default: $EVALSUITE_DATA_DIR)")
    mt.set_defaults(func=run_mt_bench_cmd)
    for sub_parser in (panel, pair, mt):
        sub_parser.add_argument("--probabilities", action="store_true",
                                help="also probability-weighted scores from each judge's log-likelihoods (G-Eval)")
    return p


def _judge_options(parser: argparse.ArgumentParser) -> None:
    """The options every model-judging subcommand takes: judges, the store, the output folder."""
    parser.add_argument("--judge", action="append", default=[], metavar="URL,MODEL[,NAME[,SEED[,KEYENV[,TOKENIZER]]]]",
                        help="an OpenAI-compatible judge (repeatable), e.g. http://127.0.0.1:8001/v1,tiny,j1; KEYENV: the "
                             "environment variable holding its key (sent only over https or to loopback); empty: no key; "
                             "TOKENIZER: the served model's tokenizer (for --probabilities)")
    parser.add_argument("--judges", help="YAML file with a list `judges:` of {name, base_url, model, seed, api_key_env, ...}")
    parser.add_argument("--store", help="results store (default: $EVALSUITE_STORE or ~/.cache/evalsuite/results.sqlite)")
    parser.add_argument("--out", required=True, help="folder for results.json and judgments.jsonl")


def _judge(args: argparse.Namespace, task: str, params: dict, data=None) -> list[str]:
    """Run ``task`` once per judge into ``args.out/<judge>``; the judges' names."""
    from pathlib import Path

    from evalsuite.registry import get_task
    from evalsuite.runner import default_store_path
    from evalsuite.store import ResultStore
    from evalsuite.tasks.judging.judges import load_judge_specs, run_judges

    specs = load_judge_specs(args.judge, args.judges)
    scoring = get_task(f"{task}-probs") if getattr(args, "probabilities", False) else None
    with ResultStore(Path(args.store) if args.store else default_store_path()) as store:
        run_judges(get_task(task), {"runs": args.runs, **params}, specs, store, args.out, data=data, probability_cls=scoring)
    return [spec.name for spec in specs]


def _counts(c: dict[str, int], what: str) -> str:
    return (f"{c['ok']} {what}, {c['unparseable']} unparseable (excluded), {c['failed']} failed (rerun to retry), "
            f"{c['from_store']} from the store")


def run_panel_cmd(args: argparse.Namespace) -> int:
    from evalsuite.reports.judge_runs import combine_panel

    params = {"rubric": args.rubric, "samples_per_prompt": args.samples_per_prompt, "seed": args.seed}
    result = combine_panel(args.out, _judge(args, "judge-rubric", params))
    print(f"{result.items} answers x {len(result.judges)} judges: " + _counts(result.judgments, "scored"))
    dims = [d["name"] for d in result.rubric["dimensions"]]
    for field, table in [("parsed", result.scores)] + [("probability", result.probability_scores or {})] * bool(
            result.probability_scores):
        print(f"{'run (' + field + ')':<24}" + "".join(f"{d:>22}" for d in dims))
        for label, stats in table.items():
            cells = [_mean(s) for s in (stats[d] for d in dims)]
            print(f"{label:<24}" + "".join(f"{cell:>22}" for cell in cells))
    for dim, a in (result.scoring_agreement or {}).items():
        rho = "-" if a.spearman is None else f"{a.spearman:.3f}"
        print(f"parsed vs probability scores, {dim}: Spearman {rho} over {a.n_both} items with both")
    alphas = {d: a.krippendorff_alpha_ordinal for d, a in result.agreement.items()}
    print("Krippendorff's alpha (ordinal) across judges: "
          + ", ".join(f"{d} {'-' if a is None else f'{a:.3f}'}" for d, a in alphas.items()))
    return _done(args, result.judgments)


def run_pairwise_cmd(args: argparse.Namespace) -> int:
    from evalsuite.reports.judge_pairwise import combine_pairwise

    result = combine_pairwise(args.out, _judge(args, "judge-pairwise", {"seed": args.seed}))
    print(_counts(result.judgments, "verdicts"))
    print(f"{'candidate vs baseline':<40} {'judge':<12} {'win rate':>9} {'95% CI':>17} {'W/T/L':>11} {'order-inconsistent':>19}")
    for s in result.pairs:
        ci = "-" if s.ci is None else f"[{_pct(s.ci[0])}, {_pct(s.ci[1])}]"
        print(f"{s.candidate + ' vs ' + s.baseline:<40} {s.judge:<12} {_pct(s.win_rate):>9} {ci:>17} "
              f"{f'{s.wins}/{s.ties}/{s.losses}':>11} {_pct(s.order_inconsistent_share):>18}%"
              + ("" if s.probability_win_rate is None else f"  probability-weighted {_pct(s.probability_win_rate)}%"))
    return _done(args, result.judgments)


def run_mt_bench_cmd(args: argparse.Namespace) -> int:
    from evalsuite.data import DataRoots
    from evalsuite.reports.judge_runs import combine_mt_bench

    result = combine_mt_bench(args.out, _judge(args, "judge-mt-bench", {}, DataRoots.from_env(args.data_dir)))
    print(_counts(result.judgments, "ratings"))
    for field, table in (("parsed", result.scores), ("probability", result.probability_scores or {})):
        for label, per_judge in table.items():
            for judge, s in per_judge.items():
                turns = "".join(f", turn {t} {_mean(m)}" for t, m in s.by_turn.items())
                print(f"{label:<28} {judge:<14} {field:<12} mean {_mean(s)} (n={s.n}){turns}")
    return _done(args, result.judgments)


def _mean(s) -> str:
    return "-" if s.mean is None else f"{s.mean:.2f}" + (f" [{s.ci[0]:.2f},{s.ci[1]:.2f}]" if s.ci else "")


def _done(args: argparse.Namespace, counts: dict[str, int]) -> int:
    """Say what was written; exit 5 when some judge requests failed (a rerun retries only those)."""
    from evalsuite.cli import EXIT_INCOMPLETE, EXIT_OK

    print(f"wrote {args.out}/results.json and judgments.jsonl")
    return EXIT_INCOMPLETE if counts["failed"] else EXIT_OK


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"
