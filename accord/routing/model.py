"""The shapes enrichment passes around: where an answer came from, one network's answer, an address,
and a batch of addresses parsed once for every source.

A source answers either one address at a time (`country(address)`, `network(address)`) or a whole
`Addresses` batch at once; both must give the same answers (the tests compare them). Bulk answers are
numpy arrays in the batch's own order: country codes as indexes into `countries.COUNTRIES` (0: unknown)
and networks as row numbers into the source's own records (-1: unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from accord.errors import InvalidInput
from accord.intel.observables import normalise_row

__all__ = [
    "Address",
    "Addresses",
    "CountrySource",
    "Network",
    "NetworkSource",
    "Provenance",
    "address_number",
]

U32 = npt.NDArray[np.uint32]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
Keys6 = npt.NDArray[np.bytes_]  # 16-byte big-endian keys ('S16'): byte order is numeric order


@dataclass(frozen=True, slots=True)
class Provenance:
    """Which data answered and which version of it: every enrichment records this per field."""

    name: str
    version: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


class Network(NamedTuple):
    """Who holds an address: the AS number, the operator's name and its abuse mailbox (None: unknown)."""

    asn: int | None
    operator: str | None
    abuse_email: str | None


class Address(NamedTuple):
    """One address: its number (32 bits for IPv4, 128 for IPv6) and its normalised text."""

    key: int
    v6: bool
    text: str


@dataclass(eq=False)
class Addresses:
    """A batch of addresses, parsed once and shared by every source.

    `v4` / `v6` hold the keys in batch order; `v4_text` / `v6_text` the same addresses as text (for
    sources that read text, such as iptocc).
    """

    v4: U32
    v6: Keys6
    v4_text: list[str]
    v6_text: list[str]


class CountrySource(Protocol):
    """Answers the country registered for an address."""

    provenance: Provenance

    def country(self, address: Address) -> str | None: ...

    def countries(self, batch: Addresses) -> tuple[U8, U8]:
        """Country indexes (0: unknown) for the batch's IPv4 and IPv6 addresses, in batch order."""
        ...


class NetworkSource(Protocol):
    """Answers the network (AS number, operator, abuse mailbox) that holds an address."""

    provenance: Provenance

    def network(self, address: Address) -> Network | None: ...

    def networks(self, batch: Addresses) -> tuple[I32, I32]:
        """Row numbers (-1: unknown) for the batch's IPv4 and IPv6 addresses, in batch order."""
        ...

    def asns(self, rows: I32) -> U32:
        """The AS number of each row (0: unknown or none)."""
        ...

    def record(self, row: int) -> Network: ...

    def abuse_for_asn(self, asn: int) -> str | None:
        """The abuse mailbox this source knows for an AS, for answers from data that has none."""
        ...


# ------------------------------------------------------------------------------ parsing addresses

pton4 = partial(inet_pton, AF_INET)
pton6 = partial(inet_pton, AF_INET6)
ntop4 = partial(inet_ntop, AF_INET)
ntop6 = partial(inet_ntop, AF_INET6)
V4_MAPPED = bytes(10) + b"\xff\xff"


def _pton_is_strict() -> bool:
    """True where inet_pton refuses every IPv4 spelling that `observables.normalise` would rewrite
    (glibc does): an address it accepts is then already in normalised form, as typed."""
    for loose in ("01.2.3.4", "1.2.3.04", "1.2.3", "0x1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n"):
        try:
            pton4(loose)
        except OSError:
            continue
        return False
    return True


PTON_STRICT = _pton_is_strict()


def canonical_v4(text: Any) -> bytes | None:
    """The packed form of `text` if it is an IPv4 address written exactly as `normalise` writes it
    (four decimal numbers, no leading zeros, nothing around them), else None. The cheap first test
    for bulk input; everything it refuses still goes to `normalise` and gets the same answer."""
    try:
        packed = pton4(text)
    except (OSError, TypeError):
        return None
    if PTON_STRICT or ntop4(packed) == text:
        return packed
    return None


_V4_COMPAT = bytes(12)  # ::/96: glibc writes these dotted, `normalise` in hex words


def canonical_v6(text: Any) -> bytes | None:
    """The packed form of `text` if it is an IPv6 address written exactly as `normalise` writes it
    (RFC 5952, IPv4-mapped addresses dotted), else None: the IPv6 twin of `canonical_v4`."""
    try:
        packed = pton6(text)
    except (OSError, TypeError):
        return None
    if packed[:12] != _V4_COMPAT and ntop6(packed) == text:
        return packed
    return None


def address_number(text: str) -> tuple[int, bool]:
    """(number, is IPv6) of one address written in any form `normalise` accepts.

    Raises InvalidInput (naming the value) for anything else, networks included.
    """
    packed = canonical_v4(text)
    if packed is not None:
        return int.from_bytes(packed, "big"), False
    packed = canonical_v6(text)
    if packed is not None:
        return int.from_bytes(packed, "big"), True
    kind, value, lo, hi = normalise_row(text)
    if kind not in ("ipv4", "ipv6") or lo is None:
        raise InvalidInput(f"{text!r} is not an IP address")
    if lo != hi:
        raise InvalidInput(f"{text!r} is a network ({value}), not a single address")
    number = int.from_bytes(lo, "big")
    return (number & 0xFFFFFFFF, False) if kind == "ipv4" else (number, True)
