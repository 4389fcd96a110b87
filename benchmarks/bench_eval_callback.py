"""Cost of evaluating during training: each demo stage trained with and without `eval:` in one run.

Stage sizes, data and runtime are those of ``recipes/demo.yaml``; the evaluation is ``EvalSettings()``'s
defaults (what ``eval: true`` gives) unless ``-E key=value`` changes them. Parents (base, sft) are trained
once without evaluation; then each measured stage runs without and with the callback, alternating, ``--repeat``
times, and the fastest of each is kept. Every run with the callback gets a fresh result store, so nothing is
reused from an earlier run. Wall time is the stage's own (manifest ``wall_time_s``: load, train, save).

    OMP_NUM_THREADS=1 python benchmarks/bench_eval_callback.py                  # the demo's sizes
    OMP_NUM_THREADS=1 python benchmarks/bench_eval_callback.py --steps 4 --stages sft dpo   # smoke

Prints one line per stage (steps, evaluations, seconds without and with, overhead) and the total overhead,
which should stay at or under 10% at the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _quiet():
    """TRL prints every log line; keep the table readable."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _recipe(steps: int | None, eval_options: dict | None, store: Path | None):
    from evalsuite.config import load_yaml
    from evalsuite.trainers.recipe import load_recipe

    data = load_yaml(REPO / "recipes" / "demo.yaml")
    if not os.environ.get("EVALSUITE_DATA_DIR"):
        data["data_dir"] = str(REPO.parent / "shared" / "datasets")
    for stage in data["stages"].values():
        if steps is not None:
            stage["max_steps"] = steps
            stage["save_steps"] = max(steps, 1)
        if eval_options is not None:
            stage["eval"] = {**eval_options, "store": str(store)}
    return load_recipe(data)


def _run(recipe, name: str, out: Path, parents: dict[str, str]):
    from evalsuite.trainers.stage import run_stage

    with _quiet():
        result = run_stage(name, recipe.stages[name], recipe.runtime, out, recipe=recipe, stage_outputs=parents, force=True)
    return result.manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="max_steps of every stage (default: the demo's)")
    parser.add_argument("--stages", nargs="+", default=["base", "sft", "dpo", "simpo", "cpo", "grpo"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the fastest is kept")
    parser.add_argument("-E", dest="eval", action="append", default=[], metavar="KEY=VALUE",
                        help="eval setting other than the default (e.g. -E every=10)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    from evalsuite.config import parse_key_values
    from evalsuite.trainers.settings import EvalSettings

    eval_options = parse_key_values(args.eval)
    print(f"eval settings: {EvalSettings(**eval_options).model_dump(exclude={'alarms', 'task_params'})}")
    rows, work = [], Path(tempfile.mkdtemp(prefix="bench_eval_cb_"))
    plain = _recipe(args.steps, None, None)
    parents: dict[str, str] = {}
    for name in ("base", "sft"):  # parents of the other stages, trained once without evaluation
        _run(plain, name, work / "parents" / name, parents)
        parents[name] = str(work / "parents" / name)
    for name in args.stages:
        best = {"without": float("inf"), "with": float("inf")}
        evals = 0
        for k in range(args.repeat):
            manifest = _run(plain, name, work / f"{name}-without-{k}", parents)
            best["without"] = min(best["without"], manifest.wall_time_s)
            evaluated = _recipe(args.steps, eval_options, work / f"store-{name}-{k}.sqlite")
            manifest = _run(evaluated, name, work / f"{name}-with-{k}", parents)
            best["with"] = min(best["with"], manifest.wall_time_s)
            evals = len(manifest.evals.steps)
        steps = plain.stages[name].max_steps
        overhead = best["with"] / best["without"] - 1
        rows.append({"stage": name, "steps": steps, "evaluations": evals, "without_s": round(best["without"], 2),
                     "with_s": round(best["with"], 2), "overhead": round(overhead, 4)})
        print(f"{name:6s} steps {steps:4d}  evals {evals:2d}  without {best['without']:8.2f} s  "
              f"with {best['with']:8.2f} s  overhead {overhead:+7.1%}", flush=True)
    total_without = sum(r["without_s"] for r in rows)
    total_with = sum(r["with_s"] for r in rows)
    print(f"total  without {total_without:.2f} s  with {total_with:.2f} s  overhead {total_with / total_without - 1:+.1%} "
          "(target: <= +10% at the default settings)")
    if args.json:
        args.json.write_text(json.dumps({"eval": eval_options, "stages": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
