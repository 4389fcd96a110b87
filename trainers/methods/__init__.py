"""The built-in training methods, one module each; importing this package registers them all.

Every module of this package is imported here, so a new built-in method is one new module that calls
``register_method`` (see ``base``). ``evalsuite.registry.TRAINER_METHODS`` imports this package on its first
lookup; outside packages register through the entry-point group ``evalsuite.trainer_methods``.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
