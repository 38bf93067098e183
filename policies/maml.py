"""MAML's policy and inner loop: a Gaussian MLP adapted to a task by policy-gradient steps.

Model-agnostic meta-learning (Finn et al. 2017) learns initial parameters ``theta`` from which
a few policy-gradient steps on a task's own trajectories give a good policy for that task.
This module holds what both training and evaluation use, after pytorch-maml-rl's defaults:

* :class:`GaussianMLPPolicy`: an MLP (``tanh``) gives the mean action; a learnt log standard
  deviation per action dimension, shared by every state, gives the noise. It acts on the
  task's base observation alone: it adapts through its parameters, not through feedback;
* :func:`advantages`: discounted returns less a linear feature baseline fitted per task (the
  features of Duan et al. 2016: the observation, its square and a cubic in time), through
  generalised advantage estimation, normalised per task;
* :func:`adapt`: ``inner_steps`` REINFORCE steps of size ``inner_learning_rate``, one per batch
  of trajectories. The step is computed for every task of a batch at once with ``torch.func``
  (``functional_call`` + ``grad`` + ``vmap`` over tasks; each task has its own fast weights),
  and stays differentiable in the initial parameters for the outer loop (second-order MAML).

Trajectories of a batch of tasks are padded to one length: :class:`Episodes` holds arrays of
shape ``(tasks, episodes, steps, ...)`` with a mask of the steps played.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch as th
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.func import functional_call, grad, vmap

Parameters = dict[str, th.Tensor]
"""A policy's parameters by name; with a leading task (or row) axis when batched."""

MAX_INNER_STEPS = 100
"""The most inner steps a model may ask for (each needs trials of its own to learn from)."""
BASELINE_TIME_SCALE = 100.0
"""The time feature of the linear baseline is ``step / 100``, as in pytorch-maml-rl."""
BASELINE_REGULARISATION = 1e-5
"""Ridge coefficient of the baseline's normal equations, raised tenfold while they fail."""
BASELINE_ATTEMPTS = 5


class Adaptation(BaseModel):
    """How a MAML policy adapts to a task: what a saved model's metadata records.

    ``inner_steps`` gradient steps of size ``inner_learning_rate`` on the REINFORCE loss, with
    advantages from discounted returns (``gamma``) through generalised advantage estimation
    (``gae_lambda``) and a linear baseline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inner_learning_rate: float = Field(gt=0.0, allow_inf_nan=False)
    inner_steps: int = Field(ge=1, le=MAX_INNER_STEPS, strict=True)
    gamma: float = Field(gt=0.0, le=1.0)
    gae_lambda: float = Field(ge=0.0, le=1.0)


class GaussianMLPPolicy(nn.Module):
    """A Gaussian policy on a ``Box`` observation: ``N(mlp(obs), diag(exp(log_std))^2)``.

    Args:
        observation_space: the base observation space (a ``Box``).
        action_space: a ``Box`` action space (the env clips actions to it).
        hidden_sizes: units of each hidden ``tanh`` layer.
        init_std: the initial standard deviation of every action dimension.
        min_std: the smallest standard deviation (the log is clamped there).
        generator: draws the initial weights (Xavier-uniform, zero biases); ``None`` keeps
            PyTorch's default initialisation (for a policy whose weights are loaded next).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        hidden_sizes: Sequence[int] = (100, 100),
        init_std: float = 1.0,
        min_std: float = 1e-6,
        generator: th.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, space in (("observation", observation_space), ("action", action_space)):
            if not isinstance(space, spaces.Box) or len(space.shape) != 1:
                raise ValueError(f"GaussianMLPPolicy needs a flat Box {name} space, got {space}")
        if not init_std > min_std > 0:
            raise ValueError(f"init_std={init_std} and min_std={min_std} must satisfy init_std > min_std > 0")
        self.observation_space, self.action_space = observation_space, action_space
        self.hidden_sizes = [int(size) for size in hidden_sizes]
        self.init_std, self.min_std = float(init_std), float(min_std)
        sizes = [observation_space.shape[0], *self.hidden_sizes]
        self.hidden = nn.ModuleList(nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(sizes, sizes[1:]))
        self.mean = nn.Linear(sizes[-1], action_space.shape[0])
        self.log_std = nn.Parameter(th.full((action_space.shape[0],), math.log(init_std)))
        if generator is not None:
            for layer in (*self.hidden, self.mean):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)

    def constructor_kwargs(self) -> dict[str, object]:
        """The kwargs that rebuild this policy on the same spaces (as saved in the safe form)."""
        return {"hidden_sizes": self.hidden_sizes, "init_std": self.init_std, "min_std": self.min_std}

    def forward(self, observations: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The mean and standard deviation of the action for each observation."""
        features = observations
        for layer in self.hidden:
            features = th.tanh(layer(features))
        mean = self.mean(features)
        std = th.exp(th.clamp(self.log_std, min=math.log(self.min_std)))
        return mean, std.expand_as(mean)


@dataclass(frozen=True)
class Episodes:
    """Trajectories of a batch of tasks, padded to one length.

    Attributes:
        observations: ``(tasks, episodes, steps, observation_dim)``: the base observation before
            each step.
        actions: ``(tasks, episodes, steps, action_dim)``: the actions sampled (before clipping).
        rewards: ``(tasks, episodes, steps)``.
        mask: ``(tasks, episodes, steps)``: 1 on the steps played, 0 on padding.
    """

    observations: th.Tensor
    actions: th.Tensor
    rewards: th.Tensor
    mask: th.Tensor


def log_prob(module: GaussianMLPPolicy, params: Parameters, observations: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """Log-density of ``actions`` under the policy with ``params`` (summed over action dimensions)."""
    mean, std = functional_call(module, params, (observations,))
    return th.distributions.Normal(mean, std).log_prob(actions).sum(-1)


def sample_actions(
    module: GaussianMLPPolicy, row_params: Parameters, observations: th.Tensor, generator: th.Generator
) -> th.Tensor:
    """One action per row, each row with its own parameters (leading axis), noise from ``generator``."""
    mean, std = vmap(partial(functional_call, module))(row_params, (observations,))
    return mean + std * th.randn(mean.shape, generator=generator, dtype=mean.dtype)


def expand(params: Parameters, rows: int) -> Parameters:
    """``params`` repeated along a new leading axis of ``rows`` (a view, no copy)."""
    return {name: value.expand(rows, *value.shape) for name, value in params.items()}


def linear_baseline(observations: th.Tensor, returns: th.Tensor, mask: th.Tensor) -> th.Tensor:
    """Each task's linear value baseline, fitted by ridge regression on its own returns.

    Args:
        observations: ``(tasks, episodes, steps, observation_dim)``.
        returns: ``(tasks, episodes, steps)``: the discounted return from each step.
        mask: ``(tasks, episodes, steps)``: 1 on the steps played.

    Returns:
        The baseline's value at every step, shape ``(tasks, episodes, steps)`` (0 on padding).
    """
    dtype, mask = returns.dtype, mask.double()
    observations = observations.double()
    steps = mask.shape[-1]
    time = (th.arange(steps, dtype=th.float64) / BASELINE_TIME_SCALE).expand_as(mask)[..., None] * mask[..., None]
    features = th.cat(
        [observations, observations**2, time, time**2, time**3, mask[..., None]], dim=-1
    ) * mask[..., None]
    tasks, size = features.shape[0], features.shape[-1]
    design = features.reshape(tasks, -1, size)
    targets = (returns.double() * mask).reshape(tasks, -1, 1)
    gram, moment = design.transpose(1, 2) @ design, design.transpose(1, 2) @ targets
    regularisation = BASELINE_REGULARISATION
    for _ in range(BASELINE_ATTEMPTS):
        weights = th.linalg.solve(gram + regularisation * th.eye(size, dtype=th.float64), moment)
        if th.isfinite(weights).all():
            break
        regularisation *= 10.0
    else:
        raise ValueError("the linear baseline's normal equations have no finite solution")
    return ((features @ weights[:, None]).squeeze(-1) * mask).to(dtype)


def discounted_returns(rewards: th.Tensor, mask: th.Tensor, gamma: float) -> th.Tensor:
    """``sum_k gamma^k r_{t+k}`` at every step, along the last axis (0 on padding)."""
    returns = th.zeros_like(rewards)
    running = th.zeros_like(rewards[..., 0])
    for step in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., step] * mask[..., step] + gamma * running
        returns[..., step] = running
    return returns * mask


def advantages(episodes: Episodes, gamma: float, gae_lambda: float) -> th.Tensor:
    """Normalised advantages of every step, shape ``(tasks, episodes, steps)``.

    Generalised advantage estimation with a per-task linear baseline fitted to the discounted
    returns (the value after a trajectory's last step is 0), then normalised over each task's
    steps to mean 0 and standard deviation 1, as pytorch-maml-rl does.
    """
    with th.no_grad():
        mask = episodes.mask
        returns = discounted_returns(episodes.rewards, mask, gamma)
        values = linear_baseline(episodes.observations, returns, mask)
        next_values = th.cat([values[..., 1:], th.zeros_like(values[..., :1])], dim=-1)
        deltas = (episodes.rewards + gamma * next_values - values) * mask
        estimates = discounted_returns(deltas, mask, gamma * gae_lambda)
        count = mask.sum(dim=(1, 2), keepdim=True)
        mean = estimates.sum(dim=(1, 2), keepdim=True) / count
        centred = (estimates - mean) * mask
        std = th.sqrt((centred**2).sum(dim=(1, 2), keepdim=True) / count)
        return centred / (std + 1e-8)


def reinforce_loss(
    module: GaussianMLPPolicy,
    params: Parameters,
    observations: th.Tensor,
    actions: th.Tensor,
    task_advantages: th.Tensor,
    mask: th.Tensor,
) -> th.Tensor:
    """The inner loss of one task: ``-log pi(a|s) * A`` averaged over each episode's steps, then
    over its episodes (shapes ``(episodes, steps, ...)``)."""
    log_probs = log_prob(module, params, observations, actions)
    per_episode = (log_probs * task_advantages * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return -per_episode.mean()


def adaptation_step(
    module: GaussianMLPPolicy,
    row_params: Parameters,
    episodes: Episodes,
    episode_advantages: th.Tensor,
    learning_rate: float,
    first_order: bool = False,
) -> Parameters:
    """One inner step for every task at once: ``theta_i - lr * grad L_i(theta_i)``.

    ``row_params`` has a leading task axis (:func:`expand` the shared initial parameters for a
    first step); the result stays differentiable in them unless ``first_order``.
    """

    def step(params: Parameters, observations, actions, task_advantages, mask) -> Parameters:  # type: ignore[no-untyped-def]
        gradients = grad(partial(reinforce_loss, module))(params, observations, actions, task_advantages, mask)
        if first_order:
            gradients = {name: value.detach() for name, value in gradients.items()}
        return {name: params[name] - learning_rate * gradients[name] for name in params}

    return vmap(step)(row_params, episodes.observations, episodes.actions, episode_advantages, episodes.mask)


def adapt(
    module: GaussianMLPPolicy,
    params: Parameters,
    batches: Sequence[Episodes],
    adaptation: Adaptation,
    first_order: bool = False,
) -> Parameters:
    """The fast weights of every task after one inner step per batch of ``batches``.

    Args:
        module: the policy (its own parameters are not used: ``params`` are).
        params: parameters with a leading task axis.
        batches: the trajectories each step learns from, in order (batch ``j`` was played with
            the parameters after ``j`` steps).
        adaptation: the inner learning rate and the advantage estimation.
        first_order: drop the second-order terms (no gradient through the inner gradient).
    """
    for episodes in batches:
        episode_advantages = advantages(episodes, adaptation.gamma, adaptation.gae_lambda)
        params = adaptation_step(
            module, params, episodes, episode_advantages, adaptation.inner_learning_rate, first_order
        )
    return params
