"""The real-checkpoint analysis on the first 40 AlpacaEval answers of real files, against direct metric calls."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from evalsuite.escape import markdown_text
from evalsuite.jobs.real_checkpoints import Family, run_real_checkpoints
from evalsuite.metrics.diversity.distinct import distinct_n
from evalsuite.metrics.diversity.self_bleu import self_bleu
from evalsuite.metrics.diversity.tokenize import tokenize
from evalsuite.reports.real_checkpoints import DISTINCT, LENGTH, SELF_BLEU, html_section, load, markdown_table

BASE, SIMPO = "Meta-Llama-3-8B-Instruct", "Llama-3-Instruct-8B-SimPO"
EVIL = "evil<img src=x onerror=alert(1)>"
N = 40


@pytest.fixture(scope="module")
def analysis(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    source = data_dir / "judging" / "alpaca_eval_outputs"
    texts = {}
    for name, stem in ((BASE, BASE), (SIMPO, SIMPO), (EVIL, "gemma-2-9b-it-DPO"), ("loner", "gemma-2-9b-it-SimPO")):
        rows = json.loads((source / f"{stem}.json").read_text(encoding="utf-8"))[:N]
        (folder / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
        texts[name] = [r["output"] for r in rows]
    (folder / "leaderboard_excerpt.csv").write_text((source / "leaderboard_excerpt.csv").read_text())
    out = tmp_path_factory.mktemp("real")
    record = run_real_checkpoints(folder, out, families=(Family(BASE, (SIMPO, EVIL)),), n_boot=50)
    return record, out, texts, source


def _hand_matched(a: list[str], b: list[str], tokenizer: str):
    ta, tb = tokenize(a, tokenizer)[0], tokenize(b, tokenizer)[0]
    keep = [min(len(x), len(y)) for x, y in zip(ta, tb)]
    return [t[:k] for t, k in zip(ta, keep)], [t[:k] for t, k in zip(tb, keep)]


def test_figures_equal_direct_metric_calls(analysis):
    record, _, texts, _ = analysis
    variant = next(v for v in record.variants if v.model == SIMPO)
    base, simpo = texts[BASE], texts[SIMPO]
    assert variant.prompts_paired == N and variant.only_in_variant == variant.only_in_reference == 0
    length = variant.figure(LENGTH, False)
    la = np.array([len(t) for t in tokenize(base, "auto")[0]], dtype=float)
    lb = np.array([len(t) for t in tokenize(simpo, "auto")[0]], dtype=float)
    assert record.summary(BASE).mean_tokens == pytest.approx(la.mean())
    assert length.delta.value == pytest.approx((lb - la).mean())
    assert length.p_value == pytest.approx(wilcoxon(lb - la).pvalue)
    raw = variant.figure(DISTINCT, False)
    assert raw.reference.value == pytest.approx(distinct_n(base, 2).value, abs=1e-12)
    assert raw.variant.value == pytest.approx(distinct_n(simpo, 2).value, abs=1e-12)
    hand_a, hand_b = _hand_matched(base, simpo, "auto")
    matched = variant.figure(DISTINCT, True)
    assert matched.reference.value == pytest.approx(distinct_n(hand_a, 2).value, abs=1e-12)
    assert matched.variant.value == pytest.approx(distinct_n(hand_b, 2).value, abs=1e-12)
    hand_a, hand_b = _hand_matched(base, simpo, "13a")
    bleu = variant.figure(SELF_BLEU, True)
    assert bleu.reference.value == pytest.approx(self_bleu(hand_a, 4, tokenizer="13a").value, abs=1e-12)
    assert bleu.variant.value == pytest.approx(self_bleu(hand_b, 4, tokenizer="13a").value, abs=1e-12)
    for figure in variant.figures:
        if figure.metric != LENGTH:  # the mean of per-prompt differences is the difference of the values
            assert figure.delta.value == pytest.approx(figure.variant.value - figure.reference.value, abs=1e-12)
        assert figure.delta.ci[0] <= figure.delta.value <= figure.delta.ci[1]
        if figure.p_value is not None:
            assert figure.p_value <= figure.p_holm <= 1


def test_published_figures_and_families(analysis):
    record, _, _, source = analysis
    with open(source / "leaderboard_excerpt.csv", newline="") as handle:
        rows = {r["model"]: r for r in csv.DictReader(handle)}
    board = record.summary(SIMPO).leaderboard
    assert board.lc_win_rate == float(rows[SIMPO]["length_controlled_winrate"])
    assert board.win_rate == float(rows[SIMPO]["win_rate"]) and board.avg_length == float(rows[SIMPO]["avg_length"])
    assert record.summary(EVIL).leaderboard is None
    assert [m.model for m in record.models] == [BASE, SIMPO, EVIL, "loner"]
    assert "loner: in no family, reported without a comparison." in record.notes
    if importlib.util.find_spec("evalsuite.metrics.diversity.homogenization") is None:
        assert any(n.startswith("Homogenization was left out") for n in record.notes)


def test_homogenization_equals_between_runs(analysis):
    pytest.importorskip("evalsuite.metrics.diversity.homogenization")
    from evalsuite.jobs.import_outputs import load_answers
    from evalsuite.metrics.diversity.homogenization import between_runs

    record, out, _, _ = analysis
    variant = next(v for v in record.variants if v.model == SIMPO)
    direct = between_runs(load_answers(out / BASE / "generate"), load_answers(out / SIMPO / "generate"), measure="rougel")
    assert variant.homogenization[direct.name].value == pytest.approx(direct.value, abs=1e-12)
    assert direct.details["per_prompt"].keys() == load_answers(out / BASE / "generate").keys()


def test_semantic_diversity_and_the_shaib_set_equal_the_metrics_themselves(analysis):
    from evalsuite.jobs.import_outputs import load_answers
    from evalsuite.metrics.diversity.compression import compression_ratio
    from evalsuite.metrics.diversity.homogenization import homogenization_rougel
    from evalsuite.metrics.diversity.novelty import distinct_k
    from evalsuite.metrics.diversity.shaib import ngram_diversity, self_repetition

    record, out, _, _ = analysis
    answers = load_answers(out / SIMPO / "generate")  # N = 40 prompts, under the sample size: all of them
    texts = [answers[k] for k in sorted(answers)]
    got = record.summary(SIMPO).semantic
    for name, metric in (("distinct_k", distinct_k), ("ngram_diversity", ngram_diversity), ("self_repetition", self_repetition),
                         ("homogenization_rougel", homogenization_rougel), ("compression", compression_ratio)):
        assert got[f"{name}.across"].value == pytest.approx(metric(texts, mode="across").value, abs=1e-12), name
    assert "| homogenization (ROUGE-L) (across), sample |" in markdown_table(record)


def test_record_reads_back_and_renders_escaped(analysis):
    record, out, _, _ = analysis
    again = load(out)
    assert again.model_dump_json() == record.model_dump_json()
    table = markdown_table(record)
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + len(record.models)
    assert f"| {markdown_text(EVIL)} |" in table and f"| {EVIL} |" not in table
    html = html_section(out)
    assert "<img" not in html and "evil&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.startswith("<section id='real-checkpoints'><h2>What alignment did to real models</h2>")
    sentence = f"{SIMPO} (vs {BASE}): answers "
    assert sentence in html
    assert html_section(out / "nothing-here") == ""


def test_distinct_of_selected_documents_equals_distinct_n_on_the_subset(analysis):
    from evalsuite.jobs.real_checkpoints import distinct_of_docs
    from evalsuite.metrics.diversity.ngrams import encode

    _, _, texts, _ = analysis
    enc = encode(texts[BASE], "auto")
    of_docs = distinct_of_docs(enc)
    rng = np.random.default_rng(3)
    for _ in range(5):
        w = np.zeros(enc.n_docs, dtype=np.int64)
        keep = np.sort(rng.choice(enc.n_docs, enc.n_docs // 2, replace=False))
        w[keep] = 1
        assert of_docs(w) == pytest.approx(distinct_n(enc.subset(keep), 2).value, abs=1e-12)
    assert of_docs(np.ones(enc.n_docs, dtype=np.int64)) == pytest.approx(distinct_n(enc, 2).value, abs=1e-12)


def test_a_second_run_reuses_the_record_only_when_nothing_changed(tmp_path, monkeypatch):
    import evalsuite.jobs.real_checkpoints as job
    from evalsuite.provenance import GitState
    from evalsuite.results import provenance

    clean = provenance().model_copy(update={"git": GitState(commit="0" * 40, dirty=False)})
    monkeypatch.setattr(job, "provenance", lambda: clean)
    folder = tmp_path / "outputs"
    folder.mkdir()
    prompts = [f"Question number {i}?" for i in range(6)]
    for name, style in (("base", "The answer to {} is plain."), ("v", "Well, {} deserves a longer and livelier reply.")):
        rows = [{"instruction": p, "output": style.format(p), "generator": name, "dataset": "d"} for p in prompts]
        (folder / f"{name}.json").write_text(json.dumps(rows))
    said: list[str] = []
    kwargs = dict(families=(Family("base", ("v",)),), n_boot=20, reuse=True, say=said.append)
    first = run_real_checkpoints(folder, tmp_path / "real", **kwargs)
    assert not any(line.startswith("  reusing") for line in said)
    second = run_real_checkpoints(folder, tmp_path / "real", **kwargs)
    assert said[-1].startswith("  reusing") and second.model_dump_json() == first.model_dump_json()
    rows = json.loads((folder / "v.json").read_text())
    rows[0]["output"] = "Changed."
    (folder / "v.json").write_text(json.dumps(rows))
    said.clear()
    third = run_real_checkpoints(folder, tmp_path / "real", **kwargs)
    assert not any(line.startswith("  reusing") for line in said) and third.summary("v").sha256 != first.summary("v").sha256
