"""Indicator patterns to observables: the regex fast path must agree with the full STIX grammar."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel.observables import Observable, normalise
from accord.intel.patterns import _CANONICAL_HEADS, observables_of_pattern, pattern_rows, pattern_values
from accord.intel.patterns import _fast_path as _lenient_fast_path
from accord.intel.patterns import _full_grammar as _lenient_full_grammar


def _strict(found: list[Any] | None) -> list[Observable] | None:
    """The internals report unindexable values instead of raising; these tests want them refused."""
    if found is None:
        return None
    skipped = [o for o in found if not isinstance(o, Observable)]
    if skipped:
        raise InvalidInput(str(skipped[0]))
    return found


def _fast_path(pattern: str) -> list[Observable] | None:
    return _strict(_lenient_fast_path(pattern))


def _full_grammar(pattern: str) -> list[Observable]:
    found = _strict(_lenient_full_grammar(pattern))
    assert found is not None
    return found


MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

grammar_settings = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def outcome(fn: Callable[[str], list[Observable] | None], pattern: str) -> list[Observable] | str | None:
    """What a parser makes of a pattern: its observables, None (deferred) or 'refused'."""
    try:
        return fn(pattern)
    except InvalidInput:
        return "refused"


def assert_agree(pattern: str) -> list[Observable] | str:
    """The fast path either defers or gives exactly what the full grammar gives."""
    fast = outcome(_fast_path, pattern)
    full = outcome(_full_grammar, pattern)
    assert full is not None
    if fast is not None:
        assert fast == full, pattern
    assert outcome(observables_of_pattern, pattern) == full
    return full


# ------------------------------------------------------------------------------------ simple patterns

SIMPLE = [
    ("[ipv4-addr:value = '198.51.100.1']", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.0/24']", [normalise("198.51.100.0/24")]),
    ("[ipv4-addr:value ISSUBSET '10.1.2.3/8']", [normalise("10.0.0.0/8")]),
    ("[ipv6-addr:value = '2001:DB8::1']", [normalise("2001:db8::1")]),
    ("[ipv6-addr:value ISSUBSET '2001:db8::/32']", [normalise("2001:db8::/32")]),
    ("[domain-name:value = 'Evil.Example.com']", [Observable("domain", "evil.example.com")]),
    (
        "[url:value = 'HTTP://Evil.Example.com:80/A?b=C']",
        [Observable("url", "http://evil.example.com/A?b=C")],
    ),
    ("[email-addr:value = 'Bob@Example.com']", [Observable("email", "Bob@example.com")]),
    ("[email-message:from_ref.value = 'bob@example.com']", [Observable("email", "bob@example.com")]),
    (f"[file:hashes.MD5 = '{MD5.upper()}']", [Observable("md5", MD5)]),
    (f"[file:hashes.'MD5' = '{MD5}']", [Observable("md5", MD5)]),
    (f"[file:hashes.'SHA-1' = '{SHA1}']", [Observable("sha1", SHA1)]),
    (f"[file:hashes.SHA1 = '{SHA1}']", [Observable("sha1", SHA1)]),
    (f"[file:hashes.'SHA-256' = '{SHA256}']", [Observable("sha256", SHA256)]),
    (f"[file:hashes.SHA256 = '{SHA256}']", [Observable("sha256", SHA256)]),
    (f"[file:hashes.md5 = '{MD5}']", [Observable("md5", MD5)]),  # the validator upper-cases keys too
    (f"[file:hashes.'sha-256' = '{SHA256}']", [Observable("sha256", SHA256)]),
    (f"[file:hashes.'SHA-512' = '{SHA512}']", [Observable("sha512", SHA512)]),
    ("[ipv4-addr:value == '198.51.100.1']", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value='198.51.100.1']", [normalise("198.51.100.1")]),
    ("  \n[ ipv4-addr:value\t=\n'198.51.100.1' ]\r\n", [normalise("198.51.100.1")]),
    (
        "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']",
        [normalise("198.51.100.1"), normalise("198.51.100.2")],
    ),
    (
        "[ipv4-addr:value = '198.51.100.1'OR ipv4-addr:value = '198.51.100.2']",
        [normalise("198.51.100.1"), normalise("198.51.100.2")],
    ),
    (
        "[domain-name:value = 'b.example.com' AND ipv4-addr:value = '198.51.100.2']",
        [Observable("domain", "b.example.com"), normalise("198.51.100.2")],
    ),
    (
        f"[ipv4-addr:value = '198.51.100.1'] OR [file:hashes.MD5 = '{MD5}'] AND [url:value = 'http://x.example/']",
        [normalise("198.51.100.1"), Observable("md5", MD5), Observable("url", "http://x.example/")],
    ),
    (
        "[domain-name:value = 'a.example.com']FOLLOWEDBY[domain-name:value = 'b.example.com']",
        [Observable("domain", "a.example.com"), Observable("domain", "b.example.com")],
    ),
    (
        "[domain-name:value = 'a.example.com'] OR [domain-name:value = 'A.example.com.']",
        [Observable("domain", "a.example.com")],  # duplicates collapse
    ),
    ("[url:value = 'http://x.example/it\\'s']", [Observable("url", "http://x.example/it's")]),
    ("[url:value = 'http://x.example/a\\\\b']", [Observable("url", "http://x.example/a\\b")]),
    ("[url:value = 'http://x.example/[a]OR[b]']", [Observable("url", "http://x.example/[a]OR[b]")]),
    ("[domain-name:value = 'evil[.]example[.]com']", [Observable("domain", "evil.example.com")]),
]


@pytest.mark.parametrize(("pattern", "expected"), SIMPLE)
def test_simple_patterns_take_the_fast_path_and_agree(pattern: str, expected: list[Observable]) -> None:
    fast = _fast_path(pattern)
    assert fast is not None, "expected the fast path to handle this"
    assert fast == sorted(expected, key=lambda o: (o.kind, o.value))
    assert _full_grammar(pattern) == fast
    assert observables_of_pattern(pattern) == fast


# ----------------------------------------------------------------- valid, but for the full grammar only

DEFERRED = [
    ("[ipv4-addr:'value' = '198.51.100.1']", [normalise("198.51.100.1")]),
    ("[ipv4-addr :value = '198.51.100.1']", [normalise("198.51.100.1")]),
    ("[email-message:from_ref . value = 'bob@example.com']", [Observable("email", "bob@example.com")]),
    ("([ipv4-addr:value = '198.51.100.1'])", [normalise("198.51.100.1")]),
    ("[(ipv4-addr:value = '198.51.100.1')]", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.1'] WITHIN 300 SECONDS", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.1'] REPEATS 5 TIMES", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.1'] /* comment */", [normalise("198.51.100.1")]),
    ("[ipv4-addr:value = '198.51.100.1']\x0b", [normalise("198.51.100.1")]),
    ("\xa0[ipv4-addr:value = '198.51.100.1']", [normalise("198.51.100.1")]),
    (f"[file:hashes.MD5 = '{MD5}\n']", [Observable("md5", MD5)]),  # the validator's `$` lets "\n" by
    (f"[file:name = 'x.exe' AND file:hashes.MD5 = '{MD5}']", [Observable("md5", MD5)]),
    # comparisons that name no indexed observable contribute nothing
    ("[ipv4-addr:value != '198.51.100.1']", []),
    ("[ipv4-addr:value NOT = '198.51.100.1']", []),
    ("[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]", []),
    ("[domain-name:value LIKE '%.example.com']", []),
    ("[domain-name:value MATCHES '^evil']", []),
    ("[domain-name:value ISSUBSET 'example.com']", []),
    ("[network-traffic:dst_ref.value = '198.51.100.1']", [normalise("198.51.100.1")]),  # MISP's ip-dst
    ("[IPV4-ADDR:value = '198.51.100.1']", []),
    ("[ipv4-addr:value = h'c6336401']", []),
    ("[file:hashes.SSDEEP = '3:a+JraNvsgzsVqSwHq9:tJuOgzsko']", []),
    ("[file:hashes.'SHA 256' = 'anything']", []),
]


@pytest.mark.parametrize(("pattern", "expected"), DEFERRED)
def test_other_valid_patterns_defer_to_the_grammar(pattern: str, expected: list[Observable]) -> None:
    assert _fast_path(pattern) is None
    assert observables_of_pattern(pattern) == sorted(expected, key=lambda o: (o.kind, o.value))


# ------------------------------------------------------------------------------------------- refusals

INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("ipv4-addr:value = '198.51.100.1'", "missing square brackets"),
    ("[ipv4-addr:value = '198.51.100.1'", "missing ']'"),
    ("[ipv4-addr:value = '198.51.100.1']]", "extraneous input ']'"),
    ("[[ipv4-addr:value = '198.51.100.1']", "extraneous input '['"),
    ("[ipv4-addr:value = '198.51.100.1]", "Error found"),
    ("[ipv4-addr:value = 198.51.100.1']", "Error found"),
    ("[ipv4-addr:value = '198.51.100.1'']", "Error found"),
    ("[ipv4-addr:value ~ '198.51.100.1']", "no viable alternative"),
    ("[ipv4-addr:value === '198.51.100.1']", "Error found"),
    ("[ipv4-addr:value issubset '10.0.0.0/8']", "no viable alternative"),
    ("[ipv4-addr:valueISSUBSET '10.0.0.0/8']", "no viable alternative"),
    ("[ipv4-addr:value = '198.51.100.1'] and [ipv4-addr:value = '198.51.100.2']", "mismatched input 'and'"),
    ("[ipv4-addr:value = '198.51.100.1' or ipv4-addr:value = '198.51.100.2']", "mismatched input 'or'"),
    ("[ipv4-addr:value = '198.51.100.1' ORipv4-addr:value = '198.51.100.2']", "mismatched input"),
    ("[ipv4-addr:value = '198.51.100.1'] AND", "mismatched input '<EOF>'"),
    ("[ipv4-addr:value = '198.51.100.1'] []", "Error found"),
    ("[ipv4-addr:value = 'a\\b']", "Error found"),
    ("[file:hashes.SHA-256 = 'aa']", "no viable alternative"),
    ("[file:hashes.\"MD5\" = 'aa']", "no viable alternative"),
    ("[file:hashes.MD5 = 'abc']", "'abc' is not a valid MD5 hash"),
    (f"[file:hashes.'SHA-256' = '{MD5}']", "is not a valid SHA-256 hash"),
    (f"[file:hashes.MD5 = ' {MD5}']", "is not a valid MD5 hash"),
    (f"[file:hashes.MD5 ISSUBSET 'x{MD5}']", "is not a valid MD5 hash"),
    ("[ipv4-addr:value = '198.51.100.1'] WITHIN 5 SECONDS WITHIN 6 SECONDS", "Duplicate qualifier"),
    ("[ipv4-addr:value = '198.51.100.1']\x1c", "extraneous input"),
]


@pytest.mark.parametrize(("pattern", "reason"), INVALID)
def test_invalid_patterns_are_refused_with_a_reason(pattern: str, reason: str) -> None:
    assert _fast_path(pattern) is None
    with pytest.raises(InvalidInput) as e:
        observables_of_pattern(pattern)
    assert "invalid STIX pattern" in str(e.value)
    assert reason in str(e.value)
    assert "FAIL:" not in str(e.value)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("[ipv4-addr:value = '198.51.100.999']", "'198.51.100.999'"),
        ("[ipv4-addr:value = '2001:db8::1']", "'2001:db8::1'"),
        ("[ipv6-addr:value ISSUBSET 'zz::/8']", "'zz::/8'"),
        ("[domain-name:value = 'exa mple.com']", "'exa mple.com'"),
        ("[url:value = 'http://exa mple.com/']", "'http://exa mple.com/'"),
        ("[email-addr:value = 'nobody']", "'nobody'"),
        ("[ipv4-addr:value = '']", "empty"),
        ("[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'bad..example.com']", "'bad..example.com'"),
    ],
)
def test_invalid_values_in_well_formed_patterns_are_refused_by_both_paths(pattern: str, value: str) -> None:
    for parse in (_fast_path, _full_grammar, observables_of_pattern):
        with pytest.raises(InvalidInput) as e:
            parse(pattern)
        assert value in str(e.value)


def test_pattern_values_keeps_the_valid_values_and_names_the_invalid_ones() -> None:
    pattern = "[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'domain x.example']"
    found, skipped = pattern_values(pattern)
    assert found == [normalise("1.2.3.4")]
    assert len(skipped) == 1 and "'domain x.example'" in skipped[0]
    with pytest.raises(InvalidInput, match="invalid STIX pattern"):
        pattern_values("[ipv4-addr:value = '1.2.3.4'")


def test_invalid_value_found_by_the_grammar_path_names_the_path() -> None:
    with pytest.raises(InvalidInput, match=r"ipv4-addr:value .*'198\.51\.100\.999'"):
        _full_grammar("[ipv4-addr:'value' = '198.51.100.999']")


def test_pattern_must_be_text() -> None:
    with pytest.raises(InvalidInput, match="must be text"):
        observables_of_pattern(None)  # type: ignore[arg-type]


def test_long_patterns_are_shortened_in_the_message() -> None:
    pattern = "[domain-name:value = '" + "a" * 500 + "'"
    with pytest.raises(InvalidInput) as e:
        observables_of_pattern(pattern)
    assert len(str(e.value)) < 400


# --------------------------------------------------------------------------- generated: fast == full

ipv4s = st.builds("{}.{}.{}.{}".format, *[st.integers(0, 255)] * 4)
cidrs = st.builds("{}/{}".format, ipv4s, st.integers(0, 32))
ipv6s = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
domains = st.from_regex(r"[a-zA-Z0-9_-]{1,10}(\.[a-zA-Z0-9_-]{1,10}){0,2}\.[a-zA-Z]{2,6}", fullmatch=True)
# Free text inside URLs: exercises the string-literal lexing (quotes, backslashes, brackets, keywords);
# whitespace and control characters make the URL invalid, so those patterns are refused by both paths.
URL_TAIL_PIECES = [*"abcXYZ019/?=&%[]()'\\\".:-_~\u00e9", "AND", "OR", "]OR[", "' OR '"]
url_tails = st.lists(st.sampled_from([*URL_TAIL_PIECES, " ", "\n", "\x00"]), max_size=12).map("".join)
clean_url_tails = (
    st.lists(st.sampled_from(URL_TAIL_PIECES), max_size=12).map("".join).filter(lambda t: " " not in t)
)
urls = st.builds("{}://{}/{}".format, st.sampled_from(["http", "HTTPS", "ftp"]), domains, url_tails)
clean_urls = st.builds(
    "{}://{}/{}".format, st.sampled_from(["http", "HTTPS", "ftp"]), domains, clean_url_tails
)
emails = st.builds("{}@{}".format, st.from_regex(r"[a-zA-Z0-9.+_-]{1,10}", fullmatch=True), domains)


def hex_of(n: int) -> st.SearchStrategy[str]:
    return st.integers(0, 16**n - 1).map(lambda v: f"{v:0{n}x}")


HASH_PATHS = {
    "md5": ["file:hashes.MD5", "file:hashes.'MD5'", "file:hashes.md5"],
    "sha1": ["file:hashes.'SHA-1'", "file:hashes.SHA1"],
    "sha256": ["file:hashes.'SHA-256'", "file:hashes.SHA256"],
    "sha512": ["file:hashes.'SHA-512'", "file:hashes.SHA512"],
}
HASH_SIZES = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def comparisons(draw: st.DrawFn, simple: bool) -> str:
    """One comparison; `simple` ones are all forms the fast path must take on itself."""
    if simple:
        ws = st.sampled_from(["", " ", "  ", "\t", "\n", "\r\n"])
        op = draw(st.sampled_from(["=", "=", "==", "ISSUBSET"]))
    else:
        ws = st.sampled_from(["", " ", " ", "  ", "\t", "\n", "\x0b"])  # \x0b: valid, but not fast
        op = draw(st.sampled_from(["=", "=", "=", "==", "ISSUBSET", "!="]))
    choice = draw(st.sampled_from(["ipv4", "cidr", "ipv6", "domain", "url", "email", "email-from", "hash"]))
    if simple and op == "ISSUBSET":
        choice = draw(st.sampled_from(["ipv4", "cidr", "ipv6"]))
    if choice == "hash":
        kind = draw(st.sampled_from(sorted(HASH_PATHS)))
        path = draw(st.sampled_from(HASH_PATHS[kind]))
        value = draw(hex_of(HASH_SIZES[kind]).map(lambda h: h.upper()) | hex_of(HASH_SIZES[kind]))
    else:
        path, values = {
            "ipv4": ("ipv4-addr:value", ipv4s),
            "cidr": ("ipv4-addr:value", cidrs),
            "ipv6": ("ipv6-addr:value", ipv6s),
            "domain": ("domain-name:value", domains),
            "url": ("url:value", clean_urls if simple else urls),
            "email": ("email-addr:value", emails),
            "email-from": ("email-message:from_ref.value", emails),
        }[choice]
        value = draw(values)
    before = draw(ws) if op in ("=", "==", "!=") else draw(ws) or " "
    return f"{path}{before}{op}{draw(ws)}{literal(value)}"


@st.composite
def patterns(draw: st.DrawFn, simple: bool = False) -> str:
    ws = st.sampled_from(["", " ", "\n"])
    observations = []
    for _ in range(draw(st.integers(1, 3))):
        comps = draw(st.lists(comparisons(simple), min_size=1, max_size=3))
        joined = comps[0]
        for c in comps[1:]:
            joined += draw(ws) + draw(st.sampled_from(["AND", "OR"])) + draw(ws.map(lambda w: w or " ")) + c
        observations.append(f"[{draw(ws)}{joined}{draw(ws)}]")
    pattern = observations[0]
    for o in observations[1:]:
        pattern += draw(ws) + draw(st.sampled_from(["AND", "OR", "FOLLOWEDBY"])) + draw(ws) + o
    return draw(ws) + pattern + draw(ws)


@grammar_settings
@given(patterns(simple=True))
def test_generated_simple_patterns_take_the_fast_path(pattern: str) -> None:
    fast = _fast_path(pattern)
    assert fast is not None
    assert fast == _full_grammar(pattern)
    assert fast  # every comparison in a simple pattern names an observable


@grammar_settings
@given(patterns())
def test_generated_patterns_agree(pattern: str) -> None:
    assert_agree(pattern)


@grammar_settings
@given(patterns(), st.data())
def test_mutated_patterns_are_never_accepted_by_the_fast_path_alone(
    pattern: str, data: st.DataObject
) -> None:
    """Delete, insert or swap one character: the fast path must defer or agree with the grammar."""
    i = data.draw(st.integers(0, len(pattern)))
    edit = data.draw(st.sampled_from(["delete", "insert", "replace"]))
    char = data.draw(st.sampled_from([*"[]()'\\ =:.-_aORNDI\n\x0b", "AND", "OR", "ISSUBSET", "/*"]))
    if edit == "delete":
        mutated = pattern[:i] + pattern[i + 1 :]
    elif edit == "insert":
        mutated = pattern[:i] + char + pattern[i:]
    else:
        mutated = pattern[:i] + char + pattern[i + 1 :]
    assert_agree(mutated)


@grammar_settings
@given(st.lists(st.sampled_from([*"[]()' \\=:.aAOND-ISUBT4v", "ipv4-addr:value", "'1.2.3.4'"])).map("".join))
def test_arbitrary_text_is_never_accepted_by_the_fast_path_alone(text: str) -> None:
    assert_agree(text)


# ----------------------------------------------------------------- rows for bulk ingest: pattern_rows


def rows_outcome(parse: Callable[[str], Any], pattern: str) -> Any:
    try:
        return parse(pattern)
    except InvalidInput as e:
        return ("refused", e.detail)


def rows_of_values(pattern: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    found, skipped = pattern_values(pattern)
    return [(o.kind, o.value, o.ip_lo, o.ip_hi) for o in found], skipped


def assert_rows_agree(pattern: str) -> None:
    """`pattern_rows` is `pattern_values` as rows, whichever way it found them."""
    assert rows_outcome(pattern_rows, pattern) == rows_outcome(rows_of_values, pattern), pattern


CANONICAL_EDGES = [
    "[ipv4-addr:value = '']",
    "[ipv4-addr:value = ''']",
    "[ipv4-addr:value = 'a\\'b']",
    "[ipv4-addr:value = 'a\\\\b']",
    "[ipv4-addr:value = '198.51.100.1'] ",
    " [ipv4-addr:value = '198.51.100.1']",
    "[ipv4-addr:value = '198.51.100.1' ]",
    "[ipv4-addr:value = '198.51.100.1' = '5']",
    "[ipv4-addr:value = '1' OR ipv4-addr:value = '2']",
    "[ipv4-addr:value = ' 198.51.100.1 ']",
    "[ipv4-addr:value = '198.51.100.1/33']",
    "[ipv4-addr:value = '198.51.100.0/24']",
    "[ipv6-addr:value = '::FFFF:1.2.3.4']",
    "[domain-name:value = 'evil[.]example[.]com']",
    "[domain-name:value = 'Bücher.example']",
    "[url:value = 'hxxp://x[.]example/a']",
    "[email-message:from_ref.value = 'Bob@Example.COM']",
    f"[file:hashes.'SHA-256' = '{SHA256.upper()}']",
    f"[file:hashes.SHA256 = '{MD5}']",
    f"[file:hashes.'sha-256' = '{SHA256[:-1]}\u0663']",
    f"[file:hashes.'Sha-256' = '{SHA256}']",
    "[file:hashes.MD5 = '']",
    f"[file:hashes.MD5 = '{MD5}\n']",
]


@pytest.mark.parametrize(
    "pattern",
    [p for p, _ in SIMPLE] + [p for p, _ in DEFERRED] + [p for p, _ in INVALID] + CANONICAL_EDGES,
)
def test_pattern_rows_are_pattern_values_as_rows(pattern: str) -> None:
    assert_rows_agree(pattern)


def test_pattern_rows_of_a_non_string() -> None:
    assert rows_outcome(pattern_rows, None) == rows_outcome(rows_of_values, None)  # type: ignore[arg-type]


CANONICAL_VALUES = {
    "ipv4": "198.51.100.1",
    "ipv6": "2001:db8::1",
    "domain": "example.com",
    "url": "http://example.com/",
    "email": "a@example.com",
}


@pytest.mark.parametrize("head", sorted(_CANONICAL_HEADS))
def test_canonical_heads_are_forms_the_regex_fast_path_takes(head: str) -> None:
    kind = _CANONICAL_HEADS[head][1]
    pattern = f"{head} = '{CANONICAL_VALUES.get(kind) or 'a' * HASH_SIZES[kind]}']"
    fast = _lenient_fast_path(pattern)
    assert fast is not None
    assert pattern_rows(pattern) == ([(o.kind, o.value, o.ip_lo, o.ip_hi) for o in fast], [])  # type: ignore[union-attr]


@st.composite
def canonical_patterns(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(sorted(_CANONICAL_HEADS)))
    kind = _CANONICAL_HEADS[head][1]
    by_kind = {"ipv4": ipv4s | cidrs, "ipv6": ipv6s, "domain": domains, "url": urls, "email": emails}
    if kind in by_kind:
        values = by_kind[kind]
    else:
        values = hex_of(HASH_SIZES[kind]) | hex_of(HASH_SIZES[kind]).map(str.upper)
    value = draw(values | st.text(max_size=12) | st.sampled_from(["", " ", "'", "\\"]))
    return f"{head} = {literal(value)}]"


@grammar_settings
@given(st.one_of(canonical_patterns(), patterns(simple=True), patterns()))
def test_generated_pattern_rows_agree(pattern: str) -> None:
    assert_rows_agree(pattern)


def test_addresses_behind_references_are_indexed_as_misp_writes_them() -> None:
    """MISP's converter writes ip-dst/ip-src as network-traffic references and domain|ip as
    resolves_to_refs: the addresses must be findable like any other."""
    from accord.intel.patterns import pattern_values

    values, _ = pattern_values(
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.3']"
    )
    assert [(o.kind, o.value) for o in values] == [("ipv4", "198.51.100.3")]
    values, _ = pattern_values("[network-traffic:src_ref.value = '2001:DB8::1']")
    assert [(o.kind, o.value) for o in values] == [("ipv6", "2001:db8::1")]
    values, _ = pattern_values(
        "[domain-name:value = 'a.example' AND domain-name:resolves_to_refs[*].value = '192.0.2.9']"
    )
    assert sorted((o.kind, o.value) for o in values) == [("domain", "a.example"), ("ipv4", "192.0.2.9")]
    values, skipped = pattern_values("[network-traffic:dst_ref.value = 'not an address']")
    assert values == [] and "network-traffic:dst_ref.value" in skipped[0]
    values, _ = pattern_values(
        "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'circl.lu']"
    )
    assert [(o.kind, o.value) for o in values] == [("domain", "circl.lu")]
