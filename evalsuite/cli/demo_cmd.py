"""`evalsuite demo`: the main job, end to end, on a fresh machine.

1. trains six checkpoints with ``recipes/demo.yaml`` (base → SFT → DPO, SimPO, CPO, GRPO);
2. evaluates each on MMLU and C-Eval subsets (0-shot);
3. samples N answers per prompt for AlpacaEval instructions and measures their diversity;
4. has a small panel of local judges (the SFT checkpoint behind a real OpenAI-compatible HTTP
   server, with two seeds) grade the answers blind, and runs a pairwise comparison against SFT;
5. writes the self-contained HTML report ``reports/demo/index.html`` and prints where it is.

Everything is stored as it finishes, so a second run reuses it. ``--quick`` shrinks every stage
(a few training steps, a handful of questions) for CI smoke runs. A tiny model trained here for
minutes cannot write a parseable verdict: the panel then shows those verdicts counted as
unparseable — never guessed. Point ``--judge`` at a real judge model to get scores.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

MMLU_SUBJECTS = "high_school_geography,marketing,high_school_psychology"
CEVAL_SUBJECTS = "accountant,high_school_chinese,logic"


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="train six checkpoints, evaluate, judge, and write the HTML report")
    parser.add_argument("--recipe", help="trainer recipe (default: recipes/demo.yaml of this checkout)")
    parser.add_argument("--work", default="runs/demo", help="where checkpoints, runs and the store go")
    parser.add_argument("--report", default="reports/demo/index.html", help="the HTML report to write")
    parser.add_argument("--data-dir", help="data root holding benchmarks/, judging/ and train/ (default: $EVALSUITE_DATA_DIR)")
    parser.add_argument("--quick", action="store_true", help="smallest settings (a few steps and questions): a smoke run")
    parser.add_argument("--judge", action="append", default=[], metavar="URL,MODEL[,NAME[,SEED]]",
                        help="use these judges instead of the local SFT checkpoint")
    parser.set_defaults(func=run)
    return parser


def _data_root(explicit: str | None) -> Path:
    from evalsuite.errors import DataError

    root = explicit or os.environ.get("EVALSUITE_DATA_DIR")
    needed = ("benchmarks/mmlu", "benchmarks/ceval", "judging", "train")
    if not root or not all((Path(root) / part).exists() for part in needed):
        raise DataError(
            "the demo needs the shared data: set EVALSUITE_DATA_DIR to a folder holding benchmarks/mmlu, "
            "benchmarks/ceval, judging/ and train/ (on our machines: EVALSUITE_DATA_DIR=../shared/datasets), "
            "or pass --data-dir. The benchmarks are the official MMLU (https://people.eecs.berkeley.edu/~hendrycks/data.tar) "
            f"and C-Eval (ceval/ceval-exam) releases. Looked at: {root or '(unset)'}"
        )
    return Path(root).resolve()


def _recipe(path: str | None, data: Path, quick: bool) -> dict:
    from evalsuite.config import load_yaml

    default = Path(__file__).resolve().parents[2] / "recipes" / "demo.yaml"
    recipe = load_yaml(path or default)
    recipe["data_dir"] = str(data)
    if quick:
        for stage in recipe["stages"].values():
            stage["max_steps"] = 2
            for key in ("logging_steps", "save_steps"):
                if key in stage:
                    stage[key] = 1
            if "num_generations" in stage:
                stage["num_generations"] = 2
    return recipe


class _LocalJudgeServer:
    """A checkpoint behind `evalsuite serve`'s app, in a background thread, on a free loopback port."""

    def __init__(self, model: Path):
        import socket

        import uvicorn

        from evalsuite.backends import load_backend
        from evalsuite.serve import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = create_app(load_backend("hf", {"model": str(model)}), "local-judge")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "_LocalJudgeServer":
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started and time.time() < deadline:
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def run(args) -> int:
    import evalsuite.tasks  # noqa: F401
    from evalsuite.backends import load_backend
    from evalsuite.cli.display import ProgressBar
    from evalsuite.cli.judge_cmd import judge_specs
    from evalsuite.registry import get_task
    from evalsuite.reports.html import build_report
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore
    from evalsuite.tasks.judge_pairwise import run_pairwise, write_pairwise
    from evalsuite.tasks.judge_panel import JudgeSpec, load_items, run_panel, write_panel
    from evalsuite.tasks.judging.rubric import load_rubric
    from evalsuite.trainers.pipeline import run_pipeline

    started = time.perf_counter()
    data = _data_root(args.data_dir)
    work = Path(args.work)
    runs = work / "runs"
    limit, prompts, samples, new_tokens = (4, 3, 2, 8) if args.quick else (30, 8, 4, 48)

    print(f"[1/5] training checkpoints into {work / 'ckpt'} (finished stages are reused)", flush=True)
    checkpoints = run_pipeline(_recipe(args.recipe, data, args.quick), work / "ckpt",
                               on_stage=lambda r: print(f"  {r.name}: {r.path}", flush=True))

    with ResultStore(work / "results.sqlite") as store:
        print("[2/5] MMLU and C-Eval (0-shot), [3/5] generation and diversity", flush=True)
        for name, path in checkpoints.items():
            backend = load_backend("hf", {"model": str(path)})
            tasks = [
                ("mmlu-0shot", "mmlu", {"subjects": MMLU_SUBJECTS, "shots": 0, "limit": limit}),
                ("ceval-0shot", "ceval", {"subjects": CEVAL_SUBJECTS, "shots": 0, "limit": limit}),
                ("generate", "generate", {"prompts": "alpaca_eval", "limit": prompts, "n": samples,
                                          "max_new_tokens": new_tokens, "temperature": 0.8, "n_boot": 100}),
            ]
            for run_name, task_name, params in tasks:
                task = get_task(task_name)(params, data_dir=data / "benchmarks" if task_name != "generate" else data)
                with ProgressBar(f"{name} {run_name}", len(task.requests())) as bar:
                    record = evaluate(task, backend, store, out_dir=runs / name / run_name, progress=bar.update)
                if task_name != "generate":
                    overall = record.scores["overall"]
                    print(f"  {name} {run_name}: acc {100 * overall['acc']:.1f}% (n={overall['n']})", flush=True)
                else:
                    within = record.scores.get("within", {})
                    print(f"  {name} generate: distinct-2 within {within['distinct-2']['value']:.3f}, "
                          f"self-BLEU-4 within {within['self-bleu-4']['value']:.3f}", flush=True)

        print("[4/5] judge panel and pairwise comparison", flush=True)
        generation_runs = [runs / name / "generate" for name in checkpoints]
        baseline = "sft" if "sft" in checkpoints else next(iter(checkpoints))
        pair_runs = [runs / baseline / "generate"] + [runs / n / "generate" for n in checkpoints if n not in ("base", baseline)]

        def judge(specs):
            items = load_items(generation_runs)
            panel, records = run_panel(items, specs, load_rubric("default"), store, seed=0, n_boot=200)
            write_panel(runs / "_judging" / "panel", panel, records)
            pairwise, pair_records = run_pairwise(pair_runs, specs[:1], store, n_boot=200)
            write_pairwise(runs / "_judging" / "pairwise", pairwise, pair_records)
            c = panel.judgments
            print(f"  panel: {c['ok']} verdicts scored, {c['unparseable']} unparseable (excluded), {c['failed']} failed",
                  flush=True)

        if args.judge:
            judge(judge_specs(args.judge, None))
        else:
            with _LocalJudgeServer(Path(checkpoints[baseline])) as server:
                judge([JudgeSpec(name=f"{baseline}-seed{s}", base_url=server.url, model="local-judge", seed=s,
                                 temperature=0.7, max_tokens=32 if args.quick else 64, concurrency=1) for s in (0, 1)])

    print("[5/5] report", flush=True)
    report = build_report(runs, args.report, baseline=baseline, checkpoints_dir=work / "ckpt", title="evalsuite demo")
    print(f"report: {report.resolve()}  ({time.perf_counter() - started:.0f}s in all)")
    return 0
