"""The clinic's use cases, one facade over the aggregates (``itb.clinic.usecases``).

Each use case is one transaction: written whole, audited, or not at all. A change to a pump is
recorded as pending, sent, and settled from the pump's log (``usecases/pumps.py``); who may do
what is decided in the use cases themselves. Wire a clinic with :func:`itb.bootstrap.clinic_on`.
"""

from __future__ import annotations

from itb.clinic.usecases.appointments import (
    APPOINTMENT_KINDS,
    APPOINTMENT_STATUSES,
    DEFAULT_APPOINTMENT_TIME,
    MRI_SCAN_MINUTES,
    AppointmentUseCases,
)
from itb.clinic.usecases.base import (
    SYSTEM,
    Actor,
    ClinicConfig,
    Conflict,
    Forbidden,
    NotFound,
    NotSent,
    PumpChangeFailed,
    RecordIncomplete,
    row_json,
)
from itb.clinic.usecases.boluses import BolusUseCases
from itb.clinic.usecases.calendar import CalendarUseCases
from itb.clinic.usecases.complications import ComplicationUseCases
from itb.clinic.usecases.contacts import ContactUseCases
from itb.clinic.usecases.exports import ExportReport, ExportUseCases
from itb.clinic.usecases.families import FamilyUseCases
from itb.clinic.usecases.implants import ImplantUseCases
from itb.clinic.usecases.imports import ImportInvalid, ImportReport
from itb.clinic.usecases.notify import NotifyReport, NotifyUseCases
from itb.clinic.usecases.patient_import import PatientImportReport, PatientImportUseCases, PatientRow
from itb.clinic.usecases.patients import PHASES, PatientUseCases
from itb.clinic.usecases.programs import ProgramUseCases
from itb.clinic.usecases.pumps import PumpUseCases
from itb.clinic.usecases.record_checks import RecordCheckUseCases
from itb.clinic.usecases.refills import RefillUseCases
from itb.clinic.usecases.sessions import SESSION_KINDS
from itb.clinic.usecases.settings import SettingsUseCases, SettingsView

ROLES = ("admin", "clinician", "nurse", "caregiver")


class Clinic(
    ExportUseCases,
    ImplantUseCases,
    RefillUseCases,
    BolusUseCases,
    ProgramUseCases,
    RecordCheckUseCases,
    PumpUseCases,
    AppointmentUseCases,
    CalendarUseCases,
    PatientUseCases,
    PatientImportUseCases,
    ComplicationUseCases,
    FamilyUseCases,
    SettingsUseCases,
    ContactUseCases,
    NotifyUseCases,
):
    """Every use case of the clinic (patients, implants, refills, boluses, programs, record checks,
    appointments, families, the clinic's settings, contacts, the outbox), over the pump mechanism of
    :class:`PumpUseCases`."""


__all__ = [
    "APPOINTMENT_KINDS",
    "APPOINTMENT_STATUSES",
    "DEFAULT_APPOINTMENT_TIME",
    "MRI_SCAN_MINUTES",
    "PHASES",
    "ROLES",
    "SESSION_KINDS",
    "SYSTEM",
    "Actor",
    "Clinic",
    "ClinicConfig",
    "Conflict",
    "ExportReport",
    "Forbidden",
    "ImportInvalid",
    "ImportReport",
    "NotFound",
    "NotSent",
    "NotifyReport",
    "PatientImportReport",
    "PatientRow",
    "PumpChangeFailed",
    "RecordIncomplete",
    "SettingsView",
    "row_json",
]
