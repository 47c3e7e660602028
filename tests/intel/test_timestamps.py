"""STIX timestamps <-> integer microseconds: exact, strict on the format, checked against `datetime`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.intel.timestamps import TimestampError, format_micros, now_micros, parse_micros

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def micros_of(dt: datetime) -> int:
    """The reference conversion, through `datetime` (exact integer arithmetic on timedelta)."""
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000001Z", 1),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("1969-12-31T23:59:59.5Z", -500_000),
        ("2016-08-08T15:50:10.983Z", 1_470_671_410_983_000),
        ("2017-01-20T00:00:00.000Z", 1_484_870_400_000_000),
        ("2000-02-29T12:00:00Z", 951_825_600_000_000),  # 2000 is a leap year (divisible by 400)
        ("2024-02-29T23:59:59.123Z", 1_709_251_199_123_000),
        ("2038-01-19T03:14:08Z", 2_147_483_648_000_000),  # past the 32-bit time_t limit
        ("0001-01-01T00:00:00Z", MIN_US),
        ("9999-12-31T23:59:59.999999Z", MAX_US),
    ],
)
def test_parse_known_values(text: str, expected: int) -> None:
    assert parse_micros(text) == expected


@pytest.mark.parametrize(
    ("fraction", "micros"),
    [
        ("1", 100_000),
        ("12", 120_000),
        ("123", 123_000),
        ("1234", 123_400),
        ("12345", 123_450),
        ("123456", 123_456),
        ("1234567", 123_456),  # beyond microseconds: truncated, not rounded
        ("9999999", 999_999),
        ("000000001", 0),
        ("123456789012345678901234567890", 123_456),
    ],
)
def test_fraction_digits(fraction: str, micros: int) -> None:
    assert parse_micros(f"2020-01-01T00:00:00.{fraction}Z") == parse_micros("2020-01-01T00:00:00Z") + micros


def test_leap_second_is_the_next_instant() -> None:
    # RFC 3339 and the STIX JSON schema allow second 60; folded the POSIX way.
    assert parse_micros("2016-12-31T23:59:60Z") == parse_micros("2017-01-01T00:00:00Z")
    assert parse_micros("2016-12-31T23:59:60.5Z") == parse_micros("2017-01-01T00:00:00.5Z")
    with pytest.raises(ValueError, match="leap second"):
        parse_micros("9999-12-31T23:59:60Z")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2021-02-29T00:00:00Z", "February 2021 has 28 days"),
        ("1900-02-29T00:00:00Z", "February 1900 has 28 days"),  # divisible by 100, not by 400
        ("2020-02-30T00:00:00Z", "February 2020 has 29 days"),
        ("2020-04-31T00:00:00Z", "April 2020 has 30 days"),
        ("2020-01-32T00:00:00Z", "January 2020 has 31 days"),
        ("2020-01-00T00:00:00Z", "day 00"),
        ("2020-13-01T00:00:00Z", "month 13"),
        ("2020-00-01T00:00:00Z", "month 00"),
        ("2020-01-01T24:00:00Z", "time of day"),
        ("2020-01-01T23:60:00Z", "time of day"),
        ("2020-01-01T23:59:61Z", "time of day"),
        ("0000-01-01T00:00:00Z", "year 0000"),
        ("2020-01-01T00:00:00+00:00", "not a STIX timestamp"),
        ("2020-01-01T00:00:00+01:00", "not a STIX timestamp"),
        ("2020-01-01T00:00:00", "not a STIX timestamp"),  # no zone at all
        ("2020-01-01t00:00:00z", "not a STIX timestamp"),  # STIX spells T and Z upper-case
        ("2020-01-01 00:00:00Z", "not a STIX timestamp"),
        ("2020-01-01T00:00:00.Z", "not a STIX timestamp"),  # a dot needs digits
        ("2020-01-01T00:00Z", "not a STIX timestamp"),
        ("2020-1-01T00:00:00Z", "not a STIX timestamp"),
        ("20200101T000000Z", "not a STIX timestamp"),
        ("2020-01-01", "not a STIX timestamp"),
        ("12020-01-01T00:00:00Z", "not a STIX timestamp"),
        (" 2020-01-01T00:00:00Z", "not a STIX timestamp"),
        ("2020-01-01T00:00:00Z\n", "not a STIX timestamp"),
        ("2020-01-01T00:00:00ZZ", "not a STIX timestamp"),
        (
            "\u0662\u0660\u0662\u0660-01-01T00:00:00Z",
            "not a STIX timestamp",
        ),  # Arabic-Indic digits are not ASCII digits
        ("2020-01-01T00:00:00.\uff11Z", "not a STIX timestamp"),  # nor full-width ones
        ("", "not a STIX timestamp"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_micros(text)
    assert isinstance(info.value, TimestampError)
    assert reason in info.value.reason
    assert repr(text) in str(info.value)  # the message shows the offending text


@pytest.mark.parametrize("value", [None, 0, 1.5, b"2020-01-01T00:00:00Z", ["2020-01-01T00:00:00Z"]])
def test_non_strings_refused(value: object) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_micros(value)  # type: ignore[arg-type]


def test_errors_are_not_cached() -> None:
    for _ in range(3):
        with pytest.raises(ValueError):
            parse_micros("2021-02-29T00:00:00Z")
    assert parse_micros("2021-02-28T00:00:00Z") == micros_of(datetime(2021, 2, 28, tzinfo=UTC))


def test_cache_overflow_keeps_answers_right() -> None:
    base = datetime(2001, 1, 1, tzinfo=UTC)
    for i in range(40_000):  # more than either cache holds
        dt = base + timedelta(seconds=i * 7919, microseconds=i)
        text = dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert parse_micros(text) == micros_of(dt)


# Seconds and fractions read after a minute whose prefix is already known valid: the same answers
# and the same refusals as a fresh parse, whose regex sees the whole text.
MINUTE_TAILS = [
    "00Z",
    "59Z",
    "07.5Z",
    "07.123Z",
    "07.123456Z",
    "07.1234567890Z",
    "07.000000001Z",
    "60Z",
    "60.5Z",
    "61Z",
    "99Z",
    "7Z",
    "007Z",
    "07.Z",
    "07..1Z",
    "07.1.2Z",
    "07ZZ",
    "07.1ZZ",
    "07",
    "07.1",
    "Z",
    "",
    "07 Z",
    "07.1 Z",
    "0\u0663Z",
    "07.\uff11Z",
    "07.+1Z",
    "07.-1Z",
    "+7Z",
    " 7Z",
    "07z",
    "07.1z",
    "07Z\n",
    "07.1e3Z",
]


@pytest.mark.parametrize("minute", ["2024-03-01T12:34:", "2016-12-31T23:59:", "9999-12-31T23:59:"])
@pytest.mark.parametrize("tail", MINUTE_TAILS)
def test_same_minute_reads_the_rest_like_a_full_parse(minute: str, tail: str) -> None:
    from accord.intel import timestamps

    text = minute + tail

    def outcome(parse: Callable[[str], int]) -> int | str:
        timestamps._RECENT.clear()  # the whole-text cache would answer without either path
        try:
            return parse(text)
        except TimestampError as e:
            return e.reason

    full = outcome(timestamps._parse_in_full)
    parse_micros(minute + "00Z")  # parsed in full: its minute is now the last one
    assert timestamps._LAST_MINUTE[0] == minute
    assert outcome(parse_micros) == full
    if isinstance(full, int):
        seconds, _, fraction = tail.rstrip("Z").partition(".")
        day, time_of_day = minute.rstrip(":").split("T")
        naive = datetime.fromisoformat(f"{day}T{time_of_day}:00")
        expected = micros_of(naive.replace(tzinfo=UTC)) + int(seconds) * 1_000_000
        assert full == expected + int((fraction + "000000")[:6])


def test_str_subclass_accepted() -> None:
    class Text(str):
        pass

    assert parse_micros(Text("1970-01-01T00:00:01Z")) == 1_000_000


@pytest.mark.parametrize(
    ("us", "text"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1, "1970-01-01T00:00:00.000001Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (1_470_671_410_983_000, "2016-08-08T15:50:10.983000Z"),
        (951_825_600_000_000, "2000-02-29T12:00:00.000000Z"),
        (MIN_US, "0001-01-01T00:00:00.000000Z"),
        (MAX_US, "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_format_known_values(us: int, text: str) -> None:
    assert format_micros(us) == text
    assert parse_micros(text) == us


@pytest.mark.parametrize("us", [MIN_US - 1, MAX_US + 1, 10**30, -(10**30)])
def test_format_out_of_range(us: int) -> None:
    with pytest.raises(ValueError, match="0001-9999"):
        format_micros(us)


@pytest.mark.parametrize("value", [1.0, "0", None, True])
def test_format_needs_an_int(value: object) -> None:
    with pytest.raises(TypeError):
        format_micros(value)  # type: ignore[arg-type]


def test_now_micros() -> None:
    before = time.time_ns() // 1000
    now = now_micros()
    after = time.time_ns() // 1000
    assert isinstance(now, int)
    assert before <= now <= after
    assert parse_micros(format_micros(now)) == now


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_agrees_with_datetime(naive: datetime) -> None:
    dt = naive.replace(tzinfo=UTC)
    us = micros_of(dt)
    text = f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{dt.microsecond:06d}Z"
    assert parse_micros(text) == us
    assert format_micros(us) == text
    assert parse_micros(text.replace(f".{dt.microsecond:06d}", "")) == us - dt.microsecond


@given(st.integers(min_value=MIN_US, max_value=MAX_US))
def test_round_trip(us: int) -> None:
    assert parse_micros(format_micros(us)) == us


@given(st.text(max_size=40))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        us = parse_micros(text)
    except ValueError:
        return
    assert MIN_US <= us <= MAX_US + 1_000_000  # a leap second may reach one second past
