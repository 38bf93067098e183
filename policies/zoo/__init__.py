"""Deprecated: the old path of :mod:`training.zoo`, kept for one release.

This folder holds the zoo's shipped models and cards (``<env id>/<policy>-seed<K>.safe.zip`` and
``.json``), which stay here as data of the :mod:`policies` package.
"""

import training.zoo
from policies.moved import alias

alias("policies.zoo", training.zoo)
