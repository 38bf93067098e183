"""Training hyperparameters per environment, read from the YAML files of ``policies/hyperparams``.

One file per environment id (``NMN-Bench1-v0.yml``), in the style of rl-baselines3-zoo: the
number of environments and their kwargs, whether the training reward is scaled by SB3's
``VecNormalize`` (observations, previous reward included, stay raw), RecurrentPPO's keyword
arguments, and the
``policy_kwargs`` of each policy (``nmn``, ``rnn``, ``lstm``). Ids without a file use
``default.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"
POLICY_NAMES = ("nmn", "rnn", "lstm")


class Hyperparams(BaseModel):
    """The content of one hyperparameter file."""

    model_config = ConfigDict(extra="forbid")

    n_envs: PositiveInt
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    normalize_reward: bool = False
    gamma: float = Field(gt=0.0, le=1.0)
    gae_lambda: float = Field(ge=0.0, le=1.0)
    learning_rate: float = Field(gt=0.0)
    n_steps: PositiveInt
    batch_size: PositiveInt
    n_epochs: PositiveInt
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    clip_range: float = Field(0.2, gt=0.0)
    max_grad_norm: float = Field(0.5, gt=0.0)
    target_kl: float | None = None
    policy_kwargs: dict[str, dict[str, Any]]

    def algorithm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``RecurrentPPO`` (without the policy's)."""
        return self.model_dump(exclude={"n_envs", "env_kwargs", "normalize_reward", "policy_kwargs"})


def hyperparams_path(env_id: str) -> Path:
    """The file that holds ``env_id``'s hyperparameters (``default.yml`` when it has none)."""
    path = HYPERPARAMS_DIR / f"{env_id}.yml"
    return path if path.is_file() else HYPERPARAMS_DIR / "default.yml"


def load_hyperparams(env_id: str, path: str | Path | None = None) -> Hyperparams:
    """Read and validate the hyperparameters of ``env_id`` (or those of the file ``path``)."""
    path = Path(path) if path is not None else hyperparams_path(env_id)
    if not path.is_file():
        raise ValueError(f"hyperparameter file {str(path)!r} does not exist")
    hyperparams = Hyperparams.model_validate(yaml.safe_load(path.read_text()))
    missing = [name for name in POLICY_NAMES if name not in hyperparams.policy_kwargs]
    if missing:
        raise ValueError(f"{path}: policy_kwargs lacks entries for {missing} (needs {list(POLICY_NAMES)})")
    return hyperparams
