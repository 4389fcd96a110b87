"""``evalsuite metrics``: diversity metrics of a file of generations.

    evalsuite metrics generations.jsonl --text-field response --group-by prompt_id --out metrics.json

Prints a table (within-prompt and across-prompt, with confidence intervals)
and writes the full results, signatures included, as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from evalsuite.errors import ConfigError, DataError

DESCRIPTION = "Diversity metrics (distinct-n, self-BLEU, entropy, repetition, compression, ...) of generations."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from evalsuite.metrics.diversity.suite import SuiteConfig
    from evalsuite.metrics.diversity.tokenize import TOKENIZERS

    defaults = SuiteConfig()
    p = subparsers.add_parser("metrics", help=DESCRIPTION, description=DESCRIPTION)
    p.add_argument("input", help="JSONL file (one record a line) or JSON list of records")
    p.add_argument("--text-field", default="response", help="field holding the generated text (default: response)")
    p.add_argument("--group-by", default=None, help="prompt id field; enables within-prompt diversity")
    p.add_argument("--model-field", default="model", help="field naming the model; one report per model (default: model)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--tokenizer", default=defaults.tokenizer, choices=TOKENIZERS, help="n-gram tokenizer (default: auto)")
    p.add_argument("--lowercase", action="store_true", help="lowercase before counting n-grams")
    p.add_argument("--bleu-tokenizer", default=defaults.bleu_tokenizer, choices=TOKENIZERS, help="self-BLEU tokenizer (default: 13a)")
    p.add_argument("--bleu-smoothing", default=defaults.bleu_smoothing, help="method1 (nltk/Texygen), exp (sacrebleu), floor, none")
    p.add_argument("--bleu-sample-size", type=_size, default=defaults.bleu_sample_size,
                   help="responses pooled for across-prompt self-BLEU, seeded sample; 'all' for no sampling (default: 1000)")
    p.add_argument("--within-sample-size", type=_size, default=defaults.within_sample_size,
                   help="samples per prompt for within-prompt self-BLEU (default: all)")
    p.add_argument("--ead-vocab-size", type=int, default=None,
                   help="V of EAD; give the model tokenizer's vocabulary size as Liu et al. do (default: observed)")
    p.add_argument("--no-ci", action="store_true", help="skip the confidence intervals")
    p.add_argument("--n-boot", type=int, default=defaults.n_boot, help="resamples for the intervals (default: 200)")
    p.add_argument("--confidence", type=float, default=defaults.confidence, help="interval level (default: 0.95)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for samples and resamples (default: 0)")
    p.add_argument("--embedding-model", default=None,
                   help="sentence-transformers model id or local directory; adds embedding distance and Vendi score")
    p.add_argument("--compare", default=None, help="a second generations file to compare with (same fields)")
    p.add_argument("--length-matched", action="store_true",
                   help="with --compare: score length-matched subsets (equal token-length histograms)")
    p.add_argument("--length-bins", type=int, default=10, help="quantile bins for --length-matched (default: 10)")
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


def _split_by_model(records) -> dict[str, list]:
    by_model: dict[str, list] = {}
    for r in records:
        by_model.setdefault(r.model if r.model is not None else "all", []).append(r)
    return by_model


def _report(records, group_by, config):
    from evalsuite.metrics.diversity.suite import diversity_report

    texts = [r.text for r in records]
    groups = [r.group for r in records] if group_by else None
    return diversity_report(texts, groups, config)


def _fmt(result) -> str:
    v = result.value
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    s = f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    if result.ci is not None and not math.isnan(result.ci[0]):
        lo, hi = result.ci
        s += f" [{lo:.4f}, {hi:.4f}]" if abs(v) < 100 else f" [{lo:.1f}, {hi:.1f}]"
    return s


def _print_table(title: str, columns: dict[str, dict], out=None) -> None:
    out = out or sys.stdout
    names: list[str] = []
    for col in columns.values():
        for k in col:
            if k not in names:
                names.append(k)
    width = max(len(n) for n in names) + 2
    colw = {c: max(len(c), *(len(_fmt(columns[c][n])) for n in names if n in columns[c])) + 2 for c in columns}
    print(f"\n{title}", file=out)
    print("metric".ljust(width) + "".join(c.ljust(colw[c]) for c in columns), file=out)
    for n in names:
        row = n.ljust(width) + "".join((_fmt(columns[c][n]) if n in columns[c] else "-").ljust(colw[c]) for c in columns)
        print(row, file=out)


def _print_incomparable(cols: dict[str, dict]) -> None:
    """Name the metrics whose signatures differ between the compared sets (e.g. pool size N)."""
    from evalsuite.metrics.result import signature_diff

    labels = list(cols)
    first = cols[labels[0]]
    for name, result in first.items():
        for other in labels[1:]:
            if name in cols[other]:
                diff = signature_diff(result.signature, cols[other][name].signature)
                if diff:
                    print(f"  not comparable: {name}: {diff}")


def run(args) -> int:
    from dataclasses import asdict

    import numpy as np

    from evalsuite.metrics.diversity.io import read_records
    from evalsuite.metrics.diversity.lengths import match_lengths
    from evalsuite.metrics.diversity.ngrams import encode
    from evalsuite.metrics.result import METRICS_VERSION
    from evalsuite.metrics.diversity.suite import SuiteConfig

    if args.length_matched and not args.compare:
        raise ConfigError("--length-matched compares two files: add --compare OTHER.jsonl")
    config = SuiteConfig(
        tokenizer=args.tokenizer, lowercase=args.lowercase, bleu_tokenizer=args.bleu_tokenizer,
        bleu_smoothing=args.bleu_smoothing, bleu_sample_size=args.bleu_sample_size,
        within_sample_size=args.within_sample_size, ead_vocab_size=args.ead_vocab_size, ci=not args.no_ci, n_boot=args.n_boot,
        confidence=args.confidence, seed=args.seed, embedding_model=args.embedding_model,
    )
    fields = dict(text_field=args.text_field, group_field=args.group_by, model_field=args.model_field)
    inputs = {args.input: read_records(args.input, **fields)}
    if args.compare:
        inputs[args.compare] = read_records(args.compare, **fields)

    sets: dict[str, list] = {}
    for path, records in inputs.items():
        for model, recs in _split_by_model(records).items():
            label = model if len(inputs) == 1 else f"{Path(path).name}:{model}"
            sets[label] = recs
    matched_note = None
    if args.length_matched:
        if len(sets) != 2:
            raise ConfigError(f"--length-matched needs exactly two sets to compare, got {len(sets)}: {', '.join(sets)}")
        (la, ra), (lb, rb) = sets.items()
        lengths = [encode([r.text for r in recs], args.tokenizer).lengths for recs in (ra, rb)]
        ia, ib = match_lengths(lengths[0], lengths[1], n_bins=args.length_bins, seed=args.seed)
        if len(ia) < 2:
            raise DataError(
                f"length matching kept {len(ia)} responses: the two sets' token lengths do not overlap "
                f"({la}: median {int(np.median(lengths[0]))}, {lb}: median {int(np.median(lengths[1]))}); "
                "compare without --length-matched or with fewer --length-bins"
            )
        sets = {la: [ra[i] for i in ia], lb: [rb[i] for i in ib]}
        matched_note = {"kept": [len(ia), len(ib)], "of": [len(ra), len(rb)], "bins": args.length_bins}

    results = {}
    for label, recs in sets.items():
        report = _report(recs, args.group_by, config)
        results[label] = report
        _print_table(f"{label}: {len(recs)} responses" + (f", {len({r.group for r in recs})} prompts" if args.group_by else ""),
                     {mode: report[mode] for mode in report})
    if len(results) > 1:
        for mode in ("within", "across"):
            cols = {label: rep[mode] for label, rep in results.items() if mode in rep}
            if len(cols) > 1:
                _print_table(f"comparison, {mode}-prompt" + (" (length-matched)" if matched_note else ""), cols)
                _print_incomparable(cols)
    if matched_note:
        print(f"\nlength-matched: kept {matched_note['kept']} of {matched_note['of']} responses")

    if args.out:
        payload = {
            "metrics_version": METRICS_VERSION,
            "inputs": list(inputs),
            "fields": fields,
            "config": asdict(config),
            "length_matched": matched_note,
            "results": {
                label: {mode: {k: r.to_dict() for k, r in rep.items()} for mode, rep in report.items()}
                for label, report in results.items()
            },
        }
        Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0
