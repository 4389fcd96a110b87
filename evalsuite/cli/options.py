"""Backend options on the command line, shared by `evalsuite run` and `evalsuite serve`.

A backend is chosen with ``--backend NAME`` (the names registered in
:data:`evalsuite.registry.BACKENDS`) and configured with ``-B key=value``. The
older flags (``--dtype``, ``--base-url``, ...) remain as aliases of options;
only flags the user gave are passed on, and the chosen backend's ``Config``
decides whether it has that option, so no command branches on a backend.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable

from evalsuite.errors import ConfigError

# flag -> (backend option, extra argparse keywords). Every alias defaults to None: "not given".
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "--revision": ("revision", {"help": "Hub revision (branch, tag or commit)"}),
    "--dtype": ("dtype", {"help": "auto, float32, bfloat16 or float16 (hf default auto: float32 on CPU)"}),
    "--device": ("device", {"help": "auto, cpu, cuda, cuda:1, ... (hf default auto)"}),
    "--batch-size": ("batch_size", {"type": int, "help": "most sequences in one forward pass (hf default 64; "
                                                          "a 1,024-token budget per pass usually binds first)"}),
    "--max-length": ("max_length", {"type": int, "help": "context window (default: from the model config)"}),
    "--truncation": ("truncation", {"help": "prompts longer than the context: error (default) or left"}),
    "--threads": ("threads", {"type": int, "help": "torch CPU threads"}),
    "--autocast": ("autocast", {"help": "off (default), bfloat16 or float16: reduced precision, not exact "
                                        "(agreement with fp32 on a sample is reported)"}),
    "--trust-remote-code": ("trust_remote_code", {"action": "store_const", "const": True,
                                                  "help": "run code shipped with the checkpoint (only if you trust it)"}),
    "--base-url": ("base_url", {"help": "openai backend: endpoint root, e.g. http://127.0.0.1:8000/v1"}),
    "--concurrency": ("concurrency", {"type": int, "help": "openai backend: requests in flight"}),
}


def add_backend_arguments(parser: argparse.ArgumentParser, aliases: Iterable[str] = tuple(ALIASES)) -> None:
    """Add ``--backend``, ``-B key=value`` and the given alias flags to ``parser``."""
    from evalsuite.registry import BACKENDS

    parser.add_argument("--backend", default="hf", choices=BACKENDS.names(),
                        help="registered backend (default hf); `evalsuite tasks --backends` lists them and their options")
    parser.add_argument("-B", dest="backend_args", action="append", metavar="KEY=VALUE",
                        help="backend option (repeatable), checked by the backend; `evalsuite tasks --backends` lists them")
    for flag in aliases:
        name, keywords = ALIASES[flag]
        parser.add_argument(flag, dest=f"backend_alias_{name}", default=None, **keywords)


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--model``, the ``-B`` options and the alias flags given, as one options dict.

    An option given both as ``-B`` and as a flag must have one value.
    """
    from evalsuite.config import parse_key_values

    options = parse_key_values(args.backend_args, option="-B")
    given = {"model": args.model}
    given.update({name: vars(args).get(f"backend_alias_{name}") for name, _ in ALIASES.values()})
    for name, value in given.items():
        if value is None:
            continue
        if name in options and options[name] != value:
            raise ConfigError(f"backend option {name!r} given twice with different values: {options[name]!r} and {value!r}")
        options[name] = value
    return options
