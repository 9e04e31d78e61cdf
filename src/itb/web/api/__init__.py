"""The clinic's REST API, one router per resource (``create_app`` adds :data:`ROUTERS`' routes).

``deps``: the clinic and the signed-in user as dependencies; ``schemas``: the request bodies,
the answers and the error statuses each operation declares.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from itb.web.api import (
    appointments,
    audit,
    auth,
    fhir,
    notify,
    patients,
    pumps,
    quality,
    reports,
    sessions,
    settings,
    worklist,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    m.router
    for m in (auth, patients, reports, pumps, sessions, appointments, worklist, audit, settings, notify, fhir, quality)
)


def install_api(app: FastAPI) -> None:
    """Every API operation as one of the app's own routes.

    Not ``include_router``: FastAPI (0.165) keeps an included router as one opaque route, and the
    API's operations are listed from ``app.routes`` (``tests/integration/test_clinic_api.py``).
    The routes hold no state of their own (the clinic and the secret are on ``app.state``), so
    every app shares them."""
    for router in ROUTERS:
        app.router.routes.extend(router.routes)


__all__ = ["ROUTERS", "install_api"]
