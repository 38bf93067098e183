"""``python -m evaluate``: the ``nmn-eval`` command line."""

from evaluate.cli import main

main()
