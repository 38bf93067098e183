"""HTML pages of the board, shared by the server and the static export (their figures:
:mod:`leaderboard.plots`).

Templates are rendered by a Jinja2 environment with autoescaping on, so every piece of user
text (agent names, authors, descriptions, URLs) is HTML-escaped; it is also wrapped in
``<bdi>`` so that bidirectional marks in a name cannot reorder the text around it, and any
control character is shown as ``\\u`` and four hex digits (the ``printable`` filter). The pages load no inline
script: sorting is ``static/sort.js``, which the server's Content-Security-Policy allows alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING
from urllib.parse import quote

import jinja2

from leaderboard.board import Row, Table
from leaderboard.plots import MIN_PHASE_SHOWN, SETTLED_FRACTION, adaptation_phase
from leaderboard.submission import printable

if TYPE_CHECKING:
    from leaderboard.jobs import JobStatus

STATIC_FILES = ("style.css", "sort.js")

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

    def env(self, env_id: str, shift: str | None = None) -> str:
        return self._track(env_id, shift, served="", exported=".html")

    def curve(self, env_id: str, shift: str | None = None) -> str:
        return self._track(env_id, shift, served="/curve.png", exported="-curve.png")

    def intervals(self, env_id: str, shift: str | None = None) -> str:
        return self._track(env_id, shift, served="/intervals.svg", exported="-intervals.svg")

    def _track(self, env_id: str, shift: str | None, served: str, exported: str) -> str:
        """A track's path: on the server the shift is a query; an exported file's name holds it
        after a double dash."""
        slug = quote(env_id, safe="")
        if self.served:
            query = "" if shift is None else f"?shift={quote(shift, safe='')}"
            return f"/env/{slug}{served}{query}"
        track = "" if shift is None else f"--{quote(shift, safe='')}"
        return f"{slug}{track}{exported}"


def _render(template: str, links: Links, **context: object) -> str:
    return _templates.get_template(template).render(
        static=links.static,
        index_link=links.index,
        env_link=links.env,
        curve_link=links.curve,
        intervals_link=links.intervals,
        **context,
    )


def index_page(boards: list[Table], links: Links, jobs: Sequence[JobStatus] = ()) -> str:
    """The list of environments with their leaders, and the models being played (``jobs``)."""
    return _render("index.html", links, boards=boards, jobs=jobs)


def env_page(
    board: Table, links: Links, shifts: Sequence[str] = (), jobs: Sequence[JobStatus] = ()
) -> str:
    """One track of an environment (the main one or a shift's): the interval plot of its rows,
    why they are ranked as they are, its bounds, the sortable ranking, the scales of its scores,
    the adaptation-curve plot and its models being played (``jobs``), with a tab per track: the
    main one and each of ``shifts``."""
    scale, adaptation = board.scales()
    return _render(
        "env.html",
        links,
        board=board,
        tracks=[None, *shifts],
        scale=scale,
        adaptation=adaptation,
        mean_disagrees=mean_disagreement(board),
        phase=adaptation_phase(board),
        settled_fraction=SETTLED_FRACTION,
        min_phase=MIN_PHASE_SHOWN,
        jobs=jobs,
    )


def mean_disagreement(board: Table) -> tuple[Row, Row] | None:
    """The best-ranked pair of rows (references aside) whose mean returns are in the opposite
    order of their ranks: the higher-ranked row first; ``None`` where there is no such pair."""
    ranked = [row for row in board.rows if row.role != "reference"]
    for position, higher in enumerate(ranked):
        for lower in ranked[position + 1 :]:
            if lower.mean_return.value > higher.mean_return.value:
                return higher, lower
    return None


def static_file(name: str) -> bytes:
    """The bytes of one of :data:`STATIC_FILES`."""
    if name not in STATIC_FILES:
        raise KeyError(f"no static file {name!r}")
    return files("leaderboard").joinpath("static", name).read_bytes()
