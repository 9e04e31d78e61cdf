"""URLs as they may be shown: in error messages, on the settings page, in logs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown(url: str) -> str:
    """``url`` without its password (``smtp://user@host:25``) and with any query hidden (``?…``).

    A gateway's token is often in the query: neither it nor a password belongs in a message a
    clinic's staff read.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a valid URL)"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}{at}{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))
