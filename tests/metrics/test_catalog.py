"""Metrics by name: the catalog in the registry, the report built from it, and `evalsuite metrics --metric`."""

import json

import pytest

from evalsuite.cli import main
from evalsuite.errors import ConfigError
from evalsuite.metrics import compression_ratio, distinct_n, ead, repetition, self_bleu
from evalsuite.metrics.catalog import BUILTIN
from evalsuite.metrics.diversity.suite import SuiteConfig, diversity_report, metric_report
from evalsuite.metrics.names import DIVERSITY
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult, make_signature
from evalsuite.registry import METRICS

TEXTS = ["the cat sat on the mat", "the cat sat on a log", "a dog ran under the red mat",
         "the the the the the", "blue log and red mat", "the cat sat on the mat"]
GROUPS = [1, 1, 2, 2, 3, 3]


def mean_chars(texts, *, groups=None, mode="across", resampling=NO_CI, scale=1.0):
    """An outside metric with the documented signature."""
    value = scale * sum(map(len, texts)) / len(texts)
    return MetricResult("mean-chars", value, make_signature("mean-chars", scale=scale, mode=mode), n=len(texts))


@pytest.fixture()
def outside_metric(monkeypatch):
    METRICS.names()  # load the built-ins first
    monkeypatch.setitem(METRICS._entries, "mean_chars_probe", mean_chars)
    monkeypatch.setitem(METRICS._entries, "not_a_metric_probe", lambda texts, **_: 0.5)


def test_every_diversity_name_is_registered_once():
    assert set(BUILTIN) == set(DIVERSITY)
    assert set(DIVERSITY) <= set(METRICS.names())


def test_a_name_is_its_library_function_with_fixed_arguments():
    r = Resampling(ci=True, n_boot=30, seed=2)
    kw = dict(groups=GROUPS, mode="within", resampling=r)
    assert METRICS.get("distinct_3")(TEXTS, **kw) == distinct_n(TEXTS, 3, **kw)
    assert METRICS.get("ead_2")(TEXTS, vocab_size=50, **kw) == ead(TEXTS, 2, vocab_size=50, **kw)
    assert METRICS.get("repeat_rate_4x3")(TEXTS, **kw) == repetition(TEXTS, "rate", n=4, k=3, **kw)
    assert METRICS.get("self_bleu_4")(TEXTS, smoothing="exp", **kw) == self_bleu(TEXTS, 4, "exp", **kw)
    # compression re-compresses every resample: the catalog caps its resamples at 100
    capped = METRICS.get("compression")(TEXTS, resampling=Resampling(ci=True, n_boot=500))
    assert capped == compression_ratio(TEXTS, resampling=Resampling(ci=True, n_boot=100))
    with pytest.raises(ConfigError, match="distinct_n is fixed to {'n': 2}.*takes no n"):
        METRICS.get("distinct_2")(TEXTS, n=3)


def test_report_holds_every_id_in_order():
    report = diversity_report(TEXTS, GROUPS, SuiteConfig(resampling=NO_CI))
    expected = [n for n in DIVERSITY if n not in ("embedding_distance", "vendi")]
    assert list(report) == ["within", "across"] and list(report["within"]) == expected
    assert report["across"]["distinct_2"] == distinct_n(TEXTS, 2, groups=GROUPS)
    assert report["within"]["self_bleu_4"] == self_bleu(TEXTS, groups=GROUPS, mode="within")
    assert list(diversity_report(TEXTS, None, SuiteConfig(resampling=NO_CI))) == ["across"]


def test_metric_report_runs_any_registered_name(outside_metric):
    report = metric_report(["mean_chars_probe", "distinct_1"], TEXTS, GROUPS, NO_CI, {})
    assert report["within"]["mean_chars_probe"].value == pytest.approx(sum(map(len, TEXTS)) / 6)
    assert report["within"]["distinct_1"] == distinct_n(TEXTS, 1, groups=GROUPS, mode="within")
    with pytest.raises(ConfigError, match="metric 'not_a_metric_probe' returned float; a metric returns a MetricResult"):
        metric_report(["not_a_metric_probe"], TEXTS)


def test_cli_runs_a_metric_by_name_with_options(outside_metric, tmp_path, capsys):
    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps({"response": t, "prompt_id": g}) + "\n" for t, g in zip(TEXTS, GROUPS)))
    out = tmp_path / "m.json"
    code = main(["metrics", str(path), "--metric", "mean_chars_probe", "--metric", "seq_rep_4", "-M", "scale=2",
                 "--group-by", "prompt_id", "--no-ci", "--out", str(out)])
    # scale is an option of mean_chars only; seq_rep_4 (repetition) refuses it
    assert code == 2 and "metric 'seq_rep_4' takes no option scale; its options: tokenizer, lowercase" in capsys.readouterr().err
    assert main(["metrics", str(path), "--metric", "mean_chars_probe", "-M", "scale=2", "--group-by", "prompt_id",
                 "--no-ci", "--out", str(out)]) == 0
    assert "mean_chars_probe" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["metrics"] == ["mean_chars_probe"] and data["options"] == {"scale": 2}
    result = data["results"]["all"]["across"]["mean_chars_probe"]
    assert result["value"] == pytest.approx(2 * sum(map(len, TEXTS)) / 6)
    assert result["signature"].startswith("mean-chars|scale:2|mode:across")
    assert main(["metrics", str(path), "--metric", "no_such_metric"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'no_such_metric'; registered:" in err and "distinct_2" in err
