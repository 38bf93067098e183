"""Write one page per registered environment while the site builds (the ``gen-files`` plugin).

Each page is the environment class's docstring (its spaces, rewards, start, end, arguments and
version history, in the style of Gymnasium's env pages), under a frame that the env's own
``rgb_array`` render draws at build time, its spaces as registered (with the feedback
observation), its meta-episode length and its bound: the exact Bayes bound where
:mod:`evaluate.exact` derives one, otherwise which reference agents the harness measures.
Nothing on the page is copied by hand, so a docstring change shows on the next build.
"""

from __future__ import annotations

import inspect
import io

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mkdocs_gen_files
import numpy as np

import nmn_envs
from evaluate.bounds import exact_bounds
from evaluate.references import reference

ENV_CLASSES = {**nmn_envs.BENCHMARKS, **nmn_envs.CLASSIC_TASKS, **nmn_envs.MUJOCO_TASKS}
"""Every registered id's env class and meta-episode length."""
FRAME_STEPS = 10
"""Random steps played before the frame is drawn (seeded: the same frame on every build)."""


def frame_png(env_id: str) -> bytes:
    """A PNG of ``env_id``'s ``rgb_array`` render after :data:`FRAME_STEPS` seeded random steps."""
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(FRAME_STEPS):
        env.step(env.action_space.sample())
    frame = env.render()
    env.close()
    buffer = io.BytesIO()
    plt.imsave(buffer, np.asarray(frame), format="png")
    return buffer.getvalue()


def bound_lines(env_id: str) -> list[str]:
    """The bound of ``env_id``'s registered configuration, as Markdown list items."""
    found = exact_bounds(env_id)
    lines = [f"* `{bound.name}` ({bound.kind}): **{bound.value:.4f}**: {bound.description}" for bound in found]
    if lines:
        return lines
    measured = []
    for name in ("bayes", "oracle"):
        try:
            reference(name, env_id)
        except ValueError:
            continue
        measured.append(f"`{name}`")
    if not measured:
        return ["* No bound and no reference agent beyond `random`: scores are mean returns."]
    return [
        "* No exact bound is derived. The harness measures "
        + " and ".join(measured)
        + " on the evaluation set and reports their means with standard errors"
        + (" (`bayes` here is a belief planner, a reference that an agent can beat)." if "`bayes`" in measured
           else "; there is no Bayes bound, so normalised scores run from random play (0) to the oracle's"
           " mean return (1), a ceiling.")
    ]


def page(env_id: str) -> str:
    """The Markdown page of ``env_id``."""
    env_class, steps = ENV_CLASSES[env_id]
    env = gym.make(env_id)
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    summary, _, body = inspect.getdoc(env_class).partition("\n")
    return "\n".join([
        f"# {env_id}",
        "",
        f"![{env_id}: a frame of its rgb_array render]({env_id}.png){{ width=\"256\" }}",
        "",
        f"*{summary.strip()}*",
        "",
        "| | |",
        "|---|---|",
        f"| Make | `gymnasium.make(\"{env_id}\")` |",
        f"| Class | `{env_class.__module__}.{env_class.__name__}` |",
        f"| Action space | `{action_space}` |",
        f"| Observation space | `{observation_space}` |",
        f"| Meta-episode | {steps} steps |",
        "",
        "## Bound",
        "",
        *bound_lines(env_id),
        "",
        body.strip(),
        "",
    ])


for env_id in nmn_envs.ENV_IDS:
    with mkdocs_gen_files.open(f"envs/{env_id}.md", "w") as markdown:
        markdown.write(page(env_id))
    with mkdocs_gen_files.open(f"envs/{env_id}.png", "wb") as image:
        image.write(frame_png(env_id))
