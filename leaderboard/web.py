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
  naming the invalid field and why, ``409`` for a duplicate.

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

from nmn_envs import check_env_id
from leaderboard.board import Boards, Table
from leaderboard.pages import Links, env_page, index_page, static_file
from leaderboard.plots import curve_png, intervals_svg
from leaderboard.store import MAX_ENTRY_ID, DuplicateSubmission, Store, UnknownEntry
from leaderboard.submission import SubmissionError
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


def create_app(
    store: Store,
    max_body_bytes: int = MAX_SUBMISSION_BYTES,
    allowed_hosts: Sequence[str] = LOCAL_HOST_NAMES,
) -> FastAPI:
    """The web app over ``store``.

    Args:
        store: the stored submissions and write tokens.
        max_body_bytes: submissions larger than this are refused.
        allowed_hosts: the ``Host`` names the app answers (default: localhost only).
    """
    app = FastAPI(
        title="nmn-bench leaderboard",
        description="Meta-RL results scored against Bayes-optimal bounds.",
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
    async def _unknown(_request: Request, error: UnknownEntry) -> JSONResponse:
        return JSONResponse({"error": error.args[0]}, status_code=404)

    def known(env_id: str) -> str:
        try:
            check_env_id(env_id)
        except gym.error.Error as error:
            raise HTTPException(404, str(error)) from error
        return env_id

    @app.get("/api/envs")
    def envs() -> list[dict]:
        """The environments with entries, and how many each has."""
        return [{"env_id": env_id, "entries": count} for env_id, count in store.counts().items()]

    @app.get("/api/tables/{env_id}", response_class=JSONResponse)
    def env_table(env_id: str) -> Response:
        """The ranked table of one environment: rows, bounds and what the figures mean."""
        return Response(boards.table_json(known(env_id)), media_type="application/json")

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
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the submission as application/json")
        body = await _read_limited(request, max_body_bytes)
        submission = await run_in_threadpool(accept, body)
        entry = await run_in_threadpool(store.add, submission)
        return {"id": entry.id, "content_hash": entry.content_hash, "env_id": entry.env_id}

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return index_page([boards.table(env_id) for env_id in store.env_ids()], _LINKS)

    @app.get("/env/{env_id}", response_class=HTMLResponse)
    def env(env_id: str) -> str:
        return env_page(boards.table(known(env_id)), _LINKS)

    def ranked(env_id: str) -> Table:
        board = boards.table(known(env_id))
        if not board.rows:
            raise HTTPException(404, f"no entries for {env_id}")
        return board

    @app.get("/env/{env_id}/curve.png")
    def curve(env_id: str) -> Response:
        return Response(curve_png(ranked(env_id)), media_type="image/png")

    @app.get("/env/{env_id}/intervals.svg")
    def intervals(env_id: str) -> Response:
        return Response(
            intervals_svg(ranked(env_id)),
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
