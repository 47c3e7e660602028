"""CSV (and TSV, semicolon- or pipe-separated) indicator lists, one indicator per row.

The columns come from a column map (`value=1,type=2,first_seen=3`, see `parse_column_map`) or, when
there is none, from the header row, whose names are matched loosely (`indicator`, `IOC`, `First Seen`,
`dateadded`, ...; a column named after a kind, such as `ip`, `url` or `sha256_hash`, is the value
column with that kind when no column is called value/indicator/ioc/observable). A header written as
the last `#` comment before the data (abuse.ch style) is used when the first row is no header.
The delimiter is sniffed from the first lines (comma, semicolon, tab, pipe).

The type column takes MISP attribute types (`ip-dst`, `domain|ip`, `filename|sha256`, ...), our kinds
(`ipv4`, `domain`, `md5`, ...) and STIX types (`ipv4-addr`, `domain-name`, ...); an empty or absent
type means the kind is inferred. Each row becomes `indicator_for(...)`: valid_from is first_seen when
given (else last_seen, else the import's time), valid_until is last_seen when it is after
first_seen (equal times give no valid_until), confidence 0-100, labels split on `;`, `|` or `,`
(a quoted tags cell such as URLhaus's `"elf,mirai"`), tlp a TLP level name.

A row that cannot be used (a value that does not normalise, an unknown type, a bad date) is
`Skipped` with its line, the field and the reason; a value seen on an earlier row is `Skipped` as a
duplicate; blank lines and `#` comment lines are passed over silently. Lines are physical lines,
1-based, header included (a quoted field may span lines: the row is named by its first line); the
line number is also the index of each emitted object. A CSV that cannot be read at all (no header
and no column map, a quote never closed that outgrows the csv module's field limit) is a `Problem`.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from accord.errors import InvalidInput, Problem
from accord.ingest import ImportOptions, Item, Skipped, as_parsed, indicator_for, problem
from accord.ingest.text import Lines, describe
from accord.intel.observables import KINDS, Observable, normalise, try_normalise
from accord.intel.timestamps import TimestampError, format_micros, parse_micros
from accord.intel.tlp import TLP

__all__ = [
    "DELIMITERS",
    "FIELDS",
    "header_columns",
    "header_of",
    "parse_column_map",
    "parse_time",
    "read",
    "sniff_delimiter",
]

FIELDS = ("value", "type", "first_seen", "last_seen", "description", "labels", "confidence", "tlp")
DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_LINES = 20
_SAMPLE_BYTES = 64 * 1024

# --------------------------------------------------------------------------------------- column map


def parse_column_map(text: str) -> dict[str, int]:
    """`value=1,type=2,first_seen=3` -> {"value": 1, "type": 2, "first_seen": 3} (columns 1-based).

    Raises InvalidInput (field `column_map`) for an unknown field, a column that is not a positive
    whole number, a field or a column given twice, or no `value`.
    """
    mapping: dict[str, int] = {}
    owner: dict[int, str] = {}
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        name, eq, number = (s.strip() for s in item.partition("="))
        name = name.lower()
        if not eq:
            raise InvalidInput(f"column map entry {item!r} is not field=column", field="column_map")
        if name not in FIELDS:
            raise InvalidInput(
                f"unknown field {name!r} in the column map (fields: {', '.join(FIELDS)})", field="column_map"
            )
        if not (number.isascii() and number.isdigit()) or int(number) < 1:
            raise InvalidInput(
                f"column for {name!r} must be a column number from 1, not {number!r}", field="column_map"
            )
        column = int(number)
        if name in mapping:
            raise InvalidInput(f"field {name!r} is given twice in the column map", field="column_map")
        if column in owner:
            raise InvalidInput(
                f"column {column} is given to both {owner[column]!r} and {name!r}", field="column_map"
            )
        mapping[name] = column
        owner[column] = name
    if "value" not in mapping:
        raise InvalidInput(
            "the column map must say which column holds the value (value=N)", field="column_map"
        )
    return mapping


# ------------------------------------------------------------------------------------------ headers

_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ("value", "indicator", "ioc", "observable", "ioc_value", "indicator_value", "observable_value"),
        "value",
    ),
    **dict.fromkeys(
        ("type", "ioc_type", "indicator_type", "observable_type", "attribute_type", "kind"), "type"
    ),
    **dict.fromkeys(
        ("first_seen", "firstseen", "first_seen_utc", "date", "dateadded", "date_added", "first_observed"),
        "first_seen",
    ),
    **dict.fromkeys(("last_seen", "lastseen", "last_seen_utc", "last_online", "last_observed"), "last_seen"),
    **dict.fromkeys(("description", "comment", "comments", "note", "notes", "info"), "description"),
    **dict.fromkeys(("labels", "label", "tags", "tag"), "labels"),
    **dict.fromkeys(("confidence", "score"), "confidence"),
    **dict.fromkeys(("tlp", "tlp_level", "marking"), "tlp"),
}
# Columns named after a kind: the value column (with that type) when no column is called `value`.
_KIND_HEADERS: dict[str, str] = {
    **dict.fromkeys(("ip", "ip_address", "ipaddress", "dst_ip", "src_ip", "ip_dst", "ip_src"), "ip"),
    **dict.fromkeys(("ipv4", "ipv4_address"), "ipv4"),
    **dict.fromkeys(("ipv6", "ipv6_address"), "ipv6"),
    **dict.fromkeys(("domain", "domain_name", "hostname", "host", "fqdn"), "domain"),
    **dict.fromkeys(("url", "uri"), "url"),
    **dict.fromkeys(("email", "email_address", "e_mail"), "email"),
    **dict.fromkeys(("md5", "md5_hash"), "md5"),
    **dict.fromkeys(("sha1", "sha1_hash", "sha_1"), "sha1"),
    **dict.fromkeys(("sha256", "sha256_hash", "sha_256"), "sha256"),
    **dict.fromkeys(("sha512", "sha512_hash", "sha_512"), "sha512"),
    "hash": "hash",
}
_HEADER_SPACE = re.compile(r"[\s\-]+")


def _header_name(cell: str) -> str:
    return _HEADER_SPACE.sub("_", cell.strip().lstrip("#").strip().strip('"').lower())


def header_columns(cells: list[str]) -> tuple[dict[str, int], str | None] | None:
    """Header cells -> (field -> 0-based column, type implied by the value column's name), or None
    if no column can be the value column."""
    columns: dict[str, int] = {}
    kind_column: tuple[int, str] | None = None
    for i, cell in enumerate(cells):
        name = _header_name(cell)
        field = _ALIASES.get(name)
        if field is not None:
            columns.setdefault(field, i)
        elif name in _KIND_HEADERS and kind_column is None:
            kind_column = (i, _KIND_HEADERS[name])
    if "value" in columns:
        return columns, None
    if kind_column is None:
        return None
    columns["value"] = kind_column[0]
    return columns, kind_column[1]


# -------------------------------------------------------------------------------------------- types

_IP = ("ipv4", "ipv6")
_HASHES = ("md5", "sha1", "sha256", "sha512")
# type name -> (kinds it allows, which part of a MISP composite `a|b` value holds the observable)
_TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    **{kind: ((kind,), 0) for kind in KINDS},
    "ip": (_IP, 0),
    "hash": (_HASHES, 0),
    # MISP attribute types
    **dict.fromkeys(("ip-dst", "ip-src", "ip-dst|port", "ip-src|port"), (_IP, 0)),
    **dict.fromkeys(("hostname", "domain|ip", "hostname|port", "fqdn"), (("domain",), 0)),
    **dict.fromkeys(("uri", "link"), (("url",), 0)),
    **{f"filename|{h}": ((h,), 1) for h in _HASHES},
    **dict.fromkeys(
        (
            "email-src",
            "email-dst",
            "email-reply-to",
            "target-email",
            "whois-registrant-email",
            "dns-soa-email",
            "email-address",
        ),
        (("email",), 0),
    ),
    # STIX types and hash names
    "ipv4-addr": (("ipv4",), 0),
    "ipv6-addr": (("ipv6",), 0),
    "domain-name": (("domain",), 0),
    "email-addr": (("email",), 0),
    "sha-1": (("sha1",), 0),
    "sha-256": (("sha256",), 0),
    "sha-512": (("sha512",), 0),
}
_KIND_NAMES = {
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "domain": "a domain name",
    "url": "a URL",
    "email": "an e-mail address",
    "md5": "an MD5 hash",
    "sha1": "a SHA-1 hash",
    "sha256": "a SHA-256 hash",
    "sha512": "a SHA-512 hash",
}


def _observable(value: str, type_name: str | None) -> Observable:
    """The value normalised as its type says (inferred when None); InvalidInput with field set."""
    if type_name is None:
        try:
            return normalise(value)
        except InvalidInput as e:
            raise InvalidInput(e.detail, field="value") from None
    spec = _TYPES.get(type_name.strip().lower())
    if spec is None:
        raise InvalidInput(
            f"unknown type {type_name!r} (expected a MISP attribute type such as ip-dst, domain, url, "
            "sha256, email-src; a kind such as ipv4, domain, md5; or a STIX type such as ipv4-addr)",
            field="type",
        )
    kinds, part = spec
    if "|" in value and "|" in type_name:
        pieces = value.split("|")
        if part < len(pieces):
            value = pieces[part]
    try:
        if len(kinds) == 1:
            return normalise(value, kinds[0])
        o = normalise(value)
    except InvalidInput as e:
        raise InvalidInput(e.detail, field="value") from None
    if o.kind not in kinds:
        raise InvalidInput(
            f"{value!r} is {_KIND_NAMES[o.kind]}, but its type is {type_name!r}", field="value"
        )
    return o


# ---------------------------------------------------------------------------------------- the cells

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def parse_time(text: str) -> int:
    """A feed's date or time -> microseconds since the epoch (UTC).

    Takes STIX timestamps, ISO 8601 dates and times (`2024-05-01`, `2024-05-01 10:00:00`, with `Z` or
    an offset; no offset means UTC) and Unix times (10 digits: seconds, 13: milliseconds).
    Raises ValueError saying what was expected.
    """
    s = text.strip()
    try:
        return parse_micros(s)
    except TimestampError:
        pass
    if s.isascii() and s.isdigit() and len(s) in (9, 10, 13):
        return int(s) * (1_000_000 if len(s) <= 10 else 1000)
    try:
        when = datetime.fromisoformat(s.removesuffix(" UTC"))
    except ValueError:
        raise ValueError(
            f"{s[:80]!r} is not a date or time (expected ISO 8601 such as 2024-05-01 or "
            "2024-05-01T10:00:00Z, or Unix seconds)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def _confidence(text: str) -> int:
    s = text.strip().removesuffix("%").strip()
    try:
        number = float(s)
    except ValueError:
        number = -1.0
    if not (0 <= number <= 100 and number == int(number)):
        raise InvalidInput(
            f"confidence must be a whole number from 0 to 100, not {text!r}", field="confidence"
        )
    return int(number)


def _labels(text: str) -> list[str]:
    return [label for label in (s.strip() for s in re.split(r"[;|,]", text)) if label]


# ------------------------------------------------------------------------------------------ sniffing


def sniff_delimiter(lines: Iterable[str]) -> tuple[str, int] | None:
    """The delimiter that splits the sample lines into the same number (2 or more) of columns most
    consistently, and that number; None if none splits them. Ties go to the order of DELIMITERS."""
    sample = [line for line in lines if line.strip()]
    if not sample:
        return None
    best: tuple[float, int] = (0.0, 0)
    found: tuple[str, int] | None = None
    for delimiter in DELIMITERS:
        try:
            counts = Counter(len(row) for row in csv.reader(sample, delimiter=delimiter))
        except csv.Error:  # a quote never closed ran past the field limit: not this delimiter's fault
            continue
        columns, agreeing = counts.most_common(1)[0]
        if columns < 2:
            continue
        score = (agreeing / len(sample), columns)
        if score > best:
            best, found = score, (delimiter, columns)
    return found


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


# --------------------------------------------------------------------------------------------- rows


class _Rows:
    """Feeds `csv.reader` one physical line at a time, passing over blank and comment lines between
    rows (not inside a quoted field), and remembers where each row starts and whether any of its
    lines was unusable."""

    def __init__(self, lines: Lines, sample: list[tuple[int, str, str | None]]) -> None:
        self.lines = lines
        self.sample = iter(sample)
        self.at_row_start = True
        self.row_line = 0
        self.last_line = 0
        self.row_problem: str | None = None
        self.last_comment: tuple[int, str] | None = None  # before the first row: a header, maybe

    def _next_line(self) -> tuple[int, str, str | None]:
        for entry in self.sample:
            return entry
        text = next(self.lines)
        return self.lines.number, text, self.lines.problem

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        number, text, bad = self._next_line()
        if self.at_row_start:
            while bad is None and (not text.strip() or _is_comment(text)):
                if text.strip() and self.row_line == 0:
                    self.last_comment = (number, text)
                number, text, bad = self._next_line()
            self.at_row_start = False
            self.row_line = number
            self.row_problem = None
        self.last_line = number
        if bad is not None and self.row_problem is None:
            self.row_problem = f"line {number}: {bad}" if number != self.row_line else bad
        return text + "\n"

    def next_row(self) -> None:
        self.at_row_start = True


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    i = columns.get(name)
    return row[i].strip() if i is not None and i < len(row) else ""


def read(fp: BinaryIO, options: ImportOptions) -> Iterator[Item]:
    """Indicators from a CSV file, one per row; see the module docstring for columns and types."""
    lines = Lines(fp)
    try:
        yield from _read(lines, options)
    except InvalidInput as e:
        yield problem(e.detail, **e.where)


def _sample(lines: Lines) -> list[tuple[int, str, str | None]]:
    sample: list[tuple[int, str, str | None]] = []
    data_lines = 0
    size = 0
    for text in lines:
        sample.append((lines.number, text, lines.problem))
        size += len(text)
        if text.strip() and not _is_comment(text):
            data_lines += 1
        if data_lines >= _SAMPLE_LINES or size >= _SAMPLE_BYTES:
            break
    return sample


def _read(lines: Lines, options: ImportOptions) -> Iterator[Item]:
    sample = _sample(lines)
    sniffed = sniff_delimiter(t for _, t, bad in sample if bad is None and not _is_comment(t))
    delimiter = sniffed[0] if sniffed else ","
    rows = _Rows(lines, sample)
    reader = csv.reader(rows, delimiter=delimiter)
    columns: dict[str, int] | None = None
    implied_type: str | None = None
    if options.column_map is not None:
        columns = {name: n - 1 for name, n in options.column_map.items()}
    seen: dict[tuple[str, str], int] = {}
    first = True
    while True:
        rows.next_row()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield problem(f"malformed CSV: {e}", line=rows.row_line)
            return
        n = rows.row_line
        if rows.row_problem is not None:
            yield Skipped({"line": n}, rows.row_problem)
            continue
        if not any(cell.strip() for cell in row):
            continue
        was_first, first = first, False
        if columns is None:  # no map: the first row is the header, or data under a commented header
            header = header_of(row)
            if header is None and rows.last_comment is not None:
                try:
                    comment_cells = next(csv.reader([rows.last_comment[1]], delimiter=delimiter))
                except csv.Error:  # a comment that is no CSV row (a stray carriage return) is no header
                    comment_cells = []
                header = header_of(comment_cells)
                if header is not None:
                    columns, implied_type = header
                    yield from _row(row, n, rows.last_line, columns, implied_type, options, seen)
                    continue
            if header is None:
                yield _no_header(row, n)
                return
            columns, implied_type = header
            continue
        if was_first and header_of(row) is not None:  # a header row under a column map
            continue
        yield from _row(row, n, rows.last_line, columns, implied_type, options, seen)


def header_of(row: list[str]) -> tuple[dict[str, int], str | None] | None:
    """The row read as a header, or None: not one if it names no value column or holds a value."""
    found = header_columns(row)
    if found is None or any(try_normalise(cell) is not None for cell in row if cell.strip()):
        return None
    return found


def _no_header(row: list[str], n: int) -> Problem:
    shown = ", ".join(repr(c) for c in row[:8])
    return problem(
        "no column map was given and the first row names no value column "
        f"(value, indicator, ioc, observable, or a kind such as ip, domain, url, sha256): found {shown}; "
        "add a header row or give a column map such as value=1,type=2",
        line=n,
    )


def _row(
    row: list[str],
    n: int,
    last_line: int,
    columns: dict[str, int],
    implied_type: str | None,
    options: ImportOptions,
    seen: dict[tuple[str, str], int],
) -> Iterator[Item]:
    value_column = columns["value"]
    if value_column >= len(row):
        yield Skipped(
            {"line": n, "field": "value"},
            f"the row has {len(row)} column(s); the value is in column {value_column + 1}",
        )
        return
    value = row[value_column].strip()
    if "\n" in value:
        yield Skipped(
            {"line": n, "field": "value"},
            f"the value is a quoted field that runs from line {n} to line {last_line} (a quote not closed?)",
        )
        return
    if not value:
        yield Skipped({"line": n, "field": "value"}, "empty value")
        return
    try:
        type_name = _cell(row, columns, "type") or implied_type
        o = _observable(value, type_name)
        first_text = _cell(row, columns, "first_seen")
        last_text = _cell(row, columns, "last_seen")
        first_us = _time(first_text, "first_seen")
        last_us = _time(last_text, "last_seen")
        confidence_text = _cell(row, columns, "confidence")
        confidence = _confidence(confidence_text) if confidence_text else None
        tlp_text = _cell(row, columns, "tlp")
        try:
            tlp = TLP.parse(tlp_text) if tlp_text else None
        except ValueError as e:
            raise InvalidInput(str(e), field="tlp") from None
    except InvalidInput as e:
        yield Skipped({"line": n, **e.where}, e.detail)
        return
    until_us: int | None = None
    if last_us is not None and first_us is None:
        first_us = last_us  # seen then, at least: a valid_from that valid_until cannot precede
    elif last_us is not None and first_us is not None:
        if last_us < first_us:
            yield Skipped(
                {"line": n, "field": "last_seen"},
                f"last_seen {last_text!r} is before first_seen {first_text!r}",
            )
            return
        if last_us > first_us:
            until_us = last_us
    key = (o.kind, o.value)
    first_line = seen.setdefault(key, n)
    if first_line != n:
        yield Skipped({"line": n, "field": "value"}, f"duplicate of line {first_line} ({o.value})")
        return
    labels_text = _cell(row, columns, "labels")
    obj = indicator_for(
        o,
        options,
        valid_from_us=first_us,
        valid_until_us=until_us,
        description=describe(options, _cell(row, columns, "description")),
        labels=_labels(labels_text) if labels_text else None,
        confidence=confidence,
        tlp=tlp,
    )
    yield as_parsed(n, obj)


def _time(text: str, field: str) -> int | None:
    if not text:
        return None
    try:
        us = parse_time(text)
        format_micros(us)  # in the years STIX can write
    except (ValueError, OverflowError) as e:
        raise InvalidInput(f"{field}: {e}", field=field) from None
    return us
