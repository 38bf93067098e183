"""Deprecated: the old path of :mod:`training.validation`, kept for one release."""

import training.validation
from policies.moved import alias

alias("policies.validation", training.validation)
