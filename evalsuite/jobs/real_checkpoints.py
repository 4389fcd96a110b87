"""What alignment did to real models: published answers imported as runs, each variant against its base.

:func:`run_real_checkpoints` imports every AlpacaEval outputs file of a folder
(:mod:`evalsuite.jobs.import_outputs`) into ``OUT/<model>/generate`` and compares
each preference-optimised variant with its reference, paired by prompt:

- length: mean tokens (the ``auto`` tokenizer of the diversity metrics), the
  paired mean difference with a bootstrap interval over prompts and a Wilcoxon
  signed-rank test;
- across-prompt diversity, ``distinct_2.across`` and ``self_bleu_4.across``, through
  the registered metrics on all prompts (no subsample: 805 answers take well
  under a second each), raw and at matched length
  (:mod:`evalsuite.metrics.diversity.length_matched`: both answers to a prompt
  cut to the shorter one's token count). The delta's interval: distinct-2, a
  paired centred half-sampling over prompts (the same halves on both sides);
  self-BLEU, a paired bootstrap over the per-answer scores (each answer scored
  against the rest of its own side), with a Wilcoxon test on them;
- homogenization with the reference (ROUGE-L F1 of the two answers to each
  prompt, :func:`evalsuite.metrics.diversity.homogenization.between_runs`) and
  across prompts, on a seeded sample of prompts (the same for every model:
  these are quadratic in the answers), NoveltyBench's ``distinct_k`` and the
  Shaib et al. set (``ngram_diversity``, ``self_repetition``,
  ``homogenization_rougel``, our ``compression``), when those metrics are
  registered; otherwise a note says they were left out;
- ``evalsuite compare`` on the two imported runs (what it pairs is kept);
- the published AlpacaEval 2 figures from ``leaderboard_excerpt.csv``.

Which model was fine-tuned from which is not in the outputs files (their
``generator`` field names only the model), so families are given:
:data:`DEFAULT_FAMILIES` for the shipped folder. All p-values of one analysis
are Holm-corrected together.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text
from evalsuite.jobs.import_outputs import file_sha256, import_outputs, load_answers
from evalsuite.metrics import names
from evalsuite.metrics.bootstrap import half_sample_ci, mean_ci
from evalsuite.metrics.diversity.distinct import distinct_n
from evalsuite.metrics.diversity.length_matched import METHOD, pair_truncated
from evalsuite.metrics.diversity.ngrams import Encoded, encode
from evalsuite.metrics.diversity.self_bleu import self_bleu, self_bleu_scores
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.compare import compare
from evalsuite.reports.real_checkpoints import (
    DISTINCT, LENGTH, RECORD_FILE, SELF_BLEU, Estimate, Leaderboard, ModelSummary, PairedFigure,
    RealCheckpointsResult, VariantReport, load,
)
from evalsuite.results import provenance

RUN = "generate"
LEADERBOARD = "leaderboard_excerpt.csv"


@dataclass(frozen=True)
class Family:
    """Variants compared with ``reference``: the base model they were trained from, or (``reference_is_base``
    False) a sibling standing in for a base whose answers are not in the folder (``base`` names it)."""

    reference: str
    variants: tuple[str, ...]
    reference_is_base: bool = True
    base: str | None = None


DEFAULT_FAMILIES = (
    Family("Meta-Llama-3-8B-Instruct", ("Llama-3-Instruct-8B-SimPO", "Llama-3-Instruct-8B-WPO-HB-v2",
                                        "Llama-3-Instruct-8B-RainbowPO", "SPPO-Llama-3-Instruct-8B-PairRM")),
    Family("gemma-2-9b-it-DPO", ("gemma-2-9b-it-SimPO", "gemma-2-9b-it-WPO-HB"), reference_is_base=False,
           base="gemma-2-9b-it"),
)


def read_leaderboard(path: Path) -> dict[str, Leaderboard]:
    """``{model: Leaderboard}`` from an AlpacaEval leaderboard CSV; a DataError names the row and field."""
    columns = {"win_rate": "win_rate", "win_rate_se": "standard_error", "lc_win_rate": "length_controlled_winrate",
               "lc_win_rate_se": "lc_standard_error", "avg_length": "avg_length"}
    out = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            values = {}
            for field, column in columns.items():
                try:
                    values[field] = float(row[column])
                except (KeyError, TypeError, ValueError):
                    raise DataError(f"{path}: line {number}: field {column!r} must be a number, got {row.get(column)!r}") from None
            out[row["model"]] = Leaderboard(**values)
    return out


def _aligned(reference: dict[str, str], variant: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    shared = [k for k in reference if k in variant]
    return shared, [reference[k] for k in shared], [variant[k] for k in shared]


def _wilcoxon(diff: np.ndarray) -> float | None:
    from scipy.stats import wilcoxon

    if len(diff) < 2 or np.all(diff == 0):
        return None
    return float(wilcoxon(diff).pvalue)


def distinct_of_docs(enc: Encoded, n: int = 2) -> Callable[[np.ndarray], float]:
    """Corpus distinct-n of the documents a 0/1 weight vector selects, without re-encoding them: the
    n-grams are numbered once. Equal to ``distinct_n(enc.subset(selected), n).value`` (tests check it)."""
    gram, doc = enc.ngrams(n)
    size = int(gram.max()) + 1 if len(gram) else 0

    def value(w: np.ndarray) -> float:
        mask = w[doc] > 0
        total = int(mask.sum())
        return np.count_nonzero(np.bincount(gram[mask], minlength=size)) / total if total else float("nan")

    return value


def _distinct_figure(ref: Encoded, var: Encoded, matched: bool, rs: Resampling) -> PairedFigure:
    a, b = distinct_n(ref, 2, resampling=rs), distinct_n(var, 2, resampling=rs)
    of_ref, of_var = distinct_of_docs(ref), distinct_of_docs(var)
    value = b.value - a.value
    return PairedFigure(metric=DISTINCT, matched_length=matched, reference=Estimate(value=a.value, ci=a.ci),
                        variant=Estimate(value=b.value, ci=b.ci),
                        delta=Estimate(value=value, ci=half_sample_ci(lambda w: of_var(w) - of_ref(w), ref.n_docs,
                                                                      value, rs)),
                        test="paired half-sampling over prompts (interval only)")


def _self_bleu_figure(ref: Encoded, var: Encoded, matched: bool, rs: Resampling) -> PairedFigure:
    a, b = self_bleu(ref, 4, tokenizer="13a", resampling=rs), self_bleu(var, 4, tokenizer="13a", resampling=rs)
    pool = np.zeros(ref.n_docs, dtype=np.int64)
    diff = self_bleu_scores(var, pool, 1, 4, "method1") - self_bleu_scores(ref, pool, 1, 4, "method1")
    diff = diff[~np.isnan(diff)]
    return PairedFigure(metric=SELF_BLEU, matched_length=matched, reference=Estimate(value=a.value, ci=a.ci),
                        variant=Estimate(value=b.value, ci=b.ci),
                        delta=Estimate(value=float(diff.mean()), ci=mean_ci(diff, rs)),
                        test="Wilcoxon signed-rank on per-answer self-BLEU", p_value=_wilcoxon(diff))


def _length_figure(ref: Encoded, var: Encoded, rs: Resampling) -> PairedFigure:
    la, lb = ref.lengths.astype(float), var.lengths.astype(float)
    diff = lb - la
    return PairedFigure(metric=LENGTH, matched_length=False, reference=Estimate(value=float(la.mean())),
                        variant=Estimate(value=float(lb.mean())), delta=Estimate(value=float(diff.mean()), ci=mean_ci(diff, rs)),
                        test="Wilcoxon signed-rank on per-prompt token counts", p_value=_wilcoxon(diff))


def _homogenization(ref_answers: dict[str, str], var_answers: dict[str, str], rs: Resampling) -> dict[str, Estimate]:
    from evalsuite.metrics.diversity.homogenization import between_runs

    result = between_runs(ref_answers, var_answers, measure="rougel", resampling=rs)
    return {result.name: Estimate(value=result.value, ci=result.ci)}


def paired_figures(ref_texts: Sequence[str], var_texts: Sequence[str], rs: Resampling) -> list[PairedFigure]:
    """Length, distinct-2 and self-BLEU-4 across prompts of two aligned answer lists, raw and length-matched."""
    figures = []
    ref_auto, var_auto = encode(list(ref_texts), "auto"), encode(list(var_texts), "auto")
    ref_13a, var_13a = encode(list(ref_texts), "13a"), encode(list(var_texts), "13a")
    figures.append(_length_figure(ref_auto, var_auto, rs))
    figures.append(_distinct_figure(ref_auto, var_auto, False, rs))
    figures.append(_distinct_figure(*pair_truncated(ref_auto, var_auto)[:2], True, rs))
    figures.append(_self_bleu_figure(ref_13a, var_13a, False, rs))
    figures.append(_self_bleu_figure(*pair_truncated(ref_13a, var_13a)[:2], True, rs))
    return figures


def _summary(name: str, run_dir: Path, leaderboard: dict[str, Leaderboard], semantic, rs: Resampling) -> ModelSummary:
    from evalsuite.results import load_run

    record = load_run(run_dir)
    answers = load_answers(run_dir)
    texts = list(answers.values())
    tokens = encode(texts, "auto")
    distinct, bleu = distinct_n(tokens, 2, resampling=rs), self_bleu(encode(texts, "13a"), 4, tokenizer="13a", resampling=rs)
    return ModelSummary(
        model=name, sha256=record.model["sha256"], prompts=len(texts), mean_tokens=float(tokens.lengths.mean()),
        distinct_2=Estimate(value=distinct.value, ci=distinct.ci), self_bleu_4=Estimate(value=bleu.value, ci=bleu.ci),
        semantic=semantic(answers) if semantic else {}, leaderboard=leaderboard.get(name),
    )


SAMPLED = ("distinct_k", "ngram_diversity", "self_repetition", "homogenization_rougel", "compression")


def _semantic_metric(notes: list[str], keys: list[str], sample: int, seed: int):
    """The across-prompt metrics of :data:`SAMPLED` (registered metrics, their defaults) on the same seeded
    sample of prompts for every model, or None (and a note) when none is registered.

    NoveltyBench's greedy partition compares each answer with the first member of every class so far, and
    ROUGE-L homogenization every pair of answers: quadratic in the answers (about 2 s and 5 s for 200 long
    answers), and every resample of an interval would re-partition; so a sample, no interval.
    """
    from evalsuite.registry import METRICS

    chosen_metrics = [m for m in SAMPLED if m in METRICS]
    missing = [m for m in SAMPLED if m not in METRICS]
    if missing:
        notes.append(f"Left out (not registered in this build): {', '.join(missing)}.")
    if not chosen_metrics:
        return None
    chosen = sorted(keys) if len(keys) <= sample else sorted(np.random.default_rng(seed).choice(sorted(keys), sample,
                                                                                                 replace=False))
    notes.append(f"{', '.join(chosen_metrics)} across prompts: on the answers to {len(chosen)} prompts "
                 f"({'all' if len(chosen) == len(keys) else f'a sample drawn with seed {seed}, the same for every model'}; "
                 "no interval: each resample would re-partition or re-pair). distinct_k counts equivalence classes "
                 "(NoveltyBench's unigram rule); the others are the diversity package's definitions (Shaib et al. 2024).")

    def semantic(answers: dict[str, str]) -> dict[str, Estimate]:
        texts = [answers[k] for k in chosen if k in answers]
        return {names.qualified(m, "across"): Estimate(value=METRICS.get(m)(texts, groups=None, mode="across").value)
                for m in chosen_metrics}

    return semantic


def _compare_runs(ref_dir: Path, var_dir: Path, rs: Resampling) -> tuple[list[dict], list[str]]:
    result = compare(ref_dir, var_dir, n_boot=rs.n_boot, seed=rs.seed)
    return [c.to_dict() for c in result.comparisons], list(result.not_compared)


def compare_variant(family: Family, variant: str, runs: dict[str, Path], rs: Resampling, notes: list[str]) -> VariantReport:
    """Every paired figure of ``variant`` against its family's reference."""
    ref_answers, var_answers = load_answers(runs[family.reference]), load_answers(runs[variant])
    shared, ref_texts, var_texts = _aligned(ref_answers, var_answers)
    if len(shared) < 2:
        raise DataError(f"{runs[variant]} and {runs[family.reference]} share {len(shared)} prompts; nothing to pair")
    homogenization: dict[str, Estimate] = {}
    try:
        homogenization = _homogenization(ref_answers, var_answers, rs)
    except ImportError:
        note = ("Homogenization was left out: evalsuite.metrics.diversity.homogenization (between_runs) is not part "
                "of this build.")
        if note not in notes:
            notes.append(note)
    found, not_compared = _compare_runs(runs[family.reference], runs[variant], rs)
    return VariantReport(
        model=variant, reference=family.reference, reference_is_base=family.reference_is_base,
        prompts_paired=len(shared), only_in_variant=len(var_answers.keys() - ref_answers.keys()),
        only_in_reference=len(ref_answers.keys() - var_answers.keys()),
        figures=paired_figures(ref_texts, var_texts, rs), homogenization=homogenization,
        compare=found, compare_not_compared=not_compared,
    )


def _holm(variants: list[VariantReport]) -> None:
    from statsmodels.stats.multitest import multipletests

    tested = [f for v in variants for f in v.figures if f.p_value is not None]
    if tested:
        _, adjusted, _, _ = multipletests([f.p_value for f in tested], method="holm")
        for figure, p in zip(tested, adjusted):
            figure.p_holm = float(p)


def _settings(limit, n_boot, seed, import_n_boot, semantic_sample, families) -> dict:
    return {
        "prompts": "all" if limit is None else f"first {limit}", "tokenizer": "auto (length, distinct-2), 13a (self-BLEU)",
        "length_matching": METHOD, "n_boot": n_boot, "seed": seed, "import_n_boot": import_n_boot,
        "semantic_sample": semantic_sample, "self_bleu_pool": "all answers of a side (no subsample)",
        "multiple_testing": "Holm over all p-values",
        "families": "; ".join(f"{f.reference}: {', '.join(f.variants)}" for f in families),
    }


def _reusable(out: Path, settings: dict, hashes: dict[str, str]) -> RealCheckpointsResult | None:
    """The record already in ``out`` when it was made from the same files, settings and clean commit."""
    previous = load(out)
    now = provenance()
    if (previous is None or previous.settings != settings or {m.model: m.sha256 for m in previous.models} != hashes
            or previous.provenance.git != now.git or now.git.dirty is not False
            or previous.provenance.evalsuite_version != now.evalsuite_version
            or not all((out / m.model / RUN / "results.json").is_file() for m in previous.models)):
        return None
    return previous


def _compare_families(families, runs, rs, notes, say) -> tuple[list[VariantReport], list[str]]:
    variants, order = [], []
    for family in families:
        missing = [m for m in (family.reference, *family.variants) if m not in runs]
        if missing:
            notes.append(f"Family of {family.reference}: no outputs file for {', '.join(missing)}; those are skipped.")
        if family.reference not in runs:
            continue
        if not family.reference_is_base:
            notes.append(f"{family.base or family.reference}: the base model's answers are not in the folder, so its "
                         f"variants are compared with {family.reference}, a sibling variant, not with the base.")
        order.append(family.reference)
        for variant in (v for v in family.variants if v in runs):
            say(f"  {variant} vs {family.reference}")
            variants.append(compare_variant(family, variant, runs, rs, notes))
            order.append(variant)
    members = {m for f in families for m in (f.reference, *f.variants)}
    notes += [f"{m}: in no family, reported without a comparison." for m in runs if m not in members]
    return variants, order + [m for m in runs if m not in order]


def run_real_checkpoints(
    outputs: str | Path, out: str | Path, *, families: Sequence[Family] = DEFAULT_FAMILIES, limit: int | None = None,
    n_boot: int = 200, seed: int = 0, import_n_boot: int | None = None, semantic_sample: int = 200,
    reuse: bool = False, say: Callable[[str], None] = lambda _: None,
) -> RealCheckpointsResult:
    """Import every ``*.json`` outputs file of ``outputs`` into ``out/<model>/generate``, compare each family's
    variants with its reference, write ``out/real_checkpoints.json`` and return the record.

    ``n_boot``: resamples of this analysis's intervals; ``import_n_boot``: of the imported runs' full
    diversity reports (None: values without intervals, which keeps the import fast); ``semantic_sample``:
    prompts whose answers ``distinct_k`` partitions (a seeded sample, the same for every model);
    ``reuse``: return the record already in ``out`` when the files (by SHA-256), the settings and the
    (clean) git commit are the same.
    """
    outputs, out = Path(outputs), Path(out)
    files = sorted(outputs.glob("*.json"))
    if not files:
        raise DataError(f"{outputs}: no AlpacaEval outputs files (*.json) here")
    settings = _settings(limit, n_boot, seed, import_n_boot, semantic_sample, families)
    if reuse and (previous := _reusable(out, settings, {p.stem: file_sha256(p) for p in files})) is not None:
        say(f"  reusing {out / RECORD_FILE} (same files, settings and commit)")
        return previous
    runs: dict[str, Path] = {}
    for path in files:
        runs[path.stem] = out / path.stem / RUN
        import_outputs(path, runs[path.stem], name=path.stem, limit=limit, n_boot=import_n_boot)
        say(f"  imported {path.name}")
    rs = Resampling(ci=True, n_boot=n_boot, seed=seed)
    notes: list[str] = []
    board_path = outputs / LEADERBOARD
    leaderboard = read_leaderboard(board_path) if board_path.is_file() else {}
    if not leaderboard:
        notes.append(f"No {LEADERBOARD} in {outputs}: published figures left out.")
    variants, order = _compare_families(families, runs, rs, notes, say)
    _holm(variants)
    keys = sorted(set.intersection(*(set(load_answers(runs[m])) for m in order)))
    semantic = _semantic_metric(notes, keys, semantic_sample, seed)
    record = RealCheckpointsResult(
        provenance=provenance(), source=str(outputs.resolve()), settings=settings,
        models=[_summary(m, runs[m], leaderboard, semantic, rs) for m in order], variants=variants, notes=notes,
    )
    atomic_write_text(out / RECORD_FILE, record.model_dump_json(indent=2))
    return record
