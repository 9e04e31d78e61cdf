"""The clinic's REST API (FastAPI). OpenAPI at ``/openapi.json``, interactive docs at ``/docs``.

The routes are in :mod:`itb.web.api`, one router per resource; this module makes the app: the
clinic and the token secret on ``app.state``, the error handlers, the API and the pages.

Auth: OAuth2 password flow (``POST /api/auth/token``) giving a bearer token (JWT, HS256,
8 hours). Errors: 401 no or bad token; 403 role not allowed; 404 not found (also another
family's child, for a caregiver); 409 the pump changed since it was read; 422 bad input, naming
each field and rule, or limits not met (with every finding and its code); 502 the pump could
not be reached or refused. Nothing is stored when a request fails.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline

from itb.clinic.services import (
    Actor,
    Clinic,
    Conflict,
    Forbidden,
    ImportInvalid,
    NotFound,
    NotSent,
    PumpChangeFailed,
    RecordIncomplete,
)
from itb.domain.errors import InvalidInput
from itb.web.api import install_api
from itb.web.api.auth import DISCLAIMER
from itb.web.api.deps import TOKEN_HOURS, make_token
from itb.web.input_errors import field_messages, install_input_error_handlers
from itb.web.preparing import PREPARING, WhilePreparing, error_page
from itb.web.security_headers import SecurityHeaders

__all__ = ["DISCLAIMER", "PREPARING", "TOKEN_HOURS", "create_app", "error_page", "json_safe", "secret_key"]


def secret_key(data_dir: Path) -> str:
    """``$ITB_SECRET``, else a random key kept in the data directory (created once, mode 0600)."""
    if os.environ.get("ITB_SECRET"):
        return os.environ["ITB_SECRET"]
    path = data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot carry written as text: non-finite numbers, lone surrogates,
    any other object (an exception in a validation error's context)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return json_safe(str(value))


def install_error_handlers(app: FastAPI) -> None:
    """The clinic's errors as statuses: JSON for the API, a plain page for the pages."""

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        if not request.url.path.startswith("/api/"):
            return HTMLResponse(error_page(422, exc.one_line()), status_code=422)
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{"loc": v.field.split("."), "msg": v.rule, "type": "value_error"} for v in exc.violations]
            },
        )

    @app.exception_handler(RequestValidationError)
    async def unreadable(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422, with the echoed input made JSON-safe (a NaN, an infinity or a lone
        surrogate in the request made the default handler fail with a 500); a page's, as a page."""
        if not request.url.path.startswith("/api/"):
            return HTMLResponse(error_page(422, field_messages(exc.errors())), status_code=422)
        return JSONResponse(status_code=422, content={"detail": json_safe(list(exc.errors()))})

    @app.exception_handler(ImportInvalid)
    async def import_invalid(_: Request, exc: ImportInvalid) -> JSONResponse:
        errors = [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]
        return JSONResponse(status_code=422, content=json_safe({"errors": errors}))

    @app.exception_handler(NotSent)
    async def not_sent(request: Request, exc: NotSent) -> Response:
        """Limits not met (``NotSentOut``); a page's, as a page."""
        if not request.url.path.startswith("/api/"):
            return HTMLResponse(error_page(422, f"not sent to the pump: {exc}"), status_code=422)
        return JSONResponse(status_code=422, content={"detail": "not sent to the pump", "findings": exc.findings})

    for kind, code in (
        (NotFound, 404),
        (Forbidden, 403),
        (Conflict, 409),
        (PumpChangeFailed, 502),
        (RecordIncomplete, 503),
    ):

        def handler(request: Request, exc: Exception, code: int = code) -> Response:
            if not request.url.path.startswith("/api/"):  # a page: a page in return
                return HTMLResponse(error_page(code, str(exc)), status_code=code)
            return JSONResponse(status_code=code, content={"detail": str(exc)})

        app.add_exception_handler(kind, handler)
    install_input_error_handlers(app, error_page)


def create_app(clinic: Clinic, secret: str, *, https: bool = False, ready: threading.Event | None = None) -> FastAPI:
    """The clinic's web app; ``https``: it is served over HTTPS (HSTS, ``Secure`` cookies);
    ``ready``: answer only ``/api/health`` until it is set (see :class:`WhilePreparing`)."""
    # /docs and /redoc from the package's own copies of Swagger UI and ReDoc: no CDN, so they work offline
    app = FastAPIOffline(
        title="ITB clinic", description=f"Intrathecal baclofen pump clinic. {DISCLAIMER}", version="0.1"
    )
    app.state.clinic = clinic
    app.state.secret = secret
    app.state.https = https
    if ready is not None:
        app.add_middleware(WhilePreparing, ready=ready)  # inside SecurityHeaders: its answers get the headers too
    app.add_middleware(SecurityHeaders, https=https)
    install_error_handlers(app)
    install_api(app)

    from itb.web.pages import install_pages

    def page_token(user: Actor, token_version: int) -> str:
        return make_token(user, secret, token_version)

    install_pages(app, clinic, secret, page_token)
    return app
