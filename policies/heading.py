"""A Gaussian on the circle, for actions that are headings.

NMN-Bench2/3 play a ``Box(-1, 1, (1,))`` action as the heading ``theta = pi * a``: ``a`` and
``a + 2`` are one heading, and due west is ``a = 1`` and ``a = -1`` at once. SB3's
:class:`~stable_baselines3.common.distributions.DiagGaussianDistribution` lives on the line:
its mean must jump from ``1`` to ``-1`` somewhere as the wanted heading turns through west,
and a network that outputs it continuously heads east on the way. A mean taken as the angle of
an output vector has no jump, but a Gaussian on the line around it does: the actions sampled
just across due west become improbable once the mean crosses it, and PPO's updates stop on the
jump in the log-probability.

:class:`WrappedGaussianDistribution` is the Gaussian wrapped around the circle of length 2:
samples are brought back into ``[-1, 1)``, and the density of ``a`` is the Gaussian's summed over
``a + 2k`` for every whole ``k``, so both the mean and the density are continuous all round.
"""

from __future__ import annotations

import torch as th
from stable_baselines3.common.distributions import DiagGaussianDistribution

CIRCLE = 2.0
"""Length of the circle of actions: ``a`` and ``a + 2`` are one heading."""
MAX_LOG_STD = 1.0
"""The widest Gaussian wrapped (std 2.7, as :data:`policies.action_head.LOG_STD_BOUNDS` allows the
source's head): wrapped, it is uniform on the circle within 1e-15 already, and a wider one is
taken at this width, so that :data:`WRAPS` terms hold its density."""
WRAPS = 6
"""The density sums ``a + 2k`` for ``|k| <= WRAPS``: for a mean in ``[-1, 1]`` the terms left
out lie more than 11 units from it, 4 standard deviations of the widest Gaussian wrapped
(:data:`MAX_LOG_STD`), and hold less than 1e-4 of its mass."""


def wrap(actions: th.Tensor) -> th.Tensor:
    """``actions`` brought into ``[-1, 1)`` by whole turns of :data:`CIRCLE` (a value a hair below
    a turn may round to ``1``, the same heading as ``-1`` and inside the action box)."""
    return th.remainder(actions + 1.0, CIRCLE) - 1.0


def heading_mean(east: th.Tensor, north: th.Tensor) -> th.Tensor:
    """The mean heading of the actor's outputs ``(east, north)``: the angle of the vector
    ``(1 + east, north)`` over ``pi``, so that outputs near 0 (a fresh network's) head east."""
    return th.atan2(north, 1.0 + east) / th.pi


class WrappedGaussianDistribution(DiagGaussianDistribution):
    """Diagonal Gaussian wrapped around the circle ``[-1, 1)`` of each action dimension.

    The parameters are those of :class:`DiagGaussianDistribution` (a mean, which may lie
    anywhere, and a log-std, taken at most :data:`MAX_LOG_STD`); samples and the mode are wrapped
    into ``[-1, 1)``; the log-probability is that of the wrapped density (see the module
    docstring). The entropy has no closed form: :meth:`entropy` returns ``None``, and SB3's PPO
    then estimates it from the log-probabilities of the actions taken.
    """

    def proba_distribution(self, mean_actions: th.Tensor, log_std: th.Tensor) -> WrappedGaussianDistribution:
        return super().proba_distribution(mean_actions, th.clamp(log_std, max=MAX_LOG_STD))

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        turns = CIRCLE * th.arange(-WRAPS, WRAPS + 1, dtype=actions.dtype, device=actions.device)
        unwrapped = wrap(actions).unsqueeze(-1) + turns
        per_turn = self.distribution.log_prob(unwrapped.movedim(-1, 0))
        return th.logsumexp(per_turn, dim=0).sum(dim=-1)

    def entropy(self) -> None:  # type: ignore[override]
        return None

    def sample(self) -> th.Tensor:
        return wrap(self.distribution.rsample())

    def mode(self) -> th.Tensor:
        return wrap(self.distribution.mean)
