"""The CSV importer: column maps and headers, delimiters, types, dates, physical line numbers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from accord.errors import InvalidInput, Problem
from accord.ingest import ImportOptions, Item, Skipped
from accord.ingest.tabular import parse_column_map, parse_time, read, sniff_delimiter
from accord.intel.prepare import Prepared, prepare
from accord.intel.timestamps import format_micros, parse_micros
from accord.intel.tlp import EMIT_ID, TLP

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
OBSERVED = 1_720_000_000_000_000
OPTIONS = ImportOptions(observed_us=OBSERVED, source="list.csv")


def read_bytes(data: bytes, options: ImportOptions = OPTIONS) -> list[Item]:
    return list(read(io.BytesIO(data), options))


def read_fixture(name: str, options: ImportOptions = OPTIONS) -> list[Item]:
    return read_bytes((FIXTURES / name).read_bytes(), options)


def emitted(items: list[Item]) -> dict[int, dict[str, Any]]:
    return {i[0]: i[1] for i in items if isinstance(i, tuple)}


def skipped(items: list[Item]) -> dict[int, Skipped]:
    return {i.where["line"]: i for i in items if isinstance(i, Skipped)}


# --- the column map ---------------------------------------------------------------------------------


def test_parse_column_map() -> None:
    assert parse_column_map("value=1,type=2,first_seen=3") == {"value": 1, "type": 2, "first_seen": 3}
    assert parse_column_map(" Value = 4 , tlp=1, ") == {"value": 4, "tlp": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value=1,colour=2", "unknown field 'colour'"),
        ("value=one", "column number from 1, not 'one'"),
        ("value=0", "column number from 1, not '0'"),
        ("value=-2", "column number from 1"),
        ("value=1,type=1", "column 1 is given to both 'value' and 'type'"),
        ("value=1,value=2", "field 'value' is given twice"),
        ("type=2,first_seen=3", "which column holds the value"),
        ("", "which column holds the value"),
        ("value", "is not field=column"),
    ],
)
def test_parse_column_map_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_column_map(text)
    assert caught.value.where == {"field": "column_map"}


# --- the fixture with a header ----------------------------------------------------------------------


def test_header_fixture_rows_and_physical_line_numbers() -> None:
    """BOM, CRLF, a comment and a blank line between rows, a quoted field over two lines: every
    line number is the physical line (the header is line 1)."""
    items = read_fixture("indicators.csv")
    patterns = {n: obj["pattern"] for n, obj in emitted(items).items()}
    assert patterns == {
        2: "[ipv4-addr:value = '198.51.100.7']",
        5: "[domain-name:value = 'evil.example']",
        6: "[url:value = 'http://evil.example/login']",
        7: "[domain-name:value = 'a.example']",  # MISP domain|ip: the domain
        8: "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        9: "[email-addr:value = 'bad-actor@mail.example']",
        10: "[ipv4-addr:value = '198.51.100.10']",  # STIX type name
        22: "[ipv6-addr:value = '2001:db8::5']",  # no type: inferred
    }
    skips = skipped(items)
    assert {n: s.where.get("field") for n, s in skips.items()} == {
        11: "type",
        12: "value",
        13: "value",
        14: "value",
        15: "first_seen",
        16: "last_seen",
        17: "confidence",
        18: "tlp",
        19: "value",
        20: "value",
    }
    assert "unknown type 'registry-key'" in skips[11].reason
    assert skips[12].reason == "'example.org' is a domain name, but its type is 'ip-dst'"
    assert skips[13].reason == "duplicate of line 2 (198.51.100.7)"
    assert "not a recognised observable" in skips[14].reason
    assert "'yesterday' is not a date or time" in skips[15].reason
    assert "is before first_seen" in skips[16].reason
    assert "whole number from 0 to 100, not 'high'" in skips[17].reason
    assert "unknown TLP level 'purple'" in skips[18].reason
    assert "from line 20 to line 21" in skips[20].reason


def test_header_fixture_fields_reach_the_indicator() -> None:
    objs = emitted(read_fixture("indicators.csv"))
    first = objs[2]
    assert first["valid_from"] == "2024-05-01T10:00:00.000000Z"
    assert first["valid_until"] == "2024-06-01T00:00:00.000000Z"
    assert first["created"] == format_micros(OBSERVED)
    assert first["labels"] == ["botnet", "c2"]
    assert first["confidence"] == 80
    assert first["object_marking_refs"] == [EMIT_ID[TLP.AMBER]]
    assert first["description"] == "From list.csv; seen in campaign X"
    assert (
        objs[5]["labels"] == ["phishing", "bank"] and objs[5]["valid_from"] == "2024-05-02T00:00:00.000000Z"
    )
    assert objs[5]["object_marking_refs"] == [EMIT_ID[TLP.GREEN]]
    assert objs[6]["valid_from"] == format_micros(OBSERVED) and "valid_until" not in objs[6]
    assert objs[22]["valid_from"] == "2024-05-01T10:00:00.000000Z"  # Unix seconds
    assert "object_marking_refs" not in objs[6] and "confidence" not in objs[6]


def test_every_emitted_row_passes_prepare() -> None:
    for item in read_fixture("indicators.csv", ImportOptions(observed_us=OBSERVED, tlp=TLP.RED)):
        if isinstance(item, tuple):
            result = prepare(*item)
            assert isinstance(result, Prepared), result


def test_reading_twice_gives_identical_objects() -> None:
    assert read_fixture("indicators.csv") == read_fixture("indicators.csv")


# --- delimiters, maps and header forms --------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    rows = [
        ["value", "type", "first_seen"],
        ["198.51.100.1", "ip-dst", "2024-01-01"],
        ["evil.example", "", ""],
    ]
    data = "\n".join(delimiter.join(r) for r in rows).encode()
    assert sniff_delimiter(data.decode().splitlines()) == (delimiter, 3)
    objs = emitted(read_bytes(data))
    assert [o["pattern"] for o in objs.values()] == [
        "[ipv4-addr:value = '198.51.100.1']",
        "[domain-name:value = 'evil.example']",
    ]


def test_sniffing_finds_nothing_in_a_one_column_list() -> None:
    assert sniff_delimiter(["evil.example", "198.51.100.1"]) is None


@pytest.mark.parametrize("name", ["semicolon.csv", "pipe.txt"])
def test_other_delimiter_fixtures(name: str) -> None:
    items = [i for i in read_fixture(name) if isinstance(i, tuple)]
    assert [i[0] for i in items] == [2, 3]
    assert all(isinstance(prepare(*item), Prepared) for item in items)


def test_column_map_without_header() -> None:
    options = ImportOptions(observed_us=OBSERVED, column_map=parse_column_map("value=1,type=2,first_seen=3"))
    items = read_fixture("mapped_noheader.tsv", options)
    objs = emitted(items)
    assert {n: (o["pattern"], o["valid_from"]) for n, o in objs.items()} == {
        1: ("[ipv4-addr:value = '198.51.100.20']", "2024-01-01T00:00:00.000000Z"),
        2: ("[domain-name:value = 'evil2.example']", "2024-01-02T00:00:00.000000Z"),
    }
    assert {n: s.where for n, s in skipped(items).items()} == {4: {"line": 4, "field": "value"}}


def test_column_map_passes_over_a_header_row() -> None:
    options = ImportOptions(observed_us=OBSERVED, column_map={"value": 2, "description": 1})
    items = read_bytes(b"note,ioc\nfirst,198.51.100.1\nsecond,evil.example\n", options)
    assert not skipped(items)
    assert {n: o["description"] for n, o in emitted(items).items()} == {2: "first", 3: "second"}


def test_row_too_short_for_the_value_column() -> None:
    options = ImportOptions(column_map={"value": 3})
    items = read_bytes(b"a,b,198.51.100.1\na,b\n", options)
    assert list(emitted(items)) == [1]
    assert skipped(items)[2].reason == "the row has 2 column(s); the value is in column 3"


def test_commented_header_is_used_when_the_first_row_is_data() -> None:
    objs = emitted(read_fixture("urlhaus_style.csv"))
    assert {n: o["pattern"] for n, o in objs.items()} == {
        6: "[url:value = 'http://198.51.100.30/bins/x86']",
        7: "[url:value = 'http://dl.evil.example/a.apk']",
    }
    assert objs[6]["valid_from"] == "2024-05-01T10:00:00.000000Z"
    assert objs[6]["valid_until"] == "2024-05-02T11:00:00.000000Z"  # last_online
    assert "valid_until" not in objs[7]  # last seen when first seen: no end
    assert objs[6]["labels"] == ["elf", "mirai"]


def test_column_named_after_a_kind_is_the_value_column_with_that_kind() -> None:
    items = read_bytes(
        b"first_seen_utc,dst_ip,dst_port\n2024-01-01 00:00:00,198.51.100.9,443\n,evil.example,80\n"
    )
    assert emitted(items)[2]["pattern"] == "[ipv4-addr:value = '198.51.100.9']"
    assert skipped(items)[3].reason == "'evil.example' is a domain name, but its type is 'ip'"


def test_no_header_and_no_map_is_a_problem() -> None:
    items = read_bytes(b"# list\n198.51.100.1,ip-dst\n198.51.100.2,ip-dst\n")
    assert len(items) == 1 and isinstance(items[0], Problem)
    assert items[0].where == {"line": 2} and "column map such as value=1,type=2" in items[0].detail


def test_last_seen_alone_is_the_valid_from() -> None:
    objs = emitted(read_bytes(b"value,last_seen\n198.51.100.1,2023-02-03\n"))
    assert objs[2]["valid_from"] == "2023-02-03T00:00:00.000000Z" and "valid_until" not in objs[2]


def test_unterminated_quote_that_outgrows_the_field_limit_is_a_problem() -> None:
    data = b'value\n"198.51.100.1\n' + b"x" * 200_000 + b"\n"
    items = read_bytes(data)
    assert isinstance(items[-1], Problem) and "malformed CSV" in items[-1].detail
    assert items[-1].where == {"line": 2}


def test_undecodable_row_is_skipped() -> None:
    items = read_bytes(b"value\n198.51.100.1\nbad\xff.example\n198.51.100.2\n")
    assert list(emitted(items)) == [2, 4] and "not valid UTF-8" in skipped(items)[3].reason


@pytest.mark.parametrize(
    ("text", "stix"),
    [
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123Z"),
        ("2024-05-01", "2024-05-01T00:00:00Z"),
        ("2024-05-01 10:00:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01 10:00:00 UTC", "2024-05-01T10:00:00Z"),
        ("1714557600", "2024-05-01T10:00:00Z"),
        ("1714557600000", "2024-05-01T10:00:00Z"),
    ],
)
def test_parse_time(text: str, stix: str) -> None:
    assert parse_time(text) == parse_micros(stix)


@pytest.mark.parametrize("text", ["yesterday", "05/01/2024", "12345", "2024-13-01"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a date or time"):
        parse_time(text)
