"""The demo: the main job, end to end, on a fresh machine.

1. trains seven checkpoints with ``recipes/demo.yaml`` (base → SFT → DPO, SimPO, CPO, GRPO with and without
   the diversity reward), independent stages side by side (:mod:`evalsuite.jobs.train_pipeline`);
2. evaluates each on MMLU and C-Eval subsets (0-shot);
3. samples N answers per prompt for AlpacaEval instructions and measures their diversity;
4. has a small panel of local judges (the SFT checkpoint behind a real OpenAI-compatible HTTP
   server, with two seeds) grade the answers blind, and runs a pairwise comparison against SFT;
5. imports the published AlpacaEval answers of real checkpoints (Meta-Llama-3-8B-Instruct and four
   preference-optimised variants, three gemma-2-9b-it variants) and compares each variant with its
   base (:mod:`evalsuite.jobs.real_checkpoints`; CPU only, no model is loaded), into ``RUNS/_real``;
6. writes the self-contained HTML report.

Everything is stored as it finishes, so a second run reuses it. ``quick`` shrinks every stage
(a few training steps, a handful of questions) for CI smoke runs. A tiny model trained here for
minutes cannot write a parseable verdict: the panel then shows those verdicts counted as
unparseable — never guessed — beside the probability-weighted scores and soft pairwise preferences its
log-probabilities still give (G-Eval; AlpacaEval's weighted annotators). Pass judges to get scores from a
real judge model.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.backends import load_backend
from evalsuite.config import load_yaml
from evalsuite.data import ENV, DataRoots
from evalsuite.errors import DataError
from evalsuite.jobs.grid import GridTask, ProgressFactory, headline, run_grid
from evalsuite.jobs.real_checkpoints import run_real_checkpoints
from evalsuite.reports.collect import JUDGING
from evalsuite.reports.html import build_report
from evalsuite.reports.judge_audit import audit_judges, write_audit
from evalsuite.reports.judge_pairwise import combine_pairwise
from evalsuite.reports.judge_runs import combine_panel
from evalsuite.reports.real_checkpoints import LENGTH, REAL_DIR, html_section
from evalsuite.serve import create_app
from evalsuite.store import ResultStore
from evalsuite.tasks.judging.items import run_labels
from evalsuite.tasks.judging.judges import JudgeSpec, run_judges
from evalsuite.tasks.judging.pairwise import PairwiseJudgeTask, PairwiseProbabilityTask
from evalsuite.tasks.judging.panel import RubricJudgeTask, RubricProbabilityTask

MMLU_SUBJECTS = "high_school_geography,marketing,high_school_psychology"
CEVAL_SUBJECTS = "accountant,high_school_chinese,logic"
DEFAULT_RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "demo.yaml"


@dataclass
class DemoSettings:
    work: Path
    report: Path
    recipe: str | Path | None = None
    data_dir: str | Path | None = None
    quick: bool = False
    judges: list[JudgeSpec] = field(default_factory=list, metadata={"help": "judge specs; empty: the local SFT checkpoint"})


def data_root(explicit: str | Path | None) -> Path:
    """The demo's data root; an error saying how to get the data when it lacks a part."""
    root = explicit or os.environ.get(ENV)
    needed = ("benchmarks/mmlu", "benchmarks/ceval", "judging", "train")
    if not root or not all((Path(root) / part).exists() for part in needed):
        raise DataError(
            f"the demo needs the shared data: set {ENV} to a folder holding benchmarks/mmlu, "
            f"benchmarks/ceval, judging/ and train/ (on our machines: {ENV}=../shared/datasets), "
            "or pass --data-dir. The benchmarks are the official MMLU (https://people.eecs.berkeley.edu/~hendrycks/data.tar) "
            f"and C-Eval (ceval/ceval-exam) releases. Looked at: {root or '(unset)'}"
        )
    return Path(root).resolve()


def demo_recipe(path: str | Path | None, data: Path, quick: bool) -> dict:
    """The trainer recipe with the data root filled in; ``quick`` cuts every stage to two steps (and its
    evaluation during training to a few items at every step)."""
    recipe = load_yaml(path or DEFAULT_RECIPE)
    recipe["data_dir"] = str(data)
    if quick:
        for stage in recipe["stages"].values():
            stage["max_steps"] = 2
            for key in ("logging_steps", "save_steps"):
                if key in stage:
                    stage[key] = 1
            if "num_generations" in stage:
                stage["num_generations"] = 2
            if isinstance(stage.get("eval"), dict):
                stage["eval"].update(every=1, subjects=1, items=2, prompts=2, samples=2, max_new_tokens=8, n_boot=20)
    return recipe


def demo_tasks(quick: bool) -> list[GridTask]:
    limit, prompts, samples, new_tokens = (4, 3, 2, 8) if quick else (30, 8, 4, 48)
    return [
        GridTask(name="mmlu-0shot", task="mmlu", params={"subjects": MMLU_SUBJECTS, "shots": 0, "limit": limit}),
        GridTask(name="ceval-0shot", task="ceval", params={"subjects": CEVAL_SUBJECTS, "shots": 0, "limit": limit}),
        GridTask(name="generate", task="generate", params={"prompts": "alpaca_eval", "limit": prompts, "n": samples,
                                                           "max_new_tokens": new_tokens, "temperature": 0.8, "n_boot": 100}),
    ]


class LocalJudgeServer:
    """A checkpoint behind `evalsuite serve`'s app, in a background thread, on a free loopback port."""

    def __init__(self, model: Path):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = create_app(load_backend("hf", {"model": str(model)}), "local-judge")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "LocalJudgeServer":
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started and time.time() < deadline:
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def local_judges(url: str, name: str, max_tokens: int, tokenizer: str | None = None) -> list[JudgeSpec]:
    """Two seeds of one OpenAI-compatible endpoint: the demo's panel (``tokenizer``: the served checkpoint's,
    which enables probability-weighted scores)."""
    return [JudgeSpec(name=f"{name}-seed{s}", base_url=url, model="local-judge", seed=s, temperature=0.7,
                      max_tokens=max_tokens, concurrency=1, tokenizer=tokenizer) for s in (0, 1)]


def judge_answers(runs: Path, checkpoints: list[str], baseline: str, judges: list[JudgeSpec], store: ResultStore,
                  self_judged: bool = False) -> dict[str, int]:
    """Rubric panel over every checkpoint's answers (probability-weighted too when every judge names its
    tokenizer), pairwise A/B of the trained ones against ``baseline`` (first judge), and the judges' audit;
    the records go to ``RUNS/_judging/{panel,pairwise,audit}``. Returns the panel's verdict counts.
    ``self_judged``: the judges are the baseline checkpoint itself (the local judge), audited for self-preference."""
    panel_out, pair_out = runs / JUDGING / "panel", runs / JUDGING / "pairwise"
    answers = [str(runs / name / "generate") for name in checkpoints]
    scoring = RubricProbabilityTask if all(j.tokenizer for j in judges) else None
    run_judges(RubricJudgeTask, {"runs": answers, "rubric": "default", "seed": 0, "n_boot": 200}, judges, store,
               panel_out, probability_cls=scoring)
    panel = combine_panel(panel_out, [j.name for j in judges])
    pairs = [str(runs / baseline / "generate")] + [str(runs / n / "generate") for n in checkpoints if n not in ("base", baseline)]
    run_judges(PairwiseJudgeTask, {"runs": pairs, "seed": 0, "n_boot": 200}, judges[:1], store, pair_out,
               probability_cls=PairwiseProbabilityTask if judges[0].tokenizer else None)
    combine_pairwise(pair_out, [judges[0].name])
    self_runs = {j.name: run_labels(pairs)[0] for j in judges[:1]} if self_judged else None
    write_audit(runs / JUDGING / "audit", audit_judges(pair_out, panel=panel_out, self_runs=self_runs))
    return {**panel.judgments, "probability_judges": len(panel.probability_judges or [])}


def real_checkpoints(data: Path, out: Path, quick: bool, say: Callable[[str], None]) -> None:
    """The second part: real checkpoints' published answers (first 40 prompts when ``quick``)."""
    record = run_real_checkpoints(data / "judging" / "alpaca_eval_outputs", out, limit=40 if quick else None,
                                  n_boot=50 if quick else 200, reuse=True, say=say)
    for variant in record.variants:
        length = variant.figure(LENGTH, False)
        say(f"  {variant.model} vs {variant.reference}: {length.delta.value:+.0f} tokens per answer")


def run_demo(settings: DemoSettings, say: Callable[[str], None] = lambda _: None,
             progress: ProgressFactory | None = None) -> Path:
    """Train, evaluate, judge and report; return the report's path. ``say`` receives one line per step."""
    from evalsuite.jobs.train_pipeline import train_concurrently

    data = data_root(settings.data_dir)
    work, runs = Path(settings.work), Path(settings.work) / "runs"
    say(f"[1/6] training checkpoints into {work / 'ckpt'} (finished stages are reused)")
    checkpoints = train_concurrently(demo_recipe(settings.recipe, data, settings.quick), work / "ckpt", parallel="auto",
                                     on_event=lambda e: say(f"  {e.name}: {e.status}" + (
                                         f" {e.path}" if e.path else f" (log {e.log})" if e.log else "")))
    baseline = "sft" if "sft" in checkpoints else next(iter(checkpoints))
    with ResultStore(work / "results.sqlite") as store:
        say("[2/6] MMLU and C-Eval (0-shot), [3/6] generation and diversity")
        for run in run_grid(checkpoints, demo_tasks(settings.quick), DataRoots.from_root(data), store, runs,
                            progress=progress):
            say(f"  {run.checkpoint} {run.name}: {headline(run.record)}")
        say("[4/6] judge panel and pairwise comparison")
        if settings.judges:
            counts = judge_answers(runs, list(checkpoints), baseline, settings.judges, store)
        else:
            with LocalJudgeServer(Path(checkpoints[baseline])) as server:
                judges = local_judges(server.url, baseline, max_tokens=32 if settings.quick else 64,
                                      tokenizer=str(checkpoints[baseline]))
                counts = judge_answers(runs, list(checkpoints), baseline, judges, store, self_judged=True)
        say(f"  panel: {counts['ok']} verdicts scored, {counts['unparseable']} unparseable (excluded), "
            f"{counts['failed']} failed; probability-weighted scores from {counts.get('probability_judges', 0)} judges")
    say("[5/6] real checkpoints: published AlpacaEval answers, each variant against its base")
    real_checkpoints(data, runs / REAL_DIR, settings.quick, say)
    say("[6/6] report")
    return build_report(runs, settings.report, baseline=baseline, checkpoints_dir=work / "ckpt", title="evalsuite demo",
                        extra_sections=[html_section(runs / REAL_DIR)])
