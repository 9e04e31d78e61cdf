"""The reminder and escalation rules (itb.domain.reminders): one test per rule, named after it."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest

from itb.domain.contact_rules import checked_contact
from itb.domain.errors import InvalidInput
from itb.domain.reminder_texts import TEXTS, fields_of, text_for
from itb.domain.reminders import (
    DEFAULT_NOTIFY,
    Alert,
    Channel,
    DigestLine,
    Facts,
    NotifySettings,
    Recipient,
    Rule,
    Visit,
    delivery,
    in_quiet_hours,
    plan,
    reminder_windows,
    retry_at,
)

VISIT_AT = datetime(2027, 3, 15, 10, 0)  # a Monday, 10:00
MUM = Recipient(1, "Ana", email="ana@example.org", patient_id=7)
DAD = Recipient(2, "Ben", phone="+1 555 0101", channels=(Channel.WEBHOOK,), patient_id=7)
NURSE = Recipient(9, "On-call nurse", email="oncall@example.org", on_call=True)
READER = Recipient(11, "Clinic lead", email="lead@example.org", digest=True)


def visit(kind: str = "refill", at: datetime = VISIT_AT, status: str = "booked", vid: int = 3) -> Visit:
    return Visit(vid, 7, "Mia", kind, at, status)


def facts(now: datetime, **more: object) -> Facts:
    values: dict = {"families": {7: (MUM, DAD)}, "staff": (NURSE,), "day_phone": "+1 555 0100"}
    values.update(more)
    return Facts(now=now, **values)


def keys(messages: list) -> set[tuple[str, str, int, str]]:
    return {m.key for m in messages}


def test_reminder_days_before_seven_two_and_the_morning_of() -> None:
    names = [(n, start) for n, start, _ in reminder_windows(visit(), DEFAULT_NOTIFY)]
    assert names == [
        ("7d", datetime(2027, 3, 8, 7, 30)),
        ("2d", datetime(2027, 3, 13, 7, 30)),
        ("day", datetime(2027, 3, 15, 7, 30)),
    ]
    moments = ((datetime(2027, 3, 8, 9), "7d"), (datetime(2027, 3, 14, 9), "2d"), (datetime(2027, 3, 15, 8), "day"))
    for now, name in moments:
        due = plan(facts(now, visits=(visit(),)))
        assert {m.event.rsplit(":", 1)[1] for m in due} == {name}
        assert {(m.contact_id, m.channel) for m in due} == {(1, Channel.EMAIL), (2, Channel.WEBHOOK)}
        assert all(m.rule is Rule.VISIT_REMINDER and m.appointment_id == 3 for m in due)


def test_reminder_windows_never_overlap_so_no_two_reminders_come_together() -> None:
    windows = reminder_windows(visit(), DEFAULT_NOTIFY)
    for (_, _, end), (_, start, _) in itertools.pairwise(windows):
        assert end == start
    assert windows[-1][2] == VISIT_AT
    assert plan(facts(VISIT_AT, visits=(visit(),))) == []  # at the visit itself: nothing more


def test_morning_lead_an_early_visit_is_reminded_an_hour_before() -> None:
    early = visit(at=datetime(2027, 3, 15, 8, 0))
    assert reminder_windows(early, DEFAULT_NOTIFY)[-1][1] == datetime(2027, 3, 15, 7, 0)


def test_a_visit_booked_five_days_ahead_gets_its_seven_day_reminder_at_once() -> None:
    due = plan(facts(datetime(2027, 3, 10, 12), visits=(visit(),)))
    assert {m.event.rsplit(":", 1)[1] for m in due} == {"7d"}


def test_a_moved_visit_is_reminded_again_at_its_new_time() -> None:
    before = plan(facts(datetime(2027, 3, 14, 9), visits=(visit(),)))
    moved = plan(facts(datetime(2027, 3, 14, 9), visits=(visit(at=VISIT_AT + timedelta(hours=3)),)))
    assert keys(before).isdisjoint(keys(moved))


def test_reminded_kinds_refill_and_titration_only() -> None:
    now = datetime(2027, 3, 14, 9)
    assert plan(facts(now, visits=(visit("titration"),)))
    assert plan(facts(now, visits=(visit("mri_check"),))) == []


def test_missed_after_a_refill_two_hours_late_is_missed_family_and_on_call_told() -> None:
    def missed(now: datetime) -> list:
        return [m for m in plan(facts(now, visits=(visit(),))) if m.rule is Rule.MISSED_REFILL]

    assert not missed(VISIT_AT + timedelta(hours=1))
    due = missed(VISIT_AT + timedelta(hours=2))
    assert {m.contact_id for m in due} == {1, 2, 9}
    assert {m.event for m in due} == {"appointment:3:missed"}
    family = next(m for m in due if m.contact_id == 1)
    assert "+1 555 0100" in family.body and "Mia" in family.subject


def test_missed_window_a_refill_missed_days_ago_is_the_worklist_s() -> None:
    later = VISIT_AT + DEFAULT_NOTIFY.missed_after + DEFAULT_NOTIFY.missed_window + timedelta(minutes=1)
    assert plan(facts(later, visits=(visit(status="missed"),))) == []
    assert plan(facts(VISIT_AT + timedelta(minutes=5), visits=(visit(status="missed"),)))


def test_staff_alerts_go_to_the_on_call_list_only() -> None:
    alert = Alert(Rule.ALARM_NO_REFILL, "pump:4:fill:2027-01-01T10:00", 7, "Mia", "No refill is booked.")
    due = plan(facts(datetime(2027, 3, 14, 9), alerts=(alert,), staff=(NURSE, Recipient(10, "Off", email="o@x.org"))))
    assert [(m.contact_id, m.rule) for m in due] == [(9, Rule.ALARM_NO_REFILL)]
    assert "No refill is booked." in due[0].body


def test_opted_out_contacts_get_nothing() -> None:
    out = Recipient(1, "Ana", email="ana@example.org", patient_id=7, opted_out=True)
    due = plan(facts(datetime(2027, 3, 14, 9), visits=(visit(),), families={7: (out,)}))
    assert due == []


def test_staff_digest_once_a_day_from_the_morning() -> None:
    lines = (DigestLine("Mia", 0, "Refill now."), DigestLine("Leo", 1, "Book by 2027-03-20."))
    assert plan(facts(datetime(2027, 3, 14, 7, 0), digest=lines, staff=(NURSE, READER))) == []
    due = plan(facts(datetime(2027, 3, 14, 7, 30), digest=lines, staff=(NURSE, READER)))
    assert [(m.rule, m.event, m.contact_id) for m in due] == [(Rule.STAFF_DIGEST, "digest:2027-03-14", 11)]
    assert "1 urgent, 1 soon" in due[0].subject and due[0].body.index("Mia") < due[0].body.index("Leo")
    quiet = plan(facts(datetime(2027, 3, 14, 8), staff=(READER,)))
    assert "nothing urgent or soon" in quiet[0].body  # an empty digest still says the pass ran


def test_quiet_hours_hold_a_message_until_they_end() -> None:
    assert in_quiet_hours(time(22, 0), DEFAULT_NOTIFY) and in_quiet_hours(time(6, 59), DEFAULT_NOTIFY)
    assert not in_quiet_hours(time(7, 0), DEFAULT_NOTIFY)
    held = delivery(Rule.VISIT_REMINDER, datetime(2027, 3, 14, 22, 30), 0)
    assert held.at == datetime(2027, 3, 15, 7, 0) and held.reason == "quiet hours"


def test_daily_cap_holds_a_family_s_fifth_message_until_tomorrow() -> None:
    assert delivery(Rule.ALARM_NO_REFILL, datetime(2027, 3, 14, 12), 3).at is None
    held = delivery(Rule.VISIT_REMINDER, datetime(2027, 3, 14, 12), 4)
    assert held.at == datetime(2027, 3, 15, 7, 0) and "daily cap" in held.reason
    # staff are not capped: one on call hears of every pump at risk
    assert delivery(Rule.ALARM_NO_REFILL, datetime(2027, 3, 14, 12), 40, staff=True).at is None


def test_urgent_rules_ignore_quiet_hours_and_the_cap() -> None:
    for rule in (Rule.EMERGENCY_REPORT, Rule.MISSED_REFILL):
        assert delivery(rule, datetime(2027, 3, 14, 23), 99).at is None


def test_retry_backoff_doubles_to_its_ceiling_then_gives_up() -> None:
    now = datetime(2027, 3, 14, 12)
    waits = [retry_at(now, n) for n in range(1, 13)]
    assert waits[0] == now + timedelta(minutes=2) and waits[1] == now + timedelta(minutes=4)
    assert waits[10] == now + timedelta(hours=1)
    assert waits[11] is None  # the 12th failure: failed, shown to staff
    assert retry_at(now, 2, NotifySettings(max_attempts=2)) is None


def test_messages_are_unique_by_rule_event_contact_and_channel() -> None:
    both = Recipient(1, "Ana", email="ana@example.org", phone="555 0101",
                     channels=(Channel.EMAIL, Channel.WEBHOOK), patient_id=7)  # fmt: skip
    due = plan(facts(datetime(2027, 3, 14, 9), visits=(visit(), visit()), families={7: (both,)}))
    assert len(due) == len(keys(due)) == 2


def test_texts_every_translation_uses_only_the_english_fields() -> None:
    for language, texts in TEXTS.items():
        for name, text in texts.items():
            used = {f for part in (text.subject, text.body) for f in _fields(part)}
            assert used <= fields_of(name), (language, name)
    filled = text_for("xx", "visit_reminder_day", {"child": "Mia", "kind": "refill", "when": "today", "name": "Ana",
                                                  "clinic": "the clinic", "day_phone": "1"})  # fmt: skip
    assert filled.subject.startswith("Today: Mia") and "not a certified medical device" in filled.body


def _fields(text: str) -> set[str]:
    from string import Formatter

    return {f for _, f, _, _ in Formatter().parse(text) if f}


def test_contact_each_channel_needs_its_address() -> None:
    with pytest.raises(InvalidInput) as bad:
        checked_contact(name="Ana", channels=["email", "webhook"])
    assert {v.field for v in bad.value.violations} == {"email", "phone"}
    assert checked_contact(name="Ben", phone="+1 555 0101", channels=["webhook"]).channels == (Channel.WEBHOOK,)


def test_contact_email_must_look_like_an_address() -> None:
    for typed in ("ana at example", "a\x00@example.org", "a@exa\x7fmple.org"):
        with pytest.raises(InvalidInput) as bad:
            checked_contact(name="Ana", email=typed)
        assert [str(v) for v in bad.value.violations] == [
            "email: must be an email address (name@example.org), at most 254"
        ]  # said once: not again as "needed to send by email"


def test_contact_on_call_and_digest_for_staff_only() -> None:
    with pytest.raises(InvalidInput, match="on_call: is for staff contacts only"):
        checked_contact(name="Ana", email="a@example.org", on_call=True)
    assert checked_contact(name="Nurse", email="n@example.org", on_call=True, digest=True, staff=True).on_call


def test_contact_language_must_have_texts_and_channels_must_be_known() -> None:
    with pytest.raises(InvalidInput) as bad:
        checked_contact(name="Ana", email="a@example.org", language="tlh", channels=["pigeon"])
    assert {v.field for v in bad.value.violations} == {"language", "channels"}


def test_texts_an_adult_patient_is_spoken_to_as_you() -> None:
    me = Recipient(5, "Leila Achebe", email="leila@example.org", patient_id=7, relation="self")
    [due] = plan(facts(datetime(2027, 3, 14, 9), visits=(visit(),), families={7: (me,)}, staff=()))
    assert due.subject.startswith("Reminder: your refill visit") and "You have a refill visit" in due.body
