"""evalsuite: evaluation and diversity metrics for LLM alignment work.

Importing this package is cheap: it never imports torch or transformers. Heavy
dependencies are imported inside the functions that need them.
"""

__version__ = "0.1.0"
