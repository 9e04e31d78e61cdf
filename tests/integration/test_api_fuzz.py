"""Schemathesis against the whole API: as a clinician on both databases, and without a token.

Every operation, every phase but the stateful one, every check (no 500, every status and body as
documented, headers, schema-valid requests accepted, schema-violating ones refused, the ``Allow``
of a 405, ...), seeded and derandomized: the same cases on every run. Every operation meets
both databases: the examples and fuzzing phases (two generated cases per operation) on SQLite;
the coverage phase (every boundary case the schema defines, valid and not: 2**63, NUL, a missing
or duplicated field, an unexpected method, ...) on PostgreSQL, the stricter of the two (NUL
refused in text, integer widths), in two halves of the operations. ``python benchmarks/api_fuzz.py``
runs the whole campaign (every phase on both databases, eight cases per operation). Each run
prints its case count and time (``pytest -s``) and records them (``record_property``).

The one exception, kept as narrow as its reason: ``positive_data_acceptance`` expects every request
the schema allows to be accepted. Some rules are judged against what no JSON Schema can see (the
clinic's clock, its calendar, the stored records, the drug limits for this patient), relate one
field to another, or are a CSV file's (the import's body is text); a request that breaks only those
is refused 422 by the use case, naming the field (:data:`UNSTATABLE`, :func:`unstatable_refusal`).
A refusal by the request's own validation (a pydantic 422, ``loc`` starting with ``body``,
``query``, ``path`` or ``header``), or by a rule not listed, is still a failure.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from itb.adapters.db import models as m

#: ``$ITB_FUZZ_FULL=1``: the whole campaign (``benchmarks/api_fuzz.py``): the boundary cases on both databases
FULL = os.environ.get("ITB_FUZZ_FULL") == "1"
#: the seed (the same cases on every run), and the generated cases per operation in the examples and
#: fuzzing phases; ``$ITB_FUZZ_SEED`` and ``$ITB_FUZZ_EXAMPLES`` explore further
SEED = int(os.environ.get("ITB_FUZZ_SEED", "14"))
EXAMPLES = int(os.environ.get("ITB_FUZZ_EXAMPLES", "8" if FULL else "2"))
#: the databases the fuzzing and the coverage phase run on, and the halves of the operations the
#: coverage phase runs in (one test each)
FUZZING_DATABASES = ["sqlite", "postgresql"] if FULL else ["sqlite"]
COVERAGE_DATABASES = ["sqlite", "postgresql"] if FULL else ["postgresql"]
HALVES = {"patients-and-pumps": r"^/api/(patients|pumps)(/|$)", "the-rest": r"^/(?!api/(patients|pumps)(/|$))"}
#: a ``loc`` from the request's own validation (pydantic): always a statable rule
REQUEST_PARTS = {"body", "query", "path", "header", "cookie"}
#: the rules a schema cannot state, each as the message its violation carries (``itb.domain.errors.Violation``)
UNSTATABLE: tuple[tuple[str, str], ...] = (
    # the clinic's clock and calendar: JSON Schema has no bound on a date, let alone one that moves with today
    (r"^must be from \d{4}-\d{2}-\d{2} to (today|\d{4}-\d{2}-\d{2})", "a day within the window around today"),
    (r"is not a clinic day$", "the clinic's open days (its settings)"),
    (r"^must be after the last session .* and not after now$", "the pump's last session, and now"),
    # one field against another of the same request (JSON Schema has no comparison between values)
    (r"^is only for a vendor-programmed pump$", "a telemetry pump takes no vendor field"),
    (r"^is for staff contacts only$", "the contact's list as stored (a family's or the staff's)"),
    (r"^is required( for a \w+ session| for a vendor-programmed pump)?$", "required by another field's value"),
    (r"^must be peristaltic or valve-gated for a pump ITB talks to$", "the model by the connection"),
    (r"^must be one of [\d.]+(, [\d.]+)*$", "a reservoir size of the model given"),
    (r"^must not exceed the reservoir capacity", "a volume within the capacity given"),
    (r"^must be from 0 to (below )?reservoir_capacity_ml", "a volume within the capacity given"),
    (r"^must (be|not be) (on or )?(after|before) \w+", "one date against another"),
    (r"^must grade the same muscle groups as mas_before$", "the same groups before and after"),
    (r"^must be later than the previous step's start$", "each step after the one before"),
    (r"^must be <= R2 \(", "one angle against the other (R1 within R2)"),
    # the stored records: the pump's state, an earlier request under the same key, the patient's pumps
    (r"^was used for another change: use a new key$", "the change stored under that key"),
    (r"^has no (virtual pump to talk to|implanted pump)", "the patient's pumps as stored"),
    (r"^is not this patient's pump$", "the pump's patient as stored"),
    (r"^'.+' is already registered$", "the serials stored"),
    (r"^already has pump \d+ implanted", "the patient's pumps as stored"),
    (r"^a \w+ pump has no MRI checklist here", "the pump's model as stored"),
)
_UNSTATABLE = [re.compile(rule) for rule, _why in UNSTATABLE]


@dataclass
class Run:
    """What a run did: its cases, statuses by operation, failures (check, operation, detail), time."""

    cases: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    unstatable: int = 0
    seconds: float = 0.0


def unstatable_refusal(response: Any) -> bool:
    """A 422 whose every violation is one of :data:`UNSTATABLE`, answered by a use case; or a
    refusal by the drug limits (``NotSentOut``), or by the import file's own grammar (CSV, not JSON)."""
    if response.status_code != 422:
        return False
    body = response.json()
    if "errors" in body or body.get("detail") == "not sent to the pump":
        return True
    problems = body.get("detail")
    return isinstance(problems, list) and all(
        (not p["loc"] or p["loc"][0] not in REQUEST_PARTS) and any(r.search(p["msg"]) for r in _UNSTATABLE)
        for p in problems
    )


def record_outcome(run: Run, recorder: Any) -> None:
    run.cases += len(recorder.cases)
    for case_id, checks in recorder.checks.items():
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        if response is not None:
            run.statuses[(recorder.label, response.status_code)] += 1
        for check in checks:
            if check.failure_info is None:
                continue
            if check.name == "positive_data_acceptance" and response is not None and unstatable_refusal(response):
                run.unstatable += 1
                continue
            failure = check.failure_info
            run.failures.append((check.name, recorder.label, f"{failure.failure}\n{failure.code_sample}"))


def fuzz(
    app: Any,
    headers: dict[str, str],
    records: dict[str, int],
    exclude: tuple[str, ...] = (),
    coverage: bool = False,
    paths: str | None = None,
) -> Run:
    """The engine's run of every operation (its path matching ``paths``) but ``exclude`` (paths), ids
    in the path mostly ``records``': examples and fuzzing, or with ``coverage`` the boundary cases only."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            "suppress-health-check": ["all"],
            "generation": {"max-examples": EXAMPLES, "mode": "all", "deterministic": True},
            "checks": {"enabled": True},
            "phases": {
                "stateful": {"enabled": False},
                "coverage": {"enabled": coverage},
                "examples": {"enabled": not coverage},
                "fuzzing": {"enabled": not coverage},
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if paths is not None:
        schema = schema.include(path_regex=paths)
    for path in exclude:
        schema = schema.exclude(path=path)
    schema.hook("map_path_parameters")(existing_ids(records))
    run, started = Run(), time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            record_outcome(run, event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.failures.append(("error", getattr(event, "label", "engine"), repr(getattr(event, "value", event))))
    run.seconds = time.monotonic() - started
    return run


def existing_ids(records: dict[str, int]) -> Callable[[Any, dict[str, Any] | None], dict[str, Any] | None]:
    """Two ids in three made the record's that exists (its answers are checked, not only its 404);
    the rest, and every id outside the columns' range, as generated."""

    def map_path_parameters(_context: Any, parameters: dict[str, Any] | None) -> dict[str, Any] | None:
        for name, value in (parameters or {}).items():
            if name in records and type(value) is int and 1 <= value <= 2**31 - 1 and value % 3:
                parameters[name] = records[name]
        return parameters

    return map_path_parameters


def report(run: Run, who: str, record_property: Callable[[str, object], None]) -> str:
    shown = (
        f"schemathesis {who}: {run.cases} cases, {len({label for label, _ in run.statuses})} operations, "
        f"{run.seconds:.1f} s, {len(run.failures)} failures, {run.unstatable} refusals by rules no schema states"
    )
    print(shown)
    record_property(f"schemathesis_{who}_cases", run.cases)
    record_property(f"schemathesis_{who}_seconds", round(run.seconds, 1))
    return shown


@pytest.fixture
def records(clinic, users, child, pump, clock) -> dict[str, int]:
    """One record of each kind a path names: a titrating child with a pump, a refill, a booking, a
    family's report, a pump change, a vendor pump's session."""
    nurse = users["nurse"]
    clinic.report_symptoms(users["caregiver"], child.id, ["itching"], "since the refill")
    booked = clinic.book(nurse, child.id, kind="refill", at=datetime(2026, 11, 24, 10))
    refill = clinic.refill(
        nurse, pump.id, withdrawn_ml=20.0, added_ml=20.0, concentration_mcg_per_ml=500.0, expected_version=pump.version
    )
    with clinic.sessions() as s:
        change = s.query(m.PumpChange).order_by(m.PumpChange.id).first()
        report_id = s.query(m.SymptomReport.id).scalar()
    return {
        "patient_id": child.id,
        "pump_id": pump.id,
        "appointment_id": booked.id,
        "refill_id": refill.id,
        "report_id": report_id,
        "change_id": change.id if change else 1,
        "session_id": 1,
    }


@pytest.mark.parametrize("db_url", FUZZING_DATABASES, indirect=True)
def test_the_api_answers_every_generated_request_as_documented_for_a_clinician(app, client, records, record_property):
    """As a clinician (bearer token), examples and fuzzing: signing out is left out, since it ends
    the token and every later request would be a (correct) 401; the run without a token covers it."""
    token = client("clinician").headers["authorization"]
    run = fuzz(app, {"Authorization": token}, records, exclude=("/api/auth/logout",))
    shown = report(run, "clinician", record_property)
    assert not run.failures, "\n\n".join(f"{check} {label}\n{detail}" for check, label, detail in run.failures[:10])
    assert run.cases > 120 and any(code < 300 for (_, code) in run.statuses), shown


@pytest.mark.parametrize("db_url", COVERAGE_DATABASES, indirect=True)
@pytest.mark.parametrize("half", HALVES)
def test_the_api_answers_every_boundary_case_as_documented_for_a_clinician(app, client, records, record_property, half):
    """As a clinician, the coverage phase: every boundary case the schema defines, for one half of
    the operations (signing out left out, as above)."""
    token = client("clinician").headers["authorization"]
    run = fuzz(app, {"Authorization": token}, records, exclude=("/api/auth/logout",), coverage=True, paths=HALVES[half])
    shown = report(run, f"clinician_boundaries_{half}", record_property)
    assert run.cases > 800 and any(code < 300 for (_, code) in run.statuses), shown
    assert {code for (_, code) in run.statuses} >= {404, 405, 422}, shown
    assert not run.failures, "\n\n".join(f"{check} {label}\n{detail}" for check, label, detail in run.failures[:10])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_api_answers_every_generated_request_as_documented_without_a_token(
    app, anonymous, records, record_property
):
    """Without a token: every operation but signing in and the health check answers 401 as documented
    (or 422 for a body it cannot read). Examples and fuzzing only, on SQLite: the boundary cases,
    and both databases, are the clinician's runs'."""
    run = fuzz(app, {}, records)
    shown = report(run, "anonymous", record_property)
    assert run.cases > 150 and {code for (_, code) in run.statuses} >= {200, 401}, shown
    assert not run.failures, "\n\n".join(f"{check} {label}\n{detail}" for check, label, detail in run.failures[:10])
