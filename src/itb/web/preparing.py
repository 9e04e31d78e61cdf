"""What the clinic's web service answers before it is ready, in plain ASGI (no FastAPI import).

``itb serve --demo`` listens at once: :class:`Starting` answers while the web app is being built
(importing FastAPI, SQLAlchemy and the routes takes seconds), then hands every request to the app
once it is put in (:meth:`Starting.put_in`); :class:`WhilePreparing`, inside that app, answers
while the demo clinic is being filled. Both say the same 503 (:data:`PREPARING`) and let
``GET /api/health`` answer 200: the process is up and the pages will follow.
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
from typing import Any

from itb.web.security_headers import SecurityHeaders

DISCLAIMER = "For education, planning and research. Not a certified medical device."
#: What every page and API call answers (503) while ``itb serve --demo`` fills the demo clinic.
PREPARING = "The demo clinic is being prepared (about a minute); this page reloads by itself when it is ready."
#: The body of ``GET /api/health`` (``HealthOut``), byte for byte as the API writes it.
HEALTH_BODY = json.dumps({"status": "ok", "disclaimer": DISCLAIMER}, separators=(",", ":")).encode()


def error_page(code: int, message: str, title: str | None = None) -> str:
    """A plain page for an error met while browsing (the API answers JSON)."""
    title = title or {
        403: "Not allowed",
        404: "Not found",
        409: "Changed meanwhile",
        422: "Please check",
        502: "Pump",
    }.get(code, "Error")
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>'
        f'<body style="font:17px system-ui;max-width:40rem;margin:3rem auto"><h1>{title}</h1>'
        f'<p>{html.escape(message)}</p><p><a href="/">Back to the start</a></p>'
        f"<p><small>{DISCLAIMER}</small></p></body></html>"
    )


async def answer_preparing(scope: Any, send: Any) -> None:
    """503 with :data:`PREPARING` and ``Retry-After``: JSON under ``/api/``, else a page that reloads."""
    api = scope["path"].startswith("/api/")
    body = json.dumps({"detail": PREPARING}) if api else error_page(503, PREPARING, "Please wait")
    kind = b"application/json" if api else b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"retry-after", b"5"), (b"cache-control", b"no-store")]
    if not api:
        headers.append((b"refresh", b"5"))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


class WhilePreparing:
    """Until ``ready`` is set, every HTTP request but ``GET /api/health`` is answered by
    :func:`answer_preparing`."""

    def __init__(self, app: Any, *, ready: threading.Event) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.ready.is_set() or scope["path"] == "/api/health":
            await self.app(scope, receive, send)
            return
        await answer_preparing(scope, send)


class Starting:
    """The ASGI app a server listens with while the real one is built: ``GET /api/health`` 200
    (:data:`HEALTH_BODY`), every other request :func:`answer_preparing`, both with the security
    headers; from :meth:`put_in` on, every request goes to the real app.

    The server's lifespan is answered here at once; the real app's own lifespan is started when
    it is put in (its start-up done before it answers a request, its state shared with the
    requests as the server shares it) and stopped when the server stops."""

    def __init__(self, *, https: bool = False) -> None:
        self.app: Any = None
        self._own = SecurityHeaders(self._answer, https=https)
        self._server: tuple[asyncio.AbstractEventLoop, dict[str, Any]] | None = None  # its loop, its lifespan state
        self._app_lifespan: _Lifespan | None = None

    def put_in(self, app: Any) -> None:
        """From now on ``app`` answers every request (called from another thread than the server's)."""
        if self._server is not None:
            loop, state = self._server
            self._app_lifespan = asyncio.run_coroutine_threadsafe(_Lifespan.start(app, state), loop).result()
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        else:
            await self._own(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later
        elif scope["path"] == "/api/health" and scope["method"] == "GET":
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(HEALTH_BODY)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": HEALTH_BODY})
        else:
            await answer_preparing(scope, send)

    async def _lifespan(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._server = (asyncio.get_running_loop(), scope.setdefault("state", {}))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._app_lifespan is not None:
                    await self._app_lifespan.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Lifespan:
    """An app's lifespan, run beside the server's: start-up when put in, shut-down with the server."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
        self.task = asyncio.ensure_future(app(scope, self.to_app.get, self.from_app.put))

    @classmethod
    async def start(cls, app: Any, state: dict[str, Any]) -> _Lifespan:
        lifespan = cls(app, state)
        reply = await lifespan.exchange("lifespan.startup")
        if reply != "lifespan.startup.complete":
            raise RuntimeError(f"the web app did not start ({reply})")
        return lifespan

    async def stop(self) -> None:
        await self.exchange("lifespan.shutdown")

    async def exchange(self, kind: str) -> str:
        """Send ``kind``, return the type of the app's answer (the app's error if it failed instead)."""
        await self.to_app.put({"type": kind})
        reply = asyncio.ensure_future(self.from_app.get())
        await asyncio.wait({reply, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            message = reply.result()
            return f"{message['type']}: {message['message']}" if "message" in message else str(message["type"])
        reply.cancel()
        self.task.result()  # raises what the app raised
        return "no answer"
