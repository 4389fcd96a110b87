"""Probability-weighted (G-Eval) judge scores, checked by hand on judges whose log-probabilities are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.errors import ConfigError
from evalsuite.jsonl import read_jsonl
from evalsuite.reports.judge_runs import PanelResult, combine_panel
from evalsuite.results import load_result
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult, MultipleChoiceResult
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.panel import RubricJudgeTask, RubricProbabilityTask
from evalsuite.tasks.judging.probability import expected_score
from evalsuite.tasks.judging.rubric import load_rubric

DIMS = load_rubric("default").dimension_names


@pytest.fixture()
def runs(tmp_path):
    """Two generation runs of three prompts; the answer text names the quality a stub judge reads."""
    folders = []
    for name, qualities in (("sft", [5, 2, 4]), ("dpo", [3, 3, 1])):
        folder = tmp_path / name / "generate"
        folder.mkdir(parents=True)
        folder.joinpath("samples.jsonl").write_text("".join(
            json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Question {i}?",
                        "response": f"Answer {i} of quality Q{q}."}) + "\n" for i, q in enumerate(qualities)))
        folders.append(str(folder))
    return folders


def test_expected_score_by_hand():
    # p = 0.1, 0.2, 0.3 on scale points 1, 2, 3: mass 0.6, renormalised p = 1/6, 2/6, 3/6.
    scored = expected_score([math.log(0.1), math.log(0.2), math.log(0.3)], [1, 2, 3])
    assert scored.score == pytest.approx((1 * 0.1 + 2 * 0.2 + 3 * 0.3) / 0.6, abs=1e-12)
    assert scored.mass == pytest.approx(0.6, abs=1e-12)
    assert scored.probabilities == pytest.approx([1 / 6, 2 / 6, 3 / 6], abs=1e-12)
    tiny = expected_score([-2000.0, -2001.0], [1, 2])  # exp underflows; the renormalised score is still defined
    assert tiny.score == pytest.approx((1 + 2 * math.exp(-1)) / (1 + math.exp(-1)), abs=1e-12) and tiny.mass == 0.0


class StubJudge:
    """A judge backend whose verdict and log-likelihoods follow the answer's quality Q<q> (known exactly)."""

    name = "stub"

    def __init__(self, verdicts: bool = True):
        self.verdicts = verdicts
        self.fingerprint = ModelFingerprint(model="stub", revision=None, weights_sha256="0" * 64, backend="stub",
                                            dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True, loglikelihoods=True)

    @staticmethod
    def quality(text: str) -> int:
        return int(text.split("of quality Q")[1][0])

    def generate(self, requests):
        for i, r in enumerate(requests):
            q = self.quality(r.messages[-1]["content"])
            text = "".join(f"[[{d}: {q}]]\n" for d in DIMS) if self.verdicts and q != 3 else "I cannot say."
            yield [i], [GenerationResult(responses=[text], new_tokens=[1], finish_reasons=["stop"], prompt_tokens=1)]

    def loglikelihoods(self, requests):
        for i, r in enumerate(requests):
            q = self.quality(r.prefix)
            assert r.text.startswith("[[") and r.continuations == [f"{s}]]" for s in range(1, 6)]
            # log p(s) = -1 - |s - q|: known, so the expectation can be computed by hand.
            yield [i], [MultipleChoiceResult(loglikelihoods=[-1.0 - abs(s - q) for s in range(1, 6)], path="stub",
                                             prompt_tokens=1)]

    def close(self):
        pass


def by_hand(q: int) -> tuple[float, float]:
    weights = [math.exp(-1.0 - abs(s - q)) for s in range(1, 6)]
    return sum(s * w for s, w in zip(range(1, 6), weights)) / sum(weights), sum(weights)


def test_panel_carries_both_scorings_and_their_agreement(runs, tmp_path):
    out = tmp_path / "panel"
    params = {"runs": runs, "n_boot": 50}
    with ResultStore(tmp_path / "s.sqlite") as store:
        judge = StubJudge()
        evaluate(RubricJudgeTask(params), judge, store, out_dir=out / "j1")
        evaluate(RubricProbabilityTask(params), judge, store, out_dir=out / "j1" / "probability")
    result = combine_panel(out, ["j1"])
    assert isinstance(load_result(out), PanelResult)
    qualities = {"sft/generate": [5, 2, 4], "dpo/generate": [3, 3, 1]}
    for label, qs in qualities.items():
        expected = np.mean([by_hand(q)[0] for q in qs])
        for dim in DIMS:
            assert result.probability_scores[label][dim].mean == pytest.approx(expected, abs=1e-12)
            assert result.probability_scores[label][dim].n_items == 3
    # The quality-3 verdicts are unparseable: the parsed means leave them out, the probability scores do not.
    assert result.scores["dpo/generate"][DIMS[0]].mean == 1.0 and result.scores["dpo/generate"][DIMS[0]].n_items == 1
    assert result.judgments["unparseable"] == 2
    masses = [by_hand(q)[1] for q in qualities["sft/generate"] + qualities["dpo/generate"]]
    assert result.probability_mass[DIMS[0]].mean == pytest.approx(np.mean(masses), abs=1e-12)
    assert result.probability_mass[DIMS[0]].min == pytest.approx(min(masses), abs=1e-12)
    # Agreement over the 4 items with both scores, against pandas' own correlations.
    both = pd.DataFrame({"parsed": [5, 2, 4, 1], "prob": [by_hand(q)[0] for q in (5, 2, 4, 1)]})
    agreement = result.scoring_agreement[DIMS[0]]
    assert (agreement.n_both, agreement.n_parsed_only, agreement.n_probability_only) == (4, 0, 2)
    assert agreement.pearson == pytest.approx(both.corr().iloc[0, 1], abs=1e-12)
    assert agreement.spearman == pytest.approx(both.corr(method="spearman").iloc[0, 1], abs=1e-12)
    assert "parsed" in result.scoring["scores"] and "probability-weighted" in result.scoring["probability_scores"]
    records = read_jsonl(out / "judgments.jsonl")
    unparsed = next(r for r in records if r["status"] == "unparseable")
    assert unparsed["probability_scores"][DIMS[0]] == pytest.approx(by_hand(3)[0], abs=1e-12)
    assert unparsed["mass"][DIMS[0]] == pytest.approx(by_hand(3)[1], abs=1e-12)


def test_probability_requests_keep_the_verdict_runs_prompts(runs):
    verdict, scoring = RubricJudgeTask({"runs": runs}), RubricProbabilityTask({"runs": runs})
    prompts = {r.key: r.messages[0]["content"] for r in verdict.requests()}
    requests = scoring.requests()
    assert len(requests) == len(prompts) * len(DIMS)
    for r in requests:
        ref, dim = r.key.split("#")
        assert r.group == ref and r.prefix == prompts[ref] + "\n\n" and r.text == f"[[{dim}: "
    # The parsed task's requests and run key are what they were: a probability run adds, never replaces.
    assert "judge_tokenizer" not in verdict.resolved_params()
    assert "judge_temperature" not in scoring.resolved_params() and scoring.resolved_params()["prompt_format"] == "plain"


def test_a_judge_without_log_likelihoods_is_refused_before_any_judging(runs, tmp_path):
    judge = JudgeSpec(name="remote", base_url="http://127.0.0.1:9/v1", model="gpt-x", api_key_env="")
    with ResultStore(tmp_path / "s.sqlite") as store, pytest.raises(ConfigError) as info:
        run_judges(RubricJudgeTask, {"runs": runs}, [judge], store, tmp_path / "out", probability_cls=RubricProbabilityTask)
    message = str(info.value)
    assert "judge 'remote': probability-weighted scores need the judge's log-likelihoods" in message
    assert "no tokenizer for model 'gpt-x'" in message and "6th field of --judge" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_probability_scores_of_a_tiny_model_by_hand_and_through_serve(runs, tiny_model, start_serve, tmp_path):
    """The tiny model's own log-probabilities (a forward pass here) give the scores, via hf and via `evalsuite serve`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.backends import load_backend

    params = {"runs": runs[:1], "n_boot": 20, "judge_tokenizer": str(tiny_model)}
    with ResultStore(tmp_path / "s.sqlite") as store:
        backend = load_backend("hf", {"model": str(tiny_model)})
        evaluate(RubricProbabilityTask(params), backend, store, out_dir=tmp_path / "hf")
    hf = {s["item"]: s for s in read_jsonl(tmp_path / "hf" / "samples.jsonl")}
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_model), AutoModelForCausalLM.from_pretrained(tiny_model)
    rubric, item = load_rubric("default"), "generate/0/0"
    context = rubric.prompt("Question 0?", "Answer 0 of quality Q5.") + "\n\n" + f"[[{DIMS[1]}:"
    lls = []
    for s in range(1, 6):  # lm-eval's rule: the context's trailing space moves into the continuation
        ctx, whole = tokenizer(context)["input_ids"], tokenizer(context + f" {s}]]")["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
        lls.append(sum(float(logp[t - 1, whole[t]]) for t in range(len(ctx), len(whole))))
    probs = np.exp(lls)
    assert hf[item]["probability_scores"][DIMS[1]] == pytest.approx(float(np.dot(range(1, 6), probs) / probs.sum()), abs=1e-4)
    assert hf[item]["mass"][DIMS[1]] == pytest.approx(float(probs.sum()), rel=1e-3)

    with start_serve(tiny_model) as url, ResultStore(tmp_path / "s2.sqlite") as store:
        judge = JudgeSpec(name="tiny", base_url=url, model="tiny", tokenizer=str(tiny_model), max_tokens=4,
                          api_key_env="")
        run_judges(RubricJudgeTask, {"runs": runs[:1], "n_boot": 20}, [judge], store, tmp_path / "panel",
                   probability_cls=RubricProbabilityTask)
    result = combine_panel(tmp_path / "panel", ["tiny"])
    served = {s["item"]: s for s in read_jsonl(tmp_path / "panel" / "tiny" / "probability" / "samples.jsonl")}
    for ref, sample in hf.items():
        for dim in DIMS:
            assert served[ref]["probability_scores"][dim] == pytest.approx(sample["probability_scores"][dim], abs=1e-4)
    assert result.probability_judges == ["tiny"] and result.probability_scores["generate"][DIMS[0]].n_items == 3


def test_cli_panel_with_probabilities_and_the_refusal(runs, tmp_path, capsys):
    """`evalsuite judge panel --probabilities` against an endpoint that echoes prompt log-probabilities."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from evalsuite.cli import main
    from evalsuite.tiny import train_tokenizer

    train_tokenizer(["[[task_completion: 4]] Question Answer quality 1 2 3 4 5"] * 20, vocab_size=300).save_pretrained(
        tmp_path / "tok")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.endswith("/chat/completions"):
                choice = {"message": {"content": "".join(f"[[{d}: 4]]\n" for d in DIMS)}}
            else:  # an echoed token-id prompt: every token log p = -0.5
                choice = {"text": "", "logprobs": {"token_logprobs": [None] + [-0.5] * (len(body["prompt"]) - 1)}}
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"choices": [choice]}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    common = ["judge", "panel", *runs, "--store", str(tmp_path / "s.sqlite"), "--probabilities"]
    assert main([*common, "--judge", f"{url},m,j1", "--out", str(tmp_path / "refused")]) != 0
    assert "judge 'j1': probability-weighted scores need the judge's log-likelihoods" in capsys.readouterr().err
    code = main([*common, "--judge", f"{url},m,j1,0,,{tmp_path / 'tok'}", "--out", str(tmp_path / "panel")])
    server.shutdown()
    printed = capsys.readouterr().out
    assert code == 0 and "run (probability)" in printed and "parsed vs probability scores" in printed
    result = load_result(tmp_path / "panel")
    assert result.probability_judges == ["j1"] and result.scores["sft/generate"][DIMS[0]].mean == 4.0
    stats = result.probability_scores["sft/generate"][DIMS[0]]
    # Every option is equally likely (same tokens, same log p): the expectation is the scale's middle, 3, and the
    # mass is 5 x exp(-0.5 x the option's token count).
    assert stats.n_items == 3 and stats.mean == pytest.approx(3.0, abs=1e-12)
    tokens = math.log(result.probability_mass[DIMS[0]].mean / 5) / -0.5
    assert tokens == pytest.approx(round(tokens), abs=1e-9) and round(tokens) >= 1


def test_the_judges_chat_template_renders_the_scored_prompt(runs, tmp_path):
    from evalsuite.tiny import train_tokenizer

    tokenizer = train_tokenizer(["Question Answer quality"] * 10, vocab_size=300)
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    tokenizer.save_pretrained(tmp_path / "chat")
    task = RubricProbabilityTask({"runs": runs, "judge_tokenizer": str(tmp_path / "chat")})
    prompts = {r.key: r.messages[0]["content"] for r in RubricJudgeTask({"runs": runs}).requests()}
    request = task.requests()[0]
    assert request.prefix == f"<|user|>{prompts[request.group]}\n<|assistant|>"
    assert task.resolved_params()["prompt_format"].startswith("chat_template:")
