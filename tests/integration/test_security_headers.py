"""Every response carries the security headers (issue 14, item 6); on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from test_pages_security import browser

from itb.web.app import create_app
from itb.web.security_headers import STRICT_CSP


def _security_headers_hold(answer, *, patient_data: bool = True) -> None:
    h = answer.headers
    assert h["content-security-policy"] == STRICT_CSP
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "script-src 'self';" in h["content-security-policy"]  # no inline script, no eval
    assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert (h.get("cache-control") == "no-store") is patient_data


def test_security_headers_on_pages_api_errors_and_static(app, passwords, child):
    nurse = browser(app, "nurse", passwords)
    for path in ("/worklist", f"/patients/{child.id}", "/login", "/patients/999999"):
        _security_headers_hold(nurse.get(path))
    api = TestClient(app)
    _security_headers_hold(api.get("/api/worklist"))  # a 401 too
    _security_headers_hold(api.get("/openapi.json"))
    _security_headers_hold(api.get("/static/htmx.min.js"), patient_data=False)


def test_only_the_api_viewers_allow_their_inline_start_script(app):
    for path in ("/docs", "/redoc"):
        answer = TestClient(app).get(path)
        assert answer.status_code == 200
        csp = answer.headers["content-security-policy"]
        assert "'unsafe-inline'" in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp


def test_https_setting_adds_hsts_and_plain_http_does_not(clinic, app):
    assert "strict-transport-security" not in TestClient(app).get("/login").headers
    secure = TestClient(create_app(clinic, "s" * 64, https=True), base_url="https://testserver")
    login = secure.get("/login")
    assert login.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "secure" in login.headers["set-cookie"].lower()  # the login form's cookie, Secure over HTTPS
    assert "secure" not in TestClient(app).get("/login").headers["set-cookie"].lower()
