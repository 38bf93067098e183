"""The folder of a training run, as ``nmn-train`` writes it for every agent (RecurrentPPO
policies in :mod:`training.train`, MAML in :mod:`training.maml_train`): its files, its
checkpoints, and the code revision it trained from.

A run folder holds ``config.yml`` (what was trained, with which recipe and revision), the
final model (``model.safe.zip``, and ``model.zip`` for RecurrentPPO), ``checkpoints/`` with
``model_<steps>_steps.safe.zip`` and the optimiser's state beside each
(``.training.pt``), the validation curve and the logs (CSV and TensorBoard).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from policies.serialization import SAFE_SUFFIX

CONFIG_FILE = "config.yml"
MODEL_FILE = "model.zip"
SAFE_MODEL_FILE = "model.safe.zip"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "model"
TRAINING_STATE_SUFFIX = ".training.pt"
LOG_FORMATS = ["csv", "tensorboard"]


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    """The steps and path of the checkpoint of ``run_dir`` with the most steps, or ``None``.

    The path is the checkpoint's safe form (``.safe.zip``) or, in a folder written before
    checkpoints took that form, a Stable-Baselines3 zip; the safe form wins a tie.
    """
    pattern = re.compile(rf"{CHECKPOINT_PREFIX}_(\d+)_steps(\{SAFE_SUFFIX}|\.zip)")
    found = [
        (int(match.group(1)), match.group(2) == SAFE_SUFFIX, path)
        for path in (run_dir / CHECKPOINT_DIR).glob("*.zip")
        if (match := pattern.fullmatch(path.name))
    ]
    if not found:
        return None
    steps, _, path = max(found)
    return steps, path


def git_revision() -> str | None:
    """The commit the code runs from (``+dirty`` when it has uncommitted changes), or ``None``
    outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if changed else commit


class RunComplete(Exception):
    """The run to resume has finished: its final model is saved."""
