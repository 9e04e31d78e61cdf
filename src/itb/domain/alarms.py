"""The pump's alarms: which are critical, and how each sounds."""

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

ALARMS: dict[str, AlarmKind] = {
    a.name: a for a in (LOW_RESERVOIR, ERI, EMPTY_RESERVOIR, END_OF_SERVICE, MOTOR_STALL, SAFETY_VALVE_CLOSED)
}
