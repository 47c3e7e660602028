"""MISP warninglists: known-benign values (public resolvers, cloud and CDN ranges, top domains, hashes
of empty files) that must not raise alarms.

Lists come in the MISP warninglist format (https://github.com/MISP/misp-warninglists: `list.json`
with name, version, description, type, list, matching_attributes, category) and are matched the way
MISP matches them (app/Model/Warninglist.php, app/Lib/Tools/CidrTool.php), on our normalised values:

- cidr: an address, or a CIDR wholly inside, within a listed network (IPv4 in the IPv4-mapped space,
  so ::ffff:1.2.3.4 meets 1.2.3.0/24);
- string: exact equality with the normalised value;
- hostname: the host (a domain, a URL's host, an e-mail's domain) is an entry or below one; entries
  that are IP addresses match exactly;
- substring: an entry occurs in the normalised value;
- regex: PCRE-style `/pattern/flags` entries, `re.search` on the normalised value.

`matching_attributes` (MISP attribute types) say which of our kinds a list applies to. This module is
pure: the caller stores lists and decides what a hit means (flag at import, skip in matching/routing).
`WarninglistIndex.match` runs for every imported value, so it costs a few dict probes and one bisect:
strings and hostnames are dicts (hostnames walked up the parent domains), networks are the key space
cut into sorted segments that each know the networks covering them, and the few substring/regex
lists come last, only for the kinds they apply to, each compiled once (a substring list as one
trie-shaped regex).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from accord.errors import InvalidInput, Problem
from accord.intel.observables import KINDS, Observable, network_prefix_of, normalise, try_normalise
from accord.intel.validate import json_type

__all__ = [
    "ATTRIBUTE_KINDS",
    "CATEGORIES",
    "TYPES",
    "TYPE_KINDS",
    "Warninglist",
    "WarninglistIndex",
    "kinds_for",
    "load_dir",
    "parse_list",
]

TYPES = ("cidr", "string", "substring", "hostname", "regex")
CATEGORIES = ("false_positive", "known")  # MISP's two; lists that say nothing are false positives
DEFAULT_CATEGORY = "false_positive"

_IP = frozenset({"ipv4", "ipv6"})
_DOMAIN = frozenset({"domain"})
_URL = frozenset({"url"})
_EMAIL = frozenset({"email"})
_ALL = frozenset(KINDS)

# MISP attribute types -> our kinds. Composite types (ip-dst|port, filename|md5) carry one of ours;
# x509 fingerprints, ssdeep, sha224, phone numbers... have no kind here, so lists naming only those
# load but apply to nothing.
ATTRIBUTE_KINDS: Mapping[str, frozenset[str]] = {
    "ip-src": _IP,
    "ip-dst": _IP,
    "ip-src|port": _IP,
    "ip-dst|port": _IP,
    "domain|ip": _DOMAIN | _IP,
    "domain": _DOMAIN,
    "hostname": _DOMAIN,
    "hostname|port": _DOMAIN,
    "url": _URL,
    "uri": _URL,
    "link": _URL,
    "email": _EMAIL,
    "email-src": _EMAIL,
    "email-dst": _EMAIL,
    "email-reply-to": _EMAIL,
    "target-email": _EMAIL,
    "whois-registrant-email": _EMAIL,
    "dns-soa-email": _EMAIL,
    "md5": frozenset({"md5"}),
    "filename|md5": frozenset({"md5"}),
    "malware-sample": frozenset({"md5"}),
    "sha1": frozenset({"sha1"}),
    "filename|sha1": frozenset({"sha1"}),
    "sha256": frozenset({"sha256"}),
    "filename|sha256": frozenset({"sha256"}),
    "sha512": frozenset({"sha512"}),
    "filename|sha512": frozenset({"sha512"}),
}

# The kinds each list type can match at all (also the default when a list names no attribute type,
# where MISP applies the list to every type).
TYPE_KINDS: Mapping[str, frozenset[str]] = {
    "cidr": _IP,
    "hostname": _DOMAIN | _URL | _EMAIL | _IP,
    "string": _ALL,
    "substring": _ALL,
    "regex": _ALL,
}

_HOST_ENTRY_KINDS = frozenset({"domain", "ipv4", "ipv6"})
# PCRE modifiers with a Python meaning; 'u' (UTF-8), 'S' (study) and JavaScript's 'g' change nothing
# for a search. Others ('U', 'A', 'X', ...) have no equivalent: the list is refused, not half-applied.
_REGEX_FLAGS = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "u": 0,
    "S": 0,
    "g": 0,
}
_CLOSING = {"(": ")", "[": "]", "{": "}", "<": ">"}
_IPV4_TEXT = frozenset("0123456789.")  # a normalised URL host of only these is an IPv4 address
_HEX = "0123456789abcdef"
# Every character a normalised value of the kind can contain (None: no useful limit).
_ALPHABETS: Mapping[str, frozenset[str] | None] = {
    "ipv4": frozenset("0123456789./"),
    "ipv6": frozenset(_HEX + ":./"),
    "domain": frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_."),
    "url": None,
    "email": None,
    **{kind: frozenset(_HEX) for kind in ("md5", "sha1", "sha256", "sha512")},
}
_NOT_LISTS = frozenset({"schema.json"})  # the JSON Schema at the root of the MISP repository


@dataclass(frozen=True)
class Warninglist:
    """One list. `entries` are in our normalised form (as `parse_list` gives them); `kinds` are the
    observable kinds it applies to; `matching_attributes` keeps the MISP types it was published with."""

    name: str
    version: int
    description: str
    type: str
    entries: tuple[str, ...]
    kinds: frozenset[str]
    category: str = DEFAULT_CATEGORY
    matching_attributes: tuple[str, ...] = ()


class _BadEntry(Exception):
    """Internal: why one entry is unusable (turned into InvalidInput naming the entry)."""


# ------------------------------------------------------------------------------------------- parsing


def parse_list(data: bytes | str | dict[str, Any], where: str = "") -> Warninglist:
    """A warninglist from `list.json` content (bytes or text) or its decoded object.

    Raises InvalidInput naming `where` (as `source`) and the field (`list[17]` for an entry).
    """
    place = {"source": where or None}
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise InvalidInput(f"not valid JSON: {e.msg}", **place, line=e.lineno, column=e.colno) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"a warninglist must be a JSON object, not {json_type(data)}", **place)
    obj: dict[str, Any] = data

    def field(key: str, expected: type | tuple[type, ...], label: str, required: bool = True) -> Any:
        value = obj.get(key)
        if value is None:
            if required:
                raise InvalidInput(f"missing required field {key!r}", **place, field=key)
            return None
        if not isinstance(value, expected) or isinstance(value, bool):
            raise InvalidInput(f"{key!r} must be {label}, not {json_type(value)}", **place, field=key)
        return value

    name = field("name", str, "text").strip()
    if not name:
        raise InvalidInput("'name' is empty", **place, field="name")
    version = field("version", int, "an integer")
    description = field("description", str, "text")
    list_type = field("type", str, "text")
    if list_type not in TYPES:
        raise InvalidInput(
            f"unknown list type {list_type!r} (expected one of {', '.join(TYPES)})", **place, field="type"
        )
    category = field("category", str, "text", required=False) or DEFAULT_CATEGORY
    if category not in CATEGORIES:
        raise InvalidInput(
            f"unknown category {category!r} (expected one of {', '.join(CATEGORIES)})",
            **place,
            field="category",
        )
    attributes = field("matching_attributes", list, "a list of MISP attribute types", required=False) or []
    for i, attribute in enumerate(attributes):
        if not isinstance(attribute, str):
            raise InvalidInput(
                f"an attribute type must be text, not {json_type(attribute)}",
                **place,
                field=f"matching_attributes[{i}]",
            )
    kinds = kinds_for(list_type, attributes)

    raw_entries = field("list", (list, dict), "a list of values (or an object of value: comment)")
    # MISP also accepts {"value": "comment", ...}; the comments are not kept.
    items = raw_entries.items() if isinstance(raw_entries, dict) else enumerate(raw_entries)
    entries: dict[str, None] = {}
    for key, item in items:
        raw = key if isinstance(raw_entries, dict) else item
        where_entry = f"list[{key!r}]" if isinstance(raw_entries, dict) else f"list[{key}]"
        if not isinstance(raw, str):
            raise InvalidInput(f"an entry must be text, not {json_type(raw)}", **place, field=where_entry)
        try:
            entry = _entry_form(list_type, raw, kinds)
        except _BadEntry as e:
            raise InvalidInput(f"entry {raw!r} {e}", **place, field=where_entry) from None
        if entry:
            entries[entry] = None
    return Warninglist(
        name=name,
        version=version,
        description=description,
        type=list_type,
        entries=tuple(entries),
        kinds=kinds,
        category=category,
        matching_attributes=tuple(attributes),
    )


def kinds_for(list_type: str, matching_attributes: Iterable[str]) -> frozenset[str]:
    """Our kinds a list of this type applies to, given its MISP attribute types (none: all it can match)."""
    possible = TYPE_KINDS.get(list_type)
    if possible is None:
        raise InvalidInput(f"unknown list type {list_type!r} (expected one of {', '.join(TYPES)})")
    named = list(matching_attributes)
    if not named:
        return possible
    kinds: frozenset[str] = frozenset()
    for attribute in named:
        kinds |= ATTRIBUTE_KINDS.get(attribute, frozenset())
    return kinds & possible


def _entry_form(list_type: str, raw: str, kinds: frozenset[str]) -> str:
    """The text an entry is matched as; '' for an empty entry (skipped, as MISP does).

    Entries go through our normaliser so they meet values on the same text; one that does not
    normalise is kept as written (it can still match as a string or substring, case-sensitively
    as in MISP).
    """
    text = raw.strip()
    if not text:
        return ""
    if list_type == "regex":
        _compile_regex(text)
        return text
    if list_type == "cidr":
        obs = try_normalise(text)
        if obs is None or obs.ip_lo is None:
            raise _BadEntry("is not an IP address or CIDR")
        return obs.value
    if list_type == "hostname":
        text = text.strip(".").lower()  # as MISP reads hostname entries
        obs = try_normalise(text)
        if obs is not None and obs.kind in _HOST_ENTRY_KINDS:
            return obs.value
        obs = try_normalise(text, "domain")
        return text if obs is None else obs.value
    obs = try_normalise(text)
    if list_type == "substring":
        # A fragment, not a value: normalised only when it is a whole value (so it meets values on
        # their text) and not when that would drop a meaningful final dot ("tempmail." is no suffix).
        return text if obs is None or text.endswith(".") else obs.value
    if obs is None:
        # Single labels (TLD lists) and dotless e-mail domains only normalise with their kind given;
        # never a URL: that parser would invent a scheme.
        if "@" in text and "email" in kinds:
            obs = try_normalise(text, "email")
        elif "domain" in kinds:
            obs = try_normalise(text, "domain")
    return text if obs is None else obs.value


def _compile_regex(entry: str) -> re.Pattern[str]:
    """A PCRE-style `/pattern/flags` entry (any non-alphanumeric delimiter, or a bracket pair)."""
    opener = entry[0]
    if opener.isalnum() or opener.isspace() or opener == "\\":
        raise _BadEntry(f"does not start with a delimiter (e.g. /pattern/flags), but with {opener!r}")
    closer = _CLOSING.get(opener, opener)
    end = entry.rfind(closer)
    if end <= 0:
        raise _BadEntry(f"has no closing delimiter {closer!r}")
    pattern, modifiers = entry[1:end], entry[end + 1 :]
    flags = 0
    for modifier in modifiers:
        if modifier not in _REGEX_FLAGS:
            raise _BadEntry(f"has modifier {modifier!r}, which is not supported (i, m, s, x, u, S, g)")
        flags |= _REGEX_FLAGS[modifier]
    try:
        return re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError) as e:
        raise _BadEntry(f"is not a valid regular expression: {e}") from None


# ------------------------------------------------------------------------------------------- loading


def load_dir(path: str | Path) -> tuple[list[Warninglist], list[Problem]]:
    """Every warninglist below `path` (each `*/list.json`, and any other `*.json` but the MISP
    repository's `schema.json`; hidden folders skipped), or the one file `path` names.

    A file that cannot be used becomes a Problem naming it (and the field); the others still load.
    Two lists with the same name: the second is a Problem (a hit is reported by name).
    """
    root = Path(path)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*.json")
            if p.name not in _NOT_LISTS
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    else:
        raise InvalidInput("no such file or folder", source=str(root))
    lists: list[Warninglist] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as e:
            problems.append(Problem(f"cannot read the file: {e.strerror or e}", {"source": str(file)}))
            continue
        try:
            wl = parse_list(data, str(file))
        except InvalidInput as e:
            problems.append(Problem(e.detail, e.where))
            continue
        if wl.name in seen:
            problems.append(
                Problem(
                    f"a list named {wl.name!r} was already loaded from {seen[wl.name]}",
                    {"source": str(file), "field": "name"},
                )
            )
            continue
        seen[wl.name] = file
        lists.append(wl)
    return lists, problems


# ------------------------------------------------------------------------------------------ matching


def _literals_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One regex that finds any of `words` in a text: a trie of them, so the engine tries each
    position once instead of once per word (MISP loops over every entry for every value).

    A word that has another word as a prefix is dropped: for "occurs in", the shorter one decides.
    """
    trie: dict[str, Any] = {}
    for word in words:
        if not word:
            continue  # "" occurs in everything: never let it silence every value
        node = trie
        for char in word:
            if "" in node:
                break  # a prefix of this word is already a word
            node = node.setdefault(char, {})
        else:
            node.clear()
            node[""] = True

    def build(node: dict[str, Any]) -> str:
        # Iterative along single-child chains, recursive only where the trie branches, so a long
        # entry does not cost a Python frame per character.
        out = []
        while True:
            chars = sorted(char for char in node if char)
            if len(chars) != 1:
                break
            out.append(re.escape(chars[0]))
            node = node[chars[0]]
        if chars:
            out.append("(?:" + "|".join(re.escape(char) + build(node[char]) for char in chars) + ")")
        return "".join(out)

    # An empty trie gives "" which would match everything: use a pattern that never matches.
    return re.compile(build(trie) or r"(?!)")


def _substring_test(entries: tuple[str, ...]) -> Callable[[str], bool]:
    try:
        search = _literals_pattern(entries).search
    except (RecursionError, re.error, OverflowError):  # pathologically deep trie: plain loop
        return lambda value: any(entry in value for entry in entries)
    return lambda value: search(value) is not None


def _regex_test(entries: tuple[str, ...], where: str) -> Callable[[str], bool]:
    patterns = []
    for i, entry in enumerate(entries):
        try:
            patterns.append(_compile_regex(entry))
        except _BadEntry as e:
            raise InvalidInput(f"entry {entry!r} {e}", list=where, field=f"entries[{i}]") from None
    if len(patterns) == 1:
        search = patterns[0].search
        return lambda value: search(value) is not None
    return lambda value: any(p.search(value) is not None for p in patterns)


def _host_of(obs: Observable) -> tuple[str, bool] | None:
    """The host a hostname list is checked against (the domain, a URL's host, an e-mail's domain, or
    the address itself) and whether it is a name (walked up to its parents) rather than an address."""
    kind = obs.kind
    if kind == "domain":
        return obs.value, True
    if kind == "email":
        return obs.value[obs.value.rfind("@") + 1 :], True
    if kind == "url":
        value = obs.value
        rest = value[value.find("://") + 3 :]
        for stop in "/?#":
            i = rest.find(stop)
            if i >= 0:
                rest = rest[:i]
        rest = rest[rest.rfind("@") + 1 :]
        if rest.startswith("["):
            return rest[1 : rest.find("]")], False
        host = rest.partition(":")[0]
        return host, not _IPV4_TEXT.issuperset(host)
    if kind in ("ipv4", "ipv6") and obs.ip_lo == obs.ip_hi:
        return obs.value, False
    return None


_Cover = tuple[tuple[int, int], ...]  # (prefix length, list position) of the networks over a segment


def _segments(networks: Mapping[tuple[int, int], tuple[int, ...]]) -> tuple[list[int], list[_Cover]]:
    """Cut the 128-bit key space at every network boundary: `starts[i]` begins a segment that the
    networks in `covers[i]` (shortest prefix first) cover, so one bisect finds every network holding
    an address, whatever the number of prefix lengths in use.

    CIDR networks are nested or disjoint, so a stack of the open networks gives each segment's cover.
    """
    starts: list[int] = []
    covers: list[_Cover] = []

    def cut(start: int, cover: _Cover) -> None:
        if starts and starts[-1] == start:
            covers[-1] = cover  # several boundaries at one key: the last word is the right one
        elif not covers or covers[-1] != cover:
            starts.append(start)
            covers.append(cover)

    open_networks: list[tuple[int, _Cover]] = []  # (last key, cover inside it), outermost first
    for (first, prefix), positions in sorted(networks.items()):
        while open_networks and open_networks[-1][0] < first:
            last, _ = open_networks.pop()
            cut(last + 1, open_networks[-1][1] if open_networks else ())
        outer = open_networks[-1][1] if open_networks else ()
        cover = outer + tuple((prefix, position) for position in positions)
        open_networks.append((first + (1 << (128 - prefix)) - 1, cover))
        cut(first, cover)
    while open_networks:
        last, _ = open_networks.pop()
        cut(last + 1, open_networks[-1][1] if open_networks else ())
    return starts, covers


class WarninglistIndex:
    """All lists, compiled for matching; immutable once built (build a new one when lists change).

    Entries are taken in normalised form, as `parse_list` gives them (store those, not the raw file).
    """

    def __init__(self, lists: Iterable[Warninglist]) -> None:
        self.lists: tuple[Warninglist, ...] = tuple(lists)
        self._kinds = [wl.kinds for wl in self.lists]
        # value text / host -> positions in self.lists (which list, in load order)
        self._strings: dict[str, tuple[int, ...]] = {}
        self._hosts: dict[str, tuple[int, ...]] = {}
        networks: dict[tuple[int, int], tuple[int, ...]] = {}  # (first key, prefix length) -> positions
        # substring and regex lists, per kind: (position, test) in list order
        self._scans: dict[str, list[tuple[int, Callable[[str], bool]]]] = {}
        for position, wl in enumerate(self.lists):
            if not wl.kinds:
                continue  # applies to no kind of ours
            only = (position,)
            if wl.type == "string":
                self._add_all(self._strings, wl.entries, position, only)
            elif wl.type == "hostname":
                self._add_all(self._hosts, wl.entries, position, only)
            elif wl.type == "cidr":
                self._add_networks(networks, wl, position, only)
            elif wl.type == "substring":
                self._add_substrings(wl, position)
            elif wl.type == "regex":
                test = _regex_test(wl.entries, wl.name)
                for kind in wl.kinds:
                    self._scans.setdefault(kind, []).append((position, test))
            else:
                raise InvalidInput(f"unknown list type {wl.type!r}", list=wl.name, field="type")
        self._starts, self._covers = _segments(networks)

    @staticmethod
    def _add_all(
        table: dict[str, tuple[int, ...]], keys: Iterable[str], position: int, only: tuple[int]
    ) -> None:
        for key in keys:
            have = table.get(key)
            if have is None:
                table[key] = only  # one shared tuple per list: no allocation per entry
            elif have[-1] != position:
                table[key] = have + only

    def _add_substrings(self, wl: Warninglist, position: int) -> None:
        """Per kind, only the entries that can occur in a value of that kind (an IP address or a hash
        has a small alphabet): most lists of domain names then cost nothing for IPs and hashes."""
        tests: dict[tuple[str, ...], Callable[[str], bool]] = {}
        for kind in sorted(wl.kinds):
            alphabet = _ALPHABETS.get(kind)
            entries = (
                wl.entries if alphabet is None else tuple(e for e in wl.entries if alphabet.issuperset(e))
            )
            if entries:
                test = tests.get(entries)
                if test is None:
                    test = tests[entries] = _substring_test(entries)
                self._scans.setdefault(kind, []).append((position, test))

    @staticmethod
    def _add_networks(
        networks: dict[tuple[int, int], tuple[int, ...]], wl: Warninglist, position: int, only: tuple[int]
    ) -> None:
        for i, entry in enumerate(wl.entries):
            obs = try_normalise(entry)
            if obs is None or obs.ip_lo is None or obs.ip_hi is None:
                raise InvalidInput(
                    f"entry {entry!r} is not an IP address or CIDR", list=wl.name, field=f"entries[{i}]"
                )
            network = (int.from_bytes(obs.ip_lo, "big"), network_prefix_of(obs.ip_lo, obs.ip_hi))
            have = networks.get(network)
            if have is None:
                networks[network] = only
            elif have[-1] != position:
                networks[network] = have + only

    # -------------------------------------------------------------------------------------- lookups

    def match(self, obs: Observable) -> str | None:
        """The name of a list that covers this value, else None."""
        found = self._find(obs, every=False)
        return self.lists[found[0]].name if found else None

    def matches(self, obs: Observable) -> list[str]:
        """The names of every list that covers this value (each once, in the order checked)."""
        return [self.lists[p].name for p in dict.fromkeys(self._find(obs, every=True))]

    def match_text(self, value: str, kind: str | None = None) -> str | None:
        """`match` for raw text: normalised first (InvalidInput if it is not a valid observable)."""
        return self.match(normalise(value, kind))

    def _find(self, obs: Observable, every: bool) -> list[int]:
        """Positions of covering lists: all of them, or stopping at the first. Cheapest checks first;
        written flat (no generators) because it runs once per imported value."""
        kind = obs.kind
        kinds = self._kinds
        value = obs.value
        out: list[int] = []
        found = self._strings.get(value)
        if found is not None:
            out += [p for p in found if kind in kinds[p]]
            if out and not every:
                return out
        lo = obs.ip_lo
        if lo is not None and obs.ip_hi is not None and self._starts:
            key = int.from_bytes(lo, "big")
            # A CIDR value must lie wholly inside: only networks at most as long as its own prefix.
            value_prefix = 128 if lo == obs.ip_hi else network_prefix_of(lo, obs.ip_hi)
            min_prefix = 96 if kind == "ipv4" else 0  # an IPv4 value is only inside IPv4 networks
            segment = bisect_right(self._starts, key) - 1
            if segment >= 0:
                for prefix, position in self._covers[segment]:
                    if prefix > value_prefix:
                        break
                    if prefix >= min_prefix and kind in kinds[position]:
                        out.append(position)
                        if not every:
                            return out
        if self._hosts:
            place = _host_of(obs)
            if place is not None:
                host, walk = place
                hosts = self._hosts
                while True:  # the host, then its parent domains (an address matches only itself)
                    found = hosts.get(host)
                    if found is not None:
                        out += [p for p in found if kind in kinds[p]]
                        if out and not every:
                            return out
                    dot = host.find(".")
                    if not walk or dot < 0:
                        break
                    host = host[dot + 1 :]
        for position, test in self._scans.get(kind, ()):
            if test(value):
                out.append(position)
                if not every:
                    return out
        return out
