"""The pump's telemetry as a state machine: any interleaving of programmer requests, over
several sessions, keeps the program block whole and every keyed change applied once.

Hypothesis drives one :class:`PumpFirmware` through ``handle()`` with program transfers
(valid, stale, corrupt, invalid), wrong chunks, commits, ended sessions, reused keys, boluses
and the passing of time. A small model predicts each answer; after every step:

- the pump runs exactly one committed program (or the initial one), never a mix;
- ``program_version`` is 1 + the number of distinct keys committed;
- each key appears at most once among ``program_changed`` and ``bolus_started`` events;
- a refused request changed nothing (the log length included).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import orjson
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from itb.contracts.forecast import hhmm, program_json
from itb.domain.program import DosingProgram, Step
from itb.pump.firmware import CHUNK_BYTES, Refused, TherapyInfo
from itb.simulation.pumps import implanted_pump
from itb.telemetry.frames import MAX_PAYLOAD

SESSIONS = st.sampled_from([1, 2, 3])
#: 0: the session of the oldest open transfer (so that transfers get finished, and go stale)
TARGETS = st.sampled_from([0, 0, 1, 2, 3])
KINDS = ("valid", "valid", "valid", "valid", "valid", "stale", "bad_crc", "invalid")


@st.composite
def programs(draw) -> dict:
    """A valid program in the contract's form, 1 to 48 steps (up to five chunks)."""
    n = draw(st.integers(1, 48))
    gaps = draw(st.lists(st.integers(1, 29), min_size=n - 1, max_size=n - 1))
    starts = [sum(gaps[:i]) for i in range(n)]  # 0 first, strictly increasing, before 24:00
    rates = draw(st.lists(st.integers(0, 1_000_000), min_size=n, max_size=n))
    return {"steps": [{"start": hhmm(s), "rate_mcg_per_day": r / 1000} for s, r in zip(starts, rates)]}


def text_of(obj: dict) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


@dataclass
class Sent:
    """The model of one open transfer."""

    key: str
    text: bytes
    program: dict
    base: int
    crc: int
    received: int = 0
    valid: bool = True


class PumpTelemetryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fw = implanted_pump(
            DosingProgram((Step(0, 400), Step(480, 300))),
            reservoir_ml=20.0,
            therapy=TherapyInfo(),
            day0=datetime(2026, 3, 1),
        )
        pump = self.fw.pump
        self.initial = program_json(pump.program)
        self.running = self.initial
        self.committed: dict[str, dict] = {}  # key -> program, in commit order
        self.bolus_keys: set[str] = set()
        self.done: set[str] = set()  # every key applied (any command)
        self.sent: dict[int, Sent] = {}  # session -> open transfer
        self.n = 0

    # ------------------------------------------------------------------ helpers
    def new_key(self) -> str:
        self.n += 1
        return f"key-{self.n:05d}"

    def old_key(self, pick: int) -> str:
        keys = sorted(self.done)
        return keys[pick % len(keys)]

    def call(self, session: int, request: dict, *, refuse: bool | None = None) -> dict | None:
        """``handle`` the request; ``refuse`` says what the model predicts (None: either)."""
        log_before, version_before = len(self.fw.pump.log), self.fw.program_version
        program_before = program_json(self.fw.pump.program)
        try:
            answer = self.fw.handle(session, request)
        except Refused as exc:
            assert refuse is not False, f"{request} refused unexpectedly: {exc}"
            assert exc.violations
            assert len(self.fw.pump.log) == log_before
            assert self.fw.program_version == version_before
            assert program_json(self.fw.pump.program) == program_before
            return None
        assert refuse is not True, f"{request} was not refused: {answer}"
        assert len(orjson.dumps(answer)) <= MAX_PAYLOAD
        return answer

    def target(self, session: int) -> int:
        return session or next(iter(self.sent), 1)

    def commit_in_model(self, key: str, program: dict) -> None:
        self.committed[key] = program
        self.running = program
        self.done.add(key)
        self.sent = {s: t for s, t in self.sent.items() if t.key != key}

    # ------------------------------------------------------------------ the program block
    @rule(session=SESSIONS, program=programs(), kind=st.sampled_from(KINDS), reuse=st.booleans(), pick=st.integers(0))
    def begin(self, session, program, kind, reuse, pick):
        # A reused key: one already applied, or one another session is sending under.
        pool = sorted(self.done | {t.key for t in self.sent.values()})
        key = pool[pick % len(pool)] if reuse and pool else self.new_key()
        if kind == "invalid":  # the first step does not start at 00:00
            program = {"steps": [{**program["steps"][0], "start": "00:30"}, *program["steps"][1:]]}
        text = text_of(program)
        crc = zlib.crc32(text) ^ (1 if kind == "bad_crc" else 0)
        base = self.fw.program_version + (1 if kind == "stale" else 0)
        request = {"cmd": "program_begin", "key": key, "base_version": base, "size": len(text), "crc32": crc}
        if key in self.done:
            answer = self.call(session, request, refuse=False)
            assert answer is not None and answer["already_applied"] is True
            return
        answer = self.call(session, request, refuse=kind == "stale")
        if answer is not None:
            assert answer == {"chunk_bytes": CHUNK_BYTES, "received": 0}
            self.sent[session] = Sent(key, text, program, base, crc, valid=kind in ("valid", "stale"))

    @rule(session=TARGETS)
    def send_next_chunk(self, session):
        session = self.target(session)
        sent = self.sent.get(session)
        if sent is None:
            self.call(session, {"cmd": "program_chunk", "offset": 0, "data": "{}"}, refuse=True)
            return
        part = sent.text[sent.received : sent.received + CHUNK_BYTES]
        request = {"cmd": "program_chunk", "offset": sent.received, "data": part.decode()}
        answer = self.call(session, request, refuse=False)
        sent.received += len(part)
        assert answer == {"received": sent.received}

    @rule(session=TARGETS)
    def send_the_rest(self, session):
        """Every chunk still to send, as a programmer does when nothing goes wrong."""
        session = self.target(session)
        sent = self.sent.get(session)
        if sent is None:
            return
        while sent.received < len(sent.text):
            self.send_next_chunk(session)

    @rule(session=SESSIONS, program=programs(), kind=st.sampled_from(KINDS), commit=st.booleans())
    def send_a_whole_program(self, session, program, kind, commit):
        """Begin and every chunk in one step, and the commit (or leave it for a later step)."""
        self.begin(session, program, kind, False, 0)
        self.send_the_rest(session)
        if commit:
            self.commit(session, True)

    @rule(session=TARGETS, how=st.sampled_from(["gap", "different", "past_end", "negative"]))
    def send_wrong_chunk(self, session, how):
        session = self.target(session)
        sent = self.sent.get(session)
        text = sent.text if sent is not None else b"{}"
        received = sent.received if sent is not None else 0
        if how == "gap":
            request = {"cmd": "program_chunk", "offset": received + 1, "data": "x"}
        elif how == "different" and received > 0:
            old = text[:received][:CHUNK_BYTES]
            request = {"cmd": "program_chunk", "offset": 0, "data": ("#" + old[1:].decode())}
        elif how == "negative":
            request = {"cmd": "program_chunk", "offset": -1, "data": "x"}
        else:  # what is left and one byte more
            request = {"cmd": "program_chunk", "offset": received, "data": text[received:].decode() + " "}
        self.call(session, request, refuse=True)
        if sent is not None:
            assert self.fw._transfers[session].data == sent.text[: sent.received]

    @rule(session=TARGETS, own_key=st.sampled_from([True, True, True, False]))
    def commit(self, session, own_key):
        session = self.target(session)
        sent = self.sent.get(session)
        key = sent.key if sent is not None and own_key else self.new_key()
        request = {"cmd": "program_commit", "key": key}
        if key in self.done:
            answer = self.call(session, request, refuse=False)
            assert answer is not None and answer["already_applied"] is True
            return
        if sent is None:
            why = "no transfer"
        elif not own_key:
            why = "another key"
        elif sent.received != len(sent.text):
            why = "incomplete"
        elif sent.crc != zlib.crc32(sent.text):
            why = "CRC mismatch"
        elif sent.base != self.fw.program_version:
            why = "stale base version"
        elif not sent.valid:
            why = "not a valid program"
        else:
            why = ""
        answer = self.call(session, request, refuse=bool(why))
        if currently_in_test_context():  # (it is also called directly, below)
            event(f"commit refused: {why}" if why else "commit applied")
        if answer is None:
            self.sent.pop(session, None)  # a refused block is gone
            assert session not in self.fw._transfers
            return
        assert sent is not None
        self.commit_in_model(key, sent.program)
        assert answer["version"] == 1 + len(self.committed)

    @rule()
    def commit_every_open_transfer(self):
        """Each session finishes and commits its block, oldest first: once one applies, the rest are stale."""
        for session in list(self.sent):
            self.send_the_rest(session)
            self.commit(session, True)

    @rule(session=SESSIONS)
    def end_session(self, session):
        before = self.fw.discarded_transfers
        self.fw.end_session(session)
        assert self.fw.discarded_transfers == before + (session in self.sent)
        self.sent.pop(session, None)

    @rule(
        session=SESSIONS,
        pick=st.integers(0),
        cmd=st.sampled_from(["program_begin", "program_commit", "bolus_start", "refill", "bolus_cancel"]),
    )
    def reuse_old_key(self, session, pick, cmd):
        if not self.done:
            return
        key = self.old_key(pick)
        request = {
            "program_begin": {"base_version": 1, "size": 5, "crc32": 0},
            "program_commit": {},
            "bolus_start": {"dose_mcg": 1, "duration_minutes": 1},
            "refill": {"added_ml": 20, "concentration_mcg_per_ml": 500},
            "bolus_cancel": {},
        }[cmd]
        answer = self.call(session, {"cmd": cmd, "key": key, **request}, refuse=False)
        assert answer is not None and answer["already_applied"] is True

    # ------------------------------------------------------------------ other commands
    @rule(
        session=SESSIONS, dose=st.integers(1, 50), minutes=st.integers(1, 240), reuse=st.booleans(), pick=st.integers(0)
    )
    def bolus_start(self, session, dose, minutes, reuse, pick):
        key = self.old_key(pick) if reuse and self.done else self.new_key()
        request = {"cmd": "bolus_start", "key": key, "dose_mcg": dose, "duration_minutes": minutes}
        pump = self.fw.pump
        refuse = key not in self.done and (not pump.pumping or dose > (pump.est_ml - pump.setup.empty_ml) * pump.conc)
        answer = self.call(session, request, refuse=refuse)
        if key in self.done:
            assert answer is not None and answer["already_applied"] is True
        elif answer is not None:
            self.done.add(key)
            self.bolus_keys.add(key)

    @rule(session=SESSIONS)
    def cancel_boluses(self, session):
        key = self.new_key()
        self.call(session, {"cmd": "bolus_cancel", "key": key}, refuse=False)
        self.done.add(key)
        assert self.fw.pump.boluses == []

    @rule(session=SESSIONS)
    def interrogate(self, session):
        answer = self.call(session, {"cmd": "interrogate"}, refuse=False)
        assert answer is not None
        assert answer["program_version"] == 1 + len(self.committed)
        assert answer["program_crc32"] == zlib.crc32(text_of(self.running))
        assert answer["log_size"] == len(self.fw.pump.log)

    @rule(dt=st.floats(1, 6 * 3600))
    def time_passes(self, dt):
        self.fw.pump.advance_to(self.fw.pump.t + dt)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def runs_exactly_one_committed_program(self):
        running = program_json(self.fw.pump.program)
        assert running == self.running
        assert running == self.initial or running in self.committed.values()
        assert self.fw.program_text() == text_of(running)

    @invariant()
    def version_counts_the_committed_keys(self):
        assert self.fw.program_version == 1 + len(self.committed)

    @invariant()
    def each_key_applied_at_most_once(self):
        log = self.fw.pump.log
        changed = Counter(e.fields.get("key") for e in log if e.type == "program_changed")
        started = Counter(e.fields.get("key") for e in log if e.type == "bolus_started")
        assert all(n == 1 for n in (changed + started).values())
        assert set(changed) == set(self.committed)
        assert set(started) == self.bolus_keys
        assert [e.fields["version"] for e in log if e.type == "program_changed"] == list(
            range(2, 2 + len(self.committed))
        )

    @invariant()
    def open_transfers_match_the_model(self):
        assert {s: (t.key, bytes(t.data)) for s, t in self.fw._transfers.items()} == {
            s: (t.key, t.text[: t.received]) for s, t in self.sent.items()
        }


PumpTelemetryMachine.TestCase.settings = settings(
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPumpTelemetry = PumpTelemetryMachine.TestCase


def test_the_machine_reaches_commits_and_refusals():
    """The rules are not vacuous: a fixed run commits, refuses and retries."""
    machine = PumpTelemetryMachine()
    program = {"steps": [{"start": "00:00", "rate_mcg_per_day": 123.0}, {"start": "12:00", "rate_mcg_per_day": 1.5}]}
    machine.begin(1, program, "valid", False, 0)
    machine.send_next_chunk(1)
    machine.send_wrong_chunk(1, "different")
    machine.commit(1, True)
    machine.runs_exactly_one_committed_program()
    machine.reuse_old_key(2, 0, "program_begin")
    machine.bolus_start(2, 10, 30, False, 0)
    machine.bolus_start(3, 10, 30, True, 1)
    machine.begin(2, program, "stale", False, 0)
    machine.begin(2, program, "invalid", False, 0)
    machine.send_next_chunk(2)
    machine.commit(2, True)
    machine.time_passes(3600.0)
    machine.interrogate(3)
    machine.each_key_applied_at_most_once()
    assert machine.fw.program_version == 2
    assert machine.running == program
    # Two blocks begun on version 2: the first commit applies, the second is stale and refused.
    other = {"steps": [{"start": "00:00", "rate_mcg_per_day": 77.25}]}
    machine.send_a_whole_program(3, other, "valid", False)
    machine.send_a_whole_program(1, program, "valid", False)
    machine.end_session(2)
    machine.commit_every_open_transfer()
    assert machine.fw.program_version == 3 and machine.running == other
    assert machine.fw._transfers == {}
    for check in (machine.version_counts_the_committed_keys, machine.open_transfers_match_the_model):
        check()
    with pytest.raises(AssertionError):
        machine.call(1, {"cmd": "interrogate"}, refuse=True)  # the model's predictions are checked
