"""``nmn-leaderboard``: submit harness results, list and inspect the board, export it, serve it.

Commands (each takes ``--db PATH_OR_URL``; default: ``$NMN_LEADERBOARD_DB``, else a SQLite file
in the user's data directory):

- ``submit FILE``: validate a ``result.json`` (or a full submission) and store it; with
  ``--server URL --token T`` post it to a shared board instead;
- ``list [--env ID] [--server URL]``: the ranking by normalised IQM with its 95% CI, the
  adaptation score, and the bounds (of a shared board with ``--server``); an id that is not
  one of the suite's environments is an error; each board names what its normalised
  scale's 1 is (the bayes value, or the oracle told the task where there is none);
- ``show ID``: one entry in full;
- ``remove ID``: delete an entry;
- ``verify ID --agent PATH [--private]``: re-run the harness on the agent and flag a claim
  outside the CI (``--private``: on the board's private task set);
- ``export --html DIR``: a static site, one page per environment;
- ``serve [--host H] [--port P] [--allowed-host NAME ...]``: the web app (localhost by default);
- ``seed [--env ID ...]``: store the reference agents' and the zoo's agents' results (the board
  plays them itself, through the cache of :mod:`evaluate.cache`: a second seed replays
  nothing) so no board is empty;
- ``token create NAME`` / ``token list`` / ``token revoke NAME``: the tokens that authorise
  ``POST /api/submissions`` and ``POST /api/models`` (the secret is printed once and stored hashed);
- ``submit-model MODEL.safe.zip --env ID``: queue a model for the board to play itself
  (:mod:`leaderboard.intake`, :mod:`leaderboard.jobs`); with ``--server URL --token T`` post it
  to a shared board and wait for its job's entry;
- ``worker [--once]``: play the queued models (:mod:`leaderboard.worker`); ``serve --workers N``
  starts N beside the server (default 1), ``serve --board-played-only`` refuses result files.

``list``, ``show``, ``export`` and ``verify`` only read: they open an existing SQLite file
read-only. User text (names, authors, descriptions) is printed with control and
bidirectional characters escaped (:func:`~leaderboard.submission.for_terminal`). Requests to
a ``--server`` never follow a redirect: the token goes to the address given, or nowhere.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from rich.table import Table as RichTable
from rich.text import Text

from evaluate.model_options import add_model_arguments
from evaluate.report import format_interval
from evaluate.shifts import get_shift
from nmn_envs import check_env_id
from leaderboard.board import Table, table
from leaderboard.intake import DEFAULT_MAX_PARAMETERS
from leaderboard.jobs import DEFAULT_LEASE_S, DEFAULT_MAX_TRIES
from leaderboard.worker import Limits, die_with_parent
from leaderboard.store import (
    DB_ENV_VAR,
    DuplicateSubmission,
    Store,
    StoreError,
    UnknownEntry,
    reason,
)
from leaderboard.submission import (
    PLAYED_BY_BOARD,
    AgentCard,
    Submission,
    SubmissionError,
    for_terminal,
    make_card,
    parse_submission,
    parse_submission_json,
)
from leaderboard.validation import MAX_SUBMISSION_BYTES, validate

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PIPED_WIDTH = 160
TOKEN_ENV_VAR = "NMN_LEADERBOARD_TOKEN"
READING_COMMANDS = ("list", "show", "export", "verify")
SERVER_TIMEOUT_S = 120.0
JOB_POLL_S = 2.0


def print_table(board: Table, console: Console | None = None) -> None:
    """Print the ranked board of one environment and its bounds (to stdout by default).

    A terminal gets its own width; piped output is 160 columns wide, so that rows never wrap
    for the scripts that read them.
    """
    console = console or Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
    ranking = RichTable(title=f"{board.title} leaderboard", title_justify="left")
    for heading in (
        "#",
        "id",
        "agent",
        "normalised IQM [95% CI]",
        "mean return [95% CI]",
        "adaptation [95% CI]",
        "regret",
        "kind",
        "source",
        "private [95% CI]",
    ):
        ranking.add_column(heading, overflow="fold")
    for row in board.rows:
        score, mean = row.normalised_iqm, row.mean_return
        cells = (
            str(row.rank),
            "" if row.id is None else str(row.id),
            for_terminal(row.agent),
            format_interval(score, 3),
            format_interval(mean, 1),
            "" if row.adaptation_score is None else format_interval(row.adaptation_score, 3),
            "" if row.regret is None else f"{row.regret:.1f}",
            row.role,
            "board" if row.provenance == PLAYED_BY_BOARD else "self",
            ""
            if row.private_score is None
            else format_interval(row.private_score, 3) + (" FLAGGED" if row.private_flagged else ""),
        )
        ranking.add_row(*(Text(cell) for cell in cells))  # Text: names are not rich markup
    console.print(ranking)
    normalised, adaptation = board.scales()
    console.print(f"normalised IQM: {normalised}", markup=False, soft_wrap=True)
    console.print(f"adaptation: {adaptation}", markup=False, soft_wrap=True)
    for bound in board.bounds:
        error = "" if bound.standard_error is None else f" ± {bound.standard_error:.2f} s.e."
        console.print(f"bound {bound.name} ({bound.kind}): {bound.value:.2f}{error}", markup=False)


def read_limited(path: Path, limit: int = MAX_SUBMISSION_BYTES) -> bytes:
    """The bytes of ``path`` (a file, a pipe, a device), refused past ``limit`` bytes.

    Raises:
        SubmissionError: the file is larger than ``limit`` or cannot be read.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except IsADirectoryError:
        raise SubmissionError(str(path), "is a folder, not a submission file") from None
    except OSError as error:
        raise SubmissionError(str(path), error.strerror or str(error)) from None
    if len(data) > limit:
        raise SubmissionError(str(path), f"larger than the limit of {limit} bytes")
    return data


def _submit(store: Store | None, args: argparse.Namespace) -> int:
    submission = parse_submission_json(read_limited(Path(args.file)))
    if args.name or args.author or args.url or args.description:
        card = make_card(
            name=args.name or submission.card.name,
            authors=args.author,
            url=args.url,
            description=args.description,
        )
        submission = submission.model_copy(update={"card": card})
    if args.server:
        return _post(submission.model_dump_json().encode(), args.server, args.token)
    assert store is not None
    stored = validate(submission)
    entry = store.add(stored)
    print(
        f"stored entry {entry.id}: {for_terminal(entry.agent_name)} on {entry.env_id}, "
        f"normalised IQM {format_interval(stored.normalised_iqm(), 3)}"
    )
    return 0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a redirect with its own HTTP error instead of following it (with the token)."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _ask(
    server: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    content_type: str = "application/json",
) -> Any:
    """The JSON answer of the board's server at ``server`` to a GET of ``path`` (a POST of
    ``body``, of ``content_type``, with ``token``, if given); a redirect is refused, not followed.

    Raises:
        SubmissionError: an address that is not http(s), a server that cannot be reached,
            redirects, refuses the token, refuses the submission (naming its field) or answers
            another error status (with the reason it gives).
    """
    if not server.startswith(("http://", "https://")):
        raise SubmissionError("--server", f"{server!r} is not an http:// or https:// URL")
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = server.rstrip("/") + path
    request = urllib.request.Request(
        url, data=body, method="GET" if body is None else "POST", headers=headers
    )
    try:
        with _OPENER.open(request, timeout=SERVER_TIMEOUT_S) as response:
            return json.loads(response.read(MAX_SUBMISSION_BYTES))
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            where = for_terminal(str(error.headers.get("Location", "another address")))
            credentials = " with the token" if token is not None else ""
            raise SubmissionError(
                "--server",
                f"{url} answered {error.code}, redirected to {where}: not followed{credentials}; "
                "give --server the board's own address",
            ) from None
        try:
            answer = json.loads(error.read(MAX_SUBMISSION_BYTES))
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        if error.code == 401 and token is not None:
            raise SubmissionError("--token", f"the server at {server} refused the token") from None
        if "field" in answer:
            raise SubmissionError(str(answer["field"]), str(answer.get("reason", ""))) from None
        detail = answer.get("error") or answer.get("detail") or error.reason
        raise SubmissionError("(server)", f"{server} answered {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SubmissionError("--server", f"cannot reach {server}: {reason}") from None
    except ValueError:
        raise SubmissionError("--server", f"{url} did not answer JSON") from None


def _token_of(token: str | None) -> str:
    """``--token``, else ``$NMN_LEADERBOARD_TOKEN``.

    Raises:
        SubmissionError: neither is given.
    """
    token = token or os.environ.get(TOKEN_ENV_VAR)
    if not token:
        raise SubmissionError(
            "--token", f"posting to a server needs a token (--token or ${TOKEN_ENV_VAR})"
        )
    return token


def _post(body: bytes, server: str, token: str | None) -> int:
    """POST a submission to a board's server; print what it answers."""
    created = _ask(server, "/api/submissions", body, _token_of(token))
    print(f"stored entry {created['id']} on {server} ({created['env_id']})")
    return 0


def _card(args: argparse.Namespace, default_name: str) -> AgentCard:
    return make_card(
        name=args.name or default_name,
        authors=args.author,
        url=args.url,
        description=args.description,
    )


def _submit_model(store: Store | None, args: argparse.Namespace) -> int:
    from evaluate.agents import model_name
    from leaderboard.intake import MAX_MODEL_BYTES, check_model
    from leaderboard.jobs import JobQueue

    path = Path(args.file)
    data = read_limited(path, MAX_MODEL_BYTES)
    card = _card(args, model_name(path))
    if args.server:
        return _post_model(data, path.name, args.env, card, args)
    assert store is not None
    checked = check_model(data, args.env, card, args.max_parameters, path.name)
    job = JobQueue(store).enqueue(checked, args.env, card)
    print(
        f"queued job {job.id}: {for_terminal(card.name)} on {args.env}; "
        "`nmn-leaderboard worker --once` plays it"
    )
    return 0


def _post_model(
    data: bytes, file_name: str, env_id: str, card: AgentCard, args: argparse.Namespace
) -> int:
    """POST a model to a board's server, then follow its job until it ends (unless
    ``--no-wait``); print what happened to it."""
    body, content_type = multipart_form(
        {"env_id": env_id.encode(), "card": card.model_dump_json().encode()},
        ("file", file_name, data),
    )
    server = args.server
    job = _ask(server, "/api/models", body, _token_of(args.token), content_type)
    print(f"queued job {job['id']} on {server}: {for_terminal(card.name)} on {env_id}")
    if args.no_wait:
        return 0
    shown = None
    while job["state"] not in ("done", "failed"):
        if job["state"] != shown:
            print(f"job {job['id']}: {job['state']}", flush=True)
            shown = job["state"]
        time.sleep(JOB_POLL_S)
        job = _ask(server, f"/api/jobs/{int(job['id'])}")
    if job["state"] == "failed":
        print(f"job {job['id']} failed: {for_terminal(str(job['reason']))}", file=sys.stderr)
        return 1
    entry = parse_submission(_ask(server, f"/api/submissions/{int(job['entry_id'])}"))
    print(f"job {job['id']} done: entry {job['entry_id']}, {entry.provenance}")
    _print_scores(entry)
    return 0


def _print_scores(submission: Submission) -> None:
    """The published and, for a model the board played, the private score of an entry."""
    print(f"normalised IQM on the published task set: {format_interval(submission.normalised_iqm(), 3)}")
    played = submission.played
    if played is not None:
        flag = (
            "  FLAGGED: below the published score beyond the intervals"
            if played.private_flagged
            else ""
        )
        print(
            "normalised IQM on the private task set: "
            f"{format_interval(played.private_normalised_iqm, 3)}{flag}"
        )


def multipart_form(
    fields: dict[str, bytes], file: tuple[str, str, bytes]
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``fields`` and one ``file`` (field, file name, bytes),
    and its content type (the standard library has no encoder of it)."""
    boundary = secrets.token_hex(16)
    field, file_name, data = file
    safe_name = "".join(c for c in file_name if c.isprintable() and c not in '"\\') or "model"
    parts = [
        (f'form-data; name="{name}"', "text/plain; charset=utf-8", value)
        for name, value in fields.items()
    ]
    parts.append(
        (f'form-data; name="{field}"; filename="{safe_name}"', "application/zip", data)
    )
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        f"Content-Type: {kind}\r\n\r\n".encode()
        + value
        + b"\r\n"
        for disposition, kind, value in parts
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _worker(store: Store, args: argparse.Namespace) -> int:
    from leaderboard.jobs import JobQueue
    from leaderboard.worker import Worker

    worker = Worker(
        JobQueue(store, max_tries=args.max_tries),
        Limits(wall_s=args.wall_s, cpu_s=args.cpu_s, memory_mib=args.memory_mib),
        lease_s=args.lease_s,
    )
    played = worker.run(once=args.once)
    print(f"worker {worker.name}: {played} job(s) played")
    return 0


def _list_server(server: str, env_id: str | None, shift: str | None) -> int:
    """Print the tables of a board's server (``env_id``'s alone, if given; its shift's track
    with ``shift``)."""
    env_ids = [env_id] if env_id else [row["env_id"] for row in _ask(server, "/api/envs")]
    if not env_ids:
        print(f"the leaderboard at {server} is empty")
    track = "" if shift is None else f"?{urllib.parse.urlencode({'shift': shift})}"
    for each in env_ids:
        print_table(Table.from_json(_ask(server, f"/api/tables/{urllib.parse.quote(each)}{track}")))
    return 0


def _list(store: Store | None, args: argparse.Namespace) -> int:
    if args.shift is not None and not args.env:
        raise ValueError("--shift lists one shift's track: name its environment with --env")
    if args.server:  # the server checks the names against its own suite
        return _list_server(args.server, args.env, args.shift)
    if args.env:
        try:
            check_env_id(args.env)
        except gym.error.Error as error:
            raise ValueError(str(error)) from None
    if args.shift is not None:
        get_shift(args.env, args.shift)
    assert store is not None
    env_ids = [args.env] if args.env else store.env_ids()
    if not env_ids:
        print("the leaderboard is empty; run `nmn-leaderboard seed` or submit a result.json")
    for env_id in env_ids:
        print_table(table(store, env_id, args.shift))
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    entry = store.get(args.id)
    submission = entry.submission()
    if args.json:
        print(entry.payload)  # JSON escapes every control character
        return 0
    card, result, task_set = submission.card, submission.result, submission.result.task_set
    lines = [
        f"entry {entry.id} ({entry.content_hash})",
        f"agent: {for_terminal(card.name)}",
        f"authors: {for_terminal(', '.join(card.authors))}",
        f"url: {for_terminal(str(card.url or ''))}",
        f"description: {for_terminal(card.description)}",
        f"environment: {result.env_id}",
        f"task set: {task_set.version}, {task_set.n_tasks} tasks, sha256 {task_set.sha256}",
        f"normalised IQM: {format_interval(submission.normalised_iqm(), 3)}",
        f"mean return: {format_interval(result.agent.mean, 2)}",
        f"IQM: {format_interval(result.agent.iqm, 2)}",
        f"submitted: {entry.submitted:%Y-%m-%d %H:%M:%S} UTC",
        f"provenance: {submission.provenance}",
    ]
    if submission.played is not None:
        played = submission.played
        lines += [
            f"played in job {played.job_id}, model sha256 {played.model_sha256}",
            f"private task set: normalised IQM {format_interval(played.private_normalised_iqm, 3)}, "
            f"mean return {format_interval(played.private_mean, 2)}"
            + (", FLAGGED: below the published score beyond the intervals"
               if played.private_flagged else ""),
        ]
    lines += [f"bound {bound.name} ({bound.kind}): {bound.value:.2f}" for bound in result.bounds]
    print("\n".join(lines))
    return 0


def _remove(store: Store, args: argparse.Namespace) -> int:
    entry = store.remove(args.id)
    print(f"removed entry {entry.id}: {for_terminal(entry.agent_name)} on {entry.env_id}")
    return 0


def _verify(store: Store, args: argparse.Namespace) -> int:
    from evaluate.model_options import use_torch_threads, vec_normalize_choice
    from leaderboard.verify import LOAD_WARNING, verify

    from leaderboard.verify import private_seed_from_environment

    private_seed = private_seed_from_environment() if args.private else None
    if args.trust_pickle:
        print(f"note: {LOAD_WARNING}", file=sys.stderr)
    entry = store.get(args.id)
    where = "on the private task set " if args.private else ""
    try:
        use_torch_threads(args.threads)
        outcome = verify(
            entry.submission(),
            args.agent,
            progress=not args.no_progress,
            vec_normalize=vec_normalize_choice(args),
            trust_pickle=args.trust_pickle,
            private_seed=private_seed,
        )
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    for check in outcome.checks:
        claimed, rerun = check.claimed, check.rerun
        verdict = "supported" if check.inside else "NOT SUPPORTED"
        print(
            f"{check.statistic}: claimed {format_interval(claimed, 3)}, re-run {where}"
            f"{format_interval(rerun, 3)}: {verdict}"
        )
    if outcome.consistent:
        print(f"entry {entry.id} is consistent with a re-run {where}of {args.agent}")
        return 0
    reason = (
        "the private re-run drops below the claimed interval"
        if args.private
        else "a claim lies outside the re-run's confidence interval"
    )
    print(f"entry {entry.id} is FLAGGED: {reason}")
    return 2


def _seed(store: Store, args: argparse.Namespace) -> int:
    from leaderboard.seed import SEEDED_ENVS, seed

    added = seed(store, args.env or SEEDED_ENVS, progress=not args.no_progress)
    for entry in added:
        print(f"stored entry {entry.id}: {entry.role} {entry.agent_name} on {entry.env_id}")
    print(f"{len(added)} reference and zoo rows added")
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    from leaderboard.export import export_site

    print(f"exported the leaderboard to {export_site(store, args.html)}")
    return 0


def _serve(store: Store, args: argparse.Namespace) -> int:
    import uvicorn

    from leaderboard.jobs import JobQueue
    from leaderboard.web import create_app

    if args.host not in LOCAL_HOSTS:
        print(f"note: serving on {args.host}, reachable from other machines", file=sys.stderr)
    allowed = [*LOCAL_HOSTS, *args.allowed_host]
    if args.host not in ("0.0.0.0", "::"):
        allowed.append(args.host)
    app = create_app(
        store,
        allowed_hosts=allowed,
        queue=JobQueue(store),
        board_played_only=args.board_played_only,
        max_parameters=args.max_parameters,
    )
    workers = _start_workers(store, args)
    # What the imports made (torch's modules among them, some 400,000 objects) lives as long as
    # the server: frozen, it is not rescanned by every full collection, which stalled all
    # requests in flight for 0.2 to 0.7 s.
    gc.freeze()
    try:
        uvicorn.run(app, host=args.host, port=args.port)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
    return 0


def _start_workers(store: Store, args: argparse.Namespace) -> list[subprocess.Popen]:
    """``args.workers`` processes of ``nmn-leaderboard worker`` on the server's database (its
    URL passed in the environment, not on a command line), stopped with the server (and by the
    kernel, if the server dies)."""
    command = [
        sys.executable, "-m", "leaderboard.cli", "worker",
        "--wall-s", str(args.wall_s), "--cpu-s", str(args.cpu_s),
        "--memory-mib", str(args.memory_mib), "--lease-s", str(args.lease_s),
        "--max-tries", str(args.max_tries),
    ]
    environment = {**os.environ, DB_ENV_VAR: store.url}
    return [
        subprocess.Popen(
            command, env=environment, preexec_fn=partial(die_with_parent, signal.SIGTERM)
        )
        for _ in range(args.workers)
    ]


def _token(store: Store, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.name:
            raise SubmissionError("token create", "needs a NAME")
        secret = store.create_token(args.name)
        print(f"created token {args.name!r}; give this secret to its holder (it is shown once):")
        print(secret)
    elif args.action == "revoke":
        if not args.name:
            raise SubmissionError("token revoke", "needs a NAME")
        store.revoke_token(args.name)
        print(f"revoked token {args.name!r}")
    else:
        tokens = store.tokens()
        for token in tokens:
            print(f"{for_terminal(token.name)}\tcreated {token.created:%Y-%m-%d %H:%M} UTC")
        if not tokens:
            print("no tokens; create one with `nmn-leaderboard token create NAME`")
    return 0


def _add_card_and_server_arguments(command: argparse.ArgumentParser, name_help: str) -> None:
    """The agent card's options (``--name``, ``--author``, ``--url``, ``--description``) and the
    shared board's (``--server``, ``--token``) of the submitting commands."""
    command.add_argument("--name", help=name_help)
    command.add_argument("--author", action="append", default=[], help="repeat for each author")
    command.add_argument("--url", default=None, help="code or paper URL")
    command.add_argument("--description", default="", help="a short description")
    command.add_argument(
        "--server", default=None, metavar="URL", help="post to this board's server instead"
    )
    command.add_argument(
        "--token", default=None, help=f"write token of the server (default: ${TOKEN_ENV_VAR})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nmn-leaderboard``."""
    parser = argparse.ArgumentParser(
        prog="nmn-leaderboard", description="The nmn-bench leaderboard of meta-RL results."
    )
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file or SQLAlchemy URL (default: $NMN_LEADERBOARD_DB, else a file in the "
        "user data directory)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="validate and store a result.json or submission")
    submit.add_argument("file")
    _add_card_and_server_arguments(submit, "agent name (default: the submission's or result's)")
    submit.set_defaults(handler=_submit)

    door = argparse.ArgumentParser(add_help=False)  # commands that check models at the door
    door.add_argument(
        "--max-parameters",
        type=int,
        default=DEFAULT_MAX_PARAMETERS,
        help=f"refuse models of more parameters (default: {DEFAULT_MAX_PARAMETERS:,})",
    )
    limits = argparse.ArgumentParser(add_help=False)  # commands that run workers
    defaults = Limits()
    limits.add_argument(
        "--wall-s", type=float, default=defaults.wall_s, help="wall time of one play (seconds)"
    )
    limits.add_argument(
        "--cpu-s", type=int, default=defaults.cpu_s, help="CPU time of one play (seconds)"
    )
    limits.add_argument(
        "--memory-mib",
        type=int,
        default=defaults.memory_mib,
        help="address space of one play, in MiB (the worker's imports count)",
    )
    limits.add_argument(
        "--lease-s",
        type=float,
        default=DEFAULT_LEASE_S,
        help="a claimed job's lease: another worker takes it over when it expires",
    )
    limits.add_argument(
        "--max-tries",
        type=int,
        default=DEFAULT_MAX_TRIES,
        help="tries of a job that keeps stopping before it fails",
    )

    submit_model = commands.add_parser(
        "submit-model",
        parents=[door],
        help="queue a model (safe form) for the board to play on the published and private "
        "task sets",
    )
    submit_model.add_argument("file", help="a model in the safe form (MODEL.safe.zip)")
    submit_model.add_argument("--env", required=True, help="the environment id to play it on")
    _add_card_and_server_arguments(submit_model, "agent name (default: the model file's)")
    submit_model.add_argument(
        "--no-wait", action="store_true", help="with --server: do not wait for the job to end"
    )
    submit_model.set_defaults(handler=_submit_model)

    worker = commands.add_parser(
        "worker", parents=[limits], help="play the queued models and store their entries"
    )
    worker.add_argument("--once", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(handler=_worker)

    listing = commands.add_parser("list", help="the ranking of each environment")
    listing.add_argument("--env", default=None, help="only this environment id")
    listing.add_argument(
        "--shift",
        default=None,
        metavar="NAME",
        help="the track of this shift of --env's task distribution (see nmn-eval --shift)",
    )
    listing.add_argument(
        "--server", default=None, metavar="URL", help="list this board's server instead"
    )
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="one entry in full")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print the stored submission JSON")
    show.set_defaults(handler=_show)

    remove = commands.add_parser("remove", help="delete an entry")
    remove.add_argument("id", type=int)
    remove.set_defaults(handler=_remove)

    harness = argparse.ArgumentParser(add_help=False)  # commands that run the harness
    harness.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    verify = commands.add_parser(
        "verify",
        parents=[harness],
        help="re-run the harness on an entry's agent (loads it on this machine)",
    )
    verify.add_argument("id", type=int)
    verify.add_argument(
        "--agent", required=True, help="the agent's saved model (or a reference name)"
    )
    verify.add_argument(
        "--private",
        action="store_true",
        help="re-score on the board's private task set (its seed in "
        "$NMN_LEADERBOARD_PRIVATE_SEED) and flag a drop beyond the intervals",
    )
    verify.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load Stable-Baselines3 zips, which are unpickled and can run code",
    )
    add_model_arguments(verify)
    verify.set_defaults(handler=_verify)

    seed = commands.add_parser(
        "seed",
        parents=[harness],
        help="store the reference agents' and the zoo agents' results (their rollouts are "
        "cached: a second seed replays nothing)",
    )
    seed.add_argument("--env", action="append", default=[], help="environment id (repeatable)")
    seed.set_defaults(handler=_seed)

    export = commands.add_parser("export", help="write the board as a static site")
    export.add_argument("--html", required=True, metavar="DIR")
    export.set_defaults(handler=_export)

    serve = commands.add_parser(
        "serve", parents=[door, limits], help="serve the board and its JSON API"
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: localhost only")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host header to answer besides localhost and --host (repeatable), e.g. the "
        "board's public name",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="workers started beside the server to play submitted models (default: 1)",
    )
    serve.add_argument(
        "--board-played-only",
        action="store_true",
        help="take model submissions only: refuse result files (POST /api/submissions)",
    )
    serve.set_defaults(handler=_serve)

    token = commands.add_parser("token", help="create, list or revoke the write tokens")
    token.add_argument("action", choices=("create", "list", "revoke"))
    token.add_argument("name", nargs="?", default=None)
    token.set_defaults(handler=_token)
    return parser


def _open_store(args: argparse.Namespace) -> Store | None:
    if args.command in ("submit", "submit-model", "list") and args.server:
        return None
    reading = args.command in READING_COMMANDS
    if reading:
        try:
            return Store(args.db, read_only=True)
        except StoreError:
            pass  # not an existing SQLite file: open it as usual (an empty store is created)
    return Store(args.db)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nmn-leaderboard``; refusals print a one-line message and return 1."""
    args = build_parser().parse_args(argv)
    handler: Callable[[Store, argparse.Namespace], int] = args.handler
    store = None
    try:
        store = _open_store(args)
        return handler(store, args)  # type: ignore[arg-type]
    except (SubmissionError, DuplicateSubmission) as error:
        print(f"refused: {for_terminal(str(error))}", file=sys.stderr)
    except UnknownEntry as error:
        print(error.args[0], file=sys.stderr)
    except (StoreError, ValueError) as error:
        print(f"nmn-leaderboard: error: {for_terminal(str(error))}", file=sys.stderr)
    except SQLAlchemyError as error:
        print(f"nmn-leaderboard: error: database: {for_terminal(reason(error))}", file=sys.stderr)
    finally:
        if store is not None:
            store.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
