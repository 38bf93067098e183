"""The single-env and vector-env views over a :class:`~nmn_envs.core.TaskCore`.

:class:`TaskEnv` is a :class:`gymnasium.Env` over a core of one row. :class:`TaskVectorEnv`
is a :class:`gymnasium.vector.VectorEnv` over a core of ``num_envs`` rows with Gymnasium 1.x
autoreset, in each of its modes (``autoreset_mode``, also in ``metadata["autoreset_mode"]``):

* ``AutoresetMode.NEXT_STEP`` (the default): the step after a sub-environment ends resets it
  (a new task drawn from its own stream), ignores its action and returns reward 0;
* ``AutoresetMode.SAME_STEP``: a sub-environment that ends is reset in the same step; the
  step returns the new meta-episode's first observation, and the last observation and info
  of the one that ended in ``info["final_obs"]`` and ``info["final_info"]`` (masks
  ``info["_final_obs"]``, ``info["_final_info"]``), as Gymnasium's ``SyncVectorEnv`` does;
* ``AutoresetMode.DISABLED``: nothing resets by itself; reset ended sub-environments with
  ``reset(options={"reset_mask": mask})`` before the next step (TorchRL's preferred mode).

Both views read their dynamics from the same core, so sub-environment ``i`` of a vector env
reset with seed ``s`` behaves bit for bit like a single env reset with seed ``s + i``.

Trials (see :mod:`nmn_envs.core`): tasks that mark trials report ``info["trial_start"]``. For
an episodic task the vector view plays ``trials_per_task`` trials of ``core.trial_steps`` steps
on one task as one meta-episode, exactly as the single view does inside
:class:`gymnasium.wrappers.TimeLimit` and :class:`~nmn_envs.wrappers.FeedbackWrapper`: when a
trial ends with trials left, the sub-environment starts the next trial on the same task in the
same step (the observation is the new trial's first one, the reward the last step's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import Env, error
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from nmn_envs.actions import check_single_action
from nmn_envs.core import TaskCore
from nmn_envs.tasks import Task

RESET_OPTIONS = ("task", "state")
VECTOR_RESET_OPTIONS = ("tasks", "states", "reset_mask")
RENDER_MODES = ["rgb_array"]


def _check_options(options: Mapping[str, Any] | None, allowed: Sequence[str]) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a dict with keys among {list(allowed)}, got {options!r}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; allowed: {list(allowed)}")
    return dict(options)


def check_render_mode(render_mode: str | None) -> str | None:
    """Return ``render_mode`` if the suite draws it, else raise naming what is offered.

    The envs draw frames as arrays and open no window: ``"human"`` is refused with a pointer
    to the Gymnasium wrappers that show (``HumanRendering``) or record (``RecordVideo``) them.
    """
    if render_mode == "human":
        raise ValueError(
            "render_mode='human' is not offered: the envs draw frames as arrays and open no "
            "window. Make the env with render_mode='rgb_array' and wrap it in "
            "gymnasium.wrappers.HumanRendering to watch it (needs pygame and a display) or in "
            "gymnasium.wrappers.RecordVideo to save a video (works headless); with rl-zoo's "
            "enjoy script pass --no-render"
        )
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")
    return render_mode


def _check_autoreset_mode(autoreset_mode: AutoresetMode | str) -> AutoresetMode:
    try:
        return AutoresetMode(autoreset_mode)
    except ValueError:
        raise ValueError(
            f"autoreset_mode must be an AutoresetMode or one of"
            f" {[mode.value for mode in AutoresetMode]}, got {autoreset_mode!r}"
        ) from None


class TaskEnv(Env[np.ndarray, Any]):
    """A single environment over a one-row core; subclasses set ``core_class``.

    Reset options: ``{"task": Task | dict}`` plays that task (else one is drawn with the env's
    seeded generator) and ``{"state": dict}`` sets the start state by hand (for tests and
    analyses). Stepping after the episode terminated raises :class:`gymnasium.error.ResetNeeded`.
    """

    core_class: ClassVar[type[TaskCore]]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 30}

    def __init__(self, render_mode: str | None = None, **core_kwargs: Any) -> None:
        self.render_mode = check_render_mode(render_mode)
        self.core = self.core_class(1, **core_kwargs)
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._row = np.zeros(1, dtype=np.int64)
        self._active = np.ones(1, dtype=bool)
        self._needs_reset = True

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""
        return self.core.sample_task(rng)

    @property
    def task(self) -> Task:
        """The task being played (for analysis and reference agents; never observed)."""
        if self._needs_reset and not self.core.streams.is_attached(0):
            raise error.ResetNeeded("call reset() before reading the task")
        return self.core.get_task(0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        options = _check_options(options, RESET_OPTIONS)
        previous_random = self._np_random, self._np_random_seed
        try:
            with self.core.unchanged_on_error():  # a refused reset changes nothing
                super().reset(seed=seed)
                if seed is not None or not self.core.streams.is_attached(0):
                    self.core.streams.attach(0, self.np_random)
                self.core.begin(self._row, [options.get("task")], [options.get("state")])
        except BaseException:
            self._np_random, self._np_random_seed = previous_random
            raise
        self._needs_reset = False
        return self.core.observe()[0], self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise error.ResetNeeded(
                "the episode has ended (or never started): call reset() before step()"
            )
        batch = check_single_action(action, self.action_space)
        rewards, terminated = self.core.step(batch, self._active)
        self._needs_reset = bool(terminated[0])
        return self.core.observe()[0], float(rewards[0]), bool(terminated[0]), False, self._info()

    def _info(self) -> dict[str, Any]:
        if self.core.marks_trials:
            return {"trial_start": bool(self.core.trial_start[0])}
        return {}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.core.draw_frame(0)


class TaskVectorEnv(VectorEnv):
    """A native batched vector environment over a core of ``num_envs`` rows.

    Args:
        core: the batched core.
        max_episode_steps: truncate a sub-environment's meta-episode after this many steps
            (``None``: never).
        render_mode: ``"rgb_array"`` renders every sub-environment, or ``None``.
        trials_per_task: trials of an episodic core (one with ``trial_steps``) per meta-episode.
        autoreset_mode: an ``AutoresetMode`` (or its value: ``"NextStep"``, the default,
            ``"SameStep"`` or ``"Disabled"``).

    Reset options: ``{"tasks": [Task | dict | None, ...]}`` (one per sub-environment) and
    ``{"states": [...]}``. Tasks drawn by autoreset come from each sub-environment's stream.
    ``{"reset_mask": bool array}`` (Gymnasium's convention) resets only the marked
    sub-environments; the others keep their state and their current observation.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": RENDER_MODES,
        "render_fps": 30,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        core: TaskCore,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        trials_per_task: int = 1,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ) -> None:
        if not isinstance(trials_per_task, (int, np.integer)) or trials_per_task < 1:
            raise ValueError(f"trials_per_task must be a positive integer, got {trials_per_task!r}")
        if trials_per_task > 1 and core.trial_steps is None:
            raise ValueError(
                f"trials_per_task={trials_per_task} needs an episodic task; {type(core).__name__}"
                " plays one long episode per meta-episode"
            )
        if max_episode_steps is not None and (
            not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}"
            )
        self.autoreset_mode = _check_autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.core = core
        self.num_envs = core.num_envs
        self.max_episode_steps = max_episode_steps
        self.render_mode = check_render_mode(render_mode)
        self.single_observation_space = core.observation_space
        self.single_action_space = core.action_space
        self.observation_space = batch_space(core.observation_space, self.num_envs)
        self.action_space = batch_space(core.action_space, self.num_envs)
        self.trials_per_task = int(trials_per_task)
        self._reports_trials = core.marks_trials or core.trial_steps is not None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._trial = np.zeros(self.num_envs, dtype=np.int64)
        self._started = False

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""
        return self.core.sample_task(rng)

    @property
    def tasks(self) -> list[Task]:
        """The task of every sub-environment (for analysis and reference agents)."""
        return [self.core.get_task(row) for row in range(self.num_envs)]

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        options = _check_options(options, VECTOR_RESET_OPTIONS)
        rows = self._rows_to_reset(options.get("reset_mask"))
        if seed is None:
            seeds: Sequence[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + row for row in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} sub-environments")
        with self.core.unchanged_on_error():  # a refused reset changes nothing
            for row in rows:
                if seeds[row] is not None or not self.core.streams.is_attached(row):
                    self.core.streams.seed(row, seeds[row])
            tasks = self._per_row(options, "tasks", rows)
            states = self._per_row(options, "states", rows)
            self.core.begin(rows, tasks, states)
        self._autoreset[rows] = False
        self._elapsed[rows] = 0
        self._trial[rows] = 0
        self._started = True
        return self.core.observe(), self._info()

    def _rows_to_reset(self, reset_mask: Any) -> np.ndarray:
        if reset_mask is None:
            return self.core.all_rows
        mask = np.asarray(reset_mask)
        if mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must be a boolean array of shape ({self.num_envs},),"
                f" got {reset_mask!r}"
            )
        if not self._started and not mask.all():
            raise error.ResetNeeded("the first reset() must reset every sub-environment")
        return np.flatnonzero(mask)

    def _per_row(self, options: Mapping[str, Any], key: str, rows: np.ndarray) -> list[Any] | None:
        values = options.get(key)
        if values is None:
            return None
        values = list(values)
        if len(values) != self.num_envs:
            raise ValueError(f"options[{key!r}] has {len(values)} entries for {self.num_envs} sub-environments")
        return [values[row] for row in rows]

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise error.ResetNeeded("call reset() before step()")
        if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset.any():
            raise error.ResetNeeded(
                f"sub-environment(s) {np.flatnonzero(self._autoreset).tolist()} ended: with "
                "autoreset_mode=Disabled reset them with options={'reset_mask': mask} first"
            )
        restarting = self._autoreset
        active = ~restarting
        if np.any(restarting):
            self.core.begin(np.flatnonzero(restarting))
            self._elapsed[restarting] = 0
            self._trial[restarting] = 0
        rewards, terminated = self.core.step(actions, active)
        self._elapsed[active] += 1
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.core.trial_steps is not None:
            trial_over = active & (terminated | (self.core.step_index >= self.core.trial_steps))
            next_trial = trial_over & (self._trial + 1 < self.trials_per_task)
            self._start_next_trial(np.flatnonzero(next_trial))
            terminated = terminated & ~next_trial
            truncated = trial_over & ~next_trial & ~terminated
        if self.max_episode_steps is not None:
            truncated |= active & ~terminated & (self._elapsed >= self.max_episode_steps)
        ended = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            info = self._restart_now(np.flatnonzero(ended))
        else:
            self._autoreset = ended
            info = self._info()
        return self.core.observe(), rewards, terminated, truncated, info

    def _restart_now(self, rows: np.ndarray) -> dict[str, Any]:
        """Same-step autoreset: keep the last observation and info of ``rows``, then reset them."""
        if not rows.size:
            return self._info()
        final_observations, final_info = self.core.observe()[rows], self._info()
        self.core.begin(rows)
        self._elapsed[rows] = 0
        self._trial[rows] = 0
        info = self._info()
        for final_observation, row in zip(final_observations, rows):
            row_info = {key: value[row].item() for key, value in final_info.items() if key[0] != "_"}
            info = self._add_info(
                info, {"final_obs": final_observation, "final_info": row_info}, int(row)
            )
        return info

    def _start_next_trial(self, rows: np.ndarray) -> None:
        if rows.size:
            self.core.begin(rows, [self.core.get_task(int(row)) for row in rows])
            self._trial[rows] += 1

    def _info(self) -> dict[str, Any]:
        if not self._reports_trials:
            return {}
        everywhere = np.ones(self.num_envs, dtype=bool)
        info: dict[str, Any] = {"trial_start": self.core.trial_start.copy(), "_trial_start": everywhere}
        if self.trials_per_task > 1:
            info.update(trial=self._trial.copy(), _trial=everywhere)
        return info

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self.core.draw_frame(row) for row in range(self.num_envs))
