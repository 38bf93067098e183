"""``nmn-eval``: score an agent on an environment's evaluation task set and write a report.

Example::

    nmn-eval NMN-Bench1-v0 --agent bayes --out out/b
    nmn-eval NMN-Bench1-v0 --agent zoo:nmn
    nmn-eval NMN-Bench1-v0 --agent model.zip --baseline rnn.zip --n-tasks 200 --out out/nmn
    nmn-eval NMN-Bench1-v0 --agents 2 --agent team.zip --alone single.zip --out out/team
    nmn-eval NMN-Bench1-v0 --agent zoo:nmn --shift all

``--agent`` and ``--baseline`` take a reference agent's name (random, oracle, bayes,
memoryless), which always means that agent, a model of the zoo (``zoo:nmn``, ``zoo:rnn``,
``zoo:lstm``, each optionally ``@seedK``; see :mod:`training.zoo`), or the path of a saved model:
the safe form nmn-train writes (``model.safe.zip``, see :mod:`policies.serialization`). A file
named like a reference agent is reached by its path (``./bayes``). Without ``--baseline`` the
agent is compared with the zoo's RNN and NMN of its env (probability of improvement, with its
interval, in the report); ``--baseline none`` compares it with nothing. A Stable-Baselines3 zip is unpickled, which can run any
code its author put in it, so it loads only with ``--trust-pickle``. The report
(``result.json``, ``report.md``, PNG plots) goes into ``--out``, which is checked for
writing before anything is played (the default folder, ``out/<env id>-<agent>``, is never one
that holds files already: ``-2``, ``-3``, ... follow); the Markdown table is printed too. An
agent never shares its name with a reference agent or another agent: a model file called
``bayes`` plays as ``bayes-2``, two ``best_model`` files as ``best_model`` and ``best_model-2``.
What deterministic players (reference agents, mean-action models) return on a published task
set is kept in a cache (:mod:`evaluate.cache`), so a second run replays nothing it has played;
``--no-cache`` plays everything again. A model trained on
VecNormalize observation statistics needs them: ``--vecnormalize PATH`` loads the file (a
pickle: only a file you trust); a ``vecnormalize.pkl`` found beside the model is never loaded
by itself but stops the run until ``--vecnormalize`` or ``--no-vecnormalize`` says what to do,
unless the ``config.yml`` of the model's rl-zoo run says observations were not normalised
(:mod:`evaluate.observation_statistics`).

``--shift NAME`` (or ``all``) scores the agent, never retrained, on a named shift of the task
distribution (:mod:`evaluate.shifts`) as well as on the registered one: one report per task set
in ``--out`` (``in_distribution/``, ``<shift>/``), and a table with one row per shift giving its
normalised and adaptation scores against the shift's own bounds and the generalisation gap
(in-distribution score minus shifted score, with its 95% CI). The in-distribution side is the
distribution agents train on (on NMN-Harlow its training objects: the held-out ones are a shift);
where an environment has no bayes value (NMN-Navigation2D, the HalfCheetah tasks) the 1 of both
scales is the oracle ceiling.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from gymnasium import error as gym_error

from evaluate import catalogues
from evaluate.agents import model_name
from evaluate.analyses import write_analyses
from evaluate.cache import CACHE_ENV, ResultCache, cache_dir
from evaluate.generalisation import gap_table, with_gap
from evaluate.harness import DEFAULT_N_TASKS, evaluate, package_version, resolve_agent
from evaluate.model_options import add_model_arguments, use_torch_threads, vec_normalize_choice
from evaluate.references import REFERENCE_NAMES
from evaluate.schema import EvaluationResult
from evaluate.shifts import SHIFTS, get_shift, shifted_kwargs, shifts
from evaluate.report import RESULT_FILE, TABLE_FILE, write_report
from evaluate.stats import DEFAULT_REPS
from evaluate.task_sets import evaluation_kwargs, in_distribution_kwargs

DEFAULT_BASELINES = ("zoo:rnn", "zoo:nmn")


def _env_kwarg(text: str) -> tuple[str, Any]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parser() -> argparse.ArgumentParser:
    """The command-line parser of ``nmn-eval``."""
    arguments = argparse.ArgumentParser(
        prog="nmn-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("env_id", help="a registered environment id, e.g. NMN-Bench1-v0")
    arguments.add_argument(
        "--agent",
        required=True,
        help=f"one of {list(REFERENCE_NAMES)}, a zoo model (zoo:nmn, zoo:rnn@seed1, ...) or the "
        "path of a saved model (./NAME for a file named like a reference agent)",
    )
    arguments.add_argument(
        "--baseline",
        action="append",
        default=None,
        help=f"agent to compare against (repeatable; default: {', '.join(DEFAULT_BASELINES)} where the "
        "zoo has them; 'none' for no comparison)",
    )
    arguments.add_argument(
        "--n-tasks", type=int, default=DEFAULT_N_TASKS, help="tasks of the evaluation set to play"
    )
    arguments.add_argument(
        "--out",
        default=None,
        help="report folder (default: out/<env id>-<agent>, or -2, -3, ... after it when that "
        "folder holds files already)",
    )
    arguments.add_argument(
        "--max-episode-steps", type=int, default=None, help="meta-episode length"
    )
    arguments.add_argument(
        "--env-kwarg",
        type=_env_kwarg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment kwarg, VALUE read as JSON (repeatable)",
    )
    arguments.add_argument(
        "--references",
        nargs="*",
        default=list(REFERENCE_NAMES),
        help="reference agents to play too (random always)",
    )
    arguments.add_argument("--reps", type=int, default=DEFAULT_REPS, help="bootstrap resamples")
    arguments.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_model_arguments(arguments)
    arguments.add_argument(
        "--sample-actions",
        action="store_true",
        help="model agents sample their actions (seeded) instead of playing the mean action",
    )
    arguments.add_argument(
        "--action-seed",
        type=int,
        default=0,
        help="torch seed of sampled actions (default: 0); stored in the result",
    )
    arguments.add_argument(
        "--agents",
        type=int,
        default=1,
        help="agents per task who see each other: every agent plays in teams (default: 1)",
    )
    arguments.add_argument(
        "--alone",
        default="bayes",
        help="with --agents: the single agent the social gain is measured against (default: bayes)",
    )
    arguments.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load Stable-Baselines3 zips, which are unpickled and can run code: only "
        "for files you trust",
    )
    arguments.add_argument(
        "--shift",
        default=None,
        metavar="NAME",
        help="also score the agent on a named shift of the task distribution, or 'all' of the env's "
        "shifts, and report its generalisation gap",
    )
    arguments.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    arguments.add_argument(
        "--no-cache",
        action="store_true",
        help="play every agent again instead of reading what deterministic players returned "
        f"before on this task set (kept in the user cache directory, or ${CACHE_ENV})",
    )
    return arguments


def _default_name(agent: str) -> str:
    if catalogues.catalogue_of(agent) is not None:
        return agent.replace(catalogues.SEPARATOR, "-")
    return agent if agent in REFERENCE_NAMES else model_name(Path(agent))


def _same_zoo_model(name: str, agent: str, env_id: str) -> bool:
    """Whether the zoo names ``name`` and ``agent`` mean the same shipped model of ``env_id``."""
    if catalogues.catalogue_of(agent) is None:
        return False
    try:
        return catalogues.find(name, env_id)[0] == catalogues.find(agent, env_id)[0]
    except ValueError:  # not a name the zoo holds: the harness says so when it resolves the agent
        return False


def default_out(env_id: str, agent: str) -> Path:
    """The default report folder ``out/<env id>-<agent>``, never one that already holds files:
    then the first free ``out/<env id>-<agent>-2``, ``-3``, ... (an explicit ``--out`` is the
    user's to reuse)."""
    base = Path("out") / f"{env_id}-{_default_name(agent)}"
    folder, count = base, 1
    while folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        count += 1
        folder = base.with_name(f"{base.name}-{count}")
    return folder


def baselines_of(requested: list[str] | None, agent: str, env_id: str, num_agents: int) -> list[str]:
    """The baselines to compare ``agent`` with: those requested, or by default the zoo's
    :data:`DEFAULT_BASELINES` that ``env_id`` has (single agents only), the agent itself left out.

    Raises:
        ValueError: for ``none`` given beside other baselines.
    """
    if requested is None:
        if num_agents > 1:
            return []
        held = catalogues.available(env_id)
        return [name for name in DEFAULT_BASELINES if name in held and not _same_zoo_model(name, agent, env_id)]
    if "none" in requested:
        if len(requested) > 1:
            raise ValueError(f"--baseline none compares with nothing; it cannot go with {requested}")
        return []
    return requested


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it.

    Raises:
        ValueError: naming the folder and the reason.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(
            f"cannot write the report to --out {str(folder)!r}: {error.strerror or error}"
        ) from None


def shift_names(env_id: str, requested: str) -> list[str]:
    """The shifts ``--shift`` asks for: one by name, or ``all`` of ``env_id``'s.

    Raises:
        ValueError: for a name that is not one of the env's shifts, or ``all`` on an env without any.
    """
    if requested == "all":
        names = list(shifts(env_id))
        if not names:
            raise ValueError(f"{env_id} has no shifts; envs with shifts: {sorted(SHIFTS)}")
        return names
    return [get_shift(env_id, requested).name]


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for option, number in (("--reps", args.reps), ("--n-tasks", args.n_tasks)):
        if number < 1:
            sys.exit(f"nmn-eval: error: {option} must be a positive integer, got {number}")
    try:
        use_torch_threads(args.threads)
    except ValueError as problem:
        sys.exit(f"nmn-eval: error: --threads: {problem}")
    env_kwargs = dict(args.env_kwarg)
    if args.max_episode_steps is not None:
        env_kwargs["max_episode_steps"] = args.max_episode_steps
    out = Path(args.out) if args.out else default_out(args.env_id, args.agent)
    try:
        names = [] if args.shift is None else shift_names(args.env_id, args.shift)
        if names and args.agents > 1:
            raise ValueError("--shift scores single agents; it cannot go with --agents")
        for name in names:  # every shift is checked before anything plays
            shifted_kwargs(get_shift(args.env_id, name), evaluation_kwargs(args.env_id, env_kwargs))
        check_writable(out)

        def run(shift: str | None = None, kwargs: dict[str, Any] = env_kwargs) -> EvaluationResult:
            return evaluate(
                args.agent,
                args.env_id,
                n_tasks=args.n_tasks,
                baselines=baselines_of(args.baseline, args.agent, args.env_id, args.agents),
                references=args.references,
                env_kwargs=kwargs,
                reps=args.reps,
                seed=args.seed,
                progress=not args.no_progress,
                sample_actions=args.sample_actions,
                action_seed=args.action_seed,
                vec_normalize=vec_normalize_choice(args),
                num_agents=args.agents,
                alone=args.alone,
                trust_pickle=args.trust_pickle,
                shift=shift,
                cache=not args.no_cache,
            )

        if names:
            inside = run(kwargs=in_distribution_kwargs(args.env_id, env_kwargs))
            shifted = [with_gap(inside, run(name)) for name in names]
        else:
            result = run()
    except (ValueError, gym_error.Error) as problem:
        sys.exit(f"nmn-eval: error: {problem}")
    if names:
        write_report(inside, out / "in_distribution")
        for each in shifted:
            write_report(each, out / each.shift.name)
        table = gap_table(inside, shifted)
        (out / TABLE_FILE).write_text(table)
        print(table)
        print(f"wrote {out}/in_distribution and {', '.join(f'{out}/{name}' for name in names)}")
        return
    table = write_report(result, out)
    extra = "" if args.agents > 1 else write_analyses(
        resolve_agent(
            args.agent,
            args.env_id,
            evaluation_kwargs(args.env_id, env_kwargs),
            name=result.agent.name,
            sample_actions=args.sample_actions,
            action_seed=args.action_seed,
            vec_normalize=vec_normalize_choice(args),
            trust_pickle=args.trust_pickle,
        ),
        args.env_id,
        args.n_tasks,
        out,
        env_kwargs,
        None if args.no_cache else ResultCache(cache_dir(), package_version()),
    )
    if extra:
        table = f"{table}\n{extra}"
        (out / TABLE_FILE).write_text(table)
    print(table)
    print(f"wrote {out}/{RESULT_FILE}, {TABLE_FILE} and plots")


if __name__ == "__main__":
    main()
