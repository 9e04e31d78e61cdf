"""A valid forecast case (shared/spec/forecast.md) the command-line tests share: a 20 mL pump of
2,000 mcg/mL at 400 mcg/day from 2026-01-01, alarm at 2 mL (``GOOD_ALARM``), empty 10 days later."""

from __future__ import annotations

GOOD = {
    "id": "p-0042",
    "at": "2026-01-01T00:00:00",
    "reservoir_capacity_ml": 20,
    "reservoir_ml": 20,
    "concentration_mcg_per_ml": 2000,
    "low_reservoir_alarm_ml": 2.0,
    "program": {"steps": [{"start": "00:00", "rate_mcg_per_day": 400}]},
}
GOOD_ALARM = "2026-04-01"
GOOD_EMPTY = "2026-04-11"
