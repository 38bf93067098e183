"""The leaderboard web app (FastAPI): the board's pages and a JSON API.

Pages: ``/`` (environments), ``/env/{env_id}`` (interval plot, sortable ranking, bounds,
adaptation curves), ``/env/{env_id}/intervals.svg`` and ``/env/{env_id}/curve.png``. API
documentation: ``/docs`` (Swagger UI, served by the app itself from the copy of Swagger UI 5
that the ``fastapi-offline`` package ships: no CDN) over the OpenAPI 3.1 schema
``/openapi.json``. JSON API:

- ``GET /api``: the API's endpoints, each with its method and summary;
- ``GET /api/envs``: the environments with entries;
- ``GET /api/tables/{env_id}``: the ranked table of an environment;
- ``GET /api/submissions/{id}``: one stored submission in full;
- ``POST /api/submissions``: a submission (or a bare ``result.json``) as JSON, at most
  ``max_body_bytes``, with ``Authorization: Bearer <token>`` (a token made with
  ``nmn-leaderboard token create``). Answers ``201`` with the new entry, ``401`` without a
  valid token, ``413`` for an oversized body, ``415`` for a body that is not JSON, ``422``
  naming the invalid field and why, ``409`` for a duplicate; ``403`` on a board that takes
  model submissions only (``serve --board-played-only``);
- ``POST /api/models``: a model for the board to play itself, as ``multipart/form-data`` with
  the fields ``file`` (the model in the safe form), ``env_id`` and ``card`` (the agent's card as
  JSON: name, authors, url, description), with a token. The checks at the door
  (:mod:`leaderboard.intake`) run at once: ``202`` with the queued job, ``413`` for a file over
  the size cap, ``422`` naming what is refused and why, ``409`` for a model already queued;
- ``GET /api/jobs`` (the queued and running jobs) and ``GET /api/jobs/{id}``: a job's state,
  ``queued``, ``running``, ``done`` with its ``entry_id``, or ``failed`` with its ``reason``.

Reads are open; every write needs a token. Tables are computed once per change of the board
and served from memory (:class:`leaderboard.board.Boards`); reads never wait for a writer.
Requests whose ``Host`` header is not one of ``allowed_hosts`` are refused (``400``), so that a
page on another site cannot reach a board on localhost through DNS rebinding. Submitted bodies
are parsed as JSON and validated by pydantic; nothing submitted is ever unpickled or executed.
Responses carry a Content-Security-Policy that allows only the app's own script and styles, on
top of the pages' HTML escaping. ``nmn-leaderboard serve`` listens on localhost unless told
otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence

import gymnasium as gym
from fastapi import FastAPI, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evaluate.shifts import get_shift, shifts
from nmn_envs import check_env_id
from leaderboard.board import Boards, Table
from leaderboard.intake import DEFAULT_MAX_PARAMETERS, MAX_MODEL_BYTES, check_model
from leaderboard.jobs import DuplicateModel, JobQueue, UnknownJob
from leaderboard.pages import Links, env_page, index_page, static_file
from leaderboard.plots import curve_png, intervals_svg
from leaderboard.store import MAX_ENTRY_ID, DuplicateSubmission, Store, UnknownEntry
from leaderboard.submission import AgentCard, SubmissionError, make_card
from leaderboard.validation import MAX_SUBMISSION_BYTES, accept

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
"""The plots' SVG, opened on its own, styles its text inline; it runs nothing."""
DOCS_ASSETS = "/docs/assets"
DOCS_PACKAGE = ("fastapi_offline", "static")  # Swagger UI 5, which reads OpenAPI 3.1; 4 cannot
_MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript"}
_LINKS = Links(served=True)
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
MAX_SHOWN_FILE_NAME = 100
MAX_FORM_FIELD_BYTES = 64 * 2**10
"""The largest field of a model submission besides its file (the card, the environment id)."""


def create_app(
    store: Store,
    max_body_bytes: int = MAX_SUBMISSION_BYTES,
    allowed_hosts: Sequence[str] = LOCAL_HOST_NAMES,
    queue: JobQueue | None = None,
    board_played_only: bool = False,
    max_parameters: int = DEFAULT_MAX_PARAMETERS,
) -> FastAPI:
    """The web app over ``store``.

    Args:
        store: the stored submissions and write tokens.
        max_body_bytes: submissions larger than this are refused.
        allowed_hosts: the ``Host`` names the app answers (default: localhost only).
        queue: the board's job queue (default: the one in ``store``'s database).
        board_played_only: refuse result files; take model submissions only.
        max_parameters: the parameter cap of submitted models.
    """
    queue = queue or JobQueue(store)
    app = FastAPI(
        title="nmn-bench leaderboard",
        description=(
            "Meta-RL results scored against Bayes-optimal bounds (or the oracle's ceiling where"
            " there is none)."
        ),
        docs_url=None,
        redoc_url=None,
    )

    boards = Boards(store)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeaders)

    app.mount(DOCS_ASSETS, StaticFiles(packages=[DOCS_PACKAGE]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return docs_page(app.openapi_url or "/openapi.json", app.title)

    @app.get("/api")
    def api() -> list[dict]:
        """The endpoints of the JSON API: method, path and summary."""
        return [
            {
                "method": method.upper(),
                "path": path,
                "summary": operation.get("description", operation["summary"]).split("\n")[0],
            }
            for path, operations in app.openapi()["paths"].items()
            if path.startswith("/api")
            for method, operation in operations.items()
        ]

    @app.exception_handler(SubmissionError)
    async def _invalid(_request: Request, error: SubmissionError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid submission", "field": error.field, "reason": error.reason},
            status_code=422,
        )

    @app.exception_handler(DuplicateSubmission)
    async def _duplicate(_request: Request, error: DuplicateSubmission) -> JSONResponse:
        return JSONResponse(
            {"error": str(error), "content_hash": error.content_hash, "id": error.existing_id},
            status_code=409,
        )

    @app.exception_handler(UnknownEntry)
    @app.exception_handler(UnknownJob)
    async def _unknown(_request: Request, error: KeyError) -> JSONResponse:
        return JSONResponse({"error": error.args[0]}, status_code=404)

    @app.exception_handler(DuplicateModel)
    async def _duplicate_model(_request: Request, error: DuplicateModel) -> JSONResponse:
        return JSONResponse({"error": str(error), "job_id": error.job_id}, status_code=409)

    def known(env_id: str) -> str:
        try:
            check_env_id(env_id)
        except gym.error.Error as error:
            raise HTTPException(404, str(error)) from error
        return env_id

    def known_shift(env_id: str, shift: str | None) -> str | None:
        if shift is not None:
            try:
                get_shift(env_id, shift)
            except ValueError as error:
                raise HTTPException(404, str(error)) from error
        return shift

    @app.get("/api/envs")
    def envs() -> list[dict]:
        """The environments with entries, and how many each has."""
        return [{"env_id": env_id, "entries": count} for env_id, count in store.counts().items()]

    @app.get("/api/tables/{env_id}", response_class=JSONResponse)
    def env_table(env_id: str, shift: str | None = None) -> Response:
        """The ranked table of one environment (of its shift's track with ``shift``): rows, bounds
        and what the figures mean."""
        table = boards.table_json(known(env_id), known_shift(env_id, shift))
        return Response(table, media_type="application/json")

    @app.get("/api/submissions/{entry_id}")
    def submission(entry_id: int = Path(ge=1, le=MAX_ENTRY_ID)) -> Response:
        """One stored submission in full, as submitted."""
        return Response(store.get(entry_id).payload, media_type="application/json")

    def authorised(request: Request) -> None:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or store.token_name(secret.strip()) is None:
            raise HTTPException(
                401,
                "writing needs a valid token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.post("/api/submissions", status_code=201)
    async def submit(request: Request) -> dict:
        """Validate and store a submission (or a bare result.json) sent as JSON."""
        await run_in_threadpool(authorised, request)
        if board_played_only:
            raise HTTPException(
                403,
                "this board ranks only the models it plays itself: send the model "
                "(POST /api/models, nmn-leaderboard submit-model), not a result file",
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the submission as application/json")
        body = await _read_limited(request, max_body_bytes)
        submission = await run_in_threadpool(accept, body)
        entry = await run_in_threadpool(store.add, submission)
        return {"id": entry.id, "content_hash": entry.content_hash, "env_id": entry.env_id}

    @app.post("/api/models", status_code=202)
    async def submit_model(request: Request) -> dict:
        """Check a model (safe form) at the door and queue it for the board to play: fields
        file, env_id and card (JSON), as multipart/form-data."""
        await run_in_threadpool(authorised, request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
            raise HTTPException(415, "send the model as multipart/form-data (file, env_id, card)")
        body = await _read_limited(request, MAX_MODEL_BYTES + 2 * MAX_FORM_FIELD_BYTES)
        form = await Request(request.scope, _replay(body)).form(
            max_files=1, max_fields=2, max_part_size=MAX_FORM_FIELD_BYTES
        )
        upload, env_id, card_text = (form.get(name) for name in ("file", "env_id", "card"))
        if isinstance(upload, (str, type(None))):
            raise SubmissionError("file", "missing: the model file (MODEL.safe.zip)")
        if not isinstance(env_id, str) or not isinstance(card_text, str):
            raise SubmissionError("env_id" if not isinstance(env_id, str) else "card", "missing")
        card = _card(card_text)
        data = await upload.read()
        name = (upload.filename or "model")[:MAX_SHOWN_FILE_NAME]
        checked = await run_in_threadpool(check_model, data, env_id, card, max_parameters, name)
        job = await run_in_threadpool(queue.enqueue, checked, env_id, card)
        return job.to_json()

    @app.get("/api/jobs")
    def jobs() -> list[dict]:
        """The queued and running jobs, oldest first."""
        return [job.to_json() for job in queue.pending()]

    @app.get("/api/jobs/{job_id}")
    def job(job_id: int = Path(ge=1, le=MAX_ENTRY_ID)) -> dict:
        """A job's state: queued, running, done (with its entry_id) or failed (with its reason)."""
        return queue.get(job_id).to_json()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return index_page(
            [boards.table(env_id) for env_id in store.env_ids()], _LINKS, queue.pending()
        )

    @app.get("/env/{env_id}", response_class=HTMLResponse)
    def env(env_id: str, shift: str | None = None) -> str:
        board = boards.table(known(env_id), known_shift(env_id, shift))
        jobs = queue.pending(env_id) if shift is None else ()
        return env_page(board, _LINKS, list(shifts(env_id)), jobs)

    def ranked(env_id: str, shift: str | None) -> Table:
        board = boards.table(known(env_id), known_shift(env_id, shift))
        if not board.rows:
            raise HTTPException(404, f"no entries for {board.title}")
        return board

    @app.get("/env/{env_id}/curve.png")
    def curve(env_id: str, shift: str | None = None) -> Response:
        return Response(curve_png(ranked(env_id, shift)), media_type="image/png")

    @app.get("/env/{env_id}/intervals.svg")
    def intervals(env_id: str, shift: str | None = None) -> Response:
        return Response(
            intervals_svg(ranked(env_id, shift)),
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": SVG_POLICY},
        )

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        try:
            content = static_file(name)
        except KeyError as error:
            raise HTTPException(404, error.args[0]) from error
        return Response(content, media_type=_MEDIA_TYPES[name[name.rindex(".") :]])

    return app


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response that does not set its own
    (``/docs`` sets its own policy). Plain ASGI, not ``BaseHTTPMiddleware``, which costs every
    request a task and a copy of the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header, value in SECURITY_HEADERS.items():
                    headers.setdefault(header, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """FastAPI's Swagger UI page over the app's own copy of its assets, with a policy that allows
    those and the page's one inline script only."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title}: API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
    )
    html = page.body.decode()
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in inline
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def _replay(body: bytes) -> Receive:
    """An ASGI ``receive`` that hands over ``body`` (read already) in one message."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _card(text: str) -> AgentCard:
    """The agent's card from its JSON (a model submission's ``card`` field).

    Raises:
        SubmissionError: not a JSON object, or not a valid card.
    """
    try:
        fields = json.loads(text)
    except ValueError:
        raise SubmissionError("card", "not valid JSON") from None
    if not isinstance(fields, dict):
        raise SubmissionError("card", "expected a JSON object (name, authors, url, description)")
    return make_card(**fields)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    too_large = HTTPException(413, f"submission larger than the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large
    return bytes(body)
