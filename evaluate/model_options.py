"""The options of every command that plays a model agent: ``nmn-eval`` and ``nmn-leaderboard verify``.

Both run model agents with the same torch settings (``DEFAULT_TORCH_THREADS`` CPU threads, the
fastest for these small recurrent networks) and take the model's VecNormalize statistics the
same way (:mod:`evaluate.observation_statistics`). Importing this module does not import torch.
"""

from __future__ import annotations

import argparse

from evaluate.observation_statistics import VecNormalizeChoice

DEFAULT_TORCH_THREADS = 1


def use_torch_threads(threads: int = DEFAULT_TORCH_THREADS) -> None:
    """Set torch's CPU thread count for model agents.

    Raises:
        ValueError: for a count below 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"the torch thread count must be a positive integer, got {threads!r}")
    import torch

    torch.set_num_threads(threads)


def add_model_arguments(arguments: argparse.ArgumentParser) -> None:
    """Add ``--threads``, ``--vecnormalize PATH`` and ``--no-vecnormalize`` to ``arguments``."""
    arguments.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_TORCH_THREADS,
        help="torch CPU threads for model agents (default: 1, the fastest for small recurrent nets)",
    )
    statistics = arguments.add_mutually_exclusive_group()
    statistics.add_argument(
        "--vecnormalize",
        metavar="PATH",
        default=None,
        help="the agent's VecNormalize statistics (vecnormalize.pkl, a pickle: only a file you "
        "trust); required when such a file lies beside the model",
    )
    statistics.add_argument(
        "--no-vecnormalize",
        action="store_true",
        help="play the model on raw observations although statistics lie beside it",
    )


def vec_normalize_choice(args: argparse.Namespace) -> VecNormalizeChoice:
    """``--vecnormalize PATH`` / ``--no-vecnormalize`` as :func:`evaluate.evaluate` takes them."""
    return False if args.no_vecnormalize else args.vecnormalize
