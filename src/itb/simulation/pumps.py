"""Ready-made virtual pumps for campaigns, demos and tests."""

from __future__ import annotations

from datetime import datetime

from itb.domain.devices import PERISTALTIC, DeviceModel
from itb.domain.program import DosingProgram
from itb.pump.engine import ImplantedPump, PumpSetup
from itb.pump.firmware import PumpFirmware, TherapyInfo

#: Day 0 of the ready-made pumps; they are interrogated at 09:00 on it.
DAY0 = datetime(2026, 3, 1)


def implanted_pump(
    program: DosingProgram,
    *,
    reservoir_ml: float = 12.0,
    concentration_mcg_per_ml: float = 500.0,
    model: DeviceModel = PERISTALTIC,
    capacity_ml: float = 20.0,
    low_reservoir_alarm_ml: float = 2.0,
    empty_ml: float = 0.0,
    therapy: TherapyInfo | None = None,
    day0: datetime = DAY0,
) -> PumpFirmware:
    """A pump implanted 400 days ago, at 09:00 on ``day0``, answering telemetry."""
    setup = PumpSetup(
        model=model,
        reservoir_capacity_ml=capacity_ml,
        low_reservoir_alarm_ml=low_reservoir_alarm_ml,
        empty_ml=empty_ml,
        catheter_volume_ml=model.typical_catheter_volume_ml,
    )
    pump = ImplantedPump(
        setup,
        t=9 * 3600.0,
        implanted_t=-400 * 86400.0,
        reservoir_ml=reservoir_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        program=program,
        day0=day0,
    )
    return PumpFirmware(pump, therapy or TherapyInfo(origin="spinal", age_years=40, implanted_at="2025-01-25T09:00:00"))
