"""Address ranges compiled into sorted arrays: one `searchsorted` answers a million addresses.

Per address family the table is a list of segment starts and one answer per segment: segment i runs
from `starts[i]` to `starts[i+1] - 1` (the last to the end of the space), and `rows[i]` is the answer
(a row number of the source's records, -1 for none). The first segment always starts at 0, so every
address falls in exactly one segment. IPv4 starts are uint32; IPv6 starts are 16-byte big-endian
strings (numpy 'S16'), whose byte order is numeric order.

`RangeTable.build` takes ranges in any order, nested or overlapping: the narrower range wins where
two overlap (a /24 assignment inside a /16 allocation), and of two equally wide the later one wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import numpy as np

from accord.routing.model import I32, U32, Addresses, Keys6

__all__ = ["RangeTable"]

Range = tuple[int, int, int]  # (first address, last address, row), inclusive
_TOP = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
DIRECT_FROM = 65_536  # IPv4 segments from which a table builds its direct /24 index
SPLIT = -2  # in the direct index: this /24 holds a segment boundary, search it


def _segments(ranges: Iterable[Range], family: int) -> tuple[list[int], list[int]]:
    """(starts, rows) of the elementary segments, adjacent segments with the same row merged."""
    top = _TOP[family]
    spans = [(lo, hi, row) for lo, hi, row in ranges]
    for lo, hi, _row in spans:
        if not 0 <= lo <= hi <= top:
            raise ValueError(f"bad IPv{family} range {lo}..{hi}")
    spans.sort(key=lambda s: s[0])
    if all(prev[1] < nxt[0] for prev, nxt in pairwise(spans)):
        return _disjoint(spans, top)
    # Overlaps: paint the widest first so narrower ranges overwrite them (stable: later input wins).
    bounds = sorted({0, *(s[0] for s in spans), *(s[1] + 1 for s in spans if s[1] < top)})
    index = {b: i for i, b in enumerate(bounds)}
    rows = np.full(len(bounds), -1, dtype=np.int32)
    spans.sort(key=lambda s: s[0] - s[1])  # widest first, stable for equal widths
    for lo, hi, row in spans:
        rows[index[lo] : index.get(hi + 1, len(bounds))] = row
    starts: list[int] = []
    out: list[int] = []
    for b, row in zip(bounds, rows.tolist(), strict=True):
        if not out or out[-1] != row:
            starts.append(b)
            out.append(row)
    return starts, out


def _disjoint(spans: list[Range], top: int) -> tuple[list[int], list[int]]:
    """The common case (no overlaps) in one pass: gaps become segments with row -1."""
    starts: list[int] = []
    rows: list[int] = []
    covered = -1  # last address covered so far
    for lo, hi, row in spans:
        if lo > covered + 1 and (not rows or rows[-1] != -1):
            starts.append(covered + 1)
            rows.append(-1)
        if not rows or rows[-1] != row:
            starts.append(lo)
            rows.append(row)
        covered = hi
    if covered < top and (not rows or rows[-1] != -1):
        starts.append(covered + 1)
        rows.append(-1)
    return starts, rows


def v6_keys(numbers: Iterable[int]) -> Keys6:
    """128-bit numbers as an 'S16' array of big-endian keys."""
    return np.frombuffer(b"".join(n.to_bytes(16, "big") for n in numbers), dtype="S16")


class RangeTable:
    """Sorted, gap-free segments per address family, each with a row number (-1: no answer)."""

    __slots__ = ("_direct", "v4_rows", "v4_starts", "v6_rows", "v6_starts")

    def __init__(self, v4_starts: U32, v4_rows: I32, v6_starts: Keys6, v6_rows: I32) -> None:
        for starts, rows in ((v4_starts, v4_rows), (v6_starts, v6_rows)):
            # numpy gives an 'S16' item without its trailing NULs: the zero key reads as b"".
            if len(starts) != len(rows) or not len(starts) or starts[0] not in (0, b""):
                raise ValueError("a range table needs one row per start and a first start of 0")
        self.v4_starts = v4_starts
        self.v4_rows = v4_rows
        self.v6_starts = v6_starts
        self.v6_rows = v6_rows
        self._direct: I32 | None = None

    @classmethod
    def build(cls, v4: Iterable[Range] = (), v6: Iterable[Range] = ()) -> RangeTable:
        """A table from (first, last, row) ranges per family, as integers; see the module docstring."""
        s4, r4 = _segments(v4, 4)
        s6, r6 = _segments(v6, 6)
        return cls(
            np.array(s4, dtype=np.uint32),
            np.array(r4, dtype=np.int32),
            v6_keys(s6),
            np.array(r6, dtype=np.int32),
        )

    @property
    def segments(self) -> int:
        return len(self.v4_starts) + len(self.v6_starts)

    def row(self, key: int, v6: bool) -> int:
        """The row of one address (-1: none)."""
        if v6:
            i = int(np.searchsorted(self.v6_starts, key.to_bytes(16, "big"), side="right")) - 1
            return int(self.v6_rows[i])
        i = int(np.searchsorted(self.v4_starts, np.uint32(key), side="right")) - 1
        return int(self.v4_rows[i])

    def rows(self, batch: Addresses) -> tuple[I32, I32]:
        """Rows for the batch's IPv4 and IPv6 addresses, in batch order."""
        r6 = self.v6_rows[np.searchsorted(self.v6_starts, batch.v6, side="right") - 1]
        return self.rows_v4(batch.v4), r6

    def rows_v4(self, keys: U32) -> I32:
        """Rows for IPv4 keys. A large table is read through a direct index by /24 (one memory access
        per address instead of ~20 cache-missing steps of a binary search); only addresses in the few
        /24s that hold a segment boundary fall back to the search."""
        if len(self.v4_starts) < DIRECT_FROM:
            return self.v4_rows[np.searchsorted(self.v4_starts, keys, side="right") - 1]
        direct = self._direct if self._direct is not None else self._build_direct()
        rows = direct[keys >> 8]
        split = np.flatnonzero(rows == SPLIT)
        if len(split):
            rows[split] = self.v4_rows[np.searchsorted(self.v4_starts, keys[split], side="right") - 1]
        return rows

    def _build_direct(self) -> I32:
        """The row of every /24 whole inside one segment, SPLIT for the /24s a boundary cuts (64 MiB)."""
        starts = self.v4_starts.astype(np.int64)
        first_cell = -(-starts // 256)  # the first /24 that starts inside each segment
        counts = np.diff(np.append(first_cell, 1 << 24))
        direct = np.repeat(self.v4_rows, counts)
        direct[np.unique(self.v4_starts[(self.v4_starts & 255) != 0] >> 8)] = SPLIT
        self._direct = direct
        return direct
