"""The cache of ``nmn-eval``: a first and a second ``nmn-eval NMN-Bench1-v0 --agent zoo:nmn``.

The first run plays the agent, the default baselines (the zoo's RNN) and the reference agents
on the 1000 tasks of the evaluation set, computes the bootstrap intervals and the NMN analyses,
and keeps all of it in a fresh cache folder (:mod:`evaluate.cache`); the second run, the same
command, reads it. Each run is a separate ``nmn-eval`` process (imports included), timed by wall
clock and by the CPU time of the process (user + system, which a machine shared with other work
does not inflate); the script prints both, for each run, and their ratios, and checks that the
two reports agree.

Usage::

    python benchmarks/eval_cache.py
    python benchmarks/eval_cache.py --env NMN-Bench2-v0 --agent zoo:rnn
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measuring import machine_description

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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="NMN-Bench1-v0", help="environment id")
    parser.add_argument("--agent", default="zoo:nmn", help="the agent nmn-eval scores")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, CACHE_ENV: str(Path(folder) / "cache"), "OMP_NUM_THREADS": "1"}
        times = []
        for run in ("first", "second"):
            out = Path(folder) / run
            command = [sys.executable, "-m", "evaluate.cli", args.env, "--agent", args.agent,
                       "--out", str(out), "--no-progress"]
            times.append(timed_run(command, environment))
        same = (Path(folder) / "first" / "report.md").read_text() == (Path(folder) / "second" / "report.md").read_text()
    print(machine_description())
    print(f"nmn-eval {args.env} --agent {args.agent} (1000 tasks, default baselines and references)")
    print("| run | wall clock (s) | CPU (s) |")
    print("|---|---|---|")
    for run, (wall, cpu) in zip(("first (empty cache)", "second (cache read)"), times):
        print(f"| {run} | {wall:.1f} | {cpu:.1f} |")
    print(
        f"second run: {times[0][0] / times[1][0]:.1f}x faster by wall clock, "
        f"{times[0][1] / times[1][1]:.1f}x by CPU time; reports identical: {same}"
    )


if __name__ == "__main__":
    main()
