"""The field names of the forecast contract's input (``shared/spec/forecast.md``)."""

from __future__ import annotations

from itb.domain.program import BolusKind

CASE_FIELDS = frozenset(
    {
        "id",
        "at",
        "reservoir_capacity_ml",
        "reservoir_ml",
        "concentration_mcg_per_ml",
        "low_reservoir_alarm_ml",
        "empty_ml",
        "program",
    }
)
CASE_REQUIRED = (
    "at",
    "reservoir_capacity_ml",
    "reservoir_ml",
    "concentration_mcg_per_ml",
    "low_reservoir_alarm_ml",
    "program",
)
PROGRAM_FIELDS = frozenset({"steps", "boluses", "one_time_boluses"})
STEP_FIELDS = frozenset({"start", "rate_mcg_per_day"})
STEP_REQUIRED = ("start", "rate_mcg_per_day")
BOLUS_FIELDS = frozenset({"start", "dose_mcg", "duration_minutes"})
BOLUS_REQUIRED = ("start", "dose_mcg", "duration_minutes")
ONE_TIME_FIELDS = frozenset({"at", "dose_mcg", "duration_minutes", "kind"})
ONE_TIME_REQUIRED = ("at", "dose_mcg", "duration_minutes")
BOLUS_KINDS = frozenset(k.value for k in BolusKind)
