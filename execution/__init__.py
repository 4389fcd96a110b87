"""Code execution: the sandbox, its child program, the HumanEval task and pass@k.

Importing this package registers the ``humaneval`` task and the ``sandbox`` executor
(loaded on first use); the task and backend registries import it on their first lookup.
"""

from evalsuite.execution import humaneval  # noqa: F401  (registers the task)
from evalsuite.registry import BACKENDS

BACKENDS.register("sandbox", "evalsuite.execution.executor:SandboxExecutor")
