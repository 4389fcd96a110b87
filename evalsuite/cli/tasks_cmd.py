"""`evalsuite tasks`: list registered tasks (versions, parameters) and backends (options)."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser("tasks", help="list registered tasks, their versions and parameters (or backends)")
    parser.add_argument("--task", help="show one task (a name or a task .yaml file)")
    parser.add_argument("--backends", action="store_true", help="list registered backends and their -B options instead")
    parser.set_defaults(func=run)
    return parser


def _fields(model) -> str:
    """One line per field of a pydantic model: ``name=default: description``."""
    lines = []
    for field_name, info in model.model_fields.items():
        default = "required" if info.is_required() else info.get_default(call_default_factory=True)
        default = "none" if default is None else default
        lines.append(f"{field_name}={default}: {info.description or ''}")
    return "\n".join(lines)


def run(args) -> int:
    from rich.table import Table

    from evalsuite.registry import BACKENDS, get_task, task_names
    from evalsuite.terminal import console

    if args.backends:
        table = Table(title="evalsuite backends")
        for column in ("backend", "description", "options (-B key=value)"):
            table.add_column(column, overflow="fold")
        for name in BACKENDS.names():
            cls = BACKENDS.get(name)
            table.add_row(name, (cls.__doc__ or "").strip().split("\n")[0], _fields(cls.Config))
        console().print(table)
        return 0
    from evalsuite.tasks.multiple_choice import MultipleChoiceTask

    table = Table(title="evalsuite tasks")
    for column in ("task", "version", "description", "parameters (-T key=value)"):
        table.add_column(column, overflow="fold")
    for name in [args.task] if args.task else task_names():
        cls = get_task(name)
        extra = ""
        if issubclass(cls, MultipleChoiceTask):
            extra = f"\n{len(cls.spec.subjects)} subjects; prompts: {', '.join(cls.spec.prompts)}"
        table.add_row(cls.name, cls.version, cls.description + extra, _fields(cls.Params))
    console().print(table)
    return 0
