"""The toroidal arena shared by NMN-Bench2 and NMN-Bench3.

The arena is the torus ``[-2, 2]^2``: leaving one side re-enters at the opposite side.
Targets lie in ``[-1, 1]^2``; the agent (re)spawns uniformly in ``[-1.5, 1.5]^2``, redrawn
until it is more than 0.6 from every target; it reaches a target within 0.4 and moves
0.25 per step along the heading ``theta = pi * a``. Distances are plain Euclidean distances
between the coordinates, as in the source design.
"""

from __future__ import annotations

import numpy as np

from nmn_envs.rendering import AGENT, MARK, Canvas, Color
from nmn_envs.streams import RandomStreams

ARENA_HALF_WIDTH = 2.0
SPAWN_HALF_WIDTH = 1.5
TARGET_HALF_WIDTH = 1.0
SPAWN_CLEARANCE = 0.6
REACH_RADIUS = 0.4
STEP_LENGTH = 0.25


def wrap(points: np.ndarray) -> np.ndarray:
    """Map points back onto the torus ``[-2, 2)^2``."""
    width = 2.0 * ARENA_HALF_WIDTH
    return np.mod(points + ARENA_HALF_WIDTH, width) - ARENA_HALF_WIDTH


def unit_vectors(angles: np.ndarray) -> np.ndarray:
    """Unit vectors ``(cos angle, sin angle)``, shape ``(n, 2)``."""
    vectors = np.empty((angles.size, 2))
    np.cos(angles, out=vectors[:, 0])
    np.sin(angles, out=vectors[:, 1])
    return vectors


def heading(actions: np.ndarray) -> np.ndarray:
    """Unit vectors ``(cos theta, sin theta)`` for the headings ``theta = pi * a``."""
    return unit_vectors(np.pi * actions[:, 0])


def distances(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Euclidean distances between matching rows of two arrays of shape ``(n, 2)``."""
    offset = points - targets
    return np.sqrt(offset[:, 0] * offset[:, 0] + offset[:, 1] * offset[:, 1])


def target_points(uniforms: np.ndarray) -> np.ndarray:
    """Targets uniform in ``[-1, 1]^2`` from uniforms of shape ``(n, 2)``."""
    return TARGET_HALF_WIDTH * (2.0 * uniforms - 1.0)


def spawn(
    streams: RandomStreams, rows: np.ndarray, targets: list[np.ndarray]
) -> np.ndarray:
    """Draw spawn points for ``rows`` until each is more than 0.6 from every target.

    Args:
        streams: the per-row random streams.
        rows: the rows to spawn.
        targets: target coordinates, each an array of shape ``(len(rows), 2)``.

    Returns:
        Spawn points of shape ``(len(rows), 2)``.
    """
    points = np.empty((rows.size, 2))
    pending = np.arange(rows.size)
    while pending.size:
        candidates = SPAWN_HALF_WIDTH * (2.0 * streams.uniform(rows[pending], 2) - 1.0)
        clear = np.ones(pending.size, dtype=bool)
        for target in targets:
            clear &= distances(candidates, target[pending]) > SPAWN_CLEARANCE
        points[pending[clear]] = candidates[clear]
        pending = pending[~clear]
    return points


def arena_canvas(position: np.ndarray, targets: list[tuple[np.ndarray, Color]]) -> Canvas:
    """A frame of the arena with its targets (and their reach zones) and the agent."""
    canvas = Canvas(-ARENA_HALF_WIDTH, ARENA_HALF_WIDTH)
    corner = np.array([TARGET_HALF_WIDTH, TARGET_HALF_WIDTH])
    for a, b in ((-corner, corner * [1, -1]), (-corner, corner * [-1, 1]), (corner, corner * [1, -1]), (corner, corner * [-1, 1])):
        canvas.segment(a, b, MARK, 0.01)
    for point, color in targets:
        canvas.ring(point, REACH_RADIUS, color, 0.03)
        canvas.disc(point, 0.06, color)
    canvas.disc(position, 0.1, AGENT)
    return canvas
