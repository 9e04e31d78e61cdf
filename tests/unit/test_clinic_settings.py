"""The clinic's settings (``itb.domain.clinic_settings``): each rule of the settings page, the
settings laid over the startup calendar and booking, and the family page's "call the clinic"
with the clinic's numbers (``itb.web.family``)."""

from __future__ import annotations

from datetime import date

import pytest

from itb.domain.clinic_settings import (
    CLOSED_DAYS_MAX,
    NOTIFY_FROM_MAX_CHARS,
    REFILL_MARGIN_RANGE_DAYS,
    SMTP_URL_MAX_CHARS,
    SMTP_USER_MAX_CHARS,
    STALE_MARGIN_RANGE_DAYS,
    WEBHOOK_URL_MAX_CHARS,
    ClinicContacts,
    ClinicSettings,
    checked_settings,
)
from itb.domain.errors import InvalidInput, Violation
from itb.domain.scheduling import BookingSettings, ClinicCalendar
from itb.web import family
from itb.web.family import clinic_numbers, tel_href, with_clinic_numbers

NUMBERS = ClinicContacts("Demo Pump Clinic", "+1 555 0100", "+1 555 0199")


def violations(**fields: object) -> list[Violation]:
    with pytest.raises(InvalidInput) as caught:
        checked_settings(**fields)  # type: ignore[arg-type]
    return list(caught.value.violations)


def rules_of(field: str, **fields: object) -> list[str]:
    return [v.rule for v in violations(**fields) if v.field == field]


# ---------------------------------------------------------------------------------- the rules


def test_nothing_given_leaves_every_setting_to_the_startup_default() -> None:
    assert checked_settings() == ClinicSettings()
    assert ClinicSettings().defaults() == ("clinic_days", "closed_days", "refill_margin_days", "stale_margin_days")


def test_a_blank_name_or_number_means_none() -> None:
    settings = checked_settings(name="  ", day_phone="", after_hours_phone=" ")
    assert settings.contacts == ClinicContacts()


def test_name_at_most_200_characters() -> None:
    assert rules_of("name", name="x" * 201) == ["must be at most 200 characters"]
    assert checked_settings(name=" " + "x" * 200 + " ").name == "x" * 200


def test_name_without_control_characters() -> None:
    assert rules_of("name", name="Clinic\x00") == ["must not contain control characters"]


def test_phone_numbers_as_people_write_them_are_kept_as_written() -> None:
    for written in ("+1 555 0100", "(555) 010-0199", "555.0100, 23", "112"):
        assert checked_settings(day_phone=f" {written} ").day_phone == written


def test_phone_3_to_30_characters() -> None:
    assert rules_of("day_phone", day_phone="1" * 31) == ["must be 3-30 characters long"]
    assert "must be 3-30 characters long" in rules_of("after_hours_phone", after_hours_phone="12")


def test_phone_only_digits_spaces_and_punctuation() -> None:
    assert rules_of("day_phone", day_phone="555 0100 ext 2") == ["may hold only digits, spaces and + - ( ) . ,"]
    assert rules_of("after_hours_phone", after_hours_phone="<b>5550100</b>") == [
        "may hold only digits, spaces and + - ( ) . ,"
    ]


def test_phone_at_least_3_digits() -> None:
    assert rules_of("day_phone", day_phone="+(1)-") == ["must have at least 3 digits"]


def test_clinic_days_at_least_one_weekday() -> None:
    assert rules_of("clinic_days", clinic_days=[]) == ["must have at least one weekday"]


def test_clinic_days_are_weekday_names() -> None:
    assert rules_of("clinic_days", clinic_days=["mon", "funday"]) == [
        "'funday' is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
    ]
    assert checked_settings(clinic_days=["Mon", "thursday", "SAT"]).clinic_days == frozenset({0, 3, 5})


def test_closed_days_are_dates_written_yyyy_mm_dd() -> None:
    for bad in ("24/12/2026", "20261224", "2026-02-30", "2026-12-24T10:00"):
        assert rules_of("closed_days", closed_days=[bad]) == [f"{bad!r} is not a date YYYY-MM-DD"], bad
    settings = checked_settings(closed_days=["2026-12-24", " ", "2026-12-25"])
    assert settings.closed_days == frozenset({date(2026, 12, 24), date(2026, 12, 25)})


def test_no_closed_days_is_a_setting_of_its_own() -> None:
    assert checked_settings(closed_days=[]).closed_days == frozenset()


def test_closed_days_at_most_a_year_of_them() -> None:
    many = [date.fromordinal(date(2026, 1, 1).toordinal() + i).isoformat() for i in range(CLOSED_DAYS_MAX + 1)]
    assert rules_of("closed_days", closed_days=many) == [f"must be at most {CLOSED_DAYS_MAX} days"]


def test_refill_margin_1_to_30_whole_days() -> None:
    assert REFILL_MARGIN_RANGE_DAYS == (1, 30)
    for bad in (0, 31, 7.5, True):
        assert rules_of("refill_margin_days", refill_margin_days=bad) == [
            f"must be a whole number of days from 1 to 30, got {bad!r}"
        ]
    assert checked_settings(refill_margin_days=30).refill_margin_days == 30


def test_stale_margin_1_to_90_whole_days() -> None:
    assert STALE_MARGIN_RANGE_DAYS == (1, 90)
    assert rules_of("stale_margin_days", stale_margin_days=91) == [
        "must be a whole number of days from 1 to 90, got 91"
    ]
    assert checked_settings(stale_margin_days=1).stale_margin_days == 1


def test_every_broken_rule_is_named_at_once() -> None:
    found = violations(day_phone="x", clinic_days=[], closed_days=["soon"], refill_margin_days=0, stale_margin_days=0)
    assert {v.field for v in found} == {
        "day_phone",
        "clinic_days",
        "closed_days",
        "refill_margin_days",
        "stale_margin_days",
    }


# ---------------------------------------------------------------------------------- over the startup settings


def test_the_settings_set_replace_the_startup_calendar_and_margins() -> None:
    startup_calendar = ClinicCalendar(weekdays={0, 1, 2, 3, 4}, closures={date(2026, 12, 25)})
    startup_booking = BookingSettings(refill_margin_days=5, stale_margin_days=20, urgent_empty_days=3)
    settings = checked_settings(clinic_days=["tue", "thu"], refill_margin_days=10)
    calendar, booking = settings.calendar(startup_calendar), settings.booking(startup_booking)
    assert calendar == ClinicCalendar(weekdays={1, 3}, closures={date(2026, 12, 25)})  # closures: the startup's
    assert (booking.refill_margin_days, booking.stale_margin_days, booking.urgent_empty_days) == (10, 20, 3)


def test_settings_left_unset_keep_the_startup_ones() -> None:
    startup = ClinicCalendar(weekdays={5}, closures={date(2026, 1, 1)})
    assert ClinicSettings().calendar(startup) == startup
    assert ClinicSettings().booking(BookingSettings()) == BookingSettings()


# ---------------------------------------------------------------------------------- "call the clinic"


def test_call_the_clinic_is_followed_by_both_numbers_as_tel_links() -> None:
    words = with_clinic_numbers("Call the clinic today. If worried, call the clinic now.", NUMBERS)
    numbers = 'day: <a href="tel:+15550100">+1 555 0100</a>; after hours: <a href="tel:+15550199">+1 555 0199</a>'
    assert str(words) == f"Call the clinic ({numbers}) today. If worried, call the clinic ({numbers}) now."


def test_call_the_clinic_with_one_number_shows_that_one_only() -> None:
    words = with_clinic_numbers("call the clinic now", ClinicContacts(after_hours_phone="555 0199"))
    assert str(words) == 'call the clinic (after hours: <a href="tel:5550199">555 0199</a>) now'


def test_call_the_clinic_without_numbers_keeps_the_words() -> None:
    text = "Call the clinic today to book a refill."
    assert str(with_clinic_numbers(text, ClinicContacts(name="Only a name"))) == text
    assert clinic_numbers(ClinicContacts()) is None


def test_the_clinic_s_words_that_are_not_a_call_are_left_alone() -> None:
    text = "Take the clinic's phone number with you. Recall the clinician's advice."
    assert (
        str(with_clinic_numbers(text, NUMBERS))
        == "Take the clinic&#39;s phone number with you. Recall the clinician&#39;s advice."
    )


def test_the_words_and_the_numbers_are_escaped() -> None:
    words = with_clinic_numbers('<script>x</script> call the clinic "now"', ClinicContacts(day_phone="555<0100"))
    assert "<script>" not in str(words) and "&lt;script&gt;" in str(words)
    assert 'href="tel:5550100">555&lt;0100</a>' in str(words)
    assert "&#34;now&#34;" in str(words)


def test_tel_links_keep_digits_plus_and_pauses() -> None:
    assert tel_href("+1 (555) 010-0199, 23") == "tel:+15550100199,23"


def test_every_family_text_that_says_call_the_clinic_gets_the_numbers() -> None:
    texts = [a.what_to_do for a in family.ALARM_SOUNDS] + [str(s) for s in family.TOO_LITTLE_SIGNS]
    texts += [f.answer for f in family.FAQ]
    calls = [t for t in texts if "all the clinic" in t]
    assert len(calls) >= 10
    for text in calls:
        assert 'href="tel:+15550100"' in str(with_clinic_numbers(text, NUMBERS)), text


# ---------------------------------------------------------------------------------- where messages go out

SMTP_SCHEME_RULE = (
    "must be a URL starting smtp://, smtp+starttls:// or smtps:// with a server, "
    "as in smtp+starttls://mail.example.org:587"
)
WEBHOOK_SCHEME_RULE = "must be a URL starting http:// or https:// with a server, as in https://gateway.example.org/itb"
FROM_RULE = (
    "must be an email address (name@example.org or Clinic name <name@example.org>), "
    f"at most {NOTIFY_FROM_MAX_CHARS} characters"
)


def test_where_messages_go_out_left_blank_is_the_environment_s() -> None:
    settings = checked_settings(smtp_url=" ", smtp_user="", notify_from=None, webhook_url="  ")
    assert (settings.smtp_url, settings.smtp_user, settings.notify_from, settings.webhook_url) == (None,) * 4
    assert settings == ClinicSettings() and settings.defaults() == ClinicSettings().defaults()


def test_where_messages_go_out_is_kept_as_written_stripped() -> None:
    settings = checked_settings(
        smtp_url=" smtps://mail.example.org:465 ", smtp_user=" itb@example.org ",
        notify_from=" Pump clinic <itb@example.org> ", webhook_url=" https://gateway.example.org:8443/itb?clinic=1 ",
        name="Demo Pump Clinic",
    )  # fmt: skip
    assert (settings.smtp_url, settings.smtp_user) == ("smtps://mail.example.org:465", "itb@example.org")
    assert settings.notify_from == "Pump clinic <itb@example.org>"
    assert settings.webhook_url == "https://gateway.example.org:8443/itb?clinic=1"
    assert settings.contacts == ClinicContacts(name="Demo Pump Clinic")  # the family's contacts: unchanged


def test_smtp_url_is_smtp_smtp_starttls_or_smtps_with_a_server() -> None:
    for good in ("smtp://mail.example.org", "smtp+starttls://mail.example.org:587", "smtps://[2001:db8::1]:465"):
        assert checked_settings(smtp_url=good).smtp_url == good
    for bad in ("http://mail.example.org", "mail.example.org:25", "smtp://", "smtp://:25", "smtp://[::1"):
        assert rules_of("smtp_url", smtp_url=bad) == [SMTP_SCHEME_RULE], bad


def test_smtp_url_port_from_1_to_65535() -> None:
    for bad in ("smtp://mail.example.org:0", "smtp://mail.example.org:65536", "smtp://mail.example.org:tls"):
        assert rules_of("smtp_url", smtp_url=bad) == ["the port must be a number from 1 to 65535"], bad


def test_smtp_url_only_a_server_and_port() -> None:
    for bad in ("smtp://mail.example.org/relay", "smtp://mail.example.org:25?tls=1", "smtp://mail.example.org#x"):
        assert rules_of("smtp_url", smtp_url=bad) == [
            "must be only a server and port, as in smtp+starttls://mail.example.org:587 (no path or query)"
        ], bad
    assert checked_settings(smtp_url="smtp://mail.example.org:25/").smtp_url == "smtp://mail.example.org:25/"


def test_smtp_url_keep_the_password_in_itb_smtp_password() -> None:
    for bad in ("smtp://itb:hunter2@mail.example.org:587", "smtps://itb:@mail.example.org"):
        assert rules_of("smtp_url", smtp_url=bad) == [
            "keep the password in ITB_SMTP_PASSWORD, not in the stored settings"
        ], bad
        assert all("hunter2" not in v.rule for v in violations(smtp_url=bad))  # never repeated back
    assert checked_settings(smtp_url="smtp://itb@mail.example.org:587").smtp_url == "smtp://itb@mail.example.org:587"


def test_smtp_url_at_most_300_characters() -> None:
    assert SMTP_URL_MAX_CHARS == 300
    long = "smtp://" + "m" * (SMTP_URL_MAX_CHARS - len("smtp://.org")) + ".org"
    assert checked_settings(smtp_url=long).smtp_url == long
    assert rules_of("smtp_url", smtp_url=long + "x") == ["must be at most 300 characters"]


def test_smtp_url_without_spaces_or_control_characters() -> None:
    for bad in (
        "smtp://mail example.org",
        "smtp://mail.example.org\x00",
        "smtp://mail\u2028example.org",
        "smtp://\tmail.example.org",
    ):
        assert rules_of("smtp_url", smtp_url=bad) == ["must not contain spaces or control characters"], bad


def test_smtp_user_at_most_254_printable_characters() -> None:
    assert SMTP_USER_MAX_CHARS == 254
    rule = ["must be at most 254 printable characters"]
    assert rules_of("smtp_user", smtp_user="u" * 255) == rule
    assert rules_of("smtp_user", smtp_user="itb\r\nRCPT TO:<x@example.org>") == rule
    assert checked_settings(smtp_user="u" * 254).smtp_user == "u" * 254


def test_notify_from_is_one_email_address_with_or_without_a_name() -> None:
    for good in ("itb@example.org", "Pump clinic <itb@example.org>", '"Clinic, ITB" <itb@example.org>'):
        assert checked_settings(notify_from=good).notify_from == good
    for bad in ("itb", "itb@localhost", "Pump clinic itb@example.org", "a@example.org, b@example.org",
                "Pump clinic <itb@example.org> extra", "itb@example.org\r\nBcc: x@example.org"):  # fmt: skip
        assert rules_of("notify_from", notify_from=bad) == [FROM_RULE], bad


def test_notify_from_at_most_254_characters() -> None:
    assert NOTIFY_FROM_MAX_CHARS == 254
    address = "i" * (NOTIFY_FROM_MAX_CHARS - len("@example.org")) + "@example.org"
    assert checked_settings(notify_from=address).notify_from == address
    assert rules_of("notify_from", notify_from="i" + address) == [FROM_RULE]


def test_webhook_url_is_http_or_https_with_a_server() -> None:
    for good in ("https://gateway.example.org/itb", "http://127.0.0.1:8080/hook?clinic=1"):
        assert checked_settings(webhook_url=good).webhook_url == good
    for bad in ("ftp://gateway.example.org", "gateway.example.org/itb", "https:///itb"):
        assert rules_of("webhook_url", webhook_url=bad) == [WEBHOOK_SCHEME_RULE], bad


def test_webhook_url_port_from_1_to_65535() -> None:
    for bad in ("https://gateway.example.org:0/itb", "https://gateway.example.org:99999/", "http://gateway:web/"):
        assert rules_of("webhook_url", webhook_url=bad) == ["the port must be a number from 1 to 65535"], bad


def test_webhook_url_must_not_hold_a_user_or_password() -> None:
    rule = ["must not hold a user or password: the secret is ITB_NOTIFY_WEBHOOK_SECRET"]
    for bad in ("https://itb:s3cret@gateway.example.org/itb", "https://itb@gateway.example.org/itb"):
        assert rules_of("webhook_url", webhook_url=bad) == rule, bad


def test_webhook_url_at_most_300_characters() -> None:
    assert WEBHOOK_URL_MAX_CHARS == 300
    long = "https://gateway.example.org/" + "p" * (WEBHOOK_URL_MAX_CHARS - len("https://gateway.example.org/"))
    assert checked_settings(webhook_url=long).webhook_url == long
    assert rules_of("webhook_url", webhook_url=long + "p") == ["must be at most 300 characters"]


def test_every_broken_message_rule_is_named_at_once() -> None:
    found = violations(smtp_url="smtp://u:p@h", smtp_user="\x00", notify_from="x", webhook_url="ftp://h", name="ok")
    assert [v.field for v in found] == ["smtp_url", "smtp_user", "notify_from", "webhook_url"]
