"""The cache of ``nmn-eval``: a first and a second ``nmn-eval NMN-Bench1-v0 --agent zoo:nmn``.

The first run plays the agent, the default baselines (the zoo's RNN) and the reference agents
on the 1000 tasks of the evaluation set, computes the bootstrap intervals and the NMN analyses,
and keeps all of it in a fresh cache folder (:mod:`evaluate.cache`); the second run, the same
command, reads it (``--repeats`` times: the medians are shown). Each run is a separate
``nmn-eval`` process (imports included), timed by wall clock and by the CPU time of the process
(user + system, which a machine shared with other work does not inflate); the script prints
both, for each run, and their ratios, and checks that the reports agree.

Usage::

    python benchmarks/eval_cache.py
    python benchmarks/eval_cache.py --env NMN-Bench2-v0 --agent zoo:rnn --repeats 5
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measuring import benchmark_parser, machine_description, parse_positive

from evaluate.cache import CACHE_ENV


def timed_run(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Run ``command``; return its wall-clock seconds and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--env", default="NMN-Bench1-v0", help="environment id")
    parser.add_argument("--agent", default="zoo:nmn", help="the agent nmn-eval scores")
    args = parse_positive(parser, argv, ["repeats"])
    runs = ["first", *(f"second-{index}" for index in range(args.repeats))]
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, CACHE_ENV: str(Path(folder) / "cache"), "OMP_NUM_THREADS": "1"}
        times = []
        for run in runs:
            out = Path(folder) / run
            command = [sys.executable, "-m", "evaluate.cli", args.env, "--agent", args.agent,
                       "--out", str(out), "--no-progress"]
            times.append(timed_run(command, environment))
        reports = {(Path(folder) / run / "report.md").read_text() for run in runs}
    first = times[0]
    second = tuple(float(np.median(column)) for column in zip(*times[1:]))
    print(machine_description())
    print(f"nmn-eval {args.env} --agent {args.agent} (1000 tasks, default baselines and references)")
    print("| run | wall clock (s) | CPU (s) |")
    print("|---|---|---|")
    print(f"| first (empty cache) | {first[0]:.1f} | {first[1]:.1f} |")
    print(f"| second (cache read, median of {args.repeats}) | {second[0]:.1f} | {second[1]:.1f} |")
    print(
        f"second run: {first[0] / second[0]:.1f}x faster by wall clock, "
        f"{first[1] / second[1]:.1f}x by CPU time; reports identical: {len(reports) == 1}"
    )


if __name__ == "__main__":
    main()
