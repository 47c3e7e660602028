"""The in-memory log matcher: exact hits per kind, and agreement with a naive reference."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel.matcher import Hit, Matcher
from accord.intel.observables import HASH_LENGTHS, normalise, try_normalise

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

Row = tuple[str, str, bytes | None, bytes | None, str]


def row(value: str, indicator_id: str, kind: str | None = None) -> Row:
    o = normalise(value, kind)
    return (o.kind, o.value, o.ip_lo, o.ip_hi, indicator_id)


def found(matcher: Matcher, value: str) -> set[tuple[str, str, str]]:
    """(kind, indicator id, matched) of every hit, checking the three ways of asking agree."""
    hits = matcher.match(value)
    assert list(matcher.match_many([value])) == hits
    assert matcher.match_values([value]) == ({value: hits} if hits else {})
    assert all(h.input == value for h in hits)
    return {(h.kind, h.indicator_id, h.matched) for h in hits}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(
        [
            row("198.51.100.7", "ind-ip"),
            row("10.0.0.0/8", "ind-net8"),
            row("10.20.0.0/16", "ind-net16"),
            row("10.20.30.0/24", "ind-net24"),
            row("2001:db8::1", "ind-ip6"),
            row("2001:db8:aa::/48", "ind-net6"),
            row("example.com", "ind-dom"),
            row("example.com", "ind-dom-2"),  # two indicators, one value
            row("login.bank.example", "ind-sub"),
            row("http://evil.example.net/payload.exe", "ind-url"),
            row("phisher@mail.example.org", "ind-mail"),
            row(MD5, "ind-md5"),
            row(SHA256, "ind-sha256"),
        ]
    )


def test_len_counts_distinct_value_indicator_pairs(matcher: Matcher) -> None:
    assert len(matcher) == 13
    assert len(Matcher([row("1.2.3.4", "a"), row("1.2.3.4", "a"), row("1.2.3.4", "b")])) == 2


def test_exact_ipv4_and_its_networks(matcher: Matcher) -> None:
    assert found(matcher, "198.51.100.7") == {("exact", "ind-ip", "198.51.100.7")}
    assert found(matcher, "198.51.100.8") == set()
    assert matcher.match("10.20.30.40") == [  # innermost network first
        Hit("10.20.30.40", "cidr", "ind-net24", "10.20.30.0/24", "10.20.30.40"),
        Hit("10.20.30.40", "cidr", "ind-net16", "10.20.0.0/16", "10.20.30.40"),
        Hit("10.20.30.40", "cidr", "ind-net8", "10.0.0.0/8", "10.20.30.40"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.0", {"ind-net8"}),  # first address of the /8
        ("10.255.255.255", {"ind-net8"}),  # last address of the /8
        ("9.255.255.255", set()),  # just below
        ("11.0.0.0", set()),  # just above
        ("10.20.30.0", {"ind-net8", "ind-net16", "ind-net24"}),
        ("10.20.30.255", {"ind-net8", "ind-net16", "ind-net24"}),
        ("10.20.31.0", {"ind-net8", "ind-net16"}),
        ("10.20.29.255", {"ind-net8", "ind-net16"}),
        ("10.21.0.0", {"ind-net8"}),
        ("::ffff:10.20.30.1", {"ind-net8", "ind-net16", "ind-net24"}),  # IPv4-mapped is IPv4
    ],
)
def test_cidr_edges(matcher: Matcher, value: str, expected: set[str]) -> None:
    assert {i for k, i, _ in found(matcher, value)} == expected
    assert all(k == "cidr" for k, _, _ in found(matcher, value))


def test_ipv6_forms_and_networks(matcher: Matcher) -> None:
    for form in ("2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", " 2001:db8::1 "):
        assert found(matcher, form) == {("exact", "ind-ip6", "2001:db8::1")}
    assert found(matcher, "2001:db8:aa::") == {("cidr", "ind-net6", "2001:db8:aa::/48")}
    assert found(matcher, "2001:db8:aa:ffff:ffff:ffff:ffff:ffff") == {
        ("cidr", "ind-net6", "2001:db8:aa::/48")
    }
    assert found(matcher, "2001:db8:ab::") == set()
    assert found(matcher, "2001:db8:a9:ffff:ffff:ffff:ffff:ffff") == set()
    assert matcher.match("2001:DB8::1")[0].observed == "2001:db8::1"


def test_ipv4_network_written_in_ipv6_covers_ipv4_addresses() -> None:
    m = Matcher(
        [row("::ffff:192.0.2.0/120", "mapped"), row("::/0", "everything"), row("::ffff:1.2.3.4", "one")]
    )
    assert found(m, "192.0.2.99") == {
        ("cidr", "mapped", "::ffff:192.0.2.0/120"),
        ("cidr", "everything", "::/0"),
    }
    assert found(m, "1.2.3.4") == {("exact", "one", "::ffff:1.2.3.4"), ("cidr", "everything", "::/0")}
    assert found(m, "2001:db8::5") == {("cidr", "everything", "::/0")}


def test_a_network_value_hits_the_same_network(matcher: Matcher) -> None:
    assert found(matcher, "10.20.0.0/16") == {("exact", "ind-net16", "10.20.0.0/16")}
    assert found(matcher, "10.20.0.7/16") == {("exact", "ind-net16", "10.20.0.0/16")}  # host bits masked
    assert found(matcher, "10.20.0.0/17") == set()


def test_domains_match_themselves_and_subdomains_not_lookalikes(matcher: Matcher) -> None:
    both = {("domain", "ind-dom", "example.com"), ("domain", "ind-dom-2", "example.com")}
    assert found(matcher, "example.com") == both
    assert found(matcher, "a.b.example.com") == both
    assert found(matcher, "evilexample.com") == set()
    assert found(matcher, "example.com.evil.net") == set()
    assert found(matcher, "bank.example") == set()  # a parent of a stored name is no hit
    assert found(matcher, "x.login.bank.example") == {("domain", "ind-sub", "login.bank.example")}
    hit = matcher.match("www.example.com")[0]
    assert (hit.matched, hit.observed) == ("example.com", "www.example.com")


@pytest.mark.parametrize(
    "form",
    ["WWW.EXAMPLE.COM", "www.example.com.", "  www.example.com\t", "www[.]example[.]com", "www.Example.com"],
)
def test_domains_are_normalised_when_they_need_it(matcher: Matcher, form: str) -> None:
    assert {i for _, i, _ in found(matcher, form)} == {"ind-dom", "ind-dom-2"}


def test_url_equal_after_normalising_and_by_its_host(matcher: Matcher) -> None:
    url = {("url", "ind-url", "http://evil.example.net/payload.exe")}
    assert found(matcher, "http://evil.example.net/payload.exe") == url
    assert found(matcher, "HTTP://EVIL.example.net:80/payload.exe") == url
    assert found(matcher, "hxxp://evil[.]example[.]net/payload.exe") == url
    assert found(matcher, "http://evil.example.net/payload.EXE") == set()  # the path keeps its case
    both = {("domain", "ind-dom", "example.com"), ("domain", "ind-dom-2", "example.com")}
    assert found(matcher, "https://cdn.example.com/x?y=1") == both
    assert found(matcher, "https://user@cdn.example.com:8443/x") == both
    assert found(matcher, "https://cdn.evilexample.com/x") == set()
    assert found(matcher, "http://198.51.100.7/x") == {("exact", "ind-ip", "198.51.100.7")}
    assert found(matcher, "http://[2001:db8::1]:8080/") == {("exact", "ind-ip6", "2001:db8::1")}
    assert matcher.match("https://cdn.example.com/x")[0].observed == "cdn.example.com"


def test_email_exact_and_by_its_domain(matcher: Matcher) -> None:
    assert found(matcher, "phisher@mail.example.org") == {("exact", "ind-mail", "phisher@mail.example.org")}
    assert found(matcher, "phisher@MAIL.Example.ORG") == {("exact", "ind-mail", "phisher@mail.example.org")}
    assert found(matcher, "Phisher@mail.example.org") == set()  # the local part is case-sensitive
    assert found(matcher, "ceo@sales.example.com") == {
        ("domain", "ind-dom", "example.com"),
        ("domain", "ind-dom-2", "example.com"),
    }


def test_email_written_defanged_or_with_spaces() -> None:
    m = Matcher([row("first.last@example.net", "ind-mail")])
    for form in (
        "first[.]last@example.net",
        "first.last[at]example[.]net",
        " first.last@example.net",
        "first.last@EXAMPLE.net.",
    ):
        assert found(m, form) == {("exact", "ind-mail", "first.last@example.net")}, form
    assert found(m, "first.last@example.net.evil") == set()


def test_hashes_any_case(matcher: Matcher) -> None:
    assert found(matcher, MD5) == {("hash", "ind-md5", MD5)}
    assert found(matcher, MD5.upper()) == {("hash", "ind-md5", MD5)}
    assert found(matcher, SHA256) == {("hash", "ind-sha256", SHA256)}
    assert found(matcher, MD5[:-1] + "0") == set()


@pytest.mark.parametrize(
    "junk", ["", " ", "-", "(empty)", "12345", "1.2.3", "1.2.3.4.5", "01.2.3.4", "a b c", "\udcff"]
)
def test_non_observables_have_no_hits(matcher: Matcher, junk: str) -> None:
    assert found(matcher, junk) == set()


def test_empty_index_matches_nothing() -> None:
    m = Matcher([])
    assert len(m) == 0
    assert [m.match(v) for v in ("1.2.3.4", "example.com", "http://x.example/", MD5)] == [[], [], [], []]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("ipv4", "1.2.3.4", None, None, "x")], "row 1"),
        (
            [("domain", "a.example", None, None, "x"), ("bogus", "v", None, None, "x")],
            "unknown observable kind",
        ),
        ([("domain", "", None, None, "x")], "non-empty"),
        ([("domain", "a.example", None, None, None)], "indicator id"),
        ([("ipv4", "1.2.3.4", b"\x00" * 4, b"\x00" * 4, "x")], "16-byte"),
        ([("domain", "a.example")], "expected a row"),
    ],
)
def test_bad_rows_are_refused_with_their_place(rows: list[Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Matcher(rows)
    assert "row" in info.value.where


# ----------------------------------------------------------------------------- differential testing


def reference(rows: list[Row], raw: str) -> set[tuple[str, str, str, str]]:
    """The semantics, written the slow and obvious way: every row against the normalised value."""
    obs = try_normalise(raw)
    if obs is None:
        return set()
    out: set[tuple[str, str, str, str]] = set()

    def address(key: bytes, observed: str) -> None:
        for _kind, value, lo, hi, iid in rows:
            if lo is not None and hi is not None and lo <= key <= hi:
                out.add(("exact" if lo == hi else "cidr", iid, value, observed))

    def domain(name: str) -> None:
        for kind, value, _lo, _hi, iid in rows:
            if kind == "domain" and (name == value or name.endswith("." + value)):
                out.add(("domain", iid, value, name))

    def equal(kinds: tuple[str, ...], hit_kind: str) -> None:
        for kind, value, _lo, _hi, iid in rows:
            if kind in kinds and value == obs.value:
                out.add((hit_kind, iid, value, obs.value))

    if obs.kind in ("ipv4", "ipv6"):
        assert obs.ip_lo is not None
        if obs.ip_lo == obs.ip_hi:
            address(obs.ip_lo, obs.value)
        else:
            for _kind, value, lo, hi, iid in rows:
                if (lo, hi) == (obs.ip_lo, obs.ip_hi):
                    out.add(("exact", iid, value, obs.value))
    elif obs.kind == "domain":
        domain(obs.value)
    elif obs.kind == "url":
        equal(("url",), "url")
        host = urlsplit(obs.value).hostname or ""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            domain(host)
        else:
            host_obs = normalise(host)
            assert host_obs.ip_lo is not None and ip.version in (4, 6)
            address(host_obs.ip_lo, host_obs.value)
    elif obs.kind == "email":
        equal(("email",), "exact")
        domain(obs.value.rpartition("@")[2])
    else:
        equal(tuple(HASH_LENGTHS), "hash")
    return out


_V4 = st.builds(lambda c, d: f"10.0.{c}.{d}", st.integers(0, 3), st.integers(0, 255))
_V6 = st.builds(lambda a, b: f"2001:db8::{a:x}:{b:x}", st.integers(0, 3), st.integers(0, 0xFFFF))
_LABELS = st.sampled_from(["a", "b", "evil", "example", "xn--bcher-kva", "mail", "com", "net"])
_DOMAIN = st.lists(_LABELS, min_size=1, max_size=3).map(".".join).map(lambda d: d + ".com")
_HASH = st.sampled_from([MD5, SHA256, "0" * 40, "f" * 128])
_PATH = st.sampled_from(["/", "/x", "/a/b?c=d", ""])

_indicator_values = st.one_of(
    _V4,
    st.builds(lambda ip, p: f"{ip}/{p}", _V4, st.integers(20, 31)),
    st.sampled_from(["0.0.0.0/0", "::/0", "::ffff:10.0.0.0/118", "::ffff:10.0.1.2", "10.0.0.0/8"]),
    _V6,
    st.builds(lambda ip, p: f"{ip}/{p}", _V6, st.integers(100, 127)),
    _DOMAIN,
    st.sampled_from(["com", "localhost"]),
    st.builds(lambda h, p: f"http://{h}{p}", st.one_of(_DOMAIN, _V4), _PATH),
    st.builds(lambda u, d: f"{u}@{d}", st.sampled_from(["x", "Bob"]), _DOMAIN),
    _HASH,
)


def _vary(value: str, how: int) -> str:
    """The same value as logs and reports write it."""
    forms = [
        value,
        value.upper(),
        f" {value}\t",
        value + "." if "/" not in value and "@" not in value else value,
        value.replace(".", "[.]"),
        value.replace("http://", "hxxp://"),
        f"http://{value}/p" if "/" not in value and "@" not in value and ":" not in value else value,
        f"https://{value}:443/" if "/" not in value and "@" not in value and ":" not in value else value,
        f"https://[{value}]:8080/" if ":" in value and "/" not in value else value,
        f"u@{value}" if "/" not in value and "@" not in value and ":" not in value else value,
        f"::ffff:{value}" if value.count(".") == 3 and value[0].isdigit() and "/" not in value else value,
        "www." + value,
        "evil" + value,
        value + "x",
        value[:-1],
    ]
    return forms[how % len(forms)]


_inputs = st.one_of(
    st.builds(_vary, _indicator_values, st.integers(0, 100)),
    st.text(alphabet="0123456789abcdefABX.:/@[]- ", max_size=24),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_indicator_values, min_size=0, max_size=12), data=st.data())
def test_agrees_with_a_naive_reference(values: list[str], data: st.DataObject) -> None:
    rows = [
        row(v, f"ind-{i % 5}", "domain" if v in ("com", "localhost") else None) for i, v in enumerate(values)
    ]
    matcher = Matcher(rows)
    own = st.builds(_vary, st.sampled_from(values), st.integers(0, 100)) if values else _inputs
    inputs = data.draw(st.lists(st.one_of(own, _inputs), min_size=1, max_size=12))
    expected_all: list[Hit] = []
    for raw in inputs:
        hits = matcher.match(raw)
        assert len(hits) == len(set(hits)), f"duplicate hits for {raw!r}"
        assert {(h.kind, h.indicator_id, h.matched, h.observed) for h in hits} == reference(rows, raw), raw
        expected_all += hits
    assert list(matcher.match_many(inputs)) == expected_all
    assert matcher.match_values(inputs) == {h.input: matcher.match(h.input) for h in expected_all}
