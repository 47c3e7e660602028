"""The data Accord ships with, from PyPI packages that carry their data and never use the network:

* `iptocc` — registered country per address, from the five RIRs' delegation files (nightly builds);
* `plevin` with `plevin-db-network` — AS number, operator and its abuse mailbox per address;
* `publicsuffixlist` — the Public Suffix List, for registrable domains and TLDs.

plevin answers one address in microseconds to milliseconds (it decompresses blocks on demand); for
batches its file is read once, whole, into range tables (`RangeTable`), which answer a million
addresses in a fraction of a second. Both paths read the same rows, so they give the same answers.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple, cast

import iptocc
import numpy as np
import plevin
import plevin_db_network
from publicsuffixlist import PublicSuffixList

from accord.routing.countries import COUNTRY_INDEX, country_code, tld_country
from accord.routing.model import I32, U8, U32, Address, Addresses, Network, Provenance
from accord.routing.ranges import RangeTable, v6_keys

__all__ = ["DomainAnswer", "IptoccCountries", "PlevinNetworks", "SuffixList"]


class _CodeIndex(dict[str | None, int]):
    """Country code -> index; anything not ISO 3166-1 (EU, AP, ZZ, None) -> 0, unknown."""

    def __missing__(self, key: str | None) -> int:
        return 0


_CODE_INDEX = _CodeIndex(COUNTRY_INDEX)


class _Memo(dict[Any, Any]):
    """An instance's own memo of at most `limit` answers (emptied when full). Unlike an lru_cache
    on a method, which holds every instance it has seen (each with hundreds of MB of compiled
    tables) for the life of the process, it goes with its instance."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def answer(self, key: Any, compute: Callable[[Any], Any]) -> Any:
        """The remembered answer for `key` (None included), else `compute(key)`, remembered."""
        try:
            return self[key]
        except KeyError:
            pass
        if len(self) >= self.limit:
            self.clear()
        found = self[key] = compute(key)
        return found


def code_indexes(codes: list[str | None]) -> U8:
    """Country codes as indexes into `COUNTRIES`, at C speed (one dict probe per code)."""
    return np.fromiter(map(_CODE_INDEX.__getitem__, codes), dtype=np.uint8, count=len(codes))


class IptoccCountries:
    """Registered country from iptocc: its batch call takes the addresses as text."""

    def __init__(self) -> None:
        self.provenance = Provenance("iptocc", version("iptocc"))

    def country(self, address: Address) -> str | None:
        return country_code(iptocc.country_code(address.text))

    def countries(self, batch: Addresses) -> tuple[U8, U8]:
        c4 = code_indexes(iptocc.country_code(batch.v4_text)) if batch.v4_text else np.zeros(0, np.uint8)
        c6 = code_indexes(iptocc.country_code(batch.v6_text)) if batch.v6_text else np.zeros(0, np.uint8)
        return c4, c6


class _Compiled(NamedTuple):
    """The file's network columns. Integer arrays, not lists: the cyclic collector traverses every
    element of a list on each full pass (hundreds of thousands here), never an array's."""

    table: RangeTable
    asn: U32  # per network row, plus a trailing 0 that row -1 reads
    handle: array[int]  # string ids
    operator: array[int]  # operator row + 1, 0 for none
    company: array[int]  # string ids per operator row
    abuse: array[int]


class PlevinNetworks:
    """AS number, operator and abuse mailbox from a plevin file (by default plevin-db-network's).

    The operator is the company the file names for the AS; where it names none (unannounced space),
    the registry handle of the block's holder.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self._plevin = plevin.Plevin(plevin_db_network.PATH)
            self.provenance = Provenance("plevin-db-network", version("plevin-db-network"))
        else:
            self._plevin = plevin.Plevin(path)
            self.provenance = Provenance(f"plevin:{Path(path).name}", self._plevin.built)
        if "network.asn" not in self._plevin.fields:
            raise ValueError(f"{self._plevin.path} is a plevin file without network data")
        self._compiled: _Compiled | None = None
        self._abuse_by_asn = _Memo(4096)  # few distinct ASNs
        self._records = _Memo(65536)  # records are immutable

    # ----------------------------------------------------------------------------- one address

    def network(self, address: Address) -> Network | None:
        found = self._plevin.lookup(address.text).network
        if found is None:
            return None
        operator = found.operator
        company = operator.company if operator is not None else None
        abuse = operator.abuse_email if operator is not None else None
        if found.asn is None and not found.handle and operator is None:
            return None  # registry facts only (prefix, RIR), nobody who holds the block
        return Network(found.asn, company or found.handle, abuse)

    def abuse_for_asn(self, asn: int) -> str | None:
        return cast(str | None, self._abuse_by_asn.answer(asn, self._abuse_for_asn))

    def _abuse_for_asn(self, asn: int) -> str | None:
        operator = self._plevin.system(asn).network
        return None if operator is None or operator.operator is None else operator.operator.abuse_email

    # ----------------------------------------------------------------------------------- batches

    def compile(self) -> _Compiled:
        """Read the whole file into a range table (about a second; done once, on first batch use)."""
        if self._compiled is None:
            self._compiled = self._build()
        return self._compiled

    def _build(self) -> _Compiled:
        sections: dict[str, Any] = self._plevin.file.sections

        def column(name: str) -> list[int]:
            section = sections[name]
            out: list[int] = []
            for block in range(section.blocks):
                out += section.whole(block)
            return out[: section.count]

        def spine(version: int) -> tuple[list[int], list[int]]:
            index = sections[f"spine.v{version}"]
            starts: list[int] = []
            for group in range(-(-index.count // index.per_group)):
                starts += index.values(group)
            return starts, column(f"spine.v{version}.network")

        s4, n4 = spine(4)
        s6, n6 = spine(6)
        # plevin answers an address with the last spine row starting at or before it; a network link
        # of 0 means none. Space before the first row has no answer.
        if s4[0] != 0:
            s4, n4 = [0, *s4], [0, *n4]
        if s6[0] != 0:
            s6, n6 = [0, *s6], [0, *n6]
        asn_list = column("col.network.asn")
        handle = column("col.network.handle")
        operator = column("link.network.operator")
        # A network row that names nobody (no AS, handle or operator) is no answer, as in `network`.
        empty = np.array(
            [not (a or h or o) for a, h, o in zip(asn_list, handle, operator, strict=True)] + [True]
        )
        links4 = np.array(n4, dtype=np.int32) - 1
        links6 = np.array(n6, dtype=np.int32) - 1
        links4[empty[links4]] = -1
        links6[empty[links6]] = -1
        table = RangeTable(np.array(s4, dtype=np.uint32), links4, v6_keys(s6), links6)
        asn = np.array([*asn_list, 0], dtype=np.uint32)
        return _Compiled(
            table,
            asn,
            array("q", handle),
            array("q", operator),
            array("q", column("col.operator.company")),
            array("q", column("col.operator.abuse_email")),
        )

    def networks(self, batch: Addresses) -> tuple[I32, I32]:
        return self.compile().table.rows(batch)

    def asns(self, rows: I32) -> U32:
        return self.compile().asn[rows]

    def record(self, row: int) -> Network:
        return cast(Network, self._records.answer(row, self._record))

    def _record(self, row: int) -> Network:
        c = self.compile()
        strings = self._plevin.file.sections["strings"]
        operator = c.operator[row]
        company = strings[c.company[operator - 1]] if operator else ""
        abuse = strings[c.abuse[operator - 1]] if operator else ""
        handle = strings[c.handle[row]]
        return Network(int(c.asn[row]) or None, company or handle or None, abuse or None)


class DomainAnswer(NamedTuple):
    """What the Public Suffix List says of a name (None: unknown, e.g. a TLD not in the list)."""

    registrable_domain: str | None
    public_suffix: str | None
    tld: str | None
    tld_country: str | None


class SuffixList:
    """Registrable domain, public suffix and TLD from the Public Suffix List's ICANN section.

    Private-section suffixes (github.io, blogspot.com) are left out on purpose: the registrable
    domain is then the one a registrar holds records for, which is who can act on abuse under it.
    """

    def __init__(self, psl: PublicSuffixList | None = None, provenance: Provenance | None = None) -> None:
        """The list shipped in `publicsuffixlist`, or one read by `loaders` with its own provenance."""
        if psl is None or provenance is None:
            psl = PublicSuffixList(accept_unknown=False, only_icann=True)
            provenance = Provenance("publicsuffixlist", version("publicsuffixlist"))
        self._psl = psl
        self.provenance = provenance
        self._answers = _Memo(65536)

    def domain(self, name: str) -> DomainAnswer:
        """`name` must be normalised (lower case, punycode, no trailing dot)."""
        return cast(DomainAnswer, self._answers.answer(name, self._domain))

    def _domain(self, name: str) -> DomainAnswer:
        tld = name.rpartition(".")[2]
        if not self._psl.is_public(tld):
            return DomainAnswer(None, None, None, None)
        return DomainAnswer(
            self._psl.privatesuffix(name), self._psl.publicsuffix(name), tld, tld_country(tld)
        )
