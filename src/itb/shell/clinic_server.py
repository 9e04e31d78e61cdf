"""Running the clinic's web service: listening on HOST:PORT, at once if need be.

:func:`serve_while_building` listens before the web app exists: the server answers with
:class:`itb.web.preparing.Starting` while ``build`` (in a thread, once the port is bound) imports
and builds the app, puts it in, and goes on (filling the demo clinic). This module imports
nothing heavy itself, so that the port is bound within a fraction of a second.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


class SetupError(ValueError):
    """A clinic setting in the environment is malformed (the message names it)."""


def https_from_env(env: dict[str, str] | None = None) -> bool:
    """``ITB_HTTPS`` (``1``/``true``/``yes``, default off): the service is served over HTTPS (behind
    a TLS proxy): the login cookie is then ``Secure`` and responses carry HSTS."""
    env = dict(os.environ) if env is None else env
    text = env.get("ITB_HTTPS", "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise SetupError(f"ITB_HTTPS: {text!r} is not yes or no (1/0, true/false)")


#: uvicorn's exit status when the server could not start (the port taken, say)
STARTUP_FAILURE = 3


def serve_app(app: Any, host: str, port: int, listening: Callable[[Any], None] | None = None) -> None:
    """Serve the ASGI ``app`` until stopped (Ctrl-C), as ``uvicorn.run`` does; ``listening(server)``
    is called once the port is bound."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and listening is not None:
                listening(self)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def serve_while_building(build: Callable[[Callable[[Any], None]], None], host: str, port: int, https: bool) -> None:
    """Listen on HOST:PORT at once and run ``build(put_in)`` in a thread once the port is bound;
    ``build`` calls ``put_in(app)`` when the web app is made (from then on it answers everything).

    If ``build`` raises, the server stops and the exception is raised here."""
    from itb.web.preparing import Starting

    front = Starting(https=https)
    failed: list[BaseException] = []

    def work(server: Any) -> None:
        try:
            build(front.put_in)
        except BaseException as exc:  # handed to the caller, in the main thread
            failed.append(exc)
            server.should_exit = True

    serve_app(front, host, port, lambda server: threading.Thread(target=work, args=(server,), daemon=True).start())
    if failed:
        raise failed[0]
