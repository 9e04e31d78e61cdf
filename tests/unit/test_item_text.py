"""Lists of records read from their JSON text's bytes: the values a JSON decoder reads, or None."""

from __future__ import annotations

import math
import random

import orjson
import pytest

from itb.contracts.item_text import NUMBER, TIME, Layout, read_items
from itb.contracts.jsonfields import parse_hhmm

BOLUS = Layout((("start", TIME), ("dose_mcg", NUMBER), ("duration_minutes", NUMBER)))
READING = Layout((("ml", NUMBER), ("at", TIME)))  # a number before a time: the comma ends it


def decoded(texts: list[bytes], layout: Layout) -> tuple[list[int], list[list[float]]]:
    """What orjson reads of the texts, as :func:`read_items` gives it."""
    lists = [orjson.loads(text) for text in texts]
    columns: list[list[float]] = [[] for _ in layout.fields]
    for items in lists:
        for item in items:
            assert list(item) == [name for name, _ in layout.fields]
            for column, (name, kind) in zip(columns, layout.fields):
                value = item[name]
                column.append(float(parse_hhmm(value)) if kind == TIME else float(value))
    return [len(items) for items in lists], columns


def as_lists(found) -> tuple[list[int], list[list[float]]]:
    count, columns = found
    return count.tolist(), [column.tolist() for column in columns]


def number_text(rng: random.Random) -> str:
    form = rng.randrange(3)
    if form == 0:
        return str(rng.choice([0, 1, 9, 10, 150, 1440, 10**15 - 1]))
    if form == 1:
        return repr(round(rng.uniform(0, 5000), rng.randint(1, 4)))
    return f"{rng.randint(0, 999)}.{rng.randint(0, 10**7):07d}"


def test_records_read_from_their_text_as_a_json_decoder_reads_them():
    rng = random.Random(31)
    for layout in (BOLUS, READING):
        for _ in range(40):
            texts = []
            for _ in range(rng.randint(1, 30)):
                records = []
                for _ in range(rng.choice([0, 0, 1, 2, 5])):  # empty lists too
                    m = rng.randrange(1440)
                    values = {TIME: f'"{m // 60:02d}:{m % 60:02d}"'}
                    fields = [f'"{name}":{values.get(kind) or number_text(rng)}' for name, kind in layout.fields]
                    records.append("{" + ",".join(fields) + "}")
                texts.append(f"[{','.join(records)}]".encode())
            found = read_items(texts, layout)
            assert found is not None
            got = as_lists(found)
            want = decoded(texts, layout)
            assert got[0] == want[0]
            assert orjson.dumps(got[1]) == orjson.dumps(want[1])  # each value to the bit


def test_lists_all_empty_hold_no_records():
    count, columns = read_items([b"[]", b"[]"], BOLUS)  # type: ignore[misc]
    assert count.tolist() == [0, 0] and [len(c) for c in columns] == [0, 0, 0]


GOOD = b'[{"start":"07:30","dose_mcg":50,"duration_minutes":30}]'


@pytest.mark.parametrize(
    "odd",
    [
        b"null",
        b"[ ]",
        b'[{"start":"07:30","dose_mcg":50}]',  # a field missing
        b'[{"start":"07:30","dose_mcg":50,"duration_minutes":30,"x":1}]',  # one more
        b'[{"dose_mcg":50,"start":"07:30","duration_minutes":30}]',  # another order
        b'[{"start":"07:30", "dose_mcg":50,"duration_minutes":30}]',  # a space
        b'[{"start":"7:30","dose_mcg":50,"duration_minutes":30}]',
        b'[{"start":"24:00","dose_mcg":50,"duration_minutes":30}]',
        b'[{"start":"07:30","dose_mcg":-50,"duration_minutes":30}]',
        b'[{"start":"07:30","dose_mcg":5e1,"duration_minutes":30}]',
        b'[{"start":"07:30","dose_mcg":50,"duration_minutes":"30"}]',
        b'[{"start":"07:30","dose_mcg":1234567890123456,"duration_minutes":30}]',
        b'[{"start":"07:30","dose_mcg":50,"duration_minutes":30},]',
        b'[{"start":"07:30","dose_mcg":50,"duration_minutes":30}][]',  # two lists in one text
    ],
)
def test_a_text_not_as_orjson_writes_the_layout_is_refused(odd):
    assert read_items([GOOD, odd, GOOD], BOLUS) is None


def test_the_fifteen_digit_numbers_are_exact():
    texts = [b'[{"start":"00:00","dose_mcg":999999999999999,"duration_minutes":0.00000000000001}]']
    count, (start, dose, duration) = read_items(texts, BOLUS)  # type: ignore[misc]
    assert count.tolist() == [1]
    assert dose.tolist() == [999999999999999.0] and duration.tolist() == [1e-14]
    assert not math.isnan(start[0])


def test_a_layout_longer_than_the_padding_is_refused():
    with pytest.raises(ValueError):
        Layout(tuple((f"field_{i}_with_a_long_name", TIME) for i in range(6)))
