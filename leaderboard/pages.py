"""HTML pages and the adaptation-curve plot of the board, shared by the server and the static export.

Templates are rendered by a Jinja2 environment with autoescaping on, so every piece of user
text (agent names, authors, descriptions, URLs) is HTML-escaped; it is also wrapped in
``<bdi>`` so that bidirectional marks in a name cannot reorder the text around it, and any
control character is shown as ``\\u`` and four hex digits (the ``printable`` filter). The pages load no inline
script: sorting is ``static/sort.js``, which the server's Content-Security-Policy allows alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import quote

import jinja2
import numpy as np
from matplotlib.figure import Figure

from evaluate.schema import adaptation_scale, normalised_scale
from leaderboard.board import Table
from leaderboard.submission import for_terminal, printable

STATIC_FILES = ("style.css", "sort.js")
CURVES_SHOWN = 8
SMOOTHING_STEPS = 50

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("leaderboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_templates.filters["printable"] = printable


@dataclass(frozen=True)
class Links:
    """Where pages point: paths on the server, or relative files of an exported site."""

    served: bool

    @property
    def index(self) -> str:
        return "/" if self.served else "index.html"

    def static(self, name: str) -> str:
        return f"/static/{name}" if self.served else f"static/{name}"

    def env(self, env_id: str) -> str:
        slug = quote(env_id, safe="")
        return f"/env/{slug}" if self.served else f"{slug}.html"

    def curve(self, env_id: str) -> str:
        slug = quote(env_id, safe="")
        return f"/env/{slug}/curve.png" if self.served else f"{slug}-curve.png"


def _render(template: str, links: Links, **context: object) -> str:
    return _templates.get_template(template).render(
        static=links.static,
        index_link=links.index,
        env_link=links.env,
        curve_link=links.curve,
        **context,
    )


def index_page(boards: list[Table], links: Links) -> str:
    """The list of environments with their leaders."""
    return _render("index.html", links, boards=boards)


def env_page(board: Table, links: Links) -> str:
    """The sortable ranking of one environment, its bounds, the scales of its scores and its
    adaptation-curve plot."""
    return _render(
        "env.html",
        links,
        board=board,
        scale=normalised_scale(board.bounds),
        adaptation=adaptation_scale(board.normaliser),
    )


def static_file(name: str) -> bytes:
    """The bytes of one of :data:`STATIC_FILES`."""
    if name not in STATIC_FILES:
        raise KeyError(f"no static file {name!r}")
    return files("leaderboard").joinpath("static", name).read_bytes()


def curve_png(board: Table) -> bytes:
    """PNG of the adaptation curves of the top entries (moving average over steps)."""
    # A bare Figure, not pyplot: no global state, so the server's threads may plot at once.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    for row in board.rows[:CURVES_SHOWN]:
        curve = np.asarray(row.adaptation_curve, dtype=np.float64)
        if curve.size == 0 or not np.all(np.isfinite(curve)):
            continue  # nothing to draw (the board refuses such curves; older rows may hold one)
        window = max(1, min(SMOOTHING_STEPS, len(curve) // 10))
        smoothed = np.convolve(curve, np.ones(window) / window, mode="valid")
        steps = np.arange(window - 1, window - 1 + len(smoothed))
        style = "--" if row.role == "reference" else "-"
        # "$" would start matplotlib's mathtext; a name is plain text.
        label = for_terminal(f"#{row.rank} {row.agent}")[:40].replace("$", r"\$")
        axes.plot(steps, smoothed, style, label=label)
    axes.set_xlabel("step (or trial) of the meta-episode")
    axes.set_ylabel(f"mean reward (moving average, up to {SMOOTHING_STEPS} steps)")
    axes.set_title(f"{board.env_id}: adaptation curves")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
