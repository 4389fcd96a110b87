"""Built-in tasks. Importing this package registers them (and the YAML task loader)."""

from evalsuite.tasks import ceval, custom, generation, mmlu  # noqa: F401  (registration side effects)
