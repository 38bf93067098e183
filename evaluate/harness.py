"""``evaluate(agent, env_id, ...)``: play an agent on the evaluation task set and score it.

The agent, each baseline and the reference agents (``random``, ``oracle``, ``bayes``,
``memoryless`` where the environment has them) play the same first ``n_tasks`` tasks of the
environment's evaluation set, with the same seeds, in batch through the native vector env.
The result (:class:`evaluate.schema.EvaluationResult`) holds every per-task return, the
adaptation curves, the bounds, and for each agent the mean and IQM with 95% CIs, the normalised score
``(agent - random) / (bayes - random)``, the adaptation score
``(agent - memoryless) / (bayes - memoryless)`` (what an agent earns beyond the best policy
that ignores all feedback, see :func:`evaluate.schema.adaptation_anchors`), the regret
``bayes - agent`` and the probability of improvement over each baseline. Where the environment
has no bayes value (NMN-Navigation2D, the HalfCheetah tasks) the oracle told the task is
played as well and its mean return takes the bayes value's place as the 1 of both scores
(:func:`make_normaliser`); there is no regret then.

With ``num_agents=N > 1`` every agent plays each task in a team of ``N`` copies of itself who
see each other (:mod:`nmn_envs.multiagent`); returns are the team's mean per agent. The result
adds the team bound and the social gain bound (:mod:`evaluate.team_bounds`), the team reference
agent where one exists, and for every agent its score normalised against the team bound and its
measured social gain: the mean over tasks of its per-agent team return minus the return of the
``alone`` agent (by default the single-agent ``bayes`` reference) playing the same task by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from evaluate import catalogues
from evaluate.agents import PredictPolicy, as_policy
from evaluate.policy import Policy
from evaluate.bounds import exact_bounds, missing_bounds, reference_bound
from evaluate.cache import ResultCache, cache_dir, estimate_interval, weights_hash
from evaluate.maml_agent import MAMLAgent
from evaluate.observation_statistics import VecNormalizeChoice
from evaluate.references import REFERENCE_NAMES, reference
from evaluate.rollout import DEFAULT_BATCH_SIZE, Rollout, play
from evaluate.schema import (
    ActionSelection,
    AgentRole,
    AgentScore,
    Bound,
    EvaluationResult,
    ShiftInfo,
    adaptation_anchors,
    ceiling,
    normalised_anchors,
)
from evaluate.shifts import get_shift, shifted_kwargs
from evaluate.stats import (
    DEFAULT_REPS,
    improvement_interval,
    iqm_interval,
    mean_interval,
)
from evaluate.task_sets import (
    SET_SIZE,
    check_env_id,
    check_env_kwargs,
    evaluation_kwargs,
    private_task_set,
    shift_task_set,
    task_set,
)
from evaluate.team_bounds import team_bounds
from evaluate.team_references import TEAM_REFERENCES
from evaluate.trained_references import TrainedReference, bound_description
from nmn_envs.multiagent.team import check_multiagent_id, check_positive
from policies.serialization import environment_spaces

DEFAULT_N_TASKS = SET_SIZE


def package_version() -> str:
    """The installed version of ``nmn-bench``."""
    try:
        return metadata.version("nmn-bench")
    except metadata.PackageNotFoundError:
        from nmn_envs import __version__

        return __version__


def resolve_agent(
    agent: Any,
    env_id: str,
    env_kwargs: dict[str, Any],
    name: str | None = None,
    sample_actions: bool = False,
    action_seed: int = 0,
    vec_normalize: VecNormalizeChoice = None,
    trust_pickle: bool = False,
    num_agents: int = 1,
) -> Policy:
    """A reference name, a model path, or any agent -> a policy that fits ``env_id``'s spaces.

    A string that names a reference agent (:data:`~evaluate.references.REFERENCE_NAMES`) is
    always that agent, whatever files the current folder holds; a model file in the current folder with
    such a name is reached by its path (``./bayes``). A ``zoo:`` name is a shipped model of
    :mod:`training.zoo` (``zoo:nmn``, ``zoo:rnn@seed1``), found through its catalogue
    (:mod:`evaluate.catalogues`), as is a name of any installed catalogue. Any other string is a
    model path.
    ``sample_actions``, ``action_seed``, ``vec_normalize`` and ``trust_pickle`` apply to model
    agents (see :func:`evaluate.agents.as_policy`); a model must fit the spaces of one agent
    of ``num_agents`` who see each other.

    Raises:
        ValueError: for a missing or unloadable file, a zoo name the zoo does not hold, a file that needs unpickling without
            ``trust_pickle``, or a model whose spaces are not those of ``env_id``.
    """
    if isinstance(agent, str) and agent in REFERENCE_NAMES:
        policy = reference(agent, env_id, **env_kwargs)
        if name is not None:
            policy.name = name
        return policy
    if catalogues.catalogue_of(agent) is not None:
        agent, full_name = catalogues.find(agent, env_id)
        name = name or full_name
    elif isinstance(agent, (str, Path)) and not Path(agent).is_file():
        raise ValueError(
            f"agent {str(agent)!r} is neither a reference agent {list(REFERENCE_NAMES)}, "
            f"a catalogued name ({catalogues.named_forms()}) nor an existing model file"
        )
    policy = as_policy(
        agent,
        name=name,
        deterministic=not sample_actions,
        seed=action_seed,
        vec_normalize=vec_normalize,
        trust_pickle=trust_pickle,
    )
    if isinstance(policy, PredictPolicy):
        policy.check_spaces(env_id, *environment_spaces(env_id, env_kwargs, num_agents))
    if isinstance(policy, MAMLAgent):
        policy.check_env(env_id, env_kwargs, num_agents)
    return policy


def episodic_trials(env_id: str, env_kwargs: dict[str, Any]) -> int | None:
    """The trials per meta-episode of a task played in trials (one episode each), else ``None``."""
    env = gym.make(env_id, **env_kwargs)
    try:
        unwrapped = env.unwrapped
        if getattr(getattr(unwrapped, "core", unwrapped), "trial_steps", None) is None:
            return None
        return int(env.get_wrapper_attr("trials_per_task"))
    finally:
        env.close()


def make_normaliser(
    bounds: Sequence[Bound], random: float, memoryless: float | None = None
) -> dict[str, float]:
    """The normaliser of a result with ``bounds``: the random agent's mean return ``random``, the
    ceiling of its scales and the memoryless agent's mean return ``memoryless`` (where the
    environment has that agent).

    The ceiling is the ``bayes`` bound's value where ``bounds`` hold one, else the ``oracle``
    bound's (recorded as ``"oracle"``), else none (see :func:`evaluate.schema.ceiling`).
    """
    values = {"random": float(random)}
    top = ceiling({bound.name: bound.value for bound in bounds})
    if top is not None:
        values[top[0]] = top[1]
    if memoryless is not None:
        values["memoryless"] = float(memoryless)
    return values


def score(
    name: str,
    role: AgentRole,
    rollout: Rollout,
    normaliser: dict[str, float],
    baselines: dict[str, np.ndarray],
    description: str = "",
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    actions: ActionSelection | None = None,
    cache: ResultCache | None = None,
    per_trial: bool = False,
) -> AgentScore:
    """The aggregate statistics of one agent's rollout (``actions``: how a model chose them;
    ``cache``: where intervals computed before are read from; ``per_trial``: add the gain of
    every trial over the first, on a task played in trials)."""
    returns = rollout.returns

    def interval(estimate: Any, *arrays: np.ndarray) -> Any:
        return estimate_interval(cache, estimate, *arrays, reps=reps, seed=seed)

    mean = interval(mean_interval, returns)
    scale, anchors = normalised_anchors(normaliser), adaptation_anchors(normaliser)
    regret = mean.affine(-1.0, normaliser["bayes"]) if "bayes" in normaliser else None
    trials = rollout.trial_rewards
    trial_gains = None
    if per_trial and trials is not None:
        trial_gains = [interval(mean_interval, trials[:, k] - trials[:, 0]) for k in range(1, trials.shape[1])]
    return AgentScore(
        name=name,
        role=role,
        description=description,
        actions=actions,
        returns=returns.tolist(),
        adaptation_curve=rollout.adaptation_curve.tolist(),
        curve_unit=rollout.curve_unit,
        mean=mean,
        iqm=interval(iqm_interval, returns),
        normalised_score=None if scale is None else mean.on_scale(*scale),
        adaptation_score=None if anchors is None else mean.on_scale(*anchors),
        regret=regret,
        probability_of_improvement={
            other: interval(improvement_interval, returns, values)
            for other, values in baselines.items()
            if other != name
        },
        trial_gains=trial_gains,
    )


def evaluate(
    agent: Any,
    env_id: str,
    n_tasks: int = DEFAULT_N_TASKS,
    baselines: Sequence[Any] = (),
    references: Sequence[str] = REFERENCE_NAMES,
    env_kwargs: dict[str, Any] | None = None,
    agent_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    progress: bool = False,
    sample_actions: bool = False,
    action_seed: int = 0,
    vec_normalize: VecNormalizeChoice = None,
    num_agents: int = 1,
    alone: Any = "bayes",
    trust_pickle: bool = False,
    private_seed: int | None = None,
    cache: bool = False,
    shift: str | None = None,
) -> EvaluationResult:
    """Play ``agent`` on the first ``n_tasks`` tasks of ``env_id``'s evaluation set and score it.

    Args:
        agent: a reference name, a path to a saved model, an SB3 model, an object
            with ``predict(obs, state, episode_start, deterministic)``, a callable, or a policy.
        env_id: a registered id of the suite.
        n_tasks: how many tasks of the evaluation set to play (at most its size).
        baselines: agents (same forms as ``agent``) to compare against; each gets a
            probability-of-improvement entry.
        references: reference agents to play as well; ``random`` is always played (it
            anchors the normalised score) and so are ``bayes`` and ``memoryless`` (the
            adaptation score's anchor) where they exist, and ``oracle`` where the environment
            has no bayes value (it is the ceiling of both scores then).
        env_kwargs: kwargs of the environment (for example ``max_episode_steps``), on top of
            those the protocol fixes (:data:`~evaluate.task_sets.EVALUATION_KWARGS`).
        agent_name: the name shown in the result.
        batch_size: sub-environments played at once.
        reps: bootstrap resamples of each confidence interval.
        seed: seed of the bootstrap.
        progress: show progress bars.
        sample_actions: model agents sample their actions instead of playing the mean action;
            recorded in each model agent's ``actions`` field (with the seed), which
            ``nmn-leaderboard verify`` replays.
        action_seed: seed of torch's generator for sampled actions.
        vec_normalize: the agent's VecNormalize statistics file (a pickle: loading it is the
            caller's choice), ``False`` for raw observations, or ``None`` to refuse when
            statistics lie beside the agent's model file (:mod:`evaluate.observation_statistics`).
        num_agents: agents per task, who see each other (every agent then plays in teams).
        alone: with ``num_agents > 1``, the single agent (same forms as ``agent``) that each
            social gain is measured against.
        trust_pickle: allow model files that are not in the safe form of
            :mod:`policies.serialization` (they are unpickled, which can run code).
        private_seed: play a private task set drawn with this generator seed
            (:func:`~evaluate.task_sets.private_task_set`) instead of the published one.
        cache: read and keep the rollouts of deterministic players (reference agents,
            mean-action models) and the intervals computed from them in the cache of
            :mod:`evaluate.cache` (never on a private task set).
        shift: the name of one of ``env_id``'s shifts (:func:`evaluate.shifts.shifts`): play its
            task set, with its kwargs on top of ``env_kwargs``, scored against its own bounds.

    Raises:
        gymnasium.error.NameNotFound: for an id that is not an environment of the suite.
        ValueError: before anything is played, for env kwargs that do not make the env, an
            unknown reference name, a ``batch_size`` or ``reps`` below 1, ``n_tasks`` beyond
            the task set, an agent that does not load or does not fit the env's spaces; while
            playing, for an agent that returns actions of the wrong shape or NaN.
    """
    check_env_id(env_id)
    num_agents = check_positive("num_agents", num_agents)
    if num_agents > 1:
        check_multiagent_id(env_id)
    env_kwargs = evaluation_kwargs(env_id, env_kwargs)
    check_env_kwargs(env_id, env_kwargs)
    unknown = sorted(set(references) - set(REFERENCE_NAMES))
    if unknown:
        raise ValueError(f"unknown reference agents {unknown}; choose from {list(REFERENCE_NAMES)}")
    for label, number in (("batch_size", batch_size), ("reps", reps)):
        if not isinstance(number, (int, np.integer)) or isinstance(number, bool) or number < 1:
            raise ValueError(f"{label} must be a positive integer, got {number!r}")
    if env_kwargs.get("feedback", True) is not True:
        raise ValueError(
            "the harness plays the meta-RL ready env (observation, prev_action, prev_reward) and "
            "does not take feedback=False; a model trained with feedback=False is scored as it "
            "is: it is given the bare observation"
        )
    if shift is not None:
        if private_seed is not None:
            raise ValueError("a shift is played on its own published task set; it takes no private_seed")
        shifted = get_shift(env_id, shift)
        tasks_set = shift_task_set(shifted, **env_kwargs)
        env_kwargs = shifted_kwargs(shifted, env_kwargs)
    elif private_seed is None:
        tasks_set = task_set(env_id, **env_kwargs)
    else:
        tasks_set = private_task_set(env_id, private_seed, **env_kwargs)
    tasks, seeds = tasks_set.head(n_tasks)
    trials_per_task = episodic_trials(env_id, env_kwargs)
    policy = resolve_agent(
        agent, env_id, env_kwargs, agent_name, sample_actions, action_seed, vec_normalize,
        trust_pickle, num_agents,
    )
    baseline_policies = [
        resolve_agent(
            baseline, env_id, env_kwargs, sample_actions=sample_actions, action_seed=action_seed,
            trust_pickle=trust_pickle, num_agents=num_agents,
        )
        for baseline in baselines
    ]
    _make_names_unique([(policy, agent), *zip(baseline_policies, baselines)])

    store = ResultCache(cache_dir(), package_version()) if cache and private_seed is None else None

    def run(player: Policy, agents: int = num_agents, reference_name: str | None = None) -> Rollout:
        weights = None if reference_name else weights_hash(player)
        key = None
        if store is not None and (reference_name or weights):
            fingerprint = {"reference": reference_name} if reference_name else {"weights": weights}
            if isinstance(player, TrainedReference):  # a retrained reference replays nothing stale
                fingerprint["weights"] = player.weights_sha256
            key = store.rollout_key(
                fingerprint, env_id, env_kwargs, tasks_set.sha256, len(tasks), batch_size, agents
            )
        cached = None if key is None else store.rollout(key, len(tasks))
        if cached is not None:
            return cached
        rollout = play(
            player, env_id, tasks, seeds, env_kwargs, batch_size, progress, num_agents=agents
        )
        if key is not None:
            store.store_rollout(key, rollout)
        return rollout

    try:
        found = exact_bounds(env_id, **env_kwargs)
    except ValueError:  # non-default dynamics: no exact value, the reference agents stand in
        found = []
    anchors = {*references, "random", "bayes", "memoryless"}
    rollouts: dict[str, Rollout] = {}
    players: dict[str, Policy] = {}

    def play_references(names: set[str]) -> None:
        for name in REFERENCE_NAMES:
            if name not in names or name in rollouts:
                continue
            try:
                player = reference(name, env_id, **env_kwargs)
            except ValueError:  # the environment has no such reference agent
                continue
            players[name] = player
            rollouts[name] = run(player, reference_name=name)

    play_references(anchors)
    if "bayes" not in rollouts and all(bound.name != "bayes" for bound in found):
        play_references({"oracle"})  # no bayes value: the oracle is the ceiling of the scales
    team_reference = TEAM_REFERENCES.get(env_id) if num_agents > 1 else None
    if team_reference is not None:
        try:
            players["team_bayes"] = team_reference()
            rollouts["team_bayes"] = run(players["team_bayes"], reference_name="team_bayes")
        except ValueError:  # a variant the team agent does not play
            pass
    reused = isinstance(agent, str) and agent in rollouts and policy.name == agent
    agent_rollout = rollouts[agent] if reused else run(policy)  # a reference plays once
    baseline_rollouts = {player.name: run(player) for player in baseline_policies}

    found += [
        reference_bound(name, rollouts[name].returns, bound_description(players[name]))
        for name in missing_bounds(found)
        if name in rollouts
    ]
    alone_policy = None
    if num_agents > 1:
        found += team_bounds(env_id, num_agents, **env_kwargs)
        alone_policy = resolve_agent(
            alone, env_id, env_kwargs, sample_actions=sample_actions, action_seed=action_seed,
            trust_pickle=trust_pickle,
        )
        alone_returns = run(alone_policy, 1).returns
        team_bound = next((bound.value for bound in found if bound.name == "team_bayes"), None)
    memoryless = rollouts.get("memoryless")
    normaliser = make_normaliser(
        found,
        rollouts["random"].returns.mean(),
        None if memoryless is None else memoryless.returns.mean(),
    )
    baseline_returns = {name: rollout.returns for name, rollout in baseline_rollouts.items()}

    def scored(player: Policy, role: AgentRole, rollout: Rollout) -> AgentScore:
        result = score(
            player.name, role, rollout, normaliser, baseline_returns, player.description, reps,
            seed, player.actions, store, trials_per_task is not None,
        )
        if alone_policy is None:
            return result
        return team_score(result, normaliser["random"], team_bound, alone_returns, reps, seed)

    return EvaluationResult(
        package_version=package_version(),
        env_id=env_id,
        env_kwargs=env_kwargs,
        max_episode_steps=agent_rollout.step_rewards.shape[1],
        task_set=tasks_set.info(len(tasks)),
        seeds=seeds,
        tasks=[task.to_dict() for task in tasks],
        agent=scored(policy, "agent", agent_rollout),
        baselines=[
            scored(player, "baseline", baseline_rollouts[player.name])
            for player in baseline_policies
        ],
        references=[
            scored(players[name], "reference", rollout)
            for name, rollout in rollouts.items()
            if (name in references or name in ("random", "team_bayes")) and not (reused and name == agent)
        ],
        bounds=found,
        normaliser=normaliser,
        bootstrap_reps=reps,
        bootstrap_seed=seed,
        num_agents=num_agents,
        alone=None if alone_policy is None else alone_policy.name,
        shift=None if shift is None else ShiftInfo(name=shift, kwargs=shifted.env_kwargs()),
        trials_per_task=trials_per_task,
    )


def team_score(
    entry: AgentScore,
    random: float,
    team_bound: float | None,
    alone_returns: np.ndarray,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
) -> AgentScore:
    """``entry`` (per-agent team returns) with its team-normalised score and measured social gain.

    The social gain is the mean over tasks of ``returns - alone_returns`` (the same tasks), with
    its 95% bootstrap interval; the team-normalised score is ``(mean - random) / (team - random)``.
    """
    normalised = None
    if team_bound is not None and team_bound > random:
        normalised = entry.mean.on_scale(random, team_bound)
    gain = mean_interval(np.asarray(entry.returns) - alone_returns, reps, seed)
    return entry.model_copy(update={"team_normalised_score": normalised, "social_gain": gain})


def _make_names_unique(players: list[tuple[Policy, Any]]) -> None:
    """Give every ``(policy, what it was resolved from)`` a name of its own.

    A reference agent's name (and ``team_bayes``) belongs to that reference: a model file named
    ``bayes`` is not the ``bayes`` reference, so it never takes the name its row and bound check
    go by. A name already taken, or reserved so, gets the first free suffix (``best_model``,
    ``best_model-2``, ...).
    """
    reserved = {*REFERENCE_NAMES, "team_bayes"}
    taken: set[str] = set()
    for policy, source in players:
        is_that_reference = isinstance(source, str) and source == policy.name
        name, count = policy.name, 1
        while name in taken or (name in reserved and not is_that_reference):
            count += 1
            name = f"{policy.name}-{count}"
        policy.name = name
        taken.add(name)
