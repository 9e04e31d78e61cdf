"""``itb serve --demo`` answers at once: while the demo clinic is being filled every page and API
call says so (503, ``Retry-After``; pages reload themselves), the health check answers, and once
the clinic is ready everything answers as usual."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from itb.web.app import PREPARING, create_app


def test_while_preparing_only_health_answers_then_everything_does(clinic):
    ready = threading.Event()
    client = TestClient(create_app(clinic, "s" * 64, ready=ready))
    assert client.get("/api/health").status_code == 200
    page = client.get("/login")
    assert page.status_code == 503
    assert "demo clinic is being prepared" in page.text and page.headers["refresh"] == "5"
    assert page.headers["retry-after"] == "5" and "content-security-policy" in page.headers
    api = client.post("/api/auth/token", data={"username": "admin", "password": "x"})
    assert (api.status_code, api.json()) == (503, {"detail": PREPARING})
    ready.set()
    assert client.get("/login").status_code == 200
    assert client.post("/api/auth/token", data={"username": "admin", "password": "x"}).status_code == 401


def test_without_a_demo_to_prepare_nothing_waits(clinic):
    client = TestClient(create_app(clinic, "s" * 64))
    assert client.get("/login").status_code == 200
    assert "refresh" not in client.get("/login").headers
