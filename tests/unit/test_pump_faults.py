"""The pump's own failures: a critical memory error and a low battery reset (``itb.pump.engine``).

Sources:
- ``shared/domain.md``, "The pump (device facts)": critical alarm (two-tone) for a "critical memory
  error — drug is no longer flowing".
- Medtronic, product advisory "SynchroMed II Reduced Battery Performance" (July 2011), "What is
  Happening": "the drug flow rate may be reset to a very low level"; "the pump will need to be
  replaced"; "Pump Alarms": a two-tone alarm and a single-tone alarm.
- Medtronic's notice relayed by HSA Singapore (25 May 2017) and Health Canada (RA-63236, 2017):
  "Low Battery Reset (critical alarm)".
- ``shared/spec/simulate.md``, "Bad input": an unknown action type is refused, so neither failure is
  a scenario action; they are things that happen to the pump (engine methods).

Unless a test says otherwise the pump is a 20 mL peristaltic pump holding 20 mL of 500 mcg/mL at
500 mcg/day (1 mL a day), started 2026-01-05 08:00.
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

import orjson
import pytest
from test_pump_rules import BASE  # the scenario the pump rules are tested on

from itb.contracts.forecast import program_json
from itb.domain import alarms as A
from itb.domain.devices import PERISTALTIC, VALVE_GATED
from itb.domain.errors import InvalidInput
from itb.domain.program import DosingProgram
from itb.pump.engine import ImplantedPump
from itb.pump.firmware import PumpFirmware, Refused
from itb.pump.scenario_json import outcome_json, parse_scenario
from itb.pump.simulator import Outcome, new_pump
from itb.web import family

DAY = 86400.0


def pump(model: str = "peristaltic") -> ImplantedPump:
    obj = copy.deepcopy(BASE)
    obj["pump"]["model"] = model
    return new_pump(parse_scenario(obj))


def events(p: ImplantedPump, kind: str) -> list[Any]:
    return [e for e in p.events if e.type == kind]


def delivered_over(p: ImplantedPump, seconds: float) -> float:
    before = p.delivered_mcg
    p.advance_to(p.t + seconds)
    return p.delivered_mcg - before


# ----------------------------------------------------------------------------- the alarm kinds
@pytest.mark.parametrize("kind", [A.CRITICAL_MEMORY_ERROR, A.LOW_BATTERY_RESET])
def test_memory_error_and_battery_reset_are_critical_two_tone_alarms(kind: A.AlarmKind) -> None:
    """domain.md (critical alarm: critical memory error); HSA 2017 / Health Canada 2017 ("Low Battery
    Reset (critical alarm)"); Medtronic 2011 advisory, "Pump Alarms" (two-tone / single tone)."""
    assert A.ALARMS[kind.name] is kind
    assert kind.priority is A.Priority.CRITICAL
    assert kind.tone == "two-tone"
    assert "replace the pump" in kind.meaning


# ----------------------------------------------------------------------------- critical memory error
def test_critical_memory_error_stops_the_flow_and_sounds_the_critical_alarm() -> None:
    """domain.md, critical alarm: "critical memory error — drug is no longer flowing"."""
    p = pump()
    assert delivered_over(p, DAY) == pytest.approx(500, rel=1e-9)
    p.critical_memory_error()
    assert not p.pumping and p.state == "critical_memory_error"
    est, real = p.est_ml, p.real_ml
    assert delivered_over(p, 10 * DAY) == 0.0  # nothing more reaches the spinal fluid
    assert (p.est_ml, p.real_ml) == (est, real)
    assert p.active_alarms() == ["critical_memory_error"] and p.sounding_alarms() == ["critical_memory_error"]
    (logged,) = [e for e in p.log if e.type == "critical_memory_error"]  # in the pump's own log
    assert logged.fields["priority"] == "critical" and logged.fields["tone"] == "two-tone"
    assert logged.fields["repeat_minutes"] == PERISTALTIC.critical_alarm_repeat_minutes
    assert "no longer flowing" in logged.fields["message"]
    seen = p.interrogate().fields
    assert seen["state"] == "critical_memory_error" and seen["active_alarms"] == ["critical_memory_error"]
    assert abs(p.mass_balance_error_mcg()) < 1e-6 * p.initial_mcg


def test_critical_memory_error_is_not_cured_by_refill_program_or_silencing() -> None:
    """domain.md: the drug is no longer flowing; the alarm's meaning: replace the pump. A bolus running
    when it happens is cut short (logged), and the failure is raised once."""
    p = pump()
    p.start_bolus(100, 60)
    p.advance_to(p.t + 1800)
    p.critical_memory_error()
    p.critical_memory_error()
    assert len(events(p, "critical_memory_error")) == 1
    (cut,) = [e for e in events(p, "bolus_completed") if e.fields["cut_short"]]
    assert cut.fields["dose_mcg"] == pytest.approx(50, rel=1e-9)
    p.clear_alarms()
    p.refill(19.0, 500)
    p.set_program(DosingProgram.simple_continuous(300))
    assert delivered_over(p, 5 * DAY) == 0.0
    assert p.state == "critical_memory_error"
    assert p.active_alarms() == ["critical_memory_error"] and p.sounding_alarms() == []


def test_critical_memory_error_is_reported_over_telemetry_and_refuses_a_bolus() -> None:
    """The programmer's interrogation shows the state and the active critical alarm (domain.md)."""
    fw = PumpFirmware(pump())
    fw.pump.critical_memory_error()
    answer = fw.handle(1, {"cmd": "interrogate"})
    assert answer["state"] == "critical_memory_error"
    assert answer["active_alarms"] == answer["sounding_alarms"] == ["critical_memory_error"]
    page = fw.handle(1, {"cmd": "log"})
    assert [e["type"] for e in page["events"]] == ["critical_memory_error"]
    with pytest.raises(Refused, match="cannot give a bolus while critical memory error"):
        fw.handle(1, {"cmd": "bolus_start", "key": "fault-key-1", "dose_mcg": 10, "duration_minutes": 10})


# ----------------------------------------------------------------------------- low battery reset
def test_low_battery_reset_drops_the_flow_to_the_minimum_rate_and_sounds_the_critical_alarm() -> None:
    """Medtronic 2011 advisory, "What is Happening": "the drug flow rate may be reset to a very low
    level"; HSA / Health Canada 2017: "Low Battery Reset (critical alarm)"."""
    p = pump()
    p.start_bolus(100, 60)
    p.low_battery_reset()
    rate_ml = PERISTALTIC.low_battery_reset_rate_ml_per_day
    assert rate_ml == 0.048
    assert p.state == "low_battery_reset" and p.pumping
    assert p.program.daily_dose_mcg == pytest.approx(rate_ml * 500)  # 24 mcg/day instead of 500
    assert p.boluses == []
    assert delivered_over(p, 10 * DAY) == pytest.approx(10 * rate_ml * 500, rel=1e-9)
    assert p.active_alarms() == ["low_battery_reset"]
    (logged,) = [e for e in p.log if e.type == "low_battery_reset"]
    assert logged.fields["priority"] == "critical" and logged.fields["tone"] == "two-tone"
    assert logged.fields["previous_daily_dose_mcg"] == 500
    assert logged.fields["daily_dose_mcg"] == pytest.approx(24)
    seen = p.interrogate().fields
    assert seen["state"] == "low_battery_reset" and seen["daily_dose_mcg"] == pytest.approx(24)
    assert abs(p.mass_balance_error_mcg()) < 1e-6 * p.initial_mcg


def test_low_battery_reset_alarm_stays_until_replacement_after_reprogramming() -> None:
    """Medtronic 2011 advisory: "If that happens, the pump will need to be replaced": a new program
    ends the minimum rate, the critical alarm stays active."""
    p = pump()
    p.low_battery_reset()
    p.set_program(DosingProgram.simple_continuous(500))
    assert p.state == "running"
    assert delivered_over(p, DAY) == pytest.approx(500, rel=1e-9)
    assert p.active_alarms() == ["low_battery_reset"]


def test_low_battery_reset_is_a_new_program_version_over_telemetry() -> None:
    """The program block is versioned (itb.pump.firmware): the reset's minimum rate is a program the
    programmer has not seen, so a block based on the version before it is refused."""
    fw = PumpFirmware(pump())
    before = fw.handle(1, {"cmd": "interrogate"})
    fw.pump.low_battery_reset()
    after = fw.handle(1, {"cmd": "interrogate"})
    assert after["program_version"] == before["program_version"] + 1
    assert after["state"] == "low_battery_reset" and after["active_alarms"] == ["low_battery_reset"]
    assert after["daily_dose_mcg"] == pytest.approx(24)
    text = orjson.dumps(program_json(DosingProgram.simple_continuous(500)), option=orjson.OPT_SORT_KEYS)
    begin = {"cmd": "program_begin", "size": len(text), "crc32": zlib.crc32(text)}
    with pytest.raises(Refused, match="base_version"):
        fw.handle(1, {**begin, "key": "fault-key-2", "base_version": before["program_version"]})
    fw.handle(1, {**begin, "key": "fault-key-3", "base_version": after["program_version"]})
    fw.handle(1, {"cmd": "program_chunk", "offset": 0, "data": text.decode()})
    fw.handle(1, {"cmd": "program_commit", "key": "fault-key-3"})
    final = fw.handle(1, {"cmd": "interrogate"})
    assert final["state"] == "running" and final["daily_dose_mcg"] == 500
    assert final["active_alarms"] == ["low_battery_reset"]


def test_low_battery_reset_is_documented_for_the_peristaltic_pump_only() -> None:
    """The reset's sources are SynchroMed II notices; none describes one for the valve-gated pump."""
    assert VALVE_GATED.low_battery_reset_rate_ml_per_day is None
    p = pump("valve-gated")
    with pytest.raises(ValueError, match="no low battery reset is documented for the valve-gated pump"):
        p.low_battery_reset()
    assert p.events == [] and p.state == "running"
    p.critical_memory_error()  # an electronic failure any programmable pump can have
    assert p.state == "critical_memory_error"


# ----------------------------------------------------------------------------- the simulate contract
@pytest.mark.parametrize("kind", ["critical_memory_error", "low_battery_reset"])
def test_pump_failures_are_not_scenario_actions(kind: str) -> None:
    """simulate.md, "Bad input": an unknown action type is refused; the contract has no such action."""
    obj = {**copy.deepcopy(BASE), "actions": [{"at": "2026-01-10T08:00:00", "type": kind}]}
    with pytest.raises(InvalidInput) as info:
        parse_scenario(obj)
    assert [v.field for v in info.value.violations] == ["actions[0].type"]


def test_pump_failures_appear_in_the_contract_outcome_as_events() -> None:
    """simulate.md, "Output": events are "at least these types": a failure is one more event type, with
    ``at``, ``type`` and its fields; mass balance still holds."""
    scenario = parse_scenario(copy.deepcopy(BASE))
    p = new_pump(scenario)
    p.advance_to(p.t + DAY)
    p.low_battery_reset()
    p.advance_to(p.t + DAY)
    p.critical_memory_error()
    p.advance_to(p.t_of(scenario.until))
    data = outcome_json(Outcome(scenario, p))
    assert [e["type"] for e in data["events"]] == ["low_battery_reset", "critical_memory_error"]
    reset = next(e for e in data["events"] if e["type"] == "low_battery_reset")
    assert reset["at"].isoformat() == "2026-01-06T08:00:00" and reset["pump_log"] is True
    final = data["final"]
    assert final["state"] == "critical_memory_error"
    assert final["active_alarms"] == ["critical_memory_error", "low_battery_reset"]
    assert final["delivered_mcg"] == pytest.approx(500 + 24, rel=1e-9)


# ----------------------------------------------------------------------------- the family's words
@pytest.mark.parametrize("name", ["critical_memory_error", "low_battery_reset"])
def test_family_words_for_a_memory_error_or_battery_reset_say_emergency(name: str) -> None:
    """A critical alarm: the medicine is no longer flowing; call the clinic now; withdrawal risk, so
    emergency services for its signs (domain.md, critical alarm and withdrawal; the seed's alarm
    advice); a new pump is needed (Medtronic 2011 advisory: "the pump will need to be replaced")."""
    sound = family.ALARM_SOUNDS_BY_NAME[name]
    text = f"{sound.meaning} {sound.what_to_do}".lower()
    assert sound.emergency and sound.sound == "two tones"
    for needle in ("no longer flowing", "this is an emergency", "call the clinic now", "withdrawal", "new pump"):
        assert needle in text, needle
    assert "call emergency services" in text
    words = family.plain_pump_status(name, [name], 30, None)
    assert words.startswith(family.NOT_FLOWING)
    assert "The pump is working" not in words
    reprogrammed = family.plain_pump_status("running", [name], 30, None)
    assert reprogrammed.startswith(family.NOT_FLOWING)  # the alarm stays until the pump is replaced
