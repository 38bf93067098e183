"""What the scripts of ``benchmarks/`` share: their command line, the machine line and the agents of
per-agent tables."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Sequence

import numpy as np

from evaluate import catalogues
from evaluate.harness import resolve_agent
from evaluate.policy import Policy


def benchmark_parser(description: str, repeats: int) -> argparse.ArgumentParser:
    """A parser with the ``--repeats`` option (measurements of each setup; medians are shown)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=repeats, help="measurements of each setup (median)"
    )
    return parser


def parse_positive(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, names: Sequence[str]
) -> argparse.Namespace:
    """Parse ``argv``, refusing (with the option's name) any of ``names`` that is given and not
    positive (an optional option left unset, ``None``, passes)."""
    args = parser.parse_args(argv)
    values = {name: getattr(args, name) for name in names}
    bad = [f"--{name.replace('_', '-')}" for name, value in values.items() if value is not None and value <= 0]
    if bad:
        parser.error(f"{', '.join(bad)} must be positive")
    return args


def machine_description() -> str:
    """The CPU model, the cores this process may use and the numpy version."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores; Python {platform.python_version()}, numpy {np.__version__}"


def table_agent(agent: str, env_id: str) -> Policy:
    """The agent of one row of a per-agent table: a catalogued name (``zoo:nmn@seed0``) or a
    model file, resolved by the harness and named by its full catalogued name or its path."""
    return resolve_agent(agent, env_id, {}, name=None if catalogues.catalogue_of(agent) else agent)
