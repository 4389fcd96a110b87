"""`evalsuite tasks`: list registered tasks with their versions and parameters."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser("tasks", help="list registered tasks, their versions and parameters")
    parser.add_argument("--task", help="show one task (a name or a task .yaml file)")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    import evalsuite.tasks  # noqa: F401  (registers the built-in tasks)
    from evalsuite.terminal import console
    from rich.table import Table

    from evalsuite.registry import get_task, task_names

    names = [args.task] if args.task else task_names()
    table = Table(title="evalsuite tasks")
    for column in ("task", "version", "description", "parameters (-T key=value)"):
        table.add_column(column, overflow="fold")
    for name in names:
        cls = get_task(name)
        params = []
        for field_name, info in cls.Params.model_fields.items():
            default = info.default if info.default is not None else "none"
            params.append(f"{field_name}={default}: {info.description or ''}")
        extra = ""
        spec = getattr(cls, "spec", None)
        if spec is not None:
            extra = f"\n{len(spec.subjects)} subjects; prompts: {', '.join(spec.prompts)}"
        table.add_row(cls.name, cls.version, cls.description + extra, "\n".join(params))
    console().print(table)
    return 0
