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
MISP distribution level both give a level; when both apply, the stricter wins (`TLP.rank`). What
applies to an attribute: its own and its event's (and object's) tags and distributions, since MISP
never shares an attribute further than its event; its distribution 5 ("inherit") adds nothing of
its own. Distribution levels:

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
  scoped to the importing organisation like every importer's ids. SCO ids also name the MISP
  timestamp and TLP level (`sco_version`): the store keeps no versions of SCOs, so a corrected
  value or a re-marked event gives new SCOs instead of a conflict. Relationship ids are
  `stable_id` over (source, type, target) (misp-stix draws random ones).
- Values of observable types are normalised (`accord.intel.observables.normalise`) in SCOs and
  patterns; a value that does not normalise, an unconverted type or object, a deleted attribute, an
  unconverted galaxy is a `Skipped` naming event, attribute/object and field; the import goes on.
- Unconverted types become no `x-misp-attribute`/`x-misp-object` custom objects (Skipped instead).
- SHA-512/224 and SHA-512/256 keep their own hash names (misp-stix files them as SHA-224/SHA-256).
- Rule patterns (snort, yara...) are the rule text, not wrapped in `[...]`; registry data is
  quoted by the STIX rules only (misp-stix also escapes `%`).
- Galaxies of an attribute relate from its indicator (misp-stix: from the observed-data), so a
  matched indicator leads straight to the malware or actor it `indicates`.
- Objects referencing others (file + pe/pe-section, registry-key + registry-key-value) are not
  merged; pe, pe-section and object types not listed above are Skipped.
- Shared objects (organisation identities, galaxy SDOs) are emitted once per import, so one
  submission never holds two versions of them that differ only by the event they came with.
- `modified` is MISP's timestamp plus 1-5 microseconds by TLP level (`_mark`), so the same thing
  marked differently (a re-released event, an organisation seen at two levels) is a new version
  rather than a conflict.
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
from accord.intel.validate import SCO_TYPES

__all__ = ["DISTRIBUTION_TLP", "misp_id", "read", "sco_version"]

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
_Obj = dict[str, Any]


def _words(*texts: str) -> list[str]:
    return [word for text in texts for word in text.split()]


# MISP's `to_ids` default per type (pymisp describeTypes `sane_defaults`), for the converted types.
_TO_IDS_BY_DEFAULT = frozenset(
    _words("""md5 sha1 sha224 sha256 sha384 sha512 sha512/224 sha512/256 sha3-224 sha3-256 sha3-384
    sha3-512 ssdeep imphash tlsh authentihash vhash pehash telfhash filename ip-src ip-dst ip-src|port
    ip-dst|port hostname hostname|port domain domain|ip email email-src email-dst email-attachment url uri
    regkey regkey|value malware-sample mutex snort suricata yara sigma x509-fingerprint-md5
    x509-fingerprint-sha1 x509-fingerprint-sha256""")
)
# Galaxy (cluster) type -> STIX type, as misp-stix maps them.
_GALAXY_TYPES: dict[str, str] = {
    galaxy: stix_type
    for stix_type, galaxies in {
        "attack-pattern": """mitre-attack-pattern mitre-enterprise-attack-attack-pattern
            mitre-mobile-attack-attack-pattern mitre-pre-attack-attack-pattern""",
        "course-of-action": """mitre-course-of-action mitre-enterprise-attack-course-of-action
            mitre-mobile-attack-course-of-action""",
        "intrusion-set": """mitre-intrusion-set mitre-enterprise-attack-intrusion-set
            mitre-mobile-attack-intrusion-set mitre-pre-attack-intrusion-set""",
        "malware": """android banker stealer backdoor ransomware mitre-malware malpedia
            mitre-enterprise-attack-malware mitre-mobile-attack-malware""",
        "threat-actor": "threat-actor microsoft-activity-group",
        "tool": """botnet rat exploit-kit tds tool mitre-tool mitre-enterprise-attack-tool
            mitre-mobile-attack-tool""",
        "vulnerability": "branded-vulnerability",
        "location": "country region",
        "identity": "sector",
    }.items()
    for galaxy in _words(galaxies)
}
_GALAXY_TYPES.update(
    {
        f"stix-{version}-{name}": name
        for version in ("2.0", "2.1")
        for name in _words(
            "attack-pattern campaign course-of-action intrusion-set malware threat-actor tool",
            "vulnerability location",
        )
    }
)
_INDICATES = frozenset(_words("attack-pattern malware threat-actor tool"))
# Galaxy cluster meta fields that are STIX properties of the SDO type: (single-valued, list-valued).
_META_FIELDS: dict[str, tuple[list[str], list[str]]] = {
    "campaign": (_words("objective first_seen last_seen"), []),
    "intrusion-set": (
        _words("resource_level primary_motivation first_seen last_seen"),
        _words("goals secondary_motivations"),
    ),
    "location": (_words("country region administrative_area city"), []),
    "malware": (
        _words("is_family first_seen last_seen"),
        _words("malware_types architecture_execution_envs implementation_languages capabilities"),
    ),
    "threat-actor": (
        _words("sophistication resource_level primary_motivation first_seen last_seen"),
        _words("threat_actor_types roles goals secondary_motivations personal_motivations"),
    ),
    "tool": (["tool_version"], ["tool_types"]),
}
_HAS_ALIASES = frozenset(_words("attack-pattern campaign intrusion-set malware threat-actor tool"))
_HAS_KILL_CHAIN = frozenset(_words("attack-pattern malware tool"))
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
_RULE_TYPES = frozenset(_words("yara sigma snort suricata"))
_TIMESTAMP_SUFFIXES = tuple(
    _words(
        "created modified _time valid_from valid_until first_seen last_seen first_observed last_observed",
        "published",
    )
)
# SCO properties that hold timestamps without a timestamp-like name.
_MOMENT_PROPS = frozenset(_words("ctime mtime atime start end date validity_not_before validity_not_after"))
_PROPERTY_CHARS = re.compile(r"[^a-z0-9_]+")
_SIMPLE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX = re.compile(r"[0-9a-fA-F]+")


class _BadValue(Exception):
    """A value that cannot be converted; becomes a Skipped naming the attribute and field."""

    def __init__(self, reason: str, field: str = "value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


# ------------------------------------------------------------------------------------ public helpers


def misp_id(stix_type: str, misp_uuid: str, namespace: uuid.UUID, version: str = "") -> str:
    """The STIX id of what a MISP uuid (event, attribute, object, cluster, sighting) becomes.

    Cyber-observables also name a `version` (`sco_version`): the store keeps no versions of them,
    so an SCO whose MISP value or marking changed must be a new SCO, not a conflicting copy.
    """
    try:
        key = str(uuid.UUID(misp_uuid))
    except ValueError:
        key = misp_uuid.strip()
    return f"{stix_type}--{uuid.uuid5(namespace, f'{key}@{version}' if version else key)}"


def sco_version(timestamp_us: int, level: TLP | None) -> str:
    """What versions an attribute's or object's SCOs: its MISP timestamp (MISP moves it whenever a
    value changes) and its TLP level."""
    return f"{timestamp_us}:{level.value if level else 'none'}"


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


def _event_in(element: Any) -> _Obj | None:
    if isinstance(element, dict):
        inner = element.get("Event")
        if isinstance(inner, dict):
            return inner
        if any(key in element for key in _BARE_EVENT_KEYS):
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


def _found(c: str) -> str:
    return "end of input" if c == "" else repr(c)


def _elements(s: _Stream) -> Iterator[tuple[int, _Obj]]:
    """The events of the array whose '[' was just consumed, decoded one at a time."""
    index = 0
    if s.peek() == "]":
        s.pos += 1
        return
    while True:
        s.peek()  # skips whitespace
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
        elif c == "]":
            s.pos += 1
            return
        else:
            raise s.error(f"malformed JSON: expecting ',' or ']', found {_found(c)}", s.pos, index)


def _events(fp: BinaryIO) -> Iterator[tuple[int, _Obj] | Problem]:
    try:
        yield from _event_stream(_Stream(fp, _CHUNK))
    except InvalidInput as exc:
        where = dict(exc.where)
        if "object" in where:
            where["event"] = where.pop("object")
        yield Problem(exc.detail, where)


def _event_stream(s: _Stream) -> Iterator[tuple[int, _Obj]]:
    c = s.peek()
    if c == "":
        raise s.error('empty input: expected MISP events ({"Event": {...}} or {"response": [...]})', s.pos)
    if c == "[":
        s.pos += 1
        yield from _elements(s)
    elif c == "{":
        start = s.pos
        s.pos += 1
        top: _Obj = {}
        streamed = False
        c = s.peek()
        while c != "}":
            if c != '"':
                raise s.error(
                    f"malformed JSON: expecting a property name in double quotes, found {_found(c)}", s.pos
                )
            key, _, _ = s.value()
            s.expect(":")
            if s.peek() == "[" and key == "response" and not streamed:
                s.pos += 1
                yield from _elements(s)
                streamed = True
            else:
                top[key], _, _ = s.value()
            c = s.peek()
            if c == ",":
                s.pos += 1
                c = s.peek()
            elif c != "}":
                raise s.error(f"malformed JSON: expecting ',' or '}}', found {_found(c)}", s.pos)
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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _key(value: Any, fallback: str) -> str:
    text = _text(value)
    return text.strip() if text and text.strip() else fallback


def _epoch_us(value: Any) -> int | None:
    text = (_text(value) or "").strip()
    if not text.isdigit():
        return None
    seconds = int(text)
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
    text = str(value).strip().lower() if isinstance(value, (bool, int, str)) else None
    return True if text in ("1", "true") else False if text in ("0", "false", "") else None


def _to_ids(attribute: _Obj) -> bool:
    flag = _flag(attribute.get("to_ids"))
    return flag if flag is not None else attribute.get("type") in _TO_IDS_BY_DEFAULT


def _items(value: Any) -> list[Any]:
    """A MISP list field as a list: one element written bare (a dict) is a list of one; anything
    else that is not a list (a number, `true`, text) holds nothing usable."""
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _tag_names(holder: _Obj) -> list[str]:
    names = (tag.get("name") if isinstance(tag, dict) else tag for tag in _items(holder.get("Tag")))
    return [name for name in names if isinstance(name, str) and name.strip()]


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


def _set_custom(obj: _Obj, key: str, value: Any) -> None:
    """A custom property; names our validator would read as timestamps or references stay honest."""
    name = _property_name(key)
    if name.endswith(_TIMESTAMP_SUFFIXES):
        moment = _iso_us(value) if not isinstance(value, list) else None
        if moment is None:
            name += "_text"
        else:
            value = format_micros(moment)
    elif name.endswith(("_ref", "_refs")):
        name += "_text"
    obj[name] = value


def _mark(obj: _Obj, level: TLP | None) -> _Obj:
    """Set the TLP marking. A versioned object's `modified` also moves on by 1-5 microseconds with
    the level: MISP changes an event's distribution without touching its attributes' timestamps,
    and the store refuses a second object under one id and `modified`; this way a re-marked
    re-import, or an organisation or galaxy met in events of different levels, is a new version."""
    if level is not None:
        obj["object_marking_refs"] = [EMIT_ID[level]]
    if "modified" in obj:
        obj["modified"] = format_micros(parse_micros(obj["modified"]) + (level.rank + 1 if level else 0))
    return obj


def _sco(stix_type: str, sco_id: str, **props: Any) -> _Obj:
    return {"type": stix_type, "id": sco_id, **props}


def _kind(value: str, kind: str) -> str:
    try:
        return normalise(value, kind).value
    except InvalidInput as e:
        raise _BadValue(e.detail) from None


def _ip(value: str) -> tuple[str, str]:
    """(SCO type, normalised value) of an IP address or network."""
    try:
        return "ipv4-addr", normalise(value, "ipv4").value
    except InvalidInput as v4:
        if ":" not in value:
            raise _BadValue(v4.detail) from None
    return "ipv6-addr", _kind(value, "ipv6")


def _hash(misp_type: str, value: str) -> tuple[str, str]:
    """(STIX hash name, checked value)."""
    name, check = _HASHES[misp_type]
    text = value.strip()
    if isinstance(check, str):
        return name, _kind(text, check)
    if isinstance(check, int) and (len(text) != check or not _HEX.fullmatch(text)):
        raise _BadValue(f"{value!r} is not a valid {misp_type} hash: expected {check} hex digits")
    if not text or any(c.isspace() for c in text):
        raise _BadValue(f"{value!r} is not a valid {misp_type} hash")
    return name, text.lower() if isinstance(check, int) else text


def _hash_check(misp_type: str) -> Callable[[str], tuple[str, str]]:
    return lambda text: _hash(misp_type, text)


def _port(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise _BadValue(f"{value!r} is not a port number (0-65535)")
    return int(text)


def _number(value: str, what: str = "a number") -> int:
    digits = "".join(c for c in value if c.isdigit())
    if not digits or len(digits) > 10:
        raise _BadValue(f"{value!r} is not {what}")
    return int(digits)


def _pair(value: str, misp_type: str) -> tuple[str, str]:
    left, sep, right = value.partition("|")
    if not sep or not left.strip() or not right.strip():
        raise _BadValue(f"a {misp_type} value must be two parts joined by '|', not {value!r}")
    return left.strip(), right.strip()


def _as_domain(text: str) -> str:
    return _kind(text, "domain")


def _as_url(text: str) -> str:
    return _kind(text, "url")


def _as_email(text: str) -> str:
    return _kind(text, "email")


def _as_asn(text: str) -> int:
    return _number(text, "an autonomous system number")


def _as_moment(text: str) -> str:
    moment = _iso_us(text)
    if moment is None:
        raise _BadValue(f"{text!r} is not a date and time")
    return format_micros(moment)


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a number") from None


def _external_ref(external_id: str) -> dict[str, str]:
    for prefix, source in _EXTERNAL_ID_SOURCES:
        if external_id.upper().startswith(prefix + "-"):
            return {"source_name": source, "external_id": external_id}
    return {"source_name": "mitre-attack", "external_id": external_id}


# --------------------------------------------------------------------------------- attribute shapes


@dataclass
class _Observation:
    """SCOs (the first is the main one) and the pattern comparisons they give."""

    scos: list[_Obj]
    comparisons: list[str]


_Ids = Callable[[str], str]  # SCO type -> its id for this attribute
_Converter = Callable[[str, _Obj, _Ids], _Observation]


def _ip_attribute(side: str) -> _Converter:
    def convert(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
        ip_text, port = _pair(value, attribute["type"]) if "|" in attribute["type"] else (value, None)
        ip_type, ip = _ip(ip_text)
        traffic = _sco("network-traffic", ids("network-traffic"), **{f"{side}_ref": ids(ip_type)})
        comparisons = [
            f"network-traffic:{side}_ref.type = {_q(ip_type)}",
            f"network-traffic:{side}_ref.value = {_q(ip)}",
        ]
        if port is not None:
            traffic[f"{side}_port"] = _port(port)
            comparisons.append(f"network-traffic:{side}_port = {_q(str(traffic[f'{side}_port']))}")
        traffic["protocols"] = ["tcp"]
        return _Observation([traffic, _sco(ip_type, ids(ip_type), value=ip)], comparisons)

    return convert


def _domain_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    domain = _as_domain(value)
    return _Observation(
        [_sco("domain-name", ids("domain-name"), value=domain)], [f"domain-name:value = {_q(domain)}"]
    )


def _domain_ip_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    domain_text, ip_text = _pair(value, "domain|ip")
    domain, (ip_type, ip) = _as_domain(domain_text), _ip(ip_text)
    return _Observation(
        [
            _sco("domain-name", ids("domain-name"), value=domain, resolves_to_refs=[ids(ip_type)]),
            _sco(ip_type, ids(ip_type), value=ip),
        ],
        [f"domain-name:value = {_q(domain)}", f"domain-name:resolves_to_refs[*].value = {_q(ip)}"],
    )


def _hostname_port_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    host_text, port_text = _pair(value, "hostname|port")
    host, port = _as_domain(host_text), _port(port_text)
    traffic = _sco("network-traffic", ids("network-traffic"), dst_ref=ids("domain-name"), dst_port=port)
    return _Observation(
        [_sco("domain-name", ids("domain-name"), value=host), {**traffic, "protocols": ["tcp"]}],
        [f"domain-name:value = {_q(host)}", f"network-traffic:dst_port = {_q(str(port))}"],
    )


def _url_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    url = _as_url(value)
    return _Observation([_sco("url", ids("url"), value=url)], [f"url:value = {_q(url)}"])


def _email_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    address = _as_email(value)
    return _Observation(
        [_sco("email-addr", ids("email-addr"), value=address)], [f"email-addr:value = {_q(address)}"]
    )


def _email_party(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    address, ref = _as_email(value), ids("email-addr")
    message = _sco("email-message", ids("email-message"), is_multipart=False)
    if attribute["type"] == "email-src":
        message["from_ref"] = ref
        comparison = f"email-message:from_ref.value = {_q(address)}"
    else:
        message["to_refs"] = [ref]
        comparison = f"email-message:to_refs[*].value = {_q(address)}"
    return _Observation([message, _sco("email-addr", ref, value=address)], [comparison])


# email attribute type -> (property, pattern path, additional header name or None)
_EMAIL_FIELDS: dict[str, tuple[str, str, str | None]] = {
    "email-subject": ("subject", "subject", None),
    "email-body": ("body", "body", None),
    "email-header": ("received_lines", "received_lines", None),
    "email-message-id": ("message_id", "message_id", None),
    "email-reply-to": ("", "additional_header_fields.reply_to", "Reply-To"),
    "email-x-mailer": ("", "additional_header_fields.x_mailer", "X-Mailer"),
}


def _email_field(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    prop, path, header = _EMAIL_FIELDS[attribute["type"]]
    message = _sco("email-message", ids("email-message"), is_multipart=False)
    if header is not None:
        message["additional_header_fields"] = {header: value}
    else:
        message[prop] = [value] if prop == "received_lines" else value
    return _Observation([message], [f"email-message:{path} = {_q(value)}"])


def _email_attachment_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    part = {"content_disposition": f"attachment; filename='{value}'", "body_raw_ref": ids("file")}
    return _Observation(
        [
            _sco("email-message", ids("email-message"), is_multipart=True, body_multipart=[part]),
            _sco("file", ids("file"), name=value),
        ],
        [f"email-message:body_multipart[*].body_raw_ref.name = {_q(value)}"],
    )


def _file_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    """Hashes, filenames, `filename|<hash>` and malware-sample (`filename|md5`, a zip in `data`)."""
    misp_type = attribute["type"]
    file = _sco("file", ids("file"))
    comparisons = []
    if misp_type in _HASHES:
        name, hash_type, digest_text = None, misp_type, value
    elif "|" in misp_type or (misp_type == "malware-sample" and "|" in value):
        name, digest_text = _pair(value, misp_type)
        hash_type = misp_type.partition("|")[2] or "md5"
    else:
        name, hash_type, digest_text = value, None, None
    if name is not None:
        file["name"] = name
        comparisons.append(f"file:name = {_q(name)}")
    if hash_type is not None and digest_text is not None:
        hash_name, digest = _hash(hash_type, digest_text)
        file["hashes"] = {hash_name: digest}
        comparisons.append(f"file:hashes.{_path(hash_name)} = {_q(digest)}")
    data = attribute.get("data")
    if misp_type not in ("malware-sample", "attachment") or not isinstance(data, str) or not data:
        return _Observation([file], comparisons)
    artifact = _sco("artifact", ids("artifact"), payload_bin=data)
    if misp_type == "malware-sample":
        artifact.update(mime_type="application/zip", encryption_algorithm="mime-type-indicated")
        artifact["decryption_key"] = "infected"
    file["content_ref"] = artifact["id"]
    comparisons += [f"file:content_ref.{k} = {_q(v)}" for k, v in artifact.items() if k not in ("type", "id")]
    return _Observation([file, artifact], comparisons)


def _as_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    number = _as_asn(value)
    return _Observation(
        [_sco("autonomous-system", ids("autonomous-system"), number=number)],
        [f"autonomous-system:number = {_q(str(number))}"],
    )


def _simple_sco(sco_type: str, prop: str) -> _Converter:
    def convert(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
        return _Observation(
            [_sco(sco_type, ids(sco_type), **{prop: value})], [f"{sco_type}:{prop} = {_q(value)}"]
        )

    return convert


def _regkey_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    key, data = _pair(value, "regkey|value") if attribute["type"] == "regkey|value" else (value, None)
    sco = _sco("windows-registry-key", ids("windows-registry-key"), key=key)
    comparisons = [f"windows-registry-key:key = {_q(key)}"]
    if data is not None:
        sco["values"] = [{"data": data}]
        comparisons.append(f"windows-registry-key:values.data = {_q(data)}")
    return _Observation([sco], comparisons)


def _x509_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    name, digest = _hash(_X509_HASHES[attribute["type"]], "".join(c for c in value if c.isalnum()))
    return _Observation(
        [_sco("x509-certificate", ids("x509-certificate"), hashes={name: digest})],
        [f"x509-certificate:hashes.{_path(name)} = {_q(digest)}"],
    )


def _github_attribute(value: str, attribute: _Obj, ids: _Ids) -> _Observation:
    return _Observation(
        [_sco("user-account", ids("user-account"), account_type="github", account_login=value)],
        ["user-account:account_type = 'github'", f"user-account:account_login = {_q(value)}"],
    )


_OBSERVABLES: dict[str, _Converter] = {
    **dict.fromkeys(_words("ip-src ip-src|port"), _ip_attribute("src")),
    **dict.fromkeys(_words("ip-dst ip-dst|port"), _ip_attribute("dst")),
    **dict.fromkeys(_words("domain hostname"), _domain_attribute),
    **dict.fromkeys(_words("url uri link"), _url_attribute),
    **dict.fromkeys(_words("email-src email-dst"), _email_party),
    **dict.fromkeys(_EMAIL_FIELDS, _email_field),
    **dict.fromkeys(_words("regkey regkey|value"), _regkey_attribute),
    **dict.fromkeys(_X509_HASHES, _x509_attribute),
    **dict.fromkeys([*_HASHES, "filename", "malware-sample", "attachment"], _file_attribute),
    **{f"filename|{h}": _file_attribute for h in _HASHES if h != "telfhash"},
    "domain|ip": _domain_ip_attribute,
    "hostname|port": _hostname_port_attribute,
    "email": _email_attribute,
    "email-attachment": _email_attachment_attribute,
    "AS": _as_attribute,
    "mac-address": _simple_sco("mac-addr", "value"),
    "mutex": _simple_sco("mutex", "name"),
    "github-username": _github_attribute,
}
_REQUEST = "network-traffic:extensions.'http-request-ext'"
# Types that become an indicator only (misp-stix: a custom object when not `to_ids`).
_PATTERN_ONLY: dict[str, Callable[[str], str]] = {
    "port": lambda v: f"network-traffic:dst_port = {_q(str(_port(v)))}",
    "size-in-bytes": lambda v: f"file:size = {_q(str(_number(v, 'a size in bytes')))}",
    "http-method": lambda v: f"{_REQUEST}.request_method = {_q(v)}",
    "user-agent": lambda v: f"{_REQUEST}.request_header.'User-Agent' = {_q(v)}",
}


# ------------------------------------------------------------------------------------ MISP objects


@dataclass
class _ObjectShape:
    """What a MISP object gives: SCOs with comparisons per attribute, or one SDO / rule indicator."""

    scos: list[_Obj] = field(default_factory=list)
    comparisons: list[tuple[_Obj, str]] = field(default_factory=list)
    always: list[str] = field(default_factory=list)  # in the pattern when any attribute is
    sdo: _Obj | None = None


class _ObjectBuilder:
    """One MISP object's attributes by relation: ids, checked values (bad ones skipped), leftovers."""

    def __init__(self, event: _Event, misp_object: _Obj, attributes: list[_Obj], version: str) -> None:
        self.event = event
        self.version = version
        self.object = misp_object
        self.name = str(misp_object.get("name"))
        self.shape = _ObjectShape()
        self.by_relation: dict[str, list[_Obj]] = {}
        for attribute in attributes:
            relation = attribute.get("object_relation")
            if isinstance(relation, str) and relation:
                self.by_relation.setdefault(relation, []).append(attribute)

    def id_for(self, stix_type: str, attribute: _Obj | None = None) -> str:
        version = self.version if stix_type in SCO_TYPES else ""
        return self.event.id(stix_type, (self.object if attribute is None else attribute)["uuid"], version)

    def value(self, attribute: _Obj, check: Callable[[str], Any] | None = None) -> Any:
        """The attribute's value (checked), or None after recording it as skipped."""
        text = (_text(attribute.get("value")) or "").strip()
        try:
            if not text:
                raise _BadValue("the attribute has no value")
            return check(text) if check is not None else text
        except _BadValue as bad:
            where = {"object": self.object["uuid"], "attribute": attribute["uuid"]}
            self.event.skip(bad.reason, field=bad.field, **where)
            return None

    def one(self, relation: str, check: Callable[[str], Any] | None = None) -> tuple[_Obj, Any] | None:
        """The first attribute of `relation` whose value passes `check`, with the checked value."""
        found = self.by_relation.get(relation) or []
        while found:
            attribute = found.pop(0)
            value = self.value(attribute, check)
            if value is not None:
                return attribute, value
        return None

    def all(self, relation: str, check: Callable[[str], Any] | None = None) -> list[tuple[_Obj, Any]]:
        attributes = self.by_relation.pop(relation, [])
        return [(a, v) for a in attributes if (v := self.value(a, check)) is not None]

    def compare(self, attribute: _Obj, comparison: str) -> None:
        self.shape.comparisons.append((attribute, comparison))

    def fields(self, target: _Obj, prefix: str | None, fields: dict[str, str], check: Any = None) -> None:
        """Relations straight to properties (and pattern comparisons with `prefix`)."""
        for relation, prop in fields.items():
            moment = check is None and (prop in _MOMENT_PROPS or prop.endswith(_TIMESTAMP_SUFFIXES))
            if prop in target or (found := self.one(relation, _as_moment if moment else check)) is None:
                continue
            target[prop] = found[1]
            if prefix is not None:
                self.compare(found[0], f"{prefix}:{prop} = {_q(str(found[1]))}")

    def leftovers(self, target: _Obj, prefix: str | None) -> None:
        """Unmapped relations -> x_misp_<relation> on `target` (and into the pattern with `prefix`)."""
        for relation in list(self.by_relation):
            found = self.all(relation)
            if not found:
                continue
            values = [v for _, v in found]
            _set_custom(target, relation, values[0] if len(values) == 1 else values)
            for attribute, value in found if prefix is not None else ():
                self.compare(attribute, f"{prefix}:{_property_name(relation)} = {_q(value)}")

    def need(self, found: Any, relation: str, what: str = "") -> None:
        if not found:
            raise _BadValue(f"a {self.name} object needs {what or 'a valid ' + relation}", relation)


_ObjectConverter = Callable[[_ObjectBuilder], None]


def _ip_comparison(side: str, ip_type: str, ip: str) -> str:
    return (
        f"(network-traffic:{side}_ref.type = {_q(ip_type)} AND network-traffic:{side}_ref.value = {_q(ip)})"
    )


def _domain_ip_object(b: _ObjectBuilder) -> None:
    domains, ips = b.all("domain", _as_domain), b.all("ip", _ip)
    b.need(domains, "domain")
    ip_scos = [_sco(t, b.id_for(t, a), value=v) for a, (t, v) in ips]
    refs = {"resolves_to_refs": [sco["id"] for sco in ip_scos]} if ip_scos else {}
    domain_scos = []
    for attribute, domain in domains:
        sco_id = b.id_for("domain-name", attribute if len(domains) > 1 else None)
        domain_scos.append(_sco("domain-name", sco_id, value=domain, **refs))
        b.compare(attribute, f"domain-name:value = {_q(domain)}")
    for attribute, (_, ip) in ips:
        b.compare(attribute, f"domain-name:resolves_to_refs[*].value = {_q(ip)}")
    b.leftovers(domain_scos[0], "domain-name")
    b.shape.scos = domain_scos + ip_scos if len(domain_scos) == 1 else ip_scos + domain_scos


def _traffic_object(b: _ObjectBuilder) -> None:
    """ip-port, network-connection and network-socket -> network-traffic with its addresses."""
    traffic = _sco("network-traffic", b.id_for("network-traffic"))
    scos = [traffic]
    protocols: dict[str, None] = {}
    for relation, side in (("ip-src", "src"), ("ip-dst", "dst"), ("ip", "dst")):
        for attribute, (ip_type, ip) in b.all(relation, _ip):
            b.compare(attribute, _ip_comparison(side, ip_type, ip))
            if f"{side}_ref" in traffic:
                _set_custom(traffic, relation, ip)
                continue
            traffic[f"{side}_ref"] = b.id_for(ip_type, attribute)
            scos.append(_sco(ip_type, traffic[f"{side}_ref"], value=ip))
            if b.name == "ip-port":
                protocols[ip_type.split("-")[0]] = None
    b.need("src_ref" in traffic or "dst_ref" in traffic, "ip-dst", "a valid IP address")
    for relation in ("domain", "hostname", "hostname-dst"):
        for attribute, domain in b.all(relation, _as_domain):
            b.compare(attribute, _ip_comparison("dst", "domain-name", domain))
            _set_custom(traffic, relation, domain)
    b.fields(traffic, "network-traffic", {"src-port": "src_port", "dst-port": "dst_port"}, _port)
    b.fields(traffic, None, {"first-seen": "start", "last-seen": "end"})
    for relation in _words("layer3-protocol layer4-protocol layer7-protocol protocol"):
        protocols.update(dict.fromkeys(p.lower() for _, p in b.all(relation)))
    traffic["protocols"] = list(protocols) or ["tcp"]
    b.leftovers(traffic, None)
    b.shape.scos = scos


# object name -> (SCO type, relation -> property (the first is required), value check)
_SINGLE_SCO: dict[str, tuple[str, dict[str, str], Callable[[str], Any] | None]] = {
    "url": ("url", {"url": "value"}, _as_url),
    "asn": ("autonomous-system", {"asn": "number", "description": "name"}, _as_asn),
    "mutex": ("mutex", {"name": "name"}, None),
    "registry-key": ("windows-registry-key", {"key": "key", "last-modified": "modified_time"}, None),
    "directory": (
        "directory",
        {"path": "path", "path-encoding": "path_enc", "creation-time": "ctime", "modification-time": "mtime",
         "access-time": "atime"},
        None,
    ),
}  # fmt: skip
_REGISTRY_VALUE = {"name": "name", "data": "data", "data-type": "data_type"}


def _single_sco_object(b: _ObjectBuilder) -> None:
    """Objects whose one SCO is keyed by one relation (url, asn, mutex, registry-key, directory)."""
    sco_type, fields, check = _SINGLE_SCO[b.name]
    required, *rest = fields
    found = b.one(required, check)
    b.need(found, required)
    assert found is not None
    sco = _sco(sco_type, b.id_for(sco_type), **{fields[required]: found[1]})
    b.compare(found[0], f"{sco_type}:{fields[required]} = {_q(str(found[1]))}")
    b.fields(sco, None, {relation: fields[relation] for relation in rest})
    if sco_type == "windows-registry-key":
        _registry_values(b, sco)
    b.leftovers(sco, sco_type)
    b.shape.scos = [sco]


def _registry_values(b: _ObjectBuilder, sco: _Obj) -> None:
    value: _Obj = {}
    for relation, prop in _REGISTRY_VALUE.items():
        if (found := b.one(relation)) is not None:
            value[prop] = found[1]
            b.compare(found[0], f"windows-registry-key:values[0].{prop} = {_q(found[1])}")
    if value:
        sco["values"] = [value]


def _registry_value_object(b: _ObjectBuilder) -> None:
    sco = _sco("windows-registry-key", b.id_for("windows-registry-key"))
    _registry_values(b, sco)
    b.need("values" in sco, "name", "a name or data")
    b.leftovers(sco, "windows-registry-key")
    b.shape.scos = [sco]


_X509_FIELDS = {
    "issuer": "issuer",
    "serial-number": "serial_number",
    "signature_algorithm": "signature_algorithm",
    "subject": "subject",
    "version": "version",
    "pubkey-info-algorithm": "subject_public_key_algorithm",
    "pubkey-info-modulus": "subject_public_key_modulus",
}


def _hashes(b: _ObjectBuilder, sco: _Obj, relations: Iterable[str], kinds: dict[str, str]) -> None:
    for relation in relations:
        if (found := b.one(relation, _hash_check(kinds.get(relation, relation)))) is not None:
            name, digest = found[1]
            sco.setdefault("hashes", {})[name] = digest
            b.compare(found[0], f"{sco['type']}:hashes.{_path(name)} = {_q(digest)}")


def _x509_object(b: _ObjectBuilder) -> None:
    sco = _sco("x509-certificate", b.id_for("x509-certificate"))
    _hashes(b, sco, _X509_HASHES, _X509_HASHES)
    b.fields(sco, "x509-certificate", _X509_FIELDS)
    b.fields(sco, None, {"pubkey-info-exponent": "subject_public_key_exponent"}, _number)
    b.fields(
        sco, None, {"validity-not-before": "validity_not_before", "validity-not-after": "validity_not_after"}
    )
    b.need(len(sco) > 2, "x509-fingerprint-sha256", "a fingerprint or a certificate field")
    b.leftovers(sco, "x509-certificate")
    b.shape.scos = [sco]


_FILE_FIELDS = {"file-encoding": "name_enc", "mime-type": "mime_type"}
_FILE_TIMES = {"creation-time": "ctime", "modification-time": "mtime", "access-time": "atime"}
_ARTIFACT = {"mime_type": "mime_type", "encryption_algorithm": "encryption_algorithm",
             "decryption_key": "decryption_key", "url": "url"}  # fmt: skip


def _file_object(b: _ObjectBuilder) -> None:
    sco = _sco("file", b.id_for("file"))
    scos = [sco]
    _hashes(b, sco, _HASHES, {})
    b.fields(sco, "file", {"filename": "name"})
    b.fields(sco, None, _FILE_FIELDS)
    b.fields(sco, "file", {"size-in-bytes": "size"}, lambda t: _number(t, "a size in bytes"))
    b.fields(sco, None, _FILE_TIMES)
    if (path := b.one("path")) is not None:
        directory = _sco("directory", b.id_for("directory", path[0]), path=path[1])
        sco["parent_directory_ref"] = directory["id"]
        scos.append(directory)
        b.compare(path[0], f"file:parent_directory_ref.path = {_q(path[1])}")
    sample = b.one("malware-sample")
    data = sample[0].get("data") if sample is not None else None
    if sample is not None and isinstance(data, str) and data:
        artifact = _sco(
            "artifact", b.id_for("artifact", sample[0]), mime_type="application/zip", payload_bin=data
        )
        artifact.update(encryption_algorithm="mime-type-indicated", decryption_key="infected")
        name, _, digest = sample[1].partition("|")
        if re.fullmatch(r"[0-9a-fA-F]{32}", digest.strip()):
            artifact["hashes"] = {"MD5": digest.strip().lower()}
        artifact["x_misp_filename"] = name
        sco["content_ref"] = artifact["id"]
        scos.append(artifact)
        for prop, value in artifact.items():
            if prop not in ("type", "id"):
                member, text = ("hashes.MD5", value["MD5"]) if prop == "hashes" else (prop, value)
                b.compare(sample[0], f"file:content_ref.{member} = {_q(text)}")
    b.need("hashes" in sco or "name" in sco, "filename", "a valid hash or filename")
    b.leftovers(sco, "file")
    b.shape.scos = scos


def _artifact_object(b: _ObjectBuilder) -> None:
    sco = _sco("artifact", b.id_for("artifact"))
    _hashes(b, sco, _HASHES, {})
    b.fields(sco, None, _ARTIFACT)
    if (payload := b.one("payload_bin")) is not None and isinstance(payload[0].get("data"), str):
        sco["payload_bin"] = payload[0]["data"]
    b.need(len(sco) > 2, "payload_bin", "a hash, payload or URL")
    b.leftovers(sco, "artifact")
    b.shape.scos = [sco]


_EMAIL_ROLES = (("from", "from_ref"), ("to", "to_refs"), ("cc", "cc_refs"), ("bcc", "bcc_refs"))
_EMAIL_HEADERS = {"reply-to": "Reply-To", "x-mailer": "X-Mailer"}


def _email_object(b: _ObjectBuilder) -> None:
    message = _sco("email-message", b.id_for("email-message"), is_multipart=False)
    scos = [message]
    for role, prop in _EMAIL_ROLES:
        names = [v for _, v in b.all(f"{role}-display-name")]
        for n, (attribute, address) in enumerate(b.all(role, _as_email)):
            if prop == "from_ref" and prop in message:
                _set_custom(message, role, address)
                continue
            sco = _sco("email-addr", b.id_for("email-addr", attribute), value=address)
            if n < len(names):
                sco["display_name"] = names[n]
            scos.append(sco)
            if prop == "from_ref":
                message[prop] = sco["id"]
                b.compare(attribute, f"email-message:from_ref.value = {_q(address)}")
            else:
                message.setdefault(prop, []).append(sco["id"])
                b.compare(attribute, f"email-message:{prop}[{n}].value = {_q(address)}")
    b.fields(message, "email-message", {"subject": "subject", "message-id": "message_id"})
    for relation, header in _EMAIL_HEADERS.items():
        if (found := b.one(relation)) is not None:
            message.setdefault("additional_header_fields", {})[header] = found[1]
            path = f"additional_header_fields.{relation.replace('-', '_')}"
            b.compare(found[0], f"email-message:{path} = {_q(found[1])}")
    b.fields(message, None, {"send-date": "date"}, _as_moment)
    for n, (attribute, name) in enumerate(b.all("attachment")):
        scos.append(_sco("file", b.id_for("file", attribute), name=name))
        part = {"content_disposition": f"attachment; filename='{name}'", "body_raw_ref": scos[-1]["id"]}
        message.setdefault("body_multipart", []).append(part)
        message["is_multipart"] = True
        b.compare(attribute, f"email-message:body_multipart[{n}].body_raw_ref.name = {_q(name)}")
        b.compare(attribute, f"email-message:body_multipart[{n}].content_disposition = 'attachment'")
    b.leftovers(message, None)
    b.shape.scos = scos


# account objects -> user-account: (account_type or None, relation -> property)
_ACCOUNTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "facebook-account": ("facebook", {"account-id": "user_id", "account-name": "account_login"}),
    "github-user": ("github", {"id": "user_id", "user-fullname": "display_name",
                               "username": "account_login"}),
    "gitlab-user": ("gitlab", {"id": "user_id", "name": "display_name", "username": "account_login"}),
    "parler-account": ("parler", {"account-id": "user_id", "account-name": "account_login"}),
    "reddit-account": ("reddit", {"account-id": "user_id", "account-name": "account_login"}),
    "telegram-account": ("telegram", {"id": "user_id", "username": "account_login"}),
    "twitter-account": ("twitter", {"id": "user_id", "name": "account_login",
                                    "displayed-name": "display_name"}),
    "user-account": (None, {"username": "account_login", "user-id": "user_id", "display-name": "display_name",
                            "password": "credential", "account-type": "account_type"}),
    "credential": (None, {"username": "user_id", "password": "credential"}),
}  # fmt: skip


def _account_object(b: _ObjectBuilder) -> None:
    account_type, fields = _ACCOUNTS[b.name]
    sco = _sco("user-account", b.id_for("user-account"))
    if account_type is not None:
        sco["account_type"] = account_type
        b.shape.always.append(f"user-account:account_type = {_q(account_type)}")
    b.fields(sco, "user-account", fields)
    b.leftovers(sco, "user-account")
    b.shape.scos = [sco]


# object name -> (SDO type, relation giving the name, relation -> property, relation -> list property)
_SDO_OBJECTS: dict[str, tuple[str, str, dict[str, str], dict[str, str]]] = {
    "vulnerability": ("vulnerability", "id", {"description": "description", "summary": "description"}, {}),
    "attack-pattern": ("attack-pattern", "name", {"summary": "description"}, {}),
    "course-of-action": ("course-of-action", "name", {"description": "description"}, {}),
    "intrusion-set": (
        "intrusion-set",
        "name",
        {"description": "description", "resource_level": "resource_level",
         "primary-motivation": "primary_motivation", "first_seen": "first_seen", "last_seen": "last_seen"},
        {"aliases": "aliases", "goals": "goals", "secondary-motivation": "secondary_motivations"},
    ),
}  # fmt: skip


def _sdo_object(b: _ObjectBuilder) -> None:
    """Objects that become one SDO (vulnerability, attack-pattern, course-of-action, intrusion-set)."""
    stix_type, required, fields, lists = _SDO_OBJECTS[b.name]
    found = b.one(required)
    b.need(found, required)
    assert found is not None
    sdo: _Obj = {"type": stix_type, "spec_version": "2.1", "id": b.id_for(stix_type), "name": found[1]}
    b.fields(sdo, None, fields)
    for relation, prop in lists.items():
        if values := [v for _, v in b.all(relation)]:
            sdo[prop] = values
    references = []
    if stix_type == "vulnerability":
        references = [_external_ref(v) for v in (found[1], *(v for _, v in b.all("id")))]
    if stix_type == "attack-pattern":
        meta = _text(b.object.get("meta-category")) or "misc"
        sdo["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": meta}]
        references = [
            _external_ref(v if v.upper().startswith("CAPEC") else f"CAPEC-{v}") for _, v in b.all("id")
        ]
    references += [{"source_name": "url", "url": v} for _, v in b.all("references")]
    if references:
        sdo["external_references"] = references
    b.leftovers(sdo, None)
    b.shape.sdo = sdo


_LOCATION = {"region": "region", "countrycode": "country", "city": "city", "address": "street_address",
             "zipcode": "postal_code"}  # fmt: skip


def _geolocation_object(b: _ObjectBuilder) -> None:
    sdo: _Obj = {"type": "location", "spec_version": "2.1", "id": b.id_for("location")}
    lat, lon = b.one("latitude", _as_float), b.one("longitude", _as_float)
    if lat is not None and lon is not None and -90 <= lat[1] <= 90 and -180 <= lon[1] <= 180:
        sdo["latitude"], sdo["longitude"] = lat[1], lon[1]
        if (radius := b.one("accuracy-radius", _as_float)) is not None:
            sdo["precision"] = radius[1] * 1000.0
    b.fields(sdo, None, _LOCATION)
    b.need(
        {"latitude", "region", "country"} & set(sdo), "countrycode", "coordinates, a region or a country code"
    )
    b.leftovers(sdo, None)
    b.shape.sdo = sdo


def _rule_object(b: _ObjectBuilder) -> None:
    rule = b.one(b.name)
    b.need(rule, b.name, f"a {b.name} rule")
    assert rule is not None
    sdo: _Obj = {"type": "indicator", "spec_version": "2.1", "id": b.id_for("indicator")}
    sdo.update(pattern=rule[1], pattern_type=b.name, pattern_version="2.1")
    b.fields(
        sdo, None, {"version": "pattern_version", f"{b.name}-rule-name": "name", "comment": "description"}
    )
    links = [
        {"source_name": "url", "url": v} for relation in ("reference", "ref") for _, v in b.all(relation)
    ]
    if links:
        sdo["external_references"] = links
    b.leftovers(sdo, None)
    b.shape.sdo = sdo


_OBJECTS: dict[str, _ObjectConverter] = {
    **dict.fromkeys(_SINGLE_SCO, _single_sco_object),
    **dict.fromkeys(_ACCOUNTS, _account_object),
    **dict.fromkeys(_SDO_OBJECTS, _sdo_object),
    **dict.fromkeys(_words("ip-port network-connection network-socket"), _traffic_object),
    **dict.fromkeys(_words("yara sigma suricata"), _rule_object),
    "domain-ip": _domain_ip_object,
    "registry-key-value": _registry_value_object,
    "x509": _x509_object,
    "file": _file_object,
    "artifact": _artifact_object,
    "email": _email_object,
    "geolocation": _geolocation_object,
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
    """A thing's TLP inputs: the strictest TLP tag and distribution level on it and its parents.

    A part never reaches further than what contains it: MISP shares an attribute at most as widely
    as its event, and a TLP tag on the event covers everything in it.
    """

    tag: TLP | None
    distribution: TLP | None

    def child(self, tag: TLP | None, distribution: Any) -> _Level:
        text = (_text(distribution) or _INHERIT).strip()
        own = None if text == _INHERIT else DISTRIBUTION_TLP.get(text)
        tags = [lv for lv in (tag, self.tag) if lv is not None]
        levels = [lv for lv in (own, self.distribution) if lv is not None]
        return _Level(strictest(tags), strictest(levels))

    def resolve(self, default: TLP | None) -> TLP | None:
        return strictest([lv for lv in (self.tag, self.distribution) if lv is not None]) or default


@dataclass
class _Subject:
    """An attribute or MISP object being converted: where it is, its key, time, TLP and labels."""

    holder: _Obj  # the MISP attribute or object (comment, first_seen, last_seen, category)
    where: dict[str, str]
    when: int
    level: TLP | None
    labels: list[str]
    phase: str | None  # the kill chain phase of its indicator (MISP category or meta-category)

    @property
    def key(self) -> str:
        return str(self.holder["uuid"])


class _Event:
    """One MISP event's conversion: collects its objects, then emits them with the report first."""

    def __init__(self, run: _Run, event: _Obj, position: int) -> None:
        self.run = run
        self.misp = event
        self.objects: list[_Obj] = []
        self.refs: list[str] = []
        self.skipped: list[Skipped] = []
        self.key = _key(event.get("uuid"), "")
        self.label = self.key or f"#{position}"
        if not self.key:  # a draft without uuid: its content names it
            digest = hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
            self.key = f"misp-event-content:{digest}"
        times = (_epoch_us(event.get("timestamp")), _epoch_us(event.get("publish_timestamp")))
        self.timestamp = times[0] or times[1] or _iso_us(event.get("date")) or run.options.observed_us
        tag_level, self.event_labels = _split_tags(_tag_names(event))
        self.level = _Level(None, None).child(tag_level, event.get("distribution"))
        self.event_tlp = self.level.resolve(run.options.tlp)
        self.creator = self._creator()

    def id(self, stix_type: str, key: str, version: str = "") -> str:
        return misp_id(stix_type, key, self.run.options.namespace, version)

    @staticmethod
    def keyed(item: _Obj, fallback: str) -> _Obj:
        """A copy whose `uuid` is usable as a key (MISP's, or `fallback` for drafts without one)."""
        return {**item, "uuid": _key(item.get("uuid"), fallback)}

    def skip(self, reason: str, field: str = "value", **where: str) -> None:
        self.skipped.append(Skipped(where={"event": self.label, **where, "field": field}, reason=reason))

    # -- common properties -------------------------------------------------------------------

    def _creator(self) -> str | None:
        for key in ("Orgc", "Org"):
            org = self.misp.get(key)
            name = _text(org.get("name")) if isinstance(org, dict) else None
            org_key = _key(org.get("uuid"), f"misp-org-name:{name}") if isinstance(org, dict) else None
            if org_key and (name or not org_key.startswith("misp-org-name:")):
                return self.identity(org_key, name or org_key, self.timestamp, self.event_tlp)
        return None

    def identity(self, key: str, name: str, when: int, level: TLP | None) -> str:
        identity_id = self.id("identity", key)
        if identity_id not in self.run.shared:
            self.run.shared.add(identity_id)
            identity = self.sdo("identity", identity_id, when, [], by_creator=False)
            identity.update(name=name, identity_class="organization")
            self.emit(identity, level, in_report=False)
        return identity_id

    def sdo(self, stix_type: str, sdo_id: str, when: int, labels: list[str], by_creator: bool = True) -> _Obj:
        obj: _Obj = {"type": stix_type, "spec_version": "2.1", "id": sdo_id}
        if by_creator and self.creator is not None:
            obj["created_by_ref"] = self.creator
        obj["created"] = obj["modified"] = format_micros(when)
        if labels:
            obj["labels"] = list(dict.fromkeys(labels))
        return obj

    def emit(self, obj: _Obj, level: TLP | None, in_report: bool = True) -> _Obj:
        _mark(obj, level)
        self.objects.append(obj)
        if in_report and obj["id"] not in self.refs:
            self.refs.append(obj["id"])
        return obj

    def relationship(self, source: str, kind: str, target: str, when: int, level: TLP | None) -> None:
        relationship_id = stable_id("relationship", self.run.options.namespace, f"{source}|{kind}|{target}")
        obj = self.sdo("relationship", relationship_id, when, [], by_creator=False)
        obj.update(relationship_type=kind, source_ref=source, target_ref=target)
        self.emit(obj, level)

    # -- the event ---------------------------------------------------------------------------

    def convert(self) -> Iterator[Item]:
        galaxy_tags = self.galaxies(self.misp.get("Galaxy"), None, self.timestamp, self.event_tlp, {})
        for key in ("Attribute", "Object", "Galaxy", "Tag"):
            value = self.misp.get(key)
            if value not in (None, "") and not isinstance(value, list | dict):
                self.skip(f"{key} should be a list, not {type(value).__name__}; ignored", field=key)
        for n, attribute in enumerate(_items(self.misp.get("Attribute"))):
            if isinstance(attribute, dict):
                self.attribute(self.keyed(attribute, f"{self.key}/attribute#{n}"))
        for n, misp_object in enumerate(_items(self.misp.get("Object"))):
            if isinstance(misp_object, dict):
                self.misp_object(self.keyed(misp_object, f"{self.key}/object#{n}"))
        if self.misp.get("EventReport"):
            self.skip("MISP event reports are not converted", field="EventReport")
        report = self.report([t for t in self.event_labels if t not in galaxy_tags])
        identities = [o for o in self.objects if o["type"] == "identity"]
        for obj in (*identities, report, *(o for o in self.objects if o["type"] != "identity")):
            yield as_parsed(self.run.position, obj)
            self.run.position += 1
        yield from self.skipped

    def report(self, tags: list[str]) -> _Obj:
        published = (
            _epoch_us(self.misp.get("publish_timestamp")) if _flag(self.misp.get("published")) else None
        )
        stix_type = "report" if published else "grouping"
        report = self.sdo(stix_type, self.id(stix_type, self.key), self.timestamp, [*_REPORT_LABELS, *tags])
        report["name"] = _key(self.misp.get("info"), f"MISP event {self.label}")
        if published:
            report["published"] = format_micros(published)
        else:
            report["context"] = "suspicious-activity"
        if not self.refs:
            note = self.sdo("note", self.id("note", self.key), self.timestamp, [])
            note.update(content=_EMPTY_EVENT, object_refs=[report["id"]])
            self.emit(note, self.event_tlp)
        report["object_refs"] = list(self.refs)
        return _mark(report, self.event_tlp)

    # -- galaxies ----------------------------------------------------------------------------

    def galaxies(
        self, galaxies: Any, source: str | None, when: int, level: TLP | None, where: dict[str, str]
    ) -> set[str]:
        """Convert clusters (related to `source` when given); the tag names of converted clusters."""
        converted: set[str] = set()
        for galaxy in _items(galaxies):
            clusters = galaxy.get("GalaxyCluster") if isinstance(galaxy, dict) else None
            for cluster in _items(clusters):
                if not isinstance(cluster, dict):
                    continue
                cluster_type = _key(cluster.get("type"), _text(galaxy.get("type")) or "")
                stix_type = _GALAXY_TYPES.get(cluster_type) or _GALAXY_TYPES.get(
                    _text(galaxy.get("type")) or ""
                )
                value = _key(cluster.get("value"), "")
                if stix_type is None or not value:
                    why = "has no value" if stix_type else f"galaxy type {cluster_type!r} is not converted"
                    self.skip(f"galaxy cluster {value!r}: {why}", field="Galaxy", **where)
                    continue
                try:
                    target = self.cluster(galaxy, cluster, cluster_type, stix_type, when, level)
                except _BadValue as bad:
                    self.skip(f"galaxy cluster {value!r}: {bad.reason}", field="Galaxy", **where)
                    continue
                converted.add(f'misp-galaxy:{cluster_type}="{value}"')
                if isinstance(cluster.get("tag_name"), str):
                    converted.add(cluster["tag_name"])
                if target not in self.refs:
                    self.refs.append(target)
                if source is None:
                    continue
                kind = (
                    "indicates"
                    if source.startswith("indicator--") and stix_type in _INDICATES
                    else "related-to"
                )
                self.relationship(source, kind, target, when, level)
        return converted

    def cluster(
        self, galaxy: _Obj, cluster: _Obj, cluster_type: str, stix_type: str, when: int, level: TLP | None
    ) -> str:
        value = str(cluster["value"]).strip()
        target = self.id(stix_type, _key(cluster.get("uuid"), f"misp-cluster:{cluster_type}:{value}"))
        if target in self.run.shared:
            return target
        galaxy_name = _key(galaxy.get("name"), cluster_type)
        labels = [f'misp:galaxy-name="{galaxy_name}"', f'misp:galaxy-type="{cluster_type}"']
        if isinstance(cluster.get("tag_name"), str):
            labels.append(cluster["tag_name"])
        obj = self.sdo(stix_type, target, when, labels, by_creator=False)  # misp-stix: shared knowledge
        mitre = cluster_type.startswith("mitre-") and " - " in value
        obj["name"] = name = value.split(" - ")[0].strip() if mitre else value
        if description := _text(cluster.get("description")):
            obj["description"] = description
        meta: _Obj = cluster["meta"] if isinstance(cluster.get("meta"), dict) else {}
        self.cluster_meta(obj, stix_type, name, meta)
        galaxy_description = _text(galaxy.get("description"))
        if stix_type == "location":
            self.location_cluster(obj, cluster_type, value, galaxy_description, meta)
        elif stix_type == "identity":
            obj.update(identity_class="class", description=description or galaxy_description or name)
        elif stix_type == "malware":
            obj.setdefault("is_family", False)
        self.run.shared.add(target)
        self.emit(obj, level, in_report=False)
        return target

    @staticmethod
    def location_cluster(obj: _Obj, cluster_type: str, value: str, about: str | None, meta: _Obj) -> None:
        if cluster_type == "country":
            iso = meta.get("ISO")
            iso = iso[0] if isinstance(iso, list) and iso else iso
            if not isinstance(iso, str) or not iso.strip():
                raise _BadValue("a country cluster needs its ISO code (meta ISO)")
            obj.update(country=iso.strip(), name=obj.pop("description", None) or value)
            obj["description"] = f"{about} | {value}" if about else value
        elif cluster_type == "region":
            obj["name"] = name = value.split(" - ", 1)[-1].strip()
            obj["region"] = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            detail = obj.get("description", value)
            obj["description"] = f"{about} | {detail}" if about else detail
        if not {"region", "country", "latitude"} & set(obj):
            raise _BadValue("a location needs a region or a country")

    @staticmethod
    def cluster_meta(obj: _Obj, stix_type: str, name: str, meta: _Obj) -> None:
        singles, lists = _META_FIELDS.get(stix_type, ([], []))
        references: list[dict[str, str]] = []
        for key, raw in meta.items():
            values = raw if isinstance(raw, list) else [raw]
            strings = [v for v in values if isinstance(v, str) and v.strip()]
            if key == "external_id" or (key == "aliases" and stix_type == "vulnerability"):
                references += [_external_ref(v) for v in strings]
            elif key == "refs":
                references += [{"source_name": "url", "url": v} for v in strings]
            elif key == "synonyms" and stix_type in _HAS_ALIASES:
                if aliases := [v for v in strings if v != name]:
                    obj["aliases"] = aliases
            elif key == "kill_chain" and stix_type in _HAS_KILL_CHAIN:
                phases = [v.rpartition(":") for v in strings]
                kill_chain = [
                    {"kill_chain_name": c.split(":")[0], "phase_name": p} for c, _, p in phases if c and p
                ]
                if kill_chain:
                    obj["kill_chain_phases"] = kill_chain
            elif key in ("first_seen", "last_seen") and key in singles:
                if (moment := _iso_us(values[0] if values else None)) is not None:
                    obj[key] = format_micros(moment)
            elif key == "is_family" and key in singles:
                obj[key] = bool(values) and _flag(values[0]) is True
            elif key in singles or key in lists:
                if strings:
                    obj[key] = strings if key in lists else strings[0]
            else:
                _set_custom(obj, key, raw)
        if references:
            obj["external_references"] = references
        if obj.get("last_seen", "~") < obj.get("first_seen", ""):
            del obj["last_seen"]

    # -- attributes ---------------------------------------------------------------------------

    def subject(
        self, holder: _Obj, where: dict[str, str], level: _Level, tags: list[str], labels: list[str]
    ) -> _Subject:
        when = _epoch_us(holder.get("timestamp")) or self.timestamp
        phase = _text(holder.get("category")) or _text(holder.get("meta-category"))
        return _Subject(holder, where, when, level.resolve(self.run.options.tlp), labels + tags, phase)

    def attribute(self, attribute: _Obj) -> None:
        key = attribute["uuid"]
        where = {"attribute": key}
        misp_type = _text(attribute.get("type")) or ""
        value = (_text(attribute.get("value")) or "").strip()
        tag_level, tags = _split_tags(_tag_names(attribute))
        labels = [f'misp:{k}="{attribute[k]}"' for k in ("type", "category") if _text(attribute.get(k))]
        subject = self.subject(
            attribute, where, self.level.child(tag_level, attribute.get("distribution")), tags, labels
        )
        try:
            if _flag(attribute.get("deleted")):
                raise _BadValue("the attribute is deleted in MISP", "deleted")
            if not value:
                raise _BadValue("the attribute has no value")
            converter = _OBSERVABLES.get(misp_type)
            if converter is not None:
                version = sco_version(subject.when, subject.level)
                observation = converter(
                    value, {**attribute, "type": misp_type}, lambda t: self.id(t, key, version)
                )
                ids = self.observation(subject, observation.scos, observation.comparisons, _to_ids(attribute))
            elif misp_type in _PATTERN_ONLY or misp_type in _RULE_TYPES:
                if not _to_ids(attribute):
                    raise _BadValue(f"a {misp_type} attribute without to_ids is not converted", "to_ids")
                pattern = value if misp_type in _RULE_TYPES else f"[{_PATTERN_ONLY[misp_type](value)}]"
                ids = [self.indicator(subject, pattern, misp_type if misp_type in _RULE_TYPES else "stix")]
            elif misp_type in ("vulnerability", "campaign-name"):
                ids = [self.attribute_sdo(subject, misp_type, value)]
            else:
                raise _BadValue(f"MISP attribute type {misp_type!r} is not converted", "type")
        except _BadValue as bad:
            self.skip(bad.reason, field=bad.field, **where)
            return
        self.attach(subject, ids, attribute.get("Galaxy"), attribute.get("Sighting"))

    def observation(
        self, subject: _Subject, scos: list[_Obj], comparisons: list[str], to_ids: bool
    ) -> list[str]:
        """observed-data + SCOs (+ indicator and based-on); the ids, main (indicator) last."""
        first = _iso_us(subject.holder.get("first_seen")) or subject.when
        last = max(_iso_us(subject.holder.get("last_seen")) or subject.when, first)
        observed = self.sdo(
            "observed-data", self.id("observed-data", subject.key), subject.when, subject.labels
        )
        observed.update(
            first_observed=format_micros(first), last_observed=format_micros(last), number_observed=1
        )
        observed["object_refs"] = [sco["id"] for sco in scos]
        self.emit(observed, subject.level)
        for sco in scos:
            self.emit({"type": sco["type"], "spec_version": "2.1", **sco}, subject.level)
        if not to_ids or not comparisons:
            return [observed["id"]]
        indicator = self.indicator(subject, f"[{' AND '.join(comparisons)}]", "stix")
        self.relationship(indicator, "based-on", observed["id"], subject.when, subject.level)
        return [observed["id"], indicator]

    def indicator(self, subject: _Subject, pattern: str, pattern_type: str) -> str:
        indicator = self.sdo("indicator", self.id("indicator", subject.key), subject.when, subject.labels)
        if comment := _key(subject.holder.get("comment"), ""):
            indicator["description"] = comment
        first = _iso_us(subject.holder.get("first_seen")) or subject.when
        last = _iso_us(subject.holder.get("last_seen"))
        indicator.update(pattern=pattern, pattern_type=pattern_type, pattern_version="2.1")
        indicator["valid_from"] = format_micros(first)
        if last is not None and last > first:
            indicator["valid_until"] = format_micros(last)
        if subject.phase:
            indicator["kill_chain_phases"] = [
                {"kill_chain_name": "misp-category", "phase_name": subject.phase}
            ]
        return str(self.emit(indicator, subject.level)["id"])

    def attribute_sdo(self, subject: _Subject, misp_type: str, value: str) -> str:
        stix_type = "vulnerability" if misp_type == "vulnerability" else "campaign"
        obj = self.sdo(stix_type, self.id(stix_type, subject.key), subject.when, subject.labels)
        obj["name"] = value
        if stix_type == "vulnerability":
            obj["external_references"] = [_external_ref(value)]
        if comment := _key(subject.holder.get("comment"), ""):
            obj["description"] = comment
        return str(self.emit(obj, subject.level)["id"])

    def attach(self, subject: _Subject, ids: list[str], galaxies: Any, sightings: Any) -> None:
        """Galaxies (related to the main object) and sightings of a converted attribute or object."""
        galaxy_tags = self.galaxies(galaxies, ids[-1], subject.when, subject.level, subject.where)
        for obj in self.objects if galaxy_tags else ():
            if obj["id"] in ids and "labels" in obj:
                obj["labels"] = [t for t in obj["labels"] if t not in galaxy_tags]
        for n, sighting in enumerate(_items(sightings)):
            if isinstance(sighting, dict):
                self.sighting(subject, ids, self.keyed(sighting, f"{subject.key}/sighting#{n}"))

    # -- sightings ----------------------------------------------------------------------------

    def sighting(self, subject: _Subject, ids: list[str], sighting: _Obj) -> None:
        kind = _key(sighting.get("type"), "0")
        seen = _epoch_us(sighting.get("date_sighting")) or subject.when
        org: _Obj = sighting["Organisation"] if isinstance(sighting.get("Organisation"), dict) else {}
        org_name = _text(org.get("name"))
        if kind == "0":
            obj = self.sdo("sighting", self.id("sighting", sighting["uuid"]), seen, [], by_creator=False)
            stamp = obj["created"]
            obj.update(first_seen=stamp, last_seen=stamp, count=1, sighting_of_ref=ids[-1])
            if observed := [i for i in ids[:-1] if i.startswith("observed-data--")]:
                obj["observed_data_refs"] = observed
            if org_name or _text(org.get("uuid")):
                org_key = _key(org.get("uuid"), f"misp-org-name:{org_name}")
                obj["where_sighted_refs"] = [self.identity(org_key, org_name or org_key, seen, subject.level)]
            if source := _key(sighting.get("source"), ""):
                obj["description"] = source
            self.emit(obj, subject.level)
        elif kind == "1":
            obj = self.sdo("opinion", self.id("opinion", sighting["uuid"]), seen, [], by_creator=False)
            obj.update(
                opinion="strongly-disagree", explanation="False positive Sighting", object_refs=list(ids)
            )
            if org_name:
                obj["authors"] = [org_name]
            self.emit(obj, subject.level)
        else:
            self.skip(
                f"sighting type {kind!r} (expiration) is not converted", field="Sighting", **subject.where
            )

    # -- MISP objects --------------------------------------------------------------------------

    def misp_object(self, misp_object: _Obj) -> None:
        object_key = misp_object["uuid"]
        where = {"object": object_key}
        name = _text(misp_object.get("name")) or ""
        attributes = []
        for n, raw in enumerate(_items(misp_object.get("Attribute"))):
            attribute = self.keyed(raw, f"{object_key}/attribute#{n}") if isinstance(raw, dict) else None
            if attribute is not None and _flag(attribute.get("deleted")):
                self.skip(
                    "the attribute is deleted in MISP",
                    "deleted",
                    object=object_key,
                    attribute=attribute["uuid"],
                )
            elif attribute is not None:
                attributes.append(attribute)
        tag_level, tags = _split_tags(
            dict.fromkeys([*_tag_names(misp_object), *(t for a in attributes for t in _tag_names(a))])
        )
        object_level = self.level.child(tag_level, misp_object.get("distribution"))
        levels = [
            object_level.resolve(None),
            *(object_level.child(None, a.get("distribution")).resolve(None) for a in attributes),
        ]
        meta_category = _text(misp_object.get("meta-category")) or "misc"
        labels = [f'misp:name="{name}"', f'misp:meta-category="{meta_category}"']
        subject = self.subject(misp_object, where, object_level, tags, labels)
        subject.level = strictest([lv for lv in levels if lv is not None]) or self.run.options.tlp
        builder = _ObjectBuilder(self, misp_object, attributes, sco_version(subject.when, subject.level))
        try:
            if _flag(misp_object.get("deleted")):
                raise _BadValue("the object is deleted in MISP", "deleted")
            converter = _OBJECTS.get(name)
            if converter is None:
                raise _BadValue(f"MISP object {name!r} is not converted", "name")
            converter(builder)
        except _BadValue as bad:
            self.skip(bad.reason, field=bad.field, **where)
            return
        shape = builder.shape
        if shape.sdo is None and not shape.scos:
            self.skip(f"MISP object {name!r} gave nothing to convert", field="name", **where)
            return
        if shape.sdo is not None:
            obj = self.sdo(shape.sdo["type"], shape.sdo["id"], subject.when, subject.labels)
            if shape.sdo["type"] == "indicator":
                obj["valid_from"] = obj["created"]
                obj["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": meta_category}]
            ids = [
                self.emit({**obj, **{k: v for k, v in shape.sdo.items() if k not in obj}}, subject.level)[
                    "id"
                ]
            ]
        else:
            comparisons = [text for attribute, text in shape.comparisons if _to_ids(attribute)]
            comparisons = [*shape.always, *comparisons] if comparisons else []
            ids = self.observation(subject, shape.scos, comparisons, bool(comparisons))
        galaxies = [g for a in attributes for g in _items(a.get("Galaxy"))]
        self.attach(subject, ids, galaxies, [s for a in attributes for s in _items(a.get("Sighting"))])
