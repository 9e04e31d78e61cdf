"""The clinic's password rule: one function, used wherever a password is chosen.

``itb users create``, ``itb users password`` and the demo clinic's users all go through
:func:`password_violations` (via :func:`itb.clinic.users.create_user` and
:func:`itb.clinic.users.set_password`). Sources: OWASP Authentication Cheat Sheet ("Implement
Proper Password Strength Controls") and NIST SP 800-63B §5.1.1.2 (length over composition rules,
refuse passwords that are commonly used or derived from the account's name); the strength is
zxcvbn's estimate of how many guesses the password takes.
"""

from __future__ import annotations

from itb.domain.errors import InvalidInput, Violation

#: At least this many characters. OWASP asks at least 8 (with multi-factor) and NIST at least 8;
#: a clinic account reaches patients' pumps without a second factor, so 12, as OWASP advises then.
MIN_PASSWORD_LENGTH = 12
#: At most this many characters (OWASP: allow at least 64; the cap only keeps hashing bounded).
MAX_PASSWORD_LENGTH = 128
#: zxcvbn's score (0-4) a password must reach: 3 is "safely unguessable: moderate protection
#: from an offline slow-hash scenario" (~10^10 guesses), the level zxcvbn's authors advise.
MIN_STRENGTH_SCORE = 3
#: zxcvbn judges this many first characters (its own default cap: past it, it is slow and no wiser).
STRENGTH_CHARS = 72


def password_violations(password: str, username: str, field: str = "password") -> list[Violation]:
    """Every rule ``password`` breaks for the account ``username`` (empty: it is acceptable)."""
    errs: list[Violation] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        errs.append(Violation(field, f"must be at least {MIN_PASSWORD_LENGTH} characters (it has {len(password)})"))
    if len(password) > MAX_PASSWORD_LENGTH:
        errs.append(Violation(field, f"must be at most {MAX_PASSWORD_LENGTH} characters"))
        return errs
    if username and username.casefold() in password.casefold():
        errs.append(Violation(field, "must not be or contain the username"))
    if password:
        score, hint = _strength(password, username)
        if score < MIN_STRENGTH_SCORE:
            rule = f"is too easy to guess (strength {score} of 4, needs at least {MIN_STRENGTH_SCORE})"
            errs.append(Violation(field, f"{rule}: {hint}"))
    return errs


def check_password(password: str, username: str, field: str = "password") -> None:
    """Raise :class:`InvalidInput` naming every rule ``password`` breaks."""
    errs = password_violations(password, username, field)
    if errs:
        raise InvalidInput(errs)


def _strength(password: str, username: str) -> tuple[int, str]:
    """zxcvbn's score of ``password`` and its advice, the username counted as a known word."""
    from zxcvbn import zxcvbn  # imported here: it loads its word lists (~50 ms), and the CLI starts fast

    result = zxcvbn(password[:STRENGTH_CHARS], user_inputs=[username] if username else [])
    feedback = result["feedback"]
    advice = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
    hint = " ".join(a.strip() for a in advice if a.strip()) or "use a longer passphrase of uncommon words"
    return int(result["score"]), hint
