"""`evalsuite train`: run a recipe pipeline, or one stage from the command line.

    evalsuite train pipeline recipes/demo.yaml --out ckpt/ [-C dpo.beta=0.2] [--only dpo] [--parallel 2]
    evalsuite train dpo --model ckpt/sft --data prefs.jsonl --out ckpt/dpo -C beta=0.1 -C lora=true
    evalsuite train fields dpo          # every option of a method, with its documentation

One subcommand per training method registered in ``evalsuite.registry.TRAINER_METHODS``.
"""

from __future__ import annotations

import argparse

from evalsuite.config import parse_key_values
from evalsuite.registry import TRAINER_METHODS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("train", help="Train checkpoints (base, SFT, DPO, SimPO, CPO, GRPO, ...) with TRL.",
                                   description="Train checkpoints with TRL; each writes a Hugging Face checkpoint "
                                   "plus evalsuite_checkpoint.json and train_log.jsonl.")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    methods = parser.add_subparsers(dest="train_command", metavar="METHOD")

    pipe = methods.add_parser("pipeline", help="Run every stage of a recipe; finished stages are skipped.",
                              description="Run every stage of a recipe, independent stages side by side, each in its "
                              "own process logging to OUT/.logs/STAGE.log; finished stages are skipped.")
    pipe.add_argument("recipe", help="Recipe YAML (see recipes/demo.yaml).")
    pipe.add_argument("--out", required=True, help="Output directory; stage S is written to OUT/S.")
    pipe.add_argument("--only", action="append", help="Train only this stage (and its ancestors); repeatable.")
    pipe.add_argument("--force", action="store_true", help="Retrain stages even when finished with the same config.")
    pipe.add_argument("--parallel", default="auto", metavar="N|auto",
                      help="Stages trained at once (default auto: one per GPU, or cores / runtime.threads on CPU).")
    pipe.add_argument("-C", dest="options", action="append", metavar="STAGE.KEY=VALUE",
                      help="Override a recipe value: dpo.beta=0.2, runtime.threads=2, data_dir=/data.")
    pipe.set_defaults(func=_run_pipeline)

    for name in TRAINER_METHODS.names():
        method = TRAINER_METHODS.get(name)
        if method.trains:
            _add_method(methods, name, method)

    fields = methods.add_parser("fields", help="List the documented options of a method (or of the runtime).")
    fields.add_argument("method", nargs="?", default="runtime", choices=(*TRAINER_METHODS.names(), "runtime", "lora", "eval", "alarm"))
    fields.set_defaults(func=_show_fields)
    return parser


def _add_method(methods, name: str, method) -> None:
    doc = (method.Stage.__doc__ or f"Train one {name} stage.").strip().splitlines()[0]
    sub = methods.add_parser(name, help=doc, description=doc)
    described = method.Stage.model_fields
    if method.model_field:
        sub.add_argument("--model", required=True, help=described[method.model_field].description)
    if method.data_field:
        sub.add_argument("--data", action="append", required=True,
                         help=f"{described[method.data_field].description} Repeatable.")
    sub.add_argument("--out", required=True, help="Checkpoint directory to write.")
    sub.add_argument("--force", action="store_true", help="Retrain even when finished with the same config.")
    sub.add_argument("-C", dest="options", action="append", metavar="KEY=VALUE",
                     help=f"Stage or runtime option (see `evalsuite train fields {name}`).")
    sub.set_defaults(func=_run_single, method=name)


def _report(result) -> None:
    if result.skipped:
        print(f"{result.name:>10}  skipped (finished, same config)  {result.path}", flush=True)
    else:
        print(f"{result.name:>10}  trained in {result.manifest.wall_time_s:.0f}s  {result.path}", flush=True)


def _progress(event) -> None:
    if event.status == "started":
        print(f"{event.name:>10}  started  (log {event.log})", flush=True)
    elif event.status == "failed":
        print(f"{event.name:>10}  FAILED after {event.seconds or 0:.0f}s: {event.error_kind}  (log {event.log})", flush=True)
    elif event.status == "blocked":
        print(f"{event.name:>10}  not started: {event.error}", flush=True)
    elif event.status == "skipped":
        print(f"{event.name:>10}  skipped (finished, same config)  {event.path}", flush=True)
    else:
        print(f"{event.name:>10}  trained in {event.seconds:.0f}s  {event.path}", flush=True)


def _run_pipeline(args) -> int:
    from evalsuite.config import load_yaml
    from evalsuite.jobs.train_pipeline import train_concurrently
    from evalsuite.trainers.recipe import apply_overrides, load_recipe

    recipe = load_recipe(apply_overrides(load_yaml(args.recipe), parse_key_values(args.options, "-C")))
    outputs = train_concurrently(recipe, args.out, only=args.only, force=args.force, parallel=args.parallel,
                                 on_event=_progress)
    print(f"{len(outputs)} checkpoint(s) under {args.out}")
    return 0


def _run_single(args) -> int:
    from evalsuite.trainers.pipeline import train_stage

    _report(train_stage(args.method, parse_key_values(args.options, "-C"), args.out, model=getattr(args, "model", None),
                        data=getattr(args, "data", None), force=args.force))
    return 0


def _show_fields(args) -> int:
    from evalsuite.trainers.recipe import field_docs

    doc, fields = field_docs(args.method)
    print(f"{args.method}: {doc}")
    for name, default, description in fields:
        print(f"  {name} (default {default}): {description}")
    return 0
