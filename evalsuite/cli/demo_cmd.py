"""`evalsuite demo`: the main job on a fresh machine.

For now (the full demo with trained checkpoints, generation, judging and the
HTML report comes with the reports issue) it builds a tiny local model when no
``--model`` is given and runs real MMLU and C-Eval evaluations on a few subjects,
0-shot and 5-shot, from the official local data.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

DEMO_RUNS = [
    ("mmlu", {"subjects": "anatomy,high_school_geography,marketing", "shots": 0}),
    ("mmlu", {"subjects": "anatomy,high_school_geography,marketing", "shots": 5}),
    ("ceval", {"subjects": "accountant,high_school_chinese,logic", "shots": 0}),
    ("ceval", {"subjects": "accountant,high_school_chinese,logic", "shots": 5}),
]


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="run the end-to-end demo on local data")
    parser.add_argument("--model", help="checkpoint to evaluate (default: build a tiny local model)")
    parser.add_argument("--out", default="runs/demo", help="where runs and the demo model go")
    parser.add_argument("--limit", type=int, default=40, help="questions per subject")
    parser.add_argument("--data-dir", help="data root holding benchmarks/ (default: $EVALSUITE_DATA_DIR)")
    parser.set_defaults(func=run)
    return parser


def _data_root(explicit: str | None) -> Path:
    from evalsuite.errors import DataError

    root = explicit or os.environ.get("EVALSUITE_DATA_DIR")
    if not root or not (Path(root) / "benchmarks" / "mmlu").is_dir():
        raise DataError(
            "the demo needs the official MMLU and C-Eval data: set EVALSUITE_DATA_DIR to a folder holding "
            "benchmarks/mmlu and benchmarks/ceval (on our machines: EVALSUITE_DATA_DIR=../shared/datasets), "
            f"or pass --data-dir. Looked at: {root or '(unset)'}"
        )
    return Path(root)


def _tiny_model(root: Path, out: Path) -> Path:
    from evalsuite.tiny import build_tiny_model

    folder = out / "tiny-model"
    if (folder / "model.safetensors").exists():
        return folder
    print(f"building a tiny local model in {folder} (no pretrained weights can be downloaded here)")
    english = (root / "train" / "wiki_demo.txt").read_text(encoding="utf-8").splitlines()[:2000]
    chinese = json.loads((root / "train" / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
    texts = english + [r["instruction"] + r["output"] for r in chinese]
    return build_tiny_model(folder, texts, size="1m", vocab_size=8000, initializer_range=0.2)


def run(args) -> int:
    import evalsuite.tasks  # noqa: F401
    from evalsuite.backends import load_backend
    from evalsuite.cli.display import ProgressBar, print_scores
    from evalsuite.registry import get_task
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore

    root = _data_root(args.data_dir)
    out = Path(args.out)
    model = Path(args.model) if args.model else _tiny_model(root, out)
    started = time.perf_counter()
    backend = load_backend("hf", {"model": str(model)})
    load_seconds = time.perf_counter() - started
    with ResultStore(out / "results.sqlite") as store:
        for name, params in DEMO_RUNS:
            task = get_task(name)({**params, "limit": args.limit}, data_dir=root / "benchmarks")
            run_dir = out / f"{name}-{params['shots']}shot"
            with ProgressBar(f"{name} {params['shots']}-shot", len(task.requests())) as bar:
                record = evaluate(task, backend, store, out_dir=run_dir, model_load_seconds=load_seconds, progress=bar.update)
            print_scores(record)
            print(f"wrote {run_dir / 'results.json'}")
    return 0
