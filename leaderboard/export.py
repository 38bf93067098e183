"""The static leaderboard site: the server's pages written as files, viewable without a server."""

from __future__ import annotations

from pathlib import Path

from leaderboard.board import table
from leaderboard.pages import STATIC_FILES, Links, env_page, index_page, static_file
from leaderboard.plots import curve_png, intervals_svg
from leaderboard.store import Store

_LINKS = Links(served=False)


def export_site(store: Store, directory: str | Path) -> Path:
    """Write ``index.html``, one page, one interval plot and one curve plot per environment and
    per shift track with entries, and the static files.

    Returns:
        The path of ``index.html``.
    """
    root = Path(directory)
    (root / "static").mkdir(parents=True, exist_ok=True)
    for name in STATIC_FILES:
        (root / "static" / name).write_bytes(static_file(name))
    boards = [table(store, env_id) for env_id in store.env_ids()]
    for board in boards:
        shifts = store.shifts(board.env_id)
        for track in (board, *(table(store, board.env_id, shift) for shift in shifts)):
            page = env_page(track, _LINKS, shifts)
            (root / _LINKS.env(track.env_id, track.shift)).write_text(page, encoding="utf-8")
            if track.rows:
                intervals = _LINKS.intervals(track.env_id, track.shift)
                (root / intervals).write_bytes(intervals_svg(track))
                (root / _LINKS.curve(track.env_id, track.shift)).write_bytes(curve_png(track))
    index = root / _LINKS.index
    index.write_text(index_page(boards, _LINKS), encoding="utf-8")
    return index
