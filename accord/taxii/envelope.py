"""Reading the TAXII envelope of a POST as a stream: each object with its raw text as received.

The bundle reader's tokenizer (`accord.intel.bundle_stream`) does the work, so memory is bounded by
the largest object and each object's JSON is kept byte for byte; only the top level differs: an
envelope is `{"objects": [...], "more": ..., "next": ...}` and carries no `type`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accord.intel.bundle_stream import SupportsRead, _Stream, object_members
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
    members: dict[str, Any] = {}
    yield from object_members(s, "objects", members, "envelope")
    if "objects" in members:
        kind = json_type(members.pop("objects"))
        raise s.error(f"the envelope's 'objects' must be an array, not {kind}", s.pos)
    if extra is not None:
        extra.update(members)
    c = s.peek()
    if c != "":
        raise s.error(f"unexpected data after the envelope: {c!r}", s.pos)
