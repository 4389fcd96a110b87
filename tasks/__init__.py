"""Built-in tasks. Importing this package registers them (and the YAML task loader)."""

from evalsuite.tasks import ceval, custom, generation, mmlu  # noqa: F401  (registration side effects)
from evalsuite.tasks.judging import mt_bench  # noqa: F401  (registers judge-mt-bench)
from evalsuite.tasks.judging import pairwise  # noqa: F401  (registers judge-pairwise)
from evalsuite.tasks.judging import panel  # noqa: F401  (registers judge-rubric)
