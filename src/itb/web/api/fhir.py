"""The read-only FHIR R4 API under /fhir: read by id, search by patient, ``Patient/{id}/$everything``
and ``/fhir/metadata``, behind the REST API's sign-in and roles (a caregiver reads their own child).

The routes are made from :data:`itb.interop.fhir_bundle.RESOURCE_TYPES`, as the
CapabilityStatement is, so the two cannot disagree. Errors are OperationOutcome resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from itb import __version__
from itb.clinic import fhir_records
from itb.clinic.services import Actor, Clinic, NotFound
from itb.interop.fhir_bundle import (
    PATIENT_PARAM,
    RESOURCE_TYPES,
    bundle,
    capability_statement,
    operation_outcome,
    validated,
)
from itb.interop.fhir_codes import FHIR_JSON, PATIENT_REF
from itb.interop.fhir_made import Made
from itb.interop.fhir_resources import patient_resource, patient_resources
from itb.web.api.deps import token_actor

router = APIRouter(tags=["fhir"])

#: a FHIR id (the specification's pattern)
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SECURED: dict[str, Any] = {"security": [{"OAuth2PasswordBearer": []}]}
_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}},
    "description": "a FHIR R4 resource (a Bundle for a search, an OperationOutcome for an error)",
}
_ANSWER = {"content": {FHIR_JSON: {"schema": _RESOURCE}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a FHIR resource or Bundle", **_ANSWER},
    400: {"description": "OperationOutcome: the search is not supported", **_ANSWER},
    401: {"description": "OperationOutcome: not signed in", **_ANSWER},
    404: {"description": "OperationOutcome: no such resource (or not the user's to read)", **_ANSWER},
}


def fhir_json(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(resource), status_code=status, media_type=FHIR_JSON)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _actor(request: Request) -> Actor | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token_actor(request.app.state.clinic, request.app.state.secret, token.strip())


def _signed_in(view: Callable[[Request, Actor, Clinic], Response]) -> Callable[[Request], Response]:
    def answer(request: Request) -> Response:
        actor = _actor(request)
        if actor is None:
            return fhir_json(operation_outcome("login", "sign in: a bearer token from /api/auth/token"), 401)
        try:
            return view(request, actor, request.app.state.clinic)
        except NotFound as exc:
            return fhir_json(operation_outcome("not-found", str(exc)), 404)

    return answer


def _patient_id(text: str | None) -> int | None:
    """``7`` or ``Patient/7`` as a patient's id (None: not one)."""
    if text is None:
        return None
    text = text.removeprefix("Patient/")
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _of_patient(
    clinic: Clinic, actor: Actor, patient_id: int, kind: str | None = None, rid: str | None = None
) -> list[dict[str, Any]]:
    """The patient's resources (of type ``kind``, of id ``rid``), each validated: only those answered."""
    made = patient_resources(fhir_records.patient_records(clinic, actor, patient_id))
    return [validated(r) for r in made if kind in (None, r["resourceType"]) and rid in (None, r["id"])]


def _read(kind: str) -> Callable[[Request, Actor, Clinic], Response]:
    def read(request: Request, actor: Actor, clinic: Clinic) -> Response:
        rid = request.path_params["rid"]
        pid = _patient_id(rid if kind == "Patient" else rid.partition("-")[0])
        if _ID.fullmatch(rid) is None or pid is None:
            raise NotFound(f"{kind}/{rid}: not found")
        found = _of_patient(clinic, actor, pid, kind, rid)
        if not found:
            raise NotFound(f"{kind}/{rid}: not found")
        return fhir_json(found[0])

    return read


def _search(kind: str) -> Callable[[Request, Actor, Clinic], Response]:
    def search(request: Request, actor: Actor, clinic: Clinic) -> Response:
        q = request.query_params
        link = str(request.url)
        if kind == "Patient":
            return fhir_json(
                bundle("searchset", _patients(clinic, actor, q.get("_id"), q.get("identifier")), _base(request), link)
            )
        if PATIENT_PARAM not in q:
            outcome = operation_outcome(
                "not-supported", f"search {kind} by patient: {kind}?patient=ID (the only search)"
            )
            return fhir_json(outcome, 400)
        pid = _patient_id(q.get(PATIENT_PARAM))
        if pid is None or pid not in fhir_records.visible_patient_ids(clinic, actor):
            return fhir_json(bundle("searchset", [], _base(request), link))
        return fhir_json(bundle("searchset", _of_patient(clinic, actor, pid, kind), _base(request), link))

    return search


def _patients(clinic: Clinic, actor: Actor, rid: str | None, identifier: str | None) -> list[dict[str, Any]]:
    """The Patient resources the user may read, by ``_id`` or ``identifier`` (``system|value``)."""
    ids: list[int] | None = None  # every patient the user may read
    if identifier is not None:
        system, _, value = identifier.rpartition("|")
        known = fhir_records.patient_refs(clinic, actor)
        ids = [known[value]] if (not system or system == PATIENT_REF) and value in known else []
    elif rid is not None:
        pid = _patient_id(rid)
        ids = [] if pid is None else [pid]
    return [validated(patient_resource(Made(r))) for r in fhir_records.patients_alone(clinic, actor, ids)]


def everything(request: Request, actor: Actor, clinic: Clinic) -> Response:
    """``Patient/{id}/$everything``: every resource of the patient the user may read, as a searchset."""
    pid = _patient_id(request.path_params["rid"])
    if pid is None:
        raise NotFound(f"Patient/{request.path_params['rid']}: not found")
    return fhir_json(bundle("searchset", _of_patient(clinic, actor, pid), _base(request), str(request.url)))


def metadata(request: Request) -> Response:
    """The CapabilityStatement (public, as FHIR servers publish it)."""
    now = request.app.state.clinic.clock()
    return fhir_json(capability_statement(_base(request), now, __version__))


def _param(name: str, where: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": {"type": "string"},
            "description": description}  # fmt: skip


_RID = _param("rid", "path", "the resource's id")


def _route(path: str, endpoint: Callable[[Request], Response], summary: str, *params: dict[str, Any]) -> None:
    """A GET route whose parameters the endpoint reads from the request (declared for the OpenAPI document)."""
    extra = {**(_SECURED if path != "/fhir/metadata" else {}), "parameters": list(params)}
    router.add_api_route(
        path, endpoint, methods=["GET"], summary=summary, response_class=Response, responses=_RESPONSES,
        openapi_extra=extra, name=summary,
    )  # fmt: skip


_route("/fhir/metadata", metadata, "FHIR CapabilityStatement")
_route("/fhir/Patient/{rid}/$everything", _signed_in(everything), "FHIR Patient $everything", _RID)
for _kind in RESOURCE_TYPES:
    _searched_by = (
        [_param("_id", "query", "the patient's id"), _param("identifier", "query", "system|value or value")]
        if _kind == "Patient"
        else [_param(PATIENT_PARAM, "query", "the patient's id, or Patient/{id}", required=True)]
    )
    _route(f"/fhir/{_kind}", _signed_in(_search(_kind)), f"FHIR search {_kind}", *_searched_by)
    _route(f"/fhir/{_kind}/{{rid}}", _signed_in(_read(_kind)), f"FHIR read {_kind}", _RID)


__all__ = ["fhir_json", "router"]
