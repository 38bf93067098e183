"""Deprecated: the old path of :mod:`training.train` (``nmn-train``), kept for one release."""

import sys

import training.train
from policies.moved import alias

alias("policies.train", training.train)
if __name__ == "__main__":
    sys.exit(training.train.main())
