"""The board's server under load: concurrent ``GET /api/tables/ID`` on a board of some 70 rows.

For each backend (a SQLite file, then a database on a throwaway PostgreSQL server) the script
stores a board of ``--rows`` entries of NMN-Bench1 (the board's own reference rows, and agent
rows made from the ``bayes`` row with other returns), starts a real ``nmn-leaderboard serve``
process over it, and has ``--clients`` concurrent clients (threads sharing one httpx client)
fetch the table until ``--requests`` answers have come back. It prints the requests per second and the
median (p50) and 99th-percentile (p99) latency of each backend, and the first request's time
(the table computed after a change of the board).

Beside them it times the old path in this process: the table computed from the stored
payloads for every request (what the server did before tables were kept per revision of the
board), which bounds the old server's rate on one core.

Usage::

    python benchmarks/board_load.py
    python benchmarks/board_load.py --requests 5000 --clients 50 --rows 70
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers

from leaderboard.board import table  # noqa: E402
from leaderboard.seed import reference_submissions  # noqa: E402
from leaderboard.store import Store  # noqa: E402
from leaderboard.submission import Submission  # noqa: E402
from measuring import benchmark_parser, machine_description, parse_positive  # noqa: E402
from tests.postgres import fresh_database, throwaway_postgres  # noqa: E402
from tests.served import serving  # noqa: E402
from tests.store_variants import renamed  # noqa: E402

ENV_ID = "NMN-Bench1-v0"
GOAL_RATE = 200.0
GOAL_P99_S = 1.0


def as_agent(submission: Submission) -> Submission:
    """``submission`` with its agent in the role of a submitted agent."""
    agent = submission.result.agent.model_copy(update={"role": "agent"})
    return submission.model_copy(
        update={"result": submission.result.model_copy(update={"agent": agent})}
    )


def fill(db: str, rows: int) -> None:
    """Store the board's reference rows of NMN-Bench1 and agent rows, ``rows`` in all."""
    references = reference_submissions(ENV_ID)
    store = Store(db)
    for submission in references.values():
        store.add(submission)
    agent = as_agent(references["bayes"])
    for index in range(rows - len(references)):
        store.add(renamed(agent, f"agent {index}"))
    store.close()


def load(url: str, clients: int, requests: int) -> tuple[float, list[float]]:
    """``requests`` GETs of ``url`` by ``clients`` concurrent clients (threads sharing one httpx
    client and its pool of connections): the wall time and each request's latency."""
    latencies: list[float] = []
    remaining = iter(range(requests))  # next() on it is atomic: each request is made once
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(limits=limits, timeout=120.0) as client:

        def one_client() -> None:
            for _ in remaining:
                start = time.perf_counter()
                client.get(url).raise_for_status()
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for done in [pool.submit(one_client) for _ in range(clients)]:
                done.result()
        return time.perf_counter() - start, latencies


def measure(db: str, clients: int, requests: int) -> dict[str, float]:
    """Serve ``db`` and load its table: first-request time, rate, p50 and p99."""
    gc.freeze()  # this process's imports: its full collections would add to the latencies
    with serving(db) as server:
        url = f"{server}/api/tables/{ENV_ID}"
        start = time.perf_counter()
        httpx.get(url, timeout=120.0).raise_for_status()
        first = time.perf_counter() - start
        wall, latencies = load(url, clients, requests)
    return {
        "first": first,
        "rate": requests / wall,
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
    }


def old_path(db: str, repeats: int) -> float:
    """Median seconds to compute the table from the stored payloads (once per request before)."""
    store = Store(db)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        table(store, ENV_ID).to_json()
        times.append(time.perf_counter() - start)
    store.close()
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__ or "", repeats=5)
    parser.add_argument("--rows", type=int, default=70, help="entries on the board")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=3000, help="table requests per backend")
    args = parse_positive(parser, argv, ["repeats", "rows", "clients", "requests"])
    print(f"machine: {machine_description()}")
    print(
        "note: the server, the clients and the database share this machine; on the development "
        "machine one of its 2 cores is busy with a training run "
        f"(load average at the start: {os.getloadavg()[0]:.1f})"
    )
    print(
        f"board: {args.rows} rows of {ENV_ID}; {args.clients} concurrent clients, "
        f"{args.requests} requests of GET /api/tables/{ENV_ID} per backend"
    )
    print(f"goal: >= {GOAL_RATE:.0f} requests/s and p99 < {GOAL_P99_S:.0f} s")
    print()
    header = f"{'backend':<28} {'requests/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'first ms':>9}"
    print(header)

    def report(name: str, db: str) -> None:
        fill(db, args.rows)
        result = measure(db, args.clients, args.requests)
        met = result["rate"] >= GOAL_RATE and result["p99"] < GOAL_P99_S
        print(
            f"{name + (' (goal met)' if met else ' (goal MISSED)'):<28} "
            f"{result['rate']:>10.0f} {1e3 * result['p50']:>9.1f} "
            f"{1e3 * result['p99']:>9.1f} {1e3 * result['first']:>9.0f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="nmn-board-load-") as folder:
        sqlite = str(Path(folder) / "board.sqlite")
        report("SQLite", sqlite)
        old_seconds = old_path(sqlite, args.repeats)
    with throwaway_postgres() as socket_dir, fresh_database(socket_dir) as url:
        report("PostgreSQL", url)
    print(
        f"{'old path (table per request)':<28} {1 / old_seconds:>10.1f} "
        f"{'':>9} {'':>9} {1e3 * old_seconds:>9.0f}"
    )
    print(
        "\nold path: the table computed from the stored payloads for each request, timed in "
        f"this process ({args.repeats} times, median): its requests/s is the most one core "
        "could serve that way"
    )


if __name__ == "__main__":
    main()
