"""MISP events (JSON) -> STIX 2.1, shaped the way MISP's own converter (misp-stix) shapes them.

Input: `{"Event": {...}}`, a REST `{"response": [{"Event": {...}}, ...]}`, a bare list of those, or
a bare event object. Events are decoded one at a time from a sliding buffer (the approach of
`accord.intel.bundle_stream`), so a multi-gigabyte `response` never loads whole.

What becomes what (as misp-stix 2.1 does, where our validator allows):

- event -> `report` when published (`published` and `publish_timestamp`), else `grouping`
  (context `suspicious-activity`); `object_refs` name everything converted from the event, an empty
  event gets a `note` saying so. The creator organisation (`Orgc`, else `Org`) -> `identity`,
  `created_by_ref` of what the event produced.
- attribute of an observable type -> `observed-data` + its SCOs; with `to_ids` (absent: MISP's
  default for the type) also an `indicator` with misp-stix's pattern and a `based-on` relationship
  indicator -> observed-data. `vulnerability` / `campaign-name` -> that SDO. Rule types (yara, sigma,
  snort, suricata) and port, http-method, size-in-bytes, user-agent -> an indicator only (with
  `to_ids`).
- MISP object -> one observed-data with several SCOs and (with any `to_ids` attribute) one indicator
  whose pattern ANDs the `to_ids` attributes; vulnerability, attack-pattern, course-of-action and
  geolocation objects -> that SDO; yara, sigma, suricata objects -> an indicator.
- event galaxies -> attack-pattern, course-of-action, intrusion-set, malware, threat-actor, tool,
  vulnerability, campaign, location (country, region), identity (sector) in the report; attribute
  and object galaxies also get a relationship from the indicator (`indicates` towards
  attack-pattern/malware/threat-actor/tool, else `related-to`; no indicator: from the observed-data
  or SDO, `related-to`).
- sightings: type 0 -> `sighting` (sighting_of_ref the indicator, observed_data_refs the
  observed-data, count 1, first_seen = last_seen = the sighting's date, where_sighted_refs the
  sighting organisation), type 1 (false positive) -> `opinion` strongly-disagree.
- tags -> `labels` (after misp-stix's `misp:type=`/`misp:category=` or `misp:name=` labels); tags of
  converted galaxy clusters are dropped, as misp-stix does; MISP fields without a STIX home ->
  lower-case `x_misp_...` properties.

TLP (DOMAIN.md §1). A `tlp:*` tag (clear, white = clear, green, amber, amber+strict, red) and the
MISP distribution level both give a level; when both apply, the stricter wins (`TLP.rank`). An
attribute's own TLP tags replace the event's; its distribution 5 ("inherit") is its object's or its
event's. Distribution levels:

    0 your organisation only   -> TLP:AMBER+STRICT
    1 this community           -> TLP:GREEN
    2 connected communities    -> TLP:GREEN
    3 all communities          -> TLP:CLEAR
    4 a sharing group          -> TLP:AMBER
    5 inherit                  -> the parent's level

Neither tag nor distribution: `options.tlp` (None leaves the store's default, AMBER+STRICT). The
level goes into `object_marking_refs` as the OASIS TLP 2.0 marking id (`tlp.EMIT_ID`); the marking
definitions themselves are never emitted. SCOs carry their observed-data's marking; relationships
and sightings their attribute's.

Deliberate differences from misp-stix (each is a test allow-list entry):
- Ids. misp-stix uses `<type>--<MISP uuid>`; two member organisations importing the same MISP
  event would then claim one id, and the store lets only the first producer version an object. So
  ids are `<type>--uuid5(options.namespace, <MISP uuid>)` (`misp_id`): as stable as misp-stix's,
  scoped to the importing organisation like every importer's ids. Relationship ids are
  `stable_id` over (source, type, target) (misp-stix draws random ones).
- Values of observable types are normalised (`accord.intel.observables.normalise`) in SCOs and
  patterns; a value that does not normalise, an unconverted type or object, a deleted attribute, an
  unconverted galaxy is a `Skipped` naming event, attribute/object and field; the import goes on.
- Unconverted types become no `x-misp-attribute`/`x-misp-object` custom objects (Skipped instead).
- SHA-512/224 and SHA-512/256 keep their own hash names (misp-stix files them as SHA-224/SHA-256).
- Rule patterns (snort, yara...) are the rule text, not wrapped in `[...]`.
- Shared objects (organisation identities, galaxy SDOs) are emitted once per import, so one
  submission never holds two versions of them that differ only by the event they came with.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from accord.errors import InvalidInput, Problem
from accord.ingest import ImportOptions, Item, Skipped, as_parsed, stable_id
from accord.intel.bundle_stream import _Stream
from accord.intel.observables import normalise
from accord.intel.timestamps import format_micros, parse_micros
from accord.intel.tlp import EMIT_ID, TLP, strictest

__all__ = ["DISTRIBUTION_TLP", "misp_id", "read"]

#: MISP distribution level -> TLP (5, "inherit", resolves to the parent's level).
DISTRIBUTION_TLP: dict[str, TLP] = {
    "0": TLP.AMBER_STRICT,
    "1": TLP.GREEN,
    "2": TLP.GREEN,
    "3": TLP.CLEAR,
    "4": TLP.AMBER,
}
_INHERIT = "5"
_CHUNK = 1 << 20
_BARE_EVENT_KEYS = ("info", "Attribute", "Object")
_EMPTY_EVENT = "This MISP Event is empty and contains no attribute, object, galaxy or tag."
_REPORT_LABELS = ("Threat-Report", 'misp:tool="MISP-STIX-Converter"')

# MISP's `to_ids` default per type (pymisp describeTypes `sane_defaults`), for the converted types.
_TO_IDS_BY_DEFAULT = frozenset(
    """md5 sha1 sha224 sha256 sha384 sha512 sha512/224 sha512/256 sha3-224 sha3-256 sha3-384 sha3-512
    ssdeep imphash tlsh authentihash vhash pehash telfhash filename filename|md5 filename|sha1
    filename|sha224 filename|sha256 filename|sha384 filename|sha512 filename|sha512/224
    filename|sha512/256 filename|sha3-224 filename|sha3-256 filename|sha3-384 filename|sha3-512
    filename|ssdeep filename|imphash filename|tlsh filename|authentihash filename|vhash filename|pehash
    ip-src ip-dst ip-src|port ip-dst|port hostname hostname|port domain domain|ip email email-src
    email-dst email-attachment url uri regkey regkey|value malware-sample mutex snort suricata yara
    sigma x509-fingerprint-md5 x509-fingerprint-sha1 x509-fingerprint-sha256""".split()  # noqa: SIM905 (a word list reads better)
)

_GALAXY_TYPES: dict[str, str] = {
    "branded-vulnerability": "vulnerability",
    "country": "location",
    "region": "location",
    "sector": "identity",
    **dict.fromkeys(
        (
            "mitre-attack-pattern",
            "mitre-enterprise-attack-attack-pattern",
            "mitre-mobile-attack-attack-pattern",
            "mitre-pre-attack-attack-pattern",
        ),
        "attack-pattern",
    ),
    **dict.fromkeys(
        (
            "mitre-course-of-action",
            "mitre-enterprise-attack-course-of-action",
            "mitre-mobile-attack-course-of-action",
        ),
        "course-of-action",
    ),
    **dict.fromkeys(
        (
            "mitre-intrusion-set",
            "mitre-enterprise-attack-intrusion-set",
            "mitre-mobile-attack-intrusion-set",
            "mitre-pre-attack-intrusion-set",
        ),
        "intrusion-set",
    ),
    **dict.fromkeys(
        (
            "android",
            "banker",
            "stealer",
            "backdoor",
            "ransomware",
            "mitre-malware",
            "malpedia",
            "mitre-enterprise-attack-malware",
            "mitre-mobile-attack-malware",
        ),
        "malware",
    ),
    **dict.fromkeys(("threat-actor", "microsoft-activity-group"), "threat-actor"),
    **dict.fromkeys(
        (
            "botnet",
            "rat",
            "exploit-kit",
            "tds",
            "tool",
            "mitre-tool",
            "mitre-enterprise-attack-tool",
            "mitre-mobile-attack-tool",
        ),
        "tool",
    ),
    **{
        f"stix-{version}-{name}": name
        for version in ("2.0", "2.1")
        for name in (
            "attack-pattern",
            "campaign",
            "course-of-action",
            "intrusion-set",
            "malware",
            "threat-actor",
            "tool",
            "vulnerability",
            "location",
        )
    },
}
_INDICATES = frozenset({"attack-pattern", "malware", "threat-actor", "tool"})
# Galaxy cluster meta fields that are STIX properties of the SDO type (True: a list in STIX).
_META_FIELDS: dict[str, dict[str, bool]] = {
    "attack-pattern": {},
    "campaign": {"objective": False, "first_seen": False, "last_seen": False},
    "course-of-action": {},
    "identity": {},
    "intrusion-set": {
        "goals": True,
        "resource_level": False,
        "primary_motivation": False,
        "secondary_motivations": True,
        "first_seen": False,
        "last_seen": False,
    },
    "location": {"country": False, "region": False, "administrative_area": False, "city": False},
    "malware": {
        "malware_types": True,
        "is_family": False,
        "first_seen": False,
        "last_seen": False,
        "architecture_execution_envs": True,
        "implementation_languages": True,
        "capabilities": True,
    },
    "threat-actor": {
        "threat_actor_types": True,
        "roles": True,
        "goals": True,
        "sophistication": False,
        "resource_level": False,
        "primary_motivation": False,
        "secondary_motivations": True,
        "personal_motivations": True,
        "first_seen": False,
        "last_seen": False,
    },
    "tool": {"tool_types": True, "tool_version": False},
    "vulnerability": {},
}
_HAS_ALIASES = frozenset({"attack-pattern", "campaign", "intrusion-set", "malware", "threat-actor", "tool"})
_HAS_KILL_CHAIN = frozenset({"attack-pattern", "malware", "tool"})
_EXTERNAL_ID_SOURCES = (("CAPEC", "capec"), ("CVE", "cve"), ("CWE", "cwe"))

# MISP hash type -> (STIX hash name, observable kind to normalise with, or hex length, or None).
_HASHES: dict[str, tuple[str, str | int | None]] = {
    "md5": ("MD5", "md5"),
    "sha1": ("SHA-1", "sha1"),
    "sha256": ("SHA-256", "sha256"),
    "sha512": ("SHA-512", "sha512"),
    "sha224": ("SHA-224", 56),
    "sha384": ("SHA-384", 96),
    "sha3-224": ("SHA3-224", 56),
    "sha3-256": ("SHA3-256", 64),
    "sha3-384": ("SHA3-384", 96),
    "sha3-512": ("SHA3-512", 128),
    "sha512/224": ("SHA-512/224", 56),
    "sha512/256": ("SHA-512/256", 64),
    "imphash": ("IMPHASH", 32),
    "pehash": ("PEHASH", 40),
    "authentihash": ("AUTHENTIHASH", 64),
    "ssdeep": ("SSDEEP", None),
    "tlsh": ("TLSH", None),
    "vhash": ("VHASH", None),
    "telfhash": ("TELFHASH", None),
}
_X509_HASHES = {
    "x509-fingerprint-md5": "md5",
    "x509-fingerprint-sha1": "sha1",
    "x509-fingerprint-sha256": "sha256",
}
_RULE_TYPES = frozenset({"yara", "sigma", "snort", "suricata"})
_TIMESTAMP_SUFFIXES = (
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
_PROPERTY_CHARS = re.compile(r"[^a-z0-9_]+")
_SIMPLE_PATH = re.compile(r"[a-z_][a-z0-9_]*")


class _BadValue(Exception):
    """A value that cannot be converted; becomes a Skipped naming the attribute and field."""

    def __init__(self, reason: str, field: str = "value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


# ------------------------------------------------------------------------------------ public helpers


def misp_id(stix_type: str, misp_uuid: str, namespace: uuid.UUID) -> str:
    """The STIX id of what a MISP uuid (event, attribute, object, cluster, sighting) becomes."""
    try:
        key = str(uuid.UUID(misp_uuid))
    except ValueError:
        key = misp_uuid.strip()
    return f"{stix_type}--{uuid.uuid5(namespace, key)}"


def read(fp: BinaryIO, options: ImportOptions) -> Iterator[Item]:
    """Convert the MISP events in `fp` to STIX 2.1 objects, event by event."""
    run = _Run(options)
    for found in _events(fp):
        if isinstance(found, Problem):
            yield found
            return
        position, event = found
        yield from _Event(run, event, position).convert()


# ------------------------------------------------------------------------------------- reading input


def _problem_of(exc: InvalidInput) -> Problem:
    where = dict(exc.where)
    if "object" in where:
        where["event"] = where.pop("object")
    return Problem(exc.detail, where)


def _looks_like_event(value: Any) -> bool:
    return isinstance(value, dict) and any(key in value for key in _BARE_EVENT_KEYS)


def _event_in(element: Any) -> dict[str, Any] | None:
    if isinstance(element, dict):
        inner = element.get("Event")
        if isinstance(inner, dict):
            return inner
        if _looks_like_event(element):
            return element
    return None


def _not_misp(top: Any) -> str:
    if isinstance(top, dict) and top.get("type") == "bundle":
        return "this is a STIX bundle, not MISP JSON: import it in the STIX format"
    if isinstance(top, dict) and isinstance(top.get("response"), dict):
        keys = ", ".join(sorted(k for k in top["response"] if isinstance(k, str))[:5])
        return (
            f"the 'response' holds {keys or 'no events'}, not a list of events: export events "
            '(a MISP event JSON {"Event": {...}} or /events/restSearch)'
        )
    shown = ", ".join(repr(k) for k in list(top)[:5]) if isinstance(top, dict) else type(top).__name__
    return (
        'not a MISP event: expected {"Event": {...}}, {"response": [{"Event": {...}}, ...]} or a list of '
        f"events, found {shown or 'an empty object'}"
    )


def _elements(s: _Stream) -> Iterator[tuple[int, dict[str, Any]]]:
    """The events of the array whose '[' was just consumed."""
    index = 0
    if s.peek() == "]":
        s.pos += 1
        return
    while True:
        s.peek()
        value, start, _end = s.value(index)
        event = _event_in(value)
        if event is None:
            raise s.error(
                f"element #{index} of the array is not a MISP event: {_not_misp(value)}", start, index
            )
        yield index, event
        index += 1
        c = s.peek()
        if c == ",":
            s.pos += 1
            continue
        if c == "]":
            s.pos += 1
            return
        found = "end of input" if c == "" else repr(c)
        raise s.error(f"malformed JSON: expecting ',' or ']', found {found}", s.pos, index)


def _events(fp: BinaryIO) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    try:
        yield from _event_stream(_Stream(fp, _CHUNK))
    except InvalidInput as exc:
        yield _problem_of(exc)


def _event_stream(s: _Stream) -> Iterator[tuple[int, dict[str, Any]]]:
    c = s.peek()
    if c == "":
        raise s.error('empty input: expected MISP events ({"Event": {...}} or {"response": [...]})', s.pos)
    if c == "[":
        s.pos += 1
        yield from _elements(s)
    elif c == "{":
        start = s.pos
        s.pos += 1
        top: dict[str, Any] = {}
        streamed = False
        c = s.peek()
        while c != "}":
            if c != '"':
                found = "end of input" if c == "" else repr(c)
                raise s.error(
                    f"malformed JSON: expecting a property name in double quotes, found {found}", s.pos
                )
            key, _, _ = s.value()
            s.expect(":")
            if key == "response" and s.peek() == "[" and not streamed:  # peek also skips whitespace
                s.pos += 1
                yield from _elements(s)
                streamed = True
            else:
                s.peek()
                top[key], _, _ = s.value()
            c = s.peek()
            if c == ",":
                s.pos += 1
                c = s.peek()
            elif c != "}":
                found = "end of input" if c == "" else repr(c)
                raise s.error(f"malformed JSON: expecting ',' or '}}', found {found}", s.pos)
        s.pos += 1
        if not streamed:
            event = _event_in(top)
            if event is None:
                raise s.error(_not_misp(top), start)
            yield 0, event
    else:
        raise s.error(f"the input must be a JSON object or array of MISP events, found {c!r}", s.pos)
    c = s.peek()
    if c != "":
        raise s.error(f"unexpected data after the top-level JSON value: {c!r}", s.pos)


# ------------------------------------------------------------------------------------- small helpers


def _q(value: str) -> str:
    """A STIX pattern string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _path(segment: str) -> str:
    return segment if _SIMPLE_PATH.fullmatch(segment) else _q(segment)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _epoch_us(value: Any) -> int | None:
    text = _text(value)
    if text is None or not text.strip().isdigit():
        return None
    seconds = int(text.strip())
    return seconds * 1_000_000 if 0 < seconds < 253_402_300_800 else None


def _iso_us(value: Any) -> int | None:
    """A MISP date-time ('2020-10-25T16:22:00.000000+00:00', '...Z', a date) in microseconds."""
    text = _text(value)
    if not text:
        return None
    try:
        return parse_micros(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return _epoch_us(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        text = str(value).strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false", ""):
            return False
    return None


def _to_ids(attribute: dict[str, Any]) -> bool:
    flag = _flag(attribute.get("to_ids"))
    return flag if flag is not None else attribute.get("type") in _TO_IDS_BY_DEFAULT


def _tag_names(holder: dict[str, Any]) -> list[str]:
    names = []
    for tag in holder.get("Tag") or ():
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name.strip():
            names.append(name)
    return names


def _split_tags(names: Iterable[str]) -> tuple[TLP | None, list[str]]:
    """The strictest TLP among the tags, and the other tags (labels)."""
    levels: list[TLP] = []
    labels: list[str] = []
    for name in names:
        if name.strip().lower().startswith("tlp:"):
            try:
                levels.append(TLP.parse(name))
                continue
            except ValueError:
                pass
        labels.append(name)
    return strictest(levels), labels


def _property_name(key: str) -> str:
    """`x_misp_<key>` in the characters STIX allows (lower case, digits, `_`)."""
    return "x_misp_" + (_PROPERTY_CHARS.sub("_", key.lower()).strip("_") or "value")


def _set_custom(obj: dict[str, Any], key: str, value: Any) -> None:
    """A custom property; names our validator would read as timestamps or references stay honest."""
    name = _property_name(key)
    if name.endswith(_TIMESTAMP_SUFFIXES):
        moment = _iso_us(value) if not isinstance(value, list) else None
        if moment is not None:
            value = format_micros(moment)
        else:
            name += "_text"
    elif name.endswith(("_ref", "_refs")):
        name += "_text"
    obj[name] = value


def _single(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def _ip(value: str) -> tuple[str, str]:
    """(SCO type, normalised value) of an IP address or network."""
    try:
        return "ipv4-addr", normalise(value, "ipv4").value
    except InvalidInput as v4:
        if ":" not in value:
            raise _BadValue(v4.detail) from None
    try:
        return "ipv6-addr", normalise(value, "ipv6").value
    except InvalidInput as v6:
        raise _BadValue(v6.detail) from None


def normalise_or_none(value: str, kind: str) -> str | None:
    try:
        return normalise(value, kind).value
    except InvalidInput:
        return None


def _kind(value: str, kind: str) -> str:
    try:
        return normalise(value, kind).value
    except InvalidInput as e:
        raise _BadValue(e.detail) from None


def _hash(misp_type: str, value: str) -> tuple[str, str]:
    """(STIX hash name, checked value)."""
    name, check = _HASHES[misp_type]
    text = value.strip()
    if isinstance(check, str):
        return name, _kind(text, check)
    if isinstance(check, int):
        if len(text) != check or not re.fullmatch(r"[0-9a-fA-F]+", text):
            raise _BadValue(f"{value!r} is not a valid {misp_type} hash: expected {check} hex digits")
        return name, text.lower()
    if not text or any(c.isspace() for c in text):
        raise _BadValue(f"{value!r} is not a valid {misp_type} hash")
    return name, text


def _port(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise _BadValue(f"{value!r} is not a port number (0-65535)")
    return int(text)


def _number(value: str, what: str) -> int:
    digits = "".join(c for c in value if c.isdigit())
    if not digits or len(digits) > 10:
        raise _BadValue(f"{value!r} is not {what}")
    return int(digits)


def _pair(value: str, misp_type: str) -> tuple[str, str]:
    left, sep, right = value.partition("|")
    if not sep or not left.strip() or not right.strip():
        raise _BadValue(f"a {misp_type} value must be two parts joined by '|', not {value!r}")
    return left.strip(), right.strip()


def _external_ref(external_id: str) -> dict[str, str]:
    for prefix, source in _EXTERNAL_ID_SOURCES:
        if external_id.upper().startswith(prefix + "-"):
            return {"source_name": source, "external_id": external_id}
    return {"source_name": "mitre-attack", "external_id": external_id}


# --------------------------------------------------------------------------------- attribute shapes


@dataclass
class _Observation:
    """SCOs (the first is the main one) and the pattern comparisons they give."""

    scos: list[dict[str, Any]]
    comparisons: list[str]


_Ids = Callable[[str], str]  # SCO type -> id for this attribute


def _address_traffic(value: str, ids: _Ids, side: str, port: int | None = None) -> _Observation:
    ip_type, ip = _ip(value)
    traffic: dict[str, Any] = {
        "type": "network-traffic",
        "id": ids("network-traffic"),
        f"{side}_ref": ids(ip_type),
    }
    comparisons = [
        f"network-traffic:{side}_ref.type = {_q(ip_type)}",
        f"network-traffic:{side}_ref.value = {_q(ip)}",
    ]
    if port is not None:
        traffic[f"{side}_port"] = port
        comparisons.append(f"network-traffic:{side}_port = {_q(str(port))}")
    traffic["protocols"] = ["tcp"]
    return _Observation([traffic, {"type": ip_type, "id": ids(ip_type), "value": ip}], comparisons)


def _ip_attribute(side: str) -> Callable[[str, dict[str, Any], _Ids], _Observation]:
    def convert(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
        if "|" in attribute["type"]:
            ip, port = _pair(value, attribute["type"])
            return _address_traffic(ip, ids, side, _port(port))
        return _address_traffic(value, ids, side)

    return convert


def _domain_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    domain = _kind(value, "domain")
    return _Observation(
        [{"type": "domain-name", "id": ids("domain-name"), "value": domain}],
        [f"domain-name:value = {_q(domain)}"],
    )


def _domain_ip_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    domain_text, ip_text = _pair(value, "domain|ip")
    domain = _kind(domain_text, "domain")
    ip_type, ip = _ip(ip_text)
    return _Observation(
        [
            {
                "type": "domain-name",
                "id": ids("domain-name"),
                "value": domain,
                "resolves_to_refs": [ids(ip_type)],
            },
            {"type": ip_type, "id": ids(ip_type), "value": ip},
        ],
        [f"domain-name:value = {_q(domain)}", f"domain-name:resolves_to_refs[*].value = {_q(ip)}"],
    )


def _hostname_port_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    host_text, port_text = _pair(value, "hostname|port")
    host, port = _kind(host_text, "domain"), _port(port_text)
    return _Observation(
        [
            {"type": "domain-name", "id": ids("domain-name"), "value": host},
            {
                "type": "network-traffic",
                "id": ids("network-traffic"),
                "dst_ref": ids("domain-name"),
                "dst_port": port,
                "protocols": ["tcp"],
            },
        ],
        [f"domain-name:value = {_q(host)}", f"network-traffic:dst_port = {_q(str(port))}"],
    )


def _url_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    url = _kind(value, "url")
    return _Observation([{"type": "url", "id": ids("url"), "value": url}], [f"url:value = {_q(url)}"])


def _email_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    address = _kind(value, "email")
    return _Observation(
        [{"type": "email-addr", "id": ids("email-addr"), "value": address}],
        [f"email-addr:value = {_q(address)}"],
    )


def _email_party(role: str) -> Callable[[str, dict[str, Any], _Ids], _Observation]:
    def convert(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
        address = _kind(value, "email")
        ref = ids("email-addr")
        message: dict[str, Any] = {"type": "email-message", "id": ids("email-message"), "is_multipart": False}
        if role == "from":
            message["from_ref"] = ref
            comparison = f"email-message:from_ref.value = {_q(address)}"
        else:
            message["to_refs"] = [ref]
            comparison = f"email-message:to_refs[*].value = {_q(address)}"
        return _Observation([message, {"type": "email-addr", "id": ref, "value": address}], [comparison])

    return convert


def _email_field(
    prop: str, path: str, header: str | None = None
) -> Callable[[str, dict[str, Any], _Ids], _Observation]:
    def convert(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
        message: dict[str, Any] = {"type": "email-message", "id": ids("email-message"), "is_multipart": False}
        if header is not None:
            message["additional_header_fields"] = {header: value}
        else:
            message[prop] = [value] if prop == "received_lines" else value
        return _Observation([message], [f"email-message:{path} = {_q(value)}"])

    return convert


def _email_attachment_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    return _Observation(
        [
            {
                "type": "email-message",
                "id": ids("email-message"),
                "is_multipart": True,
                "body_multipart": [
                    {"content_disposition": f"attachment; filename='{value}'", "body_raw_ref": ids("file")}
                ],
            },
            {"type": "file", "id": ids("file"), "name": value},
        ],
        [f"email-message:body_multipart[*].body_raw_ref.name = {_q(value)}"],
    )


def _hash_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    name, digest = _hash(attribute["type"], value)
    return _Observation(
        [{"type": "file", "id": ids("file"), "hashes": {name: digest}}],
        [f"file:hashes.{_path(name)} = {_q(digest)}"],
    )


def _filename_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    return _Observation([{"type": "file", "id": ids("file"), "name": value}], [f"file:name = {_q(value)}"])


def _filename_hash_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    misp_type = attribute["type"]
    filename, digest_text = _pair(value, misp_type)
    name, digest = _hash(misp_type.partition("|")[2], digest_text)
    return _Observation(
        [{"type": "file", "id": ids("file"), "name": filename, "hashes": {name: digest}}],
        [f"file:name = {_q(filename)}", f"file:hashes.{_path(name)} = {_q(digest)}"],
    )


def _sample_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    """malware-sample: `filename|md5`, with the zipped sample in `data` (password 'infected')."""
    data = attribute.get("data")
    if "|" in value:
        filename, digest_text = _pair(value, "malware-sample")
        _, digest = _hash("md5", digest_text)
        file: dict[str, Any] = {
            "type": "file",
            "id": ids("file"),
            "hashes": {"MD5": digest},
            "name": filename,
        }
        comparisons = [f"file:name = {_q(filename)}", f"file:hashes.MD5 = {_q(digest)}"]
    else:
        file = {"type": "file", "id": ids("file"), "name": value}
        comparisons = [f"file:name = {_q(value)}"]
    if not isinstance(data, str) or not data:
        return _Observation([file], comparisons)
    artifact = {
        "type": "artifact",
        "id": ids("artifact"),
        "mime_type": "application/zip",
        "payload_bin": data,
        "encryption_algorithm": "mime-type-indicated",
        "decryption_key": "infected",
    }
    file["content_ref"] = artifact["id"]
    comparisons += [
        f"file:content_ref.payload_bin = {_q(data)}",
        "file:content_ref.mime_type = 'application/zip'",
        "file:content_ref.encryption_algorithm = 'mime-type-indicated'",
        "file:content_ref.decryption_key = 'infected'",
    ]
    return _Observation([file, artifact], comparisons)


def _attachment_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    data = attribute.get("data")
    if not isinstance(data, str) or not data:
        return _filename_attribute(value, attribute, ids)
    return _Observation(
        [
            {"type": "file", "id": ids("file"), "name": value, "content_ref": ids("artifact")},
            {"type": "artifact", "id": ids("artifact"), "payload_bin": data},
        ],
        [f"file:name = {_q(value)}", f"file:content_ref.payload_bin = {_q(data)}"],
    )


def _as_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    number = _number(value, "an autonomous system number")
    return _Observation(
        [{"type": "autonomous-system", "id": ids("autonomous-system"), "number": number}],
        [f"autonomous-system:number = {_q(str(number))}"],
    )


def _simple_sco(sco_type: str, prop: str) -> Callable[[str, dict[str, Any], _Ids], _Observation]:
    def convert(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
        return _Observation(
            [{"type": sco_type, "id": ids(sco_type), prop: value}], [f"{sco_type}:{prop} = {_q(value)}"]
        )

    return convert


def _regkey_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    if attribute["type"] == "regkey|value":
        key, data = _pair(value, "regkey|value")
        return _Observation(
            [
                {
                    "type": "windows-registry-key",
                    "id": ids("windows-registry-key"),
                    "key": key,
                    "values": [{"data": data}],
                }
            ],
            [f"windows-registry-key:key = {_q(key)}", f"windows-registry-key:values.data = {_q(data)}"],
        )
    return _Observation(
        [{"type": "windows-registry-key", "id": ids("windows-registry-key"), "key": value}],
        [f"windows-registry-key:key = {_q(value)}"],
    )


def _x509_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    kind = _X509_HASHES[attribute["type"]]
    name, digest = _HASHES[kind][0], _kind("".join(c for c in value if c.isalnum()), kind)
    return _Observation(
        [{"type": "x509-certificate", "id": ids("x509-certificate"), "hashes": {name: digest}}],
        [f"x509-certificate:hashes.{_path(name)} = {_q(digest)}"],
    )


def _github_attribute(value: str, attribute: dict[str, Any], ids: _Ids) -> _Observation:
    return _Observation(
        [
            {
                "type": "user-account",
                "id": ids("user-account"),
                "account_type": "github",
                "account_login": value,
            }
        ],
        ["user-account:account_type = 'github'", f"user-account:account_login = {_q(value)}"],
    )


_Converter = Callable[[str, dict[str, Any], _Ids], _Observation]
_OBSERVABLES: dict[str, _Converter] = {
    "ip-src": _ip_attribute("src"),
    "ip-dst": _ip_attribute("dst"),
    "ip-src|port": _ip_attribute("src"),
    "ip-dst|port": _ip_attribute("dst"),
    "domain": _domain_attribute,
    "hostname": _domain_attribute,
    "domain|ip": _domain_ip_attribute,
    "hostname|port": _hostname_port_attribute,
    "url": _url_attribute,
    "uri": _url_attribute,
    "link": _url_attribute,
    "email": _email_attribute,
    "email-src": _email_party("from"),
    "email-dst": _email_party("to"),
    "email-subject": _email_field("subject", "subject"),
    "email-body": _email_field("body", "body"),
    "email-header": _email_field("received_lines", "received_lines"),
    "email-message-id": _email_field("message_id", "message_id"),
    "email-reply-to": _email_field("", "additional_header_fields.reply_to", "Reply-To"),
    "email-x-mailer": _email_field("", "additional_header_fields.x_mailer", "X-Mailer"),
    "email-attachment": _email_attachment_attribute,
    "filename": _filename_attribute,
    "malware-sample": _sample_attribute,
    "attachment": _attachment_attribute,
    "AS": _as_attribute,
    "mac-address": _simple_sco("mac-addr", "value"),
    "mutex": _simple_sco("mutex", "name"),
    "regkey": _regkey_attribute,
    "regkey|value": _regkey_attribute,
    "github-username": _github_attribute,
    **dict.fromkeys(_HASHES, _hash_attribute),
    **{f"filename|{h}": _filename_hash_attribute for h in _HASHES if h not in ("telfhash",)},
    **dict.fromkeys(_X509_HASHES, _x509_attribute),
}
# Types that become an indicator only (misp-stix: a custom object when not `to_ids`).
_PATTERN_ONLY: dict[str, Callable[[str], str]] = {
    "port": lambda v: f"network-traffic:dst_port = {_q(str(_port(v)))}",
    "size-in-bytes": lambda v: f"file:size = {_q(str(_number(v, 'a size in bytes')))}",
    "http-method": lambda v: f"network-traffic:extensions.'http-request-ext'.request_method = {_q(v)}",
    "user-agent": lambda v: (
        f"network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = {_q(v)}"
    ),
}


# ------------------------------------------------------------------------------------ MISP objects


class _Parts:
    """A MISP object's attributes by object_relation, in order."""

    def __init__(self, attributes: list[dict[str, Any]]) -> None:
        self.by_relation: dict[str, list[dict[str, Any]]] = {}
        for attribute in attributes:
            relation = attribute.get("object_relation")
            if isinstance(relation, str) and relation:
                self.by_relation.setdefault(relation, []).append(attribute)

    def take(self, *relations: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for relation in relations:
            found += self.by_relation.pop(relation, [])
        return found

    def first(self, relation: str) -> dict[str, Any] | None:
        """The first attribute of a relation; any others stay for custom properties."""
        found = self.by_relation.get(relation)
        if not found:
            return None
        head = found.pop(0)
        if not found:
            del self.by_relation[relation]
        return head

    def rest(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        yield from self.by_relation.items()
        self.by_relation = {}


@dataclass
class _ObjectShape:
    """What a MISP object gives: SCOs with comparisons per attribute, or one SDO / rule indicator."""

    scos: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    always: list[str] = field(default_factory=list)  # in the pattern when any attribute is
    sdo: dict[str, Any] | None = None


class _ObjectBuilder:
    """Context for one MISP object: ids, value checks (bad values skipped), leftovers as x_misp_."""

    def __init__(self, event: _Event, misp_object: dict[str, Any], attributes: list[dict[str, Any]]) -> None:
        self.event = event
        self.object = misp_object
        self.object_key: str = misp_object["uuid"]
        self.parts = _Parts(attributes)
        self.shape = _ObjectShape()

    def id_for(self, stix_type: str, attribute: dict[str, Any] | None = None) -> str:
        return self.event.id(stix_type, self.object_key if attribute is None else attribute["uuid"])

    def value(self, attribute: dict[str, Any], check: Callable[[str], Any] | None = None) -> Any:
        """The attribute's value (checked), or None after recording it as skipped."""
        text = _text(attribute.get("value"))
        try:
            if text is None or not text.strip():
                raise _BadValue("the attribute has no value")
            return check(text.strip()) if check is not None else text.strip()
        except _BadValue as bad:
            self.event.skip(bad.reason, field=bad.field, object=self.object_key, attribute=attribute["uuid"])
            return None

    def one(
        self, relation: str, check: Callable[[str], Any] | None = None
    ) -> tuple[dict[str, Any], Any] | None:
        """The first attribute of `relation` whose value passes `check`, with the checked value."""
        while (attribute := self.parts.first(relation)) is not None:
            value = self.value(attribute, check)
            if value is not None:
                return attribute, value
        return None

    def all(
        self, relation: str, check: Callable[[str], Any] | None = None
    ) -> list[tuple[dict[str, Any], Any]]:
        return [(a, v) for a in self.parts.take(relation) if (v := self.value(a, check)) is not None]

    def compare(self, attribute: dict[str, Any], comparison: str) -> None:
        self.shape.comparisons.append((attribute, comparison))

    def leftovers(self, target: dict[str, Any], prefix: str | None) -> None:
        """Unmapped relations -> x_misp_<relation> on `target` (and into the pattern with `prefix`)."""
        for relation, attributes in self.parts.rest():
            found = [(a, v) for a in attributes if (v := self.value(a)) is not None]
            if not found:
                continue
            _set_custom(target, relation, _single([v for _, v in found]))
            if prefix is not None:
                for attribute, value in found:
                    self.compare(attribute, f"{prefix}:{_property_name(relation)} = {_q(value)}")


def _ip_comparison(side: str, ip_type: str, ip: str) -> str:
    return (
        f"(network-traffic:{side}_ref.type = {_q(ip_type)} AND network-traffic:{side}_ref.value = {_q(ip)})"
    )


def _as_domain(text: str) -> str:
    return _kind(text, "domain")


def _as_url(text: str) -> str:
    return _kind(text, "url")


def _as_asn(text: str) -> int:
    return _number(text, "an autonomous system number")


def _as_size(text: str) -> int:
    return _number(text, "a size in bytes")


def _as_moment(text: str) -> str:
    moment = _iso_us(text)
    if moment is None:
        raise _BadValue(f"{text!r} is not a date and time")
    return format_micros(moment)


def _hash_check(misp_type: str) -> Callable[[str], tuple[str, str]]:
    return lambda text: _hash(misp_type, text)


def _domain_ip_object(b: _ObjectBuilder) -> None:
    domains = b.all("domain", _as_domain)
    ips = b.all("ip", _ip)
    ip_scos = [{"type": t, "id": b.id_for(t, a), "value": v} for a, (t, v) in ips]
    ip_ids = [sco["id"] for sco in ip_scos]
    domain_scos: list[dict[str, Any]] = []
    for attribute, domain in domains:
        sco_id = b.id_for("domain-name") if len(domains) == 1 else b.id_for("domain-name", attribute)
        sco: dict[str, Any] = {"type": "domain-name", "id": sco_id, "value": domain}
        if ip_ids:
            sco["resolves_to_refs"] = list(ip_ids)
        domain_scos.append(sco)
        b.compare(attribute, f"domain-name:value = {_q(domain)}")
    if not domain_scos:
        raise _BadValue("a domain-ip object needs a valid domain", "domain")
    for attribute, (_, ip) in ips:
        b.compare(attribute, f"domain-name:resolves_to_refs[*].value = {_q(ip)}")
    b.leftovers(domain_scos[0], "domain-name")
    b.shape.scos = domain_scos + ip_scos if len(domain_scos) == 1 else ip_scos + domain_scos


def _traffic_ports(b: _ObjectBuilder, traffic: dict[str, Any]) -> None:
    for relation in ("src-port", "dst-port"):
        found = b.one(relation, _port)
        if found is not None:
            prop = relation.replace("-", "_")
            traffic[prop] = found[1]
            b.compare(found[0], f"network-traffic:{prop} = {_q(str(found[1]))}")


def _ip_port_object(b: _ObjectBuilder) -> None:
    traffic: dict[str, Any] = {"type": "network-traffic", "id": b.id_for("network-traffic")}
    extra: list[dict[str, Any]] = []
    protocols: dict[str, None] = {}
    for relation, side in (("ip-src", "src"), ("ip-dst", "dst"), ("ip", "dst")):
        for attribute, (ip_type, ip) in b.all(relation, _ip):
            b.compare(attribute, _ip_comparison(side, ip_type, ip))
            if f"{side}_ref" in traffic:
                _set_custom(traffic, relation, ip)
                continue
            traffic[f"{side}_ref"] = b.id_for(ip_type, attribute)
            extra.append({"type": ip_type, "id": traffic[f"{side}_ref"], "value": ip})
            protocols[ip_type.split("-")[0]] = None
    for relation in ("domain", "hostname"):
        for attribute, domain in b.all(relation, _as_domain):
            b.compare(attribute, _ip_comparison("dst", "domain-name", domain))
            _set_custom(traffic, relation, domain)
    _traffic_ports(b, traffic)
    for relation, prop in (("first-seen", "start"), ("last-seen", "end")):
        if (moment := b.one(relation, _as_moment)) is not None:
            traffic[prop] = moment[1]
    protocols.update(dict.fromkeys(p.lower() for _, p in b.all("protocol")))
    if "src_ref" not in traffic and "dst_ref" not in traffic:
        raise _BadValue("an ip-port object needs a valid IP address", "ip")
    traffic["protocols"] = list(protocols) or ["tcp"]
    b.leftovers(traffic, None)
    b.shape.scos = [traffic, *extra]


def _network_connection_object(b: _ObjectBuilder) -> None:
    traffic: dict[str, Any] = {"type": "network-traffic", "id": b.id_for("network-traffic")}
    extra: list[dict[str, Any]] = []
    for relation, side in (("ip-src", "src"), ("ip-dst", "dst")):
        found = b.one(relation, _ip)
        if found is not None:
            attribute, (ip_type, ip) = found
            traffic[f"{side}_ref"] = b.id_for(ip_type, attribute)
            extra.append({"type": ip_type, "id": traffic[f"{side}_ref"], "value": ip})
            b.compare(attribute, _ip_comparison(side, ip_type, ip))
    _traffic_ports(b, traffic)
    for attribute, host in b.all("hostname-dst", _as_domain):
        _set_custom(traffic, "hostname-dst", host)
        b.compare(attribute, _ip_comparison("dst", "domain-name", host))
    layers = ("layer3-protocol", "layer4-protocol", "layer7-protocol", "protocol")
    protocols = [p.lower() for layer in layers for _, p in b.all(layer)]
    if "src_ref" not in traffic and "dst_ref" not in traffic:
        raise _BadValue("a network-connection object needs a valid source or destination IP", "ip-dst")
    traffic["protocols"] = protocols or ["tcp"]
    b.leftovers(traffic, None)
    b.shape.scos = [traffic, *extra]


def _single_sco_object(
    sco_type: str, relation: str, prop: str, check: Callable[[str], Any] | None = None
) -> Callable[[_ObjectBuilder], None]:
    """Objects whose one SCO is keyed by one relation (url, asn, mutex, registry-key)."""

    def convert(b: _ObjectBuilder) -> None:
        found = b.one(relation, check)
        if found is None:
            raise _BadValue(f"a {b.object.get('name')} object needs a valid {relation}", relation)
        sco: dict[str, Any] = {"type": sco_type, "id": b.id_for(sco_type), prop: found[1]}
        b.compare(found[0], f"{sco_type}:{prop} = {_q(str(found[1]))}")
        _EXTRAS.get(sco_type, _no_extras)(b, sco)
        b.leftovers(sco, sco_type)
        b.shape.scos = [sco]

    return convert


def _no_extras(b: _ObjectBuilder, sco: dict[str, Any]) -> None:
    return None


def _asn_extras(b: _ObjectBuilder, sco: dict[str, Any]) -> None:
    if (description := b.one("description")) is not None:
        sco["name"] = description[1]


def _registry_extras(b: _ObjectBuilder, sco: dict[str, Any]) -> None:
    value: dict[str, Any] = {}
    for relation, prop in (("name", "name"), ("data", "data"), ("data-type", "data_type")):
        if (found := b.one(relation)) is not None:
            value[prop] = found[1]
            b.compare(found[0], f"windows-registry-key:values[0].{prop} = {_q(found[1])}")
    if value:
        sco["values"] = [value]
    if (modified := b.one("last-modified", _as_moment)) is not None:
        sco["modified_time"] = modified[1]


_EXTRAS: dict[str, Callable[[_ObjectBuilder, dict[str, Any]], None]] = {
    "autonomous-system": _asn_extras,
    "windows-registry-key": _registry_extras,
}
_X509_FIELDS = {
    "issuer": "issuer",
    "serial-number": "serial_number",
    "signature_algorithm": "signature_algorithm",
    "subject": "subject",
    "version": "version",
    "pubkey-info-algorithm": "subject_public_key_algorithm",
    "pubkey-info-modulus": "subject_public_key_modulus",
}
_X509_VALIDITY = {"validity-not-before": "validity_not_before", "validity-not-after": "validity_not_after"}


def _x509_object(b: _ObjectBuilder) -> None:
    sco: dict[str, Any] = {"type": "x509-certificate", "id": b.id_for("x509-certificate")}
    for relation, kind in _X509_HASHES.items():
        if (found := b.one(relation, _hash_check(kind))) is not None:
            name, digest = found[1]
            sco.setdefault("hashes", {})[name] = digest
            b.compare(found[0], f"x509-certificate:hashes.{_path(name)} = {_q(digest)}")
    for relation, prop in _X509_FIELDS.items():
        if (text := b.one(relation)) is not None:
            sco[prop] = text[1]
            b.compare(text[0], f"x509-certificate:{prop} = {_q(text[1])}")
    if (exponent := b.one("pubkey-info-exponent", lambda t: _number(t, "an exponent"))) is not None:
        sco["subject_public_key_exponent"] = exponent[1]
    for relation, prop in _X509_VALIDITY.items():
        if (moment := b.one(relation, _as_moment)) is not None:
            sco[prop] = moment[1]
    if len(sco) == 2:
        raise _BadValue("an x509 object needs a fingerprint or certificate field", "x509-fingerprint-sha256")
    b.leftovers(sco, "x509-certificate")
    b.shape.scos = [sco]


_FILE_TIMES = {"creation-time": "ctime", "modification-time": "mtime", "access-time": "atime"}


def _file_object(b: _ObjectBuilder) -> None:
    sco: dict[str, Any] = {"type": "file", "id": b.id_for("file")}
    scos = [sco]
    for relation in _HASHES:
        if (found := b.one(relation, _hash_check(relation))) is not None:
            name, digest = found[1]
            sco.setdefault("hashes", {})[name] = digest
            b.compare(found[0], f"file:hashes.{_path(name)} = {_q(digest)}")
    if (filename := b.one("filename")) is not None:
        sco["name"] = filename[1]
        b.compare(filename[0], f"file:name = {_q(filename[1])}")
    for relation, prop in (("file-encoding", "name_enc"), ("mime-type", "mime_type")):
        if (text := b.one(relation)) is not None:
            sco[prop] = text[1]
    if (size := b.one("size-in-bytes", _as_size)) is not None:
        sco["size"] = size[1]
        b.compare(size[0], f"file:size = {_q(str(size[1]))}")
    for relation, prop in _FILE_TIMES.items():
        if (moment := b.one(relation, _as_moment)) is not None:
            sco[prop] = moment[1]
    if (path := b.one("path")) is not None:
        directory = {"type": "directory", "id": b.id_for("directory", path[0]), "path": path[1]}
        sco["parent_directory_ref"] = directory["id"]
        scos.append(directory)
        b.compare(path[0], f"file:parent_directory_ref.path = {_q(path[1])}")
    sample = b.one("malware-sample")
    data = sample[0].get("data") if sample is not None else None
    if sample is not None and isinstance(data, str) and data:
        artifact: dict[str, Any] = {
            "type": "artifact",
            "id": b.id_for("artifact", sample[0]),
            "mime_type": "application/zip",
            "payload_bin": data,
            "encryption_algorithm": "mime-type-indicated",
            "decryption_key": "infected",
        }
        name, _, digest = sample[1].partition("|")
        if digest and (md5 := normalise_or_none(digest, "md5")) is not None:
            artifact["hashes"] = {"MD5": md5}
        artifact["x_misp_filename"] = name
        sco["content_ref"] = artifact["id"]
        scos.append(artifact)
        for prop, value in artifact.items():
            if prop in ("type", "id"):
                continue
            path = "hashes.MD5" if prop == "hashes" else prop
            value = artifact["hashes"]["MD5"] if prop == "hashes" else value
            b.compare(sample[0], f"file:content_ref.{path} = {_q(value)}")
    if "hashes" not in sco and "name" not in sco:
        raise _BadValue("a file object needs a valid hash or filename", "filename")
    b.leftovers(sco, "file")
    b.shape.scos = scos


def _sdo_object(
    stix_type: str, required: str, fields: dict[str, str], lists: dict[str, str] | None = None
) -> Callable[[_ObjectBuilder], None]:
    """Objects that become one SDO: `required` is the name, `fields` (`lists`) map to properties."""

    def convert(b: _ObjectBuilder) -> None:
        name = b.one(required)
        if name is None:
            raise _BadValue(f"a {b.object.get('name')} object needs a {required}", required)
        sdo: dict[str, Any] = {"type": stix_type, "spec_version": "2.1", "id": b.id_for(stix_type)}
        sdo["name"] = name[1]
        for relation, prop in fields.items():
            if prop not in sdo and (found := b.one(relation)) is not None:
                sdo[prop] = _as_moment(found[1]) if prop.endswith(_TIMESTAMP_SUFFIXES) else found[1]
        for relation, prop in (lists or {}).items():
            if values := [v for _, v in b.all(relation)]:
                sdo[prop] = values
        references = [_external_ref(name[1])] if stix_type == "vulnerability" else []
        if stix_type == "vulnerability":
            references += [_external_ref(v) for _, v in b.all("id")]
        if stix_type == "attack-pattern":
            meta = _text(b.object.get("meta-category")) or "misc"
            sdo["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": meta}]
            references += [
                _external_ref(v if v.upper().startswith("CAPEC") else f"CAPEC-{v}") for _, v in b.all("id")
            ]
        references += [{"source_name": "url", "url": v} for _, v in b.all("references")]
        if references:
            sdo["external_references"] = references
        b.leftovers(sdo, None)
        b.shape.sdo = sdo

    return convert


def _coordinate(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a number") from None


def _geolocation_object(b: _ObjectBuilder) -> None:
    sdo: dict[str, Any] = {"type": "location", "spec_version": "2.1", "id": b.id_for("location")}
    lat, lon = b.one("latitude", _coordinate), b.one("longitude", _coordinate)
    if lat is not None and lon is not None and -90 <= lat[1] <= 90 and -180 <= lon[1] <= 180:
        sdo["latitude"], sdo["longitude"] = lat[1], lon[1]
        if (radius := b.one("accuracy-radius", _coordinate)) is not None:
            sdo["precision"] = radius[1] * 1000.0
    fields = {
        "region": "region",
        "countrycode": "country",
        "city": "city",
        "address": "street_address",
        "zipcode": "postal_code",
    }
    for relation, prop in fields.items():
        if (text := b.one(relation)) is not None:
            sdo[prop] = text[1]
    if "latitude" not in sdo and "region" not in sdo and "country" not in sdo:
        raise _BadValue("a geolocation object needs coordinates, a region or a country code", "countrycode")
    b.leftovers(sdo, None)
    b.shape.sdo = sdo


def _rule_object(rule_type: str) -> Callable[[_ObjectBuilder], None]:
    def convert(b: _ObjectBuilder) -> None:
        rule = b.one(rule_type)
        if rule is None:
            raise _BadValue(f"a {rule_type} object needs a {rule_type} rule", rule_type)
        sdo: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": b.id_for("indicator")}
        sdo.update(pattern=rule[1], pattern_type=rule_type)
        version = b.one("version")
        sdo["pattern_version"] = version[1] if version is not None else "2.1"
        if (name := b.one(f"{rule_type}-rule-name")) is not None:
            sdo["name"] = name[1]
        if (comment := b.one("comment")) is not None:
            sdo["description"] = comment[1]
        links = [
            {"source_name": "url", "url": v} for relation in ("reference", "ref") for _, v in b.all(relation)
        ]
        if links:
            sdo["external_references"] = links
        b.leftovers(sdo, None)
        b.shape.sdo = sdo

    return convert


def _as_email(text: str) -> str:
    return _kind(text, "email")


_EMAIL_ROLES = (("from", "from_ref"), ("to", "to_refs"), ("cc", "cc_refs"), ("bcc", "bcc_refs"))
_EMAIL_FIELDS = {"subject": "subject", "message-id": "message_id"}
_EMAIL_HEADERS = {"reply-to": "Reply-To", "x-mailer": "X-Mailer"}


def _email_object(b: _ObjectBuilder) -> None:
    message: dict[str, Any] = {
        "type": "email-message",
        "id": b.id_for("email-message"),
        "is_multipart": False,
    }
    scos = [message]
    for role, prop in _EMAIL_ROLES:
        names = [v for _, v in b.all(f"{role}-display-name")]
        for n, (attribute, address) in enumerate(b.all(role, _as_email)):
            if prop == "from_ref" and prop in message:
                _set_custom(message, role, address)
                continue
            sco = {"type": "email-addr", "id": b.id_for("email-addr", attribute), "value": address}
            if n < len(names):
                sco["display_name"] = names[n]
            scos.append(sco)
            if prop == "from_ref":
                message[prop] = sco["id"]
                b.compare(attribute, f"email-message:from_ref.value = {_q(address)}")
            else:
                message.setdefault(prop, []).append(sco["id"])
                b.compare(attribute, f"email-message:{prop}[{n}].value = {_q(address)}")
    for relation, prop in _EMAIL_FIELDS.items():
        if (found := b.one(relation)) is not None:
            message[prop] = found[1]
            b.compare(found[0], f"email-message:{prop} = {_q(found[1])}")
    for relation, header in _EMAIL_HEADERS.items():
        if (found := b.one(relation)) is not None:
            message.setdefault("additional_header_fields", {})[header] = found[1]
            path = f"additional_header_fields.{relation.replace('-', '_')}"
            b.compare(found[0], f"email-message:{path} = {_q(found[1])}")
    if (sent := b.one("send-date", _as_moment)) is not None:
        message["date"] = sent[1]
    for n, (attribute, name) in enumerate(b.all("attachment")):
        sco = {"type": "file", "id": b.id_for("file", attribute), "name": name}
        scos.append(sco)
        part = {"content_disposition": f"attachment; filename='{name}'", "body_raw_ref": sco["id"]}
        message.setdefault("body_multipart", []).append(part)
        message["is_multipart"] = True
        b.compare(attribute, f"email-message:body_multipart[{n}].body_raw_ref.name = {_q(name)}")
        b.compare(attribute, f"email-message:body_multipart[{n}].content_disposition = 'attachment'")
    b.leftovers(message, None)
    b.shape.scos = scos


# account objects -> user-account: (account_type or None, relation -> property)
_ACCOUNTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "facebook-account": ("facebook", {"account-id": "user_id", "account-name": "account_login"}),
    "github-user": (
        "github",
        {"id": "user_id", "user-fullname": "display_name", "username": "account_login"},
    ),
    "gitlab-user": ("gitlab", {"id": "user_id", "name": "display_name", "username": "account_login"}),
    "parler-account": ("parler", {"account-id": "user_id", "account-name": "account_login"}),
    "reddit-account": ("reddit", {"account-id": "user_id", "account-name": "account_login"}),
    "telegram-account": ("telegram", {"id": "user_id", "username": "account_login"}),
    "twitter-account": (
        "twitter",
        {"id": "user_id", "name": "account_login", "displayed-name": "display_name"},
    ),
    "user-account": (
        None,
        {
            "username": "account_login",
            "user-id": "user_id",
            "display-name": "display_name",
            "password": "credential",
            "account-type": "account_type",
        },
    ),
    "credential": (None, {"username": "user_id", "password": "credential"}),
}


def _account_object(name: str) -> Callable[[_ObjectBuilder], None]:
    account_type, fields = _ACCOUNTS[name]

    def convert(b: _ObjectBuilder) -> None:
        sco: dict[str, Any] = {"type": "user-account", "id": b.id_for("user-account")}
        if account_type is not None:
            sco["account_type"] = account_type
            b.shape.always.append(f"user-account:account_type = {_q(account_type)}")
        for relation, prop in fields.items():
            if prop not in sco and (found := b.one(relation)) is not None:
                sco[prop] = found[1]
                b.compare(found[0], f"user-account:{prop} = {_q(found[1])}")
        b.leftovers(sco, "user-account")
        b.shape.scos = [sco]

    return convert


def _fields_object(
    sco_type: str, fields: dict[str, str], hashes: bool = False
) -> Callable[[_ObjectBuilder], None]:
    """Objects whose one SCO takes properties straight from relations (directory, artifact)."""

    def convert(b: _ObjectBuilder) -> None:
        sco: dict[str, Any] = {"type": sco_type, "id": b.id_for(sco_type)}
        for relation in _HASHES if hashes else ():
            if (found := b.one(relation, _hash_check(relation))) is not None:
                name, digest = found[1]
                sco.setdefault("hashes", {})[name] = digest
                b.compare(found[0], f"{sco_type}:hashes.{_path(name)} = {_q(digest)}")
        for relation, prop in fields.items():
            check = _as_moment if prop.endswith("time") else None
            if (found := b.one(relation, check)) is not None:
                sco[prop] = found[1]
                b.compare(found[0], f"{sco_type}:{prop} = {_q(found[1])}")
        if (payload := b.one("payload_bin")) is not None and isinstance(payload[0].get("data"), str):
            sco["payload_bin"] = payload[0]["data"]
        if len(sco) == 2:
            raise _BadValue(f"a {b.object.get('name')} object has no usable attribute", "value")
        b.leftovers(sco, sco_type)
        b.shape.scos = [sco]

    return convert


_DIRECTORY = {
    "path": "path",
    "path-encoding": "path_enc",
    "creation-time": "ctime",
    "modification-time": "mtime",
    "access-time": "atime",
}
_ARTIFACT = {
    "mime_type": "mime_type",
    "encryption_algorithm": "encryption_algorithm",
    "decryption_key": "decryption_key",
    "url": "url",
}
_REGISTRY_VALUE = {"name": "values[0].name", "data": "values[0].data", "data-type": "values[0].data_type"}


def _registry_value_object(b: _ObjectBuilder) -> None:
    sco: dict[str, Any] = {"type": "windows-registry-key", "id": b.id_for("windows-registry-key")}
    value: dict[str, str] = {}
    for relation, path in _REGISTRY_VALUE.items():
        if (found := b.one(relation)) is not None:
            value[path.rpartition(".")[2]] = found[1]
            b.compare(found[0], f"windows-registry-key:{path} = {_q(found[1])}")
    if not value:
        raise _BadValue("a registry-key-value object needs a name or data", "name")
    sco["values"] = [value]
    b.leftovers(sco, "windows-registry-key")
    b.shape.scos = [sco]


_INTRUSION_SET = {
    "description": "description",
    "resource_level": "resource_level",
    "primary-motivation": "primary_motivation",
    "first_seen": "first_seen",
    "last_seen": "last_seen",
}
_INTRUSION_SET_LISTS = {
    "aliases": "aliases",
    "goals": "goals",
    "secondary-motivation": "secondary_motivations",
}


_OBJECTS: dict[str, Callable[[_ObjectBuilder], None]] = {
    "email": _email_object,
    "network-socket": _network_connection_object,
    "directory": _fields_object("directory", _DIRECTORY),
    "artifact": _fields_object("artifact", _ARTIFACT, hashes=True),
    "registry-key-value": _registry_value_object,
    "intrusion-set": _sdo_object("intrusion-set", "name", _INTRUSION_SET, _INTRUSION_SET_LISTS),
    **{name: _account_object(name) for name in _ACCOUNTS},
    "domain-ip": _domain_ip_object,
    "ip-port": _ip_port_object,
    "network-connection": _network_connection_object,
    "url": _single_sco_object("url", "url", "value", _as_url),
    "asn": _single_sco_object("autonomous-system", "asn", "number", _as_asn),
    "mutex": _single_sco_object("mutex", "name", "name"),
    "registry-key": _single_sco_object("windows-registry-key", "key", "key"),
    "x509": _x509_object,
    "file": _file_object,
    "vulnerability": _sdo_object(
        "vulnerability", "id", {"description": "description", "summary": "description"}
    ),
    "attack-pattern": _sdo_object("attack-pattern", "name", {"summary": "description"}),
    "course-of-action": _sdo_object("course-of-action", "name", {"description": "description"}),
    "geolocation": _geolocation_object,
    "yara": _rule_object("yara"),
    "sigma": _rule_object("sigma"),
    "suricata": _rule_object("suricata"),
}


# ----------------------------------------------------------------------------------------- the run


class _Run:
    """State of one import: options, the output position, shared objects already emitted."""

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.position = 0
        self.shared: set[str] = set()


@dataclass
class _Level:
    """A thing's TLP inputs: its tag level and its distribution level (None: not given)."""

    tag: TLP | None
    distribution: TLP | None

    def child(self, tags: TLP | None, distribution: Any) -> _Level:
        text = _text(distribution)
        level = (
            self.distribution
            if text is None or text.strip() == _INHERIT
            else DISTRIBUTION_TLP.get(text.strip())
        )
        return _Level(tags if tags is not None else self.tag, level)

    def resolve(self, default: TLP | None) -> TLP | None:
        return strictest([lv for lv in (self.tag, self.distribution) if lv is not None]) or default


class _Event:
    """One MISP event's conversion: collects its objects, then emits them with the report first."""

    def __init__(self, run: _Run, event: dict[str, Any], position: int) -> None:
        self.run = run
        self.ns = run.options.namespace
        self.misp = event
        self.objects: list[dict[str, Any]] = []
        self.refs: list[str] = []
        self.skipped: list[Skipped] = []
        raw_uuid = _text(event.get("uuid"))
        self.key = raw_uuid.strip() if raw_uuid and raw_uuid.strip() else self._content_key(event)
        self.label = raw_uuid.strip() if raw_uuid and raw_uuid.strip() else f"#{position}"
        self.timestamp = (
            _epoch_us(event.get("timestamp"))
            or _epoch_us(event.get("publish_timestamp"))
            or _iso_us(event.get("date"))
            or run.options.observed_us
        )
        tag_level, self.event_labels = _split_tags(_tag_names(event))
        self.level = _Level(None, None).child(tag_level, event.get("distribution"))
        self.event_tlp = self.level.resolve(run.options.tlp)
        self.creator = self._creator()

    @staticmethod
    def _content_key(event: dict[str, Any]) -> str:
        digest = hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
        return f"misp-event-content:{digest}"

    def id(self, stix_type: str, key: str) -> str:
        return misp_id(stix_type, key, self.ns)

    @staticmethod
    def keyed(item: dict[str, Any], fallback: str) -> dict[str, Any]:
        """A copy whose `uuid` is usable as a key (MISP's, or `fallback` for drafts without one)."""
        raw = _text(item.get("uuid"))
        return {**item, "uuid": raw.strip() if raw and raw.strip() else fallback}

    def skip(self, reason: str, field: str = "value", **where: str) -> None:
        self.skipped.append(Skipped(where={"event": self.label, **where, "field": field}, reason=reason))

    # -- common properties -------------------------------------------------------------------

    def _creator(self) -> str | None:
        for key in ("Orgc", "Org"):
            org = self.misp.get(key)
            if not isinstance(org, dict):
                continue
            name = _text(org.get("name"))
            org_uuid = _text(org.get("uuid"))
            if not name and not org_uuid:
                continue
            identity_key = org_uuid.strip() if org_uuid and org_uuid.strip() else f"misp-org-name:{name}"
            return self.identity(identity_key, name or identity_key, self.timestamp, self.event_tlp)
        return None

    def identity(self, key: str, name: str, when_us: int, level: TLP | None) -> str:
        identity_id = self.id("identity", key)
        if identity_id not in self.run.shared:
            self.run.shared.add(identity_id)
            stamp = format_micros(when_us)
            obj = {
                "type": "identity",
                "spec_version": "2.1",
                "id": identity_id,
                "created": stamp,
                "modified": stamp,
                "name": name,
                "identity_class": "organization",
            }
            self.emit(self.marked(obj, level), in_report=False)
        return identity_id

    def sdo(self, stix_type: str, sdo_id: str, when_us: int, labels: list[str]) -> dict[str, Any]:
        stamp = format_micros(when_us)
        obj: dict[str, Any] = {"type": stix_type, "spec_version": "2.1", "id": sdo_id}
        if self.creator is not None:
            obj["created_by_ref"] = self.creator
        obj["created"] = obj["modified"] = stamp
        if labels:
            obj["labels"] = list(dict.fromkeys(labels))
        return obj

    @staticmethod
    def marked(obj: dict[str, Any], level: TLP | None) -> dict[str, Any]:
        if level is not None:
            obj["object_marking_refs"] = [EMIT_ID[level]]
        return obj

    def emit(self, obj: dict[str, Any], in_report: bool = True) -> None:
        self.objects.append(obj)
        if in_report and obj["id"] not in self.refs:
            self.refs.append(obj["id"])

    def relationship(self, source: str, kind: str, target: str, when_us: int, level: TLP | None) -> None:
        stamp = format_micros(when_us)
        obj = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": stable_id("relationship", self.ns, f"{source}|{kind}|{target}"),
            "created": stamp,
            "modified": stamp,
            "relationship_type": kind,
            "source_ref": source,
            "target_ref": target,
        }
        self.emit(self.marked(obj, level))

    # -- the event ---------------------------------------------------------------------------

    def convert(self) -> Iterator[Item]:
        galaxy_tags = self.galaxies(self.misp.get("Galaxy"), None, self.timestamp, self.event_tlp, {})
        for n, attribute in enumerate(self.misp.get("Attribute") or ()):
            if isinstance(attribute, dict):
                self.attribute(self.keyed(attribute, f"{self.key}/attribute#{n}"))
        for n, misp_object in enumerate(self.misp.get("Object") or ()):
            if isinstance(misp_object, dict):
                self.misp_object(self.keyed(misp_object, f"{self.key}/object#{n}"))
        if self.misp.get("EventReport"):
            self.skip("MISP event reports are not converted", field="EventReport")
        report = self.report([t for t in self.event_labels if t not in galaxy_tags])
        identities = [o for o in self.objects if o["type"] == "identity"]
        rest = [o for o in self.objects if o["type"] != "identity"]
        for obj in (*identities, report, *rest):
            yield as_parsed(self.run.position, obj)
            self.run.position += 1
        yield from self.skipped

    def report(self, tags: list[str]) -> dict[str, Any]:
        published = (
            _epoch_us(self.misp.get("publish_timestamp")) if _flag(self.misp.get("published")) else None
        )
        stix_type = "report" if published else "grouping"
        report_id = self.id(stix_type, self.key)
        info = _text(self.misp.get("info"))
        report = self.sdo(stix_type, report_id, self.timestamp, [*_REPORT_LABELS, *tags])
        report["name"] = info if info and info.strip() else f"MISP event {self.label}"
        if published:
            report["published"] = format_micros(published)
        else:
            report["context"] = "suspicious-activity"
        if not self.refs:
            note = self.sdo("note", self.id("note", self.key), self.timestamp, [])
            note.update(content=_EMPTY_EVENT, object_refs=[report_id])
            self.emit(self.marked(note, self.event_tlp))
        report["object_refs"] = list(self.refs)
        return self.marked(report, self.event_tlp)

    # -- galaxies ----------------------------------------------------------------------------

    def galaxies(
        self, galaxies: Any, source: str | None, when_us: int, level: TLP | None, where: dict[str, str]
    ) -> set[str]:
        """Convert clusters (related to `source` when given); the tag names of converted clusters."""
        converted: set[str] = set()
        for galaxy in galaxies or ():
            if not isinstance(galaxy, dict):
                continue
            galaxy_type = _text(galaxy.get("type")) or ""
            for cluster in galaxy.get("GalaxyCluster") or ():
                if not isinstance(cluster, dict):
                    continue
                cluster_type = _text(cluster.get("type")) or galaxy_type
                stix_type = _GALAXY_TYPES.get(cluster_type) or _GALAXY_TYPES.get(galaxy_type)
                value = _text(cluster.get("value")) or ""
                if stix_type is None or not value.strip():
                    why = "has no value" if stix_type else f"galaxy type {cluster_type!r} is not converted"
                    self.skip(f"galaxy cluster {value!r}: {why}", field="Galaxy", **where)
                    continue
                target = self.cluster(galaxy, cluster, cluster_type, stix_type, value, when_us, level, where)
                if target is None:
                    continue
                converted.add(f'misp-galaxy:{cluster_type}="{value}"')
                if isinstance(cluster.get("tag_name"), str):
                    converted.add(cluster["tag_name"])
                if source is not None:
                    source_type = source.split("--", 1)[0]
                    kind = (
                        "indicates"
                        if source_type == "indicator" and stix_type in _INDICATES
                        else "related-to"
                    )
                    self.relationship(source, kind, target, when_us, level)
                elif target not in self.refs:
                    self.refs.append(target)
        return converted

    def cluster(
        self,
        galaxy: dict[str, Any],
        cluster: dict[str, Any],
        cluster_type: str,
        stix_type: str,
        value: str,
        when_us: int,
        level: TLP | None,
        where: dict[str, str],
    ) -> str | None:
        cluster_uuid = _text(cluster.get("uuid"))
        key = (
            cluster_uuid.strip()
            if cluster_uuid and cluster_uuid.strip()
            else f"misp-cluster:{cluster_type}:{value}"
        )
        target = self.id(stix_type, key)
        if target in self.run.shared:
            return target
        galaxy_name = _text(galaxy.get("name")) or cluster_type
        labels = [f'misp:galaxy-name="{galaxy_name}"', f'misp:galaxy-type="{cluster_type}"']
        if isinstance(cluster.get("tag_name"), str):
            labels.append(cluster["tag_name"])
        obj = self.sdo(stix_type, target, when_us, labels)
        obj.pop("created_by_ref", None)  # misp-stix: galaxies are shared knowledge, not the event's
        name = (
            value.split(" - ")[0].strip() if cluster_type.startswith("mitre-") and " - " in value else value
        )
        obj["name"] = name
        description = _text(cluster.get("description"))
        galaxy_description = _text(galaxy.get("description"))
        if description:
            obj["description"] = description
        meta: dict[str, Any] = cluster["meta"] if isinstance(cluster.get("meta"), dict) else {}
        try:
            self.cluster_meta(obj, stix_type, name, meta)
            if stix_type == "location":
                self.location_cluster(obj, cluster_type, value, galaxy_description, meta)
            elif stix_type == "identity":
                obj["identity_class"] = "class"
                obj["description"] = description or galaxy_description or name
        except _BadValue as bad:
            self.skip(f"galaxy cluster {value!r}: {bad.reason}", field="Galaxy", **where)
            return None
        if stix_type == "malware":
            obj.setdefault("is_family", False)
        self.run.shared.add(target)
        self.emit(self.marked(obj, level), in_report=False)
        return target

    @staticmethod
    def location_cluster(
        obj: dict[str, Any],
        cluster_type: str,
        value: str,
        galaxy_description: str | None,
        meta: dict[str, Any],
    ) -> None:
        if cluster_type == "country":
            iso = meta.get("ISO")
            if isinstance(iso, list):
                iso = iso[0] if iso else None
            if not isinstance(iso, str) or not iso.strip():
                raise _BadValue("a country cluster needs its ISO code (meta ISO)")
            obj["country"] = iso.strip()
            obj["name"] = obj.pop("description", None) or value
            obj["description"] = f"{galaxy_description} | {value}" if galaxy_description else value
        elif cluster_type == "region":
            name = value.split(" - ", 1)[-1].strip()
            obj["name"] = name
            obj["region"] = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            detail = obj.get("description", value)
            obj["description"] = f"{galaxy_description} | {detail}" if galaxy_description else detail
        if not any(k in obj for k in ("region", "country", "latitude")):
            raise _BadValue("a location needs a region or a country")

    @staticmethod
    def cluster_meta(obj: dict[str, Any], stix_type: str, name: str, meta: dict[str, Any]) -> None:
        allowed = _META_FIELDS.get(stix_type, {})
        references: list[dict[str, str]] = []
        for key, raw in meta.items():
            values = raw if isinstance(raw, list) else [raw]
            strings = [v for v in values if isinstance(v, str) and v.strip()]
            if key == "external_id":
                references += [_external_ref(v) for v in strings]
            elif key == "refs":
                references += [{"source_name": "url", "url": v} for v in strings]
            elif key == "aliases" and stix_type == "vulnerability":
                references += [_external_ref(v) for v in strings]
            elif key == "synonyms" and stix_type in _HAS_ALIASES:
                aliases = [v for v in strings if v != name]
                if aliases:
                    obj["aliases"] = aliases
            elif key == "kill_chain" and stix_type in _HAS_KILL_CHAIN:
                phases = []
                for v in strings:
                    chain, _, phase = v.rpartition(":")
                    if chain and phase:
                        phases.append({"kill_chain_name": chain.split(":")[0], "phase_name": phase})
                if phases:
                    obj["kill_chain_phases"] = phases
            elif key in allowed:
                if key in ("first_seen", "last_seen"):
                    moment = _iso_us(values[0]) if values else None
                    if moment is not None:
                        obj[key] = format_micros(moment)
                elif key == "is_family":
                    obj[key] = _flag(values[0]) is True if values else False
                elif strings:
                    obj[key] = strings if allowed[key] else strings[0]
            else:
                _set_custom(obj, key, raw)
        if references:
            obj["external_references"] = references
        if "first_seen" in obj and "last_seen" in obj and obj["last_seen"] < obj["first_seen"]:
            del obj["last_seen"]

    # -- attributes ---------------------------------------------------------------------------

    def attribute(self, attribute: dict[str, Any]) -> None:
        key = attribute["uuid"]
        where = {"attribute": key}
        misp_type = _text(attribute.get("type")) or ""
        if _flag(attribute.get("deleted")):
            self.skip("the attribute is deleted in MISP", field="deleted", **where)
            return
        value = _text(attribute.get("value"))
        if value is None or not value.strip():
            self.skip("the attribute has no value", **where)
            return
        value = value.strip()
        when = _epoch_us(attribute.get("timestamp")) or self.timestamp
        tag_level, tags = _split_tags(_tag_names(attribute))
        level = self.level.child(tag_level, attribute.get("distribution")).resolve(self.run.options.tlp)
        labels = [f'misp:{k}="{attribute[k]}"' for k in ("type", "category") if _text(attribute.get(k))]
        to_ids = _to_ids(attribute)
        try:
            converter = _OBSERVABLES.get(misp_type)
            if converter is not None:
                observation = converter(value, {**attribute, "type": misp_type}, lambda t: self.id(t, key))
                ids = self.observation(attribute, observation, key, when, level, labels, tags, to_ids)
            elif misp_type in _PATTERN_ONLY or misp_type in _RULE_TYPES:
                if not to_ids:
                    raise _BadValue(f"a {misp_type} attribute without to_ids is not converted", "to_ids")
                ids = self.standalone_indicator(attribute, misp_type, value, key, when, level, labels + tags)
            elif misp_type in ("vulnerability", "campaign-name"):
                ids = self.attribute_sdo(attribute, misp_type, value, key, when, level, labels + tags)
            else:
                raise _BadValue(f"MISP attribute type {misp_type!r} is not converted", "type")
        except _BadValue as bad:
            self.skip(bad.reason, field=bad.field, **where)
            return
        galaxy_tags = self.galaxies(attribute.get("Galaxy"), ids[-1], when, level, where)
        if galaxy_tags:
            for obj in self.objects:
                if obj["id"] in ids and "labels" in obj:
                    obj["labels"] = [t for t in obj["labels"] if t not in galaxy_tags]
        self.sightings(attribute.get("Sighting"), ids, key, when, level, where)

    def observation(
        self,
        holder: dict[str, Any],
        observation: _Observation | _ObjectShape,
        key: str,
        when: int,
        level: TLP | None,
        labels: list[str],
        tags: list[str],
        to_ids: bool,
        comparisons: list[str] | None = None,
        phase: str | None = None,
    ) -> list[str]:
        """observed-data + SCOs (+ indicator and based-on); the ids, main (indicator) last."""
        first = _iso_us(holder.get("first_seen")) or when
        last = max(_iso_us(holder.get("last_seen")) or when, first)
        observed = self.sdo("observed-data", self.id("observed-data", key), when, labels + tags)
        observed.update(
            first_observed=format_micros(first), last_observed=format_micros(last), number_observed=1
        )
        observed["object_refs"] = [sco["id"] for sco in observation.scos]
        self.emit(self.marked(observed, level))
        for sco in observation.scos:
            self.emit(self.marked({"type": sco["type"], "spec_version": "2.1", **sco}, level))
        if comparisons is None:
            comparisons = observation.comparisons if isinstance(observation, _Observation) else []
        if not to_ids or not comparisons:
            return [observed["id"]]
        pattern = f"[{' AND '.join(comparisons)}]"
        indicator = self.indicator(holder, key, pattern, "stix", when, level, labels + tags, phase)
        self.relationship(indicator["id"], "based-on", observed["id"], when, level)
        return [observed["id"], indicator["id"]]

    def indicator(
        self,
        holder: dict[str, Any],
        key: str,
        pattern: str,
        pattern_type: str,
        when: int,
        level: TLP | None,
        labels: list[str],
        category: str | None = None,
    ) -> dict[str, Any]:
        indicator = self.sdo("indicator", self.id("indicator", key), when, labels)
        comment = _text(holder.get("comment"))
        if comment and comment.strip():
            indicator["description"] = comment
        first = _iso_us(holder.get("first_seen")) or when
        last = _iso_us(holder.get("last_seen"))
        indicator.update(
            pattern=pattern, pattern_type=pattern_type, pattern_version="2.1", valid_from=format_micros(first)
        )
        if last is not None and last > first:
            indicator["valid_until"] = format_micros(last)
        phase = category or _text(holder.get("category"))
        if phase:
            indicator["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": phase}]
        self.emit(self.marked(indicator, level))
        return indicator

    def standalone_indicator(
        self,
        attribute: dict[str, Any],
        misp_type: str,
        value: str,
        key: str,
        when: int,
        level: TLP | None,
        labels: list[str],
    ) -> list[str]:
        if misp_type in _RULE_TYPES:
            indicator = self.indicator(attribute, key, value, misp_type, when, level, labels)
        else:
            pattern = f"[{_PATTERN_ONLY[misp_type](value)}]"
            indicator = self.indicator(attribute, key, pattern, "stix", when, level, labels)
        return [indicator["id"]]

    def attribute_sdo(
        self,
        attribute: dict[str, Any],
        misp_type: str,
        value: str,
        key: str,
        when: int,
        level: TLP | None,
        labels: list[str],
    ) -> list[str]:
        stix_type = "vulnerability" if misp_type == "vulnerability" else "campaign"
        obj = self.sdo(stix_type, self.id(stix_type, key), when, labels)
        obj["name"] = value
        if stix_type == "vulnerability":
            source = "cve" if value.upper().startswith("CVE") else "vulnerability"
            obj["external_references"] = [{"source_name": source, "external_id": value}]
        comment = _text(attribute.get("comment"))
        if comment and comment.strip():
            obj["description"] = comment
        self.emit(self.marked(obj, level))
        return [obj["id"]]

    # -- sightings ----------------------------------------------------------------------------

    def sightings(
        self, sightings: Any, ids: list[str], key: str, when: int, level: TLP | None, where: dict[str, str]
    ) -> None:
        target = ids[-1]
        observed = [i for i in ids if i.startswith("observed-data--") and i != target]
        for n, sighting in enumerate(sightings or ()):
            if not isinstance(sighting, dict):
                continue
            kind = _text(sighting.get("type")) or "0"
            raw_uuid = _text(sighting.get("uuid"))
            sighting_key = raw_uuid.strip() if raw_uuid and raw_uuid.strip() else f"{key}/sighting#{n}"
            seen = _epoch_us(sighting.get("date_sighting")) or when
            stamp = format_micros(seen)
            org: dict[str, Any] = (
                sighting["Organisation"] if isinstance(sighting.get("Organisation"), dict) else {}
            )
            org_name = _text(org.get("name"))
            org_uuid = _text(org.get("uuid"))
            if kind == "0":
                obj: dict[str, Any] = {
                    "type": "sighting",
                    "spec_version": "2.1",
                    "id": self.id("sighting", sighting_key),
                    "created": stamp,
                    "modified": stamp,
                    "first_seen": stamp,
                    "last_seen": stamp,
                    "count": 1,
                    "sighting_of_ref": target,
                }
                if observed:
                    obj["observed_data_refs"] = observed
                if org_name or org_uuid:
                    org_key = (
                        org_uuid.strip() if org_uuid and org_uuid.strip() else f"misp-org-name:{org_name}"
                    )
                    obj["where_sighted_refs"] = [self.identity(org_key, org_name or org_key, seen, level)]
                source = _text(sighting.get("source"))
                if source and source.strip():
                    obj["description"] = source
                self.emit(self.marked(obj, level))
            elif kind == "1":
                opinion = {
                    "type": "opinion",
                    "spec_version": "2.1",
                    "id": self.id("opinion", sighting_key),
                    "created": stamp,
                    "modified": stamp,
                    "opinion": "strongly-disagree",
                    "explanation": "False positive Sighting",
                    "object_refs": list(ids),
                }
                if org_name:
                    opinion["authors"] = [org_name]
                self.emit(self.marked(opinion, level))
            else:
                self.skip(f"sighting type {kind!r} (expiration) is not converted", field="Sighting", **where)

    # -- MISP objects --------------------------------------------------------------------------

    def misp_object(self, misp_object: dict[str, Any]) -> None:
        object_key = misp_object["uuid"]
        where = {"object": object_key}
        name = _text(misp_object.get("name")) or ""
        if _flag(misp_object.get("deleted")):
            self.skip("the object is deleted in MISP", field="deleted", **where)
            return
        converter = _OBJECTS.get(name)
        if converter is None:
            self.skip(f"MISP object {name!r} is not converted", field="name", **where)
            return
        attributes = []
        for n, raw in enumerate(misp_object.get("Attribute") or ()):
            if not isinstance(raw, dict):
                continue
            attribute = self.keyed(raw, f"{object_key}/attribute#{n}")
            if _flag(attribute.get("deleted")):
                self.skip(
                    "the attribute is deleted in MISP",
                    field="deleted",
                    object=object_key,
                    attribute=attribute["uuid"],
                )
                continue
            attributes.append(attribute)
        builder = _ObjectBuilder(self, misp_object, attributes)
        try:
            converter(builder)
        except _BadValue as bad:
            self.skip(bad.reason, field=bad.field, **where)
            return
        when = _epoch_us(misp_object.get("timestamp")) or self.timestamp
        tag_names = [*_tag_names(misp_object), *(t for a in attributes for t in _tag_names(a))]
        tag_level, tags = _split_tags(dict.fromkeys(tag_names))
        object_level = self.level.child(tag_level, misp_object.get("distribution"))
        levels = [object_level.resolve(None)]
        levels += [object_level.child(None, a.get("distribution")).resolve(None) for a in attributes]
        level = strictest([lv for lv in levels if lv is not None]) or self.run.options.tlp
        meta_category = _text(misp_object.get("meta-category")) or "misc"
        labels = [f'misp:name="{name}"', f'misp:meta-category="{meta_category}"']
        shape = builder.shape
        if shape.sdo is not None:
            ids = [self.object_sdo(misp_object, shape.sdo, when, level, labels + tags)]
        else:
            comparisons = [text for attribute, text in shape.comparisons if _to_ids(attribute)]
            comparisons = [*shape.always, *comparisons] if comparisons else []
            ids = self.observation(
                misp_object,
                shape,
                object_key,
                when,
                level,
                labels,
                tags,
                bool(comparisons),
                comparisons=comparisons,
                phase=meta_category,
            )
        galaxies = [g for a in attributes for g in (a.get("Galaxy") or ())]
        galaxy_tags = self.galaxies(galaxies, ids[-1], when, level, where)
        if galaxy_tags:
            for obj in self.objects:
                if obj["id"] in ids and "labels" in obj:
                    obj["labels"] = [t for t in obj["labels"] if t not in galaxy_tags]
        sightings = [s for a in attributes for s in (a.get("Sighting") or ())]
        self.sightings(sightings, ids, object_key, when, level, where)

    def object_sdo(
        self,
        misp_object: dict[str, Any],
        sdo: dict[str, Any],
        when: int,
        level: TLP | None,
        labels: list[str],
    ) -> str:
        common = self.sdo(sdo["type"], sdo["id"], when, labels)
        if sdo["type"] == "indicator":
            common["valid_from"] = format_micros(when)
            meta = _text(misp_object.get("meta-category")) or "misc"
            common["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": meta}]
        obj = {**common, **{k: v for k, v in sdo.items() if k not in common}}
        self.emit(self.marked(obj, level))
        return str(obj["id"])
