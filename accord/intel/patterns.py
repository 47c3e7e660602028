"""The observables an indicator's STIX 2.1 pattern names, for matching sightings against indicators.

Almost every pattern in the wild is `[ipv4-addr:value = '...']` or a few of those joined by OR, and
the ANTLR grammar (stix2patterns) parses only a few thousand patterns a second. So a regex fast path
takes the simple forms it fully recognises, and everything else goes to the full grammar. The fast
path must never accept a pattern the grammar refuses: when in doubt it returns None and defers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from accord.errors import InvalidInput
from accord.intel.observables import (
    HASH_LENGTHS,
    Observable,
    ObservableRow,
    hash_kind,
    normalise,
    normalise_row,
)

__all__ = ["observables_of_pattern", "pattern_rows"]

_IP_KINDS = frozenset(("ipv4", "ipv6"))
# (object type, property path) -> kind; file hashes are handled by `hash_kind`.
_PATH_KINDS: dict[tuple[str, tuple[Any, ...]], str] = {
    ("ipv4-addr", ("value",)): "ipv4",
    ("ipv6-addr", ("value",)): "ipv6",
    ("domain-name", ("value",)): "domain",
    ("url", ("value",)): "url",
    ("email-addr", ("value",)): "email",
    ("email-message", ("from_ref", "value")): "email",
}
_FAST_PATH_KINDS = {
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "domain-name:value": "domain",
    "url:value": "url",
    "email-addr:value": "email",
    "email-message:from_ref.value": "email",
}

# Only the whitespace the grammar skips that is also cheap to be sure of; any other (\x0b, \xa0,
# comments...) defers to the grammar.
_WS = "[ \t\r\n]"
# A StringLiteral exactly as the grammar lexes it: only \' and \\ escapes (unrolled loop for speed).
_BODY = r"[^'\\]*(?:\\['\\][^'\\]*)*"
_LITERAL = rf"'{_BODY}'"
_IDENT = "[A-Za-z_][A-Za-z0-9_]*"
# `ISSUBSET` needs whitespace before it (else it lexes as part of the identifier); `==` is EQ too.
_OP = rf"{_WS}*==?|{_WS}+ISSUBSET"


def _comparison(path: str, key: str, op: str, val: str) -> str:
    """One `path op 'value'` comparison on an indexed path; the arguments open/name the groups."""
    return (
        rf"({path}ipv4-addr:value|ipv6-addr:value|domain-name:value|url:value|email-addr:value"
        rf"|email-message:from_ref\.value|file:hashes\.({key}{_IDENT}|{_LITERAL}))"
        rf"({op}{_OP}){_WS}*'({val}{_BODY})'"
    )


_COMP = _comparison("?P<path>", "?P<key>", "?P<op>", "?P<val>")
_COMP_NG = _comparison("?:", "?:", "?:", "?:")
# Inside brackets a keyword must be followed by whitespace: `ORipv4-addr` lexes as one identifier.
_OBS = rf"\[{_WS}*{_COMP_NG}(?:{_WS}*(?:AND|OR){_WS}+{_COMP_NG})*{_WS}*\]"
_SINGLE_RE = re.compile(rf"{_WS}*\[{_WS}*{_COMP}{_WS}*\]{_WS}*")
_STRUCTURE_RE = re.compile(rf"{_WS}*{_OBS}(?:{_WS}*(?:AND|OR|FOLLOWEDBY){_WS}*{_OBS})*{_WS}*")
_COMP_RE = re.compile(_COMP)
_ESCAPE_RE = re.compile(r"\\(['\\])")
_hex_match = re.compile("[0-9a-fA-F]*").fullmatch  # ASCII hex digits only, whatever the case


def _unescape(body: str) -> str:
    return _ESCAPE_RE.sub(r"\1", body)


class _Skipped(str):
    """Why a well-formed comparison's value could not be indexed (it is not a valid value)."""


def _observe(path: str, kind: str, value: str) -> Observable | _Skipped:
    try:
        return normalise(value, kind)
    except InvalidInput as e:
        return _Skipped(f"pattern compares {path} with an invalid value: {e.detail}")


def _canonical(found: Iterable[Observable | _Skipped]) -> list[Observable | _Skipped]:
    """Deduplicated and sorted, so the result does not depend on which parser ran."""
    obs = sorted({o for o in found if isinstance(o, Observable)}, key=lambda o: (o.kind, o.value))
    skipped = sorted({o for o in found if isinstance(o, _Skipped)})
    return [*obs, *skipped]


def _strict_hex(value: str, kind: str) -> bool:
    # What stix2patterns' object validator demands of a hash literal (sans its `$`-before-newline
    # quirk); anything else defers to the validator, which refuses it or accepts it on its own terms.
    return len(value) == HASH_LENGTHS[kind] and _hex_match(value) is not None


def _from_match(m: re.Match[str]) -> Observable | _Skipped | None:
    """The observable of one fast-path comparison, or None to defer the whole pattern."""
    path, key, op, body = m.groups()
    value = _unescape(body) if "\\" in body else body
    if key is not None:
        kind = hash_kind(key if key[0] != "'" else _unescape(key[1:-1]) if "\\" in key else key[1:-1])
        if kind is None or op[-1] == "T" or not _strict_hex(value, kind):
            return None
        return Observable(kind, value.lower())  # what normalise gives for strict hex, minus its cost
    kind = _FAST_PATH_KINDS[path]
    if op[-1] == "T" and kind not in _IP_KINDS:  # ISSUBSET only means something for IPs
        return None
    return _observe(path, kind, value)


def _fast_path(pattern: str) -> list[Observable | _Skipped] | None:
    """Observables of a simple pattern, or None when it is not one (then the grammar decides)."""
    m = _SINGLE_RE.fullmatch(pattern)
    if m is not None:
        obs = _from_match(m)
        return None if obs is None else [obs]
    if _STRUCTURE_RE.fullmatch(pattern) is None:
        return None
    found: list[Observable | _Skipped] = []
    for m in _COMP_RE.finditer(pattern):
        obs = _from_match(m)
        if obs is None:
            return None
        found.append(obs)
    return _canonical(found)


def _canonical_heads() -> dict[str, tuple[str, str]]:
    """`[<path>` -> (path, kind) for the paths of the canonical one-comparison pattern."""
    heads = {f"[{path}": (path, kind) for path, kind in _FAST_PATH_KINDS.items()}
    for key in ("MD5", "SHA-1", "SHA1", "SHA-256", "SHA256", "SHA-512", "SHA512"):
        for spelling in (key, key.lower()):
            kind = hash_kind(spelling)
            assert kind is not None
            heads[f"[file:hashes.'{spelling}'"] = (f"file:hashes.'{spelling}'", kind)
            if re.fullmatch(_IDENT, spelling):
                heads[f"[file:hashes.{spelling}"] = (f"file:hashes.{spelling}", kind)
    return heads


# `[<path> = '<value>']`, one comparison as nearly every producer writes it: its head (up to ` = '`)
# names the path. Each is a form the regex fast path takes, so `pattern_rows` gives the same answer
# with string operations instead of a regex (tests hold it to that).
_CANONICAL_HEADS = _canonical_heads()


# Paths whose value is an address or a host name (MISP writes ip-dst as network-traffic:dst_ref
# and hostname|port as a dst_ref to a domain-name): the kind follows the value's shape.
_IPV4_SHAPE = frozenset("0123456789./")
_ADDRESS_PATHS = frozenset(
    {
        ("network-traffic", ("dst_ref", "value")),
        ("network-traffic", ("src_ref", "value")),
        ("domain-name", ("resolves_to_refs", "*", "value")),
    }
)


def _kind_of(obj_type: str, path: list[Any], literal: str = "") -> str | None:
    if obj_type == "file" and len(path) == 2 and path[0] == "hashes" and isinstance(path[1], str):
        return hash_kind(path[1])
    plain = tuple(p if isinstance(p, str | int) else "*" for p in path)
    if (obj_type, plain) in _ADDRESS_PATHS:
        value = literal.strip("'")
        if ":" in value:
            return "ipv6"
        return "ipv4" if value[:1].isdigit() and set(value) <= _IPV4_SHAPE else "domain"
    return _PATH_KINDS.get((obj_type, tuple(path)))


def _refuse(pattern: str, reason: str) -> InvalidInput:
    shown = pattern if len(pattern) <= 200 else pattern[:200] + "..."
    return InvalidInput(f"invalid STIX pattern {shown!r}: {reason.removeprefix('FAIL: ')}")


def _full_grammar(pattern: str) -> list[Observable | _Skipped]:
    """Validate with stix2patterns and take `=`/ISSUBSET comparisons on the indexed paths."""
    # Imported here: loading the ANTLR parser costs time the fast path alone never needs.
    from stix2patterns.exceptions import ParseException
    from stix2patterns.v21.pattern import Pattern
    from stix2patterns.validator import run_validator

    if not pattern.strip():
        # run_validator crashes (UnboundLocalError) on "".
        raise _refuse(pattern, "the pattern is empty")
    errors = run_validator(pattern, stix_version="2.1")
    if errors:
        raise _refuse(pattern, errors[0])
    try:
        data = Pattern(pattern).inspect()
    except ParseException as e:  # not expected once the validator passed; be safe anyway
        raise _refuse(pattern, str(e)) from None
    found: list[Observable | _Skipped] = []
    for obj_type, comparisons in data.comparisons.items():
        for path, op, literal in comparisons:
            # Only plain string literals; the inspector gives them raw (quoted, escapes intact).
            if op not in ("=", "==", "ISSUBSET") or not literal.startswith("'"):
                continue
            kind = _kind_of(obj_type, path, literal)
            if kind is None or (op == "ISSUBSET" and kind not in _IP_KINDS):
                continue
            where = f"{obj_type}:{'.'.join(map(str, path))}"
            found.append(_observe(where, kind, _unescape(literal[1:-1])))
    return _canonical(found)


def pattern_values(pattern: str) -> tuple[list[Observable], list[str]]:
    """(observables compared with `=` or ISSUBSET for IPs, sorted and deduplicated; reasons for
    values of well-formed comparisons that are not valid values and so cannot be indexed).

    Raises InvalidInput saying what is wrong when the pattern itself is invalid.
    """
    if not isinstance(pattern, str):
        raise InvalidInput(f"a pattern must be text, not {type(pattern).__name__}")
    found = _fast_path(pattern)
    if found is None:
        found = _full_grammar(pattern)
    return [o for o in found if isinstance(o, Observable)], [str(o) for o in found if isinstance(o, _Skipped)]


def pattern_rows(pattern: str) -> tuple[list[ObservableRow], list[str]]:
    """`pattern_values` with each observable as a plain (kind, value, ip_lo, ip_hi) row: what bulk
    ingest stores, found without a regex nor an Observable for the common one-comparison pattern."""
    if type(pattern) is str:
        head, _, rest = pattern.partition(" = '")
        spec = _CANONICAL_HEADS.get(head)
        if spec is not None and rest[-2:] == "']":
            value = rest[:-2]
            if "'" not in value and "\\" not in value:  # else an escape or a second literal
                path, kind = spec
                if kind not in HASH_LENGTHS:
                    try:
                        return [normalise_row(value, kind)], []
                    except InvalidInput as e:
                        return [], [f"pattern compares {path} with an invalid value: {e.detail}"]
                if _strict_hex(value, kind):
                    return [(kind, value.lower(), None, None)], []
    values, skipped = pattern_values(pattern)
    return [(o.kind, o.value, o.ip_lo, o.ip_hi) for o in values], skipped


def observables_of_pattern(pattern: str) -> list[Observable]:
    """Strict: like `pattern_values`, but an invalid value is an error too."""
    found, skipped = pattern_values(pattern)
    if skipped:
        raise InvalidInput(skipped[0])
    return found
