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
   the patient whose pump alarms first, its three SVG plots included): p50, p95, max, the page size.
4. The chart page under load, each client a process of its own (as browsers are: no client waits
   for another's interpreter) with its own keep-alive connection, 3 warm-ups of each of its charts,
   then, all started together, ``--runs`` timed requests each. Two loads, each measured with 1
   client and with ``--clients`` (default 8) at once: the *same chart* (every client opens the
   chart of the pump whose alarm comes first) and *different charts* (client i opens the i-th
   soonest; the single client cycles through them all, as a clinic's morning opens them). For each:
   p50, p95, requests answered per second, and the ratios 8 clients / 1 of p50 and p95. Then the
   clinic's load: different charts from users who pause ``--think`` seconds (default 0.5, at
   random 0.5-1.5 times it) between pages, 1 user against 8 (the goal: p50 at most 2). The last
   line prints the p50 ratios and the processor's bound for requests sent back to back (clients /
   cores: with every request busy on a processor, 8 clients on 2 cores wait about 4x one).
5. In this process, on the same charts: their records and learned flow as the chart reads them
   (``views.chart``: rows of columns from selects prepared once; ``flow_of``: kept by content)
   against the way they were read before (ORM objects, each select built per request, the learned
   flow computed every time), alternating, ``--runs`` reads of each chart each way: p50s, ratio.

Screenshots (``--screenshots DIR``, no timing): the demo clinic (``fill_demo_clinic``, its clock
fixed at 2026-11-24 09:00) behind uvicorn, Chromium (``/usr/bin/chromium``) through Playwright;
saves ``worklist.png``, ``chart.png``, ``refill-review.png``, ``program-review.png`` and
``family.png`` at the ``--viewport`` size (default 1280x900; ``1024x1366`` for a tablet).

    python benchmarks/web_pages.py [--patients N] [--url URL] [--runs R] [--port PORT] [--clients C] [--think S]
    python benchmarks/web_pages.py --screenshots docs/screenshots [--viewport 1280x900]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, select, text

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
from itb.bootstrap import clinic_on
from itb.clinic import views
from itb.clinic.derived import LearnedFlow, learned_flow
from itb.clinic.services import SYSTEM, Actor, Clinic, ClinicConfig
from itb.clinic.triage_context import last_interrogation_status
from itb.clinic.users import create_user
from itb.simulation.demo_clinic import DEMO_USERS
from itb.web.chart import flow_of

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


def timed(client: httpx.Client, path: str, runs: int) -> tuple[list[float], httpx.Response]:
    for _ in range(3):
        client.get(path).raise_for_status()
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


def client_process(
    base: str, cookies: dict[str, str], paths: list[str], runs: int, start: Any, out: Any, think: float = 0.0
) -> None:
    """One client in a process of its own (its own connection, as a browser has): 3 warm-ups of
    each path, then, once every client is ready, ``runs`` timed requests cycling through ``paths``,
    ``think`` seconds apart on average (0.5 to 1.5 times it, at random: users do not click in step);
    puts (times in ms, start, end) on ``out``."""
    import random

    pause = random.Random(os.getpid())
    with httpx.Client(base_url=base, cookies=cookies, timeout=120) as client:
        for path in paths:
            for _ in range(3):
                client.get(path).raise_for_status()
        start.wait()
        times = []
        began = time.perf_counter()
        for i in range(runs):
            if think:
                time.sleep(think * pause.uniform(0.5, 1.5))
            t0 = time.perf_counter()
            r = client.get(paths[i % len(paths)])
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        out.put((times, began, time.perf_counter()))


def load_run(
    base: str, cookies: dict[str, str], paths_of: list[list[str]], runs: int, think: float = 0.0
) -> tuple[list[float], float]:
    """One client process per entry of ``paths_of``, all timed at once: every request's time and
    the requests answered per second (all of them over the span from the first start to the last end)."""
    ctx = mp.get_context("fork")  # a client starts at once: nothing of the server is in this process
    start, out = ctx.Barrier(len(paths_of)), ctx.Queue()
    procs = [ctx.Process(target=client_process, args=(base, cookies, p, runs, start, out, think)) for p in paths_of]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"a client failed (exit {proc.exitcode})")
    times = [t for mine, _, _ in results for t in mine]
    span = max(end for _, _, end in results) - min(began for _, began, _ in results)
    return times, len(times) / span


def chart_ratios(base: str, cookies: dict[str, str], charts: list[str], runs: int, think: float) -> dict[str, float]:
    """The chart page from 1 client and from ``len(charts)`` concurrent ones, for the same chart
    (every client opens the first) and for different charts (client i opens chart i; the single
    client cycles through them all), each request sent as soon as the last was answered; then
    different charts from users who pause ``think`` seconds between pages (the clinic's staff
    at work, far busier than they are). p50, p95, requests/s, and the ratios of the p50s and p95s."""
    clients = len(charts)
    ratios = {}
    for label, one_paths, many_paths, pause in (
        ("same chart", [charts[:1]], [charts[:1]] * clients, 0.0),
        ("different charts", [charts], [[c] for c in charts], 0.0),
        (f"users, {think:g} s apart", [charts], [[c] for c in charts], think),
    ):
        one, one_rate = load_run(base, cookies, one_paths, runs, pause)
        many, many_rate = load_run(base, cookies, many_paths, runs, pause)
        r50, r95 = pct(many, 50) / pct(one, 50), pct(many, 95) / pct(one, 95)
        ratios[label] = r50
        print(
            f"  {label:<20} 1 client: p50 {pct(one, 50):6.1f} ms, p95 {pct(one, 95):6.1f} ms, {one_rate:5.0f} req/s"
            f" | {clients} clients: p50 {pct(many, 50):6.1f} ms, p95 {pct(many, 95):6.1f} ms, {many_rate:5.0f} req/s"
            f" | ratio p50 {r50:.2f}, p95 {r95:.2f}"
        )
    return ratios


def bench_pages(base: str, runs: int, charts: list[str], think: float) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        login(client)
        print(f"\nGET as a clinician, {runs} timed requests each (after 3 warm-ups), wall time per request:")
        times, r = timed(client, "/worklist", runs)
        report("/worklist", times, r, f"   {r.text.count('data-urgency=')} items")
        times, r = timed(client, "/worklist?urgency=0", runs)
        report("/worklist?urgency=0", times, r, f"   {r.text.count('data-urgency=')} items")
        one, r = timed(client, charts[0], runs)
        report(f"{charts[0]} (chart), 1 client", one, r, f"   {r.text.count('<svg')} plots")
        cookies = dict(client.cookies)
    cores = os.cpu_count() or 1
    print(
        f"\nThe chart page, each client a process with its own connection, {runs} timed requests each"
        f" (after 3 warm-ups of each of its charts), the {len(charts)} charts whose pumps alarm soonest:"
    )
    ratios = chart_ratios(base, cookies, charts, runs, think)
    paced = ratios[f"users, {think:g} s apart"]
    print(
        f"\nchart page p50 ratio, {len(charts)} clients / 1: users {think:g} s apart {paced:.2f} (goal: at most 2:"
        f" {'met' if paced <= 2 else 'NOT met'}); back to back: same chart {ratios['same chart']:.2f},"
        f" different charts {ratios['different charts']:.2f} ({cores} cores: with every"
        f" request busy on a processor, {len(charts)} clients wait about {len(charts) / cores:.1f}x one)"
    )


def plain_chart_reads(clinic: Clinic, actor: Actor, patient_id: int) -> LearnedFlow:
    """The chart's records as they were read before (ORM objects, each select built per request)
    and its learned flow computed at every request: the alternative to ``views.chart`` + ``flow_of``."""
    with clinic.sessions() as s:
        patient = clinic.patient(s, actor, patient_id)
        pump = next(p for p in patient.pumps if p.status == "implanted")
        ids = [p.id for p in patient.pumps]
        for kind in (m.Appointment, m.Assessment, m.ScreeningTrial, m.SymptomReport):
            list(s.execute(select(kind).where(kind.patient_id == patient.id).order_by(kind.at)).scalars())
        versions = select(m.ProgramVersion).where(m.ProgramVersion.pump_id.in_(ids))
        list(s.execute(versions.order_by(m.ProgramVersion.at)).scalars())
        latest = m.PumpEvent.at.desc(), m.PumpEvent.seq.desc()
        list(s.execute(select(m.PumpEvent).where(m.PumpEvent.pump_id.in_(ids)).order_by(*latest).limit(60)).scalars())
        refills = s.execute(select(m.Refill).where(m.Refill.pump_id.in_(ids)).order_by(m.Refill.at)).scalars()
        history = sorted((r.at, r.expected_ml, r.withdrawn_ml, r.added_ml) for r in refills)
        last_interrogation_status(s, pump.id)
        clinic.pending_changes(s, pump.id)
        return learned_flow(pump, history, clinic.config.flow)


def chart_reads(clinic: Clinic, actor: Actor, patient_id: int) -> LearnedFlow:
    """The chart's records as ``chart_context`` reads them, and its learned flow (kept by content)."""
    records = views.chart(clinic, actor, patient_id)
    history = sorted((r.at, r.expected_ml, r.withdrawn_ml, r.added_ml) for r in records.refills)
    return flow_of(records.pump, history, clinic.config.flow)  # type: ignore[arg-type]


def bench_reads(engine: Engine, data_dir: str, charts: list[str], runs: int) -> None:
    """In this process, the charts' reads and learned flow both ways, alternating: p50s, ratio."""
    clinic = clinic_on(engine, ClinicConfig(data_dir=Path(data_dir)))
    with clinic.sessions() as s:
        user = s.execute(select(m.User).where(m.User.username == USERS["clinician"][0])).scalar_one()
        actor = Actor(user.username, user.role, user.id)
    ids = [int(c.rsplit("/", 1)[1]) for c in charts]
    times: dict[Callable, list[float]] = {plain_chart_reads: [], chart_reads: []}
    for i in range(runs * len(ids)):
        for read, mine in times.items():
            t0 = time.perf_counter()
            read(clinic, actor, ids[i % len(ids)])
            mine.append((time.perf_counter() - t0) * 1000)
    plain, fast = pct(times[plain_chart_reads], 50), pct(times[chart_reads], 50)
    print(
        f"\nThe chart's records and learned flow, in process ({len(ids)} charts, {runs * len(ids)} reads each way,"
        f" alternating): ORM objects + computed p50 {plain:.2f} ms, rows + kept p50 {fast:.2f} ms:"
        f" ratio {plain / fast:.2f}"
    )


def first_charts(engine: Engine, count: int) -> list[str]:
    """The charts a clinic's morning opens first: of the patients whose pumps alarm soonest."""
    with engine.connect() as c:
        alarm = m.Pump.low_reservoir_alarm_at
        implanted = select(m.Pump.patient_id).where(m.Pump.status == "implanted", alarm.is_not(None))
        soonest = implanted.order_by(alarm, m.Pump.id)
        return [f"/patients/{p}" for p in c.execute(soonest.limit(count)).scalars()]


def bench(patients: int, url: str | None, runs: int, seed: int, port: int, clients: int, think: float) -> None:
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
            charts = first_charts(engine, clients)
            bench_pages(base, runs, charts, think)
            bench_reads(engine, data_dir, charts, runs)
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
        "--think", type=float, default=0.5, help="seconds a user pauses between pages, on average (the paced load)"
    )
    parser.add_argument(
        "--screenshots", type=Path, metavar="DIR", help="save screenshots of the main pages (no timing)"
    )
    parser.add_argument("--viewport", default="1280x900", help="WIDTHxHEIGHT of the screenshots")
    args = parser.parse_args()
    if args.screenshots:
        width, height = (int(x) for x in args.viewport.lower().split("x"))
        screenshots(args.screenshots, {"width": width, "height": height})
    else:
        bench(args.patients, args.url, args.runs, args.seed, args.port, args.clients, args.think)


if __name__ == "__main__":
    sys.exit(main())
