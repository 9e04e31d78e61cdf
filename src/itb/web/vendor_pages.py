"""The pages for vendor-programmed pumps: importing an existing clinic, and recording what the
vendor's programmer did (a *session*).

ITB cannot talk to such a pump: the nurse programs it on the vendor's device, and the clinic
records what was set. Both flows are judged first and stored only when confirmed:

- ``/import``: upload the clinic's CSV (``shared/spec/clinic-import.md``) → a preview (a dry run:
  every row's computed alarm beside the vendor's printed one, or every error ``row N, column C``,
  nothing stored) → *Confirm import* of exactly the previewed bytes → the counts and the patients.
- ``/pumps/{id}/session``: choose the kind, enter what the programmer shows → *Review* (a dry run:
  ITB's expected residual beside the vendor's, every limit broken, the new forecast and the refill
  that would be booked) → the nurse sets the vendor device → *Programmed as reviewed* records
  exactly the reviewed values, or *Edit* to enter what was actually set and review again. Never
  refused for a limit: a broken one becomes a warning on the session and the worklist.
- the chart of a vendor pump lists its last sessions (``vendor_sessions``, a template global),
  each with its warnings and, for a clinician, a *Reviewed* button.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from itb.clinic import views
from itb.clinic.derived import is_constant_flow
from itb.clinic.services import SESSION_KINDS, Actor, Clinic, Conflict, ImportInvalid, NotFound
from itb.contracts.clinic_import import parse_clinic_csv, parse_program_cell
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation
from itb.domain.limits import DRUG_PRODUCTS
from itb.domain.program import DosingProgram
from itb.domain.units import Dimension, parse_quantity
from itb.web.page_context import CLINICIANS, STAFF, PageContext
from itb.web.page_params import PageId

#: The largest import file the page takes (the API takes any size): 10,000 rows are about 1.5 MB.
MAX_IMPORT_BYTES = 8 * 1024 * 1024
#: How many sessions the chart lists (the latest first; the API lists them all).
CHART_SESSIONS = 10


@dataclass(frozen=True)
class Field:
    """One entry of the session form: its label, how it is read, an example."""

    label: str
    kind: str  # a Dimension's value, "program", "alarm_date", "product" or "text"
    example: str = ""


FIELDS: dict[str, Field] = {
    "withdrawn_ml": Field("Volume withdrawn (measured)", Dimension.VOLUME, "e.g. 3.1 mL"),
    "vendor_expected_ml": Field("Residual the vendor programmer expected", Dimension.VOLUME, "e.g. 3.2 mL"),
    "added_ml": Field("Volume added", Dimension.VOLUME, "e.g. 20 mL"),
    "concentration_mcg_per_ml": Field("Concentration of the drug added", Dimension.CONCENTRATION, "e.g. 500 mcg/mL"),
    "product": Field("Drug product", "product"),
    "lot": Field("Drug lot", "text", "as on the vial"),
    "program": Field("Program as set on the programmer", "program", "e.g. 600 mcg/day or 00:00=600;08:00=700"),
    "dose_mcg": Field("Bolus dose given", Dimension.DOSE, "e.g. 50 mcg"),
    "reservoir_ml": Field("Reservoir volume as set on the programmer", Dimension.VOLUME, "e.g. 12.4 mL"),
    "low_reservoir_alarm_ml": Field("Low-reservoir alarm volume, if changed", Dimension.VOLUME, "e.g. 2 mL"),
    "vendor_alarm_at": Field("Low-reservoir alarm date the vendor programmer shows", "alarm_date", "YYYY-MM-DD HH:MM"),
    "eri_at": Field("Replacement indicator (ERI) date, if the programmer shows it", "alarm_date", "YYYY-MM-DD"),
}
#: The entries of each kind of session, and which of them it needs (``record_session`` checks it too).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "refill": (
        "withdrawn_ml", "vendor_expected_ml", "added_ml", "concentration_mcg_per_ml", "product", "lot",
        "low_reservoir_alarm_ml", "vendor_alarm_at", "eri_at",
    ),
    "program": ("program", "reservoir_ml", "low_reservoir_alarm_ml", "vendor_alarm_at", "eri_at"),
    "interrogation": ("reservoir_ml", "low_reservoir_alarm_ml", "vendor_alarm_at", "eri_at"),
    "bolus": ("dose_mcg", "reservoir_ml", "vendor_alarm_at"),
    "mri_check": ("reservoir_ml", "vendor_alarm_at", "eri_at"),
}  # fmt: skip
REQUIRED: dict[str, tuple[str, ...]] = {
    "refill": ("withdrawn_ml", "added_ml", "concentration_mcg_per_ml"),
    "program": ("program",),
    "interrogation": ("reservoir_ml",),
    "bolus": ("dose_mcg",),
    "mri_check": (),
}
KIND_LABELS = {
    "refill": "Refill",
    "program": "Program change",
    "interrogation": "Interrogation",
    "bolus": "Bolus",
    "mri_check": "Check after an MRI",
}
assert set(KIND_FIELDS) == set(SESSION_KINDS) == set(KIND_LABELS)
#: The entries a link may prefill (``?concentration_mcg_per_ml=...``): the chart's dilution planner.
PREFILLED: dict[str, tuple[str, ...]] = {"refill": ("added_ml", "concentration_mcg_per_ml")}
#: How the chart names every kind of recorded session (the import's and a registration's too).
RECORDED_LABELS = {**KIND_LABELS, "import": "Import", "registration": "Registration"}


# ---------------------------------------------------------------------------------- reading the form


def _at(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip()).replace(second=0, microsecond=0)
    except ValueError:
        raise InvalidInput([Violation("at", "must be a date and time YYYY-MM-DD HH:MM")]) from None


def _alarm_date(name: str, text: str) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        return datetime.fromisoformat(text).replace(second=0, microsecond=0)
    except ValueError:
        raise InvalidInput(
            [Violation(name, f"{text!r} is not a date YYYY-MM-DD or a date and time YYYY-MM-DD HH:MM")]
        ) from None


def _program(text: str) -> DosingProgram:
    try:
        return parse_program_cell(text.strip())
    except InvalidInput:
        raise
    except ValueError:
        rule = f"{text.strip()!r} is not a daily dose (e.g. 600 mcg/day) or steps from 00:00 (00:00=600;08:00=700)"
        raise InvalidInput([Violation("program", rule)]) from None


def read_session_form(kind: str, form: dict[str, str]) -> tuple[datetime, dict[str, Any]]:
    """The session's time and entries, each in its canonical unit; one InvalidInput naming every
    field that is wrong. Empty optional entries are left out (the use case says what a kind needs)."""
    if kind not in KIND_FIELDS:
        raise InvalidInput([Violation("kind", f"must be one of {', '.join(SESSION_KINDS)}")])
    errs: list[Violation] = []
    at: datetime | None = None
    try:
        at = _at(form.get("at", ""))
    except InvalidInput as exc:
        errs += exc.violations
    values: dict[str, Any] = {}
    for name in KIND_FIELDS[kind]:
        text, spec = form.get(name, "").strip(), FIELDS[name]
        if not text:
            if name in REQUIRED[kind]:
                errs.append(Violation(name, f"is required for a {kind.replace('_', ' ')} session"))
            continue
        try:
            if spec.kind == "program":
                values[name] = _program(text)
            elif spec.kind == "alarm_date":
                values[name] = _alarm_date(name, text)
            elif spec.kind in ("product", "text"):
                if len(text) > 100 or not text.isprintable():
                    raise InvalidInput([Violation(name, "must be 1-100 printable characters")])
                values[name] = text
            else:
                values[name] = parse_quantity(text, Dimension(spec.kind), name).value
        except InvalidInput as exc:
            errs += exc.violations
    if errs:
        raise InvalidInput(errs)
    assert at is not None
    return at, values


def fingerprint(kind: str, at: datetime, values: dict[str, Any]) -> str:
    """What was reviewed, as a digest: "programmed as reviewed" records only the same values."""
    plain = {
        k: program_json(v) if isinstance(v, DosingProgram) else v.isoformat() if isinstance(v, datetime) else v
        for k, v in values.items()
    }
    text = json.dumps({"kind": kind, "at": at.isoformat(), **plain}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def field_errors(exc: InvalidInput) -> dict[str, str]:
    """Each form field's problems, for the message under it."""
    out: dict[str, list[str]] = {}
    for v in exc.violations:
        out.setdefault(v.field.split(".")[0], []).append(v.rule)
    return {k: "; ".join(rules) for k, rules in out.items()}


# ---------------------------------------------------------------------------------- the pages


def install_vendor_pages(router: APIRouter, page: PageContext) -> None:
    """Add the import, session and session-review pages to ``router``; ``vendor_sessions`` to the templates."""
    clinic, templates, render, session = page.clinic, page.templates, page.render, page.session
    check_csrf, problems = page.check_csrf, page.problems

    def recent_sessions(actor: Actor, pump_id: int, limit: int = CHART_SESSIONS) -> list[dict]:
        return list(reversed(views.pump_sessions(clinic, actor, pump_id)))[:limit]

    templates.env.globals["vendor_sessions"] = recent_sessions
    templates.env.globals["session_kind_labels"] = RECORDED_LABELS

    def importer(request: Request) -> tuple[Actor, str]:
        return page.staff(request, CLINICIANS, "importing a clinic")

    # -- the import ------------------------------------------------------------------------
    @router.get("/import", response_class=HTMLResponse)
    def import_page(request: Request) -> HTMLResponse:
        actor, token = importer(request)
        return render(request, "import.html", actor, token, step="upload")

    @router.post("/import", response_class=HTMLResponse)
    async def import_step(request: Request) -> HTMLResponse:
        actor, token = importer(request)
        form = await request.form(max_part_size=2 * MAX_IMPORT_BYTES)
        check_csrf(token, str(form.get("csrf", "")))
        step = str(form.get("step", "preview"))
        filename = str(form.get("filename", ""))
        try:
            if step == "confirm":
                raw = _carried(str(form.get("content", "")), str(form.get("digest", "")))
            else:
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise InvalidInput([Violation("file", "choose the clinic's CSV file")])
                filename = upload.filename
                raw = await upload.read(MAX_IMPORT_BYTES + 1)
                if len(raw) > MAX_IMPORT_BYTES:
                    raise InvalidInput([Violation("file", f"must be at most {MAX_IMPORT_BYTES // 2**20} MB")])
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    [Violation("file", "must be UTF-8 text (save the spreadsheet as CSV UTF-8)")]
                ) from None
            report = clinic.import_clinic(actor, text, dry_run=step != "confirm").json()
        except ImportInvalid as exc:
            return render(
                request, "import.html", actor, token, step="upload", filename=filename,
                row_errors=[str(e) for e in exc.errors], status=422,
            )  # fmt: skip
        except InvalidInput as exc:
            return render(
                request, "import.html", actor, token, step="upload", filename=filename, errors=problems(exc),
                status=422,
            )  # fmt: skip
        if step == "confirm":
            return render(request, "import.html", actor, token, step="done", report=report, filename=filename)
        vendor = _vendor_alarms(clinic, text)
        return render(
            request, "import.html", actor, token, step="preview", report=report, vendor=vendor, filename=filename,
            content=base64.b64encode(raw).decode("ascii"), digest=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
        )  # fmt: skip

    # -- a session of a vendor pump --------------------------------------------------------
    def vendor_pump(actor: Actor, pump_id: int) -> Any:
        if actor.role not in STAFF:
            raise NotFound("page not found")
        pump = views.pump_record(clinic, actor, pump_id)
        if pump.connection != "vendor":
            raise Conflict(
                f"pump {pump.serial}: ITB talks to this pump, so its refills and programs are sent from its own pages"
            )
        return pump

    def entry_form(pump: Any, kind: str) -> dict[str, str]:
        """The form as it first shows: now, and the pump's own values where a refill repeats them."""
        form = {"at": clinic.clock().strftime("%Y-%m-%dT%H:%M")}
        if kind == "refill":
            form["added_ml"] = f"{pump.reservoir_capacity_ml:g} mL"
            form["concentration_mcg_per_ml"] = f"{pump.concentration_mcg_per_ml:g} mcg/mL"
        return form

    def kinds_of(pump: Any) -> dict[str, str]:
        """The kinds of session the pump can have (a constant-flow pump has no program, no bolus)."""
        fixed = is_constant_flow(pump)
        return {k: label for k, label in KIND_LABELS.items() if not (fixed and k in ("program", "bolus"))}

    def show_form(
        request: Request, actor: Actor, token: str, pump: Any, kind: str, form: dict[str, str], **extra: Any
    ) -> HTMLResponse:
        return render(
            request, "session.html", actor, token, step="enter", pump=pump, kind=kind, form=form,
            fields=FIELDS, kind_fields=KIND_FIELDS.get(kind, ()), required=REQUIRED.get(kind, ()),
            kinds=kinds_of(pump), products=DRUG_PRODUCTS, **extra,
        )  # fmt: skip

    @router.get("/pumps/{pump_id}/session", response_class=HTMLResponse)
    def session_start(request: Request, pump_id: PageId, kind: str = "refill") -> HTMLResponse:
        actor, token = session(request)
        pump = vendor_pump(actor, pump_id)
        kind = kind if kind in kinds_of(pump) else "refill"
        form = entry_form(pump, kind)
        # a refill planned on the chart (its dilution planner) comes with its drug: only prefilled, reviewed as typed
        for name in PREFILLED.get(kind, ()):
            if given := request.query_params.get(name, "").strip()[:100]:
                form[name] = given
        return show_form(request, actor, token, pump, kind, form)

    @router.post("/pumps/{pump_id}/session", response_class=HTMLResponse)
    async def session_step(request: Request, pump_id: PageId) -> Response:
        actor, token = session(request)
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        pump = vendor_pump(actor, pump_id)
        step = str(data.get("step", "review"))
        kind = str(data.get("kind", ""))
        form = {k: str(data.get(k, "")) for k in ("at", *FIELDS)}
        acknowledged = tuple(str(a) for a in data.getlist("ack"))
        if step == "edit":
            return show_form(request, actor, token, pump, kind, form, edited=True)
        try:
            version = int(str(data.get("version", "")) or pump.version)
        except ValueError:
            version = -1
        try:
            at, values = read_session_form(kind, form)
            if step == "record":
                if fingerprint(kind, at, values) != str(data.get("reviewed", "")):
                    raise InvalidInput(
                        [Violation("reviewed", "the values changed since the review: review them again")]
                    )
                outcome = clinic.record_session(
                    actor, pump_id, kind=kind, at=at, expected_version=version, acknowledged=acknowledged, **values
                )
                return RedirectResponse(f"/patients/{outcome.pump.patient_id}?recorded={outcome.session.id}", 303)
            outcome = clinic.record_session(
                actor, pump_id, kind=kind, at=at, expected_version=version, dry_run=True, **values
            )
        except (InvalidInput, Conflict) as exc:
            errors = problems(exc)
            if isinstance(exc, Conflict) and step == "record":
                errors[0]["message"] += " (if the session was recorded meanwhile, it is on the chart)"
            return show_form(
                request, actor, token, pump, kind, form, errors=errors,
                invalid=field_errors(exc) if isinstance(exc, InvalidInput) else {},
                status=409 if isinstance(exc, Conflict) else 422,
            )  # fmt: skip
        return render(
            request, "session.html", actor, token, step="review", pump=pump, kind=kind, kinds=KIND_LABELS,
            form=form, fields=FIELDS, kind_fields=KIND_FIELDS[kind], values=values, outcome=outcome,
            reviewed=fingerprint(kind, at, values), version=version, residual=_residual(kind, outcome, values),
        )  # fmt: skip

    @router.post("/pump-sessions/{session_id}/review")
    def review_session(request: Request, session_id: PageId, csrf: str = Form("")) -> Response:
        actor, token = session(request)
        check_csrf(token, csrf)
        reviewed = clinic.review_session(actor, session_id)
        patient_id = views.pump_record(clinic, actor, reviewed.pump_id).patient_id
        return RedirectResponse(f"/patients/{patient_id}?reviewed={reviewed.id}", 303)


def _carried(content: str, digest: str) -> bytes:
    """The file's bytes as the preview carried them (base64), checked against the preview's digest."""
    try:
        raw = base64.b64decode(content.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if not raw or hashlib.sha256(raw).hexdigest() != digest:
        raise InvalidInput([Violation("file", "is not the file that was previewed: upload it and preview it again")])
    return raw


def _vendor_alarms(clinic: Clinic, text: str) -> dict[int, datetime | None]:
    """Each row's alarm date as the vendor's programmer printed it (the file's ``vendor_alarm_at``;
    the report keeps to the contract's keys, which do not carry it)."""
    parsed, _errors = parse_clinic_csv(text, clinic.clock().date(), clinic.config.limits)
    return {p.row: p.values.get("vendor_alarm_at") for p in parsed}


def _residual(kind: str, outcome: Any, values: dict[str, Any]) -> dict[str, float | None]:
    """ITB's count of the reservoir at the session beside what was measured and what the vendor expected."""
    data = outcome.session.data or {}
    return {
        "itb": data.get("itb_expected_ml"),
        "vendor": values.get("vendor_expected_ml"),
        "measured": values.get("withdrawn_ml") if kind == "refill" else values.get("reservoir_ml"),
    }


__all__ = ["FIELDS", "KIND_FIELDS", "fingerprint", "install_vendor_pages", "read_session_form"]
