"""The pump gateway for pumps that speak the telemetry protocol: today, the clinic's virtual pumps.

Each virtual pump's state lives in the clinic's database (``virtual_pumps``, ``virtual_pump_journal``),
keyed by the clinic's pump id, so every server process, on one machine or several, reaches the
same pump, and no text a user types can aim it. A connection loads the pump (its setup, the
journal of changes replayed), runs its clock up to the clinic's now, and talks to it over an
in-memory telemetry link through the clinician programmer; each change the pump applies is
appended to its journal and committed at once, in a transaction of its own: the pump is another
device, and keeps what it was given whatever becomes of the clinic's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select, update

from itb.adapters.db import models as m
from itb.clinic.ports import ChangeResult, ChangeStatus, PumpChange, PumpUnreachable, VirtualPumpSetup
from itb.contracts.forecast import program_json
from itb.domain.errors import InvalidInput, Violation
from itb.domain.reading import PumpReading
from itb.programmer import workflows as W
from itb.programmer.link import PumpLink
from itb.programmer.record import ProgrammerRecord
from itb.pump.firmware import PumpFirmware, TherapyInfo
from itb.pump.state_file import PumpState, build, setup_from_scenario
from itb.telemetry.session import LinkDown, RemoteError, ServerEndpoint, UncertainOutcome
from itb.telemetry.transport import LoopbackLink


def scenario_of(setup: VirtualPumpSetup) -> dict:
    """The simulator's scenario fields a new virtual pump starts from."""
    return {
        "start": setup.start.isoformat(timespec="seconds"),
        "pump": {
            "model": setup.model,
            "reservoir_capacity_ml": setup.capacity_ml,
            "implanted_at": setup.implanted_at.isoformat(timespec="seconds"),
            "low_reservoir_alarm_ml": setup.low_reservoir_alarm_ml,
            "catheter_volume_ml": setup.catheter_volume_ml,
        },
        "reservoir_ml": setup.reservoir_ml,
        "concentration_mcg_per_ml": setup.concentration_mcg_per_ml,
        "program": program_json(setup.program),
        "flow_error": setup.flow_error,
    }


def therapy_of(setup: VirtualPumpSetup) -> TherapyInfo:
    return TherapyInfo(
        patient_id=setup.patient_ref,
        origin=setup.origin,
        age_years=round(setup.age_years, 2),
        implanted_at=setup.implanted_at.isoformat(timespec="seconds"),
        catheter_length_cm=setup.catheter_length_cm,
    )


class TelemetryConnection:
    """One visit to one virtual pump: read it, send it changes (each settled from its log)."""

    def __init__(self, link: PumpLink) -> None:
        self.link = link

    def read(self) -> PumpReading:
        try:
            return W.interrogate(self.link)
        except (UncertainOutcome, LinkDown, RemoteError) as exc:
            self.link.drop()
            raise PumpUnreachable(f"the pump could not be read: {exc}") from None

    def send(self, change: PumpChange) -> ChangeResult:
        """Send under the change's key until its fate is known (the programmer record's semantics)."""
        record = ProgrammerRecord()
        entry = record.add(change.key, change.command, **change.fields)
        since = change.log_since
        if change.command == "program":
            assert change.program is not None
            base = change.fields["base_version"]
            W.send_change(
                self.link,
                record,
                entry,
                lambda: self.link.send_program(change.program, base, change.key),  # type: ignore[arg-type]
                change.proof,
                since,
            )
        else:
            command = "bolus_start" if change.command == "bolus" else change.command
            W.send_change(
                self.link,
                record,
                entry,
                lambda: self.link.change(command, change.key, **change.fields),
                change.proof,
                since,
            )
        return ChangeResult(ChangeStatus(str(entry.status)), entry.detail, entry.pump_seq)


class TelemetryPumps:
    """Virtual pumps in the clinic's database, reached by telemetry (the :class:`PumpGateway` port)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def exists(self, pump_id: int) -> bool:
        with self.engine.connect() as db:
            return db.execute(select(m.VirtualPump.pump_id).where(m.VirtualPump.pump_id == pump_id)).first() is not None

    def check(self, setup: VirtualPumpSetup) -> None:
        build(PumpState(setup=setup_from_scenario(scenario_of(setup)), therapy=therapy_of(setup).json()))

    def create(self, pump_id: int, setup: VirtualPumpSetup) -> None:
        state = PumpState(setup=setup_from_scenario(scenario_of(setup)), therapy=therapy_of(setup).json())
        firmware = build(state)  # refuses a bad setup before anything is written
        with self.engine.begin() as db:
            # An id with state but no pump record is left from an implant that was rolled back.
            db.execute(delete(m.VirtualPumpJournal).where(m.VirtualPumpJournal.pump_id == pump_id))
            db.execute(delete(m.VirtualPump).where(m.VirtualPump.pump_id == pump_id))
            db.execute(
                insert(m.VirtualPump).values(
                    pump_id=pump_id,
                    setup=state.setup,
                    therapy=firmware.therapy.json(),
                    t=firmware.pump.t,
                    created_at=self.clock().replace(microsecond=0),
                )
            )

    def _load(self, pump_id: int) -> PumpFirmware:
        with self.engine.connect() as db:
            row = db.execute(
                select(m.VirtualPump.setup, m.VirtualPump.therapy, m.VirtualPump.t).where(
                    m.VirtualPump.pump_id == pump_id
                )
            ).first()
            if row is None:
                raise InvalidInput([Violation("pump", f"pump {pump_id} has no virtual pump to talk to")])
            journal = db.execute(
                select(m.VirtualPumpJournal.t, m.VirtualPumpJournal.request)
                .where(m.VirtualPumpJournal.pump_id == pump_id)
                .order_by(m.VirtualPumpJournal.n)
            ).all()
        setup, therapy, t_saved = row
        state = PumpState(setup=setup, therapy=therapy, journal=[(t, r) for t, r in journal], t=t_saved)
        try:
            return build(state)
        except InvalidInput:
            raise
        except (LookupError, TypeError, AttributeError, ValueError) as exc:
            message = f"pump {pump_id}: its stored state is damaged and cannot be restored ({type(exc).__name__})"
            raise InvalidInput([Violation("pump", message)]) from None

    def _journal(self, pump_id: int, t: float, request: dict) -> None:
        with self.engine.begin() as db:
            n = db.execute(
                select(func.count()).select_from(m.VirtualPumpJournal).where(m.VirtualPumpJournal.pump_id == pump_id)
            ).scalar_one()
            db.execute(insert(m.VirtualPumpJournal).values(pump_id=pump_id, n=n, t=t, request=request))
            db.execute(update(m.VirtualPump).where(m.VirtualPump.pump_id == pump_id).values(t=t))

    @contextmanager
    def connect(self, pump_id: int) -> Iterator[TelemetryConnection]:
        firmware = self._load(pump_id)
        pump = firmware.pump
        now_t = pump.t_of(self.clock())
        firmware.clock = lambda: max(pump.t, now_t)
        firmware.on_change = lambda t, request: self._journal(pump_id, t, request)
        endpoint = ServerEndpoint(firmware.handle, on_session_end=firmware.end_session)
        wire = LoopbackLink(endpoint.on_frame)
        link = PumpLink(lambda: wire.client)
        try:
            yield TelemetryConnection(link)
        finally:
            link.close()
            pump.advance_to(max(pump.t, now_t))
            with self.engine.begin() as db:
                db.execute(update(m.VirtualPump).where(m.VirtualPump.pump_id == pump_id).values(t=pump.t))
