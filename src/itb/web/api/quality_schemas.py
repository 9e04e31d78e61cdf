"""The quality report's and the complications' request bodies and answers (pydantic), for
:mod:`itb.web.api.quality`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from itb.clinic.usecases.complications import Complication
from itb.domain.quality import COLUMNS, COMPLICATION_KINDS
from itb.web.api.answers import Answer, model, record_fields
from itb.web.api.schemas import IsoDateTime, Note, RecordId, Strict

ComplicationKind = Literal[
    "infection", "csf_leak", "catheter_kink", "catheter_disconnection", "catheter_migration", "catheter_occlusion",
    "pocket", "withdrawal", "overdose", "other",
]  # fmt: skip
assert set(ComplicationKind.__args__) == set(COMPLICATION_KINDS)  # type: ignore[attr-defined]


class ComplicationIn(Strict):
    kind: ComplicationKind = Field(description="; ".join(f"{k}: {w}" for k, w in COMPLICATION_KINDS.items()))
    at: IsoDateTime = Field(
        description="when it happened (or was found): within 20 years before today, not later than now"
    )
    pump_id: RecordId | None = Field(default=None, description="the patient's pump it concerns")
    refill_id: RecordId | None = Field(
        default=None, description="the refill whose volume discrepancy it explains (its pump is then the pump)"
    )
    notes: Note | None = None


ComplicationOut = model("ComplicationOut", "A recorded complication.", record_fields(Complication))

_TEXT = {"period", "start", "end"}
_FLOAT = {"pump_years"}


def _column_type(name: str) -> Any:
    if name in _TEXT:
        return (str, ...)
    if name == "discrepancy_causes":
        return (
            dict[str, int],
            Field(description="the recorded cause (a complication's kind, or 'not recorded'): count"),
        )
    if name in _FLOAT:
        return (float, ...)
    if name == "dry_per_100_pump_years":
        return (float | None, Field(description="none when the period has no pump-years"))
    return (int, ...)


QualityRowOut = model(
    "QualityRowOut",
    "One period's figures (the last row: the whole range, period 'total'); the CSV's columns.",
    {name: _column_type(name) for name in COLUMNS},
)


class QualitySettingsOut(Answer):
    dry_slack_ml: float
    replacement_gap_days: float
    eri_replacement_days: float
    discrepancy_ml: float
    small_pump_discrepancy_ml: float
    use_small_pump_threshold: bool


class QualityReportOut(Answer):
    """The clinic quality report of a range: each period's figures, then the total."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    by: Literal["month", "quarter"]
    settings: QualitySettingsOut
    columns: list[str]
    periods: list[QualityRowOut]  # type: ignore[valid-type]


__all__ = ["ComplicationIn", "ComplicationOut", "QualityReportOut", "QualityRowOut"]
