"""What one patient's resources share while they are made: ids, times, references, authors."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from itb.clinic.fhir_records import PatientRecords


class Made:
    """The patient's id (every resource id starts with it), the clinic's time zone, and who
    recorded what (:attr:`authored`: one Provenance per recorded act)."""

    def __init__(self, records: PatientRecords) -> None:
        self.records = records
        self.pid = records.patient.id
        self.zone = ZoneInfo(records.time_zone)
        self.authored: dict[str, tuple[list[str], str, datetime]] = {}

    def id(self, kind: str, n: object) -> str:
        return f"{self.pid}-{kind}-{n}"

    def when(self, at: datetime) -> str:
        """A record's time (the clinic's local time) with the clinic's UTC offset then."""
        text = at.replace(tzinfo=self.zone).isoformat(timespec="seconds")
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text  # FHIR's own form

    def subject(self) -> dict[str, Any]:
        return {"reference": f"Patient/{self.pid}", "display": self.records.patient.name}

    def device(self, pump_id: int) -> dict[str, Any]:
        return {"reference": f"Device/{self.id('pump', pump_id)}"}

    def author(self, act: str, resource: dict[str, Any], by: str, at: datetime) -> dict[str, Any]:
        """Note that ``by`` recorded ``resource`` at ``at`` as part of ``act`` (returns the resource)."""
        targets, _, _ = self.authored.setdefault(act, ([], by, at))
        targets.append(f"{resource['resourceType']}/{resource['id']}")
        return resource
