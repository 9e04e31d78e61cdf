"""The programmer's workflows (``itb.programmer.workflows``) against a simulated pump over an in-memory link.

Unless a test says otherwise: a peristaltic pump with a 20 mL reservoir holding 12 mL of 500 mcg/mL,
400 mcg/day all day (0.8 mL/day), low-reservoir alarm at 2 mL, the pump's clock at 2026-03-01 09:00;
the patient is a 40-year-old of spinal origin implanted long ago, with a 50 cm catheter; no faults.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from itb.contracts.forecast import program_json
from itb.domain.calibration import DEFAULT_FLOW, device_prior
from itb.domain.devices import PERISTALTIC
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.limits import DoseHistory, Origin, Severity
from itb.domain.program import BolusKind, DailyBolus, DosingProgram, OneTimeBolus, Step
from itb.programmer import workflows as W
from itb.programmer.link import PumpDataError, PumpLink
from itb.programmer.record import ProgrammerRecord, Status
from itb.pump.engine import ImplantedPump
from itb.pump.firmware import TherapyInfo
from itb.simulation.pumps import implanted_pump
from itb.telemetry.faults import FaultInjector, FaultSpec
from itb.telemetry.session import LinkDown, ServerEndpoint, UncertainOutcome
from itb.telemetry.transport import LoopbackClient, LoopbackLink

DAY0 = datetime(2026, 3, 1)
START = datetime(2026, 3, 1, 9, 0)
BASE = DosingProgram.simple_continuous(400.0)
RAISED = DosingProgram.simple_continuous(480.0)  # +20 %: within every limit for a spinal adult
TUBING_ML, ML_PER_CM = PERISTALTIC.internal_tubing_ml, PERISTALTIC.catheter_ml_per_cm  # 0.19 mL, 0.0026 mL/cm


class Clinic:
    """One pump, the radio link to it (with the given faults) and the programmer's record.

    ``marks`` lists (command, index of its request frame on the link) for every request the pump's
    logic handled, so a test can aim a fault at the frame that carries a given answer.
    """

    def __init__(
        self,
        spec: FaultSpec | None = None,
        *,
        reservoir_ml: float = 12.0,
        program: DosingProgram = BASE,
        catheter_length_cm: float = 50.0,
        max_attempts: int = 6,
    ) -> None:
        therapy = TherapyInfo(
            origin="spinal", age_years=40, implanted_at="2025-01-25T09:00:00", catheter_length_cm=catheter_length_cm
        )
        self.firmware = implanted_pump(program, reservoir_ml=reservoir_ml, therapy=therapy, day0=DAY0)
        self.marks: list[tuple[str, int]] = []
        self.rewrite: Callable[[dict, dict], dict] | None = None
        self.endpoint = ServerEndpoint(self._handle, on_session_end=self.firmware.end_session)
        self.injector = FaultInjector(spec or FaultSpec())
        self.wire = LoopbackLink(self.endpoint.on_frame, self.injector)
        # a new radio connection for each session (the wand put back), over the same faulty link
        self.link = PumpLink(lambda: LoopbackClient(self.wire), max_attempts=max_attempts)
        self.record = ProgrammerRecord()

    def _handle(self, session: int, request: dict) -> dict:
        self.marks.append((request.get("cmd"), self.injector.frames))
        answer = self.firmware.handle(session, request)
        return self.rewrite(request, answer) if self.rewrite else answer

    @property
    def pump(self) -> ImplantedPump:
        return self.firmware.pump

    def advance(self, hours: float) -> None:
        self.pump.advance_to(self.pump.t + hours * 3600)

    def next_visit(self) -> PumpLink:
        """A clean link to the same pump (the next session, at the next visit)."""
        clean = LoopbackLink(self.endpoint.on_frame)
        return PumpLink(lambda: LoopbackClient(clean))

    def pump_log(self) -> list[dict]:
        visit = self.next_visit()
        try:
            return visit.read_log(0)
        finally:
            visit.drop()

    def running(self) -> dict:
        return program_json(self.pump.program)


def change_program(clinic: Clinic, new: DosingProgram = RAISED, acknowledged=()) -> W.ProgramOutcome:
    view = W.interrogate(clinic.link)
    return W.send_program(clinic.link, W.review_program(view, new), clinic.record, acknowledged)


def give_single_bolus(clinic: Clinic, dose: float = 25.0, minutes: float = 10.0, acknowledged=()):
    view = W.interrogate(clinic.link)
    return W.send_bolus(clinic.link, W.review_bolus(view, dose, minutes), clinic.record, acknowledged)


def answer_frame(workflow: Callable[[Clinic], object], cmd: str, **clinic_kw) -> int:
    """The index of the frame carrying the answer to the last ``cmd`` of ``workflow``, in a clean run."""
    twin = Clinic(**clinic_kw)
    workflow(twin)
    return [index for name, index in twin.marks if name == cmd][-1] + 1


def codes(assessment) -> set[str]:
    return {f.code for f in assessment.findings}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_record_matches_log(record: ProgrammerRecord, log: list[dict]) -> None:
    logged = {(e.get("key"), e["type"]): e["seq"] for e in log}
    for entry in record.entries:
        assert entry.status not in (Status.PENDING, Status.UNCERTAIN), entry
        proof = logged.get((entry.key, W.PROOF[entry.command]))
        assert (entry.status is Status.APPLIED) == (proof is not None), entry
        if entry.pump_seq is not None:
            assert entry.pump_seq == proof


# -- interrogation ------------------------------------------------------------------------------


def test_interrogate_reads_status_program_forecast_and_history():
    clinic = Clinic()
    view = W.interrogate(clinic.link)
    status = view.status
    assert status["model"] == "peristaltic"
    assert status["state"] == "running"
    assert status["reservoir_ml"] == 12.0
    assert status["concentration_mcg_per_ml"] == 500
    assert status["program_version"] == 1
    assert view.now == START
    assert view.patient.origin is Origin.SPINAL and view.patient.age_years == 40
    # the program, read back in chunks and checked against the pump's CRC-32
    assert view.block.version == 1
    assert view.block.program == BASE
    assert zlib.crc32(view.block.text) == status["program_crc32"]
    assert len(view.block.text) == status["program_bytes"]
    # the forecast: the same numbers through the forecast, and by hand (10 mL to the alarm at 0.8 mL/day)
    state = ReservoirState(
        at=START,
        reservoir_capacity_ml=20.0,
        reservoir_ml=12.0,
        concentration_mcg_per_ml=500.0,
        low_reservoir_alarm_ml=2.0,
        empty_ml=0.0,
    )
    assert view.forecast == forecast_reservoir(state, BASE)
    assert view.forecast.low_reservoir_alarm_at == START + timedelta(days=12.5)
    assert view.forecast.empty_at == START + timedelta(days=15)
    assert view.forecast.daily_volume_ml == pytest.approx(0.8)
    # nothing in the pump's log yet
    assert view.log == []
    assert view.history == DoseHistory()


def test_interrogate_refuses_a_program_that_does_not_match_its_crc():
    clinic = Clinic()

    def garble(request: dict, answer: dict) -> dict:
        if request["cmd"] == "program_read":
            return {**answer, "data": answer["data"].replace("400", "900")}  # same length, other bytes
        return answer

    clinic.rewrite = garble
    with pytest.raises(PumpDataError, match="CRC-32"):
        W.interrogate(clinic.link)


def test_dose_history_comes_from_the_pumps_log():
    clinic = Clinic()
    change_program(clinic, RAISED)
    clinic.advance(1)
    give_single_bolus(clinic, 25, 10)
    clinic.advance(1)
    view = W.interrogate(clinic.link)
    assert view.history.last_increase_at == START
    assert view.history.boluses == ((START + timedelta(hours=1), 25.0),)
    assert [e["type"] for e in view.log] == ["program_changed", "bolus_started", "bolus_completed"]


def test_dose_history_reads_increases_and_single_boluses_only():
    log = [
        {"seq": 1, "at": "2026-03-01T09:00:00", "type": "program_changed", "daily_dose_mcg": 400.0},
        {"seq": 2, "at": "2026-03-02T09:00:00", "type": "program_changed", "daily_dose_mcg": 480.0},
        {"seq": 3, "at": "2026-03-03T09:00:00", "type": "program_changed", "daily_dose_mcg": 430.0},
        {"seq": 4, "at": "2026-03-03T10:00:00", "type": "bolus_started", "kind": "single", "dose_mcg": 25.0},
        {"seq": 5, "at": "2026-03-03T11:00:00", "type": "bolus_started", "kind": "bridge", "dose_mcg": 160.0},
        {"seq": 6, "at": "2026-03-03T12:00:00", "type": "bolus_started", "kind": "priming", "dose_mcg": 173.0},
        {"seq": 7, "at": "2026-03-03T12:30:00", "type": "refill", "added_ml": 20.0},
    ]
    history = W.dose_history(log)
    assert history.last_increase_at == at("2026-03-02T09:00:00")  # the reduction after it is no increase
    assert history.boluses == ((at("2026-03-03T10:00:00"), 25.0),)


def test_dose_history_counts_the_first_logged_change_as_an_increase():
    # The program before it is not in the log: the change may have been an increase (the safe side).
    log = [{"seq": 1, "at": "2026-03-01T09:00:00", "type": "program_changed", "daily_dose_mcg": 350.0}]
    assert W.dose_history(log).last_increase_at == at("2026-03-01T09:00:00")


# -- reviewing a program change ------------------------------------------------------------------


def test_review_program_shows_old_against_new():
    clinic = Clinic()
    new = DosingProgram((Step(0, 400.0), Step(480, 500.0)), (DailyBolus(720, 20.0, 30),))
    review = W.review_program(W.interrogate(clinic.link), new)
    # 400 x 8/24 + 500 x 16/24 + 20 = 486.67 mcg/day (+21.7 %): within every limit
    assert review.assessment.findings == ()
    assert review.rows() == [
        ("steps (start mcg/day)", "00:00 400", "00:00 400, 08:00 500"),
        ("daily boluses", "none", "12:00 20 mcg/30 min"),
        ("daily dose", "400 mcg", "486.7 mcg"),
        ("daily volume", "0.8 mL", "0.9733 mL"),
    ]
    assert review.old == BASE and review.new == new


# -- sending a program change ----------------------------------------------------------------------


def test_an_unacknowledged_soft_limit_sends_nothing():
    clinic = Clinic()
    view = W.interrogate(clinic.link)
    review = W.review_program(view, DosingProgram.simple_continuous(420.0))  # +5 %: below the usual +10 %
    assert codes(review.assessment) == {"increase_step_min"}
    assert review.assessment.findings[0].severity is Severity.CONFIRM
    frames, log_size = clinic.injector.frames, len(clinic.pump.log)
    for acknowledged in ((), ("maintenance_range",)):
        with pytest.raises(W.NotAllowed, match=r"needs confirmation \(increase_step_min\)"):
            W.send_program(clinic.link, review, clinic.record, acknowledged)
    assert clinic.injector.frames == frames  # not one frame went out
    assert len(clinic.pump.log) == log_size
    assert clinic.firmware.program_version == 1
    assert clinic.running() == program_json(BASE)
    assert clinic.record.entries == []


def test_a_hard_limit_cannot_be_acknowledged():
    clinic = Clinic()
    review = W.review_program(W.interrogate(clinic.link), DosingProgram.simple_continuous(560.0))  # +40 %
    assert codes(review.assessment) == {"increase_step_max"}
    frames = clinic.injector.frames
    with pytest.raises(W.NotAllowed, match=r"refused: increase of \+40 %") as refused:
        W.send_program(clinic.link, review, clinic.record, ["increase_step_max"])
    assert refused.value.assessment is review.assessment
    assert clinic.injector.frames == frames
    assert clinic.firmware.program_version == 1 and clinic.pump.log == []
    assert clinic.record.entries == []


def test_a_second_increase_within_24_hours_is_refused_with_every_reason():
    clinic = Clinic()
    first = change_program(clinic, RAISED)  # 400 -> 480 at 09:00
    assert first.entry.status is Status.APPLIED and first.verified
    clinic.advance(2)
    view = W.interrogate(clinic.link)
    assert view.history.last_increase_at == START

    review = W.review_program(view, DosingProgram.simple_continuous(672.0))  # +40 %, 2 h after an increase
    assert {f.code for f in review.assessment.refusals} == {"max_one_increase_per_24h", "increase_step_max"}
    with pytest.raises(W.NotAllowed) as refused:
        W.send_program(clinic.link, review, clinic.record)
    message = str(refused.value)
    assert "2 h 00 min after the last increase" in message
    assert "next increase allowed from 2026-03-02 09:00" in message
    assert "increase of +40 %" in message

    small = W.review_program(view, DosingProgram.simple_continuous(528.0))  # +10 %: only the 24 h rule
    assert codes(small.assessment) == {"max_one_increase_per_24h"}
    with pytest.raises(W.NotAllowed, match="at most one increase per 24 h"):
        W.send_program(clinic.link, small, clinic.record, ["max_one_increase_per_24h"])
    assert clinic.firmware.program_version == 2
    assert [e.command for e in clinic.record.entries] == ["program"]

    clinic.advance(22)  # 24 h after the first increase: allowed
    later = change_program(clinic, DosingProgram.simple_continuous(528.0))
    assert later.entry.status is Status.APPLIED and later.verified and later.version == 3


def test_acknowledged_soft_limits_are_recorded_and_the_program_is_verified():
    clinic = Clinic()
    new = DosingProgram.simple_continuous(420.0)
    outcome = change_program(clinic, new, ["increase_step_min"])
    entry = outcome.entry
    assert entry.status is Status.APPLIED
    assert entry.summary == {"base_version": 1, "daily_dose_mcg": 420.0, "acknowledged": ["increase_step_min"]}
    assert entry.attempts == 1
    # read back after the send: the pump runs exactly the new program, one version later
    assert outcome.verified is True
    assert outcome.version == 2 == clinic.firmware.program_version
    assert clinic.running() == program_json(new)
    (changed,) = [e for e in clinic.pump_log() if e["type"] == "program_changed"]
    assert changed["key"] == entry.key and changed["version"] == 2 and changed["daily_dose_mcg"] == 420.0


def test_a_commit_whose_answer_is_cut_is_left_uncertain_then_reconciled():
    k = answer_frame(change_program, "program_commit")
    clinic = Clinic(FaultSpec(script=((k, "cut"),)))
    outcome = change_program(clinic)
    assert clinic.injector.counts["cut"] == 1
    entry = outcome.entry
    assert entry.status is Status.UNCERTAIN  # the pump applied it, but the programmer cannot know yet
    assert outcome.verified is False
    # the pump did commit it, as one block
    assert clinic.running() == program_json(RAISED) and clinic.firmware.program_version == 2
    # the next visit settles it from the pump's log, and reads it back
    visit = clinic.next_visit()
    W.reconcile_record(visit, clinic.record)
    assert entry.status is Status.APPLIED
    assert entry.detail == "found in the pump's log after an uncertain send"
    log = visit.read_log(0)
    assert_record_matches_log(clinic.record, log)
    assert entry.pump_seq == next(e["seq"] for e in log if e.get("key") == entry.key)
    view = W.interrogate(visit)
    assert view.block.version == 2 and view.block.program == RAISED


def test_a_cut_at_any_frame_leaves_old_or_new_and_a_record_that_matches_the_log():
    clean = Clinic()
    change_program(clean)
    total = clean.injector.frames  # interrogate, send, read back
    seen = Counter()
    for k in range(1, total + 2):
        clinic = Clinic(FaultSpec(script=((k, "cut"),)))
        try:
            outcome = change_program(clinic)
        except (UncertainOutcome, LinkDown):
            assert clinic.record.entries == []  # the interrogation failed: nothing was sent
            assert clinic.running() == program_json(BASE)
            seen["aborted"] += 1
            continue
        status = outcome.entry.status
        seen[str(status)] += 1
        running_new = clinic.running() == program_json(RAISED)
        assert running_new or clinic.running() == program_json(BASE), k
        assert clinic.firmware.program_version == (2 if running_new else 1)
        if status is Status.APPLIED:
            assert running_new and outcome.version == 2
            assert outcome.verified == (k > total)  # verified unless the read-back was cut
        else:
            assert status is Status.UNCERTAIN and not outcome.verified, k
        visit = clinic.next_visit()
        W.reconcile_record(visit, clinic.record)
        log = visit.read_log(0)
        assert_record_matches_log(clinic.record, log)
        assert (outcome.entry.status is Status.APPLIED) == running_new, k
        assert sum(e["type"] == "program_changed" for e in log) == int(running_new)
    assert seen["aborted"] and seen["uncertain"] and seen["applied"], seen


def test_a_lost_commit_answer_is_found_in_the_log_within_the_same_visit():
    k = answer_frame(change_program, "program_commit")
    # the answer and its one retransmitted copy are lost; the next session reads the log
    clinic = Clinic(FaultSpec(script=((k, "drop"), (k + 2, "drop"))), max_attempts=2)
    outcome = change_program(clinic)
    entry = outcome.entry
    assert entry.status is Status.APPLIED and entry.attempts == 1
    assert entry.detail == "found in the pump's log after an uncertain send"
    assert outcome.verified and outcome.version == 2
    assert sum(e["type"] == "program_changed" for e in clinic.pump_log()) == 1


def test_a_lost_commit_request_is_sent_again_under_the_same_key_and_applied_once():
    k = answer_frame(change_program, "program_commit") - 1  # the commit request itself
    clinic = Clinic(FaultSpec(script=((k, "drop"), (k + 1, "drop"))), max_attempts=2)
    outcome = change_program(clinic)
    entry = outcome.entry
    assert entry.status is Status.APPLIED and entry.attempts == 2
    assert outcome.verified and outcome.version == 2
    assert clinic.firmware.discarded_transfers == 1  # the first block died with its session
    changes = [e for e in clinic.pump_log() if e["type"] == "program_changed"]
    assert [e["key"] for e in changes] == [entry.key]


# -- boluses ---------------------------------------------------------------------------------------


def bolus_starts(log: list[dict], key: str) -> int:
    return sum(1 for e in log if e["type"] == "bolus_started" and e.get("key") == key)


def test_a_bolus_whose_answer_is_lost_is_found_in_the_log_and_not_given_twice():
    k = answer_frame(give_single_bolus, "bolus_start")
    clinic = Clinic(FaultSpec(script=((k, "drop"), (k + 2, "drop"))), max_attempts=2)
    entry = give_single_bolus(clinic)
    assert entry.status is Status.APPLIED and entry.attempts == 1
    assert entry.detail == "found in the pump's log after an uncertain send"
    log = clinic.pump_log()
    assert bolus_starts(log, entry.key) == 1
    # even sent again under its key, the pump answers from memory and gives nothing more
    fields = {name: entry.summary[name] for name in ("dose_mcg", "duration_minutes", "kind")}
    again = clinic.next_visit().change("bolus_start", entry.key, **fields)
    assert again["already_applied"] is True
    assert bolus_starts(clinic.pump_log(), entry.key) == 1


def test_a_bolus_whose_answer_is_cut_is_reconciled_at_the_next_visit_and_not_given_twice():
    k = answer_frame(give_single_bolus, "bolus_start")
    clinic = Clinic(FaultSpec(script=((k, "cut"),)))
    entry = give_single_bolus(clinic)
    assert entry.status is Status.UNCERTAIN
    visit = clinic.next_visit()
    W.reconcile_record(visit, clinic.record)
    assert entry.status is Status.APPLIED
    log = visit.read_log(0)
    assert_record_matches_log(clinic.record, log)
    assert sum(e["type"] == "bolus_started" for e in log) == 1


def test_a_retransmitted_bolus_is_answered_from_the_pumps_cache():
    k = answer_frame(give_single_bolus, "bolus_start")
    clinic = Clinic(FaultSpec(script=((k, "drop"),)))
    entry = give_single_bolus(clinic)
    assert entry.status is Status.APPLIED and entry.detail == ""
    assert sum(e["type"] == "bolus_started" for e in clinic.pump_log()) == 1


def test_the_bolus_lockout_uses_the_pumps_own_log():
    clinic = Clinic()
    first = give_single_bolus(clinic, 25, 10)  # 09:00
    assert first.status is Status.APPLIED
    clinic.advance(1)
    view = W.interrogate(clinic.link)  # a new look at the pump: it knows of the bolus from its log only
    review = W.review_bolus(view, 25, 10)
    assert codes(review.assessment) == {"bolus_lockout"}
    (lockout,) = review.assessment.refusals
    assert "started at 2026-03-01 09:00, 1 h 00 min ago" in lockout.message
    assert "next bolus allowed from 2026-03-01 13:00" in lockout.message
    frames = clinic.injector.frames
    with pytest.raises(W.NotAllowed, match="wait at least 240 min between boluses"):
        W.send_bolus(clinic.link, review, clinic.record, ["bolus_lockout"])
    assert clinic.injector.frames == frames
    assert len(clinic.record.entries) == 1
    clinic.advance(3)  # 4 h after the first: allowed
    second = give_single_bolus(clinic, 25, 10)
    assert second.status is Status.APPLIED


def test_the_daily_bolus_maximum_counts_the_boluses_in_the_pumps_log():
    clinic = Clinic()
    assert give_single_bolus(clinic, 90, 10, ["bolus_dose_high"]).status is Status.APPLIED  # 09:00
    clinic.advance(5)
    assert give_single_bolus(clinic, 90, 10, ["bolus_dose_high"]).status is Status.APPLIED  # 14:00
    clinic.advance(5)
    view = W.interrogate(clinic.link)  # 19:00: 180 mcg given in 24 h
    too_much = W.review_bolus(view, 30, 10)
    assert codes(too_much.assessment) == {"bolus_daily_max"}
    assert "to 210 mcg (180 mcg already given), above 200 mcg per 24 h" in too_much.assessment.findings[0].message
    with pytest.raises(W.NotAllowed, match="above 200 mcg per 24 h"):
        W.send_bolus(clinic.link, too_much, clinic.record)
    assert W.review_bolus(view, 20, 10).assessment.findings == ()  # 200 mcg: at the maximum, allowed


@pytest.mark.parametrize("kind", ["bridge", "priming"])
def test_bridge_and_priming_boluses_are_not_judged_by_single_bolus_limits(kind):
    clinic = Clinic()
    give_single_bolus(clinic, 25, 10)
    clinic.advance(1)
    view = W.interrogate(clinic.link)
    # 150 mcg, 1 h after a bolus: above the single-bolus maximum and inside the lockout
    assert codes(W.review_bolus(view, 150, 60).assessment) == {"bolus_dose_max", "bolus_lockout"}
    review = W.review_bolus(view, 150, 60, kind)
    assert review.assessment.findings == ()
    entry = W.send_bolus(clinic.link, review, clinic.record)
    assert entry.status is Status.APPLIED
    (started,) = [e for e in clinic.pump_log() if e.get("key") == entry.key]
    assert started["kind"] == kind and started["dose_mcg"] == 150
    # and they do not count as single boluses afterwards
    assert W.interrogate(clinic.link).history.boluses == ((START, 25.0),)


def test_review_priming_fills_the_catheter_and_the_tubing():
    clinic = Clinic(catheter_length_cm=60)
    view = W.interrogate(clinic.link)
    review = W.review_priming(view, catheter_length_cm=60, primed=False)
    volume = 60 * ML_PER_CM + TUBING_ML  # 0.156 + 0.19 = 0.346 mL
    assert volume == pytest.approx(0.346)
    assert review.kind == "priming"
    assert review.dose_mcg == pytest.approx(volume * 500)  # 173 mcg at 500 mcg/mL
    assert review.duration_minutes == 30
    assert review.assessment.findings == ()
    entry = W.send_bolus(clinic.link, review, clinic.record)
    (started,) = [e for e in clinic.pump_log() if e.get("key") == entry.key]
    assert started["kind"] == "priming" and started["dose_mcg"] == pytest.approx(173.0)


def test_priming_volume_max_refuses_more_than_the_catheter_holds():
    """Device manual: prime only the catheter's volume; what is pushed beyond it reaches the
    spinal fluid. A 60 cm priming on the recorded 50 cm catheter is refused, with the extra dose."""
    review = W.review_priming(W.interrogate(Clinic(catheter_length_cm=50).link), 60, primed=False)
    (too_much,) = review.assessment.findings
    assert too_much.code == "priming_volume_max" and too_much.severity is Severity.REFUSE
    assert "the extra 0.026 mL would push 13 mcg" in too_much.message


def test_priming_catheter_primed_is_a_bolus_judged_by_every_bolus_limit():
    """The issue's case: re-priming a catheter still full of drug pushed 0.13 mL x 2,000 mcg/mL =
    260 mcg in 30 minutes with no question. Now it is confirmed with its dose shown, and refused
    by the bolus hard maximum (100 mcg)."""
    clinic = Clinic(catheter_length_cm=50)
    clinic.pump.conc = 2000.0  # the reservoir holds 2,000 mcg/mL
    review = W.review_priming(W.interrogate(clinic.link), 50)
    codes = {f.code: f for f in review.assessment.findings}
    assert {"priming_catheter_primed", "bolus_dose_max"} <= set(codes)
    assert "0.32 mL x 2000 mcg/mL = 640 mcg into the spinal fluid" in codes["priming_catheter_primed"].message
    assert not review.assessment.allowed(("priming_catheter_primed",))


# -- refills ---------------------------------------------------------------------------------------


def test_plan_refill_with_a_concentration_change():
    clinic = Clinic(catheter_length_cm=60)
    view = W.interrogate(clinic.link)
    plan = W.plan_refill(view, withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=1000)
    assert plan.assessment.findings == ()
    # dead volume = the model's tubing + the therapy's catheter: 0.19 + 60 x 0.0026 = 0.346 mL of 500 mcg/mL
    volume = TUBING_ML + 60 * ML_PER_CM
    bridge = plan.bridge
    assert bridge is not None
    assert bridge.dead_volume_ml == pytest.approx(0.346)
    assert bridge.dose_mcg == pytest.approx(volume * (1000 - 500))  # 173 mcg at the new concentration
    assert bridge.duration_minutes == pytest.approx(volume * 500 / 400 * 1440)  # 622.8 min
    # 20 mL of 1000 mcg/mL: 18 mL to the alarm = 18000 mcg, less the bridge, at 400 mcg/day
    alarm = START + timedelta(days=(18 * 1000 - bridge.dose_mcg) / 400)
    assert abs(plan.low_reservoir_alarm_at - alarm) <= timedelta(seconds=1)
    state = ReservoirState(START, 20.0, 20.0, 1000.0, 2.0, 0.0)
    with_bridge = DosingProgram(
        BASE.steps, (), (OneTimeBolus(START, bridge.dose_mcg, bridge.duration_minutes, BolusKind.BRIDGE),)
    )
    assert plan.low_reservoir_alarm_at == forecast_reservoir(state, with_bridge).low_reservoir_alarm_at
    assert plan.earliest_alarm_at is not None and plan.earliest_alarm_at < plan.low_reservoir_alarm_at
    assert plan.next_refill_at == plan.earliest_alarm_at - timedelta(days=7)


def test_plan_refill_without_a_concentration_change_has_no_bridge():
    clinic = Clinic()
    plan = W.plan_refill(W.interrogate(clinic.link), withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=500)
    assert plan.bridge is None and plan.assessment.findings == ()
    assert plan.low_reservoir_alarm_at == START + timedelta(days=18 / 0.8)  # 22.5 days
    # No flow history: the device's prior, the edge of its label (+14.5 %): 22.5 days / that ratio
    ratio = device_prior(PERISTALTIC).upper(DEFAULT_FLOW, 22.5)
    assert ratio == pytest.approx(1.145, abs=0.005)
    assert abs(plan.earliest_alarm_at - (START + timedelta(days=22.5 / ratio))) <= timedelta(seconds=1)
    assert plan.next_refill_at == plan.earliest_alarm_at - timedelta(days=7)


def test_plan_refill_to_a_lower_concentration_asks_for_confirmation():
    clinic = Clinic()
    plan = W.plan_refill(W.interrogate(clinic.link), withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=50)
    assert plan.bridge is None
    assert codes(plan.assessment) == {"bridge_lower_concentration"}
    # the overshoot if nothing is done, and the temporary program that avoids it (steps x 50/500)
    assert plan.decrease is not None and plan.decrease.factor == 10
    assert plan.temporary_program is not None
    assert plan.temporary_program.daily_dose_mcg == pytest.approx(BASE.daily_dose_mcg / 10)


def test_plan_refill_flags_a_discrepancy_and_sends_only_when_acknowledged():
    clinic = Clinic()
    view = W.interrogate(clinic.link)
    plan = W.plan_refill(view, withdrawn_ml=9.5, added_ml=20.0, concentration_mcg_per_ml=500)
    (found,) = plan.assessment.findings
    assert found.code == "refill_discrepancy" and found.severity is Severity.CONFIRM
    assert "2.50 mL less than expected" in found.message and "pocket fill" in found.message
    frames = clinic.injector.frames
    with pytest.raises(W.NotAllowed, match="refill_discrepancy"):
        W.send_refill(clinic.link, plan, clinic.record)
    assert clinic.injector.frames == frames and clinic.pump.log == []
    outcome = W.send_refill(clinic.link, plan, clinic.record, ["refill_discrepancy"])
    assert outcome.refill.status is Status.APPLIED and outcome.bridge is None
    assert outcome.refill.summary["acknowledged"] == ["refill_discrepancy"]
    (refill,) = [e for e in clinic.pump_log() if e["type"] == "refill"]
    assert refill["key"] == outcome.refill.key and refill["reported_withdrawn_ml"] == 9.5


def test_plan_refill_refuses_an_overfill():
    clinic = Clinic()
    plan = W.plan_refill(W.interrogate(clinic.link), withdrawn_ml=12.0, added_ml=25.0, concentration_mcg_per_ml=500)
    assert [f.code for f in plan.assessment.refusals] == ["refill_overfill"]
    frames = clinic.injector.frames
    with pytest.raises(W.NotAllowed, match="overfill the 20 mL reservoir"):
        W.send_refill(clinic.link, plan, clinic.record, ["refill_overfill"])
    assert clinic.injector.frames == frames and clinic.record.entries == []


def test_send_refill_applies_the_refill_then_the_bridge_bolus():
    clinic = Clinic()
    view = W.interrogate(clinic.link)
    plan = W.plan_refill(view, withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=1000)
    outcome = W.send_refill(clinic.link, plan, clinic.record)
    assert outcome.refill.status is Status.APPLIED
    assert outcome.bridge is not None and outcome.bridge.status is Status.APPLIED
    log = clinic.pump_log()
    (refill,) = [e for e in log if e.get("key") == outcome.refill.key]
    (bridge,) = [e for e in log if e.get("key") == outcome.bridge.key]
    assert refill["type"] == "refill" and refill["added_ml"] == 20.0 and refill["concentration_mcg_per_ml"] == 1000
    assert bridge["type"] == "bolus_started" and bridge["kind"] == "bridge"
    assert refill["seq"] < bridge["seq"]
    # 0.32 mL dead volume (0.19 mL + 50 cm): 160 mcg over 0.32 x 500 / 400 days = 576 min
    assert bridge["dose_mcg"] == pytest.approx(160.0)
    assert bridge["duration_minutes"] == pytest.approx(576.0)
    assert clinic.pump.conc == 1000 and clinic.pump.est_ml == pytest.approx(20.0)
    assert [e.command for e in clinic.record.entries] == ["refill", "bolus_start"]
    assert_record_matches_log(clinic.record, log)


def test_the_next_refill_judges_the_difference_by_the_device_tolerance_too():
    clinic = Clinic()
    plan = W.plan_refill(W.interrogate(clinic.link), withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=500)
    W.send_refill(clinic.link, plan, clinic.record)
    clinic.advance(24 * 10)  # 10 days at 0.8 mL/day: the pump counted 8 mL pumped
    view = W.interrogate(clinic.link)
    assert W.pumped_since_last_refill(view) == pytest.approx(8.0)
    expected = view.status["reservoir_ml"]  # 12 mL
    # 14.5 % of 8 mL = 1.16 mL: 1.5 mL off is within 2 mL but beyond the device's tolerance
    plan = W.plan_refill(view, withdrawn_ml=expected + 1.5, added_ml=20.0, concentration_mcg_per_ml=500)
    (found,) = plan.assessment.findings
    assert "device tolerance (14.5% of 8 mL)" in found.message and "under-infused" in found.message
    assert (
        W.plan_refill(
            view, withdrawn_ml=expected + 1.0, added_ml=20.0, concentration_mcg_per_ml=500
        ).assessment.findings
        == ()
    )


def test_interrogation_during_a_bridge_bolus_forecasts_the_alarm_the_pump_will_sound():
    # 500 -> 2000 mcg/mL at 110 mcg/day: the bridge (480 mcg, 0.24 mL) runs for 1.45 days
    clinic = Clinic(program=DosingProgram.simple_continuous(110.0))
    plan = W.plan_refill(W.interrogate(clinic.link), withdrawn_ml=12.0, added_ml=20.0, concentration_mcg_per_ml=2000)
    assert plan.bridge is not None and plan.bridge.duration_minutes > 1440
    W.send_refill(clinic.link, plan, clinic.record)
    clinic.advance(12)
    view = W.interrogate(clinic.link)
    assert view.status["bolus_running"] is True
    assert view.block.program.one_time_boluses == ()  # the bridge is not part of the program...
    assert view.forecast.low_reservoir_alarm_at == plan.low_reservoir_alarm_at  # ...but it is in the forecast
    clinic.advance(24 * 400)
    (alarm,) = [e for e in clinic.pump_log() if e["type"] == "low_reservoir_alarm"]
    assert at(alarm["at"]) == plan.low_reservoir_alarm_at


def test_interrogation_counts_a_running_bolus_once():
    # a bolus sent by command (logged under its key) and one of the program's own one-time boluses
    own = OneTimeBolus(START + timedelta(hours=1), 50.0, 180, BolusKind.SINGLE)
    program = DosingProgram(BASE.steps, (), (own,))
    clinic = Clinic(program=program)
    give_single_bolus(clinic, 40, 240)  # 09:00-13:00
    clinic.advance(2)  # 11:00: both running
    view = W.interrogate(clinic.link)
    assert view.block.program == program
    state = ReservoirState(START + timedelta(hours=2), 20.0, view.status["reservoir_ml"], 500.0, 2.0, 0.0)
    commanded = OneTimeBolus(START, 40.0, 240, BolusKind.SINGLE)
    expected = forecast_reservoir(state, DosingProgram(BASE.steps, (), (own, commanded)))
    assert view.forecast == expected
    # a program change ends the running boluses: the forecast is the program's again
    clinic.advance(0.5)
    change_program(clinic, RAISED)
    after = W.interrogate(clinic.link)
    assert after.status["bolus_running"] is False
    state = ReservoirState(after.now, 20.0, after.status["reservoir_ml"], 500.0, 2.0, 0.0)
    assert after.forecast == forecast_reservoir(state, RAISED)


def test_dose_history_uses_the_dose_before_each_change_when_the_pump_logs_it():
    # The pump logs the dose before each change: a first logged change that lowered it is no increase.
    log = [
        {
            "seq": 1,
            "at": "2026-03-01T09:00:00",
            "type": "program_changed",
            "daily_dose_mcg": 350.0,
            "previous_daily_dose_mcg": 400.0,
        },
    ]
    assert W.dose_history(log).last_increase_at is None


def test_restart_after_stop_when_a_refill_restarts_a_pump_that_ran_empty():
    """Clinic setting, unverified (LimitSettings.restart_after_stop_hours / restart_max_fraction):
    a pump that ran empty days ago restarts its full program when refilled, after a drug holiday;
    the refill review asks for confirmation and says to restart lower."""
    clinic = Clinic(reservoir_ml=3.0)  # 400 mcg/day at 500 mcg/mL: empty in 3.75 days
    clinic.advance(24 * 7)
    view = W.interrogate(clinic.link)
    assert view.history.stopped_at is not None
    plan = W.plan_refill(view, withdrawn_ml=0.0, added_ml=20.0, concentration_mcg_per_ml=500)
    (restart,) = [f for f in plan.assessment.findings if f.code == "restart_after_stop"]
    assert "no more than 50 % (200 mcg/day)" in restart.message
    fresh = Clinic(reservoir_ml=12.0)
    fresh.advance(24)
    again = W.plan_refill(W.interrogate(fresh.link), withdrawn_ml=10.0, added_ml=20.0, concentration_mcg_per_ml=500)
    assert "restart_after_stop" not in {f.code for f in again.assessment.findings}
