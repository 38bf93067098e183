"""nmn-bench as a whole: what spans the chain from the environments to the leaderboard.

The other packages of the distribution each hold one part (:mod:`nmn_envs`, :mod:`policies`,
:mod:`evaluate`, :mod:`training`, :mod:`leaderboard`); this one holds only what uses them all, the demo
(``python -m nmn_bench.demo``, the main job of ``make demo``).
"""
