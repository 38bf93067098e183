"""MAML's outer loop: a TRPO step on the post-update trajectories of a batch of tasks.

After pytorch-maml-rl (and the MAML paper): for each task of a meta-batch, the policy's initial
parameters ``theta`` are adapted on the task's pre-update trajectories (:func:`policies.maml.adapt`,
batched over tasks, differentiable in ``theta``); the outer loss is the importance-weighted
policy-gradient surrogate of the adapted policies on the post-update trajectories. TRPO
(Schulman et al. 2015) takes the step: the natural gradient by conjugate gradient on
Hessian-vector products of the mean KL divergence between the adapted policies before and after
the step (through the adaptation: second-order MAML), scaled to the trust region ``max_kl``,
then a backtracking line search that keeps a step only when it lowers the loss within the region.

The hyperparameters live in ``policies/hyperparams/maml/maml.yml`` (:func:`load_maml_hyperparams`),
each with its source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch as th
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError
from torch.func import functional_call, vmap
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from policies.config import first_problem, read_yaml
from policies.maml import Adaptation, Episodes, GaussianMLPPolicy, Parameters, adapt, advantages, expand

MAML_HYPERPARAMS_FILE = Path(__file__).parent / "hyperparams" / "maml" / "maml.yml"


class MAMLHyperparams(BaseModel):
    """The recipe of a MAML run: the policy, the inner loop and the TRPO outer loop."""

    model_config = ConfigDict(extra="forbid")

    hidden_sizes: list[PositiveInt] = Field(min_length=1, max_length=8)
    init_std: float = Field(gt=0.0)
    min_std: float = Field(gt=0.0)
    gamma: float = Field(gt=0.0, le=1.0)
    gae_lambda: float = Field(ge=0.0, le=1.0)
    first_order: bool
    fast_batch_size: PositiveInt
    inner_steps: int = Field(ge=1, le=10)
    inner_learning_rate: float = Field(gt=0.0, allow_inf_nan=False)
    num_batches: PositiveInt
    meta_batch_size: PositiveInt
    max_kl: float = Field(gt=0.0)
    cg_iters: PositiveInt
    cg_damping: float = Field(ge=0.0)
    ls_max_steps: PositiveInt
    ls_backtrack_ratio: float = Field(gt=0.0, lt=1.0)

    def adaptation(self) -> Adaptation:
        """How the trained policy adapts (what its safe form records)."""
        return Adaptation(
            inner_learning_rate=self.inner_learning_rate,
            inner_steps=self.inner_steps,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
        )

    def policy_kwargs(self) -> dict[str, Any]:
        """The kwargs of :class:`~policies.maml.GaussianMLPPolicy`."""
        return {"hidden_sizes": self.hidden_sizes, "init_std": self.init_std, "min_std": self.min_std}


def load_maml_hyperparams(env_id: str, path: str | Path | None = None) -> MAMLHyperparams:
    """The MAML recipe of ``env_id`` (its entry, else ``default``) in ``path`` (default: the shipped file).

    Raises:
        ValueError: naming the file and the first problem.
    """
    path = Path(path) if path is not None else MAML_HYPERPARAMS_FILE
    entries = read_yaml(path, "MAML hyperparameter file")
    if not isinstance(entries, dict) or not isinstance(entries.get(env_id, entries.get("default")), dict):
        raise ValueError(f"{path}: expected a mapping with an entry {env_id!r} or 'default'")
    try:
        return MAMLHyperparams.model_validate(entries.get(env_id, entries.get("default")))
    except ValidationError as error:
        raise ValueError(f"{path}: {first_problem(error)}") from None


@dataclass(frozen=True)
class MetaBatch:
    """The trajectories of one outer update.

    Attributes:
        train: per inner step, the trajectories it learns from (played with the parameters after
            the steps before it).
        valid: the post-update trajectories (played with the adapted parameters).
    """

    train: Sequence[Episodes]
    valid: Episodes


def _distribution(module: GaussianMLPPolicy, task_params: Parameters, observations: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    return vmap(partial(functional_call, module))(task_params, (observations,))


def _episode_mean(values: th.Tensor, mask: th.Tensor) -> th.Tensor:
    """Mean over each episode's steps, then over episodes and tasks."""
    return ((values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


class Surrogate:
    """The outer loss and KL divergence of a meta-batch as functions of the initial parameters.

    The first evaluation (``old`` unset) fixes the adapted policies' action distributions that
    the importance ratios and the KL divergence are taken against.
    """

    def __init__(self, module: GaussianMLPPolicy, batch: MetaBatch, hyperparams: MAMLHyperparams) -> None:
        self.module, self.batch, self.hyperparams = module, batch, hyperparams
        self.adaptation = hyperparams.adaptation()
        self.valid_advantages = advantages(batch.valid, hyperparams.gamma, hyperparams.gae_lambda)
        self.old: tuple[th.Tensor, th.Tensor] | None = None

    def __call__(self, first_order: bool) -> tuple[th.Tensor, th.Tensor]:
        """``(loss, kl)`` at the module's current parameters."""
        params = dict(self.module.named_parameters())
        tasks = self.batch.valid.rewards.shape[0]
        adapted = adapt(self.module, expand(params, tasks), self.batch.train, self.adaptation, first_order)
        valid = self.batch.valid
        mean, std = _distribution(self.module, adapted, valid.observations)
        if self.old is None:
            self.old = mean.detach(), std.detach()
        old_mean, old_std = self.old
        new, old = th.distributions.Normal(mean, std), th.distributions.Normal(old_mean, old_std)
        ratio = th.exp(new.log_prob(valid.actions).sum(-1) - old.log_prob(valid.actions).sum(-1))
        loss = -_episode_mean(ratio * self.valid_advantages, valid.mask)
        kl = _episode_mean(th.distributions.kl_divergence(new, old).sum(-1), valid.mask)
        return loss, kl


def conjugate_gradient(product: Callable[[th.Tensor], th.Tensor], target: th.Tensor, iterations: int) -> th.Tensor:
    """Approximately solve ``A x = target`` for a symmetric positive ``A`` given by ``product``."""
    solution = th.zeros_like(target)
    residual, direction = target.clone(), target.clone()
    residual_norm = residual @ residual
    for _ in range(iterations):
        image = product(direction)
        step = residual_norm / (direction @ image)
        solution += step * direction
        residual -= step * image
        new_norm = residual @ residual
        if new_norm < 1e-10:
            break
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return solution


def trpo_step(module: GaussianMLPPolicy, batch: MetaBatch, hyperparams: MAMLHyperparams) -> dict[str, float]:
    """One outer update of ``module``'s parameters on ``batch``; returns what it logs.

    Returns:
        ``loss_before``, ``loss_after`` and ``kl_after`` (the surrogate at the accepted step, or
        at the old parameters when the line search finds none) and ``step_size``.
    """
    surrogate = Surrogate(module, batch, hyperparams)
    parameters = list(module.parameters())
    loss, kl = surrogate(first_order=hyperparams.first_order)
    gradient = parameters_to_vector(th.autograd.grad(loss, parameters, retain_graph=True))
    kl_gradient = parameters_to_vector(th.autograd.grad(kl, parameters, create_graph=True))

    def fisher_product(vector: th.Tensor) -> th.Tensor:
        product = th.autograd.grad(kl_gradient @ vector, parameters, retain_graph=True)
        return parameters_to_vector(product) + hyperparams.cg_damping * vector

    direction = conjugate_gradient(fisher_product, gradient, hyperparams.cg_iters)
    curvature = 0.5 * direction @ fisher_product(direction)
    step = direction / th.sqrt(curvature / hyperparams.max_kl)
    old_params = parameters_to_vector(parameters).detach()
    logs = {"loss_before": loss.item(), "loss_after": loss.item(), "kl_after": 0.0, "step_size": 0.0}
    step_size = 1.0
    with th.no_grad():
        for _ in range(hyperparams.ls_max_steps):
            vector_to_parameters(old_params - step_size * step, parameters)
            new_loss, new_kl = surrogate(first_order=True)
            if new_loss.item() < loss.item() and new_kl.item() < hyperparams.max_kl:
                logs.update(loss_after=new_loss.item(), kl_after=new_kl.item(), step_size=step_size)
                return logs
            step_size *= hyperparams.ls_backtrack_ratio
        vector_to_parameters(old_params, parameters)
    return logs
