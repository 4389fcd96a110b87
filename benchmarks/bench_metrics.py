"""Benchmark: self-BLEU and n-gram metrics against the usual implementations.

One run, same inputs, every reference timed in the same process so ratios
stay meaningful on a busy machine (absolute seconds do not). Values are
asserted equal before any time is reported.

Responses are built from the real alpaca outputs in the shared data folder:
random real answers concatenated and cut to a length drawn around 230 words,
with a seed, so they have real vocabulary and real phrase overlap.

    python benchmarks/bench_metrics.py                     # full: N = 500, 2000, 10000; 50k for distinct
    python benchmarks/bench_metrics.py --sizes 300,1000 --corpus 5000 --ref-subset 100   # quick

The N^2 references (sacrebleu in a loop, nltk's sentence_bleu as Texygen uses
it) run on ``--ref-subset`` responses; their time at the full N is extrapolated
as t(subset) * (N / subset)^2 and printed as such. fast-bleu always runs at
the real N.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from evalsuite.metrics import distinct_n, ngram_entropy, repetition, self_bleu, tokenize
from evalsuite.metrics.diversity.ngrams import encode

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    env = os.environ.get("EVALSUITE_DATA_DIR")
    path = Path(env) if env else ROOT.parent / "shared" / "datasets"
    if not (path / "train" / "alpaca_en_demo.json").exists():
        sys.exit(f"alpaca_en_demo.json not found under {path}; set EVALSUITE_DATA_DIR")
    return path


def _sentence_pool() -> list[list[str]]:
    base = data_dir() / "train"
    docs = [r["output"] for r in json.loads((base / "alpaca_en_demo.json").read_text())]
    wiki = base / "wiki_demo.txt"
    if wiki.exists():
        docs += wiki.read_text(encoding="utf-8").splitlines()
    c4 = base / "c4_demo.jsonl"
    if c4.exists():
        docs += [json.loads(line)["text"] for line in c4.read_text(encoding="utf-8").splitlines() if line.strip()]
    sentences = []
    for d in docs:
        for s in d.replace("\n", " ").split(". "):
            words = s.split()
            if len(words) >= 4:
                sentences.append(words)
    return sentences


def build_responses(n: int, seed: int, mean_words: int = 230, noise: float = 0.15) -> list[str]:
    """Real-ish answers: real sentences (alpaca outputs, wiki, c4) strung together.

    A share ``noise`` of the words is swapped for a word drawn from the same
    text (so with its real frequency); without it, N = 10,000 answers drawn
    from ~0.4M words of source would repeat whole sentences far more than
    real model outputs do.
    """
    pool = _sentence_pool()
    vocab = [w for s in pool[:20000] for w in s]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = max(20, int(rng.gauss(mean_words, mean_words / 4)))
        words: list[str] = []
        while len(words) < target:
            words.extend(rng.choice(pool))
        words = [rng.choice(vocab) if rng.random() < noise else w for w in words[:target]]
        out.append(" ".join(words))
    return out


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def check_equal(name, ours, ref, tol=1e-9):
    diff = float(np.max(np.abs(np.asarray(ours, dtype=float) - np.asarray(ref, dtype=float)))) if len(ref) else 0.0
    assert diff <= tol, f"{name}: values differ by {diff:g} (> {tol:g})"
    return diff


def check_fast_bleu(toks, ours, fb, tol=1e-9):
    """Compare with fast-bleu; where it disagrees, nltk decides.

    fast-bleu 0.0.90 is not exact: in some processes it returns a wrong score
    for a hypothesis (the same input is right in another process, which points
    at hashing), so a disagreement is settled by nltk on that hypothesis.
    """
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    ours, fb = np.asarray(ours), np.asarray(fb)
    bad = np.flatnonzero(np.abs(ours - fb) > tol)
    for i in bad:
        nl = sentence_bleu(toks[:i] + toks[i + 1 :], toks[i], smoothing_function=SmoothingFunction().method1)
        assert abs(ours[i] - nl) <= tol, f"hypothesis {i}: ours {ours[i]}, fast-bleu {fb[i]}, nltk {nl}"
    good = np.setdiff1d(np.arange(len(ours)), bad)
    maxdiff = float(np.max(np.abs(ours[good] - fb[good]))) if len(good) else 0.0
    if len(bad):
        print(f"  fast-bleu wrong on {len(bad)} of {len(ours)} hypotheses (nltk agrees with ours there)")
    return maxdiff, int(len(bad))


def ours_scores(token_lists, smoothing):
    from evalsuite.metrics.diversity.self_bleu import self_bleu_scores

    enc = encode(token_lists)
    return self_bleu_scores(enc, np.zeros(enc.n_docs, dtype=np.int64), 1, 4, smoothing)


def bench_references(m, seed):
    """sacrebleu and nltk loops on the first ``m`` responses (the same for every N)."""
    import sacrebleu
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    texts = build_responses(m, seed)
    toks, _ = tokenize(texts, "13a")
    sm = SmoothingFunction().method1
    nl, t_nl = timed(lambda: [
        sentence_bleu(toks[:i] + toks[i + 1 :], h, smoothing_function=sm) for i, h in enumerate(toks)
    ])
    sb, t_sb = timed(lambda: [
        sacrebleu.sentence_bleu(h, texts[:i] + texts[i + 1 :]).score / 100 for i, h in enumerate(texts)
    ])
    (ours_m1, ours_exp), t_ours = timed(lambda: (ours_scores(toks, "method1"), ours_scores(toks, "exp")))
    d_nl = check_equal("nltk (Texygen recipe)", ours_m1, nl)
    d_sb = check_equal("sacrebleu sentence_bleu", ours_exp, sb)
    print(
        f"references on N={m}: nltk {t_nl:.2f}s, sacrebleu {t_sb:.2f}s, ours (both smoothings) {t_ours:.3f}s; "
        f"max |difference| nltk {d_nl:.1e}, sacrebleu {d_sb:.1e}"
    )
    return {"N": m, "nltk_s": t_nl, "sacrebleu_s": t_sb, "nltk_maxdiff": d_nl, "sacrebleu_maxdiff": d_sb}


def bench_self_bleu(sizes, ref_subset, seed, skip_fast_bleu):
    print("\n== self-BLEU-4, each response against all the others (nltk method1 semantics = Texygen) ==")
    ref = bench_references(ref_subset, seed)
    m = ref["N"]
    rows = []
    for n in sizes:
        texts = build_responses(n, seed)
        toks, _ = tokenize(texts, "13a")
        n_tokens = sum(map(len, toks))
        # ours: the BLEU part on the same token lists fast-bleu gets, then everything from raw text
        ours_tok, t_ours_tok = timed(lambda: self_bleu(toks, smoothing="method1"))
        ours_raw, t_ours_raw = timed(lambda: self_bleu(texts, tokenizer="13a", smoothing="method1"))
        assert math.isclose(ours_tok.value, ours_raw.value, abs_tol=1e-12)
        row = {"N": n, "tokens": n_tokens, "ours_bleu_s": t_ours_tok, "ours_raw_s": t_ours_raw, "value": ours_tok.value}
        if not skip_fast_bleu:
            from fast_bleu import SelfBLEU

            fb, t_fb = timed(lambda: SelfBLEU(toks, {4: (0.25,) * 4}).get_score()[4])
            row["fast_bleu_s"] = t_fb
            row["fast_bleu_maxdiff"], row["fast_bleu_wrong"] = check_fast_bleu(toks, ours_scores(toks, "method1"), fb)
        scale = (n / m) ** 2
        row.update(nltk_s=ref["nltk_s"] * scale, sacrebleu_s=ref["sacrebleu_s"] * scale, extrapolated_from=m if m < n else None)
        rows.append(row)
        fb_txt = (
            f"fast-bleu {row['fast_bleu_s']:7.2f}s = {row['fast_bleu_s'] / t_ours_tok:5.1f}x ours (max diff {row['fast_bleu_maxdiff']:.0e})"
            if "fast_bleu_s" in row else "fast-bleu skipped"
        )
        ext = "~" if m < n else ""
        print(
            f"N={n:>6} ({n_tokens / n:.0f} tok/resp)  self-BLEU={ours_tok.value:.4f}  ours: BLEU part {t_ours_tok:6.2f}s, "
            f"raw text incl. 13a tokenizing {t_ours_raw:6.2f}s  |  {fb_txt}  |  "
            f"nltk {ext}{row['nltk_s']:8.0f}s = {ext}{row['nltk_s'] / t_ours_tok:6.0f}x  sacrebleu {ext}{row['sacrebleu_s']:8.0f}s = {ext}{row['sacrebleu_s'] / t_ours_tok:6.0f}x"
        )
    if m < max(sizes):
        print(f"(~ = extrapolated from the measured N={m} run as t * (N/{m})^2; both loops are N^2 in pairs)")
    return {"references": ref, "rows": rows}


def counter_reference(token_lists):
    out = {}
    for n in (1, 2, 3, 4):
        grams = Counter()
        total = 0
        for t in token_lists:
            g = [tuple(t[i : i + n]) for i in range(len(t) - n + 1)]
            grams.update(g)
            total += len(g)
        out[f"distinct_{n}"] = len(grams) / total
        if n == 4:
            out["entropy_4"] = -sum(c / total * math.log(c / total) for c in grams.values())
    reps = []
    for t in token_lists:
        g = [tuple(t[i : i + 4]) for i in range(len(t) - 3)]
        reps.append(1 - len(set(g)) / len(g) if g else 0.0)
    out["seq_rep_4"] = sum(reps) / len(reps)
    return out


def ours_ngram_metrics(texts):
    enc = encode(texts, "auto")
    out = {f"distinct_{n}": distinct_n(enc, n).value for n in (1, 2, 3, 4)}
    out["entropy_4"] = ngram_entropy(enc, 4).value
    out["seq_rep_4"] = repetition(enc, "seq-rep", n=4).value
    return out


def bench_ngram(corpus, counter_subset, seed):
    print("\n== distinct-1..4 + Ent-4 + seq-rep-4, from raw text (auto tokenizer) ==")
    texts = build_responses(corpus, seed + 1)
    ours, t_ours = timed(lambda: ours_ngram_metrics(texts))
    m = min(counter_subset, corpus)
    sub = texts[:m]
    ref, t_ref = timed(lambda: counter_reference(tokenize(sub, "auto")[0]))
    check = ours_ngram_metrics(sub)
    for k in ref:
        assert math.isclose(check[k], ref[k], rel_tol=1e-9, abs_tol=1e-12), (k, check[k], ref[k])
    t_ref_full = t_ref * corpus / m  # Counter work is linear in the tokens
    n_tokens = int(encode(texts[:1000], "auto").lengths.sum() * corpus / min(1000, corpus))
    ext = f" [extrapolated linearly from {m} responses]" if m < corpus else ""
    print(
        f"responses={corpus} (~{n_tokens / 1e6:.1f}M tokens)  ours {t_ours:6.2f}s  plain Counter {t_ref_full:7.1f}s{ext}  "
        f"ratio {t_ref_full / t_ours:5.1f}x  values equal on the checked subset"
    )
    return {"responses": corpus, "ours_s": t_ours, "counter_s": t_ref_full, "counter_extrapolated": m < corpus, **ours}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="500,2000,10000", help="comma-separated N for self-BLEU")
    p.add_argument("--ref-subset", type=int, default=200, help="responses for the N^2 sacrebleu/nltk loops")
    p.add_argument("--corpus", type=int, default=50000, help="responses for the n-gram metrics")
    p.add_argument("--counter-subset", type=int, default=10000, help="responses for the Counter reference")
    p.add_argument("--skip-fast-bleu", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (timings on a shared machine are noisy; read the ratios)")
    rows = bench_self_bleu([int(s) for s in args.sizes.split(",")], args.ref_subset, args.seed, args.skip_fast_bleu)
    
    ngram = bench_ngram(args.corpus, args.counter_subset, args.seed) if args.corpus else None
    if args.json:
        Path(args.json).write_text(json.dumps({"self_bleu": rows, "ngram": ngram}, indent=2))


if __name__ == "__main__":
    main()
