"""Validation at the door: one parsed STIX 2.1 object in, a `Checked` summary out, or InvalidInput.

This runs on every object of every bundle, so it is one pass over the object's top-level properties
with a per-name checker looked up in a dict (cached), plus a few per-type rules. It checks what the
STIX 2.1 specification requires (parts 3-5: common properties, identifiers, timestamps, required
properties of each SDO/SRO/SCO/SMO) and the shapes of the common properties; it leaves custom
properties, custom objects and extensions untouched apart from the spec's naming rules and its
reserved suffixes (`_ref`, `_refs`, timestamps). Indicator patterns are not parsed here.

Decisions worth knowing:
- Identifiers: `<type>--<UUID>`, the UUID an RFC 4122 one (version 1-5, variant 10xx) in lower-case
  hex. RFC 4122 allows upper case on input, but ids are compared as strings everywhere, so two
  spellings of one id would make two objects: we refuse upper case rather than silently fork.
- Property names: 3-250 characters of a-z, 0-9 and `_` (spec part 3.1), `id` excepted. The `x_`
  prefix is only a SHOULD, so `foo_value` is accepted.
  Upper-case names (MISP exports `x_misp_KnownMalicious`) are refused, as the spec says.
- Every `_ref` property holds an identifier and every `_refs` a list of them; a custom `x_..._ref`
  may also be "" (MITRE ATT&CK ships `"x_mitre_data_source_ref": ""`). Properties named like
  timestamps (`..._time`, `...created`, `first_seen`, ...) must be timestamps.
- Empty optional lists (`labels: []`) are tolerated; required reference lists must be non-empty.
- STIX 2.0 content (no `spec_version`) is refused: it must be upgraded to 2.1 first.
- Timestamps: `spec_version` 2.1 objects need `created` and `modified` (SDOs, SROs,
  language-content, extension-definition, custom objects); marking definitions need `created`
  (`modified_us` is then `created`); SCOs (and custom objects whose extension says `new-sco`) need
  neither and report `modified_us` None.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from accord.errors import InvalidInput
from accord.intel.timestamps import TimestampError, parse_micros
from accord.intel.tlp import LEVEL_OF_ID, TLP, TLP20_EXTENSION_ID

__all__ = [
    "OUTCOMES",
    "OUTCOME_PROPERTY",
    "SCO_TYPES",
    "SDO_TYPES",
    "SRO_TYPES",
    "Checked",
    "check_object",
    "check_object_fields",
    "content_hash",
    "id_problem",
    "is_identifier",
]

SDO_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
SRO_TYPES = frozenset({"relationship", "sighting"})
SCO_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
_SPEC_TYPES = (
    SDO_TYPES | SRO_TYPES | SCO_TYPES | {"marking-definition", "extension-definition", "language-content"}
)

_TYPE_RE = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # no leading/trailing hyphen, no "--" (the id separator)
_UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_type_match = re.compile(_TYPE_RE, re.ASCII).fullmatch
_id_match = re.compile(rf"({_TYPE_RE})--{_UUID_RE}", re.ASCII).fullmatch
_loose_uuid_match = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
).fullmatch
_prop_match = re.compile(r"[a-z0-9_]{3,250}", re.ASCII).fullmatch

_TS_SUFFIXES = (
    "created",
    "modified",
    "_time",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "first_observed",
    "last_observed",
    "published",
)
# Timestamp properties of spec types that the suffix rule above does not catch.
_TYPE_TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "malware-analysis": ("submitted", "analysis_started", "analysis_ended"),
    "file": ("ctime", "mtime", "atime"),
    "directory": ("ctime", "mtime", "atime"),
    "email-message": ("date",),
    "network-traffic": ("start", "end"),
    "user-account": (
        "account_expires",
        "credential_last_changed",
        "account_first_login",
        "account_last_login",
    ),
    "x509-certificate": ("validity_not_before", "validity_not_after"),
}
# (earlier, later, may they be equal?) timestamp pairs the spec orders, per type.
_SEEN = (("first_seen", "last_seen", True),)
_ORDERED: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "indicator": (("valid_from", "valid_until", False),),
    "relationship": (("start_time", "stop_time", False),),
    "observed-data": (("first_observed", "last_observed", True),),
    "sighting": _SEEN,
    "campaign": _SEEN,
    "intrusion-set": _SEEN,
    "threat-actor": _SEEN,
    "malware": _SEEN,
    "infrastructure": _SEEN,
}
_OPINIONS = frozenset({"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"})
# What a recipient of a notification reports having done about the sighted object (accord.intel.
# sightings): a sighting carrying `x_accord_outcome` is a take-down report; plain sightings have none.
OUTCOME_PROPERTY = "x_accord_outcome"
OUTCOMES = ("taken-down", "mitigated", "false-positive", "not-responsible")
_EXTENSION_TYPES = frozenset(
    {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
)
_MAX_COUNT = 999_999_999


@dataclass(slots=True)
class Checked:
    obj: dict[str, Any]  # the parsed object, unchanged
    id: str
    type: str
    spec_version: str
    created_us: int | None  # microseconds since the epoch (None for SCOs without `created`)
    modified_us: int | None  # None for SCOs (not versioned); `created` for marking definitions
    revoked: bool
    tlp: TLP | None  # strictest TLP marking among object_marking_refs, None if none
    marking_refs: list[str]


# Checked's fields as a plain tuple, in its order (see `check_object_fields`).
CheckedFields = tuple[dict[str, Any], str, str, str, int | None, int | None, bool, TLP | None, list[str]]


class _Bad(Exception):
    """Internal: a rule broken on `field`; turned into InvalidInput naming the object."""

    def __init__(self, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def is_identifier(value: Any, type_: str | None = None) -> bool:
    """True if `value` is a STIX identifier (of `type_` when given)."""
    if type(value) is not str:
        return False
    m = _id_match(value)
    if m is None:
        return False
    t = m.group(1)
    if type_ is not None:
        return t == type_
    return 3 <= len(t) <= 250


def id_problem(value: Any, type_: str | None = None) -> str | None:
    """Why `value` is not a STIX identifier (of `type_`), as a phrase; None if it is one."""
    if type(value) is not str:
        return f"must be a string identifier, not {json_type(value)}"
    if is_identifier(value, type_):
        return None
    head, sep, uuid = value.rpartition("--")
    if not sep:
        return "is not a STIX identifier (<type>--<UUID>)"
    if type_ is not None and head != type_:
        return f"must start with {type_ + '--'!r}"
    if not (3 <= len(head) <= 250 and _type_match(head)):
        return "does not start with a valid STIX type (<type>--<UUID>)"
    if not _loose_uuid_match(uuid):
        return "does not end in a UUID (<type>--<UUID>)"
    if uuid != uuid.lower():
        return "must use a lower-case UUID"
    return "does not end in an RFC 4122 UUID (version 1-5, variant 8, 9, a or b)"


def json_type(value: Any) -> str:
    """How an error message names the JSON type of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- per-property checkers: (name, value) -> problem text or None ---------------------------------

_Checker = Callable[[str, Any], "str | None"]


def _check_timestamp(key: str, value: Any) -> str | None:
    try:
        parse_micros(value)
    except TimestampError as e:
        return f"{key!r} is not a valid timestamp: {_show(value)} ({e.reason})"
    return None


# Identifiers already seen valid: references repeat across a bundle (created_by_ref, markings).
_GOOD_IDS: set[str] = set()
_GOOD_IDS_MAX = 1 << 16


def _good_id(value: Any) -> bool:
    if type(value) is not str:
        return False
    if value in _GOOD_IDS:
        return True
    m = _id_match(value)
    if m is None or not 3 <= m.end(1) <= 250:
        return False
    if len(_GOOD_IDS) >= _GOOD_IDS_MAX:
        _GOOD_IDS.clear()
    _GOOD_IDS.add(value)
    return True


def _check_ref(key: str, value: Any) -> str | None:
    if _good_id(value):
        return None
    return f"{key!r} {id_problem(value)}: {_show(value)}"


def _check_custom_ref(key: str, value: Any) -> str | None:
    # An `x_..._ref` custom property may be empty, meaning "no reference" (MITRE ATT&CK ships
    # `"x_mitre_data_source_ref": ""`); anything else in it must be an identifier.
    return None if value == "" else _check_ref(key, value)


def _check_refs(key: str, value: Any) -> str | None:
    if type(value) is not list:
        return f"{key!r} must be a list of STIX identifiers, not {json_type(value)}"
    for i, ref in enumerate(value):
        if not _good_id(ref):
            return f"{key!r}[{i}] {id_problem(ref)}: {_show(ref)}"
    return None


# Marking-definition identifiers already seen valid: a bundle uses a handful.
_GOOD_MARKINGS: set[str] = set()


def _check_marking_refs(key: str, value: Any) -> str | None:
    if type(value) is list:
        for ref in value:
            if type(ref) is not str or ref not in _GOOD_MARKINGS:
                break
        else:
            return None
    problem = _marking_refs_problem(key, value)
    if problem is None:
        if len(_GOOD_MARKINGS) >= _GOOD_IDS_MAX:
            _GOOD_MARKINGS.clear()
        _GOOD_MARKINGS.update(value)
    return problem


def _marking_refs_problem(key: str, value: Any) -> str | None:
    if type(value) is not list:
        return f"{key!r} must be a list of marking-definition identifiers, not {json_type(value)}"
    for i, ref in enumerate(value):
        if not (_good_id(ref) and ref.startswith("marking-definition--")):
            return f"{key!r}[{i}] {id_problem(ref, 'marking-definition')}: {_show(ref)}"
    return None


def _check_bool(key: str, value: Any) -> str | None:
    return None if type(value) is bool else f"{key!r} must be true or false, not {_show(value)}"


def _check_str(key: str, value: Any) -> str | None:
    return None if type(value) is str else f"{key!r} must be a string, not {json_type(value)}"


def _check_confidence(key: str, value: Any) -> str | None:
    if type(value) is int and 0 <= value <= 100:
        return None
    return f"{key!r} must be an integer from 0 to 100, not {_show(value)}"


def _check_str_list(key: str, value: Any) -> str | None:
    if type(value) is list and all(type(v) is str for v in value):
        return None
    return f"{key!r} must be a list of strings"


def _check_external_references(key: str, value: Any) -> str | None:
    if type(value) is not list:
        return f"{key!r} must be a list of external references, not {json_type(value)}"
    for i, ref in enumerate(value):
        if type(ref) is not dict:
            return f"{key!r}[{i}] must be an object, not {json_type(ref)}"
        if type(ref.get("source_name")) is not str:
            return f"{key!r}[{i}] needs a string 'source_name'"
    return None


def _check_granular_markings(key: str, value: Any) -> str | None:
    if type(value) is not list:
        return f"{key!r} must be a list of granular markings, not {json_type(value)}"
    for i, gm in enumerate(value):
        if type(gm) is not dict:
            return f"{key!r}[{i}] must be an object, not {json_type(gm)}"
        selectors = gm.get("selectors")
        if not (type(selectors) is list and selectors and all(type(s) is str for s in selectors)):
            return f"{key!r}[{i}] needs 'selectors', a non-empty list of strings"
        ref = gm.get("marking_ref")
        lang = gm.get("lang")
        if (ref is None) == (lang is None):
            return f"{key!r}[{i}] needs exactly one of 'marking_ref' and 'lang'"
        if ref is not None and not (type(ref) is str and is_identifier(ref, "marking-definition")):
            return f"{key!r}[{i}].marking_ref {id_problem(ref, 'marking-definition')}: {_show(ref)}"
        if lang is not None and type(lang) is not str:
            return f"{key!r}[{i}].lang must be a string"
    return None


def _check_extensions(key: str, value: Any) -> str | None:
    if type(value) is not dict:
        return f"{key!r} must be an object, not {json_type(value)}"
    for name, ext in value.items():
        if type(ext) is not dict:
            return f"{key!r}[{name!r}] must be an object, not {json_type(ext)}"
    return None


def _bad_property_name(key: str, value: Any) -> str | None:
    return (
        f"property name {_show(key)} is not allowed: STIX property names are 3-250 characters "
        "of a-z, 0-9 and _"
    )


# None: nothing to check in the loop (checked after it, or free-form).
_EXACT: dict[str, _Checker | None] = {
    "type": None,
    "id": None,
    "spec_version": None,
    "created": None,
    "modified": None,
    "revoked": _check_bool,
    "confidence": _check_confidence,
    "lang": _check_str,
    "labels": _check_str_list,
    "external_references": _check_external_references,
    "object_marking_refs": _check_marking_refs,
    "granular_markings": _check_granular_markings,
    "extensions": _check_extensions,
}

_CACHE: dict[str, _Checker | None] = dict(_EXACT)
_MISS: Any = object()
_CACHE_MAX = 4096


def _checker_for(key: str) -> _Checker | None:
    """The checker for a property name not in the cache (None: nothing to check), cached."""
    checker: _Checker | None
    if not (type(key) is str and _prop_match(key)):
        checker = _bad_property_name
    elif key.endswith("_refs"):
        checker = _check_refs
    elif key.endswith("_ref"):
        checker = _check_custom_ref if key.startswith("x_") else _check_ref
    elif key.endswith(_TS_SUFFIXES):
        checker = _check_timestamp
    else:
        checker = None
    if len(_CACHE) < _CACHE_MAX:
        _CACHE[key] = checker
    return checker


# --- per-type rules ------------------------------------------------------------------------------


# Kinds of required property: (test, description for the message).
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: type(v) is str, "a string"),
    "bool": (lambda v: type(v) is bool, "true or false"),
    "int": (lambda v: type(v) is int, "an integer"),
    "dict": (lambda v: type(v) is dict, "an object"),
    "list": (lambda v: type(v) is list and len(v) > 0, "a non-empty list"),
}


def _need(obj: dict[str, Any], key: str, what: str) -> None:
    value = obj.get(key)
    if value is None:
        raise _Bad(key, f"{key!r} is required for {obj['type']}")
    test, description = _KINDS[what]
    if not test(value):
        raise _Bad(key, f"{key!r} must be {description}, not {_show(value)}")


_NAME = (("name", "str"),)
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "attack-pattern": _NAME,
    "campaign": _NAME,
    "course-of-action": _NAME,
    "identity": _NAME,
    "incident": _NAME,
    "infrastructure": _NAME,
    "intrusion-set": _NAME,
    "threat-actor": _NAME,
    "tool": _NAME,
    "vulnerability": _NAME,
    "grouping": (("context", "str"), ("object_refs", "list")),
    "indicator": (("pattern", "str"), ("pattern_type", "str"), ("valid_from", "str")),
    "malware": (("is_family", "bool"),),
    "malware-analysis": (("product", "str"),),
    "note": (("content", "str"), ("object_refs", "list")),
    "observed-data": (("first_observed", "str"), ("last_observed", "str"), ("number_observed", "int")),
    "opinion": (("opinion", "str"), ("object_refs", "list")),
    "report": (("name", "str"), ("published", "str"), ("object_refs", "list")),
    "relationship": (("relationship_type", "str"), ("source_ref", "str"), ("target_ref", "str")),
    "sighting": (("sighting_of_ref", "str"),),
    "language-content": (("object_ref", "str"), ("contents", "dict")),
    "extension-definition": (
        ("created_by_ref", "str"),
        ("name", "str"),
        ("schema", "str"),
        ("version", "str"),
        ("extension_types", "list"),
    ),
    "ipv4-addr": (("value", "str"),),
    "ipv6-addr": (("value", "str"),),
    "domain-name": (("value", "str"),),
    "url": (("value", "str"),),
    "email-addr": (("value", "str"),),
    "mac-addr": (("value", "str"),),
    "autonomous-system": (("number", "int"),),
    "directory": (("path", "str"),),
    "mutex": (("name", "str"),),
    "software": (("name", "str"),),
    "network-traffic": (("protocols", "list"),),
}
for _t in _SPEC_TYPES:  # every spec type gets its per-type pass, even with nothing required
    _REQUIRED.setdefault(_t, ())


def _count(obj: dict[str, Any], key: str, low: int) -> None:
    value = obj.get(key)
    if value is not None and not (type(value) is int and low <= value <= _MAX_COUNT):
        raise _Bad(key, f"{key!r} must be an integer from {low} to {_MAX_COUNT}, not {_show(value)}")


def _rule_malware(obj: dict[str, Any]) -> None:
    if obj["is_family"] is True and type(obj.get("name")) is not str:
        raise _Bad("name", "'name' is required for a malware family (is_family true)")


def _rule_malware_analysis(obj: dict[str, Any]) -> None:
    if "result" not in obj and "analysis_sco_refs" not in obj:
        raise _Bad("result", "malware-analysis needs 'result' or 'analysis_sco_refs'")


def _rule_observed_data(obj: dict[str, Any]) -> None:
    _count(obj, "number_observed", 1)
    objects = obj.get("objects")
    refs = obj.get("object_refs")
    if refs is None and objects is None:
        raise _Bad("object_refs", "'object_refs' is required for observed-data")
    if refs is not None and objects is not None:
        raise _Bad("objects", "observed-data may not have both 'objects' (deprecated) and 'object_refs'")
    if refs is not None and not refs:
        raise _Bad("object_refs", "'object_refs' must be a non-empty list")
    if objects is not None and not (type(objects) is dict and objects):
        raise _Bad("objects", "'objects' must be a non-empty object")


def _rule_opinion(obj: dict[str, Any]) -> None:
    if obj["opinion"] not in _OPINIONS:
        raise _Bad(
            "opinion", f"'opinion' must be one of {', '.join(sorted(_OPINIONS))}: {_show(obj['opinion'])}"
        )


def _rule_sighting(obj: dict[str, Any]) -> None:
    _count(obj, "count", 0)
    if OUTCOME_PROPERTY in obj and obj[OUTCOME_PROPERTY] not in OUTCOMES:
        raise _Bad(
            OUTCOME_PROPERTY,
            f"{OUTCOME_PROPERTY!r} must be one of {', '.join(OUTCOMES)}: {_show(obj[OUTCOME_PROPERTY])}",
        )


# STIX 2.1 §5.1: a relationship's ends MUST be SDOs or SCOs (never an SRO, bundle, language content
# or marking). This also keeps the policy's "both ends hidden" rule one level deep.
_NOT_RELATIONSHIP_ENDS = frozenset(
    {"relationship", "sighting", "bundle", "language-content", "marking-definition", "extension-definition"}
)


def _rule_relationship(obj: dict[str, Any]) -> None:
    for key in ("source_ref", "target_ref"):
        end_type = obj[key].split("--", 1)[0]
        if end_type in _NOT_RELATIONSHIP_ENDS:
            raise _Bad(key, f"{key!r} must point at an SDO or SCO, not a {end_type}: {_show(obj[key])}")


def _number(obj: dict[str, Any], key: str, low: float, high: float) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if type(value) not in (int, float) or not low <= value <= high:
        raise _Bad(key, f"{key!r} must be a number from {low:g} to {high:g}, not {_show(value)}")
    return True


def _rule_location(obj: dict[str, Any]) -> None:
    has_lat = _number(obj, "latitude", -90.0, 90.0)
    has_lon = _number(obj, "longitude", -180.0, 180.0)
    if has_lat != has_lon:
        raise _Bad("latitude" if has_lon else "longitude", "'latitude' and 'longitude' go together")
    if "precision" in obj and not has_lat:
        raise _Bad("precision", "'precision' needs 'latitude' and 'longitude'")
    if not has_lat and obj.get("region") is None and obj.get("country") is None:
        raise _Bad("region", "location needs 'region', 'country' or 'latitude' and 'longitude'")


def _rule_extension_definition(obj: dict[str, Any]) -> None:
    for i, t in enumerate(obj["extension_types"]):
        if t not in _EXTENSION_TYPES:
            raise _Bad(
                "extension_types",
                f"'extension_types'[{i}] must be one of {', '.join(sorted(_EXTENSION_TYPES))}: {_show(t)}",
            )


def _rule_network_traffic(obj: dict[str, Any]) -> None:
    if obj.get("src_ref") is None and obj.get("dst_ref") is None:
        raise _Bad("src_ref", "network-traffic needs 'src_ref' or 'dst_ref'")


def _rule_file(obj: dict[str, Any]) -> None:
    if obj.get("hashes") is None and obj.get("name") is None:
        raise _Bad("hashes", "file needs 'hashes' or 'name'")


def _rule_artifact(obj: dict[str, Any]) -> None:
    if "payload_bin" in obj:
        if "url" in obj:
            raise _Bad("url", "artifact may not have both 'payload_bin' and 'url'")
    elif "url" in obj and "hashes" not in obj:
        raise _Bad("hashes", "artifact with a 'url' needs 'hashes'")


def _tlp_in(decl: Any) -> TLP | None:
    """The level a TLP marking definition declares (TLP 1.0 `definition` or 2.0 extension)."""
    if type(decl) is not str:
        raise _Bad("definition", f"TLP marking definition declares no TLP level: {_show(decl)}")
    try:
        return TLP.parse(decl)
    except ValueError:
        raise _Bad(
            "definition", f"TLP marking definition declares an unknown TLP level: {_show(decl)}"
        ) from None


def _rule_marking_definition(obj: dict[str, Any]) -> None:
    extensions = obj.get("extensions")
    dtype = obj.get("definition_type")
    definition = obj.get("definition")
    if extensions is None:
        if type(dtype) is not str:
            raise _Bad("definition_type", "'definition_type' is required (or 'extensions')")
        if type(definition) is not dict:
            raise _Bad("definition", "'definition' (an object) is required (or 'extensions')")
    declared: list[TLP | None] = []
    if type(dtype) is str and dtype.lower() == "tlp":
        if type(definition) is dict:
            decl = next((v for k, v in definition.items() if k.lower() == "tlp"), None)
            declared.append(_tlp_in(decl))
        else:
            declared.append(None)
    if type(extensions) is dict and TLP20_EXTENSION_ID in extensions:
        declared.append(_tlp_in(extensions[TLP20_EXTENSION_ID].get("tlp_2_0")))
    if not declared:
        return
    level = LEVEL_OF_ID.get(obj["id"])
    if level is None:
        raise _Bad("id", f"unknown TLP marking definition: {obj['id']!r} is not a known TLP marking id")
    for decl in declared:
        if decl is not None and decl is not level:
            raise _Bad(
                "definition",
                f"TLP marking definition {obj['id']!r} is {level.label}'s but declares {decl.label}",
            )


_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "malware": _rule_malware,
    "malware-analysis": _rule_malware_analysis,
    "observed-data": _rule_observed_data,
    "opinion": _rule_opinion,
    "sighting": _rule_sighting,
    "relationship": _rule_relationship,
    "location": _rule_location,
    "extension-definition": _rule_extension_definition,
    "network-traffic": _rule_network_traffic,
    "file": _rule_file,
    "artifact": _rule_artifact,
    "marking-definition": _rule_marking_definition,
}


def _ordered(obj: dict[str, Any], pairs: tuple[tuple[str, str, bool], ...]) -> None:
    for early, late, may_equal in pairs:
        a = obj.get(early)
        b = obj.get(late)
        if a is None or b is None:
            continue
        ta = parse_micros(a)  # both already checked by the suffix rule
        tb = parse_micros(b)
        if tb < ta or (tb == ta and not may_equal):
            need = "at or after" if may_equal else "after"
            raise _Bad(late, f"{late!r} ({b}) must be {need} {early!r} ({a})")


def _is_custom_sco(obj: dict[str, Any]) -> bool:
    extensions = obj.get("extensions")
    if type(extensions) is not dict:
        return False
    return any(type(e) is dict and e.get("extension_type") == "new-sco" for e in extensions.values())


def _timestamp(obj: dict[str, Any], key: str, value: Any) -> int:
    if value is None:
        raise _Bad(key, f"{key!r} is required for {obj['type']}")
    try:
        return parse_micros(value)
    except TimestampError as e:
        raise _Bad(key, f"{key!r} is not a valid timestamp: {_show(value)} ({e.reason})") from None


_VERSIONED = "versioned"  # SDOs, SROs, language-content, extension-definition, custom objects
_SCO = "sco"  # cyber-observables, and custom objects defined by a `new-sco` extension
_MARKING = "marking"  # marking-definition
_CUSTOM = "custom"
_KIND: dict[str, str] = {
    **dict.fromkeys(SDO_TYPES | SRO_TYPES | {"language-content", "extension-definition"}, _VERSIONED),
    **dict.fromkeys(SCO_TYPES, _SCO),
    "marking-definition": _MARKING,
}
_PYTHON_TYPE = {"str": str, "bool": bool, "int": int, "dict": dict, "list": list}


class _TypeRules:
    """Everything the per-type pass needs for one type, gathered in one lookup. `required` is None
    for custom types, which get no per-type pass; otherwise (name, Python type, kind for `_need`).
    Given the object's property names, the timestamps and ordered pairs it lacks are left out."""

    __slots__ = ("extra", "kind", "pairs", "required", "rule")

    def __init__(self, typ: str, names: frozenset[str] | None = None) -> None:
        self.kind = _KIND.get(typ, _CUSTOM)
        required = _REQUIRED.get(typ)
        self.required = None if required is None else tuple((k, _PYTHON_TYPE[w], w) for k, w in required)
        self.rule = _RULES.get(typ)
        extra = _TYPE_TIMESTAMPS.get(typ)
        pairs = _ORDERED.get(typ)
        if names is not None:
            extra = tuple(k for k in extra if k in names) if extra else None
            pairs = tuple(p for p in pairs if p[0] in names and p[1] in names) if pairs else None
        self.extra = extra or None
        self.pairs = pairs or None


_TYPE_RULES = {t: _TypeRules(t) for t in _SPEC_TYPES}
_CUSTOM_RULES = _TypeRules("x-custom")  # what every type outside the specification gets


class _Plan:
    """What one shape of object (its type and its property names, in order) needs checked per
    object: the name-only checks are done once, when the plan is made."""

    __slots__ = ("checks", "id_prefix", "rules", "timestamps")

    def __init__(self, typ: str, obj: dict[str, Any], checks: list[tuple[str, _Checker]]) -> None:
        self.id_prefix = typ + "--"
        # The properties with something to check: (name, checker), and the names of timestamps,
        # checked with `parse_micros` directly. All must pass, so their order does not matter here.
        self.checks = tuple((k, c) for k, c in checks if c is not _check_timestamp)
        self.timestamps = tuple(k for k, c in checks if c is _check_timestamp)
        self.rules = _TypeRules(typ, frozenset(obj)) if typ in _TYPE_RULES else _CUSTOM_RULES


# (type, *property names) -> its plan, or _UNPLANNED when a name-only check fails (a bad type or
# property name): such objects always take the full check, which says what is wrong. A bundle has
# few shapes; bounded so hostile input cannot grow it without limit.
_PLANS: dict[tuple[str, ...], _Plan | None] = {}
_PLANS_MAX = 4096
_UNPLANNED = None
_uuid_at = re.compile(_UUID_RE, re.ASCII).fullmatch


def _plan_for(typ: str, obj: dict[str, Any], shape: tuple[str, ...]) -> _Plan | None:
    plan: _Plan | None = _UNPLANNED
    if 3 <= len(typ) <= 250 and _type_match(typ) and typ != "bundle":
        checks: list[tuple[str, _Checker]] = []
        get = _CACHE.get
        for key in obj:
            checker = get(key, _MISS)
            if checker is _MISS:
                checker = _checker_for(key)
            if checker is _bad_property_name:
                break
            if checker is not None:
                checks.append((key, checker))
        else:
            plan = _Plan(typ, obj, checks)
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[shape] = plan
    return plan


# --- the entry point -----------------------------------------------------------------------------


def check_object(obj: Any, index: int | None = None) -> Checked:
    """Validate one STIX 2.1 object; `index` (its place in a bundle) names it in errors if it has no id.

    Raises InvalidInput with `object` (id, or `#index`) and `field` in its `where`.
    """
    return Checked(*check_object_fields(obj, index))


def check_object_fields(obj: Any, index: int | None = None) -> CheckedFields:
    """`check_object`'s result as a plain tuple of Checked's fields, in order: bulk ingest reads
    them once, and building a Checked would cost it more than a tenth of the check."""
    # An object of a shape seen before: what `_check_in_full` does, less the checks of `type` and
    # of the property names (passed when the plan was made), so the same objects pass with the same
    # result. At any problem at all (the checks are not all in the same order) the full check runs
    # instead: it finds the first one and says what and where it is, exactly as it always has.
    if type(obj) is dict:
        typ = obj.get("type")
        if type(typ) is str:
            shape = (typ, *obj)
            plan = _PLANS.get(shape, _MISS)
            if plan is _MISS:
                plan = _plan_for(typ, obj, shape)
            if plan is not _UNPLANNED:
                oid = obj.get("id")
                prefix = plan.id_prefix
                # `_id_match(oid)` with `typ` as its type, `typ` being a valid type (no "--", no
                # trailing "-"), so it can only be the part before the first "--".
                if type(oid) is str and oid.startswith(prefix) and _uuid_at(oid, len(prefix)):
                    try:
                        for key in plan.timestamps:
                            parse_micros(obj[key])
                        for key, checker in plan.checks:
                            if checker(key, obj[key]) is not None:
                                raise _Bad(key, "")
                        return _check_rest(obj, typ, oid, plan.rules)
                    except Exception:
                        return _check_in_full(obj, index)
    return _check_in_full(obj, index)


def _check_in_full(obj: Any, index: int | None) -> CheckedFields:
    label: str | None = f"#{index}" if index is not None else None
    try:
        if type(obj) is not dict:
            raise _Bad(None, f"a STIX object must be a JSON object, not {json_type(obj)}")
        typ = obj.get("type")
        if typ is None:
            raise _Bad("type", "'type' is required")
        if not (type(typ) is str and 3 <= len(typ) <= 250 and _type_match(typ)):
            raise _Bad(
                "type",
                "'type' must be 3-250 characters of a-z, 0-9 and single inner hyphens: " + _show(typ),
            )
        if typ == "bundle":
            raise _Bad("type", "a bundle is not an object to store (bundles are transport): send its objects")
        oid = obj.get("id")
        if oid is None:
            raise _Bad("id", "'id' is required")
        m = _id_match(oid) if type(oid) is str else None
        if m is None or m.group(1) != typ:
            raise _Bad("id", f"'id' {id_problem(oid, typ)}: {_show(oid)}")
        label = oid

        # One pass over the properties: names, and the checks that depend only on the name.
        get = _CACHE.get
        for key, value in obj.items():
            checker = get(key, _MISS)
            if checker is None:
                continue
            if checker is _MISS:
                checker = _checker_for(key)
                if checker is None:
                    continue
            problem = checker(key, value)
            if problem is not None:
                raise _Bad(key[:100], problem)

        return _check_rest(obj, typ, oid, _TYPE_RULES.get(typ, _CUSTOM_RULES))
    except _Bad as bad:
        raise InvalidInput(bad.detail, object=label, field=bad.field) from None


def _check_rest(obj: dict[str, Any], typ: str, oid: str, rules: _TypeRules) -> CheckedFields:
    """The checks after the per-property pass: version, times, the per-type pass, markings."""
    kind = rules.kind
    if kind is _CUSTOM:
        kind = _SCO if _is_custom_sco(obj) else _VERSIONED
    spec_version = obj.get("spec_version")
    if spec_version != "2.1":
        if spec_version is None:
            if kind is not _SCO:
                raise _Bad(
                    "spec_version",
                    "'spec_version' is required: STIX 2.1 objects only (upgrade STIX 2.0 content first)",
                )
            spec_version = "2.1"
        else:
            raise _Bad("spec_version", f"'spec_version' must be '2.1', not {_show(spec_version)}")

    created_us: int | None
    modified_us: int | None
    created = obj.get("created")
    modified = obj.get("modified")
    if kind is _VERSIONED:
        created_us = _timestamp(obj, "created", created)
        modified_us = created_us if modified == created else _timestamp(obj, "modified", modified)
    elif kind is _SCO:
        created_us = None if created is None else _timestamp(obj, "created", created)
        if modified is not None:
            _timestamp(obj, "modified", modified)
        modified_us = None
    else:  # marking-definition: not versioned, `modified` optional
        created_us = _timestamp(obj, "created", created)
        modified_us = created_us if modified is None else _timestamp(obj, "modified", modified)
    if modified_us is not None and created_us is not None and modified_us < created_us:
        raise _Bad("modified", f"'modified' ({modified}) is earlier than 'created' ({created})")

    required = rules.required
    if required is not None:
        for key, python_type, what in required:
            value = obj.get(key)
            if type(value) is not python_type or (python_type is list and not value):
                _need(obj, key, what)  # raises, saying what is wrong
        extra = rules.extra
        if extra is not None:
            for key in extra:
                if key in obj:
                    problem = _check_timestamp(key, obj[key])
                    if problem is not None:
                        raise _Bad(key, problem)
        rule = rules.rule
        if rule is not None:
            rule(obj)
        pairs = rules.pairs
        if pairs is not None:
            _ordered(obj, pairs)

    refs = obj.get("object_marking_refs")
    tlp: TLP | None = None
    if refs:
        for ref in refs:
            level = LEVEL_OF_ID.get(ref)
            if level is not None and (tlp is None or level.rank > tlp.rank):
                tlp = level
        marking_refs = list(refs)
    else:
        marking_refs = []
    revoked = obj.get("revoked") is True
    return (obj, oid, typ, spec_version, created_us, modified_us, revoked, tlp, marking_refs)


def content_hash(obj: dict[str, Any]) -> bytes:
    """SHA-256 of the object's canonical-enough JSON (sorted keys): tells an identical re-submission
    from a different object under the same id and modified."""
    try:
        data = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits or lone surrogates, which orjson refuses: the stdlib encoder, so the
        # same object still always hashes the same.
        data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )
    return hashlib.sha256(data).digest()
