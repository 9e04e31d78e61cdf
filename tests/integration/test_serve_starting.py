"""``itb serve --demo`` listens before its web app is built: meanwhile the starting server answers
``/api/health`` and the 503 "being prepared" exactly as the app does while the demo is filled;
once the app is put in, every request is the app's own answer; a failed build stops the server
and is reported as the command's error."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from itb.shell.clinic_server import serve_while_building
from itb.web.app import create_app
from itb.web.preparing import Starting

SECRET = "s" * 64
#: the headers a caller acts on (the date and the length aside)
COMPARED = (
    "content-type",
    "retry-after",
    "refresh",
    "cache-control",
    "content-security-policy",
    "x-frame-options",
    "strict-transport-security",
)


def answer(client: TestClient | httpx.Client, method: str, path: str, **kw: object) -> tuple:
    response = client.request(method, path, **kw)  # type: ignore[arg-type]
    return response.status_code, response.content, {h: response.headers.get(h) for h in COMPARED}


REQUESTS = [
    ("GET", "/api/health", {}),
    ("GET", "/login", {}),
    ("GET", "/", {}),
    ("GET", "/api/patients", {}),
    ("POST", "/api/auth/token", {"data": {"username": "admin", "password": "x"}}),
]


@pytest.mark.parametrize("https", [False, True])
def test_the_starting_server_answers_as_the_app_does_while_the_demo_is_prepared(clinic, https):
    preparing_app = TestClient(create_app(clinic, SECRET, https=https, ready=threading.Event()))
    starting = TestClient(Starting(https=https))
    for method, path, kw in REQUESTS:
        assert answer(starting, method, path, **kw) == answer(preparing_app, method, path, **kw), path
    assert starting.get("/api/health").status_code == 200 and starting.get("/login").status_code == 503


def test_once_put_in_every_request_is_the_apps_own_answer(clinic):
    app = create_app(clinic, SECRET)
    front = Starting()
    front.put_in(app)
    direct, through = TestClient(app), TestClient(front)
    for method, path, kw in [*REQUESTS, ("GET", "/openapi.json", {}), ("GET", "/no-such-page", {})]:
        status, body, headers = answer(through, method, path, **kw)
        expected = answer(direct, method, path, **kw)
        assert (status, headers) == expected[::2], path
        if path not in ("/", "/login"):  # the login form carries a fresh token each time
            assert body == expected[1], path
    assert through.get("/login").status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, limit: float = 60.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            got = check()
        except httpx.TransportError:
            got = None
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("no answer in time")


class Stop(Exception):
    pass


class Serving:
    """``serve_while_building(build)`` on a free port in a thread; ``web`` talks to it, ``raised``
    holds what it raised once it stopped."""

    def __init__(self, build) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.raised: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(build,), daemon=True)
        self.web = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        self.thread.start()

    def _run(self, build) -> None:  # type: ignore[no-untyped-def]
        try:
            serve_while_building(build, "127.0.0.1", self.port, https=False)
        except BaseException as exc:
            self.raised.append(exc)

    def stopped(self) -> list[type]:
        """Waits for the server to stop; the types of what it raised."""
        self.thread.join(30)
        self.web.close()
        assert not self.thread.is_alive()
        return [type(e) for e in self.raised]


def test_the_server_listens_before_the_app_is_built_then_serves_it_and_a_failed_build_stops_it(clinic):
    go, done = threading.Event(), threading.Event()

    def build(put_in) -> None:  # type: ignore[no-untyped-def]
        go.wait(60)
        put_in(create_app(clinic, SECRET))
        done.wait(60)
        raise Stop("the build failed")

    server = Serving(build)
    web = server.web
    assert wait_for(lambda: web.get("/api/health").status_code == 200)
    assert web.get("/login").status_code == 503  # not built yet
    go.set()
    assert wait_for(lambda: web.get("/login").status_code == 200)  # the app, ready (no demo to fill)
    assert web.get("/api/health").json()["status"] == "ok"
    done.set()
    assert server.stopped() == [Stop]


def test_the_apps_own_lifespan_starts_before_it_answers_and_stops_with_the_server():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        events.append("started")
        yield {"greeting": "hello"}
        events.append("stopped")

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/greeting")
    def greeting(request: Request) -> dict:
        events.append("answered")
        return {"greeting": request.state.greeting}

    stop = threading.Event()

    def build(put_in) -> None:  # type: ignore[no-untyped-def]
        put_in(app)
        stop.wait(60)
        raise Stop("stop")

    server = Serving(build)
    got = wait_for(lambda: (r := server.web.get("/api/greeting")).status_code == 200 and r.json())
    stop.set()
    assert server.stopped() == [Stop]
    assert got == {"greeting": "hello"}
    assert events[0] == "started" and events[-1] == "stopped" and "answered" in events


def test_a_setting_the_build_rejects_ends_itb_serve_demo_with_one_line(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "itb")
    argv = [exe, "serve", "--demo", "--db", str(tmp_path / "clinic.db"), "--port", str(free_port())]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env={**os.environ, "ITB_NOTIFY_INTERVAL": "soon"}
    )
    assert done.returncode == 2
    assert done.stderr == "itb: error: ITB_NOTIFY_INTERVAL: 'soon' is not a number of seconds\n"
