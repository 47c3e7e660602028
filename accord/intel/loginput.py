"""Read a member's logs and check every observable in them against a `Matcher`.

Formats: `values` (one value per line), `csv` (every cell, or the cells of header-named columns),
`zeek` (Zeek TSV with its `#fields` header), `zeek-json` (Zeek JSON lines, same field names) and
`text` (anything else: addresses, names, URLs, e-mail addresses and hashes found by a regex).
gzip input is unpacked on the fly.

Throughput comes from working a chunk (~1 MiB) of lines at a time: the chunk's values go into a set
(duplicates are the rule in logs), only values not seen before go to the matcher, and lines are
walked again to place hits only when the chunk has any. Lines that cannot be read (not UTF-8,
broken JSON, overlong) are counted and listed with their line numbers; they never stop the run.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import compress, count, filterfalse
from operator import itemgetter, methodcaller
from typing import Any, BinaryIO, cast

import orjson

from accord.errors import InvalidInput
from accord.intel.matcher import Hit, Matcher

__all__ = ["FORMATS", "Summary", "candidates", "detect_format", "match_stream"]

FORMATS = ("values", "csv", "zeek", "zeek-json", "text")
CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 4 << 20
MAX_LISTED = 100  # unreadable lines listed by number in a summary (all are counted)
MAX_SEEN = 1 << 20  # values remembered as checked (without hits) before that memory is cleared

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# Zeek fields worth checking besides those typed addr / set[addr] / vector[addr].
_ZEEK_STRING_FIELDS = frozenset(
    {
        "query",  # dns
        "answers",
        "host",  # http (a string there; an addr in software.log and known_*.log)
        "uri",  # http: checked as http://host/uri
        "referrer",
        "server_name",  # ssl SNI
        "helo",  # smtp
        "mailfrom",
        "rcptto",
        "md5",  # files, pe
        "sha1",
        "sha256",
        "fingerprint",  # x509
        "cert_chain_fps",  # ssl
        "client_cert_chain_fps",
        "san.dns",
        "san.uri",
        "san.email",
        "seen.indicator",  # intel
    }
)
# Without a #types line (and in JSON), these names are taken as addresses.
_ZEEK_ADDR_FIELDS = frozenset(
    {
        "id.orig_h",
        "id.resp_h",
        "src",
        "dst",
        "tx_hosts",
        "rx_hosts",
        "x_originating_ip",
        "path",
        "san.ip",
        "client_addr",
        "server_addr",
        "assigned_addr",
        "requested_addr",
        "remote_ip",
    }
)
_ZEEK_JSON_FIELDS = _ZEEK_STRING_FIELDS | _ZEEK_ADDR_FIELDS | {"host"}
_ZEEK_JSON_KEYS = ("_path", "uid", "id.orig_h", "id", "fuid")
_ADDR_TYPES = frozenset({"addr", "set[addr]", "vector[addr]"})
_URI_FIELD = "uri"
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_ZEEK_VECTORS = frozenset(
    {
        "answers",
        "tx_hosts",
        "rx_hosts",
        "path",
        "san.ip",
        "san.dns",
        "san.uri",
        "san.email",
        "cert_chain_fps",
        "client_cert_chain_fps",
        "rcptto",
    }
)

_NAME_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_ -]*")
_HEX_HASH = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}")
_DELIMITERS = (",", ";", "\t", "|")

# Free text: URLs first (so their hosts are not taken alone), then e-mail, IPv6, IPv4, hashes, names.
# Dots and '@' may be defanged ("evil[.]com", "x[at]evil.com"); the matcher refangs what it is given.
_DOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\])"
_TEXT_RE = re.compile(
    rf"""
    \b[A-Za-z][A-Za-z0-9+.-]{{1,15}}(?:://|\[:\]//|\[://\])[^\s"'<>`{{}}|\\^]+
  | \b[A-Za-z0-9._%+-]{{1,64}}(?:@|\[at\]|\(at\)|\[@\])
      (?:[A-Za-z0-9_-]{{1,63}}{_DOT})+[A-Za-z][A-Za-z0-9-]{{0,62}}\b
  | (?<![\w:.])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{{1,4}}:){{7}})
      [0-9A-Fa-f:]{{2,39}}(?:(?<=:)\d{{1,3}}(?:\.\d{{1,3}}){{3}})?(?![\w:])
  | (?<![\w.])(?:\d{{1,3}}{_DOT}){{3}}\d{{1,3}}(?!\.?\d)(?!\w)
  | \b(?:[0-9A-Fa-f]{{128}}|[0-9A-Fa-f]{{64}}|[0-9A-Fa-f]{{40}}|[0-9A-Fa-f]{{32}})\b
  | \b(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{{0,61}}[A-Za-z0-9])?{_DOT})+[A-Za-z][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]\b
    """,
    re.VERBOSE,
)
_URL_TRAILING = ".,;:!?)]'\""


@dataclass
class Summary:
    """What a run read and found; complete once the iterator of hits is exhausted."""

    format: str = ""
    lines: int = 0
    values: int = 0  # candidate values read (each occurrence)
    hits: int = 0  # hits reported
    hits_by_kind: dict[str, int] = field(default_factory=dict)
    benign: int = 0  # hits suppressed as known-benign
    benign_by_list: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    unreadable_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, why), the first 100

    def unreadable_line(self, line: int, why: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_lines) < MAX_LISTED:
            self.unreadable_lines.append((line, why))

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "lines": self.lines,
            "values": self.values,
            "hits": self.hits,
            "hits_by_kind": dict(self.hits_by_kind),
            "benign": self.benign,
            "benign_by_list": dict(self.benign_by_list),
            "unreadable": self.unreadable,
            "unreadable_lines": [{"line": n, "reason": why} for n, why in self.unreadable_lines],
        }


# ------------------------------------------------------------------------------------------ detection


def detect_format(head: bytes) -> str:
    """The format of a log from its first bytes (uncompressed): values, csv, zeek, zeek-json or text."""
    head = head.removeprefix(_BOM)
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()  # a partial last line says little
    sample = [line.rstrip("\r") for line in lines if line.strip()][:100]
    if not sample:
        return "values"
    if sample[0].startswith("#separator") or any(line.startswith("#fields") for line in sample):
        return "zeek"
    if sample[0].lstrip().startswith("{"):
        try:
            first = orjson.loads(sample[0])
        except orjson.JSONDecodeError:
            return "text"
        if isinstance(first, dict) and any(key in first for key in _ZEEK_JSON_KEYS):
            return "zeek-json"
        return "text"
    data = [line for line in sample if not line.lstrip().startswith("#")]
    if len(data) > 1 and _delimiter(data) is not None:
        return "csv"
    if data and sum(len(line.split()) == 1 for line in data) >= 0.9 * len(data):
        return "values"
    if _delimiter(data) is not None:
        return "csv"
    return "text"


def _delimiter(lines: list[str]) -> str | None:
    """The delimiter splitting (nearly) every sample line into the same 2+ columns, if any."""
    if not lines:
        return None
    for delimiter in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        columns = max(set(counts), key=counts.count)
        if columns >= 2 and counts.count(columns) >= 0.9 * len(counts):
            return delimiter
    return None


# ---------------------------------------------------------------------------------------------- lines


class _Prefixed:
    """A binary stream with some already-read bytes put back in front (for gzip on stdin)."""

    def __init__(self, head: bytes, fp: BinaryIO) -> None:
        self.head, self.fp = head, fp

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.fp.read(size)
        if size < 0:
            data, self.head = self.head + self.fp.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data if len(data) == size else data + self.fp.read(size - len(data))


def _read_up_to(fp: Any, size: int) -> bytes:
    """`size` bytes, fewer only at the end (pipes and raw streams may give less per read)."""
    data: bytes = fp.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    while size > len(data):
        size -= len(data)
        data = fp.read(size)
        if not data:
            break
        parts.append(data)
    return b"".join(parts)


class _Chunk:
    """A run of lines: the number of the first, and the text (None if some line is not UTF-8: then
    only `lines`, with None for each unreadable line)."""

    __slots__ = ("_lines", "first", "text")

    def __init__(self, first: int, text: str | None, lines: list[str | None] | None = None) -> None:
        self.first, self.text, self._lines = first, text, lines

    @property
    def lines(self) -> list[str | None]:
        if self._lines is None:
            assert self.text is not None
            self._lines = self.text.split("\n")  # type: ignore[assignment]
        return self._lines  # type: ignore[return-value]


class _Reader:
    """Decoded lines of a (possibly gzipped) binary stream, a chunk at a time, with line numbers."""

    def __init__(self, fp: BinaryIO, summary: Summary) -> None:
        self.summary = summary
        self.broken: str | None = None
        head = _read_up_to(fp, CHUNK_BYTES)
        self.gzip = head.startswith(_GZIP_MAGIC)
        if self.gzip:
            self.fp: Any = gzip.GzipFile(fileobj=cast(Any, _Prefixed(head, fp)), mode="rb")
            head = self._read()
        else:
            self.fp = fp
        if head.startswith(_UTF16_BOMS):
            raise InvalidInput("input is UTF-16; convert it to UTF-8", line=1)
        self.head = head.removeprefix(_BOM)

    def _read(self) -> bytes:
        if not self.gzip:
            return _read_up_to(self.fp, CHUNK_BYTES)
        parts: list[bytes] = []
        size = 0
        try:  # read1 keeps what was unpacked before a break in the compressed data
            while size < CHUNK_BYTES and not self.broken:
                part = self.fp.read1(CHUNK_BYTES - size)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (OSError, EOFError, zlib.error) as e:
            self.broken = f"compressed input is broken here ({e}); the rest is not read"
        return b"".join(parts)

    def chunks(self) -> Iterator[_Chunk]:
        summary = self.summary
        pending, data, skipping = b"", self.head, False
        self.head = b""
        while data:
            if skipping:  # the rest of an overlong line
                end = data.find(b"\n")
                if end < 0:
                    data = self._read()
                    continue
                summary.lines += 1
                data, skipping = data[end + 1 :], False
            block = pending + data
            cut = block.rfind(b"\n")
            if cut < 0:
                pending = block
            else:
                pending = block[cut + 1 :]
                yield self._decode(block[:cut])
            if len(pending) > MAX_LINE_BYTES:
                summary.unreadable_line(summary.lines + 1, f"line is longer than {MAX_LINE_BYTES:,} bytes")
                pending, skipping = b"", True
            data = self._read()
        if self.broken:  # a line cut short by the break is not used
            summary.unreadable_line(summary.lines + 1, self.broken)
            summary.lines += bool(pending or skipping)
        elif skipping:
            summary.lines += 1
        elif pending:
            yield self._decode(pending)

    def _decode(self, block: bytes) -> _Chunk:
        first = self.summary.lines + 1
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            lines: list[str | None] = []
            for number, raw in enumerate(block.split(b"\n"), first):
                try:
                    lines.append(raw.decode("utf-8").removesuffix("\r"))
                except UnicodeDecodeError as e:
                    self.summary.unreadable_line(number, f"not valid UTF-8 (byte {e.start + 1}: {e.reason})")
                    lines.append(None)
            self.summary.lines += len(lines)
            return _Chunk(first, None, lines)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        self.summary.lines += text.count("\n") + 1
        return _Chunk(first, text)


# -------------------------------------------------------------------------------------------- batches


class _Batch:
    """The candidate values of a run of lines: the distinct values, and where each one is."""

    def values(self) -> dict[str, None]:
        """The distinct values, in the order first met (which keeps memory access in order)."""
        raise NotImplementedError

    def count(self) -> int:
        """Candidate values, each occurrence."""
        raise NotImplementedError

    def items(self) -> Iterator[tuple[int, str | None, str]]:
        """(line, field, value) of every candidate, in line order."""
        raise NotImplementedError

    def locate(self, wanted: AbstractSet[str]) -> Iterator[tuple[int, str | None, str]]:
        """`items` restricted to wanted values."""
        return (item for item in self.items() if item[2] in wanted)


class _Triples(_Batch):
    def __init__(self, items: list[tuple[int, str | None, str]]) -> None:
        self._items = items

    def values(self) -> dict[str, None]:
        return dict.fromkeys(map(itemgetter(2), self._items))

    def count(self) -> int:
        return len(self._items)

    def items(self) -> Iterator[tuple[int, str | None, str]]:
        return iter(self._items)


class _Columns(_Batch):
    """Candidate values by column, one entry per row (C-speed list and set operations on them).

    `numbers` gives each row's line; a vector column holds `sep`-joined values; `skip` holds the
    placeholders for "no value" (Zeek's unset and empty markers, or "" for skipped lines).
    """

    def __init__(
        self,
        numbers: range | list[int],
        cols: list[tuple[str | None, bool, list[str]]],
        sep: str = ",",
        skip: tuple[str, ...] = ("",),
    ) -> None:
        self.numbers, self.cols, self.sep, self.skip = numbers, cols, sep, skip
        self._parts: dict[str, list[str]] | None = None  # vector values holding several, split once

    def values(self) -> dict[str, None]:
        sep = self.sep
        parts = self._parts = {}
        out: dict[str, None] = {}
        for _name, vector, col in self.cols:
            if not vector:
                out.update(dict.fromkeys(col))
                continue
            for v in dict.fromkeys(col):
                if sep in v:
                    parts[v] = v.split(sep)
                    out.update(dict.fromkeys(parts[v]))
                else:
                    out[v] = None
        for placeholder in self.skip:
            out.pop(placeholder, None)
        return out

    def count(self) -> int:
        n = 0
        for _name, vector, col in self.cols:
            n += len(col) - sum(map(col.count, self.skip))
            if vector and col:
                n += self.sep.join(col).count(self.sep) - (len(col) - 1)
        return n

    def items(self) -> Iterator[tuple[int, str | None, str]]:
        return self._walk(None)

    def locate(self, wanted: AbstractSet[str]) -> Iterator[tuple[int, str | None, str]]:
        return self._walk(wanted)

    def _walk(self, wanted: AbstractSet[str] | None) -> Iterator[tuple[int, str | None, str]]:
        skip = self.skip
        if self._parts is None:
            self.values()
        parts = self._parts or {}
        found: list[tuple[int, int, str | None, str]] = []
        for order, (name, vector, col) in enumerate(self.cols):
            if wanted is None:
                holding: Collection[str] = {v for v in set(col) if v not in skip}
            elif vector:
                holding = {
                    v for v in set(col) if v in wanted or (v in parts and not wanted.isdisjoint(parts[v]))
                }
            elif len(self.cols) > 1 and wanted.isdisjoint(col):
                continue
            else:
                holding = wanted
            # The rows holding a wanted value, found at C speed.
            for i in compress(count(), map(holding.__contains__, col)):
                v = col[i]
                if vector and v in parts:
                    found.extend(
                        (i, order, name, e)
                        for e in parts[v]
                        if (e in wanted if wanted is not None else e not in skip)
                    )
                else:
                    found.append((i, order, name, v))
        found.sort(key=itemgetter(0, 1))
        numbers = self.numbers
        return ((numbers[i], name, v) for i, _order, name, v in found)


@dataclass
class _Column:
    name: str
    index: int
    vector: bool


@dataclass
class _Plan:
    """Which fields of a Zeek TSV log to check, from its header lines."""

    sep: str = "\t"
    set_sep: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    columns: list[_Column] = field(default_factory=list)
    uri: tuple[int, int] | None = None  # (host index, uri index) of an http log
    width: int = 0  # fields a row needs for every planned column

    def build(self, only: Collection[str] | None) -> None:
        types = self.types if len(self.types) == len(self.fields) else [""] * len(self.fields)
        self.columns, self.uri = [], None
        for i, (name, type_) in enumerate(zip(self.fields, types, strict=True)):
            if only is not None:
                wanted = name in only
            elif type_:
                wanted = type_ in _ADDR_TYPES or (name in _ZEEK_STRING_FIELDS and type_ != "subnet")
            else:
                wanted = name in _ZEEK_STRING_FIELDS or name in _ZEEK_ADDR_FIELDS
            if wanted and name != _URI_FIELD:
                vector = type_.startswith(("set[", "vector[")) or (not type_ and name in _ZEEK_VECTORS)
                self.columns.append(_Column(name, i, vector))
        if only is None or _URI_FIELD in only:
            names = {name: i for i, name in enumerate(self.fields)}
            if "host" in names and _URI_FIELD in names:
                self.uri = (names["host"], names[_URI_FIELD])
        used = [c.index for c in self.columns] + list(self.uri or ())
        self.width = max(used, default=-1) + 1

    def batch(self, numbers: range | list[int], column: Callable[[int], list[str]]) -> _Columns:
        """The planned columns (`column(i)` gives field i of every row) as a batch."""
        cols: list[tuple[str | None, bool, list[str]]] = [
            (c.name, c.vector, column(c.index)) for c in self.columns
        ]
        if self.uri is not None:
            cols.append((_URI_FIELD, False, self._urls(column(self.uri[0]), column(self.uri[1]))))
        return _Columns(numbers, cols, self.set_sep, (self.unset, self.empty, ""))

    def _urls(self, hosts: list[str], uris: list[str]) -> list[str]:
        """http.log's host and uri as one URL (an absolute uri, from a proxy request, as it is)."""
        unset = self.unset
        missing = (unset, self.empty)
        return [
            unset
            if uri in missing
            else uri
            if "://" in uri
            else unset
            if host in missing
            else f"http://{host}{uri}"
            for host, uri in zip(hosts, uris, strict=True)
        ]


def _zeek_separator(raw: str) -> str | None:
    """The character a '#separator' line names, as Zeek writes it ('\\x09'; a tab when empty), or
    None if it names none."""
    if not raw:
        return "\t"
    escaped = _HEX_ESCAPE.fullmatch(raw)
    sep = chr(int(escaped[1], 16)) if escaped else raw
    return sep if len(sep) == 1 and sep not in "\\\r\n" else None


def _zeek_header(line: str, plan: _Plan, only: Collection[str] | None, number: int, summary: Summary) -> bool:
    """Apply one '#' line; True for the #fields line. A bad separator is reported, the last kept."""
    if line.startswith("#separator"):
        raw = line[len("#separator") :].strip()
        sep = _zeek_separator(raw)
        if sep is None:
            summary.unreadable_line(number, f"#separator {raw!r} is not one character; kept {plan.sep!r}")
        else:
            plan.sep = sep
        return False
    key, _, rest = line.partition(plan.sep)
    if key == "#set_separator":
        plan.set_sep = rest
    elif key == "#empty_field":
        plan.empty = rest
    elif key == "#unset_field":
        plan.unset = rest
    elif key == "#fields":
        plan.fields, plan.types = rest.split(plan.sep), []
        plan.build(only)
        return True
    elif key == "#types":
        plan.types = rest.split(plan.sep)
        plan.build(only)
    return False


def _zeek_batches(
    chunks: Iterable[_Chunk], summary: Summary, only: Collection[str] | None
) -> Iterator[_Batch]:
    plan = _Plan()
    have_fields = False
    for chunk in chunks:
        text = chunk.text
        if have_fields and text is not None and text[:1] != "#" and "\n#" not in text:
            batch = _zeek_flat(chunk.first, text, plan)
            if batch is not None:
                yield batch
                continue
        first, lines = chunk.first, chunk.lines
        start = 0  # lines[start:i] is a run of data lines under one header
        for i, line in enumerate(lines):
            if line is None or line[:1] != "#":
                continue
            if i > start:
                yield from _zeek_run(first + start, lines[start:i], plan, have_fields, summary)
            have_fields = _zeek_header(line, plan, only, first + i, summary) or have_fields
            start = i + 1
        if start < len(lines):
            yield from _zeek_run(first + start, lines[start:], plan, have_fields, summary)


def _zeek_flat(first: int, text: str, plan: _Plan) -> _Columns | None:
    """A run of data lines split in one go: with a marker field between lines, field j of every row
    is `flat[j::stride]`. None when some line has more or fewer fields than the header."""
    if not plan.width:
        return None
    n, sep = len(plan.fields), plan.sep
    lines = text.count("\n") + 1
    flat = text.replace("\n", f"{sep}\n{sep}").split(sep)
    stride = n + 1
    if len(flat) != lines * stride - 1 or flat[n::stride].count("\n") != lines - 1:
        return None
    return plan.batch(range(first, first + lines), lambda j: flat[j::stride])


def _zeek_run(
    first: int, lines: list[str | None], plan: _Plan, have_fields: bool, summary: Summary
) -> Iterator[_Batch]:
    if not have_fields:
        for number, line in enumerate(lines, first):
            if line:
                summary.unreadable_line(number, 'Zeek data before any "#fields" header')
        return
    if not plan.width:
        return
    if None not in lines:
        batch = _zeek_flat(first, "\n".join(lines), plan)  # type: ignore[arg-type]
        if batch is not None:
            yield batch
            return
    # Blank, unreadable or short lines: keep the others (short ones padded with unset fields).
    rows, numbers = [], []
    for number, line in enumerate(lines, first):
        if line:
            row = line.split(plan.sep)
            if len(row) < plan.width:
                row += [plan.unset] * (plan.width - len(row))
            rows.append(row)
            numbers.append(number)
    if rows:
        yield plan.batch(numbers, lambda j: list(map(itemgetter(j), rows)))


_VECTOR_SEP = "\x1e"
_ASCII_SPACE = " \t\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip takes off, in ASCII (\r is gone already)


def _json_batches(
    chunks: Iterable[_Chunk], summary: Summary, only: Collection[str] | None
) -> Iterator[_Batch]:
    wanted = frozenset(only) if only is not None else _ZEEK_JSON_FIELDS
    for chunk in chunks:
        numbers, records = _json_records(chunk, summary)
        if not records:
            continue
        if dict in set(map(type, map(methodcaller("get", "id"), records))):  # {"id": {"orig_h": ...}}
            records = [
                {**r, **{f"id.{k}": v for k, v in r["id"].items()}} if isinstance(r.get("id"), dict) else r
                for r in records
            ]
        present = wanted.intersection(set().union(*records))
        cols: list[tuple[str | None, bool, list[str]]] = []
        for key in sorted(present - {_URI_FIELD}):
            col = list(map(methodcaller("get", key), records))
            if set(map(type, col)) == {str}:
                cols.append((key, False, col))
            else:  # lists (joined), and absent or non-text values (as "")
                cols.append((key, True, [v if type(v) is str else _json_text(v) for v in col]))
        if "uri" in present and (only is None or "uri" in only):
            cols.append((_URI_FIELD, False, [_json_url(r) for r in records]))
        yield _Columns(numbers, cols, _VECTOR_SEP, ("",))


def _json_records(chunk: _Chunk, summary: Summary) -> tuple[range | list[int], list[dict[str, Any]]]:
    """The chunk's JSON objects and their line numbers, parsed in one call when every line is good."""
    text, first = chunk.text, chunk.first
    if text is not None:
        try:
            records = orjson.loads("[" + text.replace("\n", ",") + "]")
        except orjson.JSONDecodeError:
            pass
        else:
            if len(records) == text.count("\n") + 1 and all(type(r) is dict for r in records):
                return range(first, first + len(records)), records
    numbers: list[int] = []
    records = []
    for number, line in enumerate(chunk.lines, first):
        if line is None or not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            summary.unreadable_line(number, f"not valid JSON ({e})")
            continue
        if not isinstance(record, dict):
            summary.unreadable_line(number, "not a JSON object")
            continue
        numbers.append(number)
        records.append(record)
    return numbers, records


def _json_text(value: Any) -> str:
    """A JSON field as one candidate string, lists joined with a separator ("" for other types)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _VECTOR_SEP.join(v for v in value if isinstance(v, str))
    return ""


def _json_url(record: dict[str, Any]) -> str:
    uri, host = record.get("uri"), record.get("host")
    if not isinstance(uri, str) or not uri:
        return ""
    if "://" in uri:
        return uri
    return f"http://{host}{uri}" if isinstance(host, str) and host else ""


def _values_batches(chunks: Iterable[_Chunk]) -> Iterator[_Batch]:
    for chunk in chunks:
        lines = chunk.lines
        if chunk.text is None:
            lines = ["" if line is None else line for line in lines]
        text = chunk.text
        if text is not None and text.isascii() and not any(space in text for space in _ASCII_SPACE):
            values: list[str] = lines  # type: ignore[assignment]
        else:
            values = list(map(str.strip, lines))  # type: ignore[arg-type]
        if text is None or "#" in text:
            values = ["" if v[:1] == "#" else v for v in values]  # comments
        yield _Columns(range(chunk.first, chunk.first + len(values)), [(None, False, values)])


def _text_batches(chunks: Iterable[_Chunk]) -> Iterator[_Batch]:
    findall = _TEXT_RE.findall
    for chunk in chunks:
        items: list[tuple[int, str | None, str]] = []
        for number, line in enumerate(chunk.lines, chunk.first):
            if line:
                for value in findall(line):
                    if "://" in value:
                        value = value.rstrip(_URL_TRAILING)
                    items.append((number, None, value))
        yield _Triples(items)


def _csv_batches(
    chunks: Iterable[_Chunk], summary: Summary, only: Collection[str] | None, head: bytes
) -> Iterator[_Batch]:
    sample = [line for line in head.decode("utf-8", "replace").split("\n")[:100] if line.strip()]
    delimiter = _delimiter([line for line in sample if not line.lstrip().startswith("#")]) or ","
    where = {"line": 0}

    def physical() -> Iterator[str]:
        for chunk in chunks:
            for number, line in enumerate(chunk.lines, chunk.first):
                where["line"] = number
                if line is not None:
                    yield line

    reader = csv.reader(physical(), delimiter=delimiter, skipinitialspace=True)
    names: list[str] | None = None
    keep: list[int] | None = None
    started = False
    items: list[tuple[int, str | None, str]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            summary.unreadable_line(where["line"], f"not valid CSV ({e})")
            continue
        number = where["line"]
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if not started:
            started = True
            names, keep = _csv_header(row, only, number)
            if names is not None:
                continue
        for i in keep if keep is not None else range(len(row)):
            value = row[i].strip() if i < len(row) else ""
            if value:
                items.append((number, names[i] if names and i < len(names) else f"column {i + 1}", value))
        if len(items) >= 20000:
            yield _Triples(items)
            items = []
    if items:
        yield _Triples(items)


def _csv_header(
    row: list[str], only: Collection[str] | None, line: int
) -> tuple[list[str] | None, list[int] | None]:
    """(the header's names or None, the positions of the columns to read or None for all)."""
    cells = [cell.strip() for cell in row]
    is_header = all(_NAME_LIKE.fullmatch(c) and not _HEX_HASH.fullmatch(c) for c in cells)
    if only is None:
        return (cells if is_header else None), None
    if not is_header:
        raise InvalidInput("columns were named but the CSV has no header row", line=line)
    lower = {c.lower(): i for i, c in enumerate(cells)}
    missing = [name for name in only if name.lower() not in lower]
    if missing:
        raise InvalidInput(
            f"no column {', '.join(map(repr, missing))} in the header (it has {', '.join(cells)})", line=line
        )
    return cells, sorted(lower[name.lower()] for name in only)


def _batches(
    reader: _Reader, fmt: str, summary: Summary, columns: Collection[str] | None
) -> Iterator[_Batch]:
    if fmt == "auto":
        fmt = detect_format(reader.head)
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unknown log format {fmt!r} (use auto or one of {', '.join(FORMATS)})", field="format"
        )
    if columns is not None and fmt not in ("csv", "zeek", "zeek-json"):
        raise InvalidInput(f"columns can only be named for csv and Zeek logs, not {fmt}", field="columns")
    summary.format = fmt
    only = frozenset(columns) if columns is not None else None
    head = reader.head
    chunks = reader.chunks()
    if fmt == "zeek":
        return _zeek_batches(chunks, summary, only)
    if fmt == "zeek-json":
        return _json_batches(chunks, summary, only)
    if fmt == "csv":
        return _csv_batches(chunks, summary, only, head)
    if fmt == "values":
        return _values_batches(chunks)
    return _text_batches(chunks)


# ------------------------------------------------------------------------------------------------ API


def candidates(
    fp: BinaryIO, fmt: str = "auto", *, columns: Collection[str] | None = None, summary: Summary | None = None
) -> Iterator[tuple[int, str]]:
    """(line number, candidate value) for every value the format offers, in line order (a CSV row
    spanning lines by a quoted line break counts as its last line). `summary` gets the counts."""
    summary = summary if summary is not None else Summary()
    for batch in _batches(_Reader(fp, summary), fmt, summary, columns):
        summary.values += batch.count()
        for number, _field, value in batch.items():
            yield number, value


_OBSERVED_KIND = {"domain": "domain", "url": "url"}
_HASH_KIND = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


def _observed_kind(hit: Hit) -> str:
    """The observable kind (ipv4, domain, md5, ...) of the part of the input that made a hit."""
    kind = _OBSERVED_KIND.get(hit.kind)
    if kind is not None:
        return kind
    if hit.kind == "hash":
        return _HASH_KIND.get(len(hit.observed), "sha256")
    if "@" in hit.observed:
        return "email"
    return "ipv6" if ":" in hit.observed else "ipv4"


def match_stream(
    matcher: Matcher,
    fp: BinaryIO,
    fmt: str = "auto",
    benign: Callable[[str, str], str | None] | None = None,
    *,
    columns: Collection[str] | None = None,
    summary: Summary | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per hit, in line order: input, line, kind, indicator_id, matched, observed (+ field
    for csv and Zeek). `benign(kind, value)` is asked about each hit's observed value (normalised,
    with its observable kind) once per distinct value; a non-None answer (a list name) suppresses
    the hit and is counted. Pass a `Summary` to get the counts; it is complete at the end.
    Raises InvalidInput for an unknown format, UTF-16 input, or `columns` a CSV header lacks."""
    summary = summary if summary is not None else Summary()
    with_field = False
    known: dict[str, list[Hit]] = {}  # values with hits (few), kept for the whole stream
    seen: set[str] = set()  # values checked without hits
    verdicts: dict[tuple[str, str], str | None] = {}
    by_kind = summary.hits_by_kind
    remember = True  # whether remembering checked values pays (it does when they repeat, as in logs)
    for number_of_batch, batch in enumerate(_batches(_Reader(fp, summary), fmt, summary, columns)):
        with_field = summary.format in ("csv", "zeek", "zeek-json")
        summary.values += batch.count()
        values = batch.values()
        # The values not checked before, kept in the order met: a set's order would scatter memory
        # access over the whole chunk. Set operations run at C speed over the smaller side.
        wanted = values.keys() & known.keys()
        fresh = values.copy()
        for value in wanted:
            del fresh[value]
        if seen:
            before = values.keys() & seen
            for value in before:
                del fresh[value]
            remember = len(before) * 20 >= len(values)  # 5% or more were seen before
        if fresh:
            found = matcher.match_values(fresh)
            known.update(found)
            wanted.update(found)
            if not remember or len(seen) > MAX_SEEN:
                seen.clear()
            if remember or number_of_batch % 16 == 0:  # now and then, see whether values repeat again
                seen.update(filterfalse(found.__contains__, fresh))
        if not wanted:
            continue
        for number, field_name, value in batch.locate(wanted):
            for hit in known[value]:
                if benign is not None:
                    key = (_observed_kind(hit), hit.observed)
                    if key not in verdicts:
                        verdicts[key] = benign(*key)
                    reason = verdicts[key]
                    if reason is not None:
                        summary.benign += 1
                        summary.benign_by_list[reason] = summary.benign_by_list.get(reason, 0) + 1
                        continue
                summary.hits += 1
                by_kind[hit.kind] = by_kind.get(hit.kind, 0) + 1
                out = {
                    "input": hit.input,
                    "line": number,
                    "kind": hit.kind,
                    "indicator_id": hit.indicator_id,
                    "matched": hit.matched,
                    "observed": hit.observed,
                }
                if with_field:
                    out["field"] = field_name
                yield out
