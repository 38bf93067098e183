"""A throwaway PostgreSQL server and fresh databases on it, for the tests and the benchmarks."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _postgres_tool(name: str) -> str:
    """A PostgreSQL server program (Debian installs them under /usr/lib/postgresql/N/bin)."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install Debian's postgresql package (make install-dev)"
        )
    return found


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server on a unix socket, deleted afterwards; yields the socket's folder."""
    root = Path(tempfile.mkdtemp(prefix="nmn-postgres-"))
    data, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
    run(
        _as_server_user(
            [
                _postgres_tool("initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        )
    )
    options = f"-k {socket_dir} -c listen_addresses='' -F"
    pg_ctl = _postgres_tool("pg_ctl")
    run(
        _as_server_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
        )
    )
    try:
        yield str(socket_dir)
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(socket_dir: str) -> Iterator[str]:
    """An empty database on the server at ``socket_dir``, dropped afterwards; yields its URL."""
    import psycopg

    name = f"board_{uuid.uuid4().hex}"
    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@/{name}?host={socket_dir}"
    finally:
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
