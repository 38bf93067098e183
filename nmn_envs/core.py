"""The batched core that every task of the suite is written on.

A :class:`TaskCore` holds ``num_envs`` sub-environments in NumPy arrays: their tasks, their
states and their random streams. A task's dynamics are written once, in a subclass, as
array operations over the rows that step. :class:`nmn_envs.views.TaskEnv` (one row) and
:class:`nmn_envs.views.TaskVectorEnv` (``num_envs`` rows) are thin views over it.

A subclass provides:

* ``task_class``: the :class:`~nmn_envs.tasks.Task` dataclass of the distribution;
* ``task_uniform_count`` and :meth:`TaskCore.tasks_from_uniforms`: the task distribution as a
  map from uniform numbers to task fields, used both by :meth:`TaskCore.sample_task` (any
  generator) and by the per-row streams, so the distribution is defined in one place;
* :meth:`TaskCore.start`, :meth:`TaskCore.apply_state`, :meth:`TaskCore.observe`,
  :meth:`TaskCore.advance` and :meth:`TaskCore.draw_frame`.

Trials. A task whose meta-episode holds several trials inside one episode (two-step trials)
sets ``marks_trials = True`` and sets ``trial_start[row]`` in :meth:`TaskCore.advance` when the
row's next observation opens a trial; the views report it as ``info["trial_start"]``. An
episodic task (one trial per episode, several episodes per meta-episode) sets ``trial_steps``,
the length of one trial; the views end its episodes there and the feedback wrappers chain
``trials_per_task`` of them on one task.

Teams. :meth:`TaskCore.share_tasks` groups the rows in teams that play one task together (the
agents of :mod:`nmn_envs.multiagent`): each row keeps its own state and random stream, and the
team's task is that of its first row, copied to the others at every reset and every step.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from nmn_envs.actions import check_actions
from nmn_envs.streams import RandomStreams
from nmn_envs.tasks import Task


class TaskCore(ABC):
    """Batched dynamics of one task distribution.

    Args:
        num_envs: the number of sub-environments (rows).
    """

    task_class: ClassVar[type[Task]]
    task_uniform_count: ClassVar[int]
    marks_trials: ClassVar[bool] = False
    trial_steps: ClassVar[int | None] = None
    reward_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    """The lowest and the highest reward of one step (a meta-episode's return lies within
    ``steps`` times these; the leaderboard refuses returns outside)."""
    observation_space: spaces.Box
    action_space: spaces.Space

    def __init__(self, num_envs: int) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.streams = RandomStreams(self.num_envs)
        field_names = self.task_class.field_names()
        self.task_table = np.zeros((self.num_envs, len(field_names)))
        self.task_params: dict[str, np.ndarray] = {
            name: self.task_table[:, column] for column, name in enumerate(field_names)
        }
        self.step_index = np.zeros(self.num_envs, dtype=np.int64)
        self.trial_start = np.ones(self.num_envs, dtype=bool)
        self.all_rows = np.arange(self.num_envs)
        self.task_leader = self.all_rows.copy()
        self.leads = np.ones(self.num_envs, dtype=bool)

    # ----------------------------------------------------------------- task distribution
    @abstractmethod
    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        """Map uniforms of shape ``(n, task_uniform_count)`` to ``n`` tasks, field by field."""

    def task_columns(self, first: str, count: int) -> np.ndarray:
        """A view of ``count`` adjacent task fields from ``first``, shape ``(num_envs, count)``.

        ``task_params[name]`` is a column of ``task_table`` (write into it, never rebind it), so
        points such as ``(target_x, target_y)`` are read without copying.
        """
        column = self.task_class.field_names().index(first)
        return self.task_table[:, column : column + count]

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""
        fields = self.tasks_from_uniforms(rng.random((1, self.task_uniform_count)))
        return self.task_class(**{name: values[0].item() for name, values in fields.items()})

    def draw_tasks(self, rows: np.ndarray) -> None:
        """Draw a task for each of ``rows`` from the rows' own streams."""
        fields = self.tasks_from_uniforms(self.streams.uniform(rows, self.task_uniform_count))
        for name, values in fields.items():
            self.task_params[name][rows] = values

    def set_task(self, row: int, task: Task | Mapping[str, Any]) -> None:
        """Make ``row`` play ``task`` (a task or a mapping of its fields; validated)."""
        task = self.task_class.coerce(task)
        for name, value in task.to_dict().items():
            self.task_params[name][row] = value

    def get_task(self, row: int) -> Task:
        """The task that ``row`` plays."""
        cls = self.task_class
        return cls.coerce({name: self.task_params[name][row].item() for name in cls.field_names()})

    # ----------------------------------------------------------------- teams
    def share_tasks(self, team_size: int) -> None:
        """Group the rows in consecutive teams of ``team_size`` rows that play one task.

        Row ``r`` belongs to the team of rows ``r - r % team_size`` onwards; the team's first row
        leads it. The team's task is drawn, set and switched on the leading row and copied to
        the team's other rows by :meth:`spread_tasks`, at every reset (before the start states
        are drawn) and after every step. Task changes drawn on the other rows (a switch after a
        hit, a swap of the good state) are overridden, so the team's task follows exactly the
        process it follows for the leading row alone. Dynamics that redraw part of the task
        before using it within a step draw on leading rows only and spread at once.
        """
        if not isinstance(team_size, (int, np.integer)) or team_size < 1 or self.num_envs % team_size:
            raise ValueError(
                f"team_size must be a positive integer dividing num_envs={self.num_envs},"
                f" got {team_size!r}"
            )
        self.task_leader = self.all_rows - self.all_rows % team_size
        self.leads = self.task_leader == self.all_rows

    def spread_tasks(self) -> None:
        """Copy every team's task from its leading row to the others (nothing without teams)."""
        if not self.leads.all():
            self.task_table[:] = self.task_table[self.task_leader]

    # ----------------------------------------------------------------- episodes
    @contextmanager
    def unchanged_on_error(self) -> Iterator[None]:
        """Run a block that changes the core; if it raises, put every row back as it was.

        Every array of the core (tasks, states, step counters) and every random stream is
        restored, so that a refused reset leaves the environment exactly as before it.
        """
        arrays = {
            name: value.copy()
            for name, value in vars(self).items()
            # read-only arrays (a shared object pool) cannot change
            if isinstance(value, np.ndarray) and value.flags.writeable
        }
        streams = self.streams.snapshot()
        try:
            yield
        except BaseException:
            for name, saved in arrays.items():
                current = getattr(self, name)
                if isinstance(current, np.ndarray) and current.shape == saved.shape:
                    current[...] = saved  # in place: task_params are views of task_table
                else:
                    setattr(self, name, saved)
            self.streams.restore(streams)
            raise

    def begin(
        self,
        rows: np.ndarray,
        tasks: Sequence[Task | Mapping[str, Any] | None] | None = None,
        states: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Start a meta-episode on ``rows``: set or draw the task, then set or draw the state.

        Args:
            rows: the rows to start.
            tasks: one task (or ``None`` to draw it) per row.
            states: one state mapping (or ``None`` to draw the start state) per row.
        """
        tasks = list(tasks) if tasks is not None else [None] * len(rows)
        states = list(states) if states is not None else [None] * len(rows)
        given = [task is not None for task in tasks]
        for row, task in zip(rows, tasks):
            if task is not None:
                self.set_task(int(row), task)
        drawn = rows[~np.asarray(given, dtype=bool)]
        if drawn.size:
            self.draw_tasks(drawn)
        self.spread_tasks()
        self.step_index[rows] = 0
        self.trial_start[rows] = True
        free = np.asarray([state is None for state in states], dtype=bool)
        if np.any(free):
            self.start(rows[free])
        for row, state in zip(rows, states):
            if state is not None:
                self.apply_state(int(row), state)

    @abstractmethod
    def start(self, rows: np.ndarray) -> None:
        """Draw the start state of ``rows`` (their tasks are set)."""

    @abstractmethod
    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        """Set the state of ``row`` by hand (validated; for tests and analyses)."""

    @abstractmethod
    def observe(self) -> np.ndarray:
        """The observation of every row, shape ``(num_envs, *observation_space.shape)``."""

    def step(self, actions: Any, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Check and clip ``actions`` (a batch), then advance the ``active`` rows by one step.

        Rows that are not active keep their state and draw nothing from their streams.

        Returns:
            ``(rewards, terminated)`` for every row (zeros and ``False`` on inactive rows).
        """
        checked = check_actions(actions, self.action_space, self.num_envs)
        self.trial_start[active] = False
        rewards, terminated = self.advance(checked, active)
        self.spread_tasks()
        self.step_index[active] += 1
        return np.where(active, rewards, 0.0), terminated & active

    @abstractmethod
    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The task's dynamics on the ``active`` rows (boolean mask); actions are checked.

        ``self.step_index`` holds the number of steps each row has taken in its episode.
        Tasks with ``marks_trials`` set ``self.trial_start`` on rows whose next step opens a trial.
        """

    # ----------------------------------------------------------------- rendering
    @abstractmethod
    def draw_frame(self, row: int) -> np.ndarray:
        """An RGB frame (``uint8``, shape ``(H, W, 3)``) of ``row``."""


def check_state_keys(core: TaskCore, state: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Refuse a hand-set state with unknown or missing keys, naming them."""
    if not isinstance(state, Mapping):
        raise ValueError(f"a state must be a mapping with keys {list(allowed)}, got {state!r}")
    unknown = sorted(set(state) - set(allowed))
    missing = [key for key in allowed if key not in state]
    name = type(core).__name__
    if unknown:
        raise ValueError(f"unknown state key(s) {unknown} for {name}; allowed: {list(allowed)}")
    if missing:
        raise ValueError(f"missing state key(s) {missing} for {name}")


def check_point(name: str, value: Any, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """Return ``value`` as a float array of ``shape`` inside ``[low, high]``, or raise naming it."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers of shape {shape}, got {value!r}") from None
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any((array < low) | (array > high)):
        raise ValueError(f"{name}={array.tolist()} must be finite and inside [{low}, {high}]")
    return array


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a probability, refusing anything but a real number in ``[0, 1]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a probability (a number in [0, 1]), got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_half_width(name: str, value: Any, largest: float, why: str) -> float:
    """Return ``value`` as the half width of a task distribution's support, refusing anything
    but a real number in ``(0, largest]`` (``why``: what a wider one would break)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not 0.0 < value <= largest
    ):
        raise ValueError(f"{name} must be a number in (0, {largest}] ({why}), got {value!r}")
    return float(value)


def check_within(task: Task, fields: Sequence[str], half_width: float, kwarg: str) -> None:
    """Refuse ``task`` where one of its ``fields`` lies outside ``[-half_width, half_width]``,
    the support the env kwarg ``kwarg`` gives the task distribution."""
    for name in fields:
        value = getattr(task, name)
        if abs(value) > half_width:
            raise ValueError(
                f"{type(task).__name__}.{name}={value!r} is outside the task distribution's support"
                f" [{-half_width}, {half_width}] ({kwarg}={half_width})"
            )


def check_switch_steps(name: str, steps: Sequence[int]) -> np.ndarray:
    """Return switch steps as a sorted integer array, refusing anything but non-negative ints."""
    array = np.asarray(list(steps))
    if array.size and (array.dtype.kind not in "iu" or np.any(array < 0)):
        raise ValueError(f"{name} must be non-negative step indices, got {list(steps)!r}")
    return np.unique(array.astype(np.int64))
