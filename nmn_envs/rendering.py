"""A small RGB canvas for ``render_mode="rgb_array"`` frames (NumPy only, no window).

Frames show discs, rings and segments in world coordinates mapped onto a square image.
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

BACKGROUND: Color = (250, 250, 250)
AGENT: Color = (30, 90, 200)
GOOD: Color = (40, 160, 60)
BAD: Color = (210, 50, 50)
MARK: Color = (120, 120, 120)


class Canvas:
    """An image of ``size`` x ``size`` pixels showing the world box ``[low, high]^2``.

    Args:
        low: world coordinate at the left and bottom edges.
        high: world coordinate at the right and top edges.
        size: the side of the image in pixels.
    """

    def __init__(self, low: float, high: float, size: int = 256) -> None:
        self.low, self.high, self.size = low, high, size
        self.pixels = np.empty((size, size, 3), dtype=np.uint8)
        self.pixels[:] = BACKGROUND
        centres = (np.arange(size) + 0.5) / size * (high - low) + low
        self._x = centres[None, :]
        self._y = centres[::-1, None]

    def disc(self, centre: np.ndarray, radius: float, color: Color) -> None:
        """Fill the disc of ``radius`` (world units) around ``centre``."""
        inside = (self._x - centre[0]) ** 2 + (self._y - centre[1]) ** 2 <= radius**2
        self.pixels[inside] = color

    def ring(self, centre: np.ndarray, radius: float, color: Color, width: float) -> None:
        """Draw the circle of ``radius`` around ``centre`` with a line ``width`` wide."""
        distance = np.sqrt((self._x - centre[0]) ** 2 + (self._y - centre[1]) ** 2)
        self.pixels[np.abs(distance - radius) <= width / 2] = color

    def segment(self, start: np.ndarray, end: np.ndarray, color: Color, width: float) -> None:
        """Draw the segment from ``start`` to ``end`` with a line ``width`` wide."""
        direction = end - start
        length2 = float(direction @ direction) or 1e-12
        t = ((self._x - start[0]) * direction[0] + (self._y - start[1]) * direction[1]) / length2
        t = np.clip(t, 0.0, 1.0)
        dx = self._x - (start[0] + t * direction[0])
        dy = self._y - (start[1] + t * direction[1])
        self.pixels[dx**2 + dy**2 <= (width / 2) ** 2] = color
