"""The clinic's settings page (``/settings``, an admin's): name, phone numbers, clinic days, margins,
and where messages go out (the SMTP server and user, the sender's address, the webhook).

The form shows the settings in effect and stores what it shows (a margin left blank: the startup
default; a server or address left blank: the server's environment). The SMTP password and the
webhook's secret are never asked for: the page says whether the server's environment sets them.
Each problem is shown under its field; a change made meanwhile by someone else (409) shows the
settings as they are now, to make the change again. Other staff get a 403 page, a caregiver "not
found", like every staff page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from itb.clinic.services import Actor, Clinic, Conflict, Forbidden, NotFound, SettingsView
from itb.domain.clinic_settings import (
    REFILL_MARGIN_RANGE_DAYS,
    STALE_MARGIN_RANGE_DAYS,
    TEXT_SETTINGS,
    WEEKDAY_NAMES,
    checked_settings,
)
from itb.domain.errors import InvalidInput, Violation
from itb.web.api.settings import SECRETS, secrets_shown

#: blank closed-day fields the form offers after the closures already set
SPARE_CLOSED_DAYS = 3
DAY_LABELS = dict(zip(WEEKDAY_NAMES, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))


def form_of(view: SettingsView) -> dict[str, Any]:
    """The form's fields as the settings in effect fill them."""
    stored = view.stored
    return {
        **{field: getattr(stored, field) or "" for field in TEXT_SETTINGS},
        "clinic_days": list(view.clinic_days),
        "closed_days": [d.isoformat() for d in view.closed_days],
        "refill_margin_days": "" if stored.refill_margin_days is None else str(stored.refill_margin_days),
        "stale_margin_days": "" if stored.stale_margin_days is None else str(stored.stale_margin_days),
    }


def _whole_days(errs: list[Violation], field: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errs.append(Violation(field, f"must be a whole number of days, got {text!r}"))
        return None


def read_settings_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The use case's arguments from the posted form (``InvalidInput`` naming every field at once)."""
    errs: list[Violation] = []
    fields: dict[str, Any] = {
        **{field: form[field] for field in TEXT_SETTINGS},
        "clinic_days": form["clinic_days"],
        "closed_days": form["closed_days"],
        "refill_margin_days": _whole_days(errs, "refill_margin_days", form["refill_margin_days"]),
        "stale_margin_days": _whole_days(errs, "stale_margin_days", form["stale_margin_days"]),
    }
    if errs:
        try:
            checked_settings(**fields)  # the other fields' problems too, all shown at once
        except InvalidInput as exc:
            errs.extend(exc.violations)
        raise InvalidInput(errs)
    return fields


def _field_errors(exc: InvalidInput) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for v in exc.violations:
        out.setdefault(v.field, []).append(v.rule)
    return {k: "; ".join(rules) for k, rules in out.items()}


def install_settings_pages(
    router: APIRouter,
    clinic: Clinic,
    *,
    session: Callable[[Request], tuple[Actor, str]],
    check_csrf: Callable[[str, str], None],
    render: Callable[..., HTMLResponse],
) -> None:
    def admin(request: Request) -> tuple[Actor, str]:
        actor, token = session(request)
        if actor.role == "caregiver":
            raise NotFound("page not found")
        if actor.role != "admin":
            raise Forbidden("the clinic's settings are for an admin")
        return actor, token

    def page(request: Request, actor: Actor, token: str, view: SettingsView, **context: Any) -> HTMLResponse:
        form = context.pop("form", None) or form_of(view)
        spare = [""] * SPARE_CLOSED_DAYS
        ranges = {"refill_range": REFILL_MARGIN_RANGE_DAYS, "stale_range": STALE_MARGIN_RANGE_DAYS}
        return render(
            request, "settings.html", actor, token, view=view, form=form, closed_fields=form["closed_days"] + spare,
            day_labels=DAY_LABELS, startup=clinic.startup_config.booking, invalid=context.pop("invalid", {}),
            secrets=secrets_shown(), secret_variables=SECRETS, **ranges, **context,
        )  # fmt: skip

    @router.get("/settings", response_class=HTMLResponse)
    def settings_page(request: Request, saved: int = 0) -> HTMLResponse:
        actor, token = admin(request)
        return page(request, actor, token, clinic.clinic_settings(actor), saved=bool(saved))

    @router.post("/settings", response_class=HTMLResponse)
    async def save_settings(request: Request) -> Response:
        actor, token = admin(request)
        data = await request.form()
        check_csrf(token, str(data.get("csrf", "")))
        form = _posted(data)
        version = str(data.get("version", ""))
        try:
            expected = int(version) if version.isdigit() else -1  # no version: a conflict, read them again
            clinic.update_clinic_settings(actor, **read_settings_form(form), expected_version=expected)
        except InvalidInput as exc:
            view = clinic.clinic_settings(actor)
            shown = {**form, **{f: _without_password(form[f]) for f in ("smtp_url", "webhook_url")}}
            return page(request, actor, token, view, form=shown, invalid=_field_errors(exc), status=422)
        except Conflict as exc:
            return page(request, actor, token, clinic.clinic_settings(actor), conflict=str(exc), status=409)
        return RedirectResponse("/settings?saved=1", 303)


def _without_password(url: str) -> str:
    """``url`` to show again in the form: a password typed into it left out (it is never stored)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # not a URL, so no password to find in it
        return url
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.netloc.rpartition('@')[2]}"))


def _posted(data: Any) -> dict[str, Any]:
    """The posted fields as text (the days and closed days as lists, blank closed days left out)."""
    texts = (*TEXT_SETTINGS, "refill_margin_days", "stale_margin_days")
    closed = [str(d).strip() for d in data.getlist("closed_days")]
    return {
        **{name: str(data.get(name, "")) for name in texts},
        "clinic_days": [str(d) for d in data.getlist("clinic_days")],
        "closed_days": [d for d in closed if d],
    }


__all__ = ["install_settings_pages", "read_settings_form"]
