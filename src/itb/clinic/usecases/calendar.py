"""A family's calendar feed: the patient's visits by a secret, revocable link a phone subscribes to.

A phone's calendar cannot log in, so the feed is reached by a link holding a random token (the
record keeps only its SHA-256, so a copy of the database gives no working link). Each link
belongs to one patient and the person who made it (a caregiver of that patient, or staff);
making a new one revokes that person's earlier links for the patient, and any link can be
revoked. The feed lists the booked, done, missed and cancelled visits (a cancelled one as
cancelled, so the phone removes it rather than keeping a visit that will not happen), at the
clinic's time zone (``ClinicConfig.time_zone``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from itb.adapters.db import models as m
from itb.clinic.usecases.base import Actor, ClinicBase, NotFound, require

#: visits a feed shows (a cancelled one stays, marked cancelled)
FEED_STATUSES = ("booked", "done", "missed", "cancelled")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FeedVisit:
    id: int
    kind: str
    status: str
    at: datetime


@dataclass(frozen=True)
class Feed:
    patient_name: str
    time_zone: str
    visits: list[FeedVisit]


class CalendarUseCases(ClinicBase):
    def new_calendar_link(self, actor: Actor, patient_id: int) -> str:
        """A new secret token for the patient's feed (shown once); the actor's earlier links for the
        patient are revoked."""
        require(actor, "admin", "clinician", "nurse", "caregiver")
        token = secrets.token_urlsafe(32)
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            self._revoke(s, actor, patient.id, actor.username)
            link = m.CalendarLink(
                patient_id=patient.id, token_sha256=token_hash(token), created_by=actor.username,
                created_at=self.clock(),
            )  # fmt: skip
            self._add_audited(s, actor, "new_calendar_link", "patient", link, entity_id=patient.id)
        return token

    def revoke_calendar_links(self, actor: Actor, patient_id: int) -> int:
        """Every live link of the patient's feed revoked (a caregiver: their own); how many."""
        require(actor, "admin", "clinician", "nurse", "caregiver")
        with self.transaction() as s:
            patient = self.patient(s, actor, patient_id)
            return self._revoke(s, actor, patient.id, actor.username if actor.role == "caregiver" else None)

    def _revoke(self, s: Session, actor: Actor, patient_id: int, made_by: str | None) -> int:
        query = select(m.CalendarLink).where(
            m.CalendarLink.patient_id == patient_id, m.CalendarLink.revoked_at.is_(None)
        )
        if made_by is not None:
            query = query.where(m.CalendarLink.created_by == made_by)
        links = list(s.execute(query).scalars())
        for link in links:
            link.revoked_at = self.clock()
            self._audit(s, actor, "revoke_calendar_link", "patient", patient_id, after={"link": link.id})
        return len(links)

    def calendar_feed(self, token: str) -> Feed:
        """The visits of the link's patient (NotFound for an unknown or revoked link: nothing else is said)."""
        with self.sessions() as s:
            link = s.execute(
                select(m.CalendarLink).where(
                    m.CalendarLink.token_sha256 == token_hash(token), m.CalendarLink.revoked_at.is_(None)
                )
            ).scalar_one_or_none()
            if link is None:
                raise NotFound("no such calendar")
            patient = s.get(m.Patient, link.patient_id)
            assert patient is not None
            return self._feed(s, patient)

    def calendar_of(self, actor: Actor, patient_id: int) -> Feed:
        """The same visits for someone logged in who may see the patient (a download)."""
        with self.sessions() as s:
            return self._feed(s, self.patient(s, actor, patient_id))

    def _feed(self, s: Session, patient: m.Patient) -> Feed:
        rows = s.execute(
            select(m.Appointment)
            .where(m.Appointment.patient_id == patient.id, m.Appointment.status.in_(FEED_STATUSES))
            .order_by(m.Appointment.at)
        ).scalars()
        visits = [FeedVisit(a.id, a.kind, a.status, a.at) for a in rows]
        return Feed(patient.name, self.config.time_zone, visits)


__all__ = ["FEED_STATUSES", "CalendarUseCases", "Feed", "FeedVisit", "token_hash"]
