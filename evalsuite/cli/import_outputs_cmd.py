"""`evalsuite import-outputs FILE --format alpaca_eval --out DIR`: a published outputs file as a generation run."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "import-outputs", help="import a model's published answers (AlpacaEval format) as a generation run",
        description="Writes DIR/results.json and DIR/samples.jsonl as `evalsuite run --task generate` does, so "
                    "compare, report, metrics and the judges read the imported answers like any run.",
    )
    parser.add_argument("file", help="outputs file: a JSON list of {instruction, output, generator, dataset}")
    parser.add_argument("--format", choices=["alpaca_eval"], default="alpaca_eval", help="the file's format")
    parser.add_argument("--out", required=True, help="run directory to write")
    parser.add_argument("--name", help="model name to record (default: the file's generator field, else its stem)")
    parser.add_argument("--limit", type=int, help="import only the first N records")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the diversity intervals (0: none)")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.jobs.import_outputs import import_outputs
    from evalsuite.metrics import names

    record = import_outputs(args.file, args.out, fmt=args.format, name=args.name, limit=args.limit,
                            n_boot=args.n_boot or None)
    across = record.scores.across
    figures = ", ".join(f"{names.label(names.qualified(m, 'across'))} {across[m].value:.4f}"
                        for m in names.HEADLINE if m in across)
    print(f"wrote {args.out}: {record.scores.responses} answers of {record.model['name']} "
          f"(sha256 {record.model['sha256'][:12]}); {figures}")
    return 0
