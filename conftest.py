"""Settings for the whole test suite (tests/): the hypothesis profiles.

``ci`` (the default) runs each property over a modest number of examples, seeded from the test's
own text (``derandomize``: the same cases on every run, so a failure is reproduced by running the
suite again) and with no per-example deadline (a loaded machine is not a failure). The explicit
``@example`` cases of each property (the known edge cases) run under every profile.
``HYPOTHESIS_PROFILE=thorough pytest tests/property tests/unit`` runs the long campaigns, with
random seeds; ``dev`` is hypothesis' own default (100 examples, random seeds).

Passwords are hashed with argon2 at light parameters in the test processes: the defaults cost a
quarter of a second per hash by design (against guessing), which the demo clinic's fills and every
user a test makes would pay again and again. The algorithm, the stored form and the verification
are unchanged (a hash carries its parameters), so a password hashed here verifies anywhere.
"""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings

from itb.clinic import users

users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
