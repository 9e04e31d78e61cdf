"""A synthetic clinic for demonstrations: about 40 patients in every phase of care.

Every record is made by the clinic's real use cases (:class:`itb.clinic.services.Clinic`), with
the clinic's clock moved through time: each patient's story is a generator that yields the time
of its next step, and one scheduler runs all the stories in time order, so the audit log reads
in the order things happened. The virtual pumps run between the visits, so every reservoir,
alarm date, bridge bolus, booking and ERI forecast is the one the pump and the service compute.

What the demo holds (for ``patients=40``):

- screening: registered, a test dose by lumbar puncture and MAS scores before and after (one
  non-responder to 50 mcg retested with 75 mcg the next day), screening appointments;
- titrating: implanted 3-10 weeks ago, the dose raised every 14-21 days within the label's
  steps, the next titration visit and the first refill booked;
- maintenance: implanted 1-6 years ago; only the last few refills are replayed (the virtual
  pump starts at the first replayed event, its battery counted from the real implant date),
  every 2-4 months at 500/1000/2000 mcg/mL, some concentration changes (bridge boluses), some
  dose adjustments; the service books each next refill from the exact forecast;
- one peristaltic pump near its elective replacement indicator (ERI within 6 months);
- one patient who did not come to a booked refill (overdue, the alarm is days away);
- one refill with an unreviewed volume discrepancy (3 mL more than expected), and one earlier
  discrepancy that a clinician reviewed;
- a few missed appointments (rebooked), one MRI-check appointment;
- three vendor-programmed pumps (a SynchroMed II, a Prometra II and a constant-flow pump), brought
  in through the clinic import (a CSV file the demo writes, as a clinic adopting ITB would) about
  eight months ago, then a history of the sessions the vendor's programmer did, as the nurse
  records them: refills (one with a small discrepancy, under the threshold), a program change
  reviewed before it was set, the constant-flow pump's refill with a weaker drug (its only way
  to change the dose), and one interrogation whose vendor alarm date disagrees with ITB's
  forecast, so that pump is on the worklist for a session check.

The logins are simple and printed: it is a demo, never a clinic's real database.
"""

from __future__ import annotations

import csv
import heapq
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from itb.adapters.db import models as m
from itb.clinic.derived import earliest_alarm_at, estimated_reservoir_ml, program_of
from itb.clinic.services import SYSTEM, Actor, Clinic, NotSent
from itb.clinic.users import create_user
from itb.domain.clinic_settings import ClinicContacts
from itb.domain.devices import MODELS
from itb.domain.program import DosingProgram, Step
from itb.domain.scales import mas_response
from itb.domain.scheduling import refill_booking_date

__all__ = ["DemoNotEmpty", "fill_demo_clinic"]

#: (username, role, password): printed by ``itb serve --demo``; each meets the clinic's password
#: rule (``itb.clinic.password_policy``: 12 characters or more, hard to guess, not the username)
DEMO_USERS = (
    ("admin", "admin", "harbor-violet-quill-47"),
    ("clinician", "clinician", "cedar-meadow-ferry-31"),
    ("nurse", "nurse", "willow-canyon-ember-26"),
    ("parent1", "caregiver", "tidal-marble-sparrow-73"),
    ("parent2", "caregiver", "amber-falcon-thicket-64"),
)
#: the demo clinic's name and numbers, obviously fictional (555-01xx numbers are reserved for fiction)
DEMO_CONTACTS = ClinicContacts("Demo Pump Clinic (fictional)", day_phone="+1 555 0100", after_hours_phone="+1 555 0199")
CONCENTRATIONS = (500.0, 1000.0, 2000.0)
LOW_ALARM_ML = 2.0
#: a refill is aimed this many days before the low-reservoir alarm (the booking margin is 7 days
#: before the earliest plausible alarm, which the learned flow brings a few days earlier still)
AIM_BEFORE_ALARM_DAYS = 7.3
#: keep every pump but the ERI-near one at least this far from its ERI
ERI_CLEARANCE_DAYS = 260

FIRST_NAMES = (
    "Amara", "Liam", "Sofia", "Noah", "Yuki", "Mateo", "Aisha", "Lucas", "Ingrid", "Omar", "Chloe", "Ravi",
    "Elena", "Kwame", "Hannah", "Diego", "Mei", "Jonas", "Fatima", "Theo", "Zara", "Emil", "Nadia", "Arjun",
    "Lea", "Samuel", "Priya", "Oscar", "Leila", "Finn", "Camila", "Tomasz", "Ines", "Kofi", "Freya", "Hugo",
    "Anika", "Malik", "Rosa", "Felix", "Sana", "Aleksander", "Maya", "Idris", "Clara", "Tariq", "Nora", "Ben",
)  # fmt: skip
LAST_NAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Kowalski", "Fernandes", "Nguyen", "Schmidt", "Mensah",
    "Rossi", "Patel", "Dubois", "Andersen", "Ibrahim", "Novak", "Castillo", "Yamamoto", "Brennan", "Costa",
    "Petrov", "Achebe", "Larsen", "Martins", "O'Neill", "Kaur", "Silva", "Weber", "Hoang", "Adeyemi",
    "Varga", "Morales", "Eriksen", "Rahman", "Fischer", "Quinn", "Sato", "Bianchi", "Osei", "Jansen",
)  # fmt: skip
LEG_MUSCLES = ("hip adductors", "knee flexors", "knee extensors", "ankle plantar flexors")
ARM_MUSCLES = ("elbow flexors", "wrist flexors")
MAS_GRADES = ("0", "1", "1+", "2", "3", "4")


class DemoNotEmpty(Exception):
    """The demo fills only an empty database."""


@dataclass
class _Patient:
    index: int
    phase: str  # screening, titrating, maintenance
    role: str = ""  # eri, overdue, discrepancy, reviewed, missed, mri, or ""
    child: bool = False
    caregiver: str | None = None
    variant: int = 0
    fields: dict = field(default_factory=dict)
    id: int | None = None
    pump_id: int | None = None
    # the refill plan (maintenance): the planned refill times after the start, the concentration of
    # each fill (index 0: the implant's), the visit whose dose is adjusted, and what was counted
    plan: list[datetime] = field(default_factory=list)
    concentrations: list[float] = field(default_factory=list)
    adjust_at: int | None = None
    program: DosingProgram | None = None
    started: date | None = None  # when the virtual pump started (the age its limits use)
    missed_done: bool = False
    refills: int = 0
    last_added_ml: float = 0.0
    flow_error: float = 0.0
    capacity_ml: float = 40.0
    catheter_cm: float = 50.0
    model: str = "peristaltic"
    # a vendor-programmed pump: its import code, its fill, and (constant-flow) its fixed flow
    product: str = ""
    flow_ml_per_day: float | None = None


#: The vendor-programmed pumps: (import code, capacity mL, concentration mcg/mL, program or flow,
#: origin, age). The constant-flow pump's dose is its flow times the concentration.
VENDOR_PUMPS: tuple[tuple[str, float, float, DosingProgram | float, str, int], ...] = (
    ("synchromed-ii", 40.0, 1000.0, DosingProgram(steps=(Step(0, 560), Step(420, 470), Step(1320, 560))), "spinal", 47),
    ("prometra-ii", 20.0, 1000.0, DosingProgram.simple_continuous(240), "cerebral", 34),
    ("constant-flow", 35.0, 1000.0, 0.6, "cerebral", 58),
)  # fmt: skip
#: the clinic took these pumps over (the import) this many days before today
VENDOR_ADOPTED_DAYS = 250
#: the vendor's alarm date the nurse copied at the Prometra pump's last interrogation: ITB's
#: forecast says otherwise by this many days (the volume was mistyped into the vendor programmer)
VENDOR_ALARM_OFF_DAYS = 6


class _Demo:
    def __init__(self, clinic: Clinic, rng: random.Random, today: datetime) -> None:
        self.clinic = clinic
        self.rng = rng
        self.today = today
        self.now = today
        self.calendar = clinic.config.calendar
        self.limits = clinic.config.limits
        self.users: dict[str, Actor] = {}
        self.names: set[str] = set()
        # serials differ between fills: pumps' state files of two demo databases in one folder never clash
        self.batch = uuid.uuid4().hex[:6].upper()
        self.vendor_rng = random.Random(0)  # the vendor-programmed patients' own (see vendor_cast)

    # ------------------------------------------------------------------ time
    def clock(self) -> datetime:
        return self.now

    def open_before(self, day: date) -> date:
        """The latest open clinic day on or before ``day``."""
        found = self.calendar.on_or_before(day, day - timedelta(days=60))
        return found if found is not None else day

    def open_after(self, day: date) -> date:
        return self.calendar.on_or_after(day)

    @staticmethod
    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute))

    def run(self, stories: list[Iterator[datetime]]) -> None:
        """Run every story in time order: each yields when it wants to act next."""
        queue: list[tuple[datetime, int, Iterator[datetime]]] = []
        for i, story in enumerate(stories):
            first = next(story, None)
            if first is not None:
                queue.append((first, i, story))
        heapq.heapify(queue)
        self.now = min(t for t, _, _ in queue) - timedelta(days=1) if queue else self.today
        self.create_users()
        self.name_the_clinic()
        self.staff_contacts()
        while queue:
            t, i, story = heapq.heappop(queue)
            if t < self.now or t > self.today:
                raise RuntimeError(f"demo story {i} went to {t}, outside {self.now}..{self.today}")
            self.now = t
            following = next(story, None)
            if following is not None:
                heapq.heappush(queue, (following, i, story))
        self.now = self.today

    def name_the_clinic(self) -> None:
        """The demo's fictional name and numbers, when the clinic has set no settings of its own."""
        if self.clinic.clinic_settings(SYSTEM).version == 0:
            contacts = DEMO_CONTACTS
            self.clinic.update_clinic_settings(
                SYSTEM, name=contacts.name, day_phone=contacts.day_phone, after_hours_phone=contacts.after_hours_phone,
                expected_version=0,
            )  # fmt: skip

    # ------------------------------------------------------------------ people
    def create_users(self) -> None:
        with self.clinic.transaction() as s:
            for username, role, password in DEMO_USERS:
                user = create_user(s, username, password, role, by=SYSTEM, at=self.now)
                self.users[username] = Actor(username, role, user.id)

    @property
    def clinician(self) -> Actor:
        return self.users["clinician"]

    @property
    def nurse(self) -> Actor:
        return self.users["nurse"]

    def person(self, p: _Patient, birth_date: date) -> dict:
        rng = self.rng
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        for _ in range(200):
            if name not in self.names:
                break
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        else:
            name = f"{name} ({p.index})"
        self.names.add(name)
        age = (self.today.date() - birth_date).days / 365.25
        origin = p.fields.get("origin")
        if origin is None:
            origin = ("cerebral" if rng.random() < 0.9 else "spinal") if p.child else rng.choice(_ADULT_ORIGINS)
        gmfcs = None
        if p.child or (origin == "cerebral" and rng.random() < 0.5):
            gmfcs = rng.choice((2, 3, 4, 4, 5, 5))
        weight = round(8 + 3.2 * age + rng.uniform(-3, 4), 1) if age < 16 else round(rng.uniform(48, 96), 1)
        return {
            "name": name,
            "patient_ref": f"MRN-{p.index:05d}",  # the hospital's record number (the imported pumps' are 00101 on)
            "birth_date": birth_date,
            "origin": origin,
            "weight_kg": weight,
            "gmfcs": gmfcs,
            "injury_t6_or_above": origin == "spinal" and not p.child and rng.random() < 0.4,
            "cannot_communicate": gmfcs == 5 and rng.random() < 0.6,
            "earlier_withdrawal": p.phase == "maintenance" and rng.random() < 0.06,
        }

    def birth_for_age(self, on: date, age_years: float) -> date:
        return on - timedelta(days=round(age_years * 365.25) + self.rng.randint(0, 200))

    def register(self, p: _Patient, birth_date: date) -> None:
        p.fields = self.person(p, birth_date)
        p.id = self.clinic.register_patient(self.nurse, **p.fields).id
        if p.caregiver:
            self.clinic.link_caregiver(self.users["admin"], p.id, self.users[p.caregiver].user_id or 0)
        self.family_contacts(p)

    def family_contacts(self, p: _Patient) -> None:
        """Who the clinic's messages reach (fictional ``example.org`` addresses): a child's two
        caregivers (one by email, one by email and text message), an adult themself."""
        first, last = p.fields["name"].split(" ", 1)
        family = "".join(ch for ch in last.lower() if ch.isalnum())
        admin = self.users["admin"]
        if not p.child:
            address = f"{first.lower()}.{family}@example.org"
            self.clinic.add_contact(admin, p.id, name=p.fields["name"], relation="self", email=address)
            return
        carer = self.users[p.caregiver].user_id if p.caregiver else None
        parent = self.rng.choice(FIRST_NAMES)
        self.clinic.add_contact(admin, p.id, name=f"{parent} {last}", relation="parent",
                                email=f"{parent.lower()}.{family}@example.org", user_id=carer)  # fmt: skip
        other = self.rng.choice(FIRST_NAMES)
        self.clinic.add_contact(
            admin, p.id, name=f"{other} {last}", relation="parent", email=f"{other.lower()}.{family}@example.org",
            phone=f"+1 555 01{p.index:02d}", channels=["email", "webhook"],
        )  # fmt: skip

    def staff_contacts(self) -> None:
        """The demo's on-call list and digest readers."""
        admin = self.users["admin"]
        self.clinic.add_contact(admin, None, name="ITB nurse on call", email="itb-oncall@example.org", on_call=True)
        self.clinic.add_contact(admin, None, name="ITB clinic lead", email="itb-lead@example.org", digest=True)

    # ------------------------------------------------------------------ reading
    def pump(self, p: _Patient) -> m.Pump:
        with self.clinic.sessions() as s:
            pump = s.get(m.Pump, p.pump_id)
            assert pump is not None
            return pump

    def booked(self, p: _Patient, kind: str) -> m.Appointment | None:
        with self.clinic.sessions() as s:
            return s.execute(
                select(m.Appointment)
                .where(m.Appointment.patient_id == p.id, m.Appointment.kind == kind, m.Appointment.status == "booked")
                .order_by(m.Appointment.at)
                .limit(1)
            ).scalar_one_or_none()

    def group(self, p: _Patient) -> tuple[str, float, float, float, float]:
        """(group, usual dose min, max, increase step min, max) as the pump's limits judge it."""
        lim = self.limits
        age = ((p.started or self.now.date()) - p.fields["birth_date"]).days / 365.25
        if age < lim.child_below_age_years:
            return (
                "child",
                lim.maintenance_child_min_mcg_per_day,
                lim.maintenance_child_max_mcg_per_day,
                lim.increase_min_fraction_child,
                lim.increase_max_fraction_child,
            )
        if p.fields["origin"] == "cerebral":
            return (
                "cerebral",
                lim.maintenance_cerebral_min_mcg_per_day,
                lim.maintenance_cerebral_max_mcg_per_day,
                lim.increase_min_fraction_cerebral,
                lim.increase_max_fraction_cerebral,
            )
        return (
            "spinal",
            lim.maintenance_spinal_min_mcg_per_day,
            lim.maintenance_spinal_max_mcg_per_day,
            lim.increase_min_fraction_spinal,
            min(lim.increase_max_fraction_spinal, 0.25),
        )

    # ------------------------------------------------------------------ acts
    def program(self, dose: float, flexible: bool) -> DosingProgram:
        if not flexible:
            return DosingProgram.simple_continuous(round(dose, 1))
        night = round(dose * 1.2, 1)  # more at night, against night spasms: 00-06 and 22-24 h
        day = round((dose * 24 - night * 8) / 16, 1)
        return DosingProgram(steps=(Step(0, night), Step(360, day), Step(1320, night)))

    def implant(self, p: _Patient, **fields: Any) -> m.Pump:
        """A clinician's implant; the soft limits its first program meets (a start below the usual
        maintenance range, as titration starts) are confirmed, as the clinician would."""
        try:
            return self.clinic.implant_pump(self.clinician, p.id or 0, **fields)
        except NotSent as exc:
            if exc.assessment.refusals:
                raise
            codes = tuple(f.code for f in exc.assessment.confirmations)
            return self.clinic.implant_pump(self.clinician, p.id or 0, acknowledged=codes, **fields)

    def change_program(self, p: _Patient, program: DosingProgram) -> bool:
        """A clinician's program change; soft limits it expects are acknowledged, a refusal skips it."""
        pump = self.pump(p)
        _, lo, hi, _, _ = self.group(p)
        dose = program.daily_dose_mcg
        expected = ("maintenance_range",) if not lo <= dose <= hi else ()
        try:
            self.clinic.change_program(
                self.clinician, pump.id, program, expected_version=pump.version, acknowledged=expected
            )
        except NotSent as exc:
            if exc.assessment.refusals:
                return False
            codes = tuple(f.code for f in exc.assessment.confirmations)
            self.clinic.change_program(
                self.clinician, pump.id, program, expected_version=pump.version, acknowledged=codes
            )
        return True

    def refill(
        self,
        p: _Patient,
        appointment: m.Appointment | None,
        added_ml: float,
        concentration: float,
        extra_ml: float = 0.0,
    ) -> m.Refill:
        """The nurse interrogates, withdraws what is left (what the pump counts, give or take its flow
        error; plus ``extra_ml``), fills ``added_ml`` and marks the appointment done."""
        if appointment is not None:  # the patient came (marked first: the refill replaces later bookings)
            self.clinic.set_appointment_status(self.nurse, appointment.id, "done")
        pump = self.clinic.interrogate(self.nurse, p.pump_id or 0)
        expected = pump.reading_reservoir_ml  # read just now
        pumped = max(0.0, p.last_added_ml - expected)
        real = expected - p.flow_error * pumped  # what is really left: the pump only counts
        withdrawn = round(max(0.0, expected + extra_ml if extra_ml else real), 1)
        acknowledged = ("refill_discrepancy",) if extra_ml else ()
        lot = f"BAC{int(concentration)}-{self.rng.randint(10000, 99999)}"
        args: dict[str, Any] = {"added_ml": round(added_ml, 1), "concentration_mcg_per_ml": concentration, "lot": lot}
        try:
            refill = self.clinic.refill(
                self.nurse,
                pump.id,
                withdrawn_ml=withdrawn,
                expected_version=pump.version,
                acknowledged=acknowledged,
                **args,
            )
        except NotSent as exc:
            if exc.assessment.refusals:
                raise
            codes = {f.code for f in exc.assessment.confirmations}
            if "refill_discrepancy" in codes and not extra_ml:  # not meant: withdraw what is counted
                withdrawn = round(expected, 2)
                codes.discard("refill_discrepancy")
            refill = self.clinic.refill(
                self.nurse,
                pump.id,
                withdrawn_ml=withdrawn,
                expected_version=pump.version,
                acknowledged=tuple(sorted(codes | set(acknowledged))),
                **args,
            )
        p.last_added_ml = round(added_ml, 1)
        p.refills += 1
        return refill

    def book(self, p: _Patient, kind: str, when: datetime, notes: str | None = None) -> m.Appointment:
        return self.clinic.book(self.nurse, p.id or 0, kind=kind, at=when, pump_id=p.pump_id, notes=notes)

    def book_refill_from_forecast(self, p: _Patient, notes: str) -> None:
        """Book (or move earlier) the refill from the pump's stored forecast, as the service does after a refill."""
        pump = self.pump(p)
        day = refill_booking_date(
            self.now.date(),
            (pump.last_refill_at or self.now).date(),
            earliest_alarm_at(pump),
            self.calendar,
            self.clinic.config.booking,
        )
        current = self.booked(p, "refill")
        if current is not None and current.at.date() <= day:
            return
        if current is not None:
            self.clinic.set_appointment_status(self.nurse, current.id, "cancelled")
        self.book(p, "refill", self.at(day, 10), notes)

    def dead_volume_ml(self, p: _Patient) -> float:
        device = MODELS[p.model]
        return device.internal_tubing_ml + p.catheter_cm * device.catheter_ml_per_cm

    def fill_for(self, p: _Patient, dose: float, concentration: float, until: datetime, old_conc: float) -> float:
        """The volume to add now so the next refill falls on ``until`` (the alarm ``AIM_BEFORE_ALARM_DAYS`` later)."""
        days = (until - self.now).total_seconds() / 86400 + AIM_BEFORE_ALARM_DAYS
        bridge = self.dead_volume_ml(p) * (1 - old_conc / concentration) if concentration > old_conc else 0.0
        return min(p.capacity_ml, LOW_ALARM_ML + bridge + dose / concentration * days)

    # ------------------------------------------------------------------ screening
    def mas(self, responded: bool, muscles: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
        rng = self.rng
        while True:
            before = {k: rng.choice(("1+", "2", "2", "3", "3", "4")) for k in muscles}
            after = {}
            for k, grade in before.items():
                drop = rng.choice((1, 2, 2, 3)) if responded else rng.choice((0, 0, 1))
                after[k] = MAS_GRADES[max(0, MAS_GRADES.index(grade) - drop)]
            if mas_response(list(before.values()), list(after.values())) == responded:
                return before, after

    def muscles(self, p: _Patient) -> tuple[str, ...]:
        legs = tuple(self.rng.sample(LEG_MUSCLES, 3))
        return (*legs, ARM_MUSCLES[0]) if p.fields["origin"] == "cerebral" else legs

    def screen(self, p: _Patient, dose: float, responded: bool, appointment: m.Appointment | None) -> float:
        effect = round(self.rng.uniform(8.5, 12), 1) if self.rng.random() < 0.25 else round(self.rng.uniform(4, 8), 1)
        before, after = self.mas(responded, self.muscles(p))
        self.clinic.record_screening(
            self.clinician,
            p.id or 0,
            dose_mcg=dose,
            mas_before=before,
            mas_after=after,
            effect_hours=effect if responded else None,
            at=self.now - timedelta(hours=4),
        )
        if appointment is not None:
            self.clinic.set_appointment_status(self.nurse, appointment.id, "done")
        return effect

    def screening_story(self, p: _Patient) -> Iterator[datetime]:
        rng, today = self.rng, self.today.date()
        age = rng.uniform(3, 11) if p.child else rng.uniform(19, 68)
        registered = self.open_before(today - timedelta(days=rng.randint(20, 70)))
        trial = self.open_before(registered + timedelta(days=rng.randint(6, 14)))
        yield self.at(registered, 9, rng.choice((0, 15, 30, 45)))
        self.register(p, self.birth_for_age(today, age))
        first_dose = 25.0 if age < 4 else 50.0
        notes = f"screening trial: {first_dose:g} mcg by lumbar puncture, MAS before and 4 h after"
        appointment = self.book(p, "screening", self.at(trial, 8, 30), notes)
        yield self.at(trial, 13, rng.choice((0, 30)))
        if p.variant == 1:  # no response: 75 mcg 24 h later (the label's second step)
            self.screen(p, first_dose, False, appointment)
            retest = self.open_after(trial + timedelta(days=1))
            appointment = self.book(
                p, "screening", self.at(retest, 8, 30), "screening trial: 75 mcg (no response to 50)"
            )
            yield self.at(retest, 13, 0)
            self.screen(p, 75.0, True, appointment)
        else:
            self.screen(p, first_dose, True, appointment)
        if p.variant in (2, 3):  # a follow-up visit to plan the implant
            follow = self.open_after(today + timedelta(days=rng.randint(3, 20)))
            self.book(p, "screening", self.at(follow, 14, 0), "results of the trial; plan the implant")

    # ------------------------------------------------------------------ titration
    def titration_story(self, p: _Patient) -> Iterator[datetime]:
        rng, today = self.rng, self.today.date()
        age = rng.uniform(4, 11) if p.child else rng.uniform(20, 65)
        implanted = self.open_before(today - timedelta(days=rng.randint(21, 70)))
        trial = self.open_before(implanted - timedelta(days=rng.randint(14, 40)))
        registered = self.open_before(trial - timedelta(days=rng.randint(7, 25)))
        yield self.at(registered, 9, rng.choice((0, 30)))
        self.register(p, self.birth_for_age(today, age))
        dose = 25.0 if age < 4 else 50.0
        appointment = self.book(p, "screening", self.at(trial, 8, 30), f"screening trial: {dose:g} mcg")
        yield self.at(trial, 13, 30)
        effect = self.screen(p, dose, True, appointment)

        yield self.at(implanted, 8, 0)
        p.capacity_ml = 20.0 if p.child and rng.random() < 0.6 else 40.0
        p.catheter_cm = round(rng.uniform(30, 42) if p.child else rng.uniform(45, 60))
        start = dose * (1 if effect > 8 else 2)  # the label: 2x the screening dose, 1x if it lasted > 8 h
        p.flow_error = round(rng.uniform(0.005, 0.02), 4)
        p.started = implanted
        pump = self.implant(
            p,
            model="peristaltic",
            serial=self.serial(p),
            reservoir_capacity_ml=p.capacity_ml,
            catheter_length_cm=p.catheter_cm,
            reservoir_ml=p.capacity_ml,
            concentration_mcg_per_ml=500.0,
            program=DosingProgram.simple_continuous(start),
            flow_error=p.flow_error,
        )
        p.pump_id, p.last_added_ml = pump.id, p.capacity_ml
        self.book_refill_from_forecast(p, "first refill after the implant")
        last_change = implanted
        visit = self.book(p, "titration", self.titration_visit(last_change), "dose titration")
        while visit.at < self.today:
            yield from self.refills_before(p, visit.at)
            yield visit.at
            _, _, _, lo, hi = self.group(p)
            old = self.pump(p).daily_dose_mcg
            new = round(old * (1 + rng.uniform(lo + 0.005, hi - 0.01)), 1)
            self.change_program(p, DosingProgram.simple_continuous(new))
            self.clinic.set_appointment_status(self.clinician, visit.id, "done")
            last_change = visit.at.date()
            # The service books the next titration visit after a change made while titrating.
            visit = self.booked_titration(p) or self.book(
                p, "titration", self.titration_visit(last_change), "dose titration"
            )
            self.book_refill_from_forecast(p, "moved earlier after a dose increase")
        yield from self.refills_before(p, self.today)

    def booked_titration(self, p: _Patient) -> m.Appointment | None:
        with self.clinic.sessions() as s:
            return s.scalars(
                select(m.Appointment)
                .where(
                    m.Appointment.patient_id == p.id,
                    m.Appointment.kind == "titration",
                    m.Appointment.status == "booked",
                    m.Appointment.at > self.now,
                )
                .order_by(m.Appointment.at)
            ).first()

    def titration_visit(self, last_change: date) -> datetime:
        early, late = self.clinic.config.booking.titration_interval_days
        first = last_change + timedelta(days=early)
        day = self.open_before(last_change + timedelta(days=self.rng.randint(early, late)))
        day = day if day >= first else self.open_after(first)
        return self.at(day, self.rng.choice((9, 11, 14)), self.rng.choice((0, 30)))

    def refills_before(self, p: _Patient, until: datetime) -> Iterator[datetime]:
        """Titrating patients' refills (full reservoir at 500 mcg/mL, 1000 once the volume runs fast)."""
        while True:
            appointment = self.booked(p, "refill")
            if appointment is None or appointment.at >= until:
                return
            yield max(appointment.at, self.now)
            pump = self.pump(p)
            conc = pump.concentration_mcg_per_ml
            if pump.daily_dose_mcg / conc * 45 > p.capacity_ml - LOW_ALARM_ML and conc < CONCENTRATIONS[-1]:
                conc *= 2
            self.refill(p, appointment, p.capacity_ml, conc)

    # ------------------------------------------------------------------ maintenance
    def plan_maintenance(self, p: _Patient) -> tuple[datetime, datetime, float, bool]:
        """Choose the pump, the dose, the refill dates and the real implant date.

        Returns (replay start, real implant date, daily dose, flexible program).
        """
        rng, today = self.rng, self.today.date()
        child = p.child
        p.model = "valve-gated" if rng.random() < 0.25 and p.role not in ("eri",) else "peristaltic"
        p.capacity_ml = 20.0 if child and rng.random() < 0.5 else 40.0
        p.catheter_cm = round(rng.uniform(30, 45) if child else rng.uniform(45, 62))
        device = MODELS[p.model]
        p.flow_error = round(rng.uniform(0.005, 0.025) if p.model == "peristaltic" else rng.uniform(-0.04, -0.01), 4)
        origin = p.fields["origin"]
        if p.role == "eri":
            dose = round(rng.uniform(640, 760))
        elif child:
            dose = round(rng.uniform(70, 450))
        elif origin == "cerebral":
            dose = round(rng.uniform(150, 600))
        else:
            dose = round(rng.uniform(320, 750))
        room = p.capacity_ml - LOW_ALARM_ML - 0.5

        def fits(conc: float, d: float = dose) -> float:  # the longest interval a full reservoir gives
            return room / (d / conc) - AIM_BEFORE_ALARM_DAYS - 1

        conc = 1000.0 if p.role == "eri" else next((c for c in CONCENTRATIONS if fits(c) >= 62), CONCENTRATIONS[-1])
        earlier_conc = conc
        changes_conc = p.role == "" and conc > CONCENTRATIONS[0] and fits(conc / 2) >= 28 and rng.random() < 0.3
        if changes_conc:
            earlier_conc = conc / 2

        def interval(c: float) -> float:
            top = min(fits(c), 125.0)
            return rng.uniform(min(60.0, top * 0.8), top)

        n = rng.choice((2, 3, 3, 4))
        switch = rng.randint(1, n) if changes_conc else None  # the fill from which the concentration is higher
        # fill 0 at the start, fill k at the k-th replayed refill; each fill's interval uses its concentration
        concs = [earlier_conc if switch is not None and i < switch else conc for i in range(n + 1)]
        final = interval(conc)
        if p.role == "overdue":  # the refill was due a few days ago: the alarm comes in a day or two
            missed = self.open_before(today - timedelta(days=2))
            last = self.open_before(missed - timedelta(days=final))
            final = (missed - last).days
        else:
            least = {"missed": 8.0, "discrepancy": 7.0}.get(p.role, 3.0)
            most = {"discrepancy": 40.0}.get(p.role, final - 8)
            last = self.open_before(today - timedelta(days=rng.uniform(least, max(least + 1, most))))
        refills = [self.at(last, 10)]
        for i in range(n - 1, 0, -1):  # backwards from the last replayed refill
            refills.insert(0, self.at(self.open_before(refills[0].date() - timedelta(days=interval(concs[i]))), 10))
        start = self.at(self.open_before(refills[0].date() - timedelta(days=interval(concs[0]))), 9)
        p.plan = [*refills, self.at(self.open_before(last + timedelta(days=final)), 10)]
        p.concentrations = concs
        p.adjust_at = rng.randint(1, n - 1) if p.role == "" and n > 1 and rng.random() < 0.35 else None
        p.started = start.date()

        # The real implant: 1-6 years ago, and far enough from ERI (the ERI-near pump: ERI in 2-5 months).
        busiest = max(dose / earlier_conc, dose * 1.15 / conc)
        if p.role == "eri":
            age_days = device.battery.days_to_eri(dose / conc) - rng.uniform(60, 140)
        else:
            age_days = min(rng.uniform(1, 6) * 365.25, device.battery.days_to_eri(busiest) - ERI_CLEARANCE_DAYS)
        replay_days = (self.today - start).days
        age_days = max(age_days, replay_days + 60)
        implanted = self.at(self.open_before(today - timedelta(days=age_days)), 8)
        return start, implanted, float(dose), rng.random() < 0.25

    def maintenance_story(self, p: _Patient) -> Iterator[datetime]:
        rng = self.rng
        p.fields["origin"] = (
            ("cerebral" if rng.random() < 0.85 else "spinal")
            if p.child
            else ("spinal" if p.role == "eri" else rng.choice(("spinal", "spinal", "cerebral")))
        )
        start, implanted, dose, flexible = self.plan_maintenance(p)
        age_at_implant = rng.uniform(3, 9) if p.child else rng.uniform(20, 66)
        yield start - timedelta(hours=1)
        self.register(p, self.birth_for_age(implanted.date(), age_at_implant))
        p.program = self.program(dose, flexible)
        yield start
        conc = p.concentrations[0]
        added = self.fill_for(p, dose, conc, p.plan[0], conc)
        pump = self.implant(
            p,
            model=p.model,
            serial=self.serial(p),
            reservoir_capacity_ml=p.capacity_ml,
            catheter_length_cm=p.catheter_cm,
            reservoir_ml=round(added, 1),
            concentration_mcg_per_ml=conc,
            program=p.program,
            implanted_at=implanted,
            flow_error=p.flow_error,
        )
        p.pump_id, p.last_added_ml = pump.id, round(added, 1)
        self.clinic.set_phase(self.clinician, p.id or 0, "maintenance")
        self.book_refill_from_forecast(p, "records brought over from the clinic's paper files")
        while True:
            appointment = self.booked(p, "refill")
            if appointment is None or appointment.at >= self.today:
                break
            if p.role == "overdue" and p.refills >= len(p.plan) - 1:
                break  # the patient does not come: the appointment stays booked, in the past
            yield appointment.at
            k = p.refills
            if p.role == "missed" and k == len(p.plan) - 2 and not p.missed_done:
                yield appointment.at + timedelta(hours=7)
                self.clinic.set_appointment_status(self.nurse, appointment.id, "missed")
                again = self.open_after(appointment.at.date() + timedelta(days=1))
                self.book(p, "refill", self.at(again, 11), "rebooked after a missed refill (phoned the family)")
                p.missed_done = True
                continue
            yield from self.maintenance_visit(p, appointment, k)
        if p.role == "mri":  # booked at the last visit
            scan = self.open_after(self.today.date() + timedelta(days=rng.randint(3, 12)))
            self.book(p, "mri_check", self.at(scan, 15), "MRI of the brain at 13:00: interrogate the pump after it")

    def maintenance_visit(self, p: _Patient, appointment: m.Appointment, k: int) -> Iterator[datetime]:
        rng = self.rng
        pump = self.pump(p)
        dose = pump.daily_dose_mcg
        if p.adjust_at == k:
            step_lo, step_hi = self.group(p)[3:]
            if rng.random() < 0.25:  # a reduction for side effects (10-15 %)
                factor = 1 - rng.uniform(0.1, 0.15)
            else:
                factor = 1 + rng.uniform(step_lo + 0.005, step_hi - 0.01)
            assert p.program is not None
            new = DosingProgram(tuple(Step(s, round(r * factor, 1)) for s, r in p.program.steps))
            if self.change_program(p, new):
                p.program, dose = new, new.daily_dose_mcg
        old_conc = pump.concentration_mcg_per_ml
        conc = p.concentrations[min(k + 1, len(p.concentrations) - 1)]
        until = p.plan[k + 1] if k + 1 < len(p.plan) else self.now + timedelta(days=rng.uniform(70, 110))
        added = self.fill_for(p, dose, conc, until, old_conc)
        extra = 0.0
        if p.role == "discrepancy" and k == len(p.plan) - 2:
            extra = round(rng.uniform(2.8, 3.3), 1)
        elif p.role == "reviewed" and k == 0:
            extra = -2.6
        refill = self.refill(p, appointment, added, conc, extra)
        if p.role == "reviewed" and k == 0:
            yield self.now + timedelta(hours=5)
            self.clinic.review_discrepancy(self.clinician, refill.id)
            note = "Less drug left than counted: pocket and catheter site checked, no leak; rate verified next refill."
            self.clinic.record_complication(
                self.clinician, p.id or 0, kind="other", at=self.now, refill_id=refill.id, notes=note
            )

    # ------------------------------------------------------------------ vendor-programmed pumps
    def vendor_cast(self, rng: random.Random) -> list[_Patient]:
        """The vendor-programmed patients (their own random numbers: the other stories stay as they were)."""
        cast = []
        for k, (code, capacity, _conc, _program, origin, age) in enumerate(VENDOR_PUMPS, 1):
            p = _Patient(100 + k, "maintenance", role=f"vendor-{code}", product=code, capacity_ml=capacity)
            born = self.today.date() - timedelta(days=round(age * 365.25) + rng.randint(0, 200))
            p.fields = {"origin": origin, "birth_date": born}
            cast.append(p)
        self.vendor_rng = rng
        return cast

    def vendor_csv(self, cast: list[_Patient], adopted: datetime) -> str:
        """The clinic's import file: each pump as it stood after its last session on the vendor's programmer."""
        rng = self.vendor_rng
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            (
                "patient_ref", "family_name", "given_name", "birth_date", "origin", "pump_model", "pump_serial",
                "reservoir_capacity_ml", "implanted_on", "catheter_length_cm", "session_at", "reservoir_ml",
                "concentration_mcg_per_ml", "program", "flow_ml_per_day",
            )
        )  # fmt: skip
        for p, (code, capacity, conc, program, _origin, _age) in zip(cast, VENDOR_PUMPS):
            while True:
                given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                if f"{given} {family}" not in self.names:
                    break
            self.names.add(f"{given} {family}")
            session = self.at(self.open_before(adopted.date() - timedelta(days=rng.randint(5, 30))), 10, 30)
            implanted = self.open_before(session.date() - timedelta(days=rng.randint(400, 1500)))
            if isinstance(program, DosingProgram):
                steps = ";".join(f"{s // 60:02d}:{s % 60:02d}={rate:g}" for s, rate in program.steps)
                cells = (steps if len(program.steps) > 1 else f"{program.daily_dose_mcg:g}", "")
            else:
                p.flow_ml_per_day = program
                cells = ("", f"{program:g}")
            writer.writerow(
                (
                    f"MRN-{p.index:05d}", family, given, p.fields["birth_date"].isoformat(), p.fields["origin"], code,
                    f"{code[:3].upper()}-DEMO-{self.batch}-{p.index:03d}", f"{capacity:g}", implanted.isoformat(),
                    round(rng.uniform(40, 60)), session.strftime("%Y-%m-%dT%H:%M"), f"{capacity:g}", f"{conc:g}",
                    *cells,
                )
            )  # fmt: skip
        return out.getvalue()

    def vendor_import_story(self, cast: list[_Patient]) -> Iterator[datetime]:
        """The clinic adopts ITB: its vendor-programmed pumps come in through the import."""
        adopted = self.at(self.open_before(self.today.date() - timedelta(days=VENDOR_ADOPTED_DAYS)), 9)
        text = self.vendor_csv(cast, adopted)
        yield adopted
        report = self.clinic.import_clinic(self.clinician, text)
        for p, row in zip(cast, report.rows):
            p.id, p.pump_id = row["patient_id"], row["pump_id"]

    def session(self, p: _Patient, kind: str, actor: Actor | None = None, **fields: Any) -> Any:
        """A session of the vendor's programmer, recorded now; the soft limits it meets were reviewed
        first (a dry run) and are acknowledged, as the clinician would."""
        actor = actor or self.nurse
        pump = self.pump(p)
        review = self.clinic.record_session(
            actor, pump.id, kind=kind, at=self.now, expected_version=pump.version, dry_run=True, **fields
        )
        codes = tuple(f.code for f in review.assessment.confirmations)
        return self.clinic.record_session(
            actor, pump.id, kind=kind, at=self.now, expected_version=pump.version, acknowledged=codes, **fields
        )

    def vendor_refill(self, p: _Patient, appointment: m.Appointment, concentration: float, extra_ml: float) -> None:
        """The nurse withdraws what is left (ITB's count, give or take; plus ``extra_ml``) and fills the reservoir."""
        rng = self.vendor_rng
        self.clinic.set_appointment_status(self.nurse, appointment.id, "done")
        expected = estimated_reservoir_ml(self.pump(p), self.now)
        withdrawn = round(max(0.0, expected + (extra_ml or rng.uniform(-0.3, 0.3))), 1)
        actor = self.clinician if concentration != self.pump(p).concentration_mcg_per_ml else self.nurse
        self.session(
            p, "refill", actor, withdrawn_ml=withdrawn, vendor_expected_ml=round(expected, 1), added_ml=p.capacity_ml,
            concentration_mcg_per_ml=concentration, lot=f"BAC{int(concentration)}-{rng.randint(10000, 99999)}",
        )  # fmt: skip
        p.refills += 1

    def vendor_story(self, p: _Patient) -> Iterator[datetime]:
        """A vendor-programmed pump's sessions from the import to today, each at its booked refill."""
        rng = self.vendor_rng
        yield self.at(self.open_before(self.today.date() - timedelta(days=VENDOR_ADOPTED_DAYS)), 9, 30)
        while True:
            appointment = self.booked(p, "refill")
            if appointment is None or appointment.at >= self.today:
                break
            yield appointment.at
            conc = self.pump(p).concentration_mcg_per_ml
            if p.product == "constant-flow" and p.refills == 1:
                conc = 500.0  # the spasticity settled: its dose halves with a weaker drug (its flow is fixed)
            extra = 0.8 if p.product == "synchromed-ii" and p.refills == 0 else 0.0  # under the 2 mL threshold
            self.vendor_refill(p, appointment, conc, extra)
            if p.product == "synchromed-ii" and p.refills == 1:
                yield self.at(self.open_after(self.now.date() + timedelta(days=rng.randint(18, 25))), 11)
                pump = self.pump(p)
                new = DosingProgram(tuple(Step(s, round(rate * 1.12, 1)) for s, rate in program_of(pump).steps))
                self.session(p, "program", self.clinician, program=new)
                self.book_refill_from_forecast(p, "moved earlier after a dose increase on the vendor's programmer")
        if p.product == "prometra-ii":  # the last visit: an interrogation; the vendor's alarm date was copied
            yield max(
                self.now + timedelta(hours=2), self.at(self.open_before(self.today.date() - timedelta(days=3)), 11)
            )
            pump = self.pump(p)
            assert pump.low_reservoir_alarm_at is not None
            self.clinic.record_session(
                self.nurse, pump.id, kind="interrogation", at=self.now, expected_version=pump.version,
                reservoir_ml=round(estimated_reservoir_ml(pump, self.now), 1),
                vendor_alarm_at=pump.low_reservoir_alarm_at + timedelta(days=VENDOR_ALARM_OFF_DAYS),
            )  # fmt: skip

    def serial(self, p: _Patient) -> str:
        prefix = "PS" if p.model == "peristaltic" else "VG"
        return f"{prefix}-DEMO-{self.batch}-{p.index:03d}"


_ADULT_ORIGINS = ("spinal", "spinal", "spinal", "cerebral", "cerebral")


def _cast(patients: int, rng: random.Random) -> list[_Patient]:
    """Who is in which phase, with which part in the demo."""
    if patients < 5:
        raise ValueError("the demo needs at least 5 patients (one per phase and the special cases)")
    screening = max(1, round(patients * 0.1))
    titrating = max(1, round(patients * 0.15))
    maintenance = patients - screening - titrating
    cast: list[_Patient] = []
    for i in range(screening):
        cast.append(_Patient(0, "screening", child=rng.random() < 0.5, variant=i % 4))
    for i in range(titrating):
        cast.append(_Patient(0, "titrating", child=i == 0 or rng.random() < 0.4))
    roles = ["eri", "overdue", "discrepancy", "missed", "reviewed", "missed", "mri", "missed"]
    for i in range(maintenance):
        role = roles[i] if i < len(roles) else ""
        child = role not in ("eri",) and (i == len(roles) or rng.random() < 0.35)
        cast.append(_Patient(0, "maintenance", role=role, child=child))
    cast[screening].caregiver = "parent1"  # a titrating child
    kids = [p for p in cast if p.phase == "maintenance" and p.child]
    second = next((p for p in kids if p.role == ""), kids[0] if kids else cast[-1])
    second.child, second.caregiver = True, "parent2"
    rng.shuffle(cast)
    for i, p in enumerate(cast, 1):
        p.index = i
    return cast


def fill_demo_clinic(
    clinic: Clinic, *, seed: int = 7, patients: int = 40, today: datetime | None = None
) -> list[tuple[str, str, str]]:
    """Fill an empty clinic database with a synthetic clinic; the demo logins (user, password, role).

    Raises :class:`DemoNotEmpty` when the database already has patients (or a demo user name).
    """
    today = today or datetime.now().replace(second=0, microsecond=0)
    with clinic.sessions() as s:
        if s.execute(select(func.count()).select_from(m.Patient)).scalar():
            raise DemoNotEmpty("the database already has patients: the demo only fills an empty one")
        taken = s.execute(select(m.User.username).where(m.User.username.in_([u for u, _, _ in DEMO_USERS]))).first()
        if taken:
            raise DemoNotEmpty(f"the database already has a user {taken[0]!r}: the demo only fills an empty one")
    rng = random.Random(seed)
    demo = _Demo(clinic, rng, today)
    cast = _cast(patients, rng)
    stories = {
        "screening": demo.screening_story,
        "titrating": demo.titration_story,
        "maintenance": demo.maintenance_story,
    }
    vendor = demo.vendor_cast(random.Random(seed * 7919 + 1))
    original_clock = clinic.clock
    clinic.clock = demo.clock
    try:
        demo.run(
            [stories[p.phase](p) for p in cast]
            + [demo.vendor_import_story(vendor)]
            + [demo.vendor_story(p) for p in vendor]
        )
    finally:
        clinic.clock = original_clock
    return [(username, password, role) for username, role, password in DEMO_USERS]
