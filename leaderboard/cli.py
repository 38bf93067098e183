"""``nmn-leaderboard``: submit harness results, list and inspect the board, export it, serve it.

Commands (each takes ``--db PATH_OR_URL``; default: ``$NMN_LEADERBOARD_DB``, else a SQLite file
in the user's data directory):

- ``submit FILE``: validate a ``result.json`` (or a full submission) and store it;
- ``list [--env ID]``: the ranking by normalised IQM with its 95% CI, and the bounds;
- ``show ID``: one entry in full;
- ``remove ID``: delete an entry;
- ``verify ID --agent PATH``: re-run the harness on the agent and flag a claim outside the CI;
- ``export --html DIR``: a static site, one page per environment;
- ``serve [--host H] [--port P]``: the web app (localhost by default);
- ``seed [--env ID ...]``: store the reference agents' results so no board is empty.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from evaluate.model_options import add_model_arguments
from evaluate.schema import Interval, normalised_scale
from leaderboard.board import Table, table
from leaderboard.store import DuplicateSubmission, Store, UnknownEntry
from leaderboard.submission import SubmissionError, make_card, parse_submission_json
from leaderboard.validation import MAX_SUBMISSION_BYTES, validate

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PIPED_WIDTH = 160


def _interval(interval: Interval, digits: int) -> str:
    return f"{interval.value:.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def print_table(board: Table, console: Console | None = None) -> None:
    """Print the ranked board of one environment and its bounds (to stdout by default).

    A terminal gets its own width; piped output is 160 columns wide, so that rows never wrap
    for the scripts that read them.
    """
    console = console or Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
    ranking = RichTable(title=f"{board.env_id} leaderboard", title_justify="left")
    for heading in (
        "#",
        "id",
        "agent",
        "normalised IQM [95% CI]",
        "mean return [95% CI]",
        "regret",
        "kind",
    ):
        ranking.add_column(heading, overflow="fold")
    for row in board.rows:
        score, mean = row.normalised_iqm, row.mean_return
        cells = (
            str(row.rank),
            "" if row.id is None else str(row.id),
            row.agent,
            _interval(score, 3),
            _interval(mean, 1),
            "" if row.regret is None else f"{row.regret:.1f}",
            row.role,
        )
        ranking.add_row(*(Text(cell) for cell in cells))  # Text: names are not rich markup
    console.print(ranking)
    console.print(f"normalised IQM: {normalised_scale(board.bounds)}", markup=False, soft_wrap=True)
    for bound in board.bounds:
        error = "" if bound.standard_error is None else f" ± {bound.standard_error:.2f} s.e."
        console.print(f"bound {bound.name} ({bound.kind}): {bound.value:.2f}{error}", markup=False)


def _submit(store: Store, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.stat().st_size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(str(path), f"larger than the limit of {MAX_SUBMISSION_BYTES} bytes")
    submission = parse_submission_json(path.read_bytes())
    if args.name or args.author or args.url or args.description:
        card = make_card(
            name=args.name or submission.card.name,
            authors=args.author,
            url=args.url,
            description=args.description,
        )
        submission = submission.model_copy(update={"card": card})
    entry = store.add(validate(submission))
    print(
        f"stored entry {entry.id}: {entry.agent_name} on {entry.env_id}, normalised IQM "
        f"{_interval(submission.normalised_iqm(), 3)}"
    )
    return 0


def _list(store: Store, args: argparse.Namespace) -> int:
    env_ids = [args.env] if args.env else store.env_ids()
    if not env_ids:
        print("the leaderboard is empty; run `nmn-leaderboard seed` or submit a result.json")
    for env_id in env_ids:
        print_table(table(store, env_id))
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    entry = store.get(args.id)
    submission = entry.submission()
    if args.json:
        print(entry.payload)
        return 0
    card, result, task_set = submission.card, submission.result, submission.result.task_set
    lines = [
        f"entry {entry.id} ({entry.content_hash})",
        f"agent: {card.name}",
        f"authors: {', '.join(card.authors)}",
        f"url: {card.url or ''}",
        f"description: {card.description}",
        f"environment: {result.env_id}",
        f"task set: {task_set.version}, {task_set.n_tasks} tasks, sha256 {task_set.sha256}",
        f"normalised IQM: {_interval(submission.normalised_iqm(), 3)}",
        f"mean return: {_interval(result.agent.mean, 2)}",
        f"IQM: {_interval(result.agent.iqm, 2)}",
        f"submitted: {entry.submitted:%Y-%m-%d %H:%M:%S} UTC",
    ]
    lines += [f"bound {bound.name} ({bound.kind}): {bound.value:.2f}" for bound in result.bounds]
    print("\n".join(lines))
    return 0


def _remove(store: Store, args: argparse.Namespace) -> int:
    entry = store.remove(args.id)
    print(f"removed entry {entry.id}: {entry.agent_name} on {entry.env_id}")
    return 0


def _verify(store: Store, args: argparse.Namespace) -> int:
    from evaluate.model_options import use_torch_threads, vec_normalize_choice
    from leaderboard.verify import LOAD_WARNING, verify

    print(f"note: {LOAD_WARNING}", file=sys.stderr)
    entry = store.get(args.id)
    try:
        use_torch_threads(args.threads)
        outcome = verify(
            entry.submission(),
            args.agent,
            progress=not args.no_progress,
            vec_normalize=vec_normalize_choice(args),
        )
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    for check in outcome.checks:
        claimed, rerun = check.claimed, check.rerun
        verdict = "inside" if check.inside else "OUTSIDE"
        print(
            f"{check.statistic}: claimed {claimed.value:.3f}, re-run "
            f"{_interval(rerun, 3)}: claim {verdict} the re-run CI"
        )
    if outcome.consistent:
        print(f"entry {entry.id} is consistent with a re-run of {args.agent}")
        return 0
    print(f"entry {entry.id} is FLAGGED: a claim lies outside the re-run's confidence interval")
    return 2


def _seed(store: Store, args: argparse.Namespace) -> int:
    from leaderboard.seed import SEEDED_ENVS, seed

    added = seed(store, args.env or SEEDED_ENVS, progress=not args.no_progress)
    for entry in added:
        print(f"stored entry {entry.id}: reference {entry.agent_name} on {entry.env_id}")
    print(f"{len(added)} reference rows added")
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    from leaderboard.export import export_site

    print(f"exported the leaderboard to {export_site(store, args.html)}")
    return 0


def _serve(store: Store, args: argparse.Namespace) -> int:
    import uvicorn

    from leaderboard.web import create_app

    if args.host not in LOCAL_HOSTS:
        print(f"note: serving on {args.host}, reachable from other machines", file=sys.stderr)
    uvicorn.run(create_app(store), host=args.host, port=args.port)
    return 0


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
    submit.add_argument("--name", help="agent name (default: the submission's or result's)")
    submit.add_argument("--author", action="append", default=[], help="repeat for each author")
    submit.add_argument("--url", default=None, help="code or paper URL")
    submit.add_argument("--description", default="", help="a short description")
    submit.set_defaults(handler=_submit)

    listing = commands.add_parser("list", help="the ranking of each environment")
    listing.add_argument("--env", default=None, help="only this environment id")
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
        "--agent", required=True, help="the agent's model zip (or a reference name)"
    )
    add_model_arguments(verify)
    verify.set_defaults(handler=_verify)

    seed = commands.add_parser(
        "seed", parents=[harness], help="store the reference agents' results"
    )
    seed.add_argument("--env", action="append", default=[], help="environment id (repeatable)")
    seed.set_defaults(handler=_seed)

    export = commands.add_parser("export", help="write the board as a static site")
    export.add_argument("--html", required=True, metavar="DIR")
    export.set_defaults(handler=_export)

    serve = commands.add_parser("serve", help="serve the board and its JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="default: localhost only")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nmn-leaderboard``; refusals print a message and return 1."""
    args = build_parser().parse_args(argv)
    handler: Callable[[Store, argparse.Namespace], int] = args.handler
    store = Store(args.db)
    try:
        return handler(store, args)
    except (SubmissionError, DuplicateSubmission, FileNotFoundError) as error:
        print(f"refused: {error}", file=sys.stderr)
    except UnknownEntry as error:
        print(error.args[0], file=sys.stderr)
    finally:
        store.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
