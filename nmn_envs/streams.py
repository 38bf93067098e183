"""Independent random streams for a batch of sub-environments.

Every sub-environment owns a :class:`numpy.random.Generator` (seeded the way Gymnasium seeds
a single environment, see :func:`gymnasium.utils.seeding.np_random`). Dynamics ask for
uniform numbers for a subset of rows at once; each row's numbers are read, in order, from
that row's own generator through a buffer that is refilled in blocks. The numbers a row
receives therefore depend only on its own seed and its own history: sub-environment ``i`` of
a vector env seeded with ``s`` sees exactly what a single env seeded with ``s + i`` sees,
and the hot path stays vectorised (a Python loop runs only when a row's block is used up).
"""

from __future__ import annotations

import numpy as np
from gymnasium.utils import seeding


class RandomStreams:
    """Buffered uniform draws from one generator per row.

    Args:
        num_rows: number of sub-environments.
        block_size: how many numbers a row's buffer holds; a refill draws this many at once.
    """

    def __init__(self, num_rows: int, block_size: int = 256) -> None:
        self.num_rows = num_rows
        self.block_size = block_size
        self.generators: list[np.random.Generator | None] = [None] * num_rows
        self._buffer = np.zeros((num_rows, block_size))
        self._flat_buffer = self._buffer.reshape(-1)
        self._position = np.full(num_rows, block_size, dtype=np.int64)

    def attach(self, row: int, generator: np.random.Generator) -> None:
        """Make ``generator`` the source of ``row`` and drop anything buffered from before."""
        self.generators[row] = generator
        self._position[row] = self.block_size

    def seed(self, row: int, seed: int | None) -> None:
        """Give ``row`` a fresh generator seeded as Gymnasium seeds a single env."""
        self.attach(row, seeding.np_random(seed)[0])

    def snapshot(
        self,
    ) -> tuple[list[tuple[np.random.Generator, dict] | None], np.ndarray, np.ndarray]:
        """Everything the streams hold (each generator and its state), for :meth:`restore`."""
        generators = [
            None if generator is None else (generator, generator.bit_generator.state)
            for generator in self.generators
        ]
        return generators, self._buffer.copy(), self._position.copy()

    def restore(
        self, snapshot: tuple[list[tuple[np.random.Generator, dict] | None], np.ndarray, np.ndarray]
    ) -> None:
        """Put the streams back as :meth:`snapshot` found them."""
        generators, buffer, position = snapshot
        for entry in generators:
            if entry is not None:
                entry[0].bit_generator.state = entry[1]
        self.generators = [None if entry is None else entry[0] for entry in generators]
        self._buffer[...] = buffer
        self._position[...] = position

    def is_attached(self, row: int) -> bool:
        """Whether ``row`` already has a generator."""
        return self.generators[row] is not None

    def uniform(self, rows: np.ndarray, count: int) -> np.ndarray:
        """Return ``count`` numbers in ``[0, 1)`` for each of ``rows`` (shape ``(len(rows), count)``).

        ``rows`` must not repeat a row.
        """
        if count > self.block_size:
            raise ValueError(f"at most {self.block_size} numbers per draw, asked for {count}")
        start = self._position[rows]
        end = start + count
        short = end > self.block_size
        if short.any():
            for row in rows[short]:
                self._refill(int(row))
            start = self._position[rows]
            end = start + count
        self._position[rows] = end
        first = rows * self.block_size + start
        if count == 1:
            return self._flat_buffer.take(first)[:, None]
        return self._flat_buffer.take(first[:, None] + np.arange(count))

    def _refill(self, row: int) -> None:
        generator = self.generators[row]
        if generator is None:
            raise RuntimeError(f"random stream {row} was used before it was seeded")
        buffer = self._buffer[row]
        left = self.block_size - self._position[row]
        buffer[:left] = buffer[self._position[row] :].copy()
        generator.random(out=buffer[left:])
        self._position[row] = 0
