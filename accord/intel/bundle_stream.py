"""Stream the objects of a STIX bundle of any size with memory bounded by its largest object.

`iter_bundle(fp)` yields `(index, object, raw_text)` for each element of the bundle's `objects`
array, reading `fp` a chunk at a time. It also accepts a single top-level STIX object (yielded as
index 0) and a top-level JSON array of objects.

How: a text buffer and the C-accelerated scanner of the standard `json` module, decoding one value at
a time from a position in the buffer. When a value runs past the end of the buffer the decoder fails
the way it fails on malformed JSON, so a failure near the end of the buffer (or an unterminated
string) before end of input means "read more and retry", with the read size doubling so that a huge
object costs linear time, not quadratic; at end of input, or far from the buffer's end, it is a real
error. Consumed text is dropped when more is read, so the buffer holds the current object plus at
most a chunk or so.

Errors are `InvalidInput` with `line` and `column` (1-based, in characters) and `object` (`#index`)
when inside the objects array; undecodable UTF-8 is reported with its `byte` offset.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Protocol, TextIO, cast

from accord.errors import InvalidInput
from accord.intel.validate import id_problem, json_type

__all__ = ["SupportsRead", "decode_object", "iter_bundle", "object_members"]


class SupportsRead(Protocol):
    """Anything with `read(size)` returning str or bytes: files, spooled uploads, wrappers."""

    def read(self, size: int = ..., /) -> str | bytes: ...


# Always matches (possibly empty), hence the cast.
_ws_end = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
# The C scanner behind `raw_decode`, called directly to save a Python frame per object.
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_object(raw: str) -> Any:
    """An object's raw text (as `iter_bundle` gave it) decoded again to exactly what the stream
    gave, by the same decoder. Not orjson: quicker, but it turns integers beyond 64 bits into
    floats, and so would change the object and its content hash."""
    return _DECODER.decode(raw)


_SPACE = frozenset(" \t\n\r")

# The scanner stops a number before a "." or "e", "e-" it cannot complete ("12." decodes as 12), so a
# value ending this close to the buffer's end is decoded again once more text is in.
_NUMBER_TAIL = 2

# An error this close to the end of the buffer may be the buffer's end, not the data's.
_TAIL = 64

# Read on when less than this is left to decode (at most half a chunk): a value that runs past the
# buffer's end makes the scanner fail, and the JSONDecodeError it builds counts the newlines of the
# whole buffer, twice per chunk: about a seventh of the time spent reading a minified bundle.
_READ_AHEAD = 1 << 16


class _Stream:
    __slots__ = (
        "binary",
        "buf",
        "bytes_in",
        "chunk",
        "col_base",
        "decoder",
        "eof",
        "fp",
        "keep",
        "line_base",
        "pos",
        "started",
    )

    def __init__(self, fp: TextIO | BinaryIO | SupportsRead, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.fp = fp
        self.chunk = chunk_size
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.keep: int | None = None  # buffer index that must survive trimming (raw of a top object)
        self.line_base = 0  # newlines in the text dropped from the buffer's front
        self.col_base = 0  # characters after the last of those newlines
        self.binary: bool | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.bytes_in = 0
        self.started = False

    # -- reading -------------------------------------------------------------------------------

    def _read_text(self, size: int) -> str:
        """The next piece of text ('' only at end of input)."""
        while True:
            data = self.fp.read(size)
            if self.binary is None and data:
                self.binary = not isinstance(data, str)
            if not data:
                text = self._decode(b"", final=True) if self.binary else ""
                self.eof = True
            elif self.binary:
                assert not isinstance(data, str)
                text = self._decode(bytes(data), final=False)
            else:
                assert isinstance(data, str)
                text = data
            if text and not self.started:
                self.started = True
                if text[0] == "\ufeff":  # byte order mark: tolerated, not content
                    text = text[1:]
            if text or self.eof:
                return text

    def _decode(self, data: bytes, final: bool) -> str:
        pending = len(self.decoder.getstate()[0])
        start = self.bytes_in - pending
        self.bytes_in += len(data)
        try:
            return self.decoder.decode(data, final)
        except UnicodeDecodeError as e:
            offset = start + e.start
            if offset == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise InvalidInput("input is UTF-16; STIX JSON must be UTF-8", byte=0) from None
            raise InvalidInput(f"input is not valid UTF-8 ({e.reason})", byte=offset) from None

    def more(self, want: int = 0) -> bool:
        """Drop consumed text and append at least one more piece; False at end of input."""
        if self.eof:
            return False
        drop = self.pos if self.keep is None else self.keep
        if drop:
            buf = self.buf
            # rfind first: one memrchr over minified JSON, which has no newline to count.
            last = buf.rfind("\n", 0, drop)
            if last >= 0:
                self.line_base += buf.count("\n", 0, last + 1)
                self.col_base = drop - last - 1
            else:
                self.col_base += drop
            self.pos -= drop
            if self.keep is not None:
                self.keep -= drop
        text = self._read_text(max(self.chunk, want))
        self.buf = self.buf[drop:] + text if drop else self.buf + text
        return bool(text)

    # -- positions and errors ------------------------------------------------------------------

    def error(self, detail: str, at: int, index: int | None = None) -> InvalidInput:
        buf = self.buf
        at = min(max(at, 0), len(buf))
        newlines = buf.count("\n", 0, at)
        if newlines:
            line = self.line_base + newlines + 1
            column = at - buf.rfind("\n", 0, at)
        else:
            line = self.line_base + 1
            column = self.col_base + at + 1
        return InvalidInput(detail, line=line, column=column, object=None if index is None else f"#{index}")

    # -- tokens --------------------------------------------------------------------------------

    def peek(self) -> str:
        """Skip whitespace; the next character, or '' at end of input."""
        while True:
            p = _ws_end(self.buf, self.pos).end()
            self.pos = p
            if p < len(self.buf):
                return self.buf[p]
            if not self.more():
                return ""

    def value(self, index: int | None = None) -> tuple[Any, int, int]:
        """Decode the JSON value at `pos`: (value, start, end); `pos` moves to `end`."""
        while True:
            buf = self.buf
            pos = self.pos
            try:
                obj, end = _scan_once(buf, pos)
            except StopIteration as e:
                msg, at, truncatable = "Expecting value", e.value, True
            except json.JSONDecodeError as e:
                msg, at, truncatable = e.msg, e.pos, e.msg.startswith("Unterminated string")
            except ValueError as e:  # NaN, Infinity
                msg, at, truncatable = str(e), pos, False
            except RecursionError:
                raise self.error("malformed JSON: nesting too deep", pos, index) from None
            else:
                if end < len(buf) - _NUMBER_TAIL or self.eof:
                    self.pos = end
                    return obj, pos, end
                # A number ending near the buffer's end may continue: "12" + "34", "12." + "5".
                self.more(len(buf) - pos)
                continue
            if self.eof or not (truncatable or at >= len(buf) - _TAIL):
                if self.eof and at >= len(buf):
                    msg = f"{msg} (unexpected end of input)"
                raise self.error(f"malformed JSON: {msg}", at, index)
            self.more(len(buf) - pos)

    def expect(self, char: str) -> None:
        c = self.peek()
        if c != char:
            found = "end of input" if c == "" else repr(c)
            raise self.error(f"malformed JSON: expecting {char!r}, found {found}", self.pos)
        self.pos += 1

    def elements(self) -> Iterator[tuple[int, dict[str, Any], str]]:
        """The elements of the array whose '[' was just consumed; `pos` ends after its ']'.

        The loop keeps the buffer and positions in locals and only falls back to the careful
        methods (`value`, `peek`) when a value or delimiter reaches the buffer's end.
        """
        index = 0
        c = self.peek()
        if c == "]":
            self.pos += 1
            return
        scan = _scan_once
        ws = _ws_end
        space = _SPACE
        read_ahead = min(_READ_AHEAD, self.chunk // 2)
        buf = self.buf
        pos = self.pos  # start of the next element, whitespace skipped
        while True:
            if len(buf) - pos < read_ahead and not self.eof:
                self.pos = pos
                self.more()
                buf = self.buf
                pos = self.pos
                if len(buf) - pos < read_ahead:
                    read_ahead = 0  # a source that gives small pieces: read only when needed
            try:
                obj, end = scan(buf, pos)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end < 0 or (end >= len(buf) - _NUMBER_TAIL and not self.eof):
                self.pos = pos
                obj, pos, end = self.value(index)
                buf = self.buf
            if type(obj) is not dict:
                raise self.error(f"objects[{index}] is not a JSON object but {json_type(obj)}", pos, index)
            raw = buf[pos:end]
            n = len(buf)
            p = end
            if p < n and buf[p] in space:
                p += 1  # one whitespace character (a newline) is the common case
                if p < n and buf[p] in space:
                    p = ws(buf, p).end()
            if p < n:
                c = buf[p]
            else:
                self.pos = p
                c = self.peek()
                buf = self.buf
                p = self.pos
                n = len(buf)
            yield index, obj, raw
            index += 1
            if c == ",":
                p += 1
                if p < n and buf[p] in space:
                    p += 1
                    if p < n and buf[p] in space:
                        p = ws(buf, p).end()
                if p >= n:
                    self.pos = p
                    if self.peek() == "":
                        raise self.error(
                            "malformed JSON: unexpected end of input in the array", self.pos, index
                        )
                    buf = self.buf
                    p = self.pos
                pos = p
                continue
            if c == "]":
                self.pos = p + 1
                return
            self.pos = p
            found = "end of input" if c == "" else repr(c)
            raise self.error(f"malformed JSON: expecting ',' or ']', found {found}", p, index)


def object_members(
    s: _Stream,
    array_key: str,
    members: dict[str, Any],
    owner: str,
    before_array: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Read the rest of the JSON object whose '{' was just consumed, its '}' included.

    The elements of its `array_key` array are yielded as they are read (index, object, raw text),
    so memory stays bounded by the largest element; every other member goes into `members` (an
    `array_key` that is not an array too, for the caller to refuse). `before_array(pos)` runs
    before the array's elements are read. One reader for bundles, TAXII envelopes and peers' pages.
    """
    streamed = False
    c = s.peek()
    if c == "}":
        s.pos += 1
        return
    while True:
        if c != '"':
            found = "end of input" if c == "" else repr(c)
            raise s.error(f"malformed JSON: expecting a property name in double quotes, found {found}", s.pos)
        key, _, _ = s.value()
        if key == array_key and (streamed or key in members):
            raise s.error(f"the {owner} has two {key!r} properties", s.pos)
        s.expect(":")
        c = s.peek()
        if key == array_key and c == "[":
            if before_array is not None:
                before_array(s.pos)
            s.pos += 1
            yield from s.elements()
            streamed = True
        else:
            members[key], _, _ = s.value()
        c = s.peek()
        if c == ",":
            s.pos += 1
            c = s.peek()
            continue
        if c == "}":
            s.pos += 1
            return
        found = "end of input" if c == "" else repr(c)
        raise s.error(f"malformed JSON: expecting ',' or '}}', found {found}", s.pos)


def _check_bundle_head(s: _Stream, top: dict[str, Any], at: int) -> None:
    typ = top.get("type")
    if typ != "bundle":
        what = "has no 'type'" if typ is None else f"has type {typ!r}"
        raise s.error(f"a top-level object with an 'objects' array must be a bundle, but it {what}", at)
    if "id" in top:
        problem = id_problem(top["id"], "bundle")
        if problem is not None:
            raise s.error(f"the bundle's 'id' {problem}: {top['id']!r}", at)


def iter_bundle(
    fp: TextIO | BinaryIO | SupportsRead, chunk_size: int = 1 << 20
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Yield (index, object, raw JSON text of the object as it appeared) from a STIX bundle.

    `fp` is a text or binary file, or anything with `read(size)` (binary is decoded as UTF-8;
    a BOM is tolerated). Also accepts a
    single STIX object (yielded as index 0) or a JSON array of objects. Raises InvalidInput on
    malformed JSON, a top-level value that is not an object or array, an `objects` that is not an
    array, a non-bundle top-level object with an `objects` array, or anything after the top value.
    """
    s = _Stream(fp, chunk_size)
    c = s.peek()
    if c == "":
        raise s.error("empty input: expected a STIX bundle, a STIX object or an array of objects", s.pos)
    if c == "[":
        s.pos += 1
        yield from s.elements()
    elif c == "{":
        start = s.pos
        s.keep = start
        s.pos += 1
        top: dict[str, Any] = {}
        streamed = False

        def before_objects(at: int) -> None:
            nonlocal streamed
            if "type" in top:
                _check_bundle_head(s, top, at)
            s.keep = None  # a bundle: its own raw text is not needed
            streamed = True

        yield from object_members(s, "objects", top, "bundle", before_objects)
        if streamed:
            _check_bundle_head(s, top, s.pos)
        elif top.get("type") == "bundle":
            # A bundle without objects yields nothing; one whose `objects` is no array is an error.
            if "objects" in top:
                kind = json_type(top["objects"])
                raise s.error(f"the bundle's 'objects' must be an array, not {kind}", s.pos)
            _check_bundle_head(s, top, s.pos)
        else:
            assert s.keep is not None
            raw = s.buf[s.keep : s.pos]
            s.keep = None
            yield 0, top, raw
    else:
        raise s.error(
            f"the input must be a JSON object (a STIX bundle or object) or an array of objects, found {c!r}",
            s.pos,
        )
    c = s.peek()
    if c != "":
        raise s.error(f"unexpected data after the top-level JSON value: {c!r}", s.pos)
