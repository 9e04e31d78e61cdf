"""Answers to requests no route gets to judge: a body that is not text, a method the path does not
have, a page's query or form value of the wrong type. Each is a declared status, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


def field_messages(errors: Iterable[dict[str, Any]]) -> str:
    """A validation error's problems in the user's terms, one per field: ``week: Input should be a valid date``."""
    shown = []
    for e in errors:
        loc = [str(part) for part in e.get("loc", ()) if part not in ("body", "query", "path", "header", "cookie")]
        shown.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'is not valid')}")
    return "; ".join(shown)


def allowed_methods(app: FastAPI, scope: MutableMapping[str, Any]) -> str:
    """Every method the request's path has, across its routes (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install_input_error_handlers(app: FastAPI, error_page: Callable[[int, str], str]) -> None:
    """The 405's ``Allow`` made whole; an API body that cannot be decoded answered as the 422 of a
    body that is not JSON (FastAPI's default is an undeclared 400), a page's form that cannot be read
    (a field past 1 MB) as a 422 page; every other HTTP error as FastAPI answers it."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            headers = {**(exc.headers or {}), "Allow": allowed_methods(app, request.scope)}
            return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)
        if exc.status_code == 400 and not request.url.path.startswith("/api/"):
            return HTMLResponse(error_page(422, f"the form could not be read: {exc.detail}"), status_code=422)
        if exc.status_code == 400 and exc.__cause__ is not None:
            problem = {"loc": ["body"], "msg": "the body must be JSON in UTF-8", "type": "json_invalid"}
            return JSONResponse({"detail": [problem]}, status_code=422)
        return await http_exception_handler(request, exc)


__all__ = ["allowed_methods", "field_messages", "install_input_error_handlers"]
