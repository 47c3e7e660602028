"""MISP warninglists: parsing, loading with problems, and matching as MISP applies each list type."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel.observables import KINDS, normalise
from accord.intel.warninglists import (
    TYPE_KINDS,
    Warninglist,
    WarninglistIndex,
    _literals_pattern,
    kinds_for,
    load_dir,
    parse_list,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "warninglists"
DNS = "Fixture public resolvers"
HOSTS = "Fixture hostnames"
STRINGS = "Fixture strings"
SUBSTRINGS = "Fixture disposable mail"
REGEX = "Fixture role addresses"
PRIVATE = "Fixture private networks"


def make(
    list_type: str, entries: list[str], attributes: list[str] | None = None, **extra: Any
) -> Warninglist:
    data: dict[str, Any] = {
        "name": extra.pop("name", f"{list_type} list"),
        "version": 1,
        "description": "test",
        "type": list_type,
        "list": entries,
        **extra,
    }
    if attributes is not None:
        data["matching_attributes"] = attributes
    return parse_list(data, "test")


@pytest.fixture(scope="module")
def good() -> WarninglistIndex:
    lists, problems = load_dir(FIXTURES / "good")
    assert problems == []
    return WarninglistIndex(lists)


# ------------------------------------------------------------------------------------------- parsing


def test_fixture_lists_load_with_normalised_entries() -> None:
    lists, problems = load_dir(FIXTURES / "good")
    assert problems == []
    by_name = {wl.name: wl for wl in lists}
    assert set(by_name) == {DNS, HOSTS, STRINGS, SUBSTRINGS, REGEX, PRIVATE}
    dns = by_name[DNS]
    assert (dns.type, dns.version, dns.category) == ("cidr", 3, "known")
    # /32 dropped, IPv4-mapped pinned to its dotted form, the repeated 8.8.8.8 kept once
    assert dns.entries == (
        "8.8.8.8",
        "1.1.1.1",
        "9.9.9.0/24",
        "2001:4860:4860::8888",
        "2606:4700::/32",
        "::ffff:192.0.2.1",
    )
    assert dns.kinds == {"ipv4", "ipv6"}
    assert dns.matching_attributes == ("ip-src", "ip-dst", "domain|ip")
    # leading/trailing dots trimmed and lower-cased as MISP does; the empty entry skipped
    assert by_name[HOSTS].entries == ("example-cdn.com", "trusted.org", "8.8.4.4")
    assert by_name[HOSTS].kinds == {"domain", "url", "email"}
    assert by_name[STRINGS].entries == (
        "top-site.com",
        "d41d8cd98f00b204e9800998ecf8427e",
        "aaa",
        "http://example.com/index.html",
    )
    assert by_name[SUBSTRINGS].entries == ("mailinator", "tempmail.")  # fragments kept as written
    assert by_name[REGEX].entries == ("/^(abuse|noc)@/i", "#^postmaster@#")
    # the commented object form; no matching_attributes: every kind a cidr list can match
    assert by_name[PRIVATE].entries == ("10.0.0.0/8", "fc00::/7")
    assert by_name[PRIVATE].kinds == TYPE_KINDS["cidr"]
    assert by_name[PRIVATE].category == "false_positive"


def test_parse_list_accepts_bytes_text_and_objects_alike() -> None:
    raw = (FIXTURES / "good" / "dns" / "list.json").read_bytes()
    assert parse_list(raw) == parse_list(raw.decode()) == parse_list(json.loads(raw))


@pytest.mark.parametrize(
    ("attributes", "list_type", "kinds"),
    [
        (["ip-src|port", "ip-dst"], "cidr", {"ipv4", "ipv6"}),
        (["domain|ip"], "cidr", {"ipv4", "ipv6"}),  # the domain half means nothing to a network
        (["domain|ip"], "hostname", {"domain", "ipv4", "ipv6"}),
        (["domain", "url", "email-dst"], "cidr", set()),
        (["filename|sha256", "x509-fingerprint-sha1", "ssdeep"], "string", {"sha256"}),
        (["phone-number"], "regex", set()),
        ([], "substring", set(KINDS)),
        ([], "hostname", {"domain", "url", "email", "ipv4", "ipv6"}),
    ],
)
def test_matching_attributes_become_kinds(attributes: list[str], list_type: str, kinds: set[str]) -> None:
    assert kinds_for(list_type, attributes) == kinds
    assert make(list_type, [], attributes).kinds == kinds


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": None}, "name", "missing required field 'name'"),
        ({"name": "  "}, "name", "'name' is empty"),
        ({"version": "1"}, "version", "'version' must be an integer, not a string"),
        ({"version": True}, "version", "not a boolean"),
        ({"description": 5}, "description", "must be text"),
        ({"type": "glob"}, "type", "unknown list type 'glob'"),
        ({"category": "benign"}, "category", "unknown category 'benign'"),
        ({"matching_attributes": "ip-src"}, "matching_attributes", "must be a list"),
        ({"matching_attributes": ["ip-src", 3]}, "matching_attributes[1]", "attribute type must be text"),
        ({"list": "8.8.8.8"}, "list", "must be a list of values"),
        ({"list": ["8.8.8.8", None]}, "list[1]", "an entry must be text, not null"),
        ({"list": ["8.8.8.8", "dns.google"]}, "list[1]", "'dns.google' is not an IP address or CIDR"),
        ({"list": ["10.0.0.0/33"]}, "list[0]", "not an IP address or CIDR"),
        ({"list": {"10.0.0.0/8": "ok", "nope": "bad"}}, "list['nope']", "not an IP address or CIDR"),
    ],
)
def test_bad_fields_name_source_and_field(change: dict[str, Any], field: str, words: str) -> None:
    data: dict[str, Any] = {"name": "n", "version": 1, "description": "d", "type": "cidr", "list": []}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(InvalidInput) as caught:
        parse_list(data, "lists/x/list.json")
    assert words in caught.value.detail
    assert caught.value.where == {"source": "lists/x/list.json", "field": field}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("/^(abuse@/", "not a valid regular expression"),
        ("abuse@", "does not start with a delimiter"),
        ("/^abuse@", "no closing delimiter '/'"),
        ("/^abuse@/U", "modifier 'U'"),  # PCRE's ungreedy switch has no Python equivalent
    ],
)
def test_bad_regex_entries_are_refused(entry: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make("regex", ["/fine/", entry])
    assert words in caught.value.detail
    assert caught.value.where["field"] == "list[1]"


def test_not_json_names_line_and_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_list(b'{"name": "x",\n  "version": 1,,}', "broken.json")
    assert caught.value.detail.startswith("not valid JSON")
    assert caught.value.where["source"] == "broken.json"
    assert caught.value.where["line"] == 2


def test_load_dir_reports_each_bad_file_and_keeps_the_good_one() -> None:
    root = FIXTURES / "bad"
    lists, problems = load_dir(root)
    assert [wl.name for wl in lists] == ["Still loads"]
    assert lists[0].entries == ("fine.example",)  # the first file with the name wins
    found = {Path(p.where["source"]).parent.name: p for p in problems}
    assert set(found) == {
        "bad-cidr",
        "bad-entry",
        "bad-json",
        "bad-regex",
        "missing-type",
        "not-an-object",
        "same-name",
        "unknown-type",
    }  # and schema.json, the MISP repository's JSON Schema, is not taken for a list
    for problem in problems:
        assert Path(problem.where["source"]).name == "list.json"
        assert Path(problem.where["source"]).is_file()
    assert found["bad-cidr"].where["field"] == "list[1]" and "'300.1.1.1'" in found["bad-cidr"].detail
    assert found["bad-entry"].where["field"] == "list[1]"
    assert (
        found["bad-regex"].where["field"] == "list[1]" and "regular expression" in found["bad-regex"].detail
    )
    assert found["missing-type"].where["field"] == "type"
    assert found["unknown-type"].where["field"] == "type" and "'glob'" in found["unknown-type"].detail
    assert found["same-name"].where["field"] == "name" and "already loaded" in found["same-name"].detail
    assert found["bad-json"].detail.startswith("not valid JSON") and found["bad-json"].where["line"] == 3
    assert "JSON object, not a list" in found["not-an-object"].detail
    assert "bad-cidr" in str(found["bad-cidr"])  # a Problem prints where it is


def test_load_dir_takes_one_file_and_refuses_a_missing_path(tmp_path: Path) -> None:
    lists, problems = load_dir(FIXTURES / "good" / "dns" / "list.json")
    assert ([wl.name for wl in lists], problems) == ([DNS], [])
    with pytest.raises(InvalidInput, match="no such file or folder"):
        load_dir(tmp_path / "absent")


def test_load_dir_skips_hidden_folders(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "list.json").write_text("not json")
    (tmp_path / "flat.json").write_text(
        json.dumps({"name": "flat", "version": 1, "description": "", "type": "string", "list": ["x.example"]})
    )
    lists, problems = load_dir(tmp_path)
    assert ([wl.name for wl in lists], problems) == (["flat"], [])


# ---------------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.8.8.8", DNS),
        ("8.8.8.9", None),
        ("1.1.1.1", DNS),
        ("9.9.9.200", DNS),
        ("9.9.9.0/25", DNS),  # a network wholly inside
        ("9.9.8.0/23", None),  # wider than the listed /24
        ("9.9.10.1", None),
        ("2001:4860:4860::8888", DNS),
        ("2001:4860:4860::8844", None),
        ("2606:4700:1::1", DNS),
        ("2606:4700::/48", DNS),
        ("2606::/16", None),
        ("2606:4700::/31", None),  # starts inside the listed /32 but is wider
        ("10.0.0.0/7", None),
        ("2606:4701::1", None),
        ("::ffff:8.8.8.8", DNS),  # an IPv4-mapped value meets the IPv4 entry
        ("192.0.2.1", DNS),  # an IPv4 value meets the IPv4-mapped entry
        ("192.0.2.2", None),
        ("10.200.3.4", PRIVATE),
        ("fd12:3456::1", PRIVATE),
        ("11.0.0.1", None),
    ],
)
def test_cidr_lists(good: WarninglistIndex, value: str, expected: str | None) -> None:
    assert good.match(normalise(value)) == expected


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("example-cdn.com", None, HOSTS),
        ("static.img.Example-CDN.com", None, HOSTS),  # a subdomain, any case
        ("notexample-cdn.com", None, None),  # a suffix that is not a parent domain
        ("example-cdn.com.evil.net", None, None),
        ("https://img.example-cdn.com:8443/x?y=1", None, HOSTS),  # a URL's host
        ("http://user@example-cdn.com/", None, HOSTS),
        ("http://evil.net/example-cdn.com", None, None),  # the path is not the host
        ("alice@mail.trusted.org", None, HOSTS),  # an e-mail's domain
        ("trusted.org", None, HOSTS),  # the entry was written with a trailing dot
        ("http://8.8.4.4/dns-query", None, HOSTS),  # an address entry, in a URL
        ("8.8.4.4", None, None),  # the list names no IP attribute type
        ("org", "domain", None),  # parents of an entry are not covered
    ],
)
def test_hostname_lists(good: WarninglistIndex, value: str, kind: str | None, expected: str | None) -> None:
    assert good.match(normalise(value, kind)) == expected


def test_hostname_lists_match_addresses_exactly_only_for_ip_kinds() -> None:
    index = WarninglistIndex([make("hostname", ["8.8.4.4", "4.4"], ["domain|ip", "url"])])
    assert index.match(normalise("8.8.4.4")) == "hostname list"
    assert index.match(normalise("http://8.8.4.4/")) == "hostname list"
    assert index.match(normalise("18.8.4.4")) is None  # an address is not walked up like a name
    assert index.match(normalise("http://18.8.4.4/")) is None


def test_hostname_list_without_url_or_email_types_ignores_them() -> None:
    index = WarninglistIndex([make("hostname", ["example.org"], ["domain"])])
    assert index.match(normalise("www.example.org")) == "hostname list"
    assert index.match(normalise("http://www.example.org/")) is None
    assert index.match(normalise("bob@example.org")) is None


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("top-site.com", None, STRINGS),
        ("TOP-SITE.com.", "domain", STRINGS),
        ("www.top-site.com", None, None),  # exact, not a suffix
        ("d41d8cd98f00b204e9800998ecf8427e", None, STRINGS),  # the entry was upper case
        ("aaa", "domain", STRINGS),  # a single-label entry (TLD lists)
        ("HTTP://EXAMPLE.com/index.html", None, STRINGS),  # scheme, host and default port normalised
        ("http://example.com/INDEX.html", None, None),  # a path keeps its case
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", None, None),  # sha1 is not in its types
    ],
)
def test_string_lists(good: WarninglistIndex, value: str, kind: str | None, expected: str | None) -> None:
    assert good.match(normalise(value, kind)) == expected


def test_string_list_restricted_by_kind() -> None:
    index = WarninglistIndex([make("string", ["8.8.8.8", "dns.google"], ["domain"])])
    assert index.match(normalise("dns.google")) == "string list"
    assert index.match(normalise("8.8.8.8")) is None  # the entry is there, but not for addresses


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bob@mailinator.com", SUBSTRINGS),
        ("x.tempmail.io", SUBSTRINGS),
        ("bob@sub.tempmail.io", SUBSTRINGS),
        ("bob@mailinato.com", None),
        ("tempmail", None),  # the entry's final dot is part of it
        ("http://tempmail.io/", None),  # a URL is not among its types
    ],
)
def test_substring_lists(good: WarninglistIndex, value: str, expected: str | None) -> None:
    assert good.match(normalise(value, "domain" if value == "tempmail" else None)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Abuse@example.com", REGEX),  # the i modifier
        ("noc@example.com", REGEX),
        ("postmaster@example.com", REGEX),  # another delimiter
        ("Postmaster@example.com", None),  # no i on that one
        ("abuser@example.com", None),
        ("bob.abuse@example.com", None),
        ("abuse.example.com", None),  # a domain is not among its types
    ],
)
def test_regex_lists(good: WarninglistIndex, value: str, expected: str | None) -> None:
    assert good.match(normalise(value)) == expected


def test_substring_lists_check_ips_and_hashes_with_the_entries_that_can_occur_in_them() -> None:
    index = WarninglistIndex([make("substring", ["52.168.", "Portal.Example", "d41d8"])])
    assert index.lists[0].entries == ("52.168.", "portal.example", "d41d8")  # a whole domain: normalised
    assert index.match(normalise("52.168.52.134")) == "substring list"
    assert index.match(normalise("152.168.0.1")) == "substring list"  # MISP's semantics: anywhere
    assert index.match(normalise("53.168.0.1")) is None
    assert index.match(normalise("d41d8cd98f00b204e9800998ecf8427e")) == "substring list"
    assert index.match(normalise("portal.example.net")) == "substring list"
    assert index.match(normalise("http://x.net/?q=portal.example")) == "substring list"


def test_matches_lists_every_covering_list_once(good: WarninglistIndex) -> None:
    both = WarninglistIndex(
        [*good.lists, make("cidr", ["8.8.8.0/24", "8.8.8.8"], name="second"), make("string", ["8.8.8.8"])]
    )
    found = both.matches(normalise("8.8.8.8"))
    assert sorted(found) == sorted(["string list", DNS, "second"])  # "second" twice over: listed once
    assert both.match(normalise("8.8.8.8")) == "string list"
    assert both.matches(normalise("8.8.8.7")) == ["second"]
    assert both.matches(normalise("203.0.113.9")) == []


def test_match_text_normalises_first(good: WarninglistIndex) -> None:
    assert good.match_text("  hxxps://IMG.example-cdn[.]com/a ") == HOSTS
    assert good.match_text("aaa", "domain") == STRINGS
    assert good.match_text("8.8.8.9") is None
    with pytest.raises(InvalidInput, match="not a valid IPv4"):
        good.match_text("999.1.1.1")


def test_inert_and_empty_lists_match_nothing() -> None:
    inert = make("regex", ["/.*/"], ["phone-number"])
    assert inert.kinds == frozenset()
    index = WarninglistIndex([inert, make("cidr", []), make("substring", [])])
    for value in ("8.8.8.8", "a.example", "bob@a.example", "http://a.example/"):
        assert index.match(normalise(value)) is None


def test_deep_substring_trie_still_matches() -> None:
    # Each entry branches off the previous one: nesting deeper than the regex compiler takes.
    entries = ["x" * k + "y" for k in range(1, 1500)]
    index = WarninglistIndex([make("substring", entries, ["url"])])
    assert index.match(normalise("http://a.example/" + "x" * 1400 + "y")) == "substring list"
    assert index.match(normalise("http://a.example/?q=xy")) == "substring list"
    assert index.match(normalise("http://a.example/" + "x" * 1400)) is None
    assert index.match(normalise("http://a.example/y")) is None


# --------------------------------------------------------------------------------- model properties

small_words = st.text(alphabet="ab.c", min_size=1, max_size=6)


@given(st.lists(small_words, min_size=1, max_size=30), st.text(alphabet="ab.cd", max_size=25))
def test_trie_pattern_finds_exactly_what_a_loop_finds(words: list[str], text: str) -> None:
    expected = any(word in text for word in words)
    assert (_literals_pattern(words).search(text) is not None) == expected


v4_networks = st.builds(
    lambda n, p: ipaddress.IPv4Network((n >> (32 - p) << (32 - p), p)),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)


@settings(max_examples=60)
@given(st.lists(v4_networks, min_size=1, max_size=25), st.integers(0, 2**32 - 1), st.integers(20, 32))
def test_networks_match_exactly_what_ipaddress_says(
    networks: list[ipaddress.IPv4Network], address: int, value_prefix: int
) -> None:
    halves = [networks[::2], networks[1::2]]
    lists = [make("cidr", [str(n) for n in half], name=f"half{i}") for i, half in enumerate(halves)]
    index = WarninglistIndex(lists)
    rng = random.Random(address)
    # addresses inside, at the edges of, and near the listed networks, plus one anywhere
    probes = [ipaddress.IPv4Network((address >> (32 - value_prefix) << (32 - value_prefix), value_prefix))]
    for n in networks:
        probes += [n, n.supernet()] + ([next(n.subnets())] if n.prefixlen < 32 else [])
        for a in (int(n.network_address), int(n.broadcast_address), rng.randrange(2**32)):
            for b in (a - 1, a, a + 1):
                if 0 <= b < 2**32:
                    probes.append(ipaddress.IPv4Network(b))
    for probe in probes:
        expected = [
            wl.name for wl, half in zip(lists, halves, strict=True) if any(probe.subnet_of(n) for n in half)
        ]
        assert sorted(index.matches(normalise(str(probe)))) == expected, probe


# ------------------------------------------------------------------------------------------ corpus

# Lists of the MISP corpus we cannot load, with the reason. Empty: every list loads.
CORPUS_UNLOADABLE: dict[str, str] = {}
# Lists that load but apply to none of our kinds, with the reason.
CORPUS_INERT = {
    "List of Azure Applicaiton IDs": "azure-application-id is not an observable kind here",
    "Unattributed phone number.": "phone-number / whois-registrant-phone: no phone kind here",
}


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Warninglist], list[Any], WarninglistIndex, Path]:
    root = shared_data("misp-warninglists")
    lists, problems = load_dir(root)
    return lists, problems, WarninglistIndex(lists), root


@pytest.mark.corpus
def test_corpus_loads(corpus: tuple[list[Warninglist], list[Any], WarninglistIndex, Path]) -> None:
    lists, problems, _, root = corpus
    files = sorted(p for p in root.rglob("list.json"))
    assert {Path(p.where["source"]).parent.name for p in problems} == set(CORPUS_UNLOADABLE), problems
    assert len(lists) + len(problems) == len(files)
    assert {wl.name for wl in lists if not wl.kinds} == set(CORPUS_INERT)
    assert sum(len(wl.entries) for wl in lists) > 0.9 * sum(
        len(json.loads(f.read_bytes())["list"]) for f in files
    )


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("value", "list_name"),
    [
        ("8.8.8.8", "List of known IPv4 public DNS resolvers"),
        ("1.1.1.1", "List of known IPv4 public DNS resolvers"),
        ("2001:4860:4860::8888", "List of known IPv6 public DNS resolvers"),
        ("13.33.100.1", "List of known Amazon AWS IP address ranges"),  # inside 13.32.0.0/15
        ("104.16.132.229", "List of known Cloudflare IP ranges"),  # inside 104.16.0.0/13
        ("google.com", "Top 1000 websites from Cisco Umbrella"),
        ("mail.google.com", "Top 10K most-used sites from Tranco"),  # hostname list: a subdomain
        ("https://www.wikipedia.org/wiki/X", "Top 10K most-used sites from Tranco"),
        ("d41d8cd98f00b204e9800998ecf8427e", "List of known hashes for empty files"),
        ("abuse@example.com", "Common contact e-mail addresses"),
        ("bob@mailinator.com", "List of disposable email domains"),
        ("192.168.10.20", "List of RFC 1918 CIDR blocks"),
        # TEST-NET-3: the lists do cover it, as a special-use block, not as a benign host
        ("203.0.113.7", "List of RFC 5735 CIDR blocks"),
    ],
)
def test_corpus_known_members(
    corpus: tuple[list[Warninglist], list[Any], WarninglistIndex, Path], value: str, list_name: str
) -> None:
    index = corpus[2]
    assert list_name in index.matches(normalise(value))
    assert index.match(normalise(value)) is not None


@pytest.mark.corpus
@pytest.mark.parametrize(
    "value", ["1.2.3.4", "evil-unlisted-host.example.net", "bob@evil-unlisted.example.net"]
)
def test_corpus_leaves_unlisted_values_alone(
    corpus: tuple[list[Warninglist], list[Any], WarninglistIndex, Path], value: str
) -> None:
    assert corpus[2].matches(normalise(value)) == []
