"""``evalsuite metrics``: diversity metrics of a file of generations.

    evalsuite metrics generations.jsonl --text-field response --group-by prompt_id --out metrics.json
    evalsuite metrics generations.jsonl --metric distinct_2 --metric my_metric -M order=3
    evalsuite metrics generations.jsonl --metrics ngram_diversity,distinct_k -M distinct_k.equivalence=exact

Prints a table (within-prompt and across-prompt, with confidence intervals)
and writes the full results, signatures included, as JSON. ``--metric`` runs
metrics registered by name (built in, or from a package's ``evalsuite.metrics``
entry point) instead of the whole report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from evalsuite.config import parse_key_values
from evalsuite.errors import ConfigError

DESCRIPTION = "Diversity metrics (distinct-n, self-BLEU, entropy, repetition, compression, ...) of generations."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from evalsuite.metrics.diversity.suite import SuiteConfig
    from evalsuite.metrics.diversity.tokenize import TOKENIZERS

    d = SuiteConfig()
    p = subparsers.add_parser("metrics", help=DESCRIPTION, description=DESCRIPTION)
    add = p.add_argument
    add("input", help="JSONL file (one record a line) or JSON list of records")
    add("--text-field", default="response", help="field holding the generated text (default: response)")
    add("--group-by", default=None, help="prompt id field; enables within-prompt diversity")
    add("--model-field", default="model", help="field naming the model; one report per model (default: model)")
    add("--out", default=None, help="write the results as JSON here")
    add("--metric", action="append", default=None, metavar="NAME",
        help="run this registered metric (repeatable; built-in ids or a package's entry point) instead of the full report")
    add("--metrics", dest="metric", action="extend", metavar="A,B", type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        help="comma-separated registered metrics, e.g. ngram_diversity,self_repetition,homogenization_rougel,distinct_k")
    add("-M", "--metric-option", action="append", default=[], metavar="KEY=VALUE",
        help="option for the --metric functions (YAML value); NAME.KEY=VALUE for metric NAME only")
    add("--tokenizer", default=d.tokenizer, choices=TOKENIZERS, help="n-gram tokenizer (default: auto)")
    add("--lowercase", action="store_true", help="lowercase before counting n-grams")
    add("--bleu-tokenizer", default=d.bleu_tokenizer, choices=TOKENIZERS, help="self-BLEU tokenizer (default: 13a)")
    add("--bleu-smoothing", default=d.bleu_smoothing, help="method1 (nltk/Texygen), exp (sacrebleu), floor, none")
    add("--bleu-sample-size", type=_size, default=d.bleu_sample_size,
        help="responses pooled for across-prompt self-BLEU, seeded sample; 'all' for no sampling (default: 1000)")
    add("--within-sample-size", type=_size, default=d.within_sample_size,
        help="samples per prompt for within-prompt self-BLEU (default: all)")
    add("--ead-vocab-size", type=int, default=None,
        help="V of EAD; give the model tokenizer's vocabulary size as Liu et al. do (default: observed)")
    add("--no-ci", action="store_true", help="skip the confidence intervals")
    add("--n-boot", type=int, default=d.resampling.n_boot, help="resamples for the intervals (default: 200)")
    add("--confidence", type=float, default=d.resampling.confidence, help="interval level (default: 0.95)")
    add("--seed", type=int, default=d.seed, help="seed for samples and resamples (default: 0)")
    add("--embedding-model", default=None,
        help="sentence-transformers model id or local directory; adds embedding distance and Vendi score")
    add("--compare", default=None, help="a second generations file to compare with (same fields)")
    add("--length-matched", action="store_true",
        help="with --compare: score length-matched subsets (equal token-length histograms)")
    add("--length-bins", type=int, default=10, help="quantile bins for --length-matched (default: 10)")
    p.set_defaults(func=run)
    return p


def _size(value: str) -> int | None:
    if value.lower() in ("all", "none"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {value!r}") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"a sample needs at least 2 responses, got {n}")
    return n


def _fmt(result) -> str:
    v = result.value
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    big = abs(v) >= 100
    s = f"{v:.1f}" if big else f"{v:.4f}"
    if result.ci is not None and not math.isnan(result.ci[0]):
        lo, hi = result.ci
        s += f" [{lo:.1f}, {hi:.1f}]" if big else f" [{lo:.4f}, {hi:.4f}]"
    return s


def _print_table(title: str, columns: dict[str, dict]) -> None:
    names = list(dict.fromkeys(name for col in columns.values() for name in col))
    width = max(len(n) for n in names) + 2
    colw = {c: max(len(c), *(len(_fmt(columns[c][n])) for n in names if n in columns[c])) + 2 for c in columns}
    print(f"\n{title}")
    print("metric".ljust(width) + "".join(c.ljust(colw[c]) for c in columns))
    for n in names:
        print(n.ljust(width) + "".join((_fmt(columns[c][n]) if n in columns[c] else "-").ljust(colw[c]) for c in columns))


def _print_incomparable(cols: dict[str, dict]) -> None:
    """Name the metrics whose signatures differ between the compared sets (e.g. pool size N)."""
    from evalsuite.metrics.result import signature_diff

    (_, first), *others = cols.items()
    for name, result in first.items():
        for _, other in others:
            diff = signature_diff(result.signature, other[name].signature) if name in other else ""
            if diff:
                print(f"  not comparable: {name}: {diff}")


def run(args) -> int:
    from evalsuite.jobs.metrics_files import score_files
    from evalsuite.metrics.diversity.io import Fields
    from evalsuite.metrics.diversity.suite import SuiteConfig
    from evalsuite.metrics.resampling import Resampling

    if args.length_matched and not args.compare:
        raise ConfigError("--length-matched compares two files: add --compare OTHER.jsonl")
    config = SuiteConfig(
        tokenizer=args.tokenizer, lowercase=args.lowercase, bleu_tokenizer=args.bleu_tokenizer,
        bleu_smoothing=args.bleu_smoothing, bleu_sample_size=args.bleu_sample_size,
        within_sample_size=args.within_sample_size, ead_vocab_size=args.ead_vocab_size, seed=args.seed,
        resampling=Resampling(ci=not args.no_ci, n_boot=args.n_boot, confidence=args.confidence, seed=args.seed),
        embedding_model=args.embedding_model,
    )
    options = parse_key_values(args.metric_option, "-M")
    fields = Fields(text=args.text_field, group=args.group_by, model=args.model_field)
    paths = [args.input] + ([args.compare] if args.compare else [])
    scored = score_files(paths, fields, config, names=args.metric, options=options,
                         length_bins=args.length_bins if args.length_matched else None)
    for label, report in scored.reports.items():
        records = scored.sets[label]
        prompts = f", {len({r.group for r in records})} prompts" if args.group_by else ""
        _print_table(f"{label}: {len(records)} responses{prompts}", report)
    for mode in ("within", "across") if len(scored.reports) > 1 else ():
        cols = {label: report[mode] for label, report in scored.reports.items() if mode in report}
        if len(cols) > 1:
            _print_table(f"comparison, {mode}-prompt" + (" (length-matched)" if scored.matched else ""), cols)
            _print_incomparable(cols)
    if scored.matched:
        print(f"\nlength-matched: kept {scored.matched['kept']} of {scored.matched['of']} responses")
    if args.out:
        payload = scored.payload(paths, fields, config, args.metric, options)
        Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0
