"""Who the clinic's messages reach, and the outbox, as pages.

- ``/patients/{id}/contacts``: the child's contacts (add, edit, remove; the channels, the language,
  the opt-out), and the messages about the child below. The staff's, and the child's caregiver's
  (from the family page); another child is "not found".
- ``/contacts``: the staff's list (on call: the alerts; digest: the morning digest), the staff's.
- ``/notifications``: the outbox (the staff's), the messages that could not be sent first with
  their errors, the counts by status; an admin sends the due messages now, or sees what a pass
  would do (a dry run: nothing stored, nothing sent).

Each contact's form is posted to its list's page with its ``action`` (add, save, remove): every
problem is shown under its field, what was typed is kept, and a contact changed meanwhile by
someone else (its version) is not overwritten: the page says so, to reload it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic import outbox_views, views
from itb.clinic.services import Actor, Conflict
from itb.contracts.bounds import text_violation
from itb.domain.contact_rules import EMAIL_MAX_CHARS, checked_contact
from itb.domain.errors import InvalidInput, Violation
from itb.domain.reminder_texts import TEXTS
from itb.web.form_fields import field_errors
from itb.web.page_context import STAFF, PageContext
from itb.web.page_params import PageId, QueryId, form_id

CHANNEL_LABELS = {"email": "Email", "webhook": "Text message or push (through the clinic's gateway)"}
CHANNEL_WORDS = {"email": "email", "webhook": "text/push"}
#: the languages the messages are written in (``itb.domain.reminder_texts.TEXTS``), by their own names
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                  "nl": "Nederlands", "pt": "Português", "sv": "Svenska"}  # fmt: skip
STATUS_WORDS = {
    "pending": "waiting to be sent", "sending": "being sent", "sent": "sent", "failed": "given up",
    "suppressed": "not sent (no longer due)", "problems": "that could not be sent",
}  # fmt: skip
RULE_WORDS = {
    "visit_reminder": "visit reminder", "missed_refill": "missed refill", "alarm_no_refill": "alarm, no refill booked",
    "emergency_report": "emergency report", "eri_reached": "battery replacement indicator",
    "vendor_stale": "vendor pump not seen", "staff_digest": "morning digest",
}  # fmt: skip
DONE_WORDS = {"add": "The contact is added.", "save": "The contact is saved.", "remove": "The contact is removed."}
ACTIONS = ("add", "save", "remove")
#: the messages that could not be sent, listed first on the outbox's page (the rest: by its filter)
PROBLEMS_SHOWN = 50
_TEXTS = ("name", "relation", "email", "phone", "language")


def languages() -> list[tuple[str, str]]:
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in sorted(TEXTS)]


def form_of(contact: outbox_views.Contact | None) -> dict[str, Any]:
    """A contact's form as its record fills it (None: a new contact's)."""
    if contact is None:
        return {"name": "", "relation": "", "email": "", "phone": "", "language": "en", "channels": ["email"],
                "opted_out": False, "on_call": False, "digest": False}  # fmt: skip
    return {
        "name": contact.name, "relation": contact.relation or "", "email": contact.email or "",
        "phone": contact.phone or "", "language": contact.language, "channels": list(contact.channels),
        "opted_out": contact.opted_out, "on_call": contact.on_call, "digest": contact.digest,
    }  # fmt: skip


def posted_contact(data: Any, staff: bool) -> dict[str, Any]:
    """The contact's fields as posted (text as typed; the flags of the staff's list only for it)."""
    form: dict[str, Any] = {name: str(data.get(name, "")) for name in _TEXTS}
    form["channels"] = [str(c) for c in data.getlist("channels")]
    form["opted_out"] = bool(data.get("opted_out"))
    form["on_call"] = staff and bool(data.get("on_call"))
    form["digest"] = staff and bool(data.get("digest"))
    return form


def contact_arguments(form: Mapping[str, Any], staff: bool) -> dict[str, Any]:
    """The use case's arguments from the posted form; a control character in the address (which the
    database may not store) is refused with every other problem of the form, all at once."""
    fields = {**form, "relation": form["relation"] or None, "email": form["email"] or None,
              "phone": form["phone"] or None, "channels": tuple(form["channels"])}  # fmt: skip
    bad = text_violation("email", form["email"], max_length=EMAIL_MAX_CHARS)
    if bad is not None:
        problems = [bad]
        try:
            checked_contact(**{**fields, "email": None, "channels": ()}, staff=staff)
        except InvalidInput as exc:
            problems += exc.violations
        raise InvalidInput(problems)
    return fields


def _version(text: object) -> int:
    """The version the form was made from (none, or not a number: -1, which no record has)."""
    text = str(text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else -1


def install_notify_pages(router: APIRouter, page: PageContext) -> None:
    """Add the contacts' pages and the outbox's to ``router``."""
    clinic = page.clinic

    def contacts_page(
        request: Request, actor: Actor, token: str, patient_id: int | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        listed = clinic.contacts(actor, patient_id)
        patient = None if patient_id is None else views.patient_summary(clinic, actor, patient_id)
        messages = [] if patient_id is None else outbox_views.patient_messages(clinic, actor, patient_id)
        context = {"editing": None, "form": None, "invalid": {}, **context}
        return page.render(
            request, "contacts.html", actor, token, status=status, contacts=listed, patient=patient,
            messages=messages, staff_list=patient_id is None, form_of=form_of, channel_labels=CHANNEL_LABELS,
            channel_words=CHANNEL_WORDS, languages=languages(), status_words=STATUS_WORDS, rule_words=RULE_WORDS,
            done=DONE_WORDS.get(request.query_params.get("done", "")), **context,
        )  # fmt: skip

    def act(actor: Actor, patient_id: int | None, data: Any) -> str:
        """Add, save or remove, as the form says; the action done."""
        action, staff = str(data.get("action", "add")), patient_id is None
        if action not in ACTIONS:
            raise InvalidInput([Violation("action", f"must be one of {', '.join(ACTIONS)}")])
        if action == "add":
            clinic.add_contact(actor, patient_id, **contact_arguments(posted_contact(data, staff), staff))
            return action
        contact_id = form_id(data.get("contact_id"), "contact_id")
        if contact_id not in {c.id for c in clinic.contacts(actor, patient_id)}:
            raise Conflict(f"contact {contact_id} is no longer on this list (removed meanwhile?)")
        version = _version(data.get("version"))
        if action == "remove":
            clinic.remove_contact(actor, contact_id, expected_version=version)
        else:
            fields = contact_arguments(posted_contact(data, staff), staff)
            clinic.update_contact(actor, contact_id, expected_version=version, **fields)
        return action

    async def post_contacts(request: Request, actor: Actor, token: str, patient_id: int | None, back: str) -> Response:
        data = await request.form()
        page.check_csrf(token, str(data.get("csrf", "")))
        action = data.get("action")
        editing = "new" if action == "add" else str(data.get("contact_id") or "")
        # what was typed, shown again with the version it was typed on (a second try conflicts again: reload);
        # a removal typed nothing, so the contact is shown as it is now
        form = None if action == "remove" else {**posted_contact(data, patient_id is None),
                                                "version": str(data.get("version", ""))}  # fmt: skip
        try:
            done = act(actor, patient_id, data)
        except InvalidInput as exc:
            return contacts_page(request, actor, token, patient_id, 422, editing=editing, form=form,
                                 invalid=field_errors(exc))  # fmt: skip
        except Conflict as exc:
            return contacts_page(request, actor, token, patient_id, 409, editing=editing, form=form,
                                 conflict=str(exc))  # fmt: skip
        return RedirectResponse(f"{back}?done={done}", 303)

    @router.get("/patients/{patient_id}/contacts", response_class=HTMLResponse)
    def patient_contacts(request: Request, patient_id: PageId) -> HTMLResponse:
        actor, token = page.session(request)
        return contacts_page(request, actor, token, patient_id)

    @router.post("/patients/{patient_id}/contacts", response_class=HTMLResponse)
    async def change_patient_contacts(request: Request, patient_id: PageId) -> Response:
        actor, token = page.session(request)
        views.patient_summary(clinic, actor, patient_id)  # another family's child: not found, before anything
        return await post_contacts(request, actor, token, patient_id, f"/patients/{patient_id}/contacts")

    @router.get("/contacts", response_class=HTMLResponse)
    def staff_contacts(request: Request) -> HTMLResponse:
        actor, token = page.staff(request, STAFF, "the staff's contact list")
        return contacts_page(request, actor, token, None)

    @router.post("/contacts", response_class=HTMLResponse)
    async def change_staff_contacts(request: Request) -> Response:
        actor, token = page.staff(request, STAFF, "the staff's contact list")
        return await post_contacts(request, actor, token, None, "/contacts")

    def outbox(request: Request, actor: Actor, token: str, status: str, before_id: int, **context: Any) -> HTMLResponse:
        shown = outbox_views.outbox_page(clinic, actor, status=status or None, before_id=before_id or None)
        problems = outbox_views.outbox_page(clinic, actor, status=outbox_views.PROBLEMS, limit=PROBLEMS_SHOWN)
        return page.render(
            request, "notifications.html", actor, token, outbox=shown, problems=problems.rows,
            trouble=outbox_views.outbox_problems(clinic, actor), statuses=outbox_views.OUTBOX_STATUSES,
            status_words=STATUS_WORDS, rule_words=RULE_WORDS, channel_words=CHANNEL_WORDS,
            problems_filter=outbox_views.PROBLEMS, **context,
        )  # fmt: skip

    @router.get("/notifications", response_class=HTMLResponse)
    def notifications(request: Request, status: str = "", before_id: QueryId = 0) -> HTMLResponse:
        actor, token = page.staff(request, STAFF, "the outbox")
        return outbox(request, actor, token, status, before_id)

    @router.post("/notifications/run", response_class=HTMLResponse)
    def run_notifications(
        request: Request, csrf: str = Form(""), dry_run: str = Form(""), retry_now: str = Form("")
    ) -> HTMLResponse:
        actor, token = page.staff(request, ("admin",), "sending the messages")
        page.check_csrf(token, csrf)
        report = clinic.notify_run(actor, dry_run=dry_run == "1", retry_now=retry_now == "1")
        return outbox(request, actor, token, "", 0, report=report, counts=report.counts())


__all__ = ["CHANNEL_LABELS", "contact_arguments", "form_of", "install_notify_pages", "posted_contact"]
