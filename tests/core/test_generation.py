"""Generation task on a tiny local model: sampling, storage, resumption, diversity scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.backends import load_backend
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError, ModelError
from evalsuite.metrics import distinct_n
from evalsuite.registry import get_task
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

PROMPTS = [{"id": "p1", "prompt": "Tell me about the sea."}, {"id": "p2", "prompt": "写一首关于春天的诗。"},
           {"id": "p3", "prompt": "List three colours."}]


@pytest.fixture()
def prompt_file(tmp_path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


def _task(prompt_file, **params):
    base = {"prompts": str(prompt_file), "id_field": "id", "n": 3, "max_new_tokens": 12, "chat_template": False, "n_boot": 20}
    return get_task("generate")({**base, **params})


def test_samples_are_stored_seeded_and_scored(tiny_model, prompt_file, tmp_path):
    backend = load_backend("hf", {"model": str(tiny_model)})
    with ResultStore(tmp_path / "s.sqlite") as store:
        first = evaluate(_task(prompt_file), backend, store, out_dir=tmp_path / "a")
        again = evaluate(_task(prompt_file), backend, store, out_dir=tmp_path / "b")
        other_seed = evaluate(_task(prompt_file, seed=1), backend, store, out_dir=tmp_path / "c")
    samples = [json.loads(l) for l in (tmp_path / "a" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(s["prompt_id"], s["sample_index"]) for s in samples] == [(p["id"], i) for p in PROMPTS for i in range(3)]
    assert all(0 < s["new_tokens"] <= 12 and s["finish_reason"] in ("stop", "length") for s in samples)
    assert first.timings.items_computed == 3 and again.timings.items_from_store == 3
    assert other_seed.timings.items_computed == 3  # the seed is part of the key
    assert first.seeds["sampling"] == 0 and first.task_metadata["sampling"]["n"] == 3
    # The stored scores are the metrics library's numbers on the stored responses.
    texts = [s["response"] for s in samples]
    groups = [s["prompt_id"] for s in samples]
    assert first.scores.across["distinct_2"].value == pytest.approx(distinct_n(texts, 2).value)
    assert first.scores.within["distinct_2"].value == pytest.approx(
        distinct_n(texts, 2, groups=groups, mode="within").value
    )
    assert first.scores.responses == 9


def test_samples_do_not_depend_on_which_other_prompts_run(tiny_model, prompt_file, tmp_path):
    backend = load_backend("hf", {"model": str(tiny_model)})
    with ResultStore(tmp_path / "a.sqlite") as a, ResultStore(tmp_path / "b.sqlite") as b:
        evaluate(_task(prompt_file), backend, a, out_dir=tmp_path / "all")
        evaluate(_task(prompt_file, limit=1), backend, b, out_dir=tmp_path / "one")
    first_all = (tmp_path / "all" / "samples.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    only = (tmp_path / "one" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert first_all == only


def test_chat_prompts_need_a_chat_template(tiny_model, prompt_file, tmp_path):
    backend = load_backend("hf", {"model": str(tiny_model)})
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(ModelError, match="has no chat template.*chat_template=false"):
            evaluate(_task(prompt_file, chat_template=True), backend, store)


def test_chat_template_is_applied(tiny_model, prompt_file, tmp_path):
    backend = load_backend("hf", {"model": str(tiny_model)})
    backend.tokenizer.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}<assistant>"
    request = _task(prompt_file, chat_template=True, system_prompt="Be brief.").requests()[0]
    text = backend.tokenizer.decode(backend.prompt_ids(request))
    assert text == "<system>Be brief.\n<user>Tell me about the sea.\n<assistant>"


def test_hf_backend_declares_what_it_does(tiny_model):
    from evalsuite.backend import Capabilities
    from evalsuite.backends.hf import HFConfig
    from evalsuite.registry import BACKENDS

    backend = load_backend("hf", {"model": str(tiny_model)})
    assert type(backend) is BACKENDS.get("hf") and backend.name == "hf" and backend.Config is HFConfig
    assert backend.capabilities == Capabilities(
        loglikelihoods=True, generate=True, exact_recompute=True, prompt_logprobs=True
    )
    assert load_backend("hf", {"model": str(tiny_model), "autocast": "bfloat16"}).capabilities.reduced_precision


def test_greedy_needs_one_sample(prompt_file):
    with pytest.raises(ConfigError, match="temperature=0 is greedy decoding.*set n=1"):
        _task(prompt_file, temperature=0)


def test_bad_prompt_file_names_record_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"text": "no prompt field"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl: line 2: missing field 'prompt'"):
        get_task("generate")({"prompts": str(path), "chat_template": False})


@pytest.mark.integration
def test_builtin_prompt_sets(data_dir):
    alpaca = get_task("generate")({"prompts": "alpaca_eval"}, data=DataRoots.from_root(data_dir))
    mt_bench = get_task("generate")({"prompts": "mt_bench"}, data=DataRoots.from_root(data_dir))
    assert len(alpaca.prompts) == 805 and len(mt_bench.prompts) == 80
    assert mt_bench.prompts[0].id == "81"


def test_batched_prompts_match_unbatched_greedy(tiny_model, prompt_file, tmp_path):
    """Left-padded multi-prompt batches give the same greedy continuations as one prompt at a time."""
    single = load_backend("hf", {"model": str(tiny_model)})
    batched = load_backend("hf", {"model": str(tiny_model), "generation_batch_prompts": 3})
    task = _task(prompt_file, temperature=0, n=1)
    with ResultStore(tmp_path / "a.sqlite") as a, ResultStore(tmp_path / "b.sqlite") as b:
        evaluate(task, single, a, out_dir=tmp_path / "single")
        evaluate(task, batched, b, out_dir=tmp_path / "batched")
    one = [json.loads(l)["response"] for l in (tmp_path / "single" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    many = [json.loads(l)["response"] for l in (tmp_path / "batched" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert one == many
