"""Fixtures for the browser tests: the real web app behind uvicorn, driven by Chromium (Playwright).

One demo clinic per session (``fill_demo_clinic`` on a fresh SQLite file, its clock fixed at
``TODAY`` so every forecast and worklist is the same on every run), served by uvicorn in a
background thread on a free port. Chromium is Debian's (``/usr/bin/chromium``, or
``$ITB_CHROMIUM``), headless; without it the tests are skipped, or fail when ``$CI`` is set.
Each test gets a fresh browser context (no cookies) and a page that records console errors,
uncaught exceptions and failed sub-resources: a test fails on any it did not expect.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic.services import Clinic, ClinicConfig
from itb.clinic.worklist import worklist
from itb.simulation.demo_clinic import fill_demo_clinic

#: A Tuesday at 09:00: the clinic's clock stands still here for the whole session.
TODAY = datetime(2026, 11, 24, 9, 0)
SECRET = "browser-test-secret-" + "b" * 40
CHROMIUM = os.environ.get("ITB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000


def axe_script() -> str:
    """axe-core, as its Python package ships it."""
    return files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def check_accessible(page: Any, what: str) -> None:
    """No axe-core violation on the page as it stands. axe-core is evaluated by the test driver
    (not added as an inline script tag, which the pages' Content-Security-Policy refuses)."""
    page.evaluate(axe_script())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]
    assert not found, f"{what}: axe-core found:\n" + "\n".join(found)


def password(username: str) -> str:
    """The demo clinic's password of ``username`` (as ``itb serve --demo`` prints it)."""
    from itb.simulation.demo_clinic import DEMO_USERS

    return next(p for name, _role, p in DEMO_USERS if name == username)


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: the browser tests must run)")
    pytest.skip(message)


# ---------------------------------------------------------------------------------- the clinic


def _filled_demo(root: Path) -> Path:
    """The demo clinic's folder (database and audit key), filled once for the whole run: the first
    test process to ask fills it, under a lock; the others wait and copy it."""
    filled = root / "browser-demo-clinic"
    with open(root / "browser-demo-clinic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (filled / "filled").exists():
            shutil.rmtree(filled, ignore_errors=True)
            filled.mkdir()
            engine = make_engine(f"sqlite:///{filled / 'clinic.db'}")
            migrate(engine)
            clinic = clinic_on(engine, ClinicConfig(data_dir=filled), clock=lambda: TODAY)
            fill_demo_clinic(clinic, today=TODAY)
            assert clinic.clock() == TODAY  # the demo moves the clock while it fills, then puts it back
            with engine.connect() as connection:  # the write-ahead log folded into the file before it is copied
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            engine.dispose()
            (filled / "filled").touch()
    return filled


@pytest.fixture(scope="session")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """The demo clinic (40 patients, the demo logins), its clock fixed at ``TODAY``: this test
    process's own copy of the one filled for the run."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # shared by the test processes
    where = tmp_path_factory.mktemp("browser-clinic")
    shutil.copytree(_filled_demo(root), where, dirs_exist_ok=True)
    engine = make_engine(f"sqlite:///{where / 'clinic.db'}")
    clinic = clinic_on(engine, ClinicConfig(data_dir=where), clock=lambda: TODAY)
    yield clinic
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(clinic: Clinic) -> Iterator[str]:
    """The app behind uvicorn in a background thread; its base URL."""
    import uvicorn

    from itb.web.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(clinic, SECRET), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


@dataclass(frozen=True)
class Picks:
    """Patients chosen from the demo for the tests that change records (each used by one test only)."""

    on_worklist: frozenset[int]
    refill_patient: int  # maintenance, off the worklist, concentration below 2000 mcg/mL (a bridge bolus)
    program_refused_patient: int  # maintenance, off the worklist
    program_confirmed_patient: int  # maintenance, off the worklist, no program change in the last 24 h
    caregiver_child: dict[str, int] = field(default_factory=dict)  # parent username -> the child's id


@pytest.fixture(scope="session")
def picks(clinic: Clinic) -> Picks:
    with clinic.sessions() as s:
        listed = frozenset(i.patient_id for i in worklist(s, TODAY, clinic.config.booking))
        links = s.execute(select(m.User.username, m.CaregiverLink.patient_id).join(m.User)).all()
        linked = {pid for _, pid in links}
        rows = s.execute(
            select(m.Patient, m.Pump)
            .join(m.Pump, m.Pump.patient_id == m.Patient.id)
            .where(m.Pump.status == "implanted", m.Patient.phase == "maintenance")
            .order_by(m.Patient.id)
        ).all()
        free = [(p, pump) for p, pump in rows if p.id not in listed and p.id not in linked]
        refill = next(p.id for p, pump in free if pump.concentration_mcg_per_ml < 2000)
        rest = [(p, pump) for p, pump in free if p.id != refill]
        steady = [
            p.id
            for p, pump in rest
            if pump.last_program_change_at is None or (TODAY - pump.last_program_change_at).total_seconds() > 86400
        ]
        refused = next(p.id for p, _ in rest if p.id != steady[0])
        return Picks(listed, refill, refused, steady[0], {user: pid for user, pid in links})


# ---------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set ITB_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Problems:
    """What went wrong in a page that no test expected: console errors, exceptions, failed requests."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed_statuses: set[int] = set()

    def expect_status(self, status: int) -> None:
        """The test expects a page answered with this HTTP error (the browser logs it as an error)."""
        self.allowed_statuses.add(status)

    def unexpected(self) -> list[str]:
        allowed = [f"status of {s} " for s in self.allowed_statuses]
        expected = "console: Failed to load resource"
        return [p for p in self.seen if not (p.startswith(expected) and any(a in p for a in allowed))]


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def page(chromium: Any, server: str, problems: Problems) -> Iterator[Any]:
    """A page in a fresh context (no cookies), with ``server`` as its base URL."""
    context = chromium.new_context(base_url=server, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.on("console", lambda msg: msg.type == "error" and problems.seen.append(f"console: {msg.text} @ {pg.url}"))
    pg.on("pageerror", lambda exc: problems.seen.append(f"exception: {exc} @ {pg.url}"))
    pg.on("requestfailed", lambda req: problems.seen.append(f"request failed: {req.url} ({req.failure})"))
    yield pg
    context.close()
    unexpected = problems.unexpected()
    assert not unexpected, "the browser reported problems:\n" + "\n".join(unexpected)


@pytest.fixture
def login() -> Callable[[Any, str, str | None], None]:
    """``login(page, username, password=None)``: through the login form (the demo password by default)."""

    def do(pg: Any, username: str, given: str | None = None) -> None:
        pg.goto("/login")
        pg.fill("#username", username)
        pg.fill("#password", given if given is not None else password(username))
        pg.click("form[action='/login'] button[type=submit]")
        pg.wait_for_load_state()

    return do
