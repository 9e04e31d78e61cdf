"""Who the clinic's messages reach: each child's caregivers, and the staff on call.

A child may have several contacts (parents, a grandparent, the school nurse, a respite carer),
each with their channels, language and opt-out. Staff (admin, clinician, nurse) keep every list,
the staff list too; a caregiver keeps their own child's list (and no other: "not found"). A
removed contact is kept (the outbox names it) and gets nothing more. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, Conflict, Forbidden, NotFound, require, row_json
from itb.domain.contact_rules import ContactFields, checked_contact

STAFF_ROLES = ("admin", "clinician", "nurse")


class ContactUseCases(ClinicBase):
    def contacts(self, actor: Actor, patient_id: int | None) -> list[m.Contact]:
        """A child's contacts (``patient_id``), or the staff list (None: staff only), oldest first."""
        with self.sessions() as s:
            self._may_keep(s, actor, patient_id)
            query = select(m.Contact).where(m.Contact.removed_at.is_(None)).order_by(m.Contact.id)
            query = query.where(
                m.Contact.patient_id.is_(None) if patient_id is None else m.Contact.patient_id == patient_id
            )
            return list(s.execute(query).scalars())

    def add_contact(
        self, actor: Actor, patient_id: int | None, *, name: str | None, relation: str | None = None,
        email: str | None = None, phone: str | None = None, channels: Sequence[str] = ("email",),
        language: str = "en", opted_out: bool = False, on_call: bool = False, digest: bool = False,
        user_id: int | None = None,
    ) -> m.Contact:  # fmt: skip
        """A new contact of a child (or of staff: ``patient_id`` None); InvalidInput names each bad
        field (after the visibility check: another family's child is "not found" whatever is typed)."""
        with self.transaction() as s:
            self._may_keep(s, actor, patient_id)
            fields = checked_contact(
                name=name, relation=relation, email=email, phone=phone, channels=channels, language=language,
                opted_out=opted_out, on_call=on_call, digest=digest, staff=patient_id is None,
            )  # fmt: skip
            if user_id is not None and s.get(m.User, user_id) is None:
                raise NotFound(f"user {user_id}: not found")
            contact = m.Contact(
                patient_id=patient_id, user_id=user_id, created_at=self.clock(), updated_by=actor.username,
                **_columns(fields),
            )  # fmt: skip
            self._add_audited(s, actor, "add_contact", "contact", contact)
            return contact

    def update_contact(
        self, actor: Actor, contact_id: int, *, expected_version: int, name: str | None,
        relation: str | None = None, email: str | None = None, phone: str | None = None,
        channels: Sequence[str] = ("email",), language: str = "en", opted_out: bool = False,
        on_call: bool = False, digest: bool = False,
    ) -> m.Contact:  # fmt: skip
        """Replace a contact's fields (``expected_version``: the version read; else Conflict)."""
        with self.transaction() as s:
            contact = self._contact(s, actor, contact_id, expected_version)
            fields = checked_contact(
                name=name, relation=relation, email=email, phone=phone, channels=channels, language=language,
                opted_out=opted_out, on_call=on_call, digest=digest, staff=contact.patient_id is None,
            )  # fmt: skip
            before = row_json(contact)
            for key, value in _columns(fields).items():
                setattr(contact, key, value)
            contact.updated_by = actor.username
            s.flush()
            self._audit(s, actor, "update_contact", "contact", contact.id, before=before, after=row_json(contact))
            return contact

    def remove_contact(self, actor: Actor, contact_id: int, *, expected_version: int) -> m.Contact:
        """Take a contact off the list: it gets nothing more (its messages not yet sent are suppressed
        at the next pass)."""
        with self.transaction() as s:
            contact = self._contact(s, actor, contact_id, expected_version)
            before = row_json(contact)
            contact.removed_at, contact.updated_by = self.clock(), actor.username
            s.flush()
            self._audit(s, actor, "remove_contact", "contact", contact.id, before=before, after=row_json(contact))
            return contact

    def _contact(self, s: Session, actor: Actor, contact_id: int, expected_version: int) -> m.Contact:
        contact = s.get(m.Contact, contact_id)
        if contact is None or contact.removed_at is not None:
            raise NotFound(f"contact {contact_id}: not found")
        self._may_keep(s, actor, contact.patient_id)
        if contact.version != expected_version:
            raise Conflict(f"contact {contact_id} is at version {contact.version}, not {expected_version}: read again")
        return contact

    def _may_keep(self, s: Session, actor: Actor, patient_id: int | None) -> None:
        """Staff keep every list; a caregiver their own child's (any other: not found)."""
        require(actor, *STAFF_ROLES, "caregiver")
        if patient_id is None:
            if actor.role not in STAFF_ROLES:
                raise Forbidden("only staff keep the staff contact list")
            return
        self.patient(s, actor, patient_id)


def _columns(fields: ContactFields) -> dict:
    values = asdict(fields)
    values["channels"] = [str(c) for c in fields.channels]
    return values


__all__ = ["STAFF_ROLES", "ContactUseCases"]
