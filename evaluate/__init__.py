"""Evaluation harness: score agents against RNN baselines and Bayes-optimal bounds.

``evaluate.evaluate(agent, env_id, n_tasks=...)`` plays an agent on an environment's
versioned evaluation task set and returns an :class:`~evaluate.schema.EvaluationResult`;
``evaluate.bounds(env_id, **env_kwargs)`` gives the Bayes-optimal bound and the oracle
ceiling; :mod:`evaluate.references` holds the reference agents (``random``, ``oracle``,
``bayes``). ``nmn-eval`` (or ``python -m evaluate``) is the command line.
"""

from typing import Any

from evaluate.bounds import bounds
from evaluate.schema import SCHEMA_VERSION, EvaluationResult, load_result


def __getattr__(name: str) -> Any:
    # The harness pulls in rliable and its statistics stack (seconds to import): load it on
    # first use, so that reading a result or a schema stays quick.
    if name == "evaluate":
        from evaluate.harness import evaluate

        return evaluate
    raise AttributeError(f"module 'evaluate' has no attribute {name!r}")

__all__ = ["SCHEMA_VERSION", "EvaluationResult", "bounds", "evaluate", "load_result"]
