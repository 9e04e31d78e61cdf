"""What every group of pages is installed with (``install_*_pages(router, page)``): the clinic,
the templates, and the helpers :func:`itb.web.pages.install_pages` makes for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from itb.clinic.services import Actor, Clinic, Forbidden, NotFound

STAFF = ("admin", "clinician", "nurse")
CLINICIANS = ("admin", "clinician")
ROLE_WORDS = {STAFF: "the clinic's staff", CLINICIANS: "a clinician or an admin"}


@dataclass(frozen=True)
class PageContext:
    """The clinic and the pages' shared helpers.

    ``render(request, template, actor, token, status=200, **context)``: a template as the answer
    (with the form's CSRF token); ``session(request)``: the signed-in user and their token (none:
    to the login); ``check_csrf(token, given)``: a form not from this site is refused (403);
    ``problems(exc)``: an error as the findings a page lists (code, severity, message)."""

    clinic: Clinic
    templates: Jinja2Templates
    render: Callable[..., HTMLResponse]
    session: Callable[[Request], tuple[Actor, str]]
    check_csrf: Callable[[str, str], None]
    problems: Callable[[Exception], list[dict]]

    def staff(self, request: Request, roles: tuple[str, ...], what: str) -> tuple[Actor, str]:
        """The signed-in member of the staff who may do ``what`` (one of ``roles``): a caregiver
        finds no such page (404), another member of the staff is not allowed (403)."""
        actor, token = self.session(request)
        if actor.role == "caregiver":
            raise NotFound("page not found")
        if actor.role not in roles:
            raise Forbidden(f"{what} is for {ROLE_WORDS.get(roles, ' or '.join(roles))}")
        return actor, token


__all__ = ["CLINICIANS", "ROLE_WORDS", "STAFF", "PageContext"]
