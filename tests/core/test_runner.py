"""Runner, store and hf backend on a tiny local model: resumption, keys, fast path vs general path."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsuite.backends import load_backend
from evalsuite.backends.mc_scoring import MultipleChoiceScorer
from evalsuite.data import DataRoots
from evalsuite.errors import ModelError
from evalsuite.registry import get_task
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")
SUBJECTS = "anatomy,astronomy,virology,marketing"


def _samples(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.integration
def test_killed_run_resumes_without_recomputing(tiny_model, data_dir, tmp_path):
    store = tmp_path / "store.sqlite"
    base = [
        EVALSUITE, "run", "--model", str(tiny_model), "--task", "mmlu", "-T", f"subjects={SUBJECTS}",
        "-T", "shots=1", "--data-dir", str(data_dir), "--no-progress", "--threads", "1",
    ]
    cmd = [*base, "--store", str(store), "--batch-size", "1"]
    process = subprocess.Popen([*cmd, "--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _stored(store) < 40 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored_at_kill = _stored(store)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed; make it longer"
    assert 40 <= stored_at_kill
    assert not (tmp_path / "killed" / "results.json").exists()

    subprocess.run([*cmd, "--out", str(tmp_path / "resumed")], check=True, capture_output=True)
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    total = resumed["timings"]["items_total"]
    assert stored_at_kill < total
    assert resumed["timings"]["items_from_store"] == stored_at_kill
    assert resumed["timings"]["items_computed"] == total - stored_at_kill

    fresh = tmp_path / "fresh.sqlite"
    subprocess.run([*base, "--store", str(fresh), "--out", str(tmp_path / "fresh")], check=True, capture_output=True)
    uninterrupted = json.loads((tmp_path / "fresh" / "results.json").read_text())
    assert resumed["scores"] == uninterrupted["scores"]
    for a, b in zip(_samples(tmp_path / "resumed"), _samples(tmp_path / "fresh"), strict=True):
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-5)
        assert a["prediction"] == b["prediction"]


def _mmlu(data_dir, **params):
    return get_task("mmlu")({"subjects": ["anatomy"], "limit": 10, **params}, data=DataRoots.from_root(data_dir))


@pytest.mark.integration
def test_fast_path_equals_general_path(tiny_model, data_dir, tmp_path, monkeypatch):
    """The single-token + prefix-cache path gives lm-eval's general-path numbers."""
    prefix_shared_items = []
    single_token = MultipleChoiceScorer._score_single_token

    def counting(self, batch, prefix_cache, prefix_len, exact):
        prefix_shared_items.extend(p.index for p in batch if prefix_cache is not None)
        return single_token(self, batch, prefix_cache, prefix_len, exact)

    monkeypatch.setattr(MultipleChoiceScorer, "_score_single_token", counting)
    fast = load_backend("hf", {"model": str(tiny_model)})
    general = load_backend("hf", {"model": str(tiny_model), "single_token_fast_path": False, "prefix_sharing": False})
    task = _mmlu(data_dir, shots=3)
    with ResultStore(tmp_path / "a.sqlite") as a, ResultStore(tmp_path / "b.sqlite") as b:
        fast_record = evaluate(task, fast, a, out_dir=tmp_path / "fast")
        general_record = evaluate(task, general, b, out_dir=tmp_path / "general")
    assert fast_record.computation == {"single-token_items": 10, "truncated_items": 0}
    assert general_record.computation == {"general_items": 10, "truncated_items": 0}
    assert len(prefix_shared_items) == 10  # every item reused the shared few-shot prefix's cache
    for x, y in zip(_samples(tmp_path / "fast"), _samples(tmp_path / "general"), strict=True):
        assert x["loglikelihoods"] == pytest.approx(y["loglikelihoods"], abs=1e-5)


@pytest.mark.integration
def test_store_does_not_serve_one_models_answers_to_another(tiny_model, data_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    weights = load_file(other / "model.safetensors")
    weights = {k: v * 1.5 if v.ndim == 2 else v for k, v in weights.items()}
    save_file(weights, other / "model.safetensors", metadata={"format": "pt"})
    task = _mmlu(data_dir)
    with ResultStore(tmp_path / "shared.sqlite") as store:
        first = evaluate(task, load_backend("hf", {"model": str(tiny_model)}), store)
        second = evaluate(task, load_backend("hf", {"model": str(other)}), store)
        again = evaluate(task, load_backend("hf", {"model": str(tiny_model)}), store)
    assert first.model["weights_sha256"] != second.model["weights_sha256"]
    assert second.timings.items_from_store == 0 and second.timings.items_computed == 10
    assert again.timings.items_from_store == 10 and again.timings.items_computed == 0


@pytest.mark.integration
def test_prompt_longer_than_context_is_an_error_or_reported(tiny_model, data_dir, tmp_path):
    task = _mmlu(data_dir, shots=5)
    strict = load_backend("hf", {"model": str(tiny_model), "max_length": 64})
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(ModelError, match=r"item anatomy/0: prompt is \d+ tokens, longer than the model's context of 64"):
            evaluate(task, strict, store)
        lenient = load_backend("hf", {"model": str(tiny_model), "max_length": 64, "truncation": "left"})
        record = evaluate(task, lenient, store, out_dir=tmp_path / "t")
    assert record.computation["truncated_items"] == 10
    assert all(s["truncated_tokens"] > 0 for s in _samples(tmp_path / "t"))


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no such directory"):
        load_backend("hf", {"model": str(tmp_path / "missing")})


def test_bin_only_checkpoint_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="no .safetensors weights"):
        load_backend("hf", {"model": str(tmp_path / "ckpt")})


@pytest.mark.integration
def test_cli_run_writes_results_and_samples(tiny_model, data_dir, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [EVALSUITE, "run", "--model", str(tiny_model), "--task", "ceval", "-T", "subjects=accountant,logic",
         "-T", "limit=5", "--data-dir", str(data_dir), "--out", str(out),
         "--store", str(tmp_path / "s.sqlite"), "--no-progress"],
        capture_output=True, text=True, check=True,
    )
    assert "question-weighted" in result.stdout and "accountant" in result.stdout
    record = json.loads((out / "results.json").read_text())
    assert record["task"]["params_resolved"]["subjects"] == ["accountant", "logic"]
    assert record["task"]["params_passed"] == {"subjects": "accountant,logic", "limit": 5}
    assert record["provenance"]["git"]["commit"] and "torch" in record["provenance"]["packages"]
    samples = _samples(out)
    assert [(s["subject"], s["index"]) for s in samples] == [("accountant", i) for i in range(5)] + [("logic", i) for i in range(5)]
    for sample in samples:
        assert set(sample) >= {"subject", "index", "loglikelihoods", "prediction", "target", "correct", "prompt_sha256"}
        assert sample["correct"] == (sample["prediction"] == sample["target"])


def test_cli_reports_unknown_parameter_with_exit_code_2(tmp_path):
    result = subprocess.run(
        [EVALSUITE, "run", "--model", str(tmp_path), "--task", "mmlu", "-T", "shot=5"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "shot: unknown field" in result.stderr
    assert "known fields: chat_template, fewshot_as_multiturn, limit, mode, prompt, shots, subjects, system, tokenizer" in result.stderr


def _cli_error(*args: str) -> str:
    result = subprocess.run([EVALSUITE, "run", "--task", "mmlu", *args], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_backend_options_are_checked_by_the_chosen_backends_config(tmp_path):
    model = ["--model", str(tmp_path)]
    unknown = _cli_error(*model, "-B", "batch_sise=4")
    assert "invalid options for backend 'hf'" in unknown and "batch_sise: unknown field" in unknown
    assert "known fields: add_bos_token" in unknown
    # An alias flag is only an option name: --base-url means nothing to the hf backend, and says so.
    assert "base_url: unknown field" in _cli_error(*model, "--base-url", "http://127.0.0.1:1/v1")
    assert "dtype: Input should be 'auto'" in _cli_error(*model, "--dtype", "float8")
    assert "'batch_size' given twice with different values: 4 and 8" in _cli_error(*model, "-B", "batch_size=4", "--batch-size", "8")
    assert "-B expects key=value, got 'batch_size'" in _cli_error(*model, "-B", "batch_size")
    assert "invalid choice: 'nope'" in _cli_error(*model, "--backend", "nope")
    assert "batch_size: unknown field" in _cli_error("--model", "m", "--backend", "openai", "--batch-size", "4")


def test_tasks_lists_backends_and_their_options():
    result = subprocess.run([EVALSUITE, "tasks", "--backends"], capture_output=True, text=True, check=True,
                            env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"})
    for text in ("hf", "openai", "vllm", "max_batch_tokens=1024", "max_retries=5", "gpu_memory_utilization=0.9"):
        assert text in result.stdout


@pytest.mark.integration
def test_reduced_precision_reports_agreement_with_fp32(tiny_model, data_dir, tmp_path):
    task = _mmlu(data_dir, shots=1)
    exact = load_backend("hf", {"model": str(tiny_model)})
    reduced = load_backend("hf", {"model": str(tiny_model), "autocast": "bfloat16", "agreement_sample": 6})
    with ResultStore(tmp_path / "s.sqlite") as store:
        exact_record = evaluate(task, exact, store, out_dir=tmp_path / "exact")
        reduced_record = evaluate(task, reduced, store, out_dir=tmp_path / "reduced")
    assert exact_record.precision_check is None
    assert reduced_record.model["dtype"] == "float32+autocast-bfloat16"
    assert reduced_record.timings.items_computed == 10  # not served the fp32 results from the store
    check = reduced_record.precision_check
    exact_samples = {s["index"]: s for s in _samples(tmp_path / "exact")}
    reduced_samples = {s["index"]: s for s in _samples(tmp_path / "reduced")}
    diffs = [
        max(abs(a - b) for a, b in zip(reduced_samples[i]["loglikelihoods"], exact_samples[i]["loglikelihoods"]))
        for i in exact_samples
    ]
    assert check["items"] == 6 and 0 <= check["same_prediction"] <= 6
    assert 0 < check["max_abs_loglikelihood_diff"] <= max(diffs) + 1e-6
