"""Exact Bayes-optimal values, derived in closed form or by dynamic programming over beliefs.

Each function returns the expected return of a whole meta-episode under the Bayes-optimal
policy for the task distribution of the registered environment, as a function of the
meta-episode length. The policies that attain them are the ``bayes`` agents of
:mod:`evaluate.references`; :func:`evaluate.bounds.bounds` is the public entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from nmn_envs.envs.classic.bandit import PAIRED_PROBABILITIES
from nmn_envs.envs.classic.harlow import REWARD
from nmn_envs.envs.nmn.moving_target import HIT_RADIUS, HIT_REWARD, MAX_MISS_COST, OFFSET_LIMIT
from nmn_envs.envs.classic.two_step import COMMON_PROBABILITY, REWARD_PROBABILITY, SWAP_PROBABILITY

# ------------------------------------------------------------------------------ NMN-Bench1
_R, _A, _H, _C = HIT_RADIUS, OFFSET_LIMIT, HIT_REWARD, MAX_MISS_COST
_TWO_CANDIDATE_LOSS = 1.5 * _H - 0.5 * _R
"""Loss of a probe miss at distance ``r`` that leaves two candidates, less ``2 r`` (14.5)."""

MOVING_TARGET_PROBE = (_TWO_CANDIDATE_LOSS + _A - _H) / 2.0
"""Distance of the optimal first probe from ``x`` for meta-episodes of two steps or more (7.25)."""

MOVING_TARGET_HEDGE_MARGIN = 1e-3
"""How far inside the hit radius the hedged second action stays (the bound is a supremum)."""

_PROBE_GRID = 2001
"""Points of the grid the probe is first searched on, on each smooth piece of the loss."""


def moving_target_loss(probe: float, offset_limit: float = OFFSET_LIMIT, steps: int = 2) -> float:
    """Expected shortfall from ``10 T`` of the three-phase policy probing at ``x + probe``.

    With the default offsets ``U[-10, 10]``: ``L(a) = (459 - 29 a + 2 a^2) / 20`` for every
    ``T >= 2``. For ``offset_limit = A`` the same policy is integrated piece by piece (see
    :func:`moving_target_value`); ``steps`` (``T >= 2``) matters only where the miss cap binds.

    Raises:
        ValueError: for a probe outside ``[0, A - 1]``, or ``A <= 1`` (nothing to probe).
    """
    if not offset_limit > _R:
        raise ValueError(f"a probe needs offset_limit > {_R}, got {offset_limit!r}")
    if not 0.0 <= probe <= offset_limit - _R:
        raise ValueError(f"probe must lie in [0, {offset_limit - _R}], got {probe!r}")
    if steps < 2:
        raise ValueError(f"the three-phase policy needs steps >= 2, got {steps!r}")
    limit = offset_limit
    # two candidates (miss r in [R, A - a]): the probe's miss, then the hedge (a hit or a miss
    # of 2r - R); each capped at C, which leaves the hedge's outcome as telling as before
    both = _linear_integral(
        lambda r: 2.0 * (_H + min(r, _C) + 0.5 * (_H + min(2.0 * r - _R, _C))),
        _R,
        max(limit - probe, _R),
        ((_C + _R) / 2.0, _C),
    )
    # one candidate (the other lies outside [-A, A]): the probe's miss only, below the cap
    one = _linear_integral(lambda r: _H + r, limit - probe, min(limit + probe, _C), ())
    # a miss of C or more (offsets below probe - C) only says so: search that interval again
    width = max(limit + probe - _C, 0.0)
    capped = width * (_H + _C + _moving_target_search(width / 2.0, steps - 1)[1]) if width else 0.0
    return (both + one + capped) / (2.0 * limit)


def _linear_integral(
    function: Callable[[float], float], low: float, high: float, breaks: tuple[float, ...]
) -> float:
    """The integral over ``[low, high]`` of a function linear between ``breaks`` (trapezoids: exact)."""
    if high <= low:
        return 0.0
    points = sorted({low, high, *(point for point in breaks if low < point < high)})
    return sum(
        0.5 * (function(left) + function(right)) * (right - left)
        for left, right in zip(points, points[1:])
    )


def _one_step_loss(offset_limit: float) -> float:
    """Shortfall from ``H`` of the best single guess ``d = 0`` under ``U[-A, A]`` (0 for ``A <= R``)."""
    if offset_limit <= _R:
        return 0.0
    return _H - (2.0 * _R * _H - (offset_limit**2 - _R**2)) / (2.0 * offset_limit)


@cache
def _moving_target_search(offset_limit: float, steps: int) -> tuple[float, float]:
    """``(probe, loss)`` of the Bayes-optimal search for an offset uniform on ``[-A, A]`` in ``steps``.

    ``steps`` counts the steps left (all of them alike from three on). With one step, or when
    ``A <= R`` (a guess at the centre always hits), the probe is 0.
    """
    steps = min(steps, 3)
    if steps == 1 or offset_limit <= _R:
        return 0.0, _one_step_loss(offset_limit)
    span = offset_limit - _R
    if offset_limit <= (_C + _R) / 2.0:
        # no miss reaches the cap: L is the quadratic of moving_target_value, minimised in closed form
        probe = min(max((_TWO_CANDIDATE_LOSS + offset_limit - _H) / 2.0, 0.0), span)
        return probe, moving_target_loss(probe, offset_limit, steps)
    # only offsets wider than (C + R) / 2 (no registered env's) need SciPy's search, imported
    # here: its import takes a second of every process that loads this module
    from scipy import optimize

    kinks = sorted({0.0, span, *(p for p in (_C - offset_limit, offset_limit - (_C + _R) / 2) if 0 < p < span)})
    best = (np.inf, 0.0)
    for left, right in zip(kinks, kinks[1:]):
        grid = np.linspace(left, right, _PROBE_GRID)
        losses = [moving_target_loss(float(a), offset_limit, steps) for a in grid]
        index = int(np.argmin(losses))
        low, high = grid[max(index - 1, 0)], grid[min(index + 1, grid.size - 1)]
        refined = optimize.minimize_scalar(
            lambda a: moving_target_loss(float(a), offset_limit, steps),
            bounds=(low, high),
            method="bounded",
            options={"xatol": 1e-12},
        )
        for probe, loss in ((float(refined.x), float(refined.fun)), (float(grid[index]), losses[index])):
            best = min(best, (loss, probe))
    return best[1], best[0]


def moving_target_probe(max_episode_steps: int, offset_limit: float = OFFSET_LIMIT) -> float:
    """Distance from ``x`` of the Bayes-optimal first probe (7.25 for the default offsets, 0 for ``T = 1``)."""
    _check_steps(max_episode_steps)
    return _moving_target_search(float(offset_limit), max_episode_steps)[0]


def moving_target_value(max_episode_steps: int, offset_limit: float = OFFSET_LIMIT) -> float:
    r"""Bayes-optimal expected return of NMN-Bench1 over a meta-episode of ``T`` steps.

    Derivation, with the constants of SPEC 3.1: offset ``alpha ~ U[-A, A]`` (``A = 10``, or the
    env's ``offset_limit``), hit radius ``R = 1``, hit reward ``H = 10``, miss reward
    ``-min(|x + alpha - e|, C)`` with the cap ``C = 20``.

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
    All actions stay in ``[-20, 20]`` (``|x| <= 5``, ``|d| <= A + R``). For ``A = 10`` the cap
    never binds (the probe misses by at most ``A + a* = 17.25``, the hedged action by at most
    ``2(A - a*) - R = 4.5``), and a policy that would profit from it must miss by more than 20,
    which reveals only that the miss exceeds 20 and costs 20 > L(a*) on its own; the
    brute-force test of the capped env confirms the value.

    Wider offsets (``offset_limit`` up to 15, every target still within reach and every guess
    ``|d| <= A`` playable at any ``x``). The cap now binds where ``A + a > C``: a probe miss of
    ``C`` or more shows only that ``alpha < a - C``, so ``alpha`` is uniform on an interval of
    width ``w = A + a - C`` and the search starts again there, one step later, with loss
    ``H + C + L*_{T-1}(w / 2)`` (the same problem on a narrower interval, where no miss reaches
    the cap). A hedge whose miss ``2r - R`` exceeds ``C`` costs ``C``, and its outcome still
    tells the two candidates apart. :func:`moving_target_loss` integrates these pieces (each
    linear in ``r``, so exactly) and :func:`moving_target_probe` minimises over ``a`` on each
    smooth piece (a grid, then a bounded scalar search to ``1e-12``). The value depends on
    ``T`` only through ``T = 1``, ``T = 2`` (the search after a capped miss has one step left)
    and ``T >= 3``. For ``A = 15``: ``a* = 7.5`` and ``V(T) = 10 T - 22.55`` (``T >= 3``; the
    loss is ``22.55 + (a - 7.5)^2 / 15`` near the optimum).

    The hedged action is a supremum (``R^-``): the reference agent stays
    ``MOVING_TARGET_HEDGE_MARGIN`` inside the radius, which costs ``0.0875`` times the margin in
    expectation for the default offsets.

    Raises:
        ValueError: unless ``max_episode_steps`` is a positive integer.
    """
    _check_steps(max_episode_steps)
    return _H * max_episode_steps - _moving_target_search(float(offset_limit), max_episode_steps)[1]


def moving_target_memoryless_value(max_episode_steps: int, offset_limit: float = OFFSET_LIMIT) -> float:
    """Expected return of NMN-Bench1's best feedback-free policy ``e = x`` over ``T`` steps.

    Every step is the one-step problem of :func:`moving_target_value`: the guess ``d = 0``
    hits with probability ``2R / 2A`` (and then at every step, ``x`` redrawn or not),
    else misses by ``|alpha|`` (under the cap of 20: ``|alpha| <= A <= 15``), so
    ``V(T) = T (2RH - (A^2 - R^2)) / 2A`` (``-3.95 T`` for ``A = 10``).

    Raises:
        ValueError: unless ``max_episode_steps`` is a positive integer.
    """
    _check_steps(max_episode_steps)
    return max_episode_steps * moving_target_value(1, offset_limit)


def _check_steps(max_episode_steps: int) -> None:
    if (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, int)
        or max_episode_steps < 1
    ):
        raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")


# ------------------------------------------------------------------------------ NMN-Bandit
@cache
def independent_bandit_policy(horizon: int) -> tuple[float, tuple[np.ndarray, ...]]:
    r"""Bayes-optimal value and policy of the independent two-armed Bernoulli bandit.

    Prior ``p1, p2 ~ U[0, 1]`` independently, so after ``s_i`` successes and ``f_i`` failures
    of arm ``i`` its posterior is ``Beta(s_i + 1, f_i + 1)`` with mean
    ``mu_i = (s_i + 1) / (s_i + f_i + 2)``, and ``(s_0, f_0, s_1, f_1)`` is a sufficient
    statistic. Backward induction over it, with ``t = s_0 + f_0 + s_1 + f_1`` pulls made:

    ``V_T = 0``, ``V_t(s, f) = max_i [ mu_i (1 + V_{t+1}(s_i + 1)) + (1 - mu_i) V_{t+1}(f_i + 1) ]``.

    Layer ``t`` is an array over ``(s_0, f_0, s_1)`` (``f_1`` follows from ``t``); the whole
    table has about ``T^4 / 4`` entries (25 million for ``T = 100``; a second or two).

    Returns:
        ``(V_0, choices)`` where ``choices[t][s0, f0, s1]`` is ``True`` where arm 1 is the
        optimal pull (ties go to arm 0).
    """
    following = np.zeros((horizon + 1,) * 3)
    choices: list[np.ndarray] = [np.zeros(0, dtype=bool)] * horizon
    for made in range(horizon - 1, -1, -1):
        s0, f0, s1 = np.indices((made + 1,) * 3)
        f1 = np.maximum(made - s0 - f0 - s1, 0)
        mean0 = (s0 + 1) / (s0 + f0 + 2)
        mean1 = (s1 + 1) / (s1 + f1 + 2)
        size = made + 1
        stay = following[:size, :size, :size]  # a failure of arm 1 only raises f1
        pull0 = (
            mean0 * (1 + following[1 : size + 1, :size, :size])
            + (1 - mean0) * following[:size, 1 : size + 1, :size]
        )
        pull1 = mean1 * (1 + following[:size, :size, 1 : size + 1]) + (1 - mean1) * stay
        choices[made] = pull1 > pull0
        following = np.maximum(pull0, pull1)
    return float(following[0, 0, 0]), tuple(choices)


def dependent_bandit_mean(evidence: np.ndarray, pulls: np.ndarray, variant: str) -> np.ndarray:
    """Posterior mean of ``p1`` in a dependent bandit after ``evidence`` of ``pulls`` outcomes favoured it.

    An outcome favours ``p1`` when arm 0 pays or arm 1 does not (each has probability ``p1``).
    ``dependent``: ``p1 ~ U[0, 1]``, posterior ``Beta(e + 1, n - e + 1)``. The paired sets
    (``easy``/``medium``/``hard``): ``p1 = q`` or ``1 - q`` with odds ``(q / (1 - q))^(2e - n)``.
    """
    if variant == "dependent":
        return (evidence + 1.0) / (pulls + 2.0)
    q = PAIRED_PROBABILITIES[variant]
    high = 1.0 / (1.0 + ((1.0 - q) / q) ** (2.0 * evidence - pulls))
    return high * q + (1.0 - high) * (1.0 - q)


def dependent_bandit_value(horizon: int, variant: str) -> float:
    r"""Bayes-optimal value of a dependent two-armed bandit (``p2 = 1 - p1``).

    Whichever arm is pulled, the outcome favours ``p1`` with probability ``p1`` (arm 0 pays
    with ``p1``; arm 1 fails with ``1 - p2 = p1``). So the belief about ``p1`` evolves the same
    way whatever the agent does: the choice changes the reward now and nothing later, and the
    myopic rule (pull arm 0 iff the posterior mean ``m`` of ``p1`` exceeds 1/2) is optimal.
    With ``e`` favouring outcomes of ``t`` pulls:

    ``V_T = 0``, ``V_t(e) = max(m, 1 - m) + m V_{t+1}(e + 1) + (1 - m) V_{t+1}(e)``.
    """
    following = np.zeros(horizon + 1)
    for made in range(horizon - 1, -1, -1):
        evidence = np.arange(made + 1, dtype=np.float64)
        mean = dependent_bandit_mean(evidence, np.float64(made), variant)
        following = (
            np.maximum(mean, 1 - mean)
            + mean * following[1 : made + 2]
            + (1 - mean) * following[: made + 1]
        )
    return float(following[0])


def bandit_value(horizon: int, variant: str = "independent") -> float:
    """Bayes-optimal expected number of rewards in ``horizon`` pulls of the ``variant`` bandit."""
    if variant == "independent":
        return independent_bandit_policy(horizon)[0]
    if variant == "dependent" or variant in PAIRED_PROBABILITIES:
        return dependent_bandit_value(horizon, variant)
    raise ValueError(f"unknown bandit variant {variant!r}")


# ------------------------------------------------------------------------------ NMN-TwoStep
@cache
def two_step_value(
    trials: int,
    common: float = COMMON_PROBABILITY,
    reward: float = REWARD_PROBABILITY,
    swap: float = SWAP_PROBABILITY,
) -> float:
    r"""Bayes-optimal expected reward of ``trials`` trials of the two-step task.

    The hidden state is which second-stage state is good, ``g`` in {S2, S3}; the belief is
    ``beta = (P(g = S2), P(g = S3))``. Landing in ``s`` and getting ``r`` has likelihood
    ``reward`` if (``s`` is S2) == (``r`` = 1) under ``g = S2``, and ``1 - reward`` otherwise
    (mirror image under ``g = S3``). For either landing state, the two outcomes multiply the
    belief by ``D_up = diag(reward, 1 - reward)`` or ``D_down = diag(1 - reward, reward)``,
    with the same probabilities (the belief is a martingale with the same two possible values).
    So the first-stage action changes the chance of reward now and **not** what is learnt: the
    myopic rule (the action whose common state is more likely good) is optimal.

    Exact value by value iteration over the belief (piecewise-linear, convex): with the swap
    matrix ``S = [[1 - swap, swap], [swap, 1 - swap]]`` applied between trials and the expected
    reward vectors ``R_0 = (c r + (1-c)(1-r), c(1-r) + (1-c) r)``, ``R_1`` its mirror,

    ``V_k(beta) = max_a R_a . beta + V_{k-1}(S D_up beta) + V_{k-1}(S D_down beta)``

    for unnormalised beliefs. ``V_k`` is the maximum of linear functions ``alpha . beta``; its
    vectors are ``R_a + D_up S^T alpha + D_down S^T alpha'``, pruned to the upper envelope.
    The value is ``V_K((1/2, 1/2))``: the first good state is a fair coin. Lines within
    ``ENVELOPE_TOLERANCE`` of the envelope are pruned, which bounds the error (see there).
    """
    chance = np.array(
        [
            common * reward + (1 - common) * (1 - reward),
            common * (1 - reward) + (1 - common) * reward,
        ]
    )
    immediate = np.stack([chance, chance[::-1]])
    mixing = np.array([[1 - swap, swap], [swap, 1 - swap]])
    up, down = np.array([reward, 1 - reward]), np.array([1 - reward, reward])
    vectors = np.zeros((1, 2))
    for _ in range(trials):
        carried = vectors @ mixing  # rows: S^T alpha
        combined = (
            immediate[:, None, None, :]
            + (up * carried)[None, :, None, :]
            + (down * carried)[None, None, :, :]
        ).reshape(-1, 2)
        vectors = upper_envelope(combined)
    return float(np.max(vectors @ np.array([0.5, 0.5])))


ENVELOPE_TOLERANCE = 1e-6
"""A line of the value function that is never more than this above the others is dropped.

Dropping lines only lowers the value, and the beliefs of a trial's two outcomes carry total
weight 1, so each trial adds at most this much error: the two-step value is exact to within
``trials * ENVELOPE_TOLERANCE`` below (1e-4 for 100 trials), and computed in about a second."""


def upper_envelope(vectors: np.ndarray, tolerance: float = ENVELOPE_TOLERANCE) -> np.ndarray:
    """The vectors ``alpha`` on the upper envelope of ``alpha . (b, 1 - b)`` over ``b`` in ``[0, 1]``.

    Each vector is the line ``c + m b`` with ``c = alpha_1`` and ``m = alpha_0 - alpha_1``.
    The upper hull is built by increasing slope (a monotone chain), cut to ``[0, 1]``, and
    lines that top their neighbours by at most ``tolerance`` are dropped.
    """
    slopes = vectors[:, 0] - vectors[:, 1]
    intercepts = vectors[:, 1]
    order = np.lexsort((intercepts, slopes))
    chain: list[tuple[float, float]] = []
    for line in zip(slopes[order].tolist(), intercepts[order].tolist()):
        if chain and line[0] == chain[-1][0]:
            chain.pop()  # the same slope: the later line has the higher intercept
        while len(chain) >= 2 and _crossing(chain[-2], line) <= _crossing(chain[-2], chain[-1]):
            chain.pop()  # the middle line is never strictly on top
        chain.append(line)
    while len(chain) >= 2 and _crossing(chain[0], chain[1]) <= 0.0:
        chain.pop(0)
    while len(chain) >= 2 and _crossing(chain[-2], chain[-1]) >= 1.0:
        chain.pop()
    kept = [chain[0]]
    for index in range(1, len(chain)):
        line = chain[index]
        following = chain[index + 1] if index + 1 < len(chain) else None
        point = 1.0 if following is None else min(max(_crossing(kept[-1], following), 0.0), 1.0)
        others = max(_at(kept[-1], point), _at(following, point) if following else -np.inf)
        if _at(line, point) - others > tolerance:
            kept.append(line)
    return np.array([(intercept + slope, intercept) for slope, intercept in kept])


def _at(line: tuple[float, float], point: float) -> float:
    return line[1] + line[0] * point


def _crossing(first: tuple[float, float], second: tuple[float, float]) -> float:
    """The belief where two lines ``c + m b`` of different slopes meet."""
    return (first[1] - second[1]) / (second[0] - first[0])


# ------------------------------------------------------------------------------ NMN-Harlow
def harlow_value(trials: int) -> float:
    """Bayes-optimal expected return of ``trials`` Harlow trials: ``5 (trials - 1)``.

    The two objects are new and either is rewarded with probability 1/2, and the rewarded
    side follows a schedule independent of the objects: the first choice wins ``+5`` or
    ``-5`` with equal chance (expected 0) whatever the agent does. Its reward tells which
    object is rewarded (the chosen one if ``+5``, else the other), so every later trial is a
    sure ``+5``.
    """
    return REWARD * (trials - 1)
