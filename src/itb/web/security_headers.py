"""The security headers on every response (an ASGI middleware, so no route can forget them).

- ``Content-Security-Policy``: scripts only from this server's ``/static`` (no inline script, no
  ``eval``), no plug-ins, forms only to this server, and ``frame-ancestors 'none'``: no other
  site (nor another local origin) may frame a page, so a logged-in worklist cannot be overlaid.
  Styles may be inline (the pages' layout attributes); a style cannot run code. The two API
  documentation pages (``/docs``, ``/redoc``) start their viewer with an inline script of the
  packaged Swagger UI / ReDoc: only they allow inline script, and they hold no patient data.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``; ``nosniff``;
  ``Referrer-Policy: no-referrer`` (a calendar link carries a secret in its path: it must never
  leak to another site in a ``Referer``).
- ``Cache-Control: no-store`` on everything but the static assets: patient data is never kept
  in a shared or browser cache.
- ``Strict-Transport-Security`` when the service is served over HTTPS (``https=True``, the
  setting ``ITB_HTTPS``); the login cookie is then ``Secure`` too (see ``web.pages``).

OWASP Secure Headers Project and HTTP Headers Cheat Sheet are the sources of these choices.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: the packaged API viewers start with an inline script (and ReDoc runs a web worker from a blob)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
#: one year, the OWASP HSTS cheat sheet's example
HSTS = "max-age=31536000; includeSubDomains"


def headers_for(path: str, *, https: bool) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to ``path``."""
    headers = [
        (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else STRICT_CSP).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not path.startswith("/static/"):
        headers.append((b"cache-control", b"no-store"))
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    """Adds :func:`headers_for` to every HTTP response, replacing any of the same name."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"], https=self.https)
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
