"""One escaping helper per output format: HTML, CSV cells, Markdown, matplotlib labels.

Model text and the names of checkpoints, tasks, subjects and judges reach every
output evalsuite writes. Each helper takes any value and returns text that the
format shows literally and that UTF-8 can hold: a lone surrogate (a ``str`` can
hold one, UTF-8 cannot) becomes U+FFFD. Lossless storage of such text is the
JSON-lines writer's job (:mod:`evalsuite.jsonl`), not a report's.
"""

from __future__ import annotations

import html
import numbers
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# OWASP "CSV injection": a spreadsheet treats a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`|*<>&\[])")  # an escaped [ starts no link or image
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\u0085\u2028\u2029]")


def encodable(value: Any) -> str:
    """``str(value)`` with each lone surrogate replaced by U+FFFD, so that UTF-8 can hold it."""
    return _SURROGATE.sub("\ufffd", str(value))


def html_text(value: Any) -> str:
    """Text for HTML content or a quoted attribute value: ``& < > " '`` escaped."""
    return html.escape(encodable(value), quote=True)


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: a string starting with ``= + - @``, tab or CR gets a
    leading ``'`` (as OWASP recommends); numbers stay numbers; ``None`` and NaN are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    text = encodable(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def markdown_text(value: Any) -> str:
    """Text for a Markdown table cell or inline text: one line, no table pipe, code span, emphasis, link or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", encodable(value)))


def plot_label(value: Any) -> str:
    """A matplotlib label shown literally: every ``$`` escaped, so no pair of them starts mathtext, and a space
    before a leading ``_`` (a legend silently drops labels that start with one)."""
    text = encodable(value).replace("$", r"\$")
    return " " + text if text.startswith("_") else text
