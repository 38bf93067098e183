"""Analyses of the source designs: the two-step stay probabilities, NMN-Bench2/3 steering, and
NMN agents' signal ``z``.

* :func:`stay_probability_report`: the stay-probability table of NMN-Two-Step (common /
  uncommon x rewarded / unrewarded) and its bar plot: the model-based signature.
* :func:`steering_report`: an agent's heading error on NMN-Bench2/3 by the oracle's heading,
  and its hits of each target (:mod:`evaluate.steering`).
* :func:`modulation_trace` and :func:`plot_modulation`: the neuromodulatory signal ``z`` of an
  NMN agent over a meta-episode, one line per task coloured by the task's hidden parameter.
* :func:`slope_spread`: how far ``z`` moves the slopes ``1 + z W_s`` of the actor's hidden
  neurons from step to step: the product of the observation with what ``z`` holds.
* :func:`lock_unlock`: adapt, then freeze ``z`` and switch the task, then release ``z``. An
  agent whose adaptation lives in ``z`` keeps acting for the old task while ``z`` is locked
  and re-adapts once it is released (the NMN paper's lock/unlock study).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch as th

from evaluate.agents import PredictPolicy
from evaluate.policy import Policy
from evaluate.cache import ResultCache, cached_study
from evaluate.rollout import has_native_vector_env, make_vector_env, play
from evaluate.steering import HIT_REWARDS, Steering, steering, task_changes
from evaluate.task_sets import task_set
from evaluate.two_step_analysis import OUTCOMES, TRANSITIONS, StayTable, stay_table

TWO_STEP_ID = "NMN-TwoStep-v0"
STAY_FILE = "stay_probability.png"
STEERING_FILE = "steering.png"
STEERED_TASKS = 32
"""Meta-episodes the steering analysis plays (at most; fewer when fewer are evaluated)."""
MODULATION_FILE = "modulation.png"
LOCK_FILE = "lock_unlock.png"


# ------------------------------------------------------------------------------ two-step
def stay_probability_report(
    policy: Policy, n_tasks: int, out: Path, env_kwargs: dict[str, Any] | None = None
) -> str:
    """Play ``policy`` on NMN-TwoStep, write the stay-probability bar plot; return the Markdown table."""
    return write_stay_table(two_step_stays(policy, n_tasks, env_kwargs), policy.name, n_tasks, out)


def two_step_stays(policy: Policy, n_tasks: int, env_kwargs: dict[str, Any] | None = None) -> StayTable:
    """The stay table of ``policy`` over the first ``n_tasks`` tasks of NMN-TwoStep's evaluation set."""
    tasks, seeds = task_set(TWO_STEP_ID, **(env_kwargs or {})).head(n_tasks)
    rollout = play(policy, TWO_STEP_ID, tasks, seeds, env_kwargs, record=True)
    return stay_table(rollout.observations, rollout.actions, rollout.step_rewards)


def write_stay_table(table: StayTable, name: str, n_tasks: int, out: Path) -> str:
    """Write ``table``'s stay-probability bar plot into ``out``; return it as a Markdown table."""
    figure, axes = plt.subplots(figsize=(5, 4))
    width = 0.35
    for offset, transition in zip((-width / 2, width / 2), TRANSITIONS):
        values = [table.probability(transition, outcome) for outcome in OUTCOMES]
        errors = [table.standard_error(transition, outcome) for outcome in OUTCOMES]
        axes.bar(np.arange(2) + offset, values, width, yerr=errors, label=transition, capsize=3)
    axes.set_xticks(range(2), OUTCOMES)
    axes.set_ylim(0.0, 1.05)
    axes.set_ylabel("stay probability")
    axes.set_title(f"Two-step stays of {name} ({n_tasks} meta-episodes)")
    axes.legend(title="transition")
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / STAY_FILE, dpi=110)
    plt.close(figure)
    lines = ["| transition | rewarded | unrewarded |", "|---|---|---|"]
    for transition in TRANSITIONS:
        cells = [
            f"{table.probability(transition, outcome):.3f} ± {table.standard_error(transition, outcome):.3f}"
            for outcome in OUTCOMES
        ]
        lines.append(f"| {transition} | " + " | ".join(cells) + " |")
    return (
        f"Stay probability of {name} after each kind of trial (± s.e.):\n\n"
        + "\n".join(lines)
        + "\n"
    )


# ------------------------------------------------------------------------------ NMN-Bench2/3
def steering_report(
    policy: Policy, env_id: str, n_tasks: int, out: Path, env_kwargs: dict[str, Any] | None = None
) -> str:
    """Play ``policy`` on NMN-Bench2 or NMN-Bench3, write its heading-error plot; return the Markdown table."""
    return write_steering(steering(policy, env_id, n_tasks, env_kwargs), policy.name, env_id, n_tasks, out)


def write_steering(measured: Steering, name: str, env_id: str, n_tasks: int, out: Path) -> str:
    """Write the bar plot of ``measured``'s heading errors into ``out``; return them as Markdown."""
    width = 360.0 / len(measured.sector_starts)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.bar(measured.sector_starts + width / 2, measured.mean_error, width * 0.9)
    axes.set_xticks(np.append(measured.sector_starts, 180.0))
    axes.set_xlabel("the oracle's heading (degrees; 0 east, +-180 west)")
    axes.set_ylabel("mean heading error (degrees)")
    axes.set_ylim(0.0, 180.0)
    axes.set_title(f"Steering of {name} on {env_id} ({n_tasks} meta-episodes)")
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / STEERING_FILE, dpi=110)
    plt.close(figure)
    sectors = [f"{start:.0f} to {start + width:.0f}" for start in measured.sector_starts]
    errors = [f"{error:.1f}" for error in measured.mean_error]
    return (
        f"Steering of {name} on {env_id} ({n_tasks} meta-episodes, their last {measured.steps} steps): "
        "mean angle between the agent's heading and the oracle's, by the oracle's heading "
        f"(degrees; 0 east, +-180 west; {STEERING_FILE}). Hits per meta-episode: {measured.hits_text}.\n\n"
        "| oracle's heading | " + " | ".join(sectors) + " |\n"
        "|---|" + "---|" * len(sectors) + "\n"
        "| mean error | " + " | ".join(errors) + " |\n"
    )


# ------------------------------------------------------------------------------ NMN signal z
def is_neuromodulated(policy: Policy) -> bool:
    """Whether ``policy`` is a model whose actor is a neuromodulated network (an NMN agent)."""
    from policies.nmn import NeuromodulatedNetwork

    network = getattr(getattr(getattr(policy, "model", None), "policy", None), "lstm_actor", None)
    return isinstance(network, NeuromodulatedNetwork)


class ModulationProbe:
    """Reads (and can freeze) the actor's ``z`` through a forward hook on its modulation layer.

    Every forward pass of the actor appends ``z`` (shape ``(batch, k)``) to :attr:`trace`.
    While :attr:`locked`, the layer's output is replaced by the one seen when it was locked.
    """

    def __init__(self, policy: PredictPolicy) -> None:
        self.layer = policy.model.policy.lstm_actor.modulation
        self.trace: list[np.ndarray] = []
        self.locked = False
        self._last: th.Tensor | None = None
        self._frozen: th.Tensor | None = None

    def lock(self) -> None:
        """Freeze ``z`` at its latest value, row by row."""
        self._frozen, self.locked = self._last, True

    def unlock(self) -> None:
        """Let ``z`` follow the neuromodulatory network again."""
        self._frozen, self.locked = None, False

    def _hook(self, module: th.nn.Module, inputs: Any, output: th.Tensor) -> th.Tensor:
        if self.locked and self._frozen is not None:
            output = self._frozen
        self._last = output.detach().clone()
        self.trace.append(th.relu(output).detach().reshape(-1, output.shape[-1]).cpu().numpy())
        return output

    @contextmanager
    def attached(self) -> Iterator[ModulationProbe]:
        """Hook the probe onto the modulation layer for the duration of the block."""
        handle = self.layer.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()


def modulation_trace(
    policy: PredictPolicy, env_id: str, n_tasks: int, env_kwargs: dict[str, Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """``z`` at every step of ``n_tasks`` evaluation tasks: shape ``(n_tasks, T, k)``, and the tasks."""
    tasks, seeds = task_set(env_id, **(env_kwargs or {})).head(n_tasks)
    probe = ModulationProbe(policy)
    with probe.attached():
        play(policy, env_id, tasks, seeds, env_kwargs, batch_size=n_tasks)
    return np.stack(probe.trace, axis=1), tasks


@dataclass(frozen=True)
class SlopeSpread:
    """What :func:`slope_spread` measured on each hidden layer of the actor's main network.

    Attributes:
        deviation: per layer, the standard deviation of each neuron's slope over every step of
            every task played, averaged over the layer's neurons.
        below_zero: per layer, the share of (step, neuron) slopes below 0 (the neuron's input
            weights turned round).
    """

    deviation: tuple[float, ...]
    below_zero: tuple[float, ...]


def slope_spread(
    policy: PredictPolicy, env_id: str, n_tasks: int, env_kwargs: dict[str, Any] | None = None
) -> SlopeSpread:
    """The spread of the slopes ``1 + z W_s`` of the NMN actor's hidden neurons over ``n_tasks``
    evaluation tasks (see :class:`SlopeSpread`)."""
    z, _ = modulation_trace(policy, env_id, n_tasks, env_kwargs)
    z = z.reshape(-1, z.shape[-1])
    hidden = policy.model.policy.lstm_actor.layers[:-1]
    slopes = [1.0 + z @ layer.scale.weight.detach().cpu().numpy().T for layer in hidden]
    return SlopeSpread(
        deviation=tuple(float(layer.std(axis=0).mean()) for layer in slopes),
        below_zero=tuple(float((layer < 0.0).mean()) for layer in slopes),
    )


def principal_direction(z: np.ndarray) -> np.ndarray:
    """The unit direction of largest variance of the vectors of ``z`` (``(..., k)``), its largest
    entry positive; the first unit vector when they do not vary.

    The leading eigenvector of the ``k x k`` scatter matrix: the first right singular vector of
    the centred vectors, at a fraction of an SVD of all of them (a second for 90,000 steps).
    """
    flat = z.reshape(-1, z.shape[-1]).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    if not np.any(centred):
        return np.eye(z.shape[-1])[0]
    direction = np.linalg.eigh(centred.T @ centred)[1][:, -1]
    return direction if direction[np.argmax(np.abs(direction))] > 0.0 else -direction


def plot_modulation(
    z: np.ndarray, colour_values: np.ndarray, colour_label: str, path: Path
) -> None:
    """``z`` projected on its first principal component over time, one line per task."""
    centre = z.reshape(-1, z.shape[-1]).mean(axis=0)
    projected = (z - centre) @ principal_direction(z)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    colours = plt.get_cmap("coolwarm")
    low, high = float(np.min(colour_values)), float(np.max(colour_values))
    steps = np.arange(1, z.shape[1] + 1)
    for line, value in zip(projected, colour_values):
        axes.plot(steps, line, color=colours((value - low) / (high - low + 1e-12)), linewidth=0.8)
    mappable = plt.cm.ScalarMappable(cmap=colours, norm=plt.Normalize(low, high))
    figure.colorbar(mappable, ax=axes, label=colour_label)
    axes.set_xscale("log")
    axes.set_xlabel("step of the meta-episode")
    axes.set_ylabel("z, first principal component")
    axes.set_title("Neuromodulatory signal over a meta-episode, by task")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


@dataclass(frozen=True)
class LockUnlock:
    """Mean reward per step of each phase, the reward curve (mean over tasks) and ``z`` (tasks, steps, k)."""

    adapted: float
    locked: float
    released: float
    curve: np.ndarray
    phases: tuple[int, int, int]
    z: np.ndarray

    @classmethod
    def of(cls, curve: np.ndarray, phases: tuple[int, int, int], z: np.ndarray) -> LockUnlock:
        """The study of a reward curve (mean over tasks) through ``phases`` and its ``z``."""
        adapt, locked, _ = phases
        return cls(
            adapted=float(curve[:adapt].mean()),
            locked=float(curve[adapt : adapt + locked].mean()),
            released=float(curve[adapt + locked :].mean()),
            curve=curve,
            phases=phases,
            z=z,
        )


def lock_unlock(
    policy: PredictPolicy,
    env_id: str,
    n_tasks: int = 64,
    phases: tuple[int, int, int] = (200, 200, 200),
) -> LockUnlock:
    """Adapt to a task, then lock ``z`` and switch every task, then release ``z``.

    Task ``i`` of the evaluation set is played for ``phases[0]`` steps; then ``z`` is frozen
    and the task becomes task ``n_tasks + i`` for ``phases[1]`` steps; then ``z`` is released
    for ``phases[2]`` steps.
    """
    adapt, locked, _ = phases
    tasks, seeds = task_set(env_id).head(2 * n_tasks)
    env = make_vector_env(env_id, n_tasks, {"max_episode_steps": sum(phases)})
    observation, _ = env.reset(seed=seeds[:n_tasks], options={"tasks": tasks[:n_tasks]})
    policy.reset(env)
    probe = ModulationProbe(policy)
    rewards = np.zeros((n_tasks, sum(phases)))
    episode_start = np.ones(n_tasks, dtype=bool)
    with probe.attached():
        for t in range(sum(phases)):
            if t == adapt:
                probe.lock()
                for row, task in enumerate(tasks[n_tasks:]):
                    env.unwrapped.core.set_task(row, task)
            if t == adapt + locked:
                probe.unlock()
            observation, rewards[:, t], _, _, _ = env.step(policy.act(observation, episode_start))
            episode_start = np.zeros(n_tasks, dtype=bool)
    env.close()
    return LockUnlock.of(rewards.mean(axis=0), phases, np.stack(probe.trace, axis=1))


def plot_lock_unlock(result: LockUnlock, title: str, path: Path) -> None:
    """The mean reward per step through the three phases, the locked phase shaded."""
    adapt, locked, _ = result.phases
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(np.arange(1, result.curve.size + 1), result.curve, linewidth=1)
    axes.axvspan(
        adapt + 0.5, adapt + locked + 0.5, color="grey", alpha=0.25, label="z locked, task switched"
    )
    axes.set_xlabel("step")
    axes.set_ylabel("mean reward per step across tasks")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_analyses(
    policy: Policy,
    env_id: str,
    n_tasks: int,
    out: Path,
    env_kwargs: dict[str, Any] | None = None,
    cache: ResultCache | None = None,
) -> str:
    """Run the analyses that apply to ``policy`` on ``env_id``; write their plots; return Markdown.

    NMN-TwoStep: the stay-probability table. NMN-Bench2/3: the steering table, on at most
    :data:`STEERED_TASKS` meta-episodes whose task does not change. An NMN agent on an environment of the suite:
    ``z`` over time coloured by the task's first field, and (on the ids with a batched core,
    whose task it switches) the lock/unlock experiment; with a ``cache``, the arrays of both
    studies of a mean-action model are read from it when they were computed before.
    """
    sections = []
    if env_id == TWO_STEP_ID:
        sections.append(stay_probability_report(policy, n_tasks, out, env_kwargs))
    if env_id in HIT_REWARDS and not task_changes(env_id, env_kwargs):
        sections.append(steering_report(policy, env_id, min(n_tasks, STEERED_TASKS), out, env_kwargs))
    if isinstance(policy, PredictPolicy) and is_neuromodulated(policy):
        traced = min(n_tasks, 64)
        tasks_set = task_set(env_id, **(env_kwargs or {}))
        on_tasks = {"env_id": env_id, "env_kwargs": env_kwargs or {}, "task_set": tasks_set.sha256}
        z = cached_study(
            cache, "modulation", policy, {**on_tasks, "n_tasks": traced},
            lambda: {"z": modulation_trace(policy, env_id, traced, env_kwargs)[0]},
        )["z"]
        tasks = tasks_set.head(traced)[0]
        field = tasks[0].field_names()[0]
        plot_modulation(
            z,
            np.array([getattr(task, field) for task in tasks]),
            f"task {field}",
            out / MODULATION_FILE,
        )
        section = f"z of {policy.name}: {MODULATION_FILE}."
        if has_native_vector_env(env_id):  # the task switch acts on the batched core
            steps = int(env_kwargs.get("max_episode_steps", 0)) if env_kwargs else 0
            third = max(1, (steps or 600) // 3)
            phases = (third, third, third)

            def studied() -> dict[str, np.ndarray]:
                done = lock_unlock(policy, env_id, traced, phases)
                return {"curve": done.curve, "z": done.z}

            arrays = cached_study(
                cache, "lock_unlock", policy,
                {"env_id": env_id, "task_set": task_set(env_id).sha256, "n_tasks": traced, "phases": phases},
                studied,
            )
            study = LockUnlock.of(arrays["curve"], phases, arrays["z"])
            plot_lock_unlock(study, f"Lock/unlock of {policy.name} on {env_id}", out / LOCK_FILE)
            section += (
                f" Lock/unlock ({third} steps per phase), mean reward per "
                f"step: adapted {study.adapted:.3f}, z locked after a task switch {study.locked:.3f}, "
                f"z released {study.released:.3f} ({LOCK_FILE})."
            )
        sections.append(section + "\n")
    return "\n".join(sections)
