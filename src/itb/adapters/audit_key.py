"""The audit log's key, kept apart from the database: ``$ITB_AUDIT_KEY``, else ``audit.key`` in the
data directory (made once, mode 0600).

Whoever can change the database but not read this key cannot rewrite an audit entry and make its
chain value (an HMAC-SHA256 under the key, ``itb.clinic.audit``) match again. Losing the key loses
the proof: the log still reads, and every keyed entry reports as not verifiable. Back it up with
the clinic's secrets, not with the database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

ENV = "ITB_AUDIT_KEY"
FILE = "audit.key"
#: the shortest key accepted, in characters (a made key has 64)
MIN_LENGTH = 32


class AuditKeyError(ValueError):
    """The audit key given is unusable (the message says where it came from and why)."""


def audit_key(data_dir: Path, env: Mapping[str, str] | None = None) -> bytes:
    """``$ITB_AUDIT_KEY`` (at least 32 characters), else the key file in ``data_dir`` (made if absent)."""
    given = (os.environ if env is None else env).get(ENV, "").strip()
    if given:
        return _checked(given, ENV)
    path = data_dir / FILE
    if not path.exists():
        _make(path)
    return _checked(path.read_text(encoding="utf-8").strip(), str(path))


def _checked(key: str, source: str) -> bytes:
    if len(key) < MIN_LENGTH:
        raise AuditKeyError(f"{source}: the audit key must be at least {MIN_LENGTH} characters")
    return key.encode("utf-8")


def _make(path: Path) -> None:
    """A new random key at ``path``, whole or not at all: written aside, then linked in place (a
    process that makes it at the same moment keeps the one linked first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        os.link(aside, path)
    except FileExistsError:
        pass  # made by another process meanwhile: that one is the key
    finally:
        aside.unlink(missing_ok=True)
