"""The clinic import file (``itb.contracts.clinic_import``), rule by rule of
``shared/spec/clinic-import.md``: every row and column is judged first, each error as
``row N, column C: ...``; valid rows carry the exact forecast as of their ``session_at``.

(The storing side of the contract, ``itb import`` and ``POST /api/import``, is not built yet.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from itb.contracts.clinic_import import REQUIRED, parse_clinic_csv, parse_program_cell
from itb.domain.forecast import ReservoirState, forecast_reservoir
from itb.domain.program import DosingProgram

TODAY = date(2026, 12, 1)
HEADER = (
    "patient_ref,family_name,given_name,birth_date,origin,pump_model,pump_serial,reservoir_capacity_ml,"
    "implanted_on,session_at,reservoir_ml,concentration_mcg_per_ml,program,vendor_alarm_at"
)
ROW = "MRN-0001,Okafor,Ada,2015-04-02,cerebral,synchromed-ii,NGP123456H,20,2021-03-01,2026-11-20T09:00,20,500,200,"


def parse(*rows: str, header: str = HEADER):  # type: ignore[no-untyped-def]
    return parse_clinic_csv("\n".join((header, *rows)) + "\n", TODAY)


def errors(*rows: str, header: str = HEADER) -> list[str]:
    found, errs = parse(*rows, header=header)
    assert not found
    return [str(e) for e in errs]


def test_a_valid_row_carries_the_exact_forecast_as_of_its_session():
    (row,), errs = parse(ROW)
    assert errs == []
    state = ReservoirState(datetime(2026, 11, 20, 9, 0), 20, 20, 500, 2.0)
    expected = forecast_reservoir(state, DosingProgram.simple_continuous(200))
    assert row.forecast == expected and row.forecast.daily_volume_ml == pytest.approx(0.4)
    assert row.values["low_reservoir_alarm_ml"] == 2.0  # the default
    assert row.row == 2 and row.warnings == []


def test_a_byte_order_mark_quoting_and_empty_lines_are_read():
    text = "\ufeff" + HEADER + "\n\n" + ROW.replace("Okafor", '"Okafor, Jr"') + "\n\n"
    (row,), errs = parse_clinic_csv(text, TODAY)
    assert errs == [] and row.values["family_name"] == "Okafor, Jr" and row.row == 3  # as a spreadsheet shows it


def test_columns_in_any_order_and_an_unknown_column_is_an_error():
    names = HEADER.split(",")
    cells = ROW.split(",")
    (row,), _ = parse(",".join(reversed(cells)), header=",".join(reversed(names)))
    assert row.values["pump_serial"] == "NGP123456H"
    assert errors(ROW + ",x", header=HEADER + ",colour") == [
        "row 1, column colour: unknown column (the columns are: " + ", ".join(parse_columns()) + ")"
    ]


def parse_columns() -> list[str]:
    from itb.contracts.clinic_import import COLUMNS

    return list(COLUMNS)


def test_a_required_column_missing_is_an_error():
    header = HEADER.replace("origin,", "")
    row = ROW.replace("cerebral,", "")
    assert "row 1, column origin: required column missing" in errors(row, header=header)
    assert len(REQUIRED) == 12


def test_every_error_is_reported_with_row_and_column_and_nothing_is_returned():
    bad = ROW.replace("2015-04-02", "2015-13-02").replace("cerebral", "brain").replace("synchromed-ii", "pump-x")
    found = errors(ROW, bad)
    assert any(e.startswith("row 3, column birth_date: '2015-13-02' is not a date") for e in found)
    assert any(e.startswith("row 3, column origin: must be spinal or cerebral") for e in found)
    assert any(e.startswith("row 3, column pump_model: must be a code of the device catalogue") for e in found)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (("2015-04-02", "1899-12-31"), "birth_date"),
        (("2015-04-02", "2027-01-01"), "birth_date"),
        ((",20,2021", ",30,2021"), "reservoir_capacity_ml"),
        (("2021-03-01", "2014-01-01"), "implanted_on"),
        (("2021-03-01", "2026-11-21"), "implanted_on"),
        (("2026-11-20T09:00", "2026-11-20 09:00"), "session_at"),
        (("T09:00,20,500", "T09:00,25,500"), "reservoir_ml"),
        (("20,500,200", "20,5000,200"), "concentration_mcg_per_ml"),
        ((",200,", ",,"), "program"),
        ((",200,", ",00:00=100;00:00=200,"), "program"),
        ((",200,", ",01:00=100,"), "program"),
        (("MRN-0001", "M" * 65), "patient_ref"),
    ],
)
def test_each_column_rule_names_its_row_and_column(change: tuple[str, str], column: str):
    found = errors(ROW.replace(*change, 1))
    assert any(e.startswith(f"row 2, column {column}:") for e in found), found


def test_a_program_may_be_steps_and_a_rate_may_carry_a_unit():
    program = parse_program_cell("00:00=0.1 mg/day;07:00=25 mcg/h;22:00=100")
    assert [s.rate_mcg_per_day for s in program.steps] == [pytest.approx(100), pytest.approx(600), 100]
    assert [s.start_minute for s in program.steps] == [0, 420, 1320]
    assert parse_program_cell("600").daily_dose_mcg == 600


def test_a_constant_flow_pump_gives_its_flow_times_the_concentration():
    header = HEADER.replace(",program,", ",flow_ml_per_day,")
    row = ROW.replace("synchromed-ii", "constant-flow").replace(",20,2021", ",35,2021").replace(",200,", ",0.5,")
    (imported,), errs = parse(row, header=header)
    assert errs == []
    assert imported.forecast.daily_dose_mcg == pytest.approx(250) and imported.forecast.daily_volume_ml == 0.5
    assert imported.values["low_reservoir_alarm_ml"] == 0.0  # no alarm unless given
    with_program = ROW.replace("synchromed-ii", "constant-flow").replace(",20,2021", ",35,2021")
    assert any("column program: must be empty for a constant-flow pump" in e for e in errors(with_program))


def test_a_vendor_alarm_more_than_a_day_off_is_a_warning_never_an_error():
    (row,), _ = parse(ROW)
    alarm = row.forecast.low_reservoir_alarm_at
    assert alarm is not None
    close = ROW.rstrip(",") + "," + (alarm + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M")
    far = ROW.rstrip(",") + "," + (alarm + timedelta(days=3)).strftime("%Y-%m-%d")
    (ok,), _ = parse(close)
    (warned,), errs = parse(far)
    assert ok.warnings == [] and errs == []
    assert warned.warnings and "check the program and the volume entered" in warned.warnings[0]


def test_one_row_per_pump_and_per_patient():
    again = ROW.replace("NGP123456H", "NGP999999H")
    assert any(e.startswith("row 3, column patient_ref: 'MRN-0001' is already in row 2") for e in errors(ROW, again))
    other = ROW.replace("MRN-0001", "MRN-0002")
    assert any(e.startswith("row 3, column pump_serial: 'NGP123456H' is already in row 2") for e in errors(ROW, other))
