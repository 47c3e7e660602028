"""Match observed values (from a member's logs) against the indicators that member may see, in memory.

The caller loads the visible indicators' observable rows once (`Matcher(rows)`) and then asks about
millions of log values. Two layers keep that fast without giving up exactness:

* a filter (`_scan`, `_maybe`) of plain dict probes and one `bisect` for networks. It takes the
  value as already canonical (most log values are) and never drops a value that could hit: anything
  that might need normalising (upper case, whitespace, defanging, non-ASCII, ports) is let through.
* `_hits` normalises the value with `observables.normalise` and makes the hits. It is the only place
  hits are made, so results are exactly those of the normalised value, and it runs only for the few
  values that pass the filter.

Index layout: one dict per probe (IPv4 4-byte key, IPv6 16-byte key, domain, URL, e-mail and hash
text -> entry). Networks are flattened per address family into sorted segment starts, each segment
holding the networks that cover it (nested ones included), so containment is one `bisect` on bytes.
A network written in IPv6 that overlaps ::ffff:0:0/96 is also entered, clipped, in the IPv4 table:
matching works in the one 16-byte key space of `observables`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Container, Iterable, Iterator
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, NamedTuple, TypeAlias

from accord.errors import InvalidInput
from accord.intel.observables import HASH_LENGTHS, KINDS, try_normalise, url_host

__all__ = ["HIT_KINDS", "Hit", "Matcher"]

HIT_KINDS = ("exact", "cidr", "domain", "url", "hash")


class Hit(NamedTuple):
    """One indicator matched by one input value.

    `matched` is the indicator's stored value (the network, the parent domain, ...); `observed` is the
    normalised part of the input that matched it (the address, the URL's host, the e-mail's domain).
    """

    input: str
    kind: str  # exact | cidr | domain | url | hash
    indicator_id: str
    matched: str
    observed: str


# An entry is (matched value, indicator id, indicator id, ...); a slot is one entry, or a list of entries
# in the rare case that two different stored values share one key (1.2.3.4 and ::ffff:1.2.3.4).
Entry: TypeAlias = tuple[str, ...]
Slot: TypeAlias = Entry | list[Entry]
Cover: TypeAlias = tuple[Entry, ...] | None

_V4_PREFIX = bytes(10) + b"\xff\xff"
_V4_BASE = 0xFFFF << 32
_V4_TOP = _V4_BASE | 0xFFFFFFFF
_HASH_LENS = frozenset(HASH_LENGTHS.values())
_DIGITS = frozenset("0123456789")
_DIGITS_DOTS_SLASH = "0123456789./"
_V6_CHARS = "0123456789abcdefABCDEF:./"
_HEX_LOWER = "0123456789abcdef"
_HEX_ANY = "0123456789abcdefABCDEF"
# A string made only of these is a canonical domain name, a lower-case hash, or not an observable.
_DOMAIN_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789.-_"
_HEX_BYTES = _HEX_LOWER.encode()
# A canonical name with a dot, labels of 1 to 63 characters (its top label must start with a letter).
_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})+").fullmatch
# scheme://[userinfo@]host with no port, all in canonical (lower) case: group 2 is the host.
_PLAIN_URL = re.compile(r"([a-z][a-z0-9+.-]*)://(?:[^/?#@]*@)?([a-z0-9_.-]+)(?=[/?#]|\Z)").match


def _entries(slot: Slot) -> list[Entry]:
    return [slot] if isinstance(slot, tuple) else slot


def _add(index: dict[Any, Slot], key: object, matched: str, indicator_id: str) -> bool:
    """Add one (value, indicator) under `key`; False when it was already there."""
    slot = index.get(key)
    if slot is None:
        index[key] = (matched, indicator_id)
        return True
    entries = _entries(slot)
    for i, entry in enumerate(entries):
        if entry[0] == matched:
            if indicator_id in entry[1:]:
                return False
            entries[i] = (*entry, indicator_id)
            break
    else:
        entries.append((matched, indicator_id))
    index[key] = entries[0] if len(entries) == 1 else entries
    return True


def _segments(ranges: dict[tuple[int, int], Slot], width: int) -> tuple[list[bytes], list[Cover]]:
    """Flatten (possibly nested) ranges of `width`-byte keys into segment starts and, per segment, the
    entries covering it, most specific network first. The first segment starts at 0, so
    `bisect_right(starts, key) - 1` is never -1."""
    opens: dict[int, list[tuple[int, int]]] = {}
    closes: dict[int, list[tuple[int, int]]] = {}
    for lo, hi in ranges:
        opens.setdefault(lo, []).append((lo, hi))
        closes.setdefault(hi + 1, []).append((lo, hi))
    end = 1 << (8 * width)
    starts: list[int] = [0]
    covers: list[Cover] = [None]
    active: dict[tuple[int, int], None] = {}
    for point in sorted(opens.keys() | closes.keys()):
        for r in closes.get(point, ()):
            del active[r]
        for r in opens.get(point, ()):
            active[r] = None
        if point == end:
            break
        by_size = sorted(active, key=lambda r: r[1] - r[0])
        cover = tuple(e for r in by_size for e in _entries(ranges[r])) if active else None
        if point == starts[-1]:
            covers[-1] = cover
        elif cover != covers[-1]:
            starts.append(point)
            covers.append(cover)
    return [p.to_bytes(width, "big") for p in starts], covers


_MAX_BLOCKS = 1 << 20


class _Everything:
    """Contains every key: stands for the block set when there is none (a network too wide)."""

    def __contains__(self, key: object) -> bool:
        return True


_ALL = _Everything()


def _blocks(
    exact: Iterable[bytes], ranges: Iterable[tuple[int, int]], width: int, block: int
) -> tuple[frozenset[bytes] | None, frozenset[bytes]]:
    """A cheap first test for addresses (`width`-byte keys): the `block`-byte prefixes holding a stored
    address or network ("narrow"), and the one-byte-shorter prefixes holding networks too wide to list
    block by block ("wide", usually empty). One set probe rules out most addresses before the exact
    probe and the bisect (which touches ~17 scattered objects). Networks are listed block by block
    while the budget lasts (narrowest first). None: a network too wide even for the shorter prefixes,
    so every address goes on to the exact checks."""
    narrow = {key[:block] for key in exact}
    shift = 8 * (width - block)
    spans = sorted(((lo >> shift, hi >> shift) for lo, hi in ranges), key=lambda span: span[1] - span[0])
    budget = _MAX_BLOCKS - len(narrow)
    wide: set[bytes] = set()
    for first, last in spans:
        if last - first < budget:
            narrow.update(b.to_bytes(block, "big") for b in range(first, last + 1))
            budget -= last - first + 1
        elif (last >> 8) - (first >> 8) < 1 << 16:
            wide.update(b.to_bytes(block - 1, "big") for b in range(first >> 8, (last >> 8) + 1))
        else:
            return None, frozenset()
    return frozenset(narrow), frozenset(wide)


class Matcher:
    """An in-memory index of indicator observables; `match(value)` gives the hits for one log value.

    Semantics (a value is normalised with `observables.normalise`: refanged, kind inferred):
    * an IP address hits an equal stored address ("exact") and every stored network containing it
      ("cidr"), IPv4 and IPv6 in one key space (::ffff:1.2.3.4 is 1.2.3.4);
    * a network hits an equal stored network ("exact");
    * a domain hits a stored domain equal to it or to one of its parents ("domain"), and so do the
      host of a URL and the domain of an e-mail address (a URL's IP host hits like an address);
    * a URL hits an equal stored URL ("url"), an e-mail address an equal one ("exact"), a hash an
      equal hash of any algorithm ("hash").
    Hits of one value come in that order: the value itself, then containing networks (innermost first)
    or parent domains (nearest first).
    """

    __slots__ = (
        "_domains",
        "_emails",
        "_hashes",
        "_labels",
        "_max_dots",
        "_min_dots",
        "_networks",
        "_size",
        "_tails",
        "_urls",
        "_v4_blocks",
        "_v4_covers",
        "_v4_exact",
        "_v4_starts",
        "_v4_wide",
        "_v6_blocks",
        "_v6_covers",
        "_v6_exact",
        "_v6_starts",
        "_v6_wide",
    )

    def __init__(self, rows: Iterable[tuple[str, str, bytes | None, bytes | None, str]]) -> None:
        """Index rows of (kind, value, ip_lo, ip_hi, indicator_id), values normalised by `observables`.

        Several indicators may share one value; a repeated (value, indicator) counts once.
        Raises InvalidInput naming the row (1-based) and what is wrong with it.
        """
        v4_exact: dict[bytes, Slot] = {}
        v6_exact: dict[bytes, Slot] = {}
        networks: dict[bytes, Slot] = {}
        v4_ranges: dict[tuple[int, int], Slot] = {}
        v6_ranges: dict[tuple[int, int], Slot] = {}
        domains: dict[str, Slot] = {}
        urls: dict[str, Slot] = {}
        emails: dict[str, Slot] = {}
        hashes: dict[str, Slot] = {}
        by_kind = {"domain": domains, "url": urls, "email": emails, **{k: hashes for k in HASH_LENGTHS}}
        ids: dict[str, str] = {}  # one string object per indicator id, however many rows name it
        size = 0
        for number, row in enumerate(rows, 1):
            try:
                kind, value, ip_lo, ip_hi, indicator_id = row
            except (TypeError, ValueError):
                raise InvalidInput(
                    "expected a row of (kind, value, ip_lo, ip_hi, indicator_id)", row=number
                ) from None
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"value {value!r} is not a non-empty string", row=number, field="value")
            if not isinstance(indicator_id, str) or not indicator_id:
                raise InvalidInput(
                    f"indicator id {indicator_id!r} is not a non-empty string",
                    row=number,
                    field="indicator_id",
                )
            indicator_id = ids.setdefault(indicator_id, indicator_id)
            if kind == "ipv4" or kind == "ipv6":
                if isinstance(ip_lo, bytearray | memoryview) and isinstance(ip_hi, bytearray | memoryview):
                    ip_lo, ip_hi = bytes(ip_lo), bytes(ip_hi)  # some database drivers give these
                if not (isinstance(ip_lo, bytes) and isinstance(ip_hi, bytes)):
                    raise InvalidInput(
                        f"{kind} value {value!r} needs ip_lo and ip_hi as bytes", row=number, field="ip_lo"
                    )
                if len(ip_lo) != 16 or len(ip_hi) != 16 or ip_lo > ip_hi:
                    raise InvalidInput(
                        f"{kind} value {value!r}: ip_lo and ip_hi must be 16-byte keys, ip_lo <= ip_hi",
                        row=number,
                        field="ip_lo",
                    )
                if ip_lo == ip_hi:
                    if ip_lo[:12] == _V4_PREFIX:
                        size += _add(v4_exact, ip_lo[12:], value, indicator_id)
                    else:
                        size += _add(v6_exact, ip_lo, value, indicator_id)
                    continue
                size += _add(networks, ip_lo + ip_hi, value, indicator_id)
                lo, hi = int.from_bytes(ip_lo, "big"), int.from_bytes(ip_hi, "big")
                if lo <= _V4_TOP and hi >= _V4_BASE:
                    v4_range = (max(lo, _V4_BASE) - _V4_BASE, min(hi, _V4_TOP) - _V4_BASE)
                    _add(v4_ranges, v4_range, value, indicator_id)
                if lo < _V4_BASE or hi > _V4_TOP:
                    _add(v6_ranges, (lo, hi), value, indicator_id)
                continue
            index = by_kind.get(kind) if isinstance(kind, str) else None
            if index is None:
                raise InvalidInput(
                    f"unknown observable kind {kind!r} (expected one of {', '.join(KINDS)})",
                    row=number,
                    field="kind",
                )
            size += _add(index, value, value, indicator_id)
        self._size = size
        self._v4_exact = v4_exact
        self._v6_exact = v6_exact
        self._networks = networks
        self._v4_starts, self._v4_covers = _segments(v4_ranges, 4) if v4_ranges else ([], [])
        self._v4_blocks, self._v4_wide = _blocks(v4_exact, v4_ranges, 4, 3)  # /24 and /16
        self._v6_blocks, self._v6_wide = _blocks(v6_exact, v6_ranges, 16, 4)  # /32 and /24
        self._v6_starts, self._v6_covers = _segments(v6_ranges, 16) if v6_ranges else ([], [])
        self._domains = domains
        self._urls = urls
        self._emails = emails
        self._hashes = hashes
        dots = {d.count(".") for d in domains}
        self._min_dots = min(dots, default=0)
        self._max_dots = max(dots, default=-1)
        # The last two labels of every stored name with a dot, and the names without one: a name can
        # only hit if its own last two labels (or its last label) are there, whatever its length.
        self._tails = frozenset(d[d.rfind(".", 0, d.rfind(".")) + 1 :] for d in domains if "." in d)
        self._labels = frozenset(d for d in domains if "." not in d)

    def __len__(self) -> int:
        """Distinct (value, indicator) pairs indexed."""
        return self._size

    def match(self, value: str) -> list[Hit]:
        """The hits for one raw value from a log (normalised here if it needs it); [] if none."""
        return self._hits(value) if self._maybe(value) else []

    def match_many(self, values: Iterable[str]) -> Iterator[Hit]:
        """The hits of many values, in their order (each value's hits as `match` gives them)."""
        for _value, hits in self._scan(values):
            yield from hits

    def match_values(self, values: Iterable[str]) -> dict[str, list[Hit]]:
        """The values that have hits, each once, with their hits (for callers that deduplicate)."""
        return dict(self._scan(values))

    # ------------------------------------------------------------------------------------- the filter

    def _scan(self, values: Iterable[str]) -> Iterator[tuple[str, list[Hit]]]:
        """(value, hits) for each value that has hits. The commonest shapes (IPv4 addresses, canonical
        names and hashes, IPv6 addresses, URLs) are filtered here inline, other values by `_maybe`; a
        canonical IPv4 address, name or hash makes its hits without going through `normalise`."""
        v4_exact, v4_starts, v4_covers = self._v4_exact, self._v4_starts, self._v4_covers
        v4_blocks: Container[bytes] = _ALL if self._v4_blocks is None else self._v4_blocks
        v4_wide = self._v4_wide
        hashes, tails, labels, emails = self._hashes, self._tails, self._labels, self._emails
        maybe, maybe_key, walk, hits = self._maybe, self._maybe_key, self._walk, self._hits
        ip_hits, emit, maybe_url, domain_hits = self._ip_hits, self._emit, self._maybe_url, self._domain_hits
        maybe_name = self._maybe_name
        pton, ntop, af4, af6, bisect = inet_pton, inet_ntop, AF_INET, AF_INET6, bisect_right
        plain_bytes, hex_bytes, hash_lens, digits = _DOMAIN_BYTES, _HEX_BYTES, _HASH_LENS, _DIGITS
        out: list[Hit]
        for s in values:
            if s[:1] in digits and len(s) < 16:
                try:
                    key = pton(af4, s)
                except (OSError, ValueError):
                    pass
                else:
                    if (key[:3] in v4_blocks or (v4_wide and key[:2] in v4_wide)) and (
                        key in v4_exact or (v4_starts and v4_covers[bisect(v4_starts, key) - 1])
                    ):
                        if ntop(af4, key) == s:  # canonical (always, with a strict inet_pton)
                            out = []
                            ip_hits(s, _V4_PREFIX + key, s, out)
                        else:
                            out = hits(s)
                        if out:
                            yield s, out
                    continue
            try:
                plain = not s.encode().translate(None, plain_bytes)  # only a-z 0-9 . - _ (or empty)
            except UnicodeEncodeError:  # a lone surrogate
                plain = False
            if plain:
                i = s.rfind(".")
                if i < 0:  # a hash, or one label (not an observable)
                    if len(s) in hash_lens and s in hashes and not s.encode().translate(None, hex_bytes):
                        out = []
                        emit(out, s, "hash", hashes[s], s)
                        yield s, out
                    continue
                if i == len(s) - 1:
                    if maybe(s) and (out := hits(s)):  # a trailing dot
                        yield s, out
                    continue
                if (s[s.rfind(".", 0, i) + 1 :] in tails or (labels and s[i + 1 :] in labels)) and walk(s):
                    if len(s) <= 253 and _NAME(s) and s[i + 1 : i + 2].isalpha():  # as normalise has it
                        out = []
                        domain_hits(s, s, out)
                    else:
                        out = hits(s)
                    if out:
                        yield s, out
                continue
            if "://" in s:
                c = s[:1]
                if (
                    c > " "
                    and s[-1] > " "
                    and s.isascii()
                    and not (c in "hHfF" and s[1:2] in "xX")
                    and "[" not in s
                    and "(" not in s
                    and "{" not in s
                ):
                    if maybe_url(s) and (out := hits(s)):
                        yield s, out
                elif maybe(s) and (out := hits(s)):
                    yield s, out
                continue
            if "@" in s and ":" not in s:  # an e-mail address in canonical form, else `_maybe`
                local, _, domain = s.rpartition("@")
                if (
                    local
                    and domain
                    and local[0] > " "
                    and not domain.encode().translate(None, plain_bytes)
                    and domain[-1] != "."
                    and "[" not in local
                    and "(" not in local
                    and "{" not in local
                ):
                    if (s in emails or maybe_name(domain)) and (out := hits(s)):
                        yield s, out
                    continue
            if ":" in s and "/" not in s:
                try:
                    key = pton(af6, s)
                except (OSError, ValueError):
                    pass
                else:
                    if maybe_key(key) and (out := hits(s)):
                        yield s, out
                    continue
            if maybe(s) and (out := hits(s)):
                yield s, out

    def _maybe(self, s: str) -> bool:
        """False only if `s` certainly has no hit; True may be a false alarm (then `_hits` decides).
        Mirrors the order in which `observables.normalise` infers a kind."""
        if not s:
            return False
        if not s.isascii():
            return True  # IDNA, Unicode whitespace, full-width dots: let normalise decide
        c = s[0]
        if "0" <= c <= "9" and not s.strip(_DIGITS_DOTS_SLASH):
            if "/" in s:
                return bool(self._networks)
            if "." in s:
                try:
                    return self._maybe_key(_V4_PREFIX + inet_pton(AF_INET, s))
                except (OSError, ValueError):
                    return False
            return len(s) in _HASH_LENS and s in self._hashes
        if c <= " " or s[-1] <= " " or "[" in s or "(" in s or "{" in s or (c in "hHfF" and s[1:2] in "xX"):
            return True  # surrounding whitespace or defanged: normalise first
        if ":" in s:
            if "://" in s:
                return self._maybe_url(s)
            if not s.strip(_V6_CHARS):
                if "/" in s:
                    return bool(self._networks)
                try:
                    return self._maybe_key(inet_pton(AF_INET6, s))
                except (OSError, ValueError):
                    return False
        if "@" in s:
            local, _, domain = s.rpartition("@")
            if not domain:
                return False
            if self._emails:
                if domain.islower() and domain[-1] != ".":
                    if s in self._emails:
                        return True
                elif f"{local}@{domain.lower().removesuffix('.')}" in self._emails:
                    return True
            return self._maybe_domain(domain)
        if len(s) in _HASH_LENS and not s.strip(_HEX_ANY):
            return s.lower() in self._hashes
        if "." in s:
            return self._maybe_domain(s)
        return False

    def _maybe_key(self, key: bytes) -> bool:
        """Whether a 16-byte address key is stored or inside a stored network."""
        if key[:12] == _V4_PREFIX:
            key = key[12:]
            blocks, wide, block = self._v4_blocks, self._v4_wide, 3
            exact, starts, covers = self._v4_exact, self._v4_starts, self._v4_covers
        else:
            blocks, wide, block = self._v6_blocks, self._v6_wide, 4
            exact, starts, covers = self._v6_exact, self._v6_starts, self._v6_covers
        if blocks is not None and key[:block] not in blocks and key[: block - 1] not in wide:
            return False
        if key in exact:
            return True
        return bool(starts) and covers[bisect_right(starts, key) - 1] is not None

    def _maybe_domain(self, s: str) -> bool:
        if not s.islower() or s[-1] == ".":
            s = s.lower().removesuffix(".")
        return self._maybe_name(s)

    def _maybe_name(self, s: str) -> bool:
        """For a name in canonical (lower) case: its last two labels, or last label, must be stored."""
        if not self._domains:
            return False
        i = s.rfind(".")
        if s[s.rfind(".", 0, i) + 1 :] not in self._tails and s[i + 1 :] not in self._labels:
            return False
        return self._walk(s)

    def _walk(self, s: str) -> bool:
        """Whether a canonical name or one of its parents is stored."""
        domains = self._domains
        dots = s.count(".")
        i = -1  # the suffix probed is s[i + 1:]
        while dots > self._max_dots:
            i = s.find(".", i + 1)
            dots -= 1
        while dots >= self._min_dots:
            if s[i + 1 :] in domains:
                return True
            i = s.find(".", i + 1)
            dots -= 1
        return False

    def _maybe_url(self, s: str) -> bool:
        """For a URL that is ASCII, not defanged, without surrounding whitespace."""
        urls = self._urls
        if s in urls:
            return True
        m = _PLAIN_URL(s)
        if m is not None and m[2][-1] != ".":
            host = m[2]
            if not host[0] <= "9":
                return self._maybe_name(host)  # canonical already: the pattern has no upper case
        else:  # upper case, a port, an IPv6 host, an odd authority: take the URL apart by hand
            i = s.find("://")
            rest = s[i + 3 :]
            end = len(rest)
            for ch in "/?#":
                j = rest.find(ch)
                if 0 <= j < end:
                    end = j
            hostport = rest[:end].rpartition("@")[2]
            host, colon, _port = hostport.rpartition(":")
            if not colon:
                host = hostport
            if not host:
                return False
            if urls:
                return True  # the stored URL may be this one in another form: normalise first
        if "0" <= host[0] <= "9" and not host.strip(_DIGITS_DOTS_SLASH):
            try:
                return self._maybe_key(_V4_PREFIX + inet_pton(AF_INET, host))
            except (OSError, ValueError):
                return False
        return self._maybe_domain(host)

    # --------------------------------------------------------------------------------- the exact path

    def _hits(self, raw: str) -> list[Hit]:
        """The hits of `raw`, through the one normalised form of it."""
        obs = try_normalise(raw)
        if obs is None:
            return []
        out: list[Hit] = []
        kind, value = obs.kind, obs.value
        if kind == "ipv4" or kind == "ipv6":
            assert obs.ip_lo is not None and obs.ip_hi is not None
            if obs.ip_lo == obs.ip_hi:
                self._ip_hits(raw, obs.ip_lo, value, out)
            else:
                self._emit(out, raw, "exact", self._networks.get(obs.ip_lo + obs.ip_hi), value)
        elif kind == "domain":
            self._domain_hits(raw, value, out)
        elif kind == "url":
            self._emit(out, raw, "url", self._urls.get(value), value)
            host = url_host(value) or ""
            if ":" in host:
                self._ip_hits(raw, inet_pton(AF_INET6, host), host, out)
            elif host and "0" <= host[0] <= "9" and not host.strip(_DIGITS_DOTS_SLASH):
                self._ip_hits(raw, _V4_PREFIX + inet_pton(AF_INET, host), host, out)
            else:
                self._domain_hits(raw, host, out)
        elif kind == "email":
            self._emit(out, raw, "exact", self._emails.get(value), value)
            self._domain_hits(raw, value[value.rfind("@") + 1 :], out)
        else:
            self._emit(out, raw, "hash", self._hashes.get(value), value)
        return out

    def _ip_hits(self, raw: str, key: bytes, observed: str, out: list[Hit]) -> None:
        if key[:12] == _V4_PREFIX:
            key = key[12:]
            self._emit(out, raw, "exact", self._v4_exact.get(key), observed)
            starts, covers = self._v4_starts, self._v4_covers
        else:
            self._emit(out, raw, "exact", self._v6_exact.get(key), observed)
            starts, covers = self._v6_starts, self._v6_covers
        if starts:
            for entry in covers[bisect_right(starts, key) - 1] or ():
                for indicator_id in entry[1:]:
                    out.append(Hit(raw, "cidr", indicator_id, entry[0], observed))

    def _domain_hits(self, raw: str, domain: str, out: list[Hit]) -> None:
        suffix = domain
        while True:
            self._emit(out, raw, "domain", self._domains.get(suffix), domain)
            i = suffix.find(".")
            if i < 0:
                return
            suffix = suffix[i + 1 :]

    @staticmethod
    def _emit(out: list[Hit], raw: str, kind: str, slot: Slot | None, observed: str) -> None:
        if slot is None:
            return
        for entry in _entries(slot):
            for indicator_id in entry[1:]:
                out.append(Hit(raw, kind, indicator_id, entry[0], observed))
