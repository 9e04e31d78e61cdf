"""The login and logout pages.

The login form has no session yet, so its CSRF token is a double-submit one: ``GET /login`` sets
a random value in a cookie of its own (HttpOnly, SameSite=Strict, path ``/login``) and puts the
value's HMAC in the form; ``POST /login`` is taken only when the two agree, so another site cannot
sign a browser in (login CSRF, OWASP Cross-Site Request Forgery Prevention Cheat Sheet). The
sign-in itself is the API's (:func:`itb.clinic.signin.sign_in`): the same throttle (429 and
``Retry-After``), the same bound on password checks (503), the same token, held here in an
HttpOnly, SameSite=Strict cookie. Logging out ends every token and page session of the user.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic import signin
from itb.clinic.services import Actor, Clinic
from itb.web.api.auth import client_address
from itb.web.api.deps import TOKEN_HOURS

#: the session cookie: the signed token, as the API's bearer token
COOKIE = "itb_session"
#: the login form's double-submit cookie (a random value; the form carries its HMAC)
LOGIN_COOKIE = "itb_login"
LOGIN_COOKIE_HOURS = 12
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
EXPIRED_FORM = "The sign-in form had expired or did not come from this site: please sign in again."


def local_path(next: str) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or ``/\\host``)."""
    return next if next.startswith("/") and not next.startswith(("//", "/\\")) else "/"


def install_login_pages(
    router: APIRouter,
    clinic: Clinic,
    *,
    render: Callable[..., HTMLResponse],
    csrf_of: Callable[[str], str],
    session: Callable[[Request], tuple[Actor, str]],
    check_csrf: Callable[[str, str], None],
    make_token: Callable[[Actor, int], str],
) -> None:
    """Add ``/login`` (form and sign-in) and ``/logout`` to ``router``."""

    def cookie_options(request: Request) -> dict[str, Any]:
        return {"httponly": True, "samesite": "strict", "secure": bool(getattr(request.app.state, "https", False))}

    def login_form(
        request: Request, next: str, status: int = 200, error: str | None = None, retry_after_s: int | None = None
    ) -> HTMLResponse:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not _NONCE.fullmatch(nonce):
            nonce = secrets.token_urlsafe(24)  # 32 characters
        response = render(request, "login.html", None, f"login:{nonce}", status=status, error=error,
                          next=local_path(next))  # fmt: skip
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=LOGIN_COOKIE_HOURS * 3600, path="/login", **cookie_options(request)
        )
        if retry_after_s is not None:
            response.headers["Retry-After"] = str(retry_after_s)
        return response

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return login_form(request, next)

    @router.post("/login")
    def login(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        next: str = Form("/"),
        csrf: str = Form(""),
    ) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not _NONCE.fullmatch(nonce) or not hmac.compare_digest(csrf_of(f"login:{nonce}"), csrf):
            return login_form(request, next, 403, EXPIRED_FORM)
        try:
            signed = signin.sign_in(clinic, username, password, client_address(request))
        except (signin.TooManySignIns, signin.SignInBusy) as exc:
            status = 429 if isinstance(exc, signin.TooManySignIns) else 503
            message = str(exc)
            return login_form(request, next, status, f"{message[0].upper()}{message[1:]}.", exc.retry_after_s)
        if signed is None:
            return login_form(request, next, 401, "Wrong username or password.")
        response = RedirectResponse(local_path(next), 303)
        token = make_token(signed.actor, signed.token_version)
        response.set_cookie(COOKIE, token, max_age=TOKEN_HOURS * 3600, **cookie_options(request))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @router.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        signin.sign_out(clinic, actor)  # this cookie, and every other session and token of the user, ends
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE)
        return response
