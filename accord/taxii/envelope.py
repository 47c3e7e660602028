"""Reading the TAXII envelope of a POST as a stream: each object with its raw text as received.

The bundle reader's tokenizer (`accord.intel.bundle_stream`) does the work, so memory is bounded by
the largest object and each object's JSON is kept byte for byte; only the top level differs: an
envelope is `{"objects": [...], "more": ..., "next": ...}` and carries no `type`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accord.intel.bundle_stream import SupportsRead, _Stream
from accord.intel.validate import json_type


def iter_envelope(
    fp: SupportsRead, chunk_size: int = 1 << 20, extra: dict[str, Any] | None = None
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Yield (index, object, raw text) for each element of the envelope's `objects` (none if absent).
    The envelope's other members (`more`, `next`, a peer's `x_accord_provenance`) go into `extra`
    when it is given (complete once the objects are consumed). Raises InvalidInput (with line and
    column) when the body is not a JSON object with at most one `objects` array, or has anything
    after it."""
    s = _Stream(fp, chunk_size)
    c = s.peek()
    if c != "{":
        found = "nothing" if c == "" else repr(c)
        raise s.error(f"a TAXII envelope is a JSON object with an 'objects' array; found {found}", s.pos)
    s.pos += 1
    seen = False
    c = s.peek()
    if c == "}":
        s.pos += 1
    else:
        while True:
            if c != '"':
                found = "end of input" if c == "" else repr(c)
                raise s.error(
                    f"malformed JSON: expecting a property name in double quotes, found {found}", s.pos
                )
            key, _, _ = s.value()
            s.expect(":")
            c = s.peek()
            if key == "objects":
                if seen:
                    raise s.error("the envelope has two 'objects' properties", s.pos)
                if c != "[":
                    value, _, _ = s.value()
                    raise s.error(f"the envelope's 'objects' must be an array, not {json_type(value)}", s.pos)
                s.pos += 1
                yield from s.elements()
                seen = True
            else:
                value, _, _ = s.value()
                if extra is not None:
                    extra[key] = value
            c = s.peek()
            if c == ",":
                s.pos += 1
                c = s.peek()
                continue
            if c == "}":
                s.pos += 1
                break
            found = "end of input" if c == "" else repr(c)
            raise s.error(f"malformed JSON: expecting ',' or '}}', found {found}", s.pos)
    c = s.peek()
    if c != "":
        raise s.error(f"unexpected data after the envelope: {c!r}", s.pos)
