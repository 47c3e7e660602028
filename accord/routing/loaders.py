"""Enrichment data an operator brings, so a national node can use its own instead of what Accord ships:

* MaxMind DB files (`.mmdb`: GeoLite2/GeoIP2 Country, City and ASN, DB-IP, ipinfo, ip-location-db's
  MMDB builds) read with `maxminddb`;
* ip-location-db CSV (`start,end,CC` or `start,end,ASN,"org"`, the city layouts too; `.gz` is fine);
* the RIRs' delegated statistics files (`delegated-ripencc-extended-latest` and friends), several of
  which load as one table;
* a plevin file (`.plv`) and a Public Suffix List (`public_suffix_list.dat`).

`load_data(paths)` turns files into `DataSet`s in the order given (earlier wins). Each records its
provenance: the file's name and its data version (the RIR file's date, the MMDB's build date and type,
else the file's date and a SHA-256 prefix). Lines that cannot be used are skipped and counted, with
the first few problems kept (file and line); a file with no usable line at all is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
from publicsuffixlist import PublicSuffixList

from accord.errors import InvalidInput
from accord.routing.countries import COUNTRIES, COUNTRY_INDEX, country_code
from accord.routing.embedded import PlevinNetworks, SuffixList
from accord.routing.model import (
    I32,
    U8,
    U32,
    Address,
    Addresses,
    CountrySource,
    Network,
    NetworkSource,
    Provenance,
    address_number,
)
from accord.routing.ranges import Range, RangeTable

__all__ = ["DataSet", "TableCountries", "TableNetworks", "file_version", "load_data"]

MAX_PROBLEMS = 20


@dataclass
class DataSet:
    """What one file (or one set of RIR files) answers, and what of it could not be used."""

    provenance: Provenance
    countries: CountrySource | None = None
    networks: NetworkSource | None = None
    domains: SuffixList | None = None
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {why}")


def file_version(path: Path) -> str:
    """A data version for a file that states none: its modification date and a SHA-256 prefix."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    day = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()
    return f"{day} sha256:{digest.hexdigest()[:12]}"


# --------------------------------------------------------------------------------- table sources


class TableCountries:
    """Countries from a range table whose rows are country indexes."""

    def __init__(self, provenance: Provenance, table: RangeTable) -> None:
        self.provenance = provenance
        self.table = table

    def country(self, address: Address) -> str | None:
        return COUNTRIES[max(self.table.row(address.key, address.v6), 0)]

    def countries(self, batch: Addresses) -> tuple[U8, U8]:
        r4, r6 = self.table.rows(batch)
        return np.maximum(r4, 0).astype(np.uint8), np.maximum(r6, 0).astype(np.uint8)


class TableNetworks:
    """Networks from a range table whose rows index `records`."""

    def __init__(self, provenance: Provenance, table: RangeTable, records: list[Network]) -> None:
        self.provenance = provenance
        self.table = table
        self.records = records
        self._asn = np.array([r.asn or 0 for r in records] + [0], dtype=np.uint32)
        self._abuse: dict[int, str] = {}
        for r in records:
            if r.asn and r.abuse_email:
                self._abuse.setdefault(r.asn, r.abuse_email)

    def network(self, address: Address) -> Network | None:
        row = self.table.row(address.key, address.v6)
        return None if row < 0 else self.records[row]

    def networks(self, batch: Addresses) -> tuple[I32, I32]:
        return self.table.rows(batch)

    def asns(self, rows: I32) -> U32:
        return self._asn[rows]

    def record(self, row: int) -> Network:
        return self.records[row]

    def abuse_for_asn(self, asn: int) -> str | None:
        return self._abuse.get(asn)


class _Ranges:
    """Collects (first, last, row) ranges per family while a file is read; networks deduplicated."""

    def __init__(self) -> None:
        self.country: tuple[list[Range], list[Range]] = ([], [])
        self.network: tuple[list[Range], list[Range]] = ([], [])
        self.records: list[Network] = []
        self._ids: dict[Network, int] = {}

    def add_country(self, lo: int, hi: int, v6: bool, code: str) -> None:
        self.country[v6].append((lo, hi, COUNTRY_INDEX[code]))

    def add_network(self, lo: int, hi: int, v6: bool, net: Network) -> None:
        row = self._ids.get(net)
        if row is None:
            row = self._ids[net] = len(self.records)
            self.records.append(net)
        self.network[v6].append((lo, hi, row))

    def tables(self, provenance: Provenance) -> tuple[TableCountries | None, TableNetworks | None]:
        countries = networks = None
        if self.country[0] or self.country[1]:
            countries = TableCountries(provenance, RangeTable.build(*self.country))
        if self.network[0] or self.network[1]:
            networks = TableNetworks(provenance, RangeTable.build(*self.network), self.records)
        return countries, networks

    def into(self, data: DataSet) -> DataSet:
        data.countries, data.networks = self.tables(data.provenance)
        if data.countries is None and data.networks is None:
            first = f"; first problem: {data.problems[0]}" if data.problems else ""
            raise InvalidInput(f"no usable range in {data.provenance.name}{first}")
        return data


def _text_lines(path: Path) -> Iterator[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        yield from fh


# ------------------------------------------------------------------------------- ip-location-db


def _range(first: str, last: str) -> tuple[int, int, bool]:
    lo, v6 = address_number(first.strip())
    hi, hi_v6 = address_number(last.strip())
    if v6 != hi_v6:
        raise InvalidInput(f"range {first}..{last} mixes IPv4 and IPv6")
    if hi < lo:
        raise InvalidInput(f"range {first}..{last} ends before it starts")
    return lo, hi, v6


def _asn(text: str) -> int | None:
    t = text.strip().upper().removeprefix("AS")
    return int(t) if t.isdigit() and 0 < int(t) < 1 << 32 else None


def load_csv(path: Path) -> DataSet:
    """ip-location-db CSV: `start,end,CC[,…]` (country, city layouts) or `start,end,ASN,org` (no header)."""
    data = DataSet(Provenance(f"csv:{path.name}", file_version(path)))
    ranges = _Ranges()
    name = path.name
    for n, row in enumerate(csv.reader(_text_lines(path)), 1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 3:
            data.skip(f"{name} line {n}", "expected start,end,country or start,end,asn,org")
            continue
        try:
            lo, hi, v6 = _range(row[0], row[1])
        except InvalidInput as e:
            data.skip(f"{name} line {n}", e.detail)
            continue
        third = row[2].strip()
        asn = _asn(third)
        if asn is not None:
            org = row[3].strip() if len(row) > 3 else ""
            ranges.add_network(lo, hi, v6, Network(asn, org or None, None))
        elif len(third) == 2 and third.isalpha():
            code = country_code(third)
            if code is not None:  # EU, AP, ZZ: regional or unassigned, not a country
                ranges.add_country(lo, hi, v6, code)
        elif third:
            data.skip(f"{name} line {n}", f"{third[:40]!r} is neither a country code nor an AS number")
    return ranges.into(data)


# --------------------------------------------------------------------------------------- RIR files


def load_rir(paths: Iterable[Path]) -> DataSet:
    """RIR delegated statistics (`registry|cc|type|start|value|date|status[|…]`), several as one table:
    allocated and assigned IPv4/IPv6 blocks with an ISO country code; the rest is skipped silently."""
    paths = list(paths)
    versions: list[str] = []
    data = DataSet(Provenance("rir:" + "+".join(p.name for p in paths), ""))
    ranges = _Ranges()
    for path in paths:
        version = ""
        for n, line in enumerate(_text_lines(path), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\r\n").split("|")
            if not version and parts[0].replace(".", "").isdigit() and len(parts) >= 3:  # 2.3|apnic|2026…
                version = f"{parts[1]} {parts[2]}"
                continue
            if len(parts) < 7 or parts[5] == "summary" or parts[2] not in ("ipv4", "ipv6"):
                continue
            if parts[6] not in ("allocated", "assigned"):
                continue
            code = country_code(parts[1])
            if code is None:
                continue
            where = f"{path.name} line {n}"
            try:
                lo, v6 = address_number(parts[3])
                size = int(parts[4]) if parts[4].isascii() and parts[4].isdigit() else -1
                if v6 != (parts[2] == "ipv6") or size < 0 or (v6 and size > 128) or (not v6 and size < 1):
                    raise InvalidInput(f"{parts[3]!r} with {parts[4]!r} is not an {parts[2]} block")
                hi = lo | ((1 << (128 - size)) - 1) if v6 else lo + size - 1
                if hi >= 1 << (128 if v6 else 32):
                    raise InvalidInput(f"block {parts[3]} + {parts[4]} runs past the address space")
            except InvalidInput as e:
                data.skip(where, e.detail)
                continue
            ranges.add_country(lo, hi, v6, code)
        versions.append(version or file_version(path))
    data.provenance = Provenance(data.provenance.name, ", ".join(versions))
    return ranges.into(data)


# ---------------------------------------------------------------------------------------- MMDB


def _mmdb_country(record: Any) -> str | None:
    """The registered country (what the RIR lists), else the geolocated one, as MMDB layouts spell it."""
    if not isinstance(record, dict):
        return None
    for key in ("registered_country", "country", "country_code"):
        value = record.get(key)
        if isinstance(value, dict):
            value = value.get("iso_code")
        code = country_code(value)
        if code is not None:
            return code
    return None


def _mmdb_network(record: Any) -> Network | None:
    if not isinstance(record, dict):
        return None
    raw = record.get("autonomous_system_number", record.get("asn"))
    asn = raw if isinstance(raw, int) and raw > 0 else _asn(raw) if isinstance(raw, str) else None
    org = record.get("autonomous_system_organization") or record.get("as_name") or record.get("asn_name")
    abuse = record.get("abuse_email")
    if asn is None and not isinstance(org, str):
        return None
    return Network(
        asn,
        org if isinstance(org, str) and org else None,
        abuse if isinstance(abuse, str) and abuse else None,
    )


class _Mmdb:
    """One MaxMind DB: single look-ups read the file; batches use its tree compiled into range tables."""

    def __init__(self, path: Path) -> None:
        try:
            self.reader = maxminddb.open_database(str(path))
        except (maxminddb.InvalidDatabaseError, ValueError) as e:
            raise InvalidInput(f"{path.name} is not a readable MaxMind DB file: {e}") from None
        meta = self.reader.metadata()
        built = dt.datetime.fromtimestamp(meta.build_epoch, dt.UTC).date().isoformat()
        self.provenance = Provenance(f"mmdb:{path.name}", f"{meta.database_type} {built}")
        self.ipv6 = meta.ip_version == 6
        self._tables: tuple[TableCountries | None, TableNetworks | None] | None = None

    def record(self, address: Address) -> Any:
        if address.v6 and not self.ipv6:
            return None
        return self.reader.get(address.text)

    def has(self) -> tuple[bool, bool]:
        """(answers countries, answers networks), judged from the first records."""
        country = network = False
        for i, (_net, record) in enumerate(self.reader):
            country = country or _mmdb_country(record) is not None
            network = network or _mmdb_network(record) is not None
            if i >= 1000 or (country and network):
                break
        return country, network

    def tables(self) -> tuple[TableCountries | None, TableNetworks | None]:
        if self._tables is None:
            ranges = _Ranges()
            for net, record in self.reader:
                v6 = isinstance(net, IPv6Network)
                lo, hi = int(net.network_address), int(net.broadcast_address)
                code = _mmdb_country(record)
                if code is not None:
                    ranges.add_country(lo, hi, v6, code)
                found = _mmdb_network(record)
                if found is not None:
                    ranges.add_network(lo, hi, v6, found)
            self._tables = ranges.tables(self.provenance)
        return self._tables


class MmdbCountries:
    def __init__(self, mmdb: _Mmdb) -> None:
        self.mmdb = mmdb
        self.provenance = mmdb.provenance

    def country(self, address: Address) -> str | None:
        return _mmdb_country(self.mmdb.record(address))

    def countries(self, batch: Addresses) -> tuple[U8, U8]:
        table = self.mmdb.tables()[0]
        if table is None:
            return np.zeros(len(batch.v4), np.uint8), np.zeros(len(batch.v6), np.uint8)
        return table.countries(batch)


class MmdbNetworks:
    def __init__(self, mmdb: _Mmdb) -> None:
        self.mmdb = mmdb
        self.provenance = mmdb.provenance

    def _table(self) -> TableNetworks:
        table = self.mmdb.tables()[1]
        if table is None:  # has() saw networks, so the tree holds some: never reached in practice
            raise InvalidInput(f"{self.provenance.name} holds no networks")
        return table

    def network(self, address: Address) -> Network | None:
        return _mmdb_network(self.mmdb.record(address))

    def networks(self, batch: Addresses) -> tuple[I32, I32]:
        return self._table().networks(batch)

    def asns(self, rows: I32) -> U32:
        return self._table().asns(rows)

    def record(self, row: int) -> Network:
        return self._table().record(row)

    def abuse_for_asn(self, asn: int) -> str | None:
        return self._table().abuse_for_asn(asn)


def load_mmdb(path: Path) -> DataSet:
    mmdb = _Mmdb(path)
    country, network = mmdb.has()
    if not (country or network):
        raise InvalidInput(f"{path.name}: no country or AS number in its first records")
    return DataSet(
        mmdb.provenance,
        countries=MmdbCountries(mmdb) if country else None,
        networks=MmdbNetworks(mmdb) if network else None,
    )


# --------------------------------------------------------------------------------- the others


def load_plevin(path: Path) -> DataSet:
    try:
        source = PlevinNetworks(path)
    except (ValueError, OSError, LookupError) as e:
        raise InvalidInput(f"{path.name} is not a usable plevin file: {e}") from None
    return DataSet(source.provenance, networks=source)


def load_psl(path: Path) -> DataSet:
    with open(path, "rb") as fh:
        psl = PublicSuffixList(fh, accept_unknown=False, only_icann=True)
    if not psl.is_public("com"):
        raise InvalidInput(f"{path.name} is not a Public Suffix List (it has no ICANN section with com)")
    provenance = Provenance(f"psl:{path.name}", file_version(path))
    return DataSet(provenance, domains=SuffixList(psl, provenance))


def _sniff(path: Path) -> str:
    """'mmdb', 'plevin', 'psl', 'rir' or 'csv', from the name and the first data line."""
    name = path.name.lower()
    if name.endswith(".mmdb"):
        return "mmdb"
    if name.endswith(".plv"):
        return "plevin"
    if name.endswith(".dat") or "public_suffix" in name:
        return "psl"
    for line in _text_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        if "|" in line:
            return "rir"
        if "," in line:
            return "csv"
        break
    raise InvalidInput(
        f"{path.name}: unrecognised enrichment data (expected .mmdb, .plv, a Public Suffix List, "
        "an RIR delegated file or ip-location-db CSV)"
    )


def load_data(paths: Iterable[str | Path]) -> list[DataSet]:
    """Data sets for these files, in the order given (RIR files together, where the first of them is).

    Raises InvalidInput naming the file for a missing, unreadable or unrecognised one.
    """
    out: list[DataSet] = []
    rir: list[Path] = []
    rir_at = -1
    for p in map(Path, paths):
        if not p.is_file():
            raise InvalidInput(f"enrichment data file not found: {p}")
        try:
            kind = _sniff(p)
            if kind == "rir":
                rir_at = len(out) if rir_at < 0 else rir_at
                rir.append(p)
                continue
            loader = {"mmdb": load_mmdb, "plevin": load_plevin, "psl": load_psl, "csv": load_csv}[kind]
            out.append(loader(p))
        except (OSError, UnicodeError, EOFError, gzip.BadGzipFile) as e:
            raise InvalidInput(f"cannot read enrichment data {p}: {e}") from None
    if rir:
        try:
            out.insert(rir_at, load_rir(rir))
        except (OSError, UnicodeError, EOFError, gzip.BadGzipFile) as e:
            raise InvalidInput(f"cannot read RIR files {', '.join(map(str, rir))}: {e}") from None
    return out
