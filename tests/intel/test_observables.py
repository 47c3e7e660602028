"""Observable normalisation: one form and one key space, whatever feed the value came from."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel.observables import (
    HASH_LENGTHS,
    KINDS,
    Observable,
    from_sco,
    hash_kind,
    ip_key,
    network_prefix_of,
    networks_at,
    normalise,
    normalise_row,
    parent_domains,
    refang,
    try_normalise,
)

MAPPED = bytes(10) + b"\xff\xff"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

v4_ints = st.integers(0, 2**32 - 1)
v6_ints = st.integers(0, 2**128 - 1)


# --------------------------------------------------------------------------------------------- refang


@pytest.mark.parametrize(
    ("defanged", "live"),
    [
        ("hxxp://evil[.]com/x", "http://evil.com/x"),
        ("hxxps://evil[.]com", "https://evil.com"),
        ("hXXps://evil(.)com", "https://evil.com"),
        ("HXXP://evil{.}com", "http://evil.com"),
        ("fxp://files[.]evil[.]com", "ftp://files.evil.com"),
        ("evil[dot]com", "evil.com"),
        ("evil[DOT]com", "evil.com"),
        ("http[:]//evil.com", "http://evil.com"),
        ("hxxp[:]//evil.com", "http://evil.com"),
        ("hxxp[://]evil.com", "http://evil.com"),
        ("user[at]evil.com", "user@evil.com"),
        ("user(at)evil.com", "user@evil.com"),
        ("user[@]evil.com", "user@evil.com"),
        ("http://evil.com[/]path", "http://evil.com/path"),
        ("  1.2.3[.]4 \n", "1.2.3.4"),
        ("plain.example.com", "plain.example.com"),
    ],
)
def test_refang_forms(defanged: str, live: str) -> None:
    assert refang(defanged) == live


def test_refang_leaves_lookalike_words_alone() -> None:
    # 'fxp'/'hxxp' only count as schemes; a host containing them is not rewritten.
    assert refang("fxp.example.com") == "fxp.example.com"
    assert refang("http://hxxpdemo.example.com/") == "http://hxxpdemo.example.com/"


def test_normalise_refangs_first() -> None:
    assert normalise("hxxps://Evil[.]Example[.]com/Path").value == "https://evil.example.com/Path"
    assert normalise("10[.]0[.]0[.]1") == normalise("10.0.0.1")
    assert normalise("bad[at]evil[.]com").value == "bad@evil.com"


# ------------------------------------------------------------------------------------------------ IPs


def test_ipv4_single_address_key_is_ipv4_mapped() -> None:
    o = normalise("192.0.2.7")
    assert o == Observable(
        "ipv4", "192.0.2.7", MAPPED + bytes([192, 0, 2, 7]), MAPPED + bytes([192, 0, 2, 7])
    )
    assert len(o.ip_lo or b"") == 16


def test_ipv4_cidr_is_masked_and_ranged() -> None:
    o = normalise("10.1.2.3/8")
    assert o.kind == "ipv4"
    assert o.value == "10.0.0.0/8"
    assert o.ip_lo == MAPPED + bytes([10, 0, 0, 0])
    assert o.ip_hi == MAPPED + bytes([10, 255, 255, 255])


def test_host_prefix_normalises_to_bare_address() -> None:
    assert normalise("1.2.3.4/32") == normalise("1.2.3.4")
    assert normalise("2001:db8::1/128") == normalise("2001:db8::1")


def test_zero_prefix_covers_everything() -> None:
    v4 = normalise("1.2.3.4/0")
    assert (v4.value, v4.ip_lo, v4.ip_hi) == ("0.0.0.0/0", MAPPED + bytes(4), MAPPED + b"\xff" * 4)
    v6 = normalise("::/0")
    assert (v6.value, v6.ip_lo, v6.ip_hi) == ("::/0", bytes(16), b"\xff" * 16)


def test_ipv6_is_canonical_compressed_lower_case() -> None:
    assert normalise("2001:0DB8:0000:0000:0000:0000:0000:0001").value == "2001:db8::1"
    assert normalise("2001:db8:0:0:1:0:0:1").value == "2001:db8::1:0:0:1"  # leftmost longest run
    assert normalise("FE80::").value == "fe80::"
    o = normalise("2001:db8::1:2:3/64")
    assert (o.kind, o.value) == ("ipv6", "2001:db8::/64")
    assert o.ip_lo == ipaddress.IPv6Address("2001:db8::").packed
    assert o.ip_hi == ipaddress.IPv6Address("2001:db8::ffff:ffff:ffff:ffff").packed


def test_ipv4_mapped_ipv6_stays_ipv6_but_shares_the_key() -> None:
    mapped = normalise("::FFFF:192.0.2.7")
    plain = normalise("192.0.2.7")
    assert mapped.kind == "ipv6"
    assert mapped.value == "::ffff:192.0.2.7"  # pinned: Python 3.11 would print ::ffff:c000:207
    assert mapped.ip_lo == plain.ip_lo
    assert normalise("::ffff:c000:207").value == "::ffff:192.0.2.7"


@given(v6_ints)
def test_ipv6_value_and_key_match_ipaddress(n: int) -> None:
    ip = ipaddress.IPv6Address(n)
    o = normalise(ip.exploded.upper())
    assert o.kind == "ipv6"
    assert o.ip_lo == o.ip_hi == ip.packed == ip_key(ip)
    if ip.ipv4_mapped is None:
        assert o.value == ip.compressed
    assert normalise(o.value) == o


@given(v4_ints, v4_ints)
def test_key_order_is_address_order(a: int, b: int) -> None:
    ka = normalise(str(ipaddress.IPv4Address(a))).ip_lo
    kb = normalise(str(ipaddress.IPv4Address(b))).ip_lo
    assert ka is not None and kb is not None
    assert (ka < kb) == (a < b)
    # every IPv4 key lies inside ::ffff:0:0/96 of the shared key space
    assert MAPPED + bytes(4) <= ka <= MAPPED + b"\xff" * 4


@given(v4_ints, st.integers(0, 32))
def test_ipv4_cidr_range_bounds_its_addresses(n: int, prefix: int) -> None:
    net = ipaddress.IPv4Network((n, prefix), strict=False)
    o = normalise(f"{ipaddress.IPv4Address(n)}/{prefix}")
    assert o.ip_lo is not None and o.ip_hi is not None
    assert o.ip_lo <= ip_key(ipaddress.IPv4Address(n)) <= o.ip_hi
    assert o.ip_lo == ip_key(net.network_address)
    assert o.ip_hi == ip_key(net.broadcast_address)
    assert o.value == (str(net.network_address) if prefix == 32 else str(net))


@given(v6_ints, st.integers(0, 128))
def test_ipv6_cidr_range_bounds_its_addresses(n: int, prefix: int) -> None:
    net = ipaddress.IPv6Network((n, prefix), strict=False)
    o = normalise(f"{ipaddress.IPv6Address(n)}/{prefix}")
    assert o.ip_lo == net.network_address.packed
    assert o.ip_hi == net.broadcast_address.packed
    assert o.ip_lo is not None and o.ip_hi is not None and o.ip_lo <= o.ip_hi


def test_ip_key() -> None:
    assert ip_key(ipaddress.IPv4Address("1.2.3.4")) == MAPPED + b"\x01\x02\x03\x04"
    assert ip_key(ipaddress.IPv6Address("::1")) == bytes(15) + b"\x01"
    with pytest.raises(TypeError):
        ip_key("1.2.3.4")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        ("1.2.3.256", None, "octet '256'"),
        ("01.2.3.4", None, "leading zero"),
        ("1.2.3.4/33", None, "prefix length '33'"),
        ("1.2.3.4/", "ipv4", "prefix length ''"),
        ("1.2.3", "ipv4", "four dot-separated numbers"),
        ("2001:db8::1", "ipv4", "four dot-separated numbers"),
        ("1.2.3.4", "ipv6", "IPv6"),
        ("2001:db8::12345", None, "IPv6"),
        ("fe80::1%eth0", "ipv6", "zone index"),
        ("2001:db8::/129", None, "prefix length '129'"),
    ],
)
def test_invalid_ips_are_refused_naming_the_value(raw: str, kind: str | None, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise(raw, kind)
    assert repr(raw) in str(e.value)
    assert reason in str(e.value)


# ---------------------------------------------------------------------------------------- containing


ALL_V4 = range(96, 129)
ALL_V6 = range(129)


@given(v4_ints, st.integers(0, 32))
def test_networks_at_has_every_ipv4_network_of_the_address(n: int, prefix: int) -> None:
    address = normalise(str(ipaddress.IPv4Address(n)))
    network = normalise(f"{ipaddress.IPv4Address(n)}/{prefix}")
    keys = networks_at(address, ALL_V4)
    assert network.ip_lo in keys
    assert len(keys) == 33
    assert network.ip_hi is not None and network_prefix_of(network.ip_lo, network.ip_hi) == 96 + prefix


@given(v6_ints, st.integers(0, 128))
def test_networks_at_has_every_ipv6_network_of_the_address(n: int, prefix: int) -> None:
    address = normalise(str(ipaddress.IPv6Address(n)))
    network = normalise(f"{ipaddress.IPv6Address(n)}/{prefix}")
    keys = networks_at(address, ALL_V6)
    assert network.ip_lo in keys
    assert len(keys) == 129
    assert network.ip_hi is not None and network_prefix_of(network.ip_lo, network.ip_hi) == prefix


def test_networks_at_order_and_ends() -> None:
    keys = networks_at(normalise("192.0.2.7"), [*ALL_V6])  # lengths below 96 are not IPv4 networks
    assert len(keys) == 33
    assert keys[0] == MAPPED + bytes(4)  # 0.0.0.0/0
    assert keys[8] == MAPPED + bytes([192, 0, 0, 0])  # 192.0.0.0/8
    assert keys[-1] == MAPPED + bytes([192, 0, 2, 7])  # the address itself (/32)


def test_networks_at_needs_a_single_address() -> None:
    for value in ("example.com", "10.20.0.0/16"):
        with pytest.raises(ValueError, match="single IP address"):
            networks_at(normalise(value), ALL_V4)


# -------------------------------------------------------------------------------------------- domains


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("例え。テスト", "xn--r8jz45g.xn--zckzah"),  # ideographic full stop is a dot in IDNA
        ("☃.example.com", "xn--n3h.example.com"),
    ],
)
def test_domains_normalise(raw: str, value: str) -> None:
    assert normalise(raw) == Observable("domain", value)
    assert normalise(raw, "domain") == Observable("domain", value)


def test_single_label_domain_only_when_kind_is_given() -> None:
    assert normalise("localhost", "domain").value == "localhost"
    with pytest.raises(InvalidInput, match="not a recognised observable"):
        normalise("localhost")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a..example.com", "empty label"),
        ("." + "a" * 10, "empty label"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 63] * 4) + ".com", "longer than 253"),
        ("exa mple.com", "character ' ' is not allowed"),
        ("exa!mple.com", "character '!' is not allowed"),
        ("example.123", "does not start with a letter"),
        ("ü" * 70 + ".com", "longer than 63"),  # IDNA refuses it; the fallback still checks length
    ],
)
def test_invalid_domains_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise(raw)
    assert repr(raw) in str(e.value)
    assert reason in str(e.value)


def test_numeric_top_level_label_refused_even_with_kind() -> None:
    with pytest.raises(InvalidInput, match="all digits"):
        normalise("1.2.3.999", "domain")


def test_parent_domains() -> None:
    assert parent_domains("a.b.example.co.uk") == ["b.example.co.uk", "example.co.uk", "co.uk", "uk"]
    assert parent_domains("example.com") == ["com"]
    assert parent_domains("localhost") == []


# ----------------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("HTTP://Example.COM/Path?Q=1#Frag", "http://example.com/Path?Q=1#Frag"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://example.com:0080/x", "http://example.com/x"),
        ("ftp://files.example.com:21/a", "ftp://files.example.com/a"),
        ("http://example.com:/x", "http://example.com/x"),
        ("http://example.com", "http://example.com"),
        ("http://User:Pw@Example.com/", "http://User:Pw@example.com/"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("http://[::ffff:1.2.3.4]/", "http://[::ffff:1.2.3.4]/"),
        ("http://192.0.2.7:80/x", "http://192.0.2.7/x"),
        ("http://bücher.de/ü", "http://xn--bcher-kva.de/ü"),
        ("http://example.com./a", "http://example.com/a"),
        ("http://example.com?q", "http://example.com?q"),
        ("tcp://example.com:4444", "tcp://example.com:4444"),
        ("hxxp://evil[.]com[/]a", "http://evil.com/a"),
    ],
)
def test_urls_normalise(raw: str, value: str) -> None:
    assert normalise(raw) == Observable("url", value)
    assert normalise(raw, "url") == Observable("url", value)


def test_url_without_scheme_needs_the_kind() -> None:
    assert normalise("Example.com/Path", "url").value == "http://example.com/Path"
    with pytest.raises(InvalidInput):
        normalise("example.com/path")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("http://exa mple.com/", "whitespace"),
        ("http:///path", "no host"),
        ("http://example.com:99999/", "port '99999'"),
        ("http://example.com:8o/", "port '8o'"),
        ("http://2001:db8::1/", "in brackets"),
        ("http://[2001:db8::1/", "unclosed"),
        ("http://[2001:db8::1]x/", "after ']'"),
        ("1http://example.com/", "invalid scheme"),
        ("http://1.2.3.999/", "octet '999'"),
        ("http://ex_ample!.com/", "'!' is not allowed"),
    ],
)
def test_invalid_urls_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise(raw, "url")
    assert repr(raw) in str(e.value)
    assert reason in str(e.value)


# --------------------------------------------------------------------------------------------- e-mail


def test_emails_keep_the_local_part_and_normalise_the_domain() -> None:
    assert normalise("John.Doe+tag@Example.COM") == Observable("email", "John.Doe+tag@example.com")
    assert normalise("x@bücher.de").value == "x@xn--bcher-kva.de"
    assert normalise('"a@b"@example.com', "email").value == '"a@b"@example.com'
    assert normalise("root@localhost", "email").value == "root@localhost"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("@example.com", "local-part@domain"),
        ("user@", "local-part@domain"),
        ("a@b@example.com", "more than one '@'"),
        ("a b@example.com", "whitespace"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("user@exa!mple.com", "'!' is not allowed"),
    ],
)
def test_invalid_emails_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise(raw, "email")
    assert repr(raw) in str(e.value)
    assert reason in str(e.value)


# --------------------------------------------------------------------------------------------- hashes


@pytest.mark.parametrize(
    ("value", "kind"), [(MD5, "md5"), (SHA1, "sha1"), (SHA256, "sha256"), (SHA512, "sha512")]
)
def test_hash_kind_is_inferred_from_length(value: str, kind: str) -> None:
    assert len(value) == HASH_LENGTHS[kind]
    assert normalise(value.upper()) == Observable(kind, value)
    assert normalise(value, kind) == Observable(kind, value)


def test_hash_with_wrong_length_or_digits_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expected 64 hex digits"):
        normalise(MD5, "sha256")
    with pytest.raises(InvalidInput, match="not hexadecimal"):
        normalise("g" + MD5[1:], "md5")
    # 31 hex digits is no hash, and no domain either
    with pytest.raises(InvalidInput, match="not a recognised observable"):
        normalise(MD5[1:])


@pytest.mark.parametrize("digit", ["\u0663", "\uff41", "\uff21", "\u212a", "g", "-"])
def test_hash_digits_are_ascii_hex_only(digit: str) -> None:
    # U+0663 is a digit, U+FF41/U+FF21 full-width a/A, U+212A the Kelvin sign (lower-cases to 'k').
    with pytest.raises(InvalidInput, match="not hexadecimal"):
        normalise(MD5[:-1] + digit, "md5")
    inferred = outcome(lambda: normalise(MD5[:-1] + digit))
    assert not (isinstance(inferred, Observable) and inferred.kind == "md5")


def test_hash_kind_keys() -> None:
    assert hash_kind("SHA-256") == hash_kind("SHA256") == hash_kind("sha-256") == "sha256"
    assert hash_kind("MD5") == "md5"
    assert hash_kind("SHA-1") == hash_kind("SHA1") == "sha1"
    assert hash_kind("SHA-512") == "sha512"
    assert hash_kind("SSDEEP") is None
    assert hash_kind("SHA3-256") is None


# ------------------------------------------------------------------------------------------ inference


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("1.2.3.4", "ipv4"),
        ("1.2.3.0/24", "ipv4"),
        ("::1", "ipv6"),
        ("2001:db8::/32", "ipv6"),
        ("a@example.com", "email"),
        ("http://a@example.com/", "url"),
        ("http://1.2.3.4/", "url"),
        (MD5, "md5"),
        ("a" * 40, "sha1"),
        ("example.com", "domain"),
        ("deadbeef.com", "domain"),
        ("xn--p1ai.xn--p1ai", "domain"),
    ],
)
def test_inference(raw: str, kind: str) -> None:
    assert normalise(raw).kind == kind


def test_inference_explains_the_kind_the_value_looked_like() -> None:
    with pytest.raises(InvalidInput, match=r"'1\.2\.3\.4\.5' is not a valid IPv4 address"):
        normalise("1.2.3.4.5")
    with pytest.raises(InvalidInput, match="is not a valid e-mail address"):
        normalise("user@host")
    with pytest.raises(InvalidInput, match="is not a valid URL"):
        normalise("http://")


def test_normalise_argument_errors() -> None:
    with pytest.raises(InvalidInput, match="unknown observable kind 'ip'"):
        normalise("1.2.3.4", "ip")
    with pytest.raises(InvalidInput, match="empty"):
        normalise("   ")
    with pytest.raises(InvalidInput, match="must be text"):
        normalise(1234)  # type: ignore[arg-type]


def test_try_normalise() -> None:
    assert try_normalise("1.2.3.4") == normalise("1.2.3.4")
    assert try_normalise("not an observable") is None
    assert try_normalise("1.2.3.4", "domain") is None


def test_kinds() -> None:
    assert set(KINDS) == {"ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512"}
    assert set(HASH_LENGTHS) <= set(KINDS)


labels = st.from_regex(r"[a-z0-9_][a-z0-9_-]{0,20}", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=4), st.from_regex(r"[a-z][a-z0-9]{1,5}", fullmatch=True))
def test_normalise_is_idempotent(subs: list[str], tld: str) -> None:
    domain = ".".join([*subs, tld])
    for raw in (domain, f"https://{domain.upper()}:443/P?q", f"U@{domain}"):
        once = normalise(raw)
        assert normalise(once.value) == once
        assert normalise(once.value, once.kind) == once


# ---------------------------------------------------------------------------------- normalise_row

URL_PIECES = [
    *"aZ09.-_~/?#@:[]%+!é\x00\x7f",
    " ",
    "\t",
    "://",
    "http",
    "HTTPS",
    "hxxp",
    "[.]",
    "::1",
    "1.2.3.4",
]
url_like = st.lists(st.sampled_from(URL_PIECES), max_size=12).map("".join)


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except InvalidInput as e:
        return ("refused", e.detail)


@settings(max_examples=300)
@given(
    st.one_of(url_like, st.text(max_size=20)),
    st.sampled_from([None, *KINDS, "bogus"]),
)
def test_normalise_row_is_normalise_as_a_tuple(raw: str, kind: str | None) -> None:
    def fields() -> tuple[Any, ...]:
        o = normalise(raw, kind)
        return (o.kind, o.value, o.ip_lo, o.ip_hi)

    assert outcome(lambda: normalise_row(raw, kind)) == outcome(fields)


TRICKY_URLS = [
    "http://a.example#frag",
    "http://a.example?q=1#f",
    "HTTP://A.Example:80#x",
    "h-t.t+p://x.example/",
    "http://u@h@x.example/",
    "a://b://c",
    "\u212attp://x.example/",  # the Kelvin sign lower-cases to an ASCII 'k'
    "http://x.example/\x00",
    "http://x.example/\x7f",
    "http://x.ex\x7fample/",
    "http://x.example/a b",
    "ftp://[::1]#x",
    "http://[::1]:8080?x",
    "http:/x.example",
    "://x.example",
    "x.example/p://q",
    "http://x.example:/",
    "http://:80/",
    "http://é.example/é",
]


def url_outcomes(raw: str, split: Any) -> list[Any]:
    from accord.intel import observables

    saved = observables._URL_SPLIT
    observables._URL_SPLIT = split
    try:
        return [outcome(lambda: normalise_row(raw, "url")), outcome(lambda: normalise_row(raw))]
    finally:
        observables._URL_SPLIT = saved


def assert_url_split_agrees(raw: str) -> None:
    """The one-regex split of a URL gives what the step-by-step way gives (which it skips)."""
    from accord.intel import observables

    assert url_outcomes(raw, observables._URL_SPLIT) == url_outcomes(raw, lambda s: None)


@pytest.mark.parametrize("raw", TRICKY_URLS)
def test_url_split_in_one_regex_agrees_with_the_steps(raw: str) -> None:
    assert_url_split_agrees(raw)


@settings(max_examples=300)
@given(st.one_of(url_like, st.builds("{}://{}".format, url_like, url_like)))
def test_generated_urls_split_alike(raw: str) -> None:
    assert_url_split_agrees(raw)


# ----------------------------------------------------------------------------------------------- SCOs


def test_from_sco_values() -> None:
    assert from_sco({"type": "ipv4-addr", "value": "10.1.2.3/8"}) == [normalise("10.0.0.0/8")]
    assert from_sco({"type": "ipv6-addr", "value": "2001:DB8::1"}) == [normalise("2001:db8::1")]
    assert from_sco({"type": "domain-name", "value": "Example.com"}) == [Observable("domain", "example.com")]
    assert from_sco({"type": "url", "value": "HTTP://Example.com/A"}) == [
        Observable("url", "http://example.com/A")
    ]
    assert from_sco({"type": "email-addr", "value": "Bob@Example.com"}) == [
        Observable("email", "Bob@example.com")
    ]


def test_from_sco_kind_comes_from_the_type_not_inference() -> None:
    with pytest.raises(InvalidInput) as e:
        from_sco({"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "2001:db8::1"})
    assert e.value.where == {"id": "ipv4-addr--1", "field": "value"}
    assert "'2001:db8::1'" in str(e.value)


def test_from_sco_file_hashes() -> None:
    obj = {
        "type": "file",
        "hashes": {
            "MD5": MD5.upper(),
            "SHA-1": SHA1,
            "SHA256": SHA256,
            "SHA-256": SHA256,  # the same value under both spellings counts once
            "SHA-512": SHA512,
            "SSDEEP": "3:a+JraNvsgzsVqSwHq9:tJuOgzsko",
        },
    }
    assert from_sco(obj) == [
        Observable("md5", MD5),
        Observable("sha1", SHA1),
        Observable("sha256", SHA256),
        Observable("sha512", SHA512),
    ]
    assert from_sco({"type": "file", "hashes": {"SHA1": SHA1}}) == [Observable("sha1", SHA1)]


def test_from_sco_bad_hash_names_the_field() -> None:
    with pytest.raises(InvalidInput) as e:
        from_sco({"type": "file", "id": "file--1", "hashes": {"SHA-256": MD5}})
    assert e.value.where == {"id": "file--1", "field": "hashes.SHA-256"}


def test_from_sco_other_types_and_missing_values() -> None:
    assert from_sco({"type": "file", "name": "x.exe"}) == []
    assert from_sco({"type": "mutex", "name": "m"}) == []
    assert from_sco({"type": "ipv4-addr"}) == []
    assert from_sco({}) == []
