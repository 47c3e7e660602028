"""Enrichment from the data Accord ships: real answers for known addresses and names, one answer per
value whatever the path (single, batch), clear errors for what is not infrastructure, no network."""

from __future__ import annotations

import gc
import ipaddress
import random
import subprocess
import sys
import textwrap
import weakref
from typing import Any

import numpy as np
import plevin
import plevin_db_network
import pytest

from accord.intel.observables import normalise_row
from accord.routing.countries import COUNTRIES, tld_country
from accord.routing.embedded import _Memo
from accord.routing.enrich import FIELDS, SINGLE_BELOW, Enricher


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher()


def _net(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["country"], row["asn"], row["operator"], row["abuse_email"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.8.8.8", ("US", 15169, "Google LLC", "network-abuse@google.com")),
        ("1.1.1.1", ("AU", 13335, "Cloudflare, Inc.", "abuse@cloudflare.com")),
        ("2606:4700::1111", ("US", 13335, "Cloudflare, Inc.", "abuse@cloudflare.com")),
        ("2001:4860:4860::8888", ("US", 15169, "Google LLC", "network-abuse@google.com")),
        ("193.0.6.139", ("NL", 3333, "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)", None)),
        ("::ffff:8.8.8.8", ("US", 15169, "Google LLC", "network-abuse@google.com")),  # IPv4-mapped
        ("10.1.2.3", (None, None, None, None)),  # private space: nobody to tell
        ("127.0.0.1", (None, None, None, None)),
        ("2001:db8::1", (None, None, None, None)),  # documentation prefix
    ],
)
def test_known_addresses(enricher: Enricher, value: str, expected: tuple[Any, ...]) -> None:
    row = enricher.enrich(value)
    assert _net(row) == expected
    assert row["kind"] == ("ipv6" if ":" in value else "ipv4")
    assert row["value"] == row["host"] == value
    if expected[0] is not None:
        assert row["source"]["country"]["name"] == "iptocc"
        assert row["source"]["network"]["name"] == "plevin-db-network"
        assert row["source"]["network"]["version"].startswith("20")
    else:
        assert row["source"] == {}
    assert tuple(row) == FIELDS


def test_sources_name_their_data_versions(enricher: Enricher) -> None:
    assert [(s["answers"], s["name"]) for s in enricher.sources()] == [
        ("country", "iptocc"),
        ("network", "plevin-db-network"),
        ("domain", "publicsuffixlist"),
    ]
    assert all(s["version"] for s in enricher.sources())


@pytest.mark.parametrize(
    ("value", "kind", "host", "registrable", "suffix", "tld", "tld_cc"),
    [
        ("www.bbc.co.uk", "domain", "www.bbc.co.uk", "bbc.co.uk", "co.uk", "uk", "GB"),
        ("Example.COM.", "domain", "example.com", "example.com", "com", "com", None),
        (
            "пример.рф",
            "domain",
            "xn--e1afmkfd.xn--p1ai",
            "xn--e1afmkfd.xn--p1ai",
            "xn--p1ai",
            "xn--p1ai",
            "RU",
        ),
        (
            "a.b.city.kawasaki.jp",
            "domain",
            "a.b.city.kawasaki.jp",
            "city.kawasaki.jp",
            "kawasaki.jp",
            "jp",
            "JP",
        ),
        # private-section suffixes are left out: the registrar's customer is github.io's holder
        ("evil.github.io", "domain", "evil.github.io", "github.io", "io", "io", "IO"),
        ("europa.eu", "domain", "europa.eu", "europa.eu", "eu", "eu", None),
        ("co.uk", "domain", "co.uk", None, "co.uk", "uk", "GB"),  # a public suffix is nobody's domain
        ("host.corp.internal", "domain", "host.corp.internal", None, None, None, None),  # unknown TLD
        (
            "hxxps://login[.]bank.example.de/x?y=1",
            "url",
            "login.bank.example.de",
            "example.de",
            "de",
            "de",
            "DE",
        ),
        ("abuse@mail.ru", "email", "mail.ru", "mail.ru", "ru", "ru", "RU"),
    ],
)
def test_domains_and_urls(
    enricher: Enricher,
    value: str,
    kind: str,
    host: str,
    registrable: str | None,
    suffix: str | None,
    tld: str | None,
    tld_cc: str | None,
) -> None:
    row = enricher.enrich(value)
    assert (row["kind"], row["host"], row["registrable_domain"], row["public_suffix"]) == (
        kind,
        host,
        registrable,
        suffix,
    )
    assert (row["tld"], row["tld_country"]) == (tld, tld_cc)
    assert row["country"] is row["asn"] is row["error"] is None
    expected_source = {"domain": {"name": "publicsuffixlist", "version": enricher.sources()[-1]["version"]}}
    assert row["source"] == (expected_source if tld is not None else {})


def test_url_with_an_address_host_is_enriched_as_the_address(enricher: Enricher) -> None:
    row = enricher.enrich("https://[2606:4700::1111]:443/p")
    assert (row["kind"], row["value"], row["host"]) == (
        "url",
        "https://[2606:4700::1111]/p",
        "2606:4700::1111",
    )
    assert _net(row) == ("US", 13335, "Cloudflare, Inc.", "abuse@cloudflare.com")
    assert enricher.enrich("http://8.8.8.8:8080/x")["asn"] == 15169


def test_network_is_enriched_by_its_first_address(enricher: Enricher) -> None:
    row = enricher.enrich("8.8.8.0/24")
    assert (row["value"], row["host"], row["asn"]) == ("8.8.8.0/24", "8.8.8.0", 15169)


def test_idn_cctlds_are_in_the_public_suffix_list(enricher: Enricher) -> None:
    assert enricher.domains is not None
    from accord.routing.countries import _TLD_COUNTRY

    for tld, country in _TLD_COUNTRY.items():
        if tld.startswith("xn--"):
            assert enricher.domains.domain(f"x.{tld}").tld == tld, tld
            assert country in COUNTRIES
    assert tld_country("su") is None and tld_country("com") is None and tld_country("ac") == "SH"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty observable value"),
        ("   ", "empty observable value"),
        ("not a value", "not a recognised observable"),
        ("01.2.3.4", "leading zero"),
        ("1.2.3.256", "not a number from 0 to 255"),
        ("fe80::1%eth0", "not a recognised observable"),
        ("http://", "no host"),
        ("d41d8cd98f00b204e9800998ecf8427e", "an MD5 hash: it names no infrastructure"),
        ("a" * 64, "a SHA-256 hash: it names no infrastructure"),
        (None, "must be text, not NoneType"),
        (42, "must be text, not int"),
    ],
)
def test_bad_input_gets_an_error_object(enricher: Enricher, value: Any, message: str) -> None:
    row = enricher.enrich(value)
    assert message in row["error"]
    assert tuple(row) == FIELDS
    assert row["kind"] is row["country"] is row["registrable_domain"] is None
    assert row["value"] == (value if isinstance(value, str) else repr(value))


def _mixed_values(n: int, seed: int) -> list[Any]:
    rnd = random.Random(seed)
    out: list[Any] = []
    for i in range(n):
        r = rnd.random()
        if r < 0.6:
            out.append(
                f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
            )
        elif r < 0.75:
            out.append(
                f"2{rnd.randrange(16):x}{rnd.randrange(256):02x}:{rnd.getrandbits(16):x}::{rnd.getrandbits(16):x}"
            )
        elif r < 0.8:
            out.append(rnd.choice(["::ffff:8.8.4.4", " 9.9.9.9 ", "1.1.1.0/24", "2001:DB8::1", "1[.]0.0.1"]))
        elif r < 0.9:
            out.append(
                f"www{i}.example{rnd.randrange(99)}.{rnd.choice(['com', 'co.uk', 'de', 'xyz', 'nope'])}"
            )
        elif r < 0.95:
            out.append(
                f"http://h{i}.{rnd.choice(['fr', 'jp'])}/p?{i}" if r < 0.93 else f"http://8.8.{i % 256}.1/"
            )
        else:
            out.append(
                rnd.choice(["", "bad value", "01.2.3.4", "d41d8cd98f00b204e9800998ecf8427e", None, "::1%x"])
            )
    return out


def test_batch_answers_equal_single_answers(enricher: Enricher) -> None:
    """The batch path (compiled tables, fast parse) and the single path (plevin's own look-up,
    `normalise` for every value) give the same answer for every value, errors included."""
    values = _mixed_values(6000, seed=3)
    assert len(values) >= SINGLE_BELOW
    batch = enricher.enrich_many(values)
    assert len(batch) == len(values)
    for value, row in zip(values, batch, strict=True):
        assert row == enricher.enrich(value), value


def test_compiled_plevin_equals_plevin_lookup(enricher: Enricher) -> None:
    """The compiled plevin tables against plevin's own per-address look-up, on random addresses."""
    rnd = random.Random(9)
    v4 = [
        f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        for _ in range(20000)
    ]
    v6 = [f"2{rnd.randrange(16):x}{rnd.randrange(256):02x}:{rnd.getrandbits(16):x}::1" for _ in range(3000)]
    ips = enricher.enrich_ips(v4 + v6)
    own = plevin.Plevin(plevin_db_network.PATH)
    source = enricher.networks[0]
    for i, value in enumerate(v4 + v6):
        network = own.lookup(value).network
        asn = int(ips.asn[i]) or None
        assert asn == (network.asn if network is not None else None), value
        if network is not None and ips.network_row[i] >= 0:
            record = source.record(int(ips.network_row[i]))
            company = network.operator.company if network.operator is not None else None
            assert record.operator == (company or network.handle), value
    assert sum(1 for a in ips.asn.tolist() if a) > 10000  # most public space is announced


def test_batch_of_plain_ipv4_takes_the_fast_path(enricher: Enricher) -> None:
    values = ["8.8.8.8", "1.1.1.1", "10.0.0.1"] * 300
    ips = enricher.enrich_ips(values)
    assert ips.items == {}
    assert ips.countries()[:3] == ["US", "AU", None]
    assert ips.asn[:3].tolist() == [15169, 13335, 0]


def test_a_batch_with_its_ipv4_keys_known_is_enriched_as_if_parsed(enricher: Enricher) -> None:
    """Routing passes the keys it read from the store: the same answers, without parsing."""
    rnd = random.Random(5)
    values = [
        f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        for _ in range(5000)
    ] + ["8.8.8.8", "195.187.6.33", "10.0.0.1"]
    keys = np.array([int(ipaddress.IPv4Address(v)) for v in values], dtype=np.uint32)
    parsed, known = enricher.enrich_ips(values), enricher.enrich_ips(values, keys)
    for column in ("country", "country_source", "asn", "network_source", "network_row"):
        assert getattr(known, column).tolist() == getattr(parsed, column).tolist(), column
    assert known.v4_keys is not None and known.v4_keys.tolist() == keys.tolist()
    assert known.countries()[-3:] == ["US", "PL", None]
    with pytest.raises(ValueError, match="2 IPv4 keys for 3 values"):
        enricher.enrich_ips(values[:3], keys[:2])


def test_an_enrichers_tables_and_memos_go_with_it() -> None:
    """Each Accord builds its own enricher (hundreds of MB compiled): once it is dropped, nothing
    holds it (an lru_cache on a method would keep every instance for the life of the process)."""
    e = Enricher()
    e.enrich_ips(["8.8.8.8", "195.187.6.33"] * (SINGLE_BELOW + 1))
    network, domains = e.networks[0], e.domains
    assert network.record(0) is network.record(0)  # remembered
    assert network.abuse_for_asn(15169) == network.abuse_for_asn(15169)
    assert domains is not None and domains.domain("example.pl").tld_country == "PL"
    gone = [weakref.ref(network), weakref.ref(domains), weakref.ref(e)]
    del e, network, domains
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]


def test_enrichment_never_uses_the_network() -> None:
    """In a fresh process that refuses every socket operation: import, first use and batches work."""
    code = textwrap.dedent(
        """
        import sys
        def refuse(event, args):
            if event.startswith(("socket.", "urllib.")):
                raise RuntimeError("network used: " + event)
        sys.addaudithook(refuse)
        from accord.routing.enrich import Enricher
        e = Enricher()
        row = e.enrich("8.8.8.8")
        assert row["asn"] == 15169 and row["country"] == "US", row
        assert e.enrich("www.example.co.uk")["registrable_domain"] == "example.co.uk"
        rows = e.enrich_many(["1.1.1.1", "2606:4700::1111", "example.com"] * 400)
        assert rows[0]["asn"] == 13335 and rows[1]["asn"] == 13335
        print("offline ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "offline ok" in done.stdout


def test_name_columns_equal_single_answers(enricher: Enricher) -> None:
    """`enrich_names` (routing's path for stored domains and URLs) answers what `enrich` does:
    the host, an address host's country, AS and network, a host name's ccTLD country, errors."""
    raw = [v for v in _mixed_values(4000, seed=5) if isinstance(v, str) and v.strip()]
    raw += [
        "http://[2606:4700::1111]:8080/a", "http://[::ffff:8.8.8.8]/", "http://10.1.2.3/x", "http://8.8.8.8",
        "https://xn--e1afmkfd.xn--p1ai/p", "http://user@mail.ru:81/", "ftp://host.corp.internal/", "co.uk",
        "a.b.city.kawasaki.jp", "http://[2001:db8::1]/", "http://h.example.c0m/",
    ]  # fmt: skip
    stored = [r["value"] for r in (enricher.enrich(v) for v in raw) if r["kind"] in ("domain", "url")]
    stored.append("http:///no-host")  # a stored URL `enrich` cannot place: an error, so no host
    names = enricher.enrich_names(stored)
    networks = enricher.networks
    assert names.address.sum() >= 50 and (names.tld_country > 0).sum() >= 100
    for i, value in enumerate(stored):
        row = enricher.enrich(value)
        if row["error"] is not None:
            assert names.host[i] is None and not names.address[i], value
            continue
        assert names.host[i] == row["host"], value
        assert COUNTRIES[int(names.tld_country[i])] == (row["tld_country"] if not names.address[i] else None)
        if names.address[i]:
            assert COUNTRIES[int(names.country[i])] == row["country"], value
            assert (int(names.asn[i]) or None) == row["asn"], value
            source, at = int(names.network_source[i]), int(names.network_row[i])
            assert (networks[source].record(at).operator if at >= 0 else None) == row["operator"], value
            lo = normalise_row(row["host"])[2]  # the store's 16-byte key of the address
            assert lo is not None and names.keys[i] == lo.rstrip(b"\0"), value  # 'S16' drops trailing NULs
        else:
            assert names.country[i] == 0 and names.asn[i] == 0 and names.network_row[i] == -1, value


def test_a_memo_remembers_none_too_and_starts_over_when_full() -> None:
    calls: list[int] = []

    def compute(key: int) -> int | None:
        calls.append(key)
        return None if key == 1 else key * 10

    memo = _Memo(2)
    assert [memo.answer(k, compute) for k in (1, 1, 2, 2)] == [None, None, 20, 20]
    assert calls == [1, 2]  # None was remembered, not asked again
    assert memo.answer(3, compute) == 30 and dict(memo) == {3: 30}  # full: emptied first
