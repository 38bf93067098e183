"""The board's figures: each row's normalised IQM with its confidence interval, and the
adaptation curves of the adaptation phase.

The interval plot is rliable's (:func:`rliable.plot_utils.plot_interval_estimates`): one bar
per row spanning its 95% CI, a tick at the IQM, the best row on top; agents and the zoo's
baselines in colour, references in grey, the environment's bounds as vertical lines. It is SVG
with its text kept as text, so that every row's label can be read (and searched) in the file.

The adaptation curves show the **adaptation phase**, where agents differ: the first steps (or
trials) of a meta-episode until every curve shown has settled, that is stays within
:data:`SETTLED_FRACTION` of the gap from random to the normalised scale's 1 (the bayes value, or
the oracle's where the environment has none) of its level over the second half of the
meta-episode, and as many steps again to show the level. The rest of a long meta-episode (1400
steps on NMN-Bench1), on which trained agents overlap, is left out.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rliable import plot_utils

from evaluate.schema import ceiling, normalised_anchors
from leaderboard.board import Row, Table
from leaderboard.submission import for_terminal

CURVES_SHOWN = 8
SETTLED_FRACTION = 0.05
MIN_PHASE_SHOWN = 10
ROLE_COLOURS = {  # seaborn's colour-blind palette, as rliable's plots use it; references grey
    "agent": "#0173b2",
    "baseline": "#029e73",
    "reference": "#a0a0a0",
}
_ROLE_NAMES = {"agent": "submitted agent", "baseline": "zoo baseline", "reference": "reference"}
_ROW_HEIGHT_INCHES = 0.32
_PYPLOT = threading.Lock()  # rliable draws through pyplot, whose figures and settings are global


def row_label(row: Row) -> str:
    """A row's label in the figures: its rank and name, escaped for a terminal and cut to 40
    characters."""
    # "$" would start matplotlib's mathtext; a name is plain text.
    return for_terminal(f"#{row.rank} {row.agent}")[:40].replace("$", r"\$")


def intervals_svg(board: Table) -> bytes:
    """SVG of every row's normalised IQM and its 95% CI, best first, with the bounds marked.

    Raises:
        ValueError: the board has no rows.
    """
    if not board.rows:
        raise ValueError(f"{board.title} has no entries to plot")
    labels = [row_label(row) for row in board.rows]
    points = {label: np.array([row.normalised_iqm.value]) for label, row in zip(labels, board.rows)}
    intervals = {
        label: np.array([[row.normalised_iqm.low], [row.normalised_iqm.high]])
        for label, row in zip(labels, board.rows)
    }
    colours = {label: ROLE_COLOURS[row.role] for label, row in zip(labels, board.rows)}
    buffer = io.BytesIO()
    with _PYPLOT, plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": board.title}):
        figure, axes = plot_utils.plot_interval_estimates(
            points,
            intervals,
            metric_names=[f"{board.title}: normalised IQM, 95% CI"],
            algorithms=labels[::-1],  # rliable draws the first at the bottom
            colors=colours,
            subfigure_width=7.0,
            row_height=_ROW_HEIGHT_INCHES,
            xlabel="",  # set on the axes below, at the size of the rest
        )
        try:
            axes.set_xlabel(_scale_label(board), fontsize="medium")
            for label, row in zip(axes.get_yticklabels(), board.rows[::-1]):
                label.set_fontsize("medium")
                label.set_color("#707070" if row.role == "reference" else "black")
            axes.title.set_fontsize("large")
            axes.tick_params(axis="x", labelsize="medium")
            handles = [
                Patch(color=ROLE_COLOURS[role], label=_ROLE_NAMES[role])
                for role in ROLE_COLOURS
                if any(row.role == role for row in board.rows)
            ]
            handles += _bound_lines(axes, board)
            axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="medium")
            figure.savefig(buffer, format="svg", bbox_inches="tight")
        finally:
            plt.close(figure)
    return buffer.getvalue()


def _scale_label(board: Table) -> str:
    """The normalised scale of ``board``, as its axis is labelled."""
    top = ceiling(board.normaliser)
    return f"(IQM - random) / ({'bayes' if top is None else top[0]} - random)"


def _bound_lines(axes: plt.Axes, board: Table) -> list:
    """The bounds of ``board`` as vertical lines on the normalised scale (its 1 dashed)."""
    anchors, top = normalised_anchors(board.normaliser), ceiling(board.normaliser)
    if anchors is None:
        return []
    random, one = anchors
    return [
        axes.axvline(
            (bound.value - random) / (one - random),
            color="black",
            linestyle="--" if bound.name == top[0] else ":",
            linewidth=1.2,
            label=f"{bound.name} bound ({bound.kind})",
        )
        for bound in board.bounds
    ]


def _curves(board: Table) -> list[tuple[Row, np.ndarray]]:
    """The curves drawn: those of the top :data:`CURVES_SHOWN` rows that hold a finite one."""
    drawn = []
    for row in board.rows[:CURVES_SHOWN]:
        curve = np.asarray(row.adaptation_curve, dtype=np.float64)
        if curve.size and np.all(np.isfinite(curve)):  # older rows may hold none
            drawn.append((row, curve))
    return drawn


def adaptation_phase(board: Table) -> int:
    """How many steps (or trials) from the start the adaptation plot shows (see the module
    docstring); the whole curve where it never settles, 0 when there is nothing to draw."""
    curves = [curve for _, curve in _curves(board)]
    if not curves:
        return 0
    length = min(curve.size for curve in curves)
    anchors = normalised_anchors(board.normaliser)
    if anchors is None:
        return length
    random, one = anchors
    tolerance = SETTLED_FRACTION * (one - random) / length
    window = max(1, length // 100)  # a moving average of 1% of the meta-episode sees past noise
    settled = 0
    for curve in curves:
        smoothed = np.convolve(curve[:length], np.ones(window) / window, mode="valid")
        level = np.median(curve[length // 2 : length])
        away = np.flatnonzero(np.abs(smoothed - level) > tolerance)
        settled = max(settled, 0 if away.size == 0 else int(away[-1]) + window)
    return min(length, max(MIN_PHASE_SHOWN, 2 * settled))


def curve_figure(board: Table) -> Figure:
    """The adaptation curves of the top rows over the adaptation phase, with the mean reward per
    step (or trial) of the bound that is the normalised scale's 1 (the bayes bound, or the
    oracle's ceiling where the environment has none)."""
    # A bare Figure, not pyplot: no global state, so the server's threads may plot at once.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    curves = _curves(board)
    shown = adaptation_phase(board)
    unit = board.curve_unit
    for row, curve in curves:
        style = "--" if row.role == "reference" else "-"
        colour = ROLE_COLOURS["reference"] if row.role == "reference" else None
        axes.plot(np.arange(1, shown + 1), curve[:shown], style, color=colour, label=row_label(row))
    top = ceiling(board.normaliser)
    one = next((bound for bound in board.bounds if top is not None and bound.name == top[0]), None)
    if one is not None and curves:
        axes.axhline(
            one.value / curves[0][1].size,
            color="black",
            linestyle=":",
            linewidth=1,
            label=f"{one.name} bound ({one.kind}), per {unit}",
        )
    if shown > 1:
        axes.set_xlim(1, shown)
    length = curves[0][1].size if curves else 0
    axes.set_xlabel(f"{unit} of the meta-episode (the first {shown} of {length})")
    axes.set_ylabel(f"mean reward per {unit} across tasks")
    axes.set_title(f"{board.title}: adaptation")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def curve_png(board: Table) -> bytes:
    """PNG of :func:`curve_figure`."""
    buffer = io.BytesIO()
    curve_figure(board).savefig(buffer, format="png")
    return buffer.getvalue()
