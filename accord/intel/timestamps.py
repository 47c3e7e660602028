"""STIX 2.1 timestamps as integers: microseconds since the Unix epoch (UTC).

STIX (part 2, "timestamp") requires RFC 3339 in UTC with the `Z` designator:
`YYYY-MM-DDTHH:MM:SS[.s+]Z`. We parse that with one precompiled regex and calendar arithmetic (no
`datetime.strptime` per call: this runs on every timestamp of every object of every bundle).

Choices:
- Sub-second digits beyond six are truncated (not rounded), so the result never lies in the future
  of the text.
- Years 0001-9999 (what `datetime` can represent, so any value here converts losslessly).
- A leap second (`:60`, allowed by RFC 3339 and the STIX JSON schema) is accepted and counted as the
  first instant of the next minute, the way POSIX time folds it.
- Upper-case `T` and `Z` only, no other offset, a dot only when digits follow: the STIX format.
"""

from __future__ import annotations

import re
import time

__all__ = ["TimestampError", "format_micros", "now_micros", "parse_micros"]


class TimestampError(ValueError):
    """A text that is not a STIX timestamp; `reason` says why without repeating the text."""

    def __init__(self, reason: str, text: object) -> None:
        shown = repr(text[:80]) if isinstance(text, str) else type(text).__name__
        super().__init__(f"{reason}: {shown}")
        self.reason = reason


_MATCH = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?Z",
    re.ASCII,
).fullmatch

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
# Days before the first of each month in a common year, indexed by month (1-12).
_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Days from 0001-01-01 to 1970-01-01 (proleptic Gregorian), i.e. date(1970, 1, 1).toordinal() - 1.
_EPOCH_DAYS = 719_162
_MIN_US = -_EPOCH_DAYS * _US_PER_DAY  # 0001-01-01T00:00:00Z
_MAX_US = 2_932_897 * _US_PER_DAY - 1  # 9999-12-31T23:59:59.999999Z


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_of(date: str, text: str) -> int:
    """`YYYY-MM-DD` (already shaped by the regex) -> days since 1970-01-01, validating the calendar."""
    year = int(date[0:4])
    month = int(date[5:7])
    day = int(date[8:10])
    if year == 0:
        raise TimestampError("year 0000 is out of range (0001-9999)", text)
    if not 1 <= month <= 12:
        raise TimestampError(f"month {date[5:7]} does not exist", text)
    length = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month]
    if not 1 <= day <= length:
        raise TimestampError(
            f"day {date[8:10]} does not exist: {_MONTH_NAMES[month]} {year} has {length} days", text
        )
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + day - 1
    if month > 2 and _is_leap(year):
        days += 1
    return days - _EPOCH_DAYS


# Date part -> days since the epoch. Objects of a bundle share few dates, so this saves the calendar
# arithmetic on most calls; bounded so hostile input cannot grow it without limit.
_DAY_CACHE: dict[str, int] = {}
_DAY_CACHE_MAX = 1 << 16
# Whole timestamps recently parsed: objects of one bundle often share them (created == modified,
# a whole export stamped in the same millisecond). Cleared when full, and kept small: inserting
# into a big dict misses the CPU caches, a cost every timestamp that never repeats would pay.
_RECENT: dict[str, int] = {}
_RECENT_MAX = 1 << 10
# The minute of the last timestamp parsed in full, `YYYY-MM-DDTHH:MM:`, and microseconds at its
# start, as one tuple (replaced whole: safe across threads). The next timestamp is often in the same
# minute (an indicator's valid_from and created, neighbours in an export), and then only its seconds
# and fraction need reading: no regex, no calendar. (A dict of minutes cost more than it saved when
# minutes did not repeat.)
_LAST_MINUTE = ("1970-01-01T00:00:", 0)
_MINUTE_LEN = 17  # len("YYYY-MM-DDTHH:MM:")
# What follows such a prefix, looked up rather than parsed (int() is slow, and a lookup also checks
# the digits): "SS" for 00-59, and the common endings "Z", ".dZ", ".ddZ", ".dddZ", in microseconds.
_TWO_DIGITS = {f"{n:02d}": n for n in range(100)}
_SECOND_US = {f"{n:02d}": n * _US_PER_SECOND for n in range(60)}
_ENDING_US = {
    "Z": 0,
    **{f".{n}Z": n * 100_000 for n in range(10)},
    **{f".{n:02d}Z": n * 10_000 for n in range(100)},
    **{f".{n:03d}Z": n * 1000 for n in range(1000)},
}


def parse_micros(text: str) -> int:
    """`YYYY-MM-DDTHH:MM:SS[.fraction]Z` -> microseconds since 1970-01-01T00:00:00Z.

    Raises ValueError (a TimestampError) naming the problem for anything else: wrong shape, an
    offset other than Z, a month 13, February 30, 25 o'clock, ...
    """
    if type(text) is str:
        us = _RECENT.get(text)
        if us is None:
            us = _parse(text)
            if len(_RECENT) >= _RECENT_MAX:
                _RECENT.clear()
            _RECENT[text] = us
        return us
    if isinstance(text, str):
        return _parse(str(text))
    raise TimestampError("a STIX timestamp must be a string", text)


def _parse(text: str) -> int:
    minute, base = _LAST_MINUTE
    if text.startswith(minute):
        # The rest of the regex below, `[0-9]{2}(?:\.[0-9]+)?Z`, for seconds 00-59; a leap second
        # and anything odd take the full path.
        second = _SECOND_US.get(text[_MINUTE_LEN : _MINUTE_LEN + 2])
        if second is not None:
            ending = text[_MINUTE_LEN + 2 :]
            fraction = _ENDING_US.get(ending)
            if fraction is not None:
                return base + second + fraction
            digits = ending[1:-1]
            # isascii() + isdigit() is exactly [0-9]+ (isdigit alone allows other digits).
            if ending[:1] == "." and ending[-1:] == "Z" and digits.isascii() and digits.isdigit():
                n = len(digits)
                if n < 6:
                    return base + second + int(digits) * 10 ** (6 - n)
                return base + second + int(digits[:6])
    return _parse_in_full(text)


def _parse_in_full(text: str) -> int:
    global _LAST_MINUTE
    m = _MATCH(text)
    if m is None:
        raise TimestampError("not a STIX timestamp (expected YYYY-MM-DDTHH:MM:SS[.s]Z in UTC)", text)
    date, hs, mis, ss, frac = m.groups()
    days = _DAY_CACHE.get(date)
    if days is None:
        days = _days_of(date, text)
        if len(_DAY_CACHE) >= _DAY_CACHE_MAX:
            _DAY_CACHE.clear()
        _DAY_CACHE[date] = days
    hour = _TWO_DIGITS[hs]  # two ASCII digits each (the regex): looked up, cheaper than int()
    minute = _TWO_DIGITS[mis]
    second = _TWO_DIGITS[ss]
    if hour > 23 or minute > 59 or second > 59:
        if hour > 23 or minute > 59 or second > 60:
            raise TimestampError(f"time of day {hs}:{mis}:{ss} does not exist", text)
        if days * _US_PER_DAY + (hour * 3600 + minute * 60 + second) * _US_PER_SECOND > _MAX_US:
            raise TimestampError("a leap second after the year 9999 is out of range", text)
    base = (days * 86_400 + hour * 3600 + minute * 60) * _US_PER_SECOND
    _LAST_MINUTE = (text[:_MINUTE_LEN], base)
    us = base + second * _US_PER_SECOND
    if frac is None:
        return us
    n = len(frac)
    if n == 3:
        return us + int(frac) * 1000
    if n == 6:
        return us + int(frac)
    if n < 6:
        return us + int(frac) * 10 ** (6 - n)
    return us + int(frac[:6])


def _civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def format_micros(us: int) -> str:
    """Microseconds since the epoch -> `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fraction digits)."""
    if type(us) is not int:
        if isinstance(us, bool) or not isinstance(us, int):
            raise TypeError(f"format_micros needs an int, not {type(us).__name__}")
        us = int(us)
    if not _MIN_US <= us <= _MAX_US:
        raise ValueError(f"{us} microseconds is outside the years 0001-9999")
    days, rest = divmod(us, _US_PER_DAY)
    year, month, day = _civil(days)
    seconds, micros = divmod(rest, _US_PER_SECOND)
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{micros:06d}Z"


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000
