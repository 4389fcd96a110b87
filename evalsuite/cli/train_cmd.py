"""`evalsuite train`: run a recipe pipeline, or one stage from the command line.

    evalsuite train pipeline recipes/demo.yaml --out ckpt/ [-C dpo.beta=0.2] [--only dpo]
    evalsuite train dpo --model ckpt/sft --data prefs.jsonl --out ckpt/dpo -C beta=0.1 -C lora=true
    evalsuite train fields dpo          # every option of a method, with its documentation
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evalsuite.config import parse_key_values
from evalsuite.errors import ConfigError

METHODS = ("pretrain", "sft", "dpo", "simpo", "cpo", "orpo", "kto", "grpo")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("train", help="Train checkpoints (base, SFT, DPO, SimPO, CPO, GRPO, ...) with TRL.",
                                   description="Train checkpoints with TRL; each writes a Hugging Face checkpoint "
                                   "plus evalsuite_checkpoint.json and train_log.jsonl.")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    methods = parser.add_subparsers(dest="train_command", metavar="METHOD")

    pipe = methods.add_parser("pipeline", help="Run every stage of a recipe; finished stages are skipped.")
    pipe.add_argument("recipe", help="Recipe YAML (see recipes/demo.yaml).")
    pipe.add_argument("--out", required=True, help="Output directory; stage S is written to OUT/S.")
    pipe.add_argument("--only", action="append", help="Train only this stage (and its ancestors); repeatable.")
    pipe.add_argument("--force", action="store_true", help="Retrain stages even when finished with the same config.")
    pipe.add_argument("-C", dest="options", action="append", metavar="STAGE.KEY=VALUE",
                      help="Override a recipe value: dpo.beta=0.2, runtime.threads=2, data_dir=/data.")
    pipe.set_defaults(func=_run_pipeline)

    for method in METHODS:
        sub = methods.add_parser(method, help=f"Train one {method} stage.")
        if method == "pretrain":
            sub.add_argument("--data", action="append", required=True, help="Text corpus (.txt/.jsonl/.json); repeatable.")
        else:
            sub.add_argument("--model", required=True, help="Parent checkpoint directory or Hub id.")
            sub.add_argument("--data", action="append", required=True, help="Data file (.json/.jsonl); repeatable.")
        sub.add_argument("--out", required=True, help="Checkpoint directory to write.")
        sub.add_argument("--force", action="store_true", help="Retrain even when finished with the same config.")
        sub.add_argument("-C", dest="options", action="append", metavar="KEY=VALUE",
                         help=f"Stage or runtime option (see `evalsuite train fields {method}`).")
        sub.set_defaults(func=_run_single, method=method)

    fields = methods.add_parser("fields", help="List the documented options of a method (or of the runtime).")
    fields.add_argument("method", nargs="?", default="runtime", choices=(*METHODS, "load", "runtime", "lora"))
    fields.set_defaults(func=_show_fields)
    return parser


def _set_path(mapping: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = mapping.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"-C {dotted}: {part!r} is not a mapping in the recipe")
        mapping = child
    mapping[parts[-1]] = value


def _report(result) -> None:
    if result.skipped:
        print(f"{result.name:>10}  skipped (finished, same config)  {result.path}", flush=True)
    else:
        print(f"{result.name:>10}  trained in {result.manifest.wall_time_s:.0f}s  {result.path}", flush=True)


def _run_pipeline(args) -> int:
    from evalsuite.config import load_yaml
    from evalsuite.trainers.pipeline import run_pipeline
    from evalsuite.trainers.recipe import load_recipe

    data = load_yaml(args.recipe)
    for key, value in parse_key_values(args.options, "-C").items():
        if "." not in key and key not in ("name", "data_dir"):
            raise ConfigError(f"-C {key}=...: name the stage or section, e.g. -C dpo.{key}=... or -C runtime.{key}=...")
        _set_path(data, key if "." not in key or key.startswith("runtime.") else f"stages.{key}", value)
    recipe = load_recipe(data)
    outputs = run_pipeline(recipe, args.out, only=args.only, force=args.force, on_stage=_report)
    print(f"{len(outputs)} checkpoint(s) under {args.out}")
    return 0


def _run_single(args) -> int:
    from evalsuite.trainers.recipe import Recipe, stage_from_options
    from evalsuite.trainers.stage import run_stage

    options = parse_key_values(args.options, "-C")
    data = [str(Path(p).resolve()) for p in args.data]
    if args.method == "pretrain":
        options["corpora"] = data
    else:
        options.update(parent=args.model, data=data)
    runtime, stage = stage_from_options(args.method, options)
    result = run_stage(args.method, stage, runtime, args.out, recipe=Recipe(stages={}, runtime=runtime), force=args.force)
    _report(result)
    return 0


def _show_fields(args) -> int:
    from evalsuite.trainers import recipe as recipe_mod

    model = {
        "runtime": recipe_mod.Runtime, "lora": recipe_mod.LoraSettings, "load": recipe_mod.LoadStage,
        "pretrain": recipe_mod.PretrainStage, "sft": recipe_mod.SFTStage, "dpo": recipe_mod.DPOStage,
        "simpo": recipe_mod.SimPOStage, "cpo": recipe_mod.CPOStage, "orpo": recipe_mod.ORPOStage,
        "kto": recipe_mod.KTOStage, "grpo": recipe_mod.GRPOStage,
    }[args.method]
    print(f"{args.method}: {(model.__doc__ or '').strip()}")
    for name, info in model.model_fields.items():
        if name == "method":
            continue
        default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
        print(f"  {name} (default {default}): {info.description or ''}")
    return 0
