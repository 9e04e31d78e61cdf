"""The ``itb users`` commands on a SQLite file, in this process (a weak password's refusal also as
a process of its own): a weak password is refused naming the field and the rule (exit 2);
``password``, ``role`` and ``disable`` each end the user's tokens (the token version goes up) and
are audited."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from test_forecast_cli import itb_command

from itb_here import itb_here


def itb_users(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``itb users ARGS --db`` the test's clinic, in this process (``tests/itb_here.py``)."""
    return itb_here("users", *args, "--db", str(tmp_path / "clinic.db"), stdin=stdin, env={"ITB_HOME": str(tmp_path)})


def itb_users_process(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The same, as a process of its own."""
    env = {**os.environ, "ITB_HOME": str(tmp_path)}
    command = [*itb_command(), "users", *args, "--db", str(tmp_path / "clinic.db")]
    return subprocess.run(command, capture_output=True, text=True, env=env, input=stdin, timeout=120)


def user_row(tmp_path: Path, username: str) -> tuple[str, int, int]:
    with sqlite3.connect(tmp_path / "clinic.db") as db:
        row = db.execute("SELECT role, active, token_version FROM users WHERE username = ?", (username,)).fetchone()
    return row[0], row[1], row[2]


def test_itb_users_create_refuses_a_weak_password_naming_the_field_and_the_rule(tmp_path: Path):
    weak = itb_users_process(tmp_path, "create", "alice", "--role", "nurse", "--password", "passwordpassword")
    assert weak.returncode == 2
    assert weak.stderr.startswith("itb: error: password: is too easy to guess (strength 0 of 4, needs at least 3)")
    short = itb_users(tmp_path, "create", "alice", "--role", "nurse", stdin="alice-2026\n")  # read from stdin
    assert short.returncode == 2
    assert "password: must be at least 12 characters (it has 10); password: must not be or contain the username" in (
        short.stderr
    )


def test_itb_users_password_role_and_disable_each_end_the_users_tokens(tmp_path: Path):
    created = itb_users(tmp_path, "create", "alice", "--role", "nurse", "--password", "copper-heron-valley-83")
    assert created.returncode == 0, created.stderr
    assert user_row(tmp_path, "alice") == ("nurse", 1, 0)
    changed = itb_users(tmp_path, "password", "alice", stdin="juniper-socket-meadow-95\n")
    assert changed.returncode == 0, changed.stderr
    assert "sessions and tokens have ended" in changed.stdout
    assert itb_users(tmp_path, "role", "alice", "clinician").returncode == 0
    assert itb_users(tmp_path, "disable", "alice").returncode == 0
    assert user_row(tmp_path, "alice") == ("clinician", 0, 3)
    with sqlite3.connect(tmp_path / "clinic.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit_log WHERE entity = 'user' ORDER BY id")]
    assert actions == ["create_user", "set_password", "set_role", "disable_user"]


def test_itb_users_commands_name_a_bad_role_and_an_unknown_user(tmp_path: Path):
    created = itb_users(tmp_path, "create", "alice", "--role", "nurse", "--password", "copper-heron-valley-83")
    assert created.returncode == 0, created.stderr
    role = itb_users(tmp_path, "role", "alice", "boss")
    assert role.returncode == 2 and "role: must be one of admin, clinician, nurse, caregiver" in role.stderr
    unknown = itb_users(tmp_path, "disable", "bob")
    assert unknown.returncode == 2 and "username: there is no user 'bob'" in unknown.stderr
    weak = itb_users(tmp_path, "password", "alice", "--password", "123456789012")
    assert weak.returncode == 2 and "password: is too easy to guess" in weak.stderr


def test_itb_users_create_for_a_missing_patient_stores_no_user(tmp_path: Path):
    missing = itb_users(
        tmp_path, "create", "bob", "--role", "caregiver", "--patient", "9999", "--password", "copper-heron-valley-83"
    )
    assert missing.returncode == 2 and missing.stderr.startswith("itb: error: --patient:")
    with sqlite3.connect(tmp_path / "clinic.db") as db:
        assert db.execute("SELECT count(*) FROM users WHERE username = 'bob'").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'create_user'").fetchone() == (0,)


def test_itb_users_create_links_only_a_caregiver_to_a_patient(tmp_path: Path):
    nurse = itb_users(
        tmp_path, "create", "nia", "--role", "nurse", "--patient", "1", "--password", "copper-heron-valley-83"
    )
    assert nurse.returncode == 2 and "only a caregiver is linked to a patient" in nurse.stderr
