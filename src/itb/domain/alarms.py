"""The pump's alarms: which are critical, and how each sounds.

Two sounds (``shared/domain.md``, "The pump (device facts)"; Medtronic, "Understanding pump alarm
sounds", and its July 2011 product advisory "SynchroMed II Reduced Battery Performance", "Pump
Alarms": a two-tone alarm and a single-tone alarm): a critical alarm is two-tone and means the drug
is no longer flowing as programmed; a non-critical alarm is a single tone, about hourly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Priority(StrEnum):
    CRITICAL = "critical"
    NON_CRITICAL = "non-critical"


@dataclass(frozen=True, slots=True)
class AlarmKind:
    name: str
    priority: Priority
    meaning: str

    @property
    def tone(self) -> str:
        return "two-tone" if self.priority is Priority.CRITICAL else "single tone"


LOW_RESERVOIR = AlarmKind("low_reservoir", Priority.NON_CRITICAL, "the reservoir is low: book a refill now")
ERI = AlarmKind(
    "elective_replacement_indicator", Priority.NON_CRITICAL, "the battery is near its end: plan replacement"
)
EMPTY_RESERVOIR = AlarmKind(
    "empty_reservoir", Priority.CRITICAL, "the pump believes it is empty: the drug is no longer flowing"
)
END_OF_SERVICE = AlarmKind("end_of_service", Priority.CRITICAL, "the pump has stopped for good")
MOTOR_STALL = AlarmKind("motor_stall", Priority.CRITICAL, "the motor has stalled: the drug is no longer flowing")
SAFETY_VALVE_CLOSED = AlarmKind(
    "safety_valve_closed", Priority.CRITICAL, "the safety valve is shut: no drug flows until it is reset"
)
#: domain.md, "The pump (device facts)", critical alarm (two-tone): "critical memory error — drug is
#: no longer flowing". The pump stops; nothing short of replacing it makes it pump again.
CRITICAL_MEMORY_ERROR = AlarmKind(
    "critical_memory_error",
    Priority.CRITICAL,
    "the pump's memory has failed and the pump has stopped: the drug is no longer flowing; replace the pump",
)
#: Medtronic's 2011 and 2017 notices on SynchroMed II reduced battery performance (HSA Singapore,
#: 25 May 2017; Health Canada RA-63236): "Low Battery Reset (critical alarm)"; the 2011 product
#: advisory, "What is Happening": "the drug flow rate may be reset to a very low level" and "the pump
#: will need to be replaced". The pump runs on at its minimum rate, far below the therapy.
LOW_BATTERY_RESET = AlarmKind(
    "low_battery_reset",
    Priority.CRITICAL,
    "the battery failed and the pump reset itself to its minimum rate: the therapy is no longer flowing; "
    "replace the pump",
)

ALARMS: dict[str, AlarmKind] = {
    a.name: a
    for a in (
        LOW_RESERVOIR,
        ERI,
        EMPTY_RESERVOIR,
        END_OF_SERVICE,
        MOTOR_STALL,
        SAFETY_VALVE_CLOSED,
        CRITICAL_MEMORY_ERROR,
        LOW_BATTERY_RESET,
    )
}
