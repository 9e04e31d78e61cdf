"""Benchmark of the clinic service on PostgreSQL: the morning worklist at several clinic sizes.

For each size N (``--patients 1000,10000,50000``):

1. Creates a fresh schema (``itb_bench``, dropped first), migrates it and bulk-loads a realistic
   clinic with SQLAlchemy Core inserts: N patients (mixed origins, ages, risk flags), one implanted
   pump each with a 1-13 step program and a state from the last 120 days, the stored forecast
   computed for all at once with ``forecast_many`` (as ``Clinic._store_view`` stores it), the ERI
   date, about 3 appointments each (past done or missed; a future refill booked a few days before
   the alarm for most, some missing, late or overdue), refills (some flagged), program versions and
   a few thousand hash-chained audit entries. Prints the load time.
2. Starts the real ``itb serve --port P`` (``--port``, default a free one) in a subprocess, with
   ``ITB_DATABASE_URL`` carrying the schema as its search path and ``ITB_HOME`` its data directory.
3. What the worklist page asks, ``GET /api/worklist?limit=200`` (its rows): 3 warm-ups, then 50
   timed requests on one keep-alive connection: p50, p95, max (target: p95 < 150 ms); then, 20
   runs each, all the urgent items (``?max_urgency=0``), the page itself (``GET /worklist``) and
   the whole list (``GET /api/worklist``, with its item count: it lists a share of all pumps, so
   its cost grows with them).
4. In process, the first 200 items (``first_items``) against the whole list, and the whole list
   from the pumps the database chose at risk against building every implanted pump's situation
   (``select_at_risk=False``, the old path): medians, ratios, how many pumps were chosen.
5. On the largest clinic (``--seconds S`` > 0): a mixed load for S seconds from 4 client threads
   (80 % reads, 20 % writes, the worklist read as the page asks it: requests/s, p95 per kind,
   status codes) and an in-process breakdown of one whole worklist build (SQL, rows, rules, JSON).
6. Stops the server and drops the schema; at the end, per size, p50 and p95 of the page's rows and
   of the whole list, and the growth exponent in N of each p50 (least squares of log p50 against
   log N; target for the page's rows: <= 0.3).

    python benchmarks/clinic_worklist.py [--patients 1000,10000,50000] [--port P] [--url URL] [--seconds S]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, text
from sqlalchemy.orm import Session

from itb.adapters.audit_key import audit_key
from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate, session_factory
from itb.clinic.audit import jsonable
from itb.clinic.audit_chain import GENESIS, chain_value
from itb.clinic.services import SYSTEM
from itb.clinic.users import create_user
from itb.contracts.forecast import program_json
from itb.domain.devices import MODELS
from itb.domain.forecast import ReservoirState, forecast_many
from itb.domain.program import DailyBolus, DosingProgram, Step
from itb.domain.scheduling import DEFAULT_BOOKING, DEFAULT_CALENDAR, refill_booking_date
from itb.web.api.worklist import work_item_json

SCHEMA = "itb_bench"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_WORKLIST_P95_MS = 150.0
#: what the worklist page asks for: its rows (``WORKLIST_PAGE_ROWS``)
PAGE_PATH = "/api/worklist?limit=200"
PAGE_COOKIE = "itb_session"  # the pages' session (itb.web.login_pages.COOKIE)
TARGET_EXPONENT = 0.3
SECRET = "itb-bench-secret-" + "x" * 32
USERS = {"clinician": ("bench-clinician", "clinician-pass-1"), "nurse": ("bench-nurse", "nurse-pass-1")}
CLIENT_THREADS = 4
AUDIT_ENTRIES = 3000

FIRST = [
    "Ana",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Liam",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sami",
    "Tara",
    "Ugo",
]
LAST = [
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
]


# -- the clinic's data ---------------------------------------------------------------------


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def at_ten(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=10)


def random_program(rng: random.Random) -> DosingProgram:
    """1-13 steps (most patients one rate all day), sometimes a daily bolus; about 50-1000 mcg/day."""
    n = 1 if rng.random() < 0.55 else rng.randint(2, 13)
    base = min(max(rng.lognormvariate(5.5, 0.6), 40.0), 1000.0)
    starts = [0, *sorted(rng.sample(range(30, 1440, 30), n - 1))]
    steps = tuple(Step(s, round(base * rng.uniform(0.7, 1.3), 1)) for s in starts)
    boluses = ()
    if rng.random() < 0.1:
        boluses = (DailyBolus(rng.randrange(0, 1440, 15), float(rng.randint(10, 80)), float(rng.randint(5, 120))),)
    return DosingProgram(steps=steps, daily_boluses=boluses)


def scaled(program: DosingProgram, factor: float) -> DosingProgram:
    return DosingProgram(tuple(Step(s.start_minute, round(s.rate_mcg_per_day * factor, 1)) for s in program.steps))


def clinic_rows(n: int, now: datetime, seed: int) -> dict[str, list[dict]]:
    """Every row of a clinic of n patients, one implanted pump each (ids given, from 1)."""
    rng = random.Random(seed)
    today = now.date()
    rows: dict[str, list[dict]] = defaultdict(list)
    cases = []
    for pid in range(1, n + 1):
        cerebral = rng.random() < 0.6
        age_years = rng.uniform(4, 40) if cerebral else rng.uniform(18, 80)
        gmfcs = rng.choice([3, 4, 4, 5, 5]) if cerebral else None
        titrating = rng.random() < 0.1
        model = MODELS["peristaltic" if rng.random() < 0.7 else "valve-gated"]
        capacity = 40.0 if rng.random() < 0.6 else 20.0
        alarm_ml = 2.0 if rng.random() < 0.9 else 4.0
        program = random_program(rng)
        dose = program.daily_dose_mcg
        # the concentration a clinician would pick for a 2-6 month refill interval
        wanted = dose * rng.uniform(50, 180) / (capacity - alarm_ml)
        concentration = next((c for c in (500.0, 1000.0, 1500.0, 2000.0) if c >= wanted * 0.8), 2000.0)
        daily_volume = dose / concentration
        life = model.battery.days_to_eri(daily_volume)
        implant_days = rng.uniform(20, 200) if titrating else rng.uniform(30, 7 * 365)
        if implant_days > life - 30 and rng.random() < 0.97:  # most pumps are replaced at their ERI
            implant_days = rng.uniform(30, max(31, life - 30))
        implanted_at = (now - timedelta(days=implant_days)).replace(microsecond=0)
        rows["patients"].append(
            {
                "id": pid,
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "birth_date": today - timedelta(days=int(age_years * 365.25)),
                "origin": "cerebral" if cerebral else "spinal",
                "weight_kg": None if rng.random() < 0.1 else round(min(15 + age_years * 3, rng.gauss(70, 12)), 1),
                "gmfcs": gmfcs,
                "injury_t6_or_above": not cerebral and rng.random() < 0.4,
                "cannot_communicate": gmfcs == 5 and rng.random() < 0.5,
                "earlier_withdrawal": rng.random() < 0.03,
                "phase": "titrating" if titrating else "maintenance",
                "created_at": implanted_at - timedelta(days=rng.uniform(30, 120)),
            }
        )

        # the last known state (a refill or an interrogation, 0-120 days ago): 5-120 days left to the
        # alarm for most pumps, a few already past it
        span = (capacity - alarm_ml) / daily_volume  # days from a full reservoir to the alarm
        to_alarm = min(rng.uniform(5, 120) if rng.random() < 0.97 else rng.uniform(-10, 5), span)
        age = min(rng.uniform(0, 120), max(0.0, span - to_alarm), implant_days)
        state_at = (now - timedelta(days=age)).replace(microsecond=0)
        reservoir = min(max(alarm_ml + daily_volume * (age + to_alarm), 0.0), capacity)
        since_full = (capacity - reservoir) / daily_volume
        last_refill = state_at if since_full < 2 else max(state_at - timedelta(days=since_full), implanted_at)
        last_refill = last_refill.replace(microsecond=0)
        versions = rng.randint(1, 4)
        if titrating:
            last_change = (now - timedelta(days=rng.uniform(3, 30))).replace(microsecond=0)
        elif versions > 1:
            last_change = implanted_at + (state_at - implanted_at) * rng.uniform(0.2, 1.0)
        else:
            last_change = None
        if last_change is not None and last_change > state_at:  # a program change interrogates the pump
            reservoir = max(reservoir - daily_volume * (last_change - state_at) / timedelta(days=1), 0.0)
            state_at = last_change
        last_mri = (state_at + timedelta(days=rng.uniform(0, (now - state_at).days))) if rng.random() < 0.01 else None
        eri_at = implanted_at + timedelta(days=life)
        catheter_cm = round(rng.uniform(30, 80), 1)
        rows["pumps"].append(
            {
                "id": pid,
                "patient_id": pid,
                "model": model.name,
                "serial": f"{'SM' if model.name == 'peristaltic' else 'PR'}{pid:08d}",
                "reservoir_capacity_ml": capacity,
                "low_reservoir_alarm_ml": alarm_ml,
                "empty_ml": 0.0,
                "implanted_at": implanted_at,
                "catheter_length_cm": catheter_cm,
                "catheter_volume_ml": model.internal_tubing_ml + catheter_cm * model.catheter_ml_per_cm,
                "status": "implanted",
                "explanted_at": None,
                "titrating": titrating,
                "reading_at": state_at,
                "reading_reservoir_ml": round(reservoir, 3),
                "concentration_mcg_per_ml": concentration,
                "program": program_json(program),
                "program_version": versions,
                "daily_dose_mcg": dose,
                "last_refill_at": last_refill,
                "last_program_change_at": last_change,
                "last_mri_at": last_mri,
                "last_interrogation_at": state_at,
                "eri_at": eri_at.replace(microsecond=0),
                "eri_reached": eri_at <= now,
                "log_seen": 0,
                "version": 1,
            }
        )
        state = ReservoirState(state_at, capacity, rows["pumps"][-1]["reading_reservoir_ml"], concentration, alarm_ml)
        cases.append((state, program))

        changes = [implanted_at + (state_at - implanted_at) * k / versions for k in range(versions)]
        if last_change is not None:
            changes[-1] = last_change
        for v, at in enumerate(changes, start=1):
            p = program if v == versions else scaled(program, 0.6 + 0.4 * v / versions)
            rows["program_versions"].append(
                {
                    "pump_id": pid,
                    "version": v,
                    "program": program_json(p),
                    "daily_dose_mcg": p.daily_dose_mcg,
                    "at": at,
                    "by": "dr-bench",
                    "acknowledged": [],
                }
            )
        expected = rng.uniform(alarm_ml, 6.0)
        withdrawn = expected + rng.gauss(0, 0.3)
        flagged = rng.random() < 0.03
        rows["refills"].append(
            {
                "pump_id": pid,
                "at": last_refill,
                "expected_ml": expected,
                "withdrawn_ml": max(withdrawn, 0.0),
                "discrepancy_ml": withdrawn - expected + (rng.choice([-3.0, 3.0]) if flagged else 0.0),
                "added_ml": capacity - max(withdrawn, 0.0),
                "concentration_mcg_per_ml": concentration,
                "lot": f"L{rng.randint(1000, 9999)}",
                "by": "nurse-bench",
                "flagged": flagged,
                "reviewed_by": "dr-bench" if flagged and rng.random() < 0.3 else None,
                "bridge_bolus_mcg": None,
                "acknowledged": [],
            }
        )

    forecasts = forecast_many(cases)
    for pump, forecast in zip(rows["pumps"], forecasts):
        pump["low_reservoir_alarm_at"] = forecast.low_reservoir_alarm_at
        pump["empty_at"] = forecast.empty_at

    for pump in rows["pumps"]:
        pid, alarm = pump["id"], pump["low_reservoir_alarm_at"]

        def book(kind: str, at: datetime, status: str, pid: int = pid) -> None:
            rows["appointments"].append(
                {"patient_id": pid, "pump_id": pid, "kind": kind, "status": status, "at": at, "notes": None, "by": "n"}
            )

        book("refill", at_ten(pump["last_refill_at"].date()), "done")
        earlier = DEFAULT_CALENDAR.on_or_after(today - timedelta(days=rng.randint(60, 300)))
        roll = rng.random()
        book(rng.choice(["refill", "refill", "titration", "mri_check"]), at_ten(earlier),
             "done" if roll < 0.93 else "missed" if roll < 0.97 else "cancelled")  # fmt: skip
        roll = rng.random()
        if alarm is not None and alarm > now and roll < 0.85:  # the usual: a few days before the alarm
            day = refill_booking_date(today, pump["last_refill_at"].date(), alarm)
            book("refill", at_ten(day), "booked")
        elif alarm is not None and roll < 0.9:  # booked too late
            book("refill", at_ten(DEFAULT_CALENDAR.on_or_after(max(alarm.date(), today) + timedelta(days=3))), "booked")
        elif roll < 0.93:  # booked in the past, never marked
            book("refill", at_ten(DEFAULT_CALENDAR.on_or_after(today - timedelta(days=rng.randint(3, 20)))), "booked")
        if pump["titrating"]:
            change = pump["last_program_change_at"].date()
            day = DEFAULT_CALENDAR.on_or_after(max(change + timedelta(days=rng.randint(14, 19)), today))
            if rng.random() < 0.7:
                book("titration", at_ten(day), "booked")

    prev = GENESIS
    actions = ("refill", "book_appointment", "interrogate", "appointment_done", "change_program")
    for k in range(AUDIT_ENTRIES):
        at = (now - timedelta(days=30) + timedelta(seconds=k * 30 * 86400 // AUDIT_ENTRIES)).replace(microsecond=0)
        action = rng.choice(actions)
        entity_id = rng.randint(1, n)
        after = jsonable({"id": entity_id, "at": at, "by": "nurse-bench", "reservoir_ml": round(rng.uniform(2, 40), 2)})
        digest = chain_value(prev, at, "nurse-bench", action, "pump", entity_id, None, after)  # unkeyed: sealed later
        rows["audit_log"].append(
            {
                "at": at,
                "actor": "nurse-bench",
                "action": action,
                "entity": "pump",
                "entity_id": entity_id,
                "before": None,
                "after": after,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    rows["audit_head"].append({"id": 1, "last_hash": prev, "count": AUDIT_ENTRIES})
    return rows


def with_search_path(url: str, schema: str = SCHEMA) -> str:
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


def fresh_schema(admin: Engine, schema: str = SCHEMA) -> None:
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        c.execute(text(f"CREATE SCHEMA {schema}"))


def load(engine: Engine, rows: dict[str, list[dict]]) -> None:
    """Insert the rows of ``clinic_rows`` into a migrated, empty database (PostgreSQL or SQLite)."""
    tables = m.Base.metadata.tables
    order = ["patients", "pumps", "program_versions", "refills", "appointments", "audit_log", "audit_head"]
    with engine.begin() as c:
        c.execute(delete(tables["audit_head"]))  # the empty head the migrations made
        for name in order:
            c.execute(insert(tables[name]), rows[name])
        if engine.dialect.name == "postgresql":  # SQLite's next id follows max(id) by itself
            for name in order:
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, data_dir: str, port: int | None = None, wait_s: float = 60) -> tuple[subprocess.Popen, str]:
    """The real ``itb serve`` on ``port`` (a free one by default) on the benchmark's database (the
    URL, carrying any search path), with its data directory (``$ITB_HOME``: the audit key the
    users were made with) and the reminders' schedule off; returns once ``/api/health`` answers."""
    port = port or free_port()
    env = {**os.environ, "ITB_SECRET": SECRET, "ITB_DATABASE_URL": url, "ITB_HOME": data_dir}
    env["ITB_NOTIFY_INTERVAL"] = "0"
    itb = Path(sys.executable).with_name("itb")
    cmd = [str(itb), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"itb serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"itb serve did not start within {wait_s:g} s")


def token(base: str, role: str) -> dict[str, str]:
    username, password = USERS[role]
    r = httpx.post(f"{base}/api/auth/token", data={"username": username, "password": password}, timeout=10)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# -- measuring -----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def bench_worklist(
    base: str, headers: dict[str, str], runs: int = 50, path: str = "/api/worklist", json: bool = True
) -> tuple[list[float], int]:
    """Latencies in ms of ``runs`` GETs after 3 warm-ups, and how many items the last answer had
    (a page: 0)."""
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(3):
            client.get(path).raise_for_status()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        return times, len(r.json()) if json else 0


READS = (("patient", 35), ("pump", 25), ("appointments", 18), ("worklist", 2))
WRITES = (("book", 9), ("set_status", 6), ("register", 5))


class Load:
    """What the client threads share: the latencies, the codes, the booked appointments to close."""

    def __init__(self, n_patients: int, booked: list[int], seed: int) -> None:
        self.n = n_patients
        self.lock = threading.Lock()
        self.booked = booked
        self.times: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, Counter] = defaultdict(Counter)
        self.failures: list[str] = []
        self.seed = seed

    def take_booked(self) -> int | None:
        with self.lock:
            return self.booked.pop() if self.booked else None

    def run(self, base: str, headers: dict[str, str], seconds: float, worker: int) -> None:
        rng = random.Random(self.seed * 100 + worker)
        kinds, weights = zip(*(READS + WRITES))
        today = date.today()
        times: dict[str, list[float]] = defaultdict(list)
        codes: dict[str, Counter] = defaultdict(Counter)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                kind = rng.choices(kinds, weights)[0]
                method, path, body = self.request(kind, rng, today)
                if path is None:
                    continue
                t0 = time.perf_counter()
                r = client.request(method, path, json=body)
                times[kind].append((time.perf_counter() - t0) * 1000)
                codes[kind][r.status_code] += 1
                if r.status_code >= 300:
                    with self.lock:
                        self.failures.append(f"{method} {path} {body} -> {r.status_code} {r.text[:200]}")
                elif kind == "book":
                    with self.lock:
                        self.booked.append(r.json()["id"])
        with self.lock:
            for kind, values in times.items():
                self.times[kind].extend(values)
                self.codes[kind].update(codes[kind])

    def request(self, kind: str, rng: random.Random, today: date) -> tuple[str, str | None, dict | None]:
        pid = rng.randint(1, self.n)
        if kind == "patient":
            return "GET", f"/api/patients/{pid}", None
        if kind == "pump":
            return "GET", f"/api/pumps/{pid}", None
        if kind == "appointments":
            start = DEFAULT_CALENDAR.on_or_after(today + timedelta(days=rng.randint(0, 60)))
            end = start + timedelta(days=rng.randint(0, 2))
            return "GET", f"/api/appointments?status=booked&start={start}&end={end}", None
        if kind == "worklist":
            return "GET", PAGE_PATH, None
        if kind == "book":
            day = DEFAULT_CALENDAR.on_or_after(today + timedelta(days=rng.randint(1, 90)))
            at = at_ten(day) + timedelta(minutes=rng.randrange(0, 360, 15))
            visit = rng.choice(["refill", "titration", "mri_check"])
            return "POST", "/api/appointments", {"patient_id": pid, "pump_id": pid, "kind": visit, "at": at.isoformat()}
        if kind == "set_status":
            appointment = self.take_booked()
            if appointment is None:
                return "POST", None, None
            status = rng.choice(["done", "done", "cancelled", "missed"])
            return "POST", f"/api/appointments/{appointment}/status", {"status": status}
        cerebral = rng.random() < 0.6
        return (
            "POST",
            "/api/patients",
            {
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "birth_date": str(today - timedelta(days=rng.randint(4 * 365, 70 * 365))),
                "origin": "cerebral" if cerebral else "spinal",
                "weight_kg": round(rng.uniform(15, 95), 1),
                "gmfcs": rng.randint(2, 5) if cerebral else None,
                "injury_t6_or_above": not cerebral and rng.random() < 0.4,
            },
        )


def mixed_load(base: str, tokens: list[dict[str, str]], n: int, booked: list[int], seconds: float, seed: int) -> None:
    load_state = Load(n, booked, seed)
    threads = [
        threading.Thread(target=load_state.run, args=(base, tokens[w % len(tokens)], seconds, w))
        for w in range(CLIENT_THREADS)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = sum(len(v) for v in load_state.times.values())
    rate = total / elapsed
    print(f"\nmixed load: {CLIENT_THREADS} client threads, {elapsed:.1f} s, {total} requests, {rate:.0f} req/s")
    print(f"  {'kind':<13}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  status codes")
    for kind, _ in READS + WRITES:
        values = load_state.times.get(kind, [])
        if not values:
            continue
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(load_state.codes[kind].items()))
        print(
            f"  {kind:<13}{len(values):>7}{len(values) / elapsed:>8.1f}{pct(values, 50):>9.1f}"
            f"{pct(values, 95):>9.1f}{max(values):>9.1f}  {codes}"
        )
    reads = sum(len(load_state.times.get(k, [])) for k, _ in READS)
    print(f"  reads {reads / elapsed:.0f} req/s, writes {(total - reads) / elapsed:.0f} req/s")
    for failure in load_state.failures[:5]:
        print("  FAILED:", failure)
    if load_state.failures:
        print(f"  {len(load_state.failures)} requests failed")


# -- where a worklist's time goes ----------------------------------------------------------


def breakdown(engine: Engine, runs: int = 7) -> None:
    """One worklist built in this process, stage by stage: min and median of ``runs`` (the gap is mostly GC)."""
    from pydantic import TypeAdapter

    from itb.clinic.worklist import situations
    from itb.domain.worklist import build_worklist

    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    response = TypeAdapter(list[dict])  # what FastAPI does with the endpoint's ``-> list[dict]``
    stages: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        now = datetime.now()
        statements.clear()
        event.listen(engine, "before_cursor_execute", capture)
        with Session(engine) as s:
            t0 = time.perf_counter()
            found = situations(s, now)
            t1 = time.perf_counter()
        event.remove(engine, "before_cursor_execute", capture)
        items = build_worklist(found, now, DEFAULT_BOOKING)
        t2 = time.perf_counter()
        out = [work_item_json(i) for i in items]  # the API's own answer
        t3 = time.perf_counter()
        body = response.dump_json(response.validate_python(out))
        t4 = time.perf_counter()
        raw = engine.raw_connection()  # the same statements, execute + fetch only
        try:
            cursor = raw.cursor()
            t5 = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            t6 = time.perf_counter()
        finally:
            raw.close()
        stages["situations(): SQL + rows + PumpSituations"].append(t1 - t0)
        stages[f"  of which {len(statements)} statements, DB driver only"].append(t6 - t5)
        stages["build_worklist (the rules, the sort)"].append(t2 - t1)
        stages["response dicts"].append(t3 - t2)
        stages[f"validate + JSON ({len(body) / 1e6:.2f} MB)"].append(t4 - t3)
    print(f"\nworklist in process ({len(found)} pumps, {len(items)} items; min / median of {runs}):")
    for key, values in stages.items():
        print(f"  {key:<46}{min(values) * 1000:>7.1f} /{statistics.median(values) * 1000:>6.1f} ms")


# -- main ----------------------------------------------------------------------------------


def medians(runs: int, *builds: Callable[[], object]) -> list[float]:
    """Each build's median time in ms over ``runs`` rounds, run in turn (a load hits them alike)."""
    times: list[list[float]] = [[] for _ in builds]
    for _ in range(runs):
        for k, build in enumerate(builds):
            t0 = time.perf_counter()
            build()
            times[k].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def narrowed_vs_full(engine: Engine, runs: int = 5) -> tuple[float, float, int, int]:
    """In process: the worklist of the pumps at risk against building every pump's situation (the
    old path, ``select_at_risk=False``): medians in ms, and the pumps chosen of those implanted."""
    from itb.clinic.worklist import at_risk, worklist

    now = datetime.now()
    with Session(engine) as s:
        fast, full = medians(
            runs,
            lambda: worklist(s, now, DEFAULT_BOOKING),
            lambda: worklist(s, now, DEFAULT_BOOKING, select_at_risk=False),
        )
        chosen, _ = at_risk(s.connection(), now, DEFAULT_BOOKING)
        implanted = s.execute(select(func.count()).where(m.Pump.status == "implanted")).scalar() or 0
    return fast, full, len(chosen), implanted


def first_vs_whole(engine: Engine, runs: int = 5) -> tuple[float, float]:
    """In process: the first 200 items (``first_items``, what the page asks) against the whole list
    (``worklist``, the pumps at risk): medians in ms."""
    from itb.clinic.worklist import worklist
    from itb.clinic.worklist_first import first_items
    from itb.domain.worklist import Wanted

    now = datetime.now()
    with Session(engine) as s:
        first, whole = medians(
            runs,
            lambda: first_items(s, now, DEFAULT_BOOKING, Wanted(limit=200)),
            lambda: worklist(s, now, DEFAULT_BOOKING),
        )
    return first, whole


def one_size(args: argparse.Namespace, n: int, last: bool) -> tuple[float, float, float, float, int]:
    """A clinic of n patients on a fresh schema behind ``itb serve``: p50 and p95 of the page's
    rows (``?limit=200``), of the whole list, and how many items the whole list has."""
    admin = create_engine(args.url)
    url = with_search_path(args.url)
    engine = make_engine(url)
    server = None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            fresh_schema(admin)
            migrate(engine)
            now = datetime.now().replace(microsecond=0)
            t0 = time.perf_counter()
            rows = clinic_rows(n, now, args.seed)
            t1 = time.perf_counter()
            load(engine, rows)
            t2 = time.perf_counter()
            sessions = session_factory(engine, audit_key(Path(data_dir)))  # the server's key
            with sessions.begin() as s:
                for role, (username, password) in USERS.items():
                    create_user(s, username, password, role, by=SYSTEM, at=now)
            counts = ", ".join(f"{len(v)} {k}" for k, v in rows.items() if k != "audit_head")
            print(f"\n== {n} patients. clinic: {counts}")
            print(f"load: rows built (forecast_many included) {t1 - t0:.2f} s, inserted {t2 - t1:.2f} s")

            server, base = start_server(url, data_dir, args.port)
            clinician, nurse = token(base, "clinician"), token(base, "nurse")
            page, _ = bench_worklist(base, clinician, path=PAGE_PATH)
            p50, p95 = pct(page, 50), pct(page, 95)
            verdict = "PASS" if p95 < TARGET_WORKLIST_P95_MS else "MISS"
            print(
                f"GET {PAGE_PATH} ({len(page)} runs, the page's rows): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                f"max {max(page):.1f} ms (target p95 < {TARGET_WORKLIST_P95_MS:.0f} ms: {verdict})"
            )
            urgent, n_urgent = bench_worklist(base, clinician, runs=20, path="/api/worklist?max_urgency=0")
            print(
                f"GET /api/worklist?max_urgency=0 (20 runs, all {n_urgent} urgent items): "
                f"p50 {pct(urgent, 50):.1f} ms, p95 {pct(urgent, 95):.1f} ms"
            )
            cookie = {"Cookie": f"{PAGE_COOKIE}={clinician['Authorization'].removeprefix('Bearer ')}"}
            html, _ = bench_worklist(base, cookie, runs=20, path="/worklist", json=False)
            print(f"GET /worklist (the page, 20 runs): p50 {pct(html, 50):.1f} ms, p95 {pct(html, 95):.1f} ms")
            times, n_items = bench_worklist(base, clinician, runs=20)
            print(
                f"GET /api/worklist (the whole list, 20 runs, {n_items} items of {n} pumps): "
                f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms"
            )
            first, whole = first_vs_whole(engine)
            print(
                f"in process: the first 200 items {first:.1f} ms vs the whole list {whole:.1f} ms "
                f"(ratio {whole / first:.1f}x)"
            )
            fast, full, chosen, implanted = narrowed_vs_full(engine)
            print(
                f"in process: at-risk worklist {fast:.1f} ms vs every pump's situation {full:.1f} ms "
                f"(ratio {full / fast:.1f}x; {chosen} of {implanted} pumps chosen, {n_items} listed)"
            )
            if last and args.seconds > 0:
                with engine.connect() as c:
                    booked = list(
                        c.execute(
                            select(m.Appointment.id).where(m.Appointment.status == "booked", m.Appointment.at >= now)
                        ).scalars()
                    )
                random.Random(args.seed).shuffle(booked)
                mixed_load(base, [clinician, nurse], n, booked, args.seconds, args.seed)
                breakdown(engine)
            return p50, p95, pct(times, 50), pct(times, 95), n_items
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def growth_exponent(sizes: list[int], p50s: list[float]) -> float:
    """The slope of log(p50) against log(N), least squares."""
    xs, ys = [math.log(n) for n in sizes], [math.log(p) for p in p50s]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", default="1000,10000,50000", help="clinic sizes, comma separated")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--port", type=int, default=None, help="the port of itb serve (default: a free one)")
    parser.add_argument("--seconds", type=float, default=10.0, help="mixed load on the largest clinic (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(n) for n in args.patients.split(",")]
    results = [one_size(args, n, last=k == len(sizes) - 1) for k, n in enumerate(sizes)]
    print(f"\n{'patients':>9}{'limit=200 p50':>15}{'p95 ms':>9}{'whole p50':>11}{'p95 ms':>9}{'items':>8}")
    for n, (p50, p95, whole50, whole95, items) in zip(sizes, results):
        print(f"{n:>9}{p50:>15.1f}{p95:>9.1f}{whole50:>11.1f}{whole95:>9.1f}{items:>8}")
    if len(sizes) > 1:
        span = f"{sizes[0]} to {sizes[-1]}"
        k = growth_exponent(sizes, [r[0] for r in results])
        print(f"growth exponent of the page's p50 in N ({span}): {k:.2f} (target <= {TARGET_EXPONENT})")
        k = growth_exponent(sizes, [r[2] for r in results])
        print(f"growth exponent of the whole list's p50 in N ({span}): {k:.2f} (it lists a share of the pumps)")


if __name__ == "__main__":
    main()
