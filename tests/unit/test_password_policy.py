"""The clinic's password rule (``itb.clinic.password_policy``): 12 characters or more, zxcvbn
strength 3 or more, never the username nor containing it; every broken rule named with its field."""

from __future__ import annotations

import pytest

from itb.clinic.password_policy import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_password,
    password_violations,
)
from itb.domain.errors import InvalidInput
from itb.simulation.demo_clinic import DEMO_USERS


def rules(password: str, username: str = "nurse") -> list[str]:
    found = password_violations(password, username)
    assert all(v.field == "password" for v in found)
    return [v.rule for v in found]


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "123456789012", "passwordpassword"])
def test_a_password_easy_to_guess_is_refused_though_long_enough(weak):
    assert len(weak) >= MIN_PASSWORD_LENGTH
    (rule,) = rules(weak)
    assert rule.startswith("is too easy to guess (strength ")
    assert "needs at least 3" in rule


def test_a_password_shorter_than_12_characters_is_refused_however_random():
    assert rules("x7#Qp!2vLm9") == [f"must be at least {MIN_PASSWORD_LENGTH} characters (it has 11)"]


@pytest.mark.parametrize("password", ["margaret.hale", "Margaret.Hale-2026!", "the-MARGARET.HALE-rose"])
def test_the_username_is_refused_as_or_inside_the_password_in_any_case(password):
    assert "must not be or contain the username" in rules(password, "margaret.hale")


def test_a_password_longer_than_128_characters_is_refused():
    assert rules("a-long-unusual-passphrase " * 6) == [f"must be at most {MAX_PASSWORD_LENGTH} characters"]


def test_a_long_passphrase_of_uncommon_words_is_accepted():
    assert rules("copper-heron-valley-83") == []
    check_password("copper-heron-valley-83", "nurse")  # raises nothing


def test_check_password_raises_one_error_naming_the_field_and_every_rule():
    with pytest.raises(InvalidInput) as caught:
        check_password("nurse", "nurse")
    message = caught.value.one_line()
    assert "password: must be at least 12 characters (it has 5)" in message
    assert "must not be or contain the username" in message
    assert "is too easy to guess" in message


def test_the_demo_clinics_passwords_meet_the_rule():
    for username, _role, password in DEMO_USERS:
        assert password_violations(password, username) == [], username
