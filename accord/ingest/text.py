"""Plain-text IOC lists: one value per line, as feeds and reports publish them.

Each line gives one value, refanged (`hxxp`, `[.]`, `[at]`, `(dot)`) and normalised with its kind
inferred; the value becomes one indicator. What real feeds do is taken as they mean it:
- comments: lines starting with `#`, `//` or `;`, and a trailing ` # ...` (its text is kept in the
  description: maltrail writes `5.63.151.0/24 # scanners.labs.rapid7.com`);
- extra whitespace-separated columns: the first token is the value, the rest is noted in the
  description (ipsum's `1.2.3.4<TAB>7` is "seen on 7 lists"; it is not turned into a confidence,
  because what a count means differs from feed to feed);
- hosts-file lines (`0.0.0.0 evil.example`): the name, not the sink address;
- `ip:port` / `host:port`: the host, the port noted in the description;
- `domain/path` without a scheme: the URL with `http://`;
- a leading `*.` or `.` on a domain (a wildcard for its subdomains): the domain.
Lines that give no usable value become `Skipped` with the line and the reason; a value seen on an
earlier line is `Skipped` as a duplicate. Line numbers are physical lines (1-based) and are also
the index of each emitted object.

`Lines` (the line reader) is shared with the CSV importer: it bounds memory by the longest line it
accepts, so a multi-GB list streams in constant memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from accord.errors import InvalidInput
from accord.ingest import ImportOptions, Item, Skipped, as_parsed, indicator_for, problem
from accord.intel.observables import Observable, normalise, refang

__all__ = ["MAX_LINE_BYTES", "Lines", "describe", "parse_value", "read"]

MAX_LINE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_COMMENT_STARTS = ("#", "//", ";")
_TRAILING_COMMENT = re.compile(r"\s#(.*)$")
# Addresses hosts files point blocked names at: the name is the value, not the sink.
_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0"})  # noqa: S104 - data, not a bind
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):([0-9]{1,5})")
_HOST_KINDS = frozenset({"ipv4", "ipv6", "domain"})


class Lines:
    """The physical lines of a binary stream, decoded as UTF-8, without their line ends.

    Iterating yields each line's text; `number` is its 1-based line number and `problem` says why
    it is unusable (not UTF-8, longer than `max_bytes`), else None. A UTF-8 byte order mark is
    dropped; UTF-16 input raises InvalidInput (line 1). Memory is bounded by `max_bytes`: the rest
    of an overlong line is read and dropped in pieces.
    """

    def __init__(self, fp: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.fp = fp
        self.max_bytes = max_bytes
        self.number = 0
        self.problem: str | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        data = self.fp.readline(self.max_bytes)
        if not data:
            raise StopIteration
        self.number += 1
        self.problem = None
        if self.number == 1:
            if data.startswith(_UTF16_BOMS):
                raise InvalidInput("input is UTF-16; convert it to UTF-8", line=1)
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        if not data.endswith(b"\n") and len(data) >= self.max_bytes:
            while (more := self.fp.readline(self.max_bytes)) and not more.endswith(b"\n"):
                pass
            self.problem = f"line is longer than {self.max_bytes} bytes"
            return ""
        data = data.rstrip(b"\r\n")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.problem = f"line is not valid UTF-8 (byte {e.start + 1} of the line: {e.reason})"
            return data.decode("utf-8", "replace")


def describe(options: ImportOptions, *notes: str) -> str | None:
    """An imported indicator's description: where it came from, and what its line said besides."""
    parts = [f"From {options.source}"] if options.source else []
    parts.extend(note for note in notes if note)
    return "; ".join(parts) or None


def _strip_wildcard(value: str) -> str:
    if value.startswith("*."):
        return value[2:]
    if value.startswith(".") and len(value) > 1:
        return value[1:]
    return value


def _host(text: str) -> Observable | None:
    """`text` as a host (IP address or domain name), or None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        o = normalise(text)
    except InvalidInput:
        return None
    return o if o.kind in _HOST_KINDS and o.ip_lo == o.ip_hi else None


def parse_value(token: str) -> tuple[Observable, list[str]]:
    """One feed value (already split from its line) -> (observable, notes for the description).

    Raises InvalidInput saying why the value is unusable.
    """
    value = _strip_wildcard(refang(token))
    if value.startswith("/"):
        raise InvalidInput(f"{token!r} is a URL path without a host")
    try:
        return normalise(value), []
    except InvalidInput as first:
        if "://" not in value:
            m = _HOST_PORT.fullmatch(value)
            if m is not None:
                host = _host(m.group(1))
                if host is not None:
                    return host, [f"port {int(m.group(2))}"]
            head, slash, _ = value.partition("/")
            if slash:
                with_port = _HOST_PORT.fullmatch(head)
                if _host(with_port.group(1) if with_port else head) is not None:
                    return normalise(value, "url"), []
        raise first from None


def _parse_line(text: str) -> tuple[Observable, list[str]] | None:
    """None for a blank or comment line; raises InvalidInput for an unusable one."""
    s = text.strip()
    if not s or s.startswith(_COMMENT_STARTS):
        return None
    notes: list[str] = []
    m = _TRAILING_COMMENT.search(s)
    if m is not None:
        s = s[: m.start()].rstrip()
        comment = m.group(1).strip()
        if comment:
            notes.append(comment)
    tokens = s.split()
    if len(tokens) > 1 and tokens[0] in _SINKS:
        tokens = tokens[1:]
    try:
        o, value_notes = parse_value(tokens[0])
    except InvalidInput as e:
        if len(tokens) == 1:
            raise
        raise InvalidInput(f"{e.detail} (the first word of {s[:80]!r})") from None
    if len(tokens) > 1:
        value_notes.append("extra columns: " + " ".join(tokens[1:]))
    return o, value_notes + notes


def read(fp: BinaryIO, options: ImportOptions) -> Iterator[Item]:
    """Indicators from a text list, one per line; see the module docstring for the line forms."""
    seen: dict[tuple[str, str], int] = {}
    lines = Lines(fp)
    try:
        for text in lines:
            n = lines.number
            if lines.problem is not None:
                yield Skipped({"line": n}, lines.problem)
                continue
            try:
                parsed = _parse_line(text)
            except InvalidInput as e:
                yield Skipped({"line": n}, e.detail)
                continue
            if parsed is None:
                continue
            o, notes = parsed
            key = (o.kind, o.value)
            first = seen.setdefault(key, n)
            if first != n:
                yield Skipped({"line": n}, f"duplicate of line {first} ({o.value})")
                continue
            yield as_parsed(n, indicator_for(o, options, description=describe(options, *notes)))
    except InvalidInput as e:
        yield problem(e.detail, **e.where)
