"""Enrichment: who is responsible for an IP address, a domain or a URL, offline.

For an address: the registered country, the AS number, the operator and its abuse mailbox. For a
domain (or a URL's or e-mail address's host name): the registrable domain, the public suffix, the TLD
and, for a ccTLD, its country. A URL whose host is an address gets the address's answers.

Sources are layered: the files an operator loads (`loaders.load_data`) come first, the data Accord
ships (`embedded`) last; per field, the first source that knows the answer gives it, and the answer
records that source and its data version. Where the network came from data without abuse mailboxes
(GeoLite2-ASN, ip-location-db), the mailbox is looked up by AS number in the other sources.

Two paths, one answer: `enrich(value)` for one value, and `enrich_ips(values)` / `enrich_many(values)`
for batches, which parse all addresses once into numpy arrays and ask each source for the whole batch
(range tables, one `searchsorted` per table). Values already in normalised form (most addresses in
logs and feeds) are recognised at C speed; every other value goes through `observables.normalise`.
`enrich_names(values)` is the columnar twin of `enrich_many` for domains and URLs already in
normalised form (as the store keeps them): what routing needs, without a dict per value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from accord.errors import InvalidInput
from accord.intel.observables import HASH_LENGTHS, normalise_row, url_host
from accord.intel.prepare import gc_paused
from accord.routing.countries import COUNTRIES, COUNTRY_INDEX
from accord.routing.embedded import DomainAnswer, IptoccCountries, PlevinNetworks, SuffixList
from accord.routing.loaders import DataSet, load_data
from accord.routing.model import (
    I32,
    PTON_STRICT,
    U8,
    U32,
    V4_MAPPED,
    Address,
    Addresses,
    CountrySource,
    Keys6,
    Network,
    NetworkSource,
    canonical_v4,
    canonical_v6,
    ntop4,
    ntop6,
    pton4,
    pton6,
)

__all__ = ["FIELDS", "Enricher", "IPBatch", "NameBatch"]

# Every answer has all these keys (null where unknown or not applicable), errors included.
FIELDS = (
    "value",
    "kind",
    "host",
    "country",
    "asn",
    "operator",
    "abuse_email",
    "registrable_domain",
    "public_suffix",
    "tld",
    "tld_country",
    "source",
    "error",
)
NONE = 255  # "no source" in a source-index column
SINGLE_BELOW = 500  # smaller batches are answered value by value (no table to compile)
_NO_DOMAIN = DomainAnswer(None, None, None, None)
_EMPTY_AT = np.zeros(0, dtype=np.intp)


class _Item(NamedTuple):
    """A value normalised: its kind and form, the host enriched, and what to look that host up as."""

    kind: str
    value: str
    host: str
    address: Address | None  # the host, if it is an IP address
    domain: str | None  # the host, if it is a domain name


def _address(key16: bytes) -> Address:
    """An Address from a 16-byte observables key (IPv4-mapped keys become IPv4 addresses)."""
    if key16[:12] == V4_MAPPED:
        return Address(int.from_bytes(key16[12:], "big"), False, ntop4(key16[12:]))
    return Address(int.from_bytes(key16, "big"), True, ntop6(key16))


def _host_item(kind: str, value: str, host: str) -> _Item:
    """A URL's or e-mail's host (already normalised by `normalise`): an address or a domain name."""
    packed = canonical_v4(host)
    if packed is not None:
        return _Item(kind, value, host, Address(int.from_bytes(packed, "big"), False, host), None)
    if ":" in host:
        _k, _v, lo, _hi = normalise_row(host, "ipv6")
        assert lo is not None
        return _Item(kind, value, host, _address(lo), None)
    return _Item(kind, value, host, None, host)


def _classify(raw: object) -> _Item:
    """What to enrich for one input value; InvalidInput (naming the value) if nothing."""
    kind, value, lo, _hi = normalise_row(raw)  # type: ignore[arg-type]  # non-text gets InvalidInput
    if kind in ("ipv4", "ipv6"):
        assert lo is not None
        address = _address(lo)  # a network is enriched by its first address
        return _Item(kind, value, address.text if "/" in value else value, address, None)
    if kind == "domain":
        return _Item(kind, value, value, None, value)
    if kind == "url":
        host = url_host(value)
        if not host:
            raise InvalidInput(f"{raw!r}: the URL has no host to enrich")
        return _host_item(kind, value, host)
    if kind == "email":
        return _host_item(kind, value, value.rpartition("@")[2])
    name = "an " + kind.upper() if kind == "md5" else "a " + kind.upper().replace("SHA", "SHA-")
    assert kind in HASH_LENGTHS
    raise InvalidInput(f"{raw!r} is {name} hash: it names no infrastructure to enrich")


@dataclass(eq=False)
class IPBatch:
    """A batch enriched, as columns in input order (no dict per value: `enrich_many` makes those).

    `country` holds indexes into `countries.COUNTRIES` (0: unknown), `asn` AS numbers (0: unknown);
    `country_source` / `network_source` index the enricher's sources (255: none), `network_row` is the
    row in that source. Values that are not addresses (or URLs with an address host) have no answers.
    """

    values: Sequence[Any]
    country: U8
    country_source: U8
    asn: U32
    network_source: U8
    network_row: I32
    items: dict[int, _Item | str]  # values not in normalised address form: their item, or an error
    # When every value is an IPv4 address in normalised form: the addresses as integers, in input
    # order (equal integers, equal values).
    v4_keys: U32 | None = None

    def countries(self) -> list[str | None]:
        """The country codes as text, in input order."""
        return [COUNTRIES[i] for i in self.country.tolist()]


@dataclass(eq=False)
class NameBatch:
    """Domains and URLs enriched as columns, in input order (see `Enricher.enrich_names`).

    `host` is each value's host (None where `enrich` answers an error: a URL without one); where the
    host is an IP address (`address`), `country`, `asn`, `network_source` and `network_row` hold its
    answers as in IPBatch and `keys` its 16-byte key (IPv4 as IPv4-mapped); otherwise `tld_country`
    holds the country of its ccTLD (indexes into `countries.COUNTRIES`, 0: none).
    """

    host: list[str | None]
    address: npt.NDArray[np.bool_]
    country: U8
    asn: U32
    network_source: U8
    network_row: I32
    tld_country: U8
    keys: Keys6


class _Parsed(NamedTuple):
    batch: Addresses
    v4_at: npt.NDArray[np.intp] | None  # input position of each IPv4 address; None: all values are
    v6_at: npt.NDArray[np.intp]
    items: dict[int, _Item | str]


class _Collected:
    """Addresses found in a batch, in parts: (input positions, keys, texts) per family."""

    def __init__(self) -> None:
        self.parts: tuple[list[tuple[Any, Any, list[str]]], list[tuple[Any, Any, list[str]]]] = ([], [])
        self.items: dict[int, _Item | str] = {}

    def one_by_one(self, values: Sequence[Any], positions: Iterable[int]) -> None:
        """The values the bulk paths could not take: each through `canonical_*`, else `normalise`."""
        at: tuple[list[int], list[int]] = ([], [])
        keys: tuple[list[bytes], list[bytes]] = ([], [])
        texts: tuple[list[str], list[str]] = ([], [])
        for i in positions:
            v = values[i]
            p = canonical_v4(v)
            v6 = False
            if p is None:
                p = canonical_v6(v)
                v6 = True
                if p is None or p[:12] == V4_MAPPED:
                    try:
                        item = _classify(v)
                    except InvalidInput as e:
                        self.items[i] = e.detail
                        continue
                    self.items[i] = item
                    if item.address is None:
                        continue
                    v6, v = item.address.v6, item.address.text
                    p = item.address.key.to_bytes(16 if v6 else 4, "big")
            at[v6].append(i)
            keys[v6].append(p)
            texts[v6].append(v)
        for v6 in (False, True):
            if at[v6]:
                self.parts[v6].append((np.array(at[v6], np.intp), _keys(b"".join(keys[v6]), v6), texts[v6]))

    def parsed(self) -> _Parsed:
        cols: list[Any] = []
        for v6 in (False, True):
            parts = self.parts[v6]
            cols.append(np.concatenate([p[0] for p in parts]) if parts else _EMPTY_AT)
            cols.append(np.concatenate([p[1] for p in parts]) if parts else _keys(b"", v6))
            cols.append([t for p in parts for t in p[2]] if len(parts) > 1 else parts[0][2] if parts else [])
        at4, keys4, text4, at6, keys6, text6 = cols
        return _Parsed(Addresses(keys4, keys6, text4, text6), at4, at6, self.items)


def _keys(packed: bytes, v6: bool) -> Any:
    """Packed addresses as a key array: uint32 for IPv4, 'S16' for IPv6."""
    if v6:
        return np.frombuffer(packed, dtype="S16")
    return np.frombuffer(packed, dtype=">u4").astype(np.uint32)


def _bulk_v4(texts: Sequence[Any]) -> U32 | None:
    """Keys if every text is an IPv4 address in normalised form (C-speed loops), else None."""
    try:
        if PTON_STRICT:
            return _keys(b"".join(map(pton4, texts)), False)
        packed = list(map(pton4, texts))
    except (OSError, TypeError):
        return None
    if list(map(ntop4, packed)) != list(texts):
        return None
    return _keys(b"".join(packed), False)


def _bulk_v6(texts: Sequence[Any]) -> Keys6 | None:
    """Keys if every text is an IPv6 address in normalised form, none IPv4-mapped or in ::/96."""
    try:
        packed = list(map(pton6, texts))
    except (OSError, TypeError):
        return None
    if list(map(ntop6, packed)) != list(texts):
        return None
    joined = b"".join(packed)
    head = np.frombuffer(joined, dtype=np.uint8).reshape(-1, 16)
    if (
        ~head[:, :10].any(axis=1) & ((head[:, 10:12] == 0).all(axis=1) | (head[:, 10:12] == 255).all(axis=1))
    ).any():
        return None  # ::ffff:a.b.c.d is looked up as IPv4, and ::a.b.c.d is written differently
    return _keys(joined, True)


def _colons(values: Sequence[Any]) -> npt.NDArray[np.bool_] | None:
    """Which values contain ':' (IPv6 addresses, URLs), found in one joined buffer at C speed; None
    if a value is not text or holds a line break (the caller then takes every value one by one)."""
    try:
        buffer = np.frombuffer("\n".join(values).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    except (TypeError, UnicodeError):
        return None
    breaks = np.flatnonzero(buffer == 10)
    if len(breaks) != len(values) - 1:
        return None
    lines = np.searchsorted(breaks, np.flatnonzero(buffer == 58))  # the line of each ':'
    colon = np.zeros(len(values), dtype=bool)
    colon[lines] = True
    return colon


def _plain_v4(values: Sequence[Any], keys: U32) -> _Parsed:
    """A batch whose every value is a plain IPv4 address in normalised form, with its keys."""
    texts = values if isinstance(values, list) else list(values)
    return _Parsed(Addresses(keys, _keys(b"", True), texts, []), None, _EMPTY_AT, {})


def _parse(values: Sequence[Any]) -> _Parsed:
    """Addresses of a batch as numpy keys: at C speed for plain IPv4 and IPv6 addresses (most of a
    log or a feed), every other value one by one (`_Collected.one_by_one`)."""
    keys = _bulk_v4(values)
    if keys is not None:  # every value a plain IPv4 address: keys in input order
        return _plain_v4(values, keys)
    found = _Collected()
    colon = _colons(values)
    if colon is None:
        found.one_by_one(values, range(len(values)))
        return found.parsed()
    for v6, bulk in ((False, _bulk_v4), (True, _bulk_v6)):
        at = np.flatnonzero(colon if v6 else ~colon)
        if not len(at):
            continue
        texts = list(itemgetter(*at.tolist())(values)) if len(at) > 1 else [values[int(at[0])]]
        side = bulk(texts)
        if side is None:
            found.one_by_one(values, at.tolist())
        else:
            found.parts[v6].append((at, side, texts))
    return found.parsed()


class Enricher:
    """Enrichment over layered sources: the operator's data first, then what Accord ships.

    Build it once and keep it: the embedded plevin file is compiled into range tables on the first
    batch (about a second), and every later batch reuses them.
    """

    def __init__(self, data: Sequence[DataSet] = (), *, embedded: bool = True) -> None:
        self.data = list(data)
        self.countries: list[CountrySource] = [d.countries for d in data if d.countries is not None]
        self.networks: list[NetworkSource] = [d.networks for d in data if d.networks is not None]
        domains = [d.domains for d in data if d.domains is not None]
        if embedded:
            self.countries.append(IptoccCountries())
            self.networks.append(PlevinNetworks())
            domains.append(SuffixList())
        self.domains: SuffixList | None = domains[0] if domains else None
        if len(self.countries) >= NONE or len(self.networks) >= NONE:
            raise InvalidInput(f"too many enrichment sources (at most {NONE - 1} of each kind)")
        self._country_prov = [s.provenance.as_dict() for s in self.countries]
        self._network_prov = [s.provenance.as_dict() for s in self.networks]

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, embedded: bool = True) -> Enricher:
        """The files loaded with `loaders.load_data` (earlier wins), then, unless not, the shipped data."""
        return cls(load_data(paths), embedded=embedded)

    def sources(self) -> list[dict[str, str]]:
        """Every source, in the order asked, with what it answers and its data version."""
        out = [{"answers": "country", **s.provenance.as_dict()} for s in self.countries]
        out += [{"answers": "network", **s.provenance.as_dict()} for s in self.networks]
        if self.domains is not None:
            out.append({"answers": "domain", **self.domains.provenance.as_dict()})
        return out

    # ------------------------------------------------------------------------------- one value

    def enrich(self, value: object) -> dict[str, Any]:
        """One value's answer (see FIELDS); a value that is not infrastructure gets `error`, never raises."""
        try:
            item = _classify(value)
        except InvalidInput as e:
            return _error(value, e.detail)
        country = network = None
        csrc = nsrc = NONE
        if item.address is not None:
            for i, cs in enumerate(self.countries):
                country = cs.country(item.address)
                if country is not None:
                    csrc = i
                    break
            for i, ns in enumerate(self.networks):
                network = ns.network(item.address)
                if network is not None:
                    nsrc = i
                    break
        return self._row(item, country, csrc, network, nsrc)

    # --------------------------------------------------------------------------------- batches

    def enrich_ips(self, values: Sequence[Any], v4_keys: U32 | None = None) -> IPBatch:
        """Country and network of every address in `values`, as columns (see IPBatch). `v4_keys`:
        when the caller knows every value to be one IPv4 address in normalised form (as stored),
        their keys (the address as an integer), so the texts need not be parsed."""
        if v4_keys is not None and len(v4_keys) != len(values):
            raise ValueError(f"{len(v4_keys)} IPv4 keys for {len(values)} values")
        parsed = _parse(values) if v4_keys is None else _plain_v4(values, v4_keys)
        batch = parsed.batch
        n = len(values)
        c4, cs4, c6, cs6 = self._batch_countries(batch)
        r4, rs4, a4, r6, rs6, a6 = self._batch_networks(batch)
        if parsed.v4_at is None:  # every value a plain IPv4 address: the columns are the answers
            return IPBatch(values, c4, cs4, a4, rs4, r4, parsed.items, batch.v4)
        country = np.zeros(n, np.uint8)
        country_source = np.full(n, NONE, np.uint8)
        asn = np.zeros(n, np.uint32)
        network_source = np.full(n, NONE, np.uint8)
        network_row = np.full(n, -1, np.int32)
        for at, c, cs, r, rs, a in (
            (parsed.v4_at, c4, cs4, r4, rs4, a4),
            (parsed.v6_at, c6, cs6, r6, rs6, a6),
        ):
            country[at], country_source[at] = c, cs
            network_row[at], network_source[at], asn[at] = r, rs, a
        return IPBatch(values, country, country_source, asn, network_source, network_row, parsed.items)

    def enrich_many(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        """Each value's answer, in order: `enrich` for every value, at batch speed for addresses."""
        if len(values) < SINGLE_BELOW:
            return [self.enrich(v) for v in values]
        ips = self.enrich_ips(values)
        with gc_paused():  # a dict per value: the collector's passes over them free nothing
            return self._rows(values, ips)

    def enrich_names(self, values: Sequence[str]) -> NameBatch:
        """Domains and URLs in normalised form (as stored), as columns (see NameBatch): the answers
        `enrich_many` gives them, at a dict lookup per distinct TLD instead of a dict per value.

        Address hosts go through `enrich_ips` together; a name's ccTLD country is asked once per TLD."""
        n = len(values)
        host: list[str | None] = [
            (url_host(v) if "://" in v else v.rpartition("@")[2]) or None for v in values
        ]
        address = np.zeros(n, dtype=bool)
        keys = np.zeros(n, dtype="S16")
        at: list[int] = []
        texts: list[str] = []
        # Address hosts end in a digit (IPv4) or hold a colon (IPv6): only those are parsed.
        for i in [i for i, h in enumerate(host) if h and (h[-1].isdigit() or ":" in h)]:
            h = host[i]
            assert h is not None
            packed = canonical_v4(h)
            if packed is not None:
                at.append(i)
                texts.append(h)
                keys[i] = V4_MAPPED + packed
            elif ":" in h:
                try:
                    _k, _v, lo, _hi = normalise_row(h, "ipv6")
                except InvalidInput:
                    host[i] = None  # as `enrich`: an error
                    continue
                assert lo is not None
                at.append(i)
                texts.append(_address(lo).text)
                keys[i] = lo
        tld = [h.rpartition(".")[2] if h else "" for h in host]
        code: dict[str, int] = {"": 0}
        for t in set(tld).difference(code):
            answer = self.domains.domain(t) if self.domains is not None else _NO_DOMAIN
            code[t] = COUNTRY_INDEX.get(answer.tld_country, 0)  # a ccTLD's country depends on it alone
        tld_country = np.fromiter(map(code.__getitem__, tld), np.uint8, n)
        country = np.zeros(n, np.uint8)
        asn = np.zeros(n, np.uint32)
        network_source = np.full(n, NONE, np.uint8)
        network_row = np.full(n, -1, np.int32)
        if at:
            positions = np.array(at, dtype=np.intp)
            ips = self.enrich_ips(texts)
            address[positions] = True
            tld_country[positions] = 0
            country[positions], asn[positions] = ips.country, ips.asn
            network_source[positions], network_row[positions] = ips.network_source, ips.network_row
        return NameBatch(host, address, country, asn, network_source, network_row, tld_country, keys)

    def _rows(self, values: Sequence[Any], ips: IPBatch) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        columns = zip(
            ips.country.tolist(),
            ips.country_source.tolist(),
            ips.network_source.tolist(),
            ips.network_row.tolist(),
            strict=True,
        )
        for i, (c, cs, ns, nr) in enumerate(columns):
            got = ips.items.get(i)
            if isinstance(got, str):
                out.append(_error(values[i], got))
                continue
            if got is None:  # a plain address: it is its own normalised value
                v = values[i]
                got = _Item("ipv6" if ":" in v else "ipv4", v, v, None, None)
            network = None if ns == NONE else self.networks[ns].record(nr)
            out.append(self._row(got, COUNTRIES[c], cs, network, ns))
        return out

    def _batch_countries(self, batch: Addresses) -> tuple[U8, U8, U8, U8]:
        c4 = np.zeros(len(batch.v4), np.uint8)
        s4 = np.full(len(batch.v4), NONE, np.uint8)
        c6 = np.zeros(len(batch.v6), np.uint8)
        s6 = np.full(len(batch.v6), NONE, np.uint8)
        for i, source in enumerate(self.countries):
            a4, a6 = source.countries(batch)
            for have, src, got in ((c4, s4, a4), (c6, s6, a6)):
                take = (have == 0) & (got != 0)
                have[take] = got[take]
                src[take] = i
        return c4, s4, c6, s6

    def _batch_networks(self, batch: Addresses) -> tuple[I32, U8, U32, I32, U8, U32]:
        out: list[Any] = []
        for keys in (batch.v4, batch.v6):
            out += [
                np.full(len(keys), -1, np.int32),
                np.full(len(keys), NONE, np.uint8),
                np.zeros(len(keys), np.uint32),
            ]
        r4, s4, a4, r6, s6, a6 = out
        for i, source in enumerate(self.networks):
            got4, got6 = source.networks(batch)
            for rows, src, asn, got in ((r4, s4, a4, got4), (r6, s6, a6, got6)):
                take = (src == NONE) & (got >= 0)
                rows[take] = got[take]
                src[take] = i
                asn[take] = source.asns(got)[take]
        return r4, s4, a4, r6, s6, a6

    # ------------------------------------------------------------------------------ the answer

    def _row(
        self, item: _Item, country: str | None, csrc: int, network: Network | None, nsrc: int
    ) -> dict[str, Any]:
        source: dict[str, Any] = {}
        if country is not None:
            source["country"] = self._country_prov[csrc]
        asn = operator = abuse = None
        if network is not None:
            asn, operator, abuse = network
            source["network"] = self._network_prov[nsrc]
            if abuse is not None:
                source["abuse_email"] = source["network"]
            elif asn is not None:
                for i, ns in enumerate(self.networks):
                    abuse = ns.abuse_for_asn(asn)
                    if abuse is not None:
                        source["abuse_email"] = self._network_prov[i]
                        break
        dom = _NO_DOMAIN
        if item.domain is not None and self.domains is not None:
            dom = self.domains.domain(item.domain)
            if dom.tld is not None:
                source["domain"] = self.domains.provenance.as_dict()
        return {
            "value": item.value,
            "kind": item.kind,
            "host": item.host,
            "country": country,
            "asn": asn,
            "operator": operator,
            "abuse_email": abuse,
            "registrable_domain": dom.registrable_domain,
            "public_suffix": dom.public_suffix,
            "tld": dom.tld,
            "tld_country": dom.tld_country,
            "source": source,
            "error": None,
        }


def _error(value: object, detail: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FIELDS)
    row["value"] = value if isinstance(value, str) else repr(value)
    row["source"] = {}
    row["error"] = detail
    return row
