"""The judge reliability audit on real pairwise runs (judges behind local HTTP servers) and typed records."""

from __future__ import annotations


import pytest

from evalsuite.errors import DataError
from evalsuite.reports.human_ratings import HumanAgreement, HumanRatingsResult, JudgeHumanAgreement
from evalsuite.reports.judge_audit import JudgeAudit, audit_judges, gate_refusal, html_section, write_audit
from evalsuite.reports.judge_pairwise import combine_pairwise
from evalsuite.reports.judge_runs import AgreementStats, PanelResult
from evalsuite.results import load_result, provenance
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask

BASE = ["short", "tiny", "mini", "wee", "small one"]
CAND = ["a much longer answer", "also quite a bit longer", "longer still here", "x", "<b>bold & long answer</b>"]


@pytest.fixture()
def pairwise(tmp_path, pair_judge, answer_runs):
    folders = answer_runs({"base": BASE, "cand": CAND})
    longer = lambda a, b: "[[A]]" if len(a) > len(b) else "[[B]]" if len(b) > len(a) else "[[C]]"  # noqa: E731
    rules = {"cand": longer, "first": lambda a, b: "[[A]]", "tie": lambda a, b: "[[C]]"}
    judges = [JudgeSpec(name=name, base_url=pair_judge(rule), model="rule") for name, rule in rules.items()]
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_judges(PairwiseJudgeTask, {"runs": [str(f) for f in folders], "n_boot": 20}, judges, store, tmp_path / "pw")
    combine_pairwise(tmp_path / "pw", ["cand", "first", "tie"])
    return tmp_path / "pw"


def _panel(alphas):
    return PanelResult(provenance=provenance(), judges=[], judgments={}, rubric={}, rubric_sha256="0", order_seed=0,
                       runs=["base", "cand"], items=4, scores={},
                       agreement={d: AgreementStats(krippendorff_alpha_ordinal=a, fleiss_kappa=None, n_items_all_judges=4)
                                  for d, a in alphas.items()})


def test_audit_measures_each_judge(pairwise, tmp_path):
    ratings = HumanRatingsResult(
        provenance=provenance(), sheet="sheet", panel="panel", raters=["r1.csv"], items=4, means={},
        human_agreement={"helpfulness": HumanAgreement()}, resampling={},
        judge_agreement={"tie": {"helpfulness": JudgeHumanAgreement(n=4, cohen_kappa_quadratic=0.25, spearman=0.4)},
                         "panel-only": {"helpfulness": JudgeHumanAgreement(n=4, cohen_kappa_quadratic=-0.1)}})
    (tmp_path / "ratings").mkdir()
    (tmp_path / "ratings" / "results.json").write_text(ratings.model_dump_json())
    (tmp_path / "panel").mkdir()
    (tmp_path / "panel" / "results.json").write_text(_panel({"helpfulness": 0.41, "harmlessness": 0.9}).model_dump_json())
    audit = audit_judges(pairwise, ratings=tmp_path / "ratings", panel=tmp_path / "panel")
    cand, first, tie = audit.judges["cand"], audit.judges["first"], audit.judges["tie"]
    # By hand: "cand" prefers the longer answer (characters) in both orders, so it never flips; cand's answer is
    # longer on 4 of 5. Length bias counts words, and "wee" / "x" have one word each: 4 decisive, all to the longer.
    assert (cand.position_flip_rate, cand.longer_answer_win_share, cand.n_decisive) == (0.0, 1.0, 4)
    # "first" always answers A: every pair flips, and the first position won both orders on all 5.
    assert (first.position_flip_rate, first.first_position_favoured, first.n_pairs_both_orders) == (1.0, 5, 5)
    assert first.longer_answer_win_share is None and first.self_preference is None
    # "cand" judges its namesake run: 4 of 5 wins for itself; the other judges give it ties only (0.5).
    sp = cand.self_preference
    assert (sp.own_run, sp.n, sp.own_win_rate, sp.others_win_rate) == ("cand", 5, 0.8, 0.5)
    assert sp.self_preference == pytest.approx(0.3)
    assert tie.human_agreement["helpfulness"].cohen_kappa_quadratic == 0.25
    assert audit.judges["panel-only"].human_agreement["helpfulness"].cohen_kappa_quadratic == -0.1
    # Written atomically, read back by kind.
    path = write_audit(tmp_path / "audit", audit)
    again = load_result(path)
    assert isinstance(again, JudgeAudit) and again.judges == audit.judges
    html = html_section(again)
    assert "<td>cand</td>" in html and "panel alpha 0.41 &lt; 0.667 on helpfulness" in html
    # An explicit mapping names the own run when the judge's name does not.
    mapped = audit_judges(pairwise, self_runs={"first": "base"})
    assert mapped.judges["first"].self_preference.own_run == "base"
    with pytest.raises(DataError, match="maps judge 'first' to 'gpt'"):
        audit_judges(pairwise, self_runs={"first": "gpt"})


def test_gate_refusal(tmp_path):
    assert gate_refusal(_panel({"helpfulness": 0.8, "harmlessness": 0.7})) is None
    message = gate_refusal(_panel({"helpfulness": 0.41, "harmlessness": 0.9}))
    assert message.startswith("panel alpha 0.41 < 0.667 on helpfulness (Krippendorff, ordinal)")
    assert gate_refusal(_panel({"helpfulness": 0.41}), threshold=0.4) is None
    assert "undefined on helpfulness" in gate_refusal(_panel({"helpfulness": None}))
    assert gate_refusal(_panel({"helpfulness": 0.41, "harmlessness": 0.9}), dimensions=["harmlessness"]) is None
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "results.json").write_text(_panel({"helpfulness": 0.5}).model_dump_json())
    assert "0.50 < 0.667 on helpfulness" in gate_refusal(tmp_path / "p")
    with pytest.raises(DataError, match="no dimension 'style'"):
        gate_refusal(_panel({"helpfulness": 0.8}), dimensions=["style"])


def test_html_section_escapes_judge_names():
    audit = JudgeAudit(provenance=provenance(), pairwise=None, ratings=None, panel=None, judges={}, panel_alpha={})
    audit.judges["<script>x</script>"] = audit_judges.__globals__["JudgeAuditEntry"](
        judge="<script>x</script>", n_pairs_both_orders=0, position_flip_rate=None, first_position_favoured=0,
        second_position_favoured=0, longer_answer_win_share=None, n_decisive=0)
    html = html_section(audit)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
