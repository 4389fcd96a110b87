"""The rich console every command prints tables with."""

from __future__ import annotations

import sys


def console():
    """A rich console; when output is not a terminal (pipes, CI logs), wide enough not to truncate tables."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)
