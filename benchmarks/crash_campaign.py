"""The crash campaign: two clinic servers on one PostgreSQL database, one of them killed every round.

    python benchmarks/crash_campaign.py [--rounds N] [--seed S] [--url URL] [--max-seconds S]

What it proves: a refill or a program change that reached a pump is recorded exactly once
(its refill or program version row and its audit entry, under its idempotency key), a record
never exists for a change the pump did not apply, and no change is applied twice, even when
the server that sent it is killed (SIGKILL) at any moment and two server processes aim changes
at the same pumps at the same time.

1. Creates a database of its own (``itb_crash_<random>``) on the PostgreSQL server of ``--url``
   (loopback only), migrates it, and sets up 4 patients with implanted pumps and the users
   through the clinic's own use cases.
2. Starts two ``itb serve`` processes on it (same secret, same ``ITB_HOME``).
3. Each round (20 by default): 6 client threads read pumps and POST refills and program changes
   to both servers at once (re-reading once after a 409, acknowledging the soft codes once after
   a 422); at a random moment, aimed at a change being sent, one server is killed with SIGKILL
   and restarted on the same port. Every change carries an ``Idempotency-Key``; one whose answer
   never came is sent again under the same key (to either server), as a real client would: the
   clinic must answer it from what the first request did, never make it twice.
4. Then every pump is interrogated once (settling anything left pending) and checked, in the
   database and against the virtual pump's own log: every keyed ``refill`` / ``program_changed``
   event has exactly one record row and one audit entry, and every such row has its event; no key
   twice in the log; nothing left pending or uncertain; each change's status what the log says;
   the audit chain intact; the pump record's program version, program and concentration those of
   the pump; no more changes applied than were answered 201 or left without an answer; no
   traceback in the servers' output.
5. Prints the counts, and ``crash campaign: PASS`` (exit 0) or ``FAIL`` (exit 1; also on any 500).

The database and every child process are removed at the end, also on failure. About a minute
on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.adapters.db.engine import make_engine, migrate
from itb.bootstrap import clinic_on
from itb.clinic.audit import verify_chain
from itb.clinic.services import SYSTEM, Actor, Clinic, ClinicConfig
from itb.clinic.users import create_user
from itb.contracts.forecast import program_json
from itb.domain.program import DosingProgram
from itb.domain.reading import PumpReading

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "itb-crash-campaign-secret-" + "c" * 32
#: each meets the clinic's password rule (itb.clinic.password_policy)
USERS = {"clinician": "orchid-vessel-plain-41", "nurse": "granite-swallow-dusk-72", "admin": "saffron-bridge-koala-38"}
PUMPS = 4
CLIENT_THREADS = 6
OPS_PER_THREAD = 8
ROUND_LIMIT_S = 40.0  # no round waits longer than this for its clients
HEALTH_LIMIT_S = 30.0
TIMEOUT = httpx.Timeout(15.0, connect=3.0)
RETRIES_AFTER_CUT = 3  # a change whose answer never came is sent again under its key, this many times at most
RETRY_PAUSE_S = 0.5
SETTLED_AFTERWARDS = "(settled afterwards)"  # the wording of PumpUseCases._settle_one
OPEN = ("pending", "uncertain")


# -- the database ---------------------------------------------------------------------------


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url``, dropped afterwards (also on failure)."""
    name = f"itb_crash_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def set_up_clinic(engine: Engine, data_dir: Path) -> list[int]:
    """Users, and PUMPS adult patients each with a 40 mL pump implanted 90 days ago. Returns the pump ids."""
    clinic = clinic_on(engine, ClinicConfig(data_dir=data_dir))
    actors: dict[str, Actor] = {}
    with clinic.transaction() as s:
        for role, password in USERS.items():
            user = create_user(s, f"crash-{role}", password, role, by=SYSTEM, at=clinic.clock())
            actors[role] = Actor(user.username, user.role, user.id)
    pump_ids = []
    for k in range(PUMPS):
        patient = clinic.register_patient(
            actors["clinician"], name=f"Crash Patient {k + 1}", birth_date=date(1980, 3, 1 + k),
            origin="cerebral", weight_kg=70.0,
        )  # fmt: skip
        pump = clinic.implant_pump(
            actors["clinician"], patient.id, model="peristaltic", serial=f"CRASH-{k + 1}",
            reservoir_capacity_ml=40.0, catheter_length_cm=50.0, reservoir_ml=20.0,
            concentration_mcg_per_ml=500.0, program=DosingProgram.simple_continuous(600.0 + 20 * k),
            implanted_at=clinic.clock() - timedelta(days=90),
            acknowledged=("no_positive_screening",),  # registered pumps: screened elsewhere
        )  # fmt: skip
        pump_ids.append(pump.id)
    return pump_ids


# -- the servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``itb serve`` process on a fixed loopback port, killed and restarted at will."""

    def __init__(self, name: str, db_url: str, home: Path) -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ITB_DATABASE_URL": db_url, "ITB_SECRET": SECRET, "ITB_HOME": str(home)}
        self.log_path = home / f"server-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.closed = False  # once closed (at the end), never started again (a killer thread may try)
        self.lock = threading.Lock()

    def start(self) -> None:
        command = [sys.executable, "-m", "itb", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.lock, self.log_path.open("a") as log:
            if self.closed:
                raise RuntimeError(f"server {self.name}: closed")
            log.write(f"--- start {self.starts + 1} at {datetime.now():%H:%M:%S.%f}\n")
            log.flush()
            self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            self.starts += 1
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_LIMIT_S
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"server {self.name} exited (see {self.log_path})")
            try:
                if httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server {self.name} not healthy within {HEALTH_LIMIT_S:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, whatever it was doing."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def login(server: Server, role: str) -> dict[str, str]:
    answer = httpx.post(
        f"{server.base}/api/auth/token", data={"username": f"crash-{role}", "password": USERS[role]}, timeout=TIMEOUT
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


# -- the clients ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What every client thread saw, shared (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter = field(default_factory=Counter)  # (kind, status or error name) -> count
    confirmed_refill_keys: list[tuple[int, str]] = field(default_factory=list)  # answered 201
    confirmed_programs: int = 0
    errors_500: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)  # why a 409, 422, 502 or 503: a short reason
    in_flight: Counter = field(default_factory=Counter)  # server name -> changes being sent to it now
    sent: int = 0

    def count(self, kind: str, outcome: str | int, note: str = "") -> None:
        with self.lock:
            self.sent += 1
            self.answers[(kind, outcome)] += 1
            if outcome in (409, 422, 502, 503):
                self.reasons[(outcome, reason(note))] += 1
            if outcome == 500 or (isinstance(outcome, int) and outcome >= 500 and outcome not in (502, 503)):
                self.errors_500.append(f"{kind}: {outcome} {note[:300]}")


def reason(body: str) -> str:
    """A 4xx/5xx answer in a few words: its finding codes, or its detail without the numbers."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:60]
    if answer.get("findings"):
        return "findings " + "+".join(sorted({f["code"] for f in answer["findings"]}))
    detail = answer.get("detail")
    if not isinstance(detail, str):
        return "invalid input " + str(detail)[:60]
    return re.sub(r"\d+(\.\d+)?", "N", detail)[:90]


def call(client: httpx.Client, tally: Tally, kind: str, method: str, path: str, **kw) -> httpx.Response | None:
    """One request, counted by status code (or by why no answer came)."""
    try:
        answer = client.request(method, path, **kw)
    except httpx.ConnectError:
        tally.count(kind, "refused (server down)")
        return None
    except httpx.TimeoutException:
        tally.count(kind, "timeout")
        return None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        tally.count(kind, "cut (server killed mid-request)")
        return None
    tally.count(kind, answer.status_code, answer.text)
    return answer


def refill_body(pump: dict, rng: random.Random) -> dict:
    return {
        "withdrawn_ml": round(pump["estimated_reservoir_ml_now"], 2),
        "added_ml": round(rng.uniform(18.0, 20.0), 1),
        "concentration_mcg_per_ml": pump["concentration_mcg_per_ml"],
        "lot": f"L{rng.randint(1000, 9999)}",
        "version": pump["version"],
        "acknowledged": [],
    }


def program_body(pump: dict, rng: random.Random) -> dict:
    """A continuous program within 5 % of today's dose (mostly reductions: increases are limited)."""
    factor = rng.uniform(1.005, 1.05) if rng.random() < 0.2 else rng.uniform(0.98, 0.995)
    rate = round(pump["daily_dose_mcg"] * factor, 1)
    return {"program": {"steps": [{"start": "00:00", "rate_mcg_per_day": rate}]}, "version": pump["version"]}


def soft_codes(answer: httpx.Response) -> list[str] | None:
    """The codes to acknowledge for a 422 with findings, or None (a refusal, or bad input)."""
    try:
        findings = answer.json().get("findings")
    except ValueError:
        return None
    if not findings or any(f["severity"] != "confirm" for f in findings):
        return None
    return [f["code"] for f in findings]


class Clients:
    """One keep-alive httpx client per server and role, for one thread."""

    def __init__(self, servers: list[Server], tokens: dict[tuple[str, str], dict[str, str]]) -> None:
        self.by = {
            (s.name, role): httpx.Client(base_url=s.base, headers=tokens[(s.name, role)], timeout=TIMEOUT)
            for s in servers
            for role in ("clinician", "nurse")
        }
        self.names = [s.name for s in servers]

    def any(self, rng: random.Random, role: str) -> tuple[str, httpx.Client]:
        name = rng.choice(self.names)
        return name, self.by[(name, role)]

    def close(self) -> None:
        for client in self.by.values():
            client.close()


def send(
    client: httpx.Client, server: str, tally: Tally, kind: str, path: str, body: dict, key: str
) -> httpx.Response | None:
    """POST a change under its idempotency key, counted in flight on ``server`` while it is sent
    (the killer aims at those)."""
    with tally.lock:
        tally.in_flight[server] += 1
    try:
        return call(client, tally, kind, "POST", path, json=body, headers={"Idempotency-Key": key})
    finally:
        with tally.lock:
            tally.in_flight[server] -= 1


def send_until_answered(
    clients: Clients, tally: Tally, rng: random.Random, kind: str, role: str, path: str, body: dict, key: str
) -> httpx.Response | None:
    """Send; when no answer came (the server was killed), send the same change again under the same
    key, to either server, as a client must: the clinic answers it, never makes it twice."""
    server, client = clients.any(rng, role)
    answer = send(client, server, tally, kind, path, body, key)
    for _ in range(RETRIES_AFTER_CUT):
        if answer is not None:
            break
        time.sleep(RETRY_PAUSE_S)
        server, client = clients.any(rng, role)
        answer = send(client, server, tally, f"{kind} again", path, body, key)
    return answer


def one_change(clients: Clients, tally: Tally, rng: random.Random, pump_id: int, kind: str) -> None:
    """Read the pump (from either server), POST the change (to either): once more after a 409."""
    role, path = ("nurse", "refills") if kind == "refill" else ("clinician", "programs")
    for _attempt in range(2):
        read = call(clients.any(rng, role)[1], tally, "read", "GET", f"/api/pumps/{pump_id}")
        if read is None or read.status_code != 200:
            return
        pump = read.json()
        body = refill_body(pump, rng) if kind == "refill" else program_body(pump, rng)
        url = f"/api/pumps/{pump_id}/{path}"
        answer = send_until_answered(clients, tally, rng, kind, role, url, body, uuid.uuid4().hex)
        if answer is not None and answer.status_code == 422 and (codes := soft_codes(answer)):
            body["acknowledged"] = codes
            answer = send_until_answered(clients, tally, rng, kind, role, url, body, uuid.uuid4().hex)
        if answer is None or answer.status_code != 409:
            break
    if answer is not None and answer.status_code == 201:
        with tally.lock:
            if kind == "refill":
                tally.confirmed_refill_keys.append((pump_id, answer.json()["change_key"]))
            else:
                tally.confirmed_programs += 1


def client_thread(servers: list[Server], tokens: dict, tally: Tally, seed: int, pump_ids: list[int]) -> None:
    rng = random.Random(seed)
    clients = Clients(servers, tokens)
    deadline = time.monotonic() + ROUND_LIMIT_S
    try:
        for _ in range(OPS_PER_THREAD):
            if time.monotonic() > deadline:
                break
            one_change(clients, tally, rng, rng.choice(pump_ids), rng.choice(("refill", "program")))
    finally:
        clients.close()


def killer(servers: list[Server], tally: Tally, rng: random.Random, kills: Counter, problems: list[str]) -> None:
    """At a random moment, SIGKILL one server; restart it on its port and wait for its health.

    The moment: after a random 0.1-2 s, the next time a change is being sent to the victim (at
    most 2 s more), plus a random 0-200 ms: most kills land inside a change's request.
    """
    time.sleep(rng.uniform(0.1, 2.0))
    victim = rng.choice(servers)
    deadline = time.monotonic() + 2.0
    while not tally.in_flight[victim.name] and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.2))
    victim.kill()
    kills[victim.name] += 1
    try:
        victim.start()
    except RuntimeError as exc:
        problems.append(str(exc))


def run_round(servers: list[Server], tokens: dict, tally: Tally, rng: random.Random, pump_ids: list[int],
              kills: Counter, problems: list[str]) -> None:  # fmt: skip
    threads = [
        threading.Thread(
            target=client_thread, args=(servers, tokens, tally, rng.randrange(2**32), pump_ids), daemon=True
        )
        for _ in range(CLIENT_THREADS)
    ]
    threads.append(
        threading.Thread(
            target=killer, args=(servers, tally, random.Random(rng.random()), kills, problems), daemon=True
        )
    )
    for t in threads:
        t.start()
    deadline = time.monotonic() + ROUND_LIMIT_S + HEALTH_LIMIT_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        problems.append("a round outlived its time limit")


# -- the checks -----------------------------------------------------------------------------

#: For each kind of change: its proof in the pump's log, its record table, its audit action.
KINDS = {
    "refill": ("refill", m.Refill, "refill"),
    "program": ("program_changed", m.ProgramVersion, "change_program"),
}
CHECKS = (
    "log event without exactly one record row",
    "record row without its log event",
    "log event without exactly one audit entry",
    "audit entry without its log event",
    "key applied twice in the pump's log",
    "change left pending or uncertain",
    "change in the log the clinic never recorded",
    "pump_changes status disagrees with the log",
    "program version number recorded twice",
    "pump record differs from the pump",
    "refill answered 201, not in the pump's log",
    "audit chain breaks",
    "applied, though answered 4xx/5xx",
    "server log tracebacks",
)


def interrogate_all(servers: list[Server], tokens: dict, tally: Tally, pump_ids: list[int]) -> None:
    """Both servers up; one interrogation per pump (alternating servers) settles what is pending."""
    for server in servers:
        if not server.alive():
            server.start()
    for i, pump_id in enumerate(pump_ids):
        server = servers[i % len(servers)]
        with httpx.Client(base_url=server.base, headers=tokens[(server.name, "clinician")], timeout=TIMEOUT) as c:
            for _ in range(3):  # a 409 only if the pump is busy (nothing else runs now)
                answer = call(c, tally, "interrogate", "POST", f"/api/pumps/{pump_id}/interrogations")
                if answer is not None and answer.status_code == 201:
                    break


def pump_log(clinic: Clinic, pump_id: int) -> PumpReading:
    """The virtual pump's own reading (its whole log), the pump held as the servers hold it."""
    with clinic.locks.hold(pump_id), clinic.gateway.connect(pump_id) as connection:
        return connection.read()


def check_kind(s: Session, pump_id: int, kind: str, log_keys: Counter, found: Counter, examples: list[str]) -> None:
    """Log events of one kind against their record rows and audit entries (both ways)."""
    _, model, action = KINDS[kind]
    model = cast(Any, model)
    rows = Counter(s.execute(select(model.change_key).where(model.pump_id == pump_id,
                                                            model.change_key.is_not(None))).scalars())  # fmt: skip
    audits = Counter(
        (e.after or {}).get("change_key")
        for e in s.execute(
            select(m.AuditEntry).where(
                m.AuditEntry.entity == "pump", m.AuditEntry.entity_id == pump_id, m.AuditEntry.action == action
            )
        ).scalars()
    )
    for key in log_keys:
        if rows[key] != 1:
            found["log event without exactly one record row"] += 1
            examples.append(f"pump {pump_id}: {kind} {key} in the log, {rows[key]} row(s)")
        if audits[key] != 1:
            found["log event without exactly one audit entry"] += 1
            examples.append(f"pump {pump_id}: {kind} {key} in the log, {audits[key]} audit entries")
    for key in rows:
        if key not in log_keys:
            found["record row without its log event"] += 1
            examples.append(f"pump {pump_id}: {kind} row {key} not in the pump's log")
    for key in audits:
        if key not in log_keys:
            found["audit entry without its log event"] += 1
            examples.append(f"pump {pump_id}: audit {action} {key} not in the pump's log")


def check_changes(s, pump_id: int, logged: dict[str, Counter], found: Counter, examples: list[str]) -> None:
    """The pump_changes rows: none open, none unrecorded, each status what the log says."""
    for c in s.execute(select(m.PumpChange).where(m.PumpChange.pump_id == pump_id)).scalars():
        in_log = c.command in logged and c.key in logged[c.command]
        if c.status in OPEN:
            found["change left pending or uncertain"] += 1
            examples.append(f"pump {pump_id}: change {c.id} ({c.command} {c.key}) still {c.status}")
        elif c.status == "unrecorded":
            found["change in the log the clinic never recorded"] += 1
            examples.append(f"pump {pump_id}: change {c.id} ({c.command} {c.key}) unrecorded")
        elif c.command in logged and (c.status == "applied") != in_log:
            found["pump_changes status disagrees with the log"] += 1
            examples.append(f"pump {pump_id}: change {c.id} ({c.command} {c.key}) {c.status}, in the log: {in_log}")


def check_pump(clinic: Clinic, pump_id: int, confirmed: set[str], found: Counter, examples: list[str]) -> None:
    reading = pump_log(clinic, pump_id)
    logged = {
        kind: Counter(e["key"] for e in reading.log if e["type"] == proof and e.get("key"))
        for kind, (proof, _, _) in KINDS.items()
    }
    for kind, keys in logged.items():
        for key, n in keys.items():
            if n > 1:
                found["key applied twice in the pump's log"] += 1
                examples.append(f"pump {pump_id}: {kind} {key} {n} times in the log")
    for key in confirmed - set(logged["refill"]):
        found["refill answered 201, not in the pump's log"] += 1
        examples.append(f"pump {pump_id}: refill {key} answered 201, not in the log")
    with clinic.sessions() as s:
        for kind, keys in logged.items():
            check_kind(s, pump_id, kind, keys, found, examples)
        check_changes(s, pump_id, logged, found, examples)
        numbers = select(m.ProgramVersion.version).where(m.ProgramVersion.pump_id == pump_id)
        versions = Counter(s.execute(numbers).scalars())
        if any(n > 1 for n in versions.values()):
            found["program version number recorded twice"] += 1
            examples.append(f"pump {pump_id}: program versions {sorted(versions.elements())}")
        pump = s.get(m.Pump, pump_id)
        assert pump is not None
        mine = (pump.program_version, pump.program, pump.concentration_mcg_per_ml)
        theirs = (reading.program_version, program_json(reading.program), reading.concentration_mcg_per_ml)
        if mine != theirs:
            found["pump record differs from the pump"] += 1
            examples.append(f"pump {pump_id}: record {mine}, pump {theirs}")


def check_all(engine: Engine, data_dir: Path, pump_ids: list[int], tally: Tally) -> tuple[Counter, list[str]]:
    clinic = clinic_on(engine, ClinicConfig(data_dir=data_dir))
    found: Counter = Counter({name: 0 for name in CHECKS})
    examples: list[str] = []
    for pump_id in pump_ids:
        confirmed = {key for p, key in tally.confirmed_refill_keys if p == pump_id}
        check_pump(clinic, pump_id, confirmed, found, examples)
    with clinic.sessions() as s:
        breaks = verify_chain(s)
        applied = Counter(s.execute(select(m.PumpChange.command).where(m.PumpChange.status == "applied")).scalars())
    found["audit chain breaks"] += len(breaks)
    examples.extend(breaks)
    check_answers(tally, applied, found, examples)
    return found, examples


def check_answers(tally: Tally, applied: Counter, found: Counter, examples: list[str]) -> None:
    """Every applied change was answered 201, or its answer never came (cut, timeout): a 409,
    422, 502 or 503 promises the change did not reach the pump, or is settled later (503)."""
    for kind in KINDS:
        confirmed = len(tally.confirmed_refill_keys) if kind == "refill" else tally.confirmed_programs
        unknown = sum(n for (k, o), n in tally.answers.items() if k == kind and isinstance(o, str)
                      and not o.startswith("refused"))  # fmt: skip
        unknown += tally.answers[(kind, 503)]
        extra = applied[kind] - confirmed - unknown
        if extra > 0:
            found["applied, though answered 4xx/5xx"] += extra
            examples.append(f"{kind}: {applied[kind]} applied, {confirmed} answered 201, {unknown} without an answer")


def scan_logs(servers: list[Server], found: Counter, examples: list[str]) -> int:
    """Tracebacks in the servers' output (counted as mismatches); returns the start-up reconciliations."""
    settled_at_start = 0
    for server in servers:
        lines = server.log_path.read_text(errors="replace").splitlines() if server.log_path.exists() else []
        settled_at_start += sum(1 for line in lines if line.startswith("Settled the pending changes"))
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                found["server log tracebacks"] += 1
                tail = next((x for x in lines[i + 1 :] if x and not x.startswith(" ")), "?")
                examples.append(f"server {server.name}: {tail}")
    return settled_at_start


def change_counts(engine: Engine) -> Counter:
    """pump_changes by (command, status), with "applied, settled afterwards" (by a later request) apart."""
    with engine.connect() as c:
        rows = c.execute(select(m.PumpChange.command, m.PumpChange.status, m.PumpChange.detail)).all()
    by: Counter = Counter()
    for command, status, detail in rows:
        by[(command, status)] += 1
        if detail and SETTLED_AFTERWARDS in detail:
            by[(command, "settled afterwards")] += 1
    return by


# -- the report -----------------------------------------------------------------------------


def status_class(outcome: str | int) -> str:
    if isinstance(outcome, str):
        return "connection error"
    return "2xx" if 200 <= outcome < 300 else str(outcome)


@dataclass
class Outcome:
    """Everything a campaign found, for the report."""

    tally: Tally = field(default_factory=Tally)
    rounds: int = 0
    kills: Counter = field(default_factory=Counter)  # server name -> times killed
    problems: list[str] = field(default_factory=list)  # the campaign itself went wrong
    changes: Counter = field(default_factory=Counter)  # (command, status) -> pump_changes rows
    found: Counter = field(default_factory=Counter)  # check -> mismatches
    examples: list[str] = field(default_factory=list)
    settled_at_start: int = 0
    wall_s: float = 0.0


def report(args: argparse.Namespace, o: Outcome) -> bool:
    """Print the counts; True when everything holds."""
    tally = o.tally
    print(f"rounds: {o.rounds} of {args.rounds} (seed {args.seed}), {PUMPS} pumps, 2 servers, "
          f"{CLIENT_THREADS} client threads x {OPS_PER_THREAD} changes a round")  # fmt: skip
    victims = ", ".join(f"server {k} {v}" for k, v in sorted(o.kills.items()))
    print(f"kills (SIGKILL, then restarted on the same port): {sum(o.kills.values())} ({victims})")
    print(f"server starts that settled pending changes (reconcile_all): {o.settled_at_start}")
    print(f"requests sent: {tally.sent} in {o.wall_s:.1f} s")
    for kind in ("read", "refill", "refill again", "program", "program again", "interrogate"):
        row = sorted(((str(o), n) for (k, o), n in tally.answers.items() if k == kind))
        print(f"  {kind:<14}" + ", ".join(f"{o}: {n}" for o, n in row))
    classes: Counter = Counter()
    for (_, outcome), n in tally.answers.items():
        classes[status_class(outcome)] += n
    order = ["2xx", "409", "422", "502", "503", "500", "connection error"]
    shown = order + sorted(set(classes) - set(order))
    print("answers by status: " + ", ".join(f"{c} {classes[c]}" for c in shown))
    for (code, why), n in sorted(tally.reasons.items()):
        print(f"  {code} x{n}: {why}")
    print(f"answered 201: refills {len(tally.confirmed_refill_keys)}, program changes {tally.confirmed_programs}")
    for command in ("refill", "program", "bolus"):
        row = sorted((s, n) for (c, s), n in o.changes.items() if c == command)
        if row:
            print(f"changes {command:<8}" + ", ".join(f"{s} {n}" for s, n in row))
    print("mismatches:")
    for name in CHECKS:
        print(f"  {name:<48}{o.found[name]:>5}")
    for line in o.examples[:20]:
        print("   ", line)
    for line in tally.errors_500[:10] + o.problems[:10]:
        print("  PROBLEM:", line)
    return not (any(o.found.values()) or classes["500"] or tally.errors_500 or o.problems)


# -- main -----------------------------------------------------------------------------------


def campaign(args: argparse.Namespace, db_url: str, home: Path) -> bool:
    engine = make_engine(db_url)
    servers: list[Server] = []
    try:
        migrate(engine)
        pump_ids = set_up_clinic(engine, home)
        servers = [Server("a", db_url, home), Server("b", db_url, home)]
        for server in servers:
            server.start()
        tokens = {(s.name, role): login(s, role) for s in servers for role in ("clinician", "nurse")}
        o = Outcome()
        rng = random.Random(args.seed)
        start = time.monotonic()
        while o.rounds < args.rounds and not o.problems:
            if time.monotonic() - start > args.max_seconds:
                o.problems.append(f"stopped after {args.max_seconds:.0f} s")
                break
            run_round(servers, tokens, o.tally, rng, pump_ids, o.kills, o.problems)
            o.rounds += 1
        interrogate_all(servers, tokens, o.tally, pump_ids)
        o.wall_s = time.monotonic() - start
        for server in servers:
            server.stop()
        o.found, o.examples = check_all(engine, home, pump_ids, o.tally)
        o.settled_at_start = scan_logs(servers, o.found, o.examples)
        o.changes = change_counts(engine)
        return report(args, o)
    finally:
        for server in servers:
            server.close()
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--url", default=DEFAULT_URL, help="a database on the PostgreSQL server to use")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop starting rounds after this")
    args = parser.parse_args(argv)
    if make_url(args.url).host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be a loopback address")
    with tempfile.TemporaryDirectory(prefix="itb-crash-") as home, temporary_database(args.url) as db_url:
        try:
            passed = campaign(args, db_url, Path(home))
        except Exception:  # the campaign itself broke (a server that would not start): reported, a FAIL
            traceback.print_exc()
            passed = False
    print(f"crash campaign: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
