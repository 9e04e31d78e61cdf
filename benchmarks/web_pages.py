"""The clinic's web pages: server-side render time on a large clinic, and screenshots for the README.

Render time (the default):

1. Bulk-loads a clinic of N patients (default 10,000) with the loader of ``clinic_worklist.py``
   (``clinic_rows`` + ``load``): into a SQLite file in a temporary directory, or, with ``--url``,
   into a fresh PostgreSQL schema ``itb_bench_web`` (dropped afterwards).
2. Runs the real ``itb serve --port PORT`` in a subprocess (``--port``, default a free one) with
   ``ITB_DATABASE_URL`` on that database and ``ITB_HOME`` on its data directory (the audit key).
3. Logs in through the login form as a clinician (the session cookie), then on one keep-alive
   connection: 3 warm-ups and ``--runs`` timed requests (default 30) of ``GET /worklist`` (every
   item), ``GET /worklist?urgency=0`` (the urgent ones) and ``GET /patients/{id}`` (the chart of
   the first patient on the worklist, its three SVG plots included): p50, p95, max, the page size.
4. The same chart page from ``--clients`` (default 8) concurrent clients, each on its own
   connection, ``--runs`` timed requests each; prints the chart's p50 with 1 client, with 8, and
   their ratio (the goal: at most 2).

Screenshots (``--screenshots DIR``, no timing): the demo clinic (``fill_demo_clinic``, its clock
fixed at 2026-11-24 09:00) behind uvicorn, Chromium (``/usr/bin/chromium``) through Playwright;
saves ``worklist.png``, ``chart.png``, ``refill-review.png``, ``program-review.png`` and
``family.png`` at the ``--viewport`` size (default 1280x900; ``1024x1366`` for a tablet).

    python benchmarks/web_pages.py [--patients N] [--url URL] [--runs R] [--port PORT] [--clients C]
    python benchmarks/web_pages.py --screenshots docs/screenshots [--viewport 1280x900]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text

from clinic_worklist import (
    USERS,
    clinic_rows,
    fresh_schema,
    load,
    pct,
    start_server,
    with_search_path,
)
from itb.adapters.audit_key import audit_key
from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate, session_factory
from itb.clinic.services import SYSTEM
from itb.clinic.users import create_user
from itb.simulation.demo_clinic import DEMO_USERS

SCHEMA = "itb_bench_web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_TODAY = datetime(2026, 11, 24, 9, 0)
#: the demo clinic's logins (``itb serve --demo``), by username
DEMO_PASSWORDS = {name: password for name, _role, password in DEMO_USERS}

# -- render time -----------------------------------------------------------------------------


def timed(
    client: httpx.Client, path: str, runs: int, start: threading.Barrier | None = None
) -> tuple[list[float], httpx.Response]:
    for _ in range(3):
        client.get(path).raise_for_status()
    if start is not None:
        start.wait()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return times, r


def report(label: str, times: list[float], r: httpx.Response, extra: str = "") -> None:
    print(
        f"  {label:<34}p50 {pct(times, 50):>7.1f} ms   p95 {pct(times, 95):>7.1f} ms   max {max(times):>7.1f} ms"
        f"   {len(r.content) / 1024:>7.0f} KiB{extra}"
    )


def login(client: httpx.Client) -> None:
    """Logs ``client`` in through the login form as the benchmark's clinician (the session cookie)."""
    username, password = USERS["clinician"]
    form = client.get("/login").text  # the login form's CSRF token (a double-submit cookie)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)[1]  # type: ignore[index]
    fields = {"username": username, "password": password, "next": "/worklist", "csrf": csrf}
    r = client.post("/login", data=fields)
    if r.status_code != 303 or "itb_session" not in client.cookies:
        raise SystemExit(f"login failed: {r.status_code} {r.text[:200]}")


def concurrent(base: str, cookies: httpx.Cookies, path: str, clients: int, runs: int) -> list[float]:
    """``clients`` threads, each on its own keep-alive connection, each 3 warm-ups then ``runs``
    timed requests of ``path``, all at once (a barrier starts the timed part together)."""
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def one() -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=120) as client:
            mine, _ = timed(client, path, runs, start)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def bench_pages(base: str, runs: int, clients: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        login(client)
        print(f"\nGET as a clinician, {runs} timed requests each (after 3 warm-ups), wall time per request:")
        times, r = timed(client, "/worklist", runs)
        report("/worklist", times, r, f"   {r.text.count('data-urgency=')} items")
        first = int(re.search(r'<tr class="u\d" data-urgency="\d">\s*<td><a href="/patients/(\d+)"', r.text)[1])
        times, r = timed(client, "/worklist?urgency=0", runs)
        report("/worklist?urgency=0", times, r, f"   {r.text.count('data-urgency=')} items")
        chart = f"/patients/{first}"
        one, r = timed(client, chart, runs)
        report(f"{chart} (chart), 1 client", one, r, f"   {r.text.count('<svg')} plots")
        many = concurrent(base, client.cookies, chart, clients, runs)
        report(f"{chart} (chart), {clients} clients", many, r)
    print(
        f"\nchart page p50: {pct(one, 50):.1f} ms with 1 client, {pct(many, 50):.1f} ms with {clients} concurrent"
        f" clients: ratio {pct(many, 50) / pct(one, 50):.2f} (goal: at most 2)"
    )


def bench(patients: int, url: str | None, runs: int, seed: int, port: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        admin = None
        if url is None:
            db_url = f"sqlite:///{Path(data_dir) / 'clinic.db'}"
        else:
            admin = create_engine(url)
            fresh_schema(admin, SCHEMA)
            db_url = with_search_path(url, SCHEMA)
        engine = make_engine(db_url)
        server = None
        try:
            migrate(engine)
            now = datetime.now().replace(microsecond=0)
            t0 = time.perf_counter()
            load(engine, clinic_rows(patients, now, seed))
            with session_factory(engine, audit_key(Path(data_dir))).begin() as s:  # the server's key
                for role, (username, password) in USERS.items():
                    create_user(s, username, password, role, by=SYSTEM, at=now)
            print(f"{engine.dialect.name}: {patients} patients loaded in {time.perf_counter() - t0:.1f} s")
            server, base = start_server(db_url, data_dir, port)
            bench_pages(base, runs, clients)
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            engine.dispose()
            if admin is not None:
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                admin.dispose()


# -- screenshots -------------------------------------------------------------------------------


def screenshots(out: Path, viewport: dict[str, int]) -> None:
    import socket

    import uvicorn
    from playwright.sync_api import sync_playwright

    from itb.bootstrap import clinic_on
    from itb.clinic.services import ClinicConfig
    from itb.clinic.worklist import worklist
    from itb.simulation.demo_clinic import fill_demo_clinic
    from itb.web.app import create_app

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        engine = make_engine(f"sqlite:///{Path(data_dir) / 'clinic.db'}")
        migrate(engine)
        clinic = clinic_on(engine, ClinicConfig(data_dir=Path(data_dir)), clock=lambda: DEMO_TODAY)
        fill_demo_clinic(clinic, today=DEMO_TODAY)
        with clinic.sessions() as s:
            listed = [i.patient_id for i in worklist(s, DEMO_TODAY, clinic.config.booking)]
            pumps = s.execute(
                select(m.Pump.patient_id, m.Pump.id, m.Pump.concentration_mcg_per_ml)
                .join(m.Patient)
                .where(m.Pump.status == "implanted", m.Patient.phase == "maintenance")
                .order_by(m.Pump.id)
            ).all()
        chart_patient = listed[0]
        refill_patient, refill_pump = next((pid, p) for pid, p, c in pumps if c < 2000 and pid not in listed)
        program_pump = next(p for pid, p, c in pumps if pid not in listed and p != refill_pump)

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        uv = uvicorn.Server(
            uvicorn.Config(create_app(clinic, "s" * 48), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        while not uv.started:
            if not thread.is_alive():
                raise SystemExit("uvicorn did not start")
            time.sleep(0.02)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                base = f"http://127.0.0.1:{port}"

                def session(username: str):  # type: ignore[no-untyped-def]
                    page = browser.new_context(base_url=base, viewport=viewport).new_page()
                    page.goto("/login")
                    page.fill("#username", username)
                    page.fill("#password", DEMO_PASSWORDS[username])
                    page.click("form[action='/login'] button[type=submit]")
                    page.wait_for_load_state()
                    return page

                def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
                    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    print(f"  {out / name}.png")

                clinician = session("clinician")
                shot(clinician, "worklist")
                clinician.goto(f"/patients/{chart_patient}")
                shot(clinician, "chart")
                clinician.goto(f"/pumps/{program_pump}/program")
                dose = float(re.search(r"Now: ([\d,.]+) mcg/day", clinician.inner_text("main"))[1].replace(",", ""))
                clinician.fill("#rate", f"{round(dose * 0.7)} mcg/day")  # a 30 % reduction: a soft limit
                clinician.get_by_role("button", name="Review").click()
                shot(clinician, "program-review")

                nurse = session("nurse")
                nurse.goto(f"/patients/{refill_patient}")
                nurse.get_by_role("button", name="Interrogate").click()  # the pump's count as of now
                nurse.wait_for_load_state()
                nurse.goto(f"/pumps/{refill_pump}/refill")
                counted = float(re.search(r"([\d.]+) mL", nurse.locator("form p strong").first.inner_text())[1])
                concentration = re.search(r"[\d.]+", nurse.input_value("#concentration"))[0]
                nurse.fill("#withdrawn", f"{counted:.1f} mL")
                nurse.fill("#added", "20 mL")
                nurse.fill("#concentration", f"{float(concentration) * 2:g} mcg/mL")  # a bridge bolus
                nurse.get_by_role("button", name="Review").click()
                shot(nurse, "refill-review")

                shot(session("parent1"), "family")
                browser.close()
        finally:
            uv.should_exit = True
            thread.join(10)
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument(
        "--url", default=None, help="a PostgreSQL URL (default: a SQLite file in a temporary directory)"
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0, help="the port of `itb serve` (default: a free one)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients on the chart page")
    parser.add_argument(
        "--screenshots", type=Path, metavar="DIR", help="save screenshots of the main pages (no timing)"
    )
    parser.add_argument("--viewport", default="1280x900", help="WIDTHxHEIGHT of the screenshots")
    args = parser.parse_args()
    if args.screenshots:
        width, height = (int(x) for x in args.viewport.lower().split("x"))
        screenshots(args.screenshots, {"width": width, "height": height})
    else:
        bench(args.patients, args.url, args.runs, args.seed, args.port, args.clients)


if __name__ == "__main__":
    sys.exit(main())
