"""Range tables against a plain scan of the ranges, and the fast address parse against `normalise`."""

from __future__ import annotations

import random

import numpy as np
import pytest

from accord.errors import InvalidInput
from accord.intel.observables import normalise_row
from accord.routing.model import Addresses, address_number, canonical_v4, canonical_v6
from accord.routing.ranges import DIRECT_FROM, RangeTable, v6_keys


def _naive(ranges: list[tuple[int, int, int]], key: int) -> int:
    """The narrowest range holding key (later wins among equally wide); -1 if none."""
    best = None
    for order, (lo, hi, row) in enumerate(ranges):
        if lo <= key <= hi and (best is None or (hi - lo, -order) <= best[0]):
            best = ((hi - lo, -order), row)
    return -1 if best is None else best[1]


def _batch(v4: list[int], v6: list[int]) -> Addresses:
    return Addresses(np.array(v4, dtype=np.uint32), v6_keys(v6), [], [])


def test_disjoint_ranges_leave_gaps_unanswered() -> None:
    table = RangeTable.build(v4=[(10, 19, 0), (30, 39, 1), (40, 49, 1)])
    assert [table.row(k, False) for k in (0, 9, 10, 19, 20, 29, 30, 45, 49, 50, 2**32 - 1)] == [
        -1, -1, 0, 0, -1, -1, 1, 1, 1, -1, -1,
    ]  # fmt: skip
    # adjacent ranges with one answer are merged into one segment
    assert table.v4_starts.tolist() == [0, 10, 20, 30, 50]


def test_ranges_to_the_ends_of_the_space() -> None:
    table = RangeTable.build(v4=[(0, 5, 3), (2**32 - 10, 2**32 - 1, 4)], v6=[(0, 2**128 - 1, 7)])
    assert table.row(0, False) == 3
    assert table.row(2**32 - 1, False) == 4
    assert table.row(6, False) == -1
    assert table.row(2**128 - 1, True) == 7
    assert table.row(0, True) == 7


def test_empty_table_answers_nothing() -> None:
    table = RangeTable.build()
    assert table.row(12345, False) == -1
    assert table.row(12345, True) == -1
    r4, r6 = table.rows(_batch([1, 2], [3]))
    assert r4.tolist() == [-1, -1] and r6.tolist() == [-1]


def test_narrower_range_wins_where_ranges_overlap() -> None:
    ranges = [(0, 255, 0), (16, 31, 1), (20, 20, 2), (200, 300, 3), (250, 260, 4)]
    table = RangeTable.build(v4=ranges)
    for key in range(0, 400):
        assert table.row(key, False) == _naive(ranges, key), key


@pytest.mark.parametrize("v6", [False, True])
def test_random_ranges_match_a_plain_scan(v6: bool) -> None:
    rnd = random.Random(11 + v6)
    bits = 128 if v6 else 32
    ranges = []
    for row in range(300):
        lo = rnd.getrandbits(bits)
        hi = min(lo + rnd.getrandbits(rnd.randrange(1, bits - 4)), 2**bits - 1)
        ranges.append((lo, hi, row))
    table = RangeTable.build(**{"v6" if v6 else "v4": ranges})
    keys = (
        [rnd.getrandbits(bits) for _ in range(500)]
        + [lo for lo, _h, _r in ranges]
        + [h for _l, h, _r in ranges]
    )
    expected = [_naive(ranges, k) for k in keys]
    assert [table.row(k, v6) for k in keys] == expected
    batch = _batch([], keys) if v6 else _batch(keys, [])
    r4, r6 = table.rows(batch)
    assert (r6 if v6 else r4).tolist() == expected


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="bad IPv4 range"):
        RangeTable.build(v4=[(5, 4, 0)])
    with pytest.raises(ValueError, match="bad IPv4 range"):
        RangeTable.build(v4=[(0, 2**32, 0)])
    with pytest.raises(ValueError, match="first start of 0"):
        RangeTable(np.array([5], np.uint32), np.array([0], np.int32), v6_keys([0]), np.array([0], np.int32))


TRICKY = [
    "1.2.3.4", "255.255.255.255", "0.0.0.0",  # noqa: S104 - a value to parse, not an address to bind
    "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1",
    " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "0x1.2.3.4", "1.2.3.4/32", "1.2.3.0/24", "1[.]2.3.4",
    "१.2.3.4", "::1", "::", "2001:db8::1", "2001:DB8::1", "2001:0db8::1", "2001:db8:0:0:0:0:0:1",
    "::ffff:1.2.3.4", "::ffff:102:304", "::1.2.3.4", "::0.1.0.0", "::1:0", "fe80::1%eth0", "[::1]",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "1::2:0:0:0:3", "1:0:0:2:0:0:0:3", "2001:db8::/32",
    "", "example.com", "12345",
]  # fmt: skip


@pytest.mark.parametrize("text", TRICKY)
def test_fast_parse_agrees_with_normalise(text: str) -> None:
    """The fast path takes only what `normalise` leaves unchanged; address_number agrees with it."""
    try:
        kind, value, lo, hi = normalise_row(text)
    except InvalidInput:
        kind = value = None
        lo = hi = None
    for fast, family in ((canonical_v4(text), "ipv4"), (canonical_v6(text), "ipv6")):
        if fast is not None:
            assert (kind, value) == (family, text), "accepted a value normalise would rewrite"
            assert lo is not None and lo.endswith(fast)
    if kind in ("ipv4", "ipv6") and lo == hi:
        assert lo is not None
        number, v6 = address_number(text)
        assert v6 == (kind == "ipv6")
        assert number == int.from_bytes(lo, "big") & (2**128 - 1 if v6 else 2**32 - 1)
    else:
        with pytest.raises(InvalidInput):
            address_number(text)


def test_fast_parse_agrees_with_normalise_on_random_addresses() -> None:
    rnd = random.Random(5)
    for _ in range(5000):
        words = [rnd.choice([0, 0, 1, 0xFFFF, rnd.getrandbits(16)]) for _ in range(8)]
        packed = b"".join(w.to_bytes(2, "big") for w in words)
        text = normalise_row(":".join(f"{w:x}" for w in words), "ipv6")[1]
        fast = canonical_v6(text)
        assert fast is None or fast == packed
        assert address_number(text) == (int.from_bytes(packed, "big"), True)


def test_direct_index_of_a_large_table_agrees_with_the_search() -> None:
    """Past DIRECT_FROM segments IPv4 is read through the /24 index: same rows as a binary search,
    at boundaries, inside split /24s and in whole ones."""
    rnd = random.Random(8)
    ranges = []
    for row in range(DIRECT_FROM):
        lo = rnd.getrandbits(32)
        ranges.append((lo, min(lo + rnd.choice([0, 7, 255, 256, 4095, 70000]), 2**32 - 1), row))
    table = RangeTable.build(v4=ranges)
    assert len(table.v4_starts) >= DIRECT_FROM
    keys = [rnd.getrandbits(32) for _ in range(100_000)]
    keys += [k for lo, hi, _r in ranges[:5000] for k in (lo, hi, max(lo - 1, 0), min(hi + 1, 2**32 - 1))]
    array = np.array(keys, dtype=np.uint32)
    searched = table.v4_rows[np.searchsorted(table.v4_starts, array, side="right") - 1]
    assert table.rows_v4(array).tolist() == searched.tolist()
    assert [table.row(k, False) for k in keys[:2000]] == searched[:2000].tolist()
