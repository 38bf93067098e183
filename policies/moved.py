"""Old import paths of the modules that moved above the evaluation harness, kept for one release.

The training pipeline, its validation callback and the zoo's cards use the harness, so they moved
from :mod:`policies` to :mod:`training`: ``policies.train`` is now :mod:`training.train`,
``policies.validation`` :mod:`training.validation` and ``policies.zoo`` :mod:`training.zoo`.
Importing an old path still gives the module itself, with a :class:`DeprecationWarning`; the old
paths go in the next release.
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType


def alias(old_name: str, module: ModuleType) -> None:
    """Make the import path ``old_name`` another name of ``module``, warning the importer.

    Called by the module at ``old_name`` while it is being imported; the warning points at the
    importer's line.
    """
    warnings.warn(
        f"{old_name} moved to {module.__name__}: import it from there ({old_name} goes in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old_name] = module
