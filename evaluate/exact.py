"""Exact Bayes-optimal values, derived in closed form or by dynamic programming over beliefs.

Each function returns the expected return of a whole meta-episode under the Bayes-optimal
policy for the task distribution of the registered environment, as a function of the
meta-episode length. The policies that attain them are the ``bayes`` agents of
:mod:`evaluate.references`; :func:`evaluate.bounds.bounds` is the public entry point.
"""

from __future__ import annotations

from nmn_envs.moving_target import HIT_RADIUS, HIT_REWARD, OFFSET_LIMIT

# ------------------------------------------------------------------------------ NMN-Bench1
_R, _A, _H = HIT_RADIUS, OFFSET_LIMIT, HIT_REWARD
_TWO_CANDIDATE_LOSS = 1.5 * _H - 0.5 * _R
"""Loss of a probe miss at distance ``r`` that leaves two candidates, less ``2 r`` (14.5)."""

MOVING_TARGET_PROBE = (_TWO_CANDIDATE_LOSS + _A - _H) / 2.0
"""Distance of the optimal first probe from ``x`` for meta-episodes of two steps or more (7.25)."""

MOVING_TARGET_HEDGE_MARGIN = 1e-3
"""How far inside the hit radius the hedged second action stays (the bound is a supremum)."""


def moving_target_loss(probe: float) -> float:
    """Expected shortfall from ``10 T`` of the three-phase policy probing at ``x + probe``.

    ``L(a) = (459 - 29 a + 2 a^2) / 20`` with the constants of SPEC 3.1; valid for
    ``0 <= a <= 9`` and meta-episodes of ``T >= 2`` steps (see :func:`moving_target_value`).
    """
    if not 0.0 <= probe <= _A - _R:
        raise ValueError(f"probe must lie in [0, {_A - _R}], got {probe!r}")
    constant = 2.0 * _TWO_CANDIDATE_LOSS * (_A - _R) + 2.0 * (_A**2 - _R**2)
    linear = 2.0 * (_H - _TWO_CANDIDATE_LOSS - _A)
    return (constant + linear * probe + 2.0 * probe**2) / (2.0 * _A)


def moving_target_value(max_episode_steps: int) -> float:
    r"""Bayes-optimal expected return of NMN-Bench1 over a meta-episode of ``T`` steps.

    Derivation, with the constants of SPEC 3.1: offset ``alpha ~ U[-A, A]`` (``A = 10``),
    hit radius ``R = 1``, hit reward ``H = 10``, miss reward ``-|x + alpha - e|``.

    The offset does not depend on ``x``, so an action is a guess ``d = e - x`` of ``alpha``.
    A hit keeps hitting: it shows ``|alpha - d| < R``, so ``e = x' + d`` hits at every later
    position ``x'``. Every step after the offset is known earns ``H``; a policy is scored by
    its expected loss against ``H T``.

    1. Probe ``d = a`` (``a >= 0`` by symmetry). ``u = alpha - a`` is uniform on
       ``[-A - a, A - a]`` (density ``1/2A``). If ``|u| < R`` it is a hit: loss 0.
    2. A miss shows ``r = |u| >= R``: ``alpha`` is ``a - r`` or ``a + r``.

       * Both lie in ``[-A, A]`` when ``r <= A - a``; they are equally likely. No action hits
         both (they are ``2r >= 2R`` apart); the best second action hits one and stays just
         inside the hit radius towards the other, ``e = x + (a - r) + R^-``: a hit with
         probability 1/2, else a miss of ``2r - R`` that identifies ``alpha``. (An action that
         hits neither loses more now and identifies ``alpha`` all the same.) Loss:
         ``(H + r) + (H + 2r - R)/2 = B + 2r`` with ``B = 1.5 H - R/2 = 14.5``.
       * Otherwise only ``a - r`` is possible: loss ``H + r``, and ``alpha`` is known.

    3. Integrating, for ``0 <= a <= A - R``:

       ``2A L(a) = 2 \int_R^{A-a} (B + 2r) dr + \int_{A-a}^{A+a} (H + r) dr``
       ``= 2B(A - R) + 2(A^2 - R^2) + 2(H - B - A) a + 2 a^2 = 459 - 29 a + 2 a^2``,

       minimised at ``a* = (B + A - H)/2 = 7.25`` with ``L(a*) = 17.69375``. (A probe with
       ``a > A - R`` wastes part of its hit interval outside the support and does worse.)

    So ``V(T) = 10 T - 17.69375`` for ``T >= 2``. With ``T = 1`` nothing learnt can be used:
    the best guess is ``d = 0``, worth ``(2RH - (A^2 - R^2)) / 2A = (20 - 99)/20 = -3.95``.
    All actions stay in ``[-20, 20]`` (``|x| <= 5``, ``|d| <= A + R``). The hedged action is a
    supremum (``R^-``): the reference agent stays ``MOVING_TARGET_HEDGE_MARGIN`` inside the
    radius, which costs ``0.0875`` times the margin in expectation.

    Raises:
        ValueError: unless ``max_episode_steps`` is a positive integer.
    """
    if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) or max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
    if max_episode_steps == 1:
        return (2.0 * _R * _H - (_A**2 - _R**2)) / (2.0 * _A)
    return _H * max_episode_steps - moving_target_loss(MOVING_TARGET_PROBE)
