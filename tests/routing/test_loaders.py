"""Enrichment data an operator brings: tiny files of our own (CSV, RIR, MMDB built here, PSL) and the
real corpora in ../shared/data; the operator's data wins over the shipped data, field by field."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import iptocc
import pytest
from conftest import shared_data
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from accord.errors import InvalidInput
from accord.routing.enrich import Enricher
from accord.routing.loaders import load_data

CSV_COUNTRY = "1.0.0.0,1.0.0.255,FR\n1.0.1.0,1.0.3.255,ZZ\n2001:db8::,2001:db8::ffff,DE\n"
CSV_ASN = '8.8.8.0,8.8.8.255,64500,"Example Transit, Ltd"\n9.9.9.0,9.9.9.255,AS64501,\n'


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _many(e: Enricher, values: list[str]) -> list[dict[str, Any]]:
    """Answers through the batch path (padded past the single-value threshold)."""
    return e.enrich_many(values + ["192.0.2.1"] * 600)[: len(values)]


def test_csv_country_and_asn_win_over_the_shipped_data(tmp_path: Path) -> None:
    data = load_data([_write(tmp_path / "cc.csv", CSV_COUNTRY), _write(tmp_path / "asn.csv.gz", CSV_ASN)])
    e = Enricher(data)
    for rows in ([e.enrich(v) for v in ("1.0.0.7", "8.8.8.8", "2001:db8::5", "1.0.2.1", "9.9.9.9")],
                 _many(e, ["1.0.0.7", "8.8.8.8", "2001:db8::5", "1.0.2.1", "9.9.9.9"])):  # fmt: skip
        fr, google, v6, unassigned, quad9 = rows
        assert fr["country"] == "FR" and fr["source"]["country"]["name"] == "csv:cc.csv"
        assert fr["asn"] == 13335  # not in asn.csv: the shipped data answers
        assert fr["source"]["network"]["name"] == "plevin-db-network"
        assert (google["country"], google["asn"], google["operator"]) == ("US", 64500, "Example Transit, Ltd")
        assert google["source"]["country"]["name"] == "iptocc"
        assert google["source"]["network"]["name"] == "csv:asn.csv.gz"
        assert google["abuse_email"] is None  # AS64500 is nobody's in the shipped data either
        assert v6["country"] == "DE" and v6["asn"] is None
        # ZZ (unassigned) is not a country: the shipped data answers instead
        assert unassigned["source"]["country"]["name"] == "iptocc"
        assert (quad9["asn"], quad9["operator"]) == (64501, None)
    assert data[0].provenance.version.count("sha256:") == 1


def test_abuse_mailbox_is_found_by_asn_in_other_data(tmp_path: Path) -> None:
    e = Enricher(load_data([_write(tmp_path / "asn.csv", "8.8.8.0,8.8.8.255,13335,Someone\n")]))
    row = e.enrich("8.8.8.8")
    assert (row["asn"], row["operator"], row["abuse_email"]) == (13335, "Someone", "abuse@cloudflare.com")
    assert row["source"]["network"]["name"] == "csv:asn.csv"
    assert row["source"]["abuse_email"]["name"] == "plevin-db-network"
    assert _many(e, ["8.8.8.8"])[0] == row


def test_without_embedded_data_only_the_files_answer(tmp_path: Path) -> None:
    e = Enricher(load_data([_write(tmp_path / "cc.csv", CSV_COUNTRY)]), embedded=False)
    assert e.enrich("1.0.0.1")["country"] == "FR"
    assert e.enrich("8.8.8.8")["country"] is None and e.enrich("8.8.8.8")["asn"] is None
    row = e.enrich("www.example.com")
    assert row["registrable_domain"] is None and row["error"] is None and row["source"] == {}


def test_csv_bad_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    text = CSV_COUNTRY + "1.0.9.0,1.0.8.0,FR\nnot,an,XX\n1.2.3.4,1.2.3.9,something\n1.2.3.4\n"
    (data,) = load_data([_write(tmp_path / "cc.csv", text)])
    assert data.skipped == 4
    assert data.problems[0] == "cc.csv line 4: range 1.0.9.0..1.0.8.0 ends before it starts"
    assert "cc.csv line 5: 'not' is not a recognised observable" in data.problems[1]
    assert "neither a country code nor an AS number" in data.problems[2]
    assert "expected start,end,country" in data.problems[3]


def test_unusable_files_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidInput, match=r"no usable range in csv:bad\.csv; first problem: bad\.csv line 1"
    ):
        load_data([_write(tmp_path / "bad.csv", "x,y,z\n")])
    with pytest.raises(InvalidInput, match="not found"):
        load_data([tmp_path / "missing.csv"])
    with pytest.raises(InvalidInput, match="unrecognised enrichment data"):
        load_data([_write(tmp_path / "notes.txt", "hello world\n")])
    with pytest.raises(InvalidInput, match="not a readable MaxMind DB"):
        load_data([_write(tmp_path / "x.mmdb", "not a database")])
    with pytest.raises(InvalidInput, match="not a usable plevin file"):
        load_data([_write(tmp_path / "x.plv", "not plevin")])
    (tmp_path / "trunc.csv.gz").write_bytes(gzip.compress(CSV_COUNTRY.encode())[:-12])
    with pytest.raises(InvalidInput, match="cannot read enrichment data"):
        load_data([tmp_path / "trunc.csv.gz"])


RIR_A = """2|ripencc|20260101|5|19830705|20260101|+0100
# a comment
ripencc|*|ipv4|*|3|summary
ripencc|FR|ipv4|2.0.0.0|1048576|20100712|allocated|a1
ripencc|NL|ipv4|5.0.0.0|768|20100712|assigned|a2
ripencc|EU|ipv4|6.0.0.0|256|20100712|allocated|a3
ripencc|DE|ipv6|2001:db8::|32|20100712|allocated|a4
ripencc|DE|ipv4|7.0.0.0|256|20100712|available|
ripencc|DE|asn|3320|1|20100712|allocated|a5
ripencc|DE|ipv4|7.1.0.0|zero|20100712|allocated|
"""
RIR_B = """2.3|apnic|20260102|2|19850701|20260102|+1000
apnic|JP|ipv4|1.0.16.0|4096|20110412|allocated
apnic|AU|ipv6|2001:db9::|129|20110412|allocated
"""


def test_rir_files_load_as_one_table(tmp_path: Path) -> None:
    paths = [
        _write(tmp_path / "delegated-ripencc-latest", RIR_A),
        _write(tmp_path / "delegated-apnic.gz", RIR_B),
    ]
    (data,) = load_data(paths)
    assert data.provenance.name == "rir:delegated-ripencc-latest+delegated-apnic.gz"
    assert data.provenance.version == "ripencc 20260101, apnic 20260102"
    assert data.skipped == 2  # the unreadable size and the /129
    assert data.problems[0] == "delegated-ripencc-latest line 10: '7.1.0.0' with 'zero' is not an ipv4 block"
    e = Enricher([data], embedded=False)
    probes = (
        "2.15.255.255",
        "2.16.0.0",
        "5.0.2.255",
        "5.0.3.0",
        "6.0.0.1",
        "7.0.0.1",
        "1.0.31.1",
        "2001:db8:1::1",
    )
    answers = {v: e.enrich(v)["country"] for v in probes}
    assert answers == {
        "2.15.255.255": "FR", "2.16.0.0": None, "5.0.2.255": "NL", "5.0.3.0": None,  # 768 is not a power of 2
        "6.0.0.1": None, "7.0.0.1": None, "1.0.31.1": "JP", "2001:db8:1::1": "DE",
    }  # fmt: skip
    assert {v: r["country"] for v, r in zip(answers, _many(e, list(answers)), strict=True)} == answers


def _mmdb(path: Path, ip_version: int, networks: list[tuple[list[str], dict[str, Any]]], kind: str) -> Path:
    writer = MMDBWriter(ip_version=ip_version, database_type=kind, ipv4_compatible=ip_version == 6)
    for cidrs, record in networks:
        writer.insert_network(IPSet(cidrs), record)
    writer.to_db_file(str(path))
    return path


def test_mmdb_country_and_asn(tmp_path: Path) -> None:
    country = _mmdb(tmp_path / "Country.mmdb", 6, [
        (["8.8.8.0/24"], {"country": {"iso_code": "CH"}, "registered_country": {"iso_code": "US"}}),
        (["9.9.9.0/24"], {"country": {"iso_code": "CH"}}),
        (["2001:db8::/32"], {"country": {"iso_code": "se"}}),
        (["10.0.0.0/8"], {"continent": {"code": "EU"}}),
    ], "Test-Country")  # fmt: skip
    asn = _mmdb(tmp_path / "ASN.mmdb", 4, [
        (["8.8.8.0/24"], {"autonomous_system_number": 64510, "autonomous_system_organization": "Test Org"}),
        (["9.9.9.0/25"], {"asn": "AS64511", "as_name": "Other", "abuse_email": "abuse@other.example"}),
    ], "Test-ASN")  # fmt: skip
    data = load_data([country, asn])
    assert data[0].provenance.name == "mmdb:Country.mmdb" and data[0].provenance.version.startswith(
        "Test-Country 20"
    )
    assert data[0].networks is None and data[1].countries is None
    e = Enricher(data)
    values = ["8.8.8.8", "9.9.9.9", "9.9.9.200", "2001:db8::1", "10.1.1.1"]
    singles = [e.enrich(v) for v in values]
    assert [(r["country"], r["asn"], r["operator"], r["abuse_email"]) for r in singles] == [
        ("US", 64510, "Test Org", None),  # the registered country, not the geolocated one
        ("CH", 64511, "Other", "abuse@other.example"),
        ("CH", 19281, "Quad9", "abuse@quad9.net"),  # outside the /25: the shipped data answers
        ("SE", None, None, None),  # an IPv6 address in an IPv4-only ASN file: no answer
        (None, None, None, None),
    ]
    assert singles[0]["source"]["network"]["name"] == "mmdb:ASN.mmdb"
    assert singles[2]["source"]["network"]["name"] == "plevin-db-network"
    assert _many(e, values) == singles


def test_psl_file_replaces_the_shipped_list(tmp_path: Path) -> None:
    psl = _write(tmp_path / "public_suffix_list.dat", "// ===BEGIN ICANN DOMAINS===\ncom\nexample.com\n"
                 "// ===END ICANN DOMAINS===\n")  # fmt: skip
    (data,) = load_data([psl])
    row = Enricher([data]).enrich("a.b.example.com")
    assert (row["registrable_domain"], row["public_suffix"]) == ("b.example.com", "example.com")
    assert row["source"]["domain"]["name"] == "psl:public_suffix_list.dat"
    assert Enricher([data]).enrich("x.org")["tld"] is None  # this list knows no .org
    with pytest.raises(InvalidInput, match="not a Public Suffix List"):
        load_data([_write(tmp_path / "other.dat", "nothing\n")])


# ------------------------------------------------------------------------------------------ corpora


def _ip_location_db(*names: str) -> list[Path]:
    root = shared_data("ip-location-db-npm")
    return [root / name for name in names]


@pytest.mark.corpus
def test_ip_location_db_csv_real_answers() -> None:
    data = load_data(
        _ip_location_db("asn/asn-ipv4.csv.gz", "geo-whois-asn-country/geo-whois-asn-country-ipv4.csv.gz")
    )
    assert [d.skipped for d in data] == [0, 0]
    e = Enricher(data)
    assert (e.enrich("1.0.0.1")["asn"], e.enrich("1.0.0.1")["operator"]) == (13335, "Cloudflare, Inc.")
    assert e.enrich("1.0.16.1")["country"] == "JP"
    assert e.enrich("1.0.16.1")["source"]["country"]["name"] == "csv:geo-whois-asn-country-ipv4.csv.gz"
    # Both are compiled from the RIRs' delegations: they agree with iptocc almost everywhere.
    rnd = random.Random(4)
    sample = [
        f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        for _ in range(20000)
    ]
    ours = Enricher(data[1:], embedded=False).enrich_ips(sample).countries()
    theirs = iptocc.country_code(sample)
    both = [(a, b) for a, b in zip(ours, theirs, strict=True) if a and b]
    assert len(both) > 15000
    assert sum(a == b for a, b in both) / len(both) > 0.95


@pytest.mark.corpus
def test_ip_location_db_ipv6_csv() -> None:
    data = load_data(
        _ip_location_db("asn/asn-ipv6.csv.gz", "geo-whois-asn-country/geo-whois-asn-country-ipv6.csv.gz")
    )
    e = Enricher(data, embedded=False)
    row = e.enrich("2606:4700::1111")
    assert (row["country"], row["asn"]) == ("US", 13335)


@pytest.mark.corpus
def test_country_blocks_corpus_agrees_with_iptocc() -> None:
    """herrbischoff's per-country CIDRs (compiled from the five RIR files) against the shipped
    country data: the first address of sampled blocks mostly answers the same country."""
    root = shared_data("country-ip-blocks-herrbischoff", "ipv4")
    e = Enricher()
    rnd = random.Random(2)
    checked = agree = 0
    for path in sorted(root.glob("*.cidr")):
        code = path.stem.upper()
        blocks = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        for block in rnd.sample(blocks, min(5, len(blocks))):
            row = e.enrich(block)
            checked += 1
            agree += row["country"] == code
    assert checked > 800
    assert agree / checked > 0.9
