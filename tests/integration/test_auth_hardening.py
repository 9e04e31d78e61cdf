"""Sign-in hardening, on SQLite and PostgreSQL: tokens end at once on a sign-out, a new password,
a new role or deactivation; failed sign-ins are throttled per account and per address (in the
database); password checks are bounded; the login form has its own CSRF token; the clinic's
password rule holds wherever a password is set; and a caregiver is refused on the staff pages
before any pump is read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from test_pages_security import browser, csrf_of, sign_in

from itb.adapters.db import models as m
from itb.adapters.db.engine import alembic_config
from itb.clinic import users as users_module
from itb.clinic.users import create_user, set_active, set_password, set_role
from itb.domain.errors import InvalidInput

NEW_PASSWORD = "juniper-socket-meadow-95"
WRONG = "not-the-password-at-all"


def api_sign_in(c: TestClient, username: str, password: str) -> Any:
    return c.post("/api/auth/token", data={"username": username, "password": password})


def api_token(c: TestClient, username: str, password: str) -> str:
    answer = api_sign_in(c, username, password)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def status_with(app: Any, token: str) -> int:
    """What a request with this bearer token gets (200: the token works; 401: it has ended)."""
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/api/patients").status_code


def page_session_works(c: TestClient) -> bool:
    answer = c.get("/", follow_redirects=False)
    return not answer.headers["location"].startswith("/login")


# ---------------------------------------------------------------------------------- revocation


def test_revocation_after_logout_ends_every_token_of_the_user_at_once(app, anonymous, users, passwords):
    first, second = api_token(anonymous, "nurse", passwords["nurse"]), api_token(anonymous, "nurse", passwords["nurse"])
    other = api_token(anonymous, "clinician", passwords["clinician"])
    page = browser(app, "nurse", passwords)
    assert status_with(app, first) == 200 and page_session_works(page)
    out = TestClient(app, headers={"Authorization": f"Bearer {first}"}).post("/api/auth/logout")
    assert out.status_code == 200 and out.json() == {"status": "signed out", "username": "nurse"}
    assert status_with(app, first) == status_with(app, second) == 401
    assert not page_session_works(page)  # the nurse's page session ended too
    assert status_with(app, other) == 200  # another user's token is untouched
    assert status_with(app, api_token(anonymous, "nurse", passwords["nurse"])) == 200  # signing in again works


def test_revocation_after_the_page_logout_ends_the_cookie_and_the_users_api_tokens(app, anonymous, users, passwords):
    token = api_token(anonymous, "nurse", passwords["nurse"])
    page = browser(app, "nurse", passwords)
    kept = page.cookies.get("itb_session")
    csrf = csrf_of(page.get("/worklist").text)
    assert page.post("/logout", data={"csrf": csrf}, follow_redirects=False).headers["location"] == "/login"
    assert status_with(app, token) == 401
    replayed = TestClient(app, cookies={"itb_session": kept})  # the old cookie, sent again
    assert replayed.get("/worklist", follow_redirects=False).headers["location"] == "/login?next=/worklist"


def test_revocation_after_a_password_change(app, clinic, anonymous, users, passwords, clock):
    token, page = api_token(anonymous, "nurse", passwords["nurse"]), browser(app, "nurse", passwords)
    with clinic.transaction() as s:
        set_password(s, "nurse", NEW_PASSWORD, by=users["admin"], at=clock())
    assert status_with(app, token) == 401 and not page_session_works(page)
    assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 401
    assert status_with(app, api_token(anonymous, "nurse", NEW_PASSWORD)) == 200


def test_revocation_after_a_role_change(app, clinic, anonymous, users, passwords, clock, db):
    token, page = api_token(anonymous, "nurse", passwords["nurse"]), browser(app, "nurse", passwords)
    with clinic.transaction() as s:
        set_role(s, "nurse", "clinician", by=users["admin"], at=clock())
    assert status_with(app, token) == 401 and not page_session_works(page)
    again = api_sign_in(anonymous, "nurse", passwords["nurse"])
    assert again.status_code == 200 and again.json()["role"] == "clinician"
    (entry,) = [e for e in db.audit() if e.action == "set_role"]
    assert entry.before == {"username": "nurse", "role": "nurse"} and entry.after["role"] == "clinician"


def test_revocation_after_deactivation(app, clinic, anonymous, users, passwords, clock, db):
    token, page = api_token(anonymous, "nurse", passwords["nurse"]), browser(app, "nurse", passwords)
    with clinic.transaction() as s:
        set_active(s, "nurse", False, by=users["admin"], at=clock())
    assert status_with(app, token) == 401 and not page_session_works(page)
    assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 401
    assert [e.action for e in db.audit()][-1] == "disable_user"


def test_a_token_without_a_version_or_of_an_unknown_user_is_refused(app, users):
    import jwt

    secret = app.state.secret
    unversioned = jwt.encode({"sub": "nurse", "role": "admin", "uid": users["nurse"].user_id}, secret, "HS256")
    unknown = jwt.encode({"sub": "x", "role": "admin", "uid": 999999, "ver": 0}, secret, "HS256")
    assert status_with(app, unversioned) == status_with(app, unknown) == 401


# ---------------------------------------------------------------------------------- throttling


def test_throttling_the_sixth_wrong_guess_of_an_account_gets_429_with_retry_after(app, anonymous, users, passwords,
                                                                                  clock, db):  # fmt: skip
    for _ in range(5):
        assert api_sign_in(anonymous, "nurse", WRONG).status_code == 401
    sixth = api_sign_in(anonymous, "nurse", WRONG)
    assert sixth.status_code == 429 and sixth.headers["Retry-After"] == "900"
    assert sixth.json()["detail"] == "too many failed sign-ins; try again in 15 minutes"
    assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 429  # the account waits, whatever
    elsewhere = TestClient(app, client=("198.51.100.2", 40000))
    assert api_sign_in(elsewhere, "nurse", passwords["nurse"]).status_code == 429  # from any address
    assert db.count(m.LoginAttempt) == 5  # a refused attempt is not stored: the wait does not grow
    clock.advance(minutes=14)
    later = api_sign_in(anonymous, "nurse", passwords["nurse"])
    assert later.headers["Retry-After"] == "60" and later.json()["detail"].endswith("try again in 1 minute")
    clock.advance(minutes=1)
    assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 200
    assert db.count(m.LoginAttempt, m.LoginAttempt.username == "nurse") == 0


def test_throttling_one_address_is_limited_over_every_account_and_another_still_signs_in(app, users, passwords):
    spraying = TestClient(app, client=("203.0.113.7", 40000))
    for i in range(20):  # one guess at each of 20 names: no account reaches its own limit
        assert api_sign_in(spraying, f"someone{i}", WRONG).status_code == 401
    refused = api_sign_in(spraying, "nurse", passwords["nurse"])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 900
    other = TestClient(app, client=("198.51.100.2", 40000))
    assert api_sign_in(other, "nurse", passwords["nurse"]).status_code == 200
    for i in range(19):  # the other address has 20 of its own
        assert api_sign_in(other, f"other{i}", WRONG).status_code == 401
    assert api_sign_in(other, "clinician", passwords["clinician"]).status_code == 200
    assert api_sign_in(other, "other19", WRONG).status_code == 401  # its 20th failure
    assert api_sign_in(other, "clinician", passwords["clinician"]).status_code == 429  # its own limit reached


def test_throttling_a_success_clears_the_accounts_failures(anonymous, users, passwords):
    for _ in range(2):  # 8 failures in all: without the clearing, the fifth would have been refused
        for _ in range(4):
            assert api_sign_in(anonymous, "nurse", WRONG).status_code == 401
        assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 200


def test_throttling_the_login_page_says_how_long_to_wait_with_429_and_retry_after(app, users, passwords):
    c = TestClient(app)
    for _ in range(5):
        assert sign_in(c, "nurse", WRONG).status_code == 401
    page = sign_in(c, "nurse", passwords["nurse"])
    assert page.status_code == 429 and page.headers["Retry-After"] == "900"
    assert "Too many failed sign-ins; try again in 15 minutes." in page.text
    assert "itb_session" not in c.cookies


def test_password_checks_beyond_the_bound_get_503_with_retry_after(anonymous, users, passwords, monkeypatch):
    monkeypatch.setattr(users_module, "VERIFICATION_WAIT_S", 0.05)
    slots = users_module._verifications
    taken = [slots.acquire(blocking=False) for _ in range(users_module.MAX_CONCURRENT_VERIFICATIONS)]
    try:
        assert all(taken)
        busy = api_sign_in(anonymous, "nurse", passwords["nurse"])
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert busy.json()["detail"] == "the server is busy checking other sign-ins; try again in 2 seconds"
    finally:
        for _ in taken:
            slots.release()
    assert api_sign_in(anonymous, "nurse", passwords["nurse"]).status_code == 200


def test_password_checks_never_run_more_than_the_bound_at_once(monkeypatch):
    real, running, most = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), [0], [0]
    lock = threading.Lock()
    hashed = real.hash("river-lumen-cactus-40")

    class Watched:
        def verify(self, password_hash: str, password: str) -> bool:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.03)
            with lock:
                running[0] -= 1
            return real.verify(password_hash, password)

    monkeypatch.setattr(users_module, "_hasher", Watched())
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(users_module.password_matches(hashed, "river-lumen-cactus-40")))
        for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 12 and most[0] == users_module.MAX_CONCURRENT_VERIFICATIONS


# ---------------------------------------------------------------------------------- the login form's CSRF


def test_login_csrf_a_post_without_this_browsers_form_token_signs_no_one_in(app, users, passwords, db):
    c = TestClient(app)
    bare = c.post("/login", data={"username": "nurse", "password": passwords["nurse"]}, follow_redirects=False)
    assert bare.status_code == 403 and "The sign-in form had expired" in bare.text
    attacker = TestClient(app)
    theirs = csrf_of(attacker.get("/login").text)  # a token of another browser's form (a forged post)
    c.get("/login")
    forged = {"username": "nurse", "password": passwords["nurse"], "csrf": theirs}
    assert c.post("/login", data=forged, follow_redirects=False).status_code == 403
    assert "itb_session" not in c.cookies and db.count(m.LoginAttempt) == 0  # not counted as a failure
    form = c.get("/login")
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie
    assert sign_in(c, "nurse", passwords["nurse"]).status_code == 303


def test_login_next_goes_only_to_a_path_of_this_site(app, users, passwords):
    for given, went in (("/patients", "/patients"), ("//evil.example", "/"), ("/\\evil.example", "/")):
        answer = sign_in(TestClient(app), "nurse", passwords["nurse"], next=given)
        assert answer.headers["location"] == went, given


# ---------------------------------------------------------------------------------- the password rule


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "123456789012", "passwordpassword", "{name}", "{name}-Harbor-2026!"])
def test_weak_passwords_are_refused_when_a_user_is_created_or_a_password_set(sessions, users, clock, weak, db):
    """The four kinds the rule refuses (repeated, a common run, a repeated word, the username),
    by ``create_user`` (``itb users create``, the demo) and ``set_password`` (``itb users password``)."""
    before = db.snapshot()
    with pytest.raises(InvalidInput) as created, sessions.begin() as s:
        create_user(s, "margaret.hale", weak.format(name="margaret.hale"), "nurse", by=users["admin"], at=clock())
    with pytest.raises(InvalidInput) as changed, sessions.begin() as s:
        set_password(s, "nurse", weak.format(name="nurse"), by=users["admin"], at=clock())
    for caught in (created, changed):
        assert {v.field for v in caught.value.violations} == {"password"}, caught.value.one_line()
    assert db.snapshot() == before


def test_a_password_for_an_unknown_user_names_the_username(sessions, users, clock):
    with pytest.raises(InvalidInput) as caught, sessions.begin() as s:
        set_password(s, "nobody", NEW_PASSWORD, by=users["admin"], at=clock())
    assert caught.value.one_line() == "username: there is no user 'nobody'"


# ---------------------------------------------------------------------------------- caregivers on staff pages

STAFF_PAGES = [
    ("GET", "/pumps/{pump}/refill"),
    ("POST", "/pumps/{pump}/refill"),
    ("GET", "/pumps/{pump}/program"),
    ("POST", "/pumps/{pump}/program"),
    ("GET", "/patients/{patient}/screening"),
    ("POST", "/patients/{patient}/screening"),
]
REVIEW_FORM = {
    "step": "review",
    "withdrawn": "2 mL",
    "added": "18 mL",
    "concentration": "500 mcg/mL",
    "rate": "120 mcg/day",
    "dose": "50 mcg",
}


@pytest.fixture
def pump_reads(clinic, pump, monkeypatch) -> list[int]:
    """The pump ids the clinic connects to from now on (every reading of a pump goes through ``connect``)."""
    reads: list[int] = []
    connect = clinic.gateway.connect

    def counted(pump_id: int) -> Any:
        reads.append(pump_id)
        return connect(pump_id)

    monkeypatch.setattr(clinic.gateway, "connect", counted)
    return reads


@pytest.mark.parametrize(("method", "path"), STAFF_PAGES)
def test_a_caregiver_is_refused_on_each_staff_page_with_no_pump_read(app, passwords, child, pump, pump_reads, db,
                                                                     method, path):  # fmt: skip
    carer = browser(app, "caregiver", passwords)
    csrf = csrf_of(carer.get("/family").text)
    url = path.format(pump=pump.id, patient=child.id)
    before = db.snapshot()
    answer = carer.get(url) if method == "GET" else carer.post(url, data={"csrf": csrf, **REVIEW_FORM})
    assert answer.status_code == 403
    assert "this page is for the clinic" in answer.text
    assert pump_reads == [] and db.snapshot() == before


def test_the_staff_review_of_a_refill_does_read_the_pump(app, passwords, pump, pump_reads):
    """The counter of the test above sees a reading: a clinician's review step reads the pump."""
    doctor = browser(app, "clinician", passwords)
    csrf = csrf_of(doctor.get(f"/pumps/{pump.id}/refill").text)
    answer = doctor.post(f"/pumps/{pump.id}/refill", data={"csrf": csrf, **REVIEW_FORM})
    assert answer.status_code == 200 and pump_reads == [pump.id]


# ---------------------------------------------------------------------------------- the migration


def test_migration_0010_adds_the_token_version_and_the_attempts_and_goes_back(engine):
    def present() -> tuple[bool, bool]:
        inspector = sa.inspect(engine)
        users = {c["name"] for c in inspector.get_columns("users")}
        return "token_version" in users, inspector.has_table("login_attempts")

    assert present() == (True, True)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), m.Base.metadata)
    assert [d for d in diffs if "login_attempts" in repr(d) or "token_version" in repr(d)] == []
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    for target, expected in (("0009", (False, False)), ("head", (True, True))):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if target == "0009" else command.upgrade)(config, target)
        engine.dispose()
        assert present() == expected
