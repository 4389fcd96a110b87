"""Exceptions raised by library code.

Library code raises; only the CLI turns these into exit codes and messages.
Every message says what happened, what was received, and how to fix it.
"""


class EvalsuiteError(Exception):
    """Base class of every error evalsuite raises on purpose."""


class ConfigError(EvalsuiteError, ValueError):
    """A configuration value or task parameter is invalid."""


class DataError(EvalsuiteError, ValueError):
    """Input data is missing or malformed; the message names file, row and field."""


class ModelError(EvalsuiteError):
    """A model could not be loaded or cannot serve the requested computation."""


class LockBusyError(EvalsuiteError):
    """Another process holds a lock this work needs; retrying later can succeed."""
