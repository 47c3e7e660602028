"""STIX input: 2.1 passes through as received, 2.0 is upgraded to 2.1 with its ids kept, 1.x is refused.

Accepted shapes are those of `iter_bundle`: a bundle (2.0 or 2.1), a bare object, or a JSON array of
objects; all stream, so a bundle of any size costs the memory of its largest object.

Which objects are STIX 2.0: those with `spec_version` "2.0", and those without `spec_version` that
2.1 would require it on (2.1 requires it on everything but cyber-observables, which 2.0 never had at
the top level). A 2.1 bundle carrying an object that forgot its `spec_version` is therefore read as
2.0 and upgraded; the result is checked like any other object by `prepare`.

The upgrade (STIX 2.1 part 1.x "changes from 2.0", as OASIS's stix2-elevator "stepper" does it):
- `spec_version: "2.1"` is added; ids, timestamps, custom properties and custom objects are kept;
- `labels`, required in 2.0 on indicator, malware, report, threat-actor and tool as their type
  vocabulary, moves to `indicator_types`, `malware_types`, ... (unless that is already there);
- indicator: `pattern_type: "stix"` (2.0 had only STIX patterns; the pattern text is kept);
- malware: `is_family: true`, the 2.1 required property. 2.0 malware objects name a family almost
  always (MITRE ATT&CK's own 2.1 release marks the same objects `is_family: true`);
- observed-data keeps its `objects` dictionary, which 2.1 still allows (deprecated): its
  cyber-observables get the id 2.1 requires (UUIDv5 of the observed-data's UUID and the dictionary
  key, so stable), references by id instead of by key, and their 2.1 property names (file and
  directory `created`/`modified`/`accessed` -> `ctime`/`mtime`/`atime`, process `created` ->
  `created_time` and `binary_ref` -> `image_ref`, registry key `modified` -> `modified_time`,
  user-account `password_last_changed` -> `credential_last_changed`); properties 2.1 dropped
  (file `is_encrypted`, process `name`, ...) are kept as they are;
- TLP 1.0 marking definitions and references to them stay as they are (`accord.intel.tlp` reads
  the TLP 1.0 ids).
An upgraded object's raw text is its re-serialised JSON; a 2.1 object's raw text is as received.

STIX 1.x (XML, or a JSON rendering with a 1.x `version`) is refused as a whole with one Problem
before anything is read from it; so is other XML. Malformed JSON is a Problem with line and column.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from accord.errors import InvalidInput, Problem
from accord.ingest import ImportOptions, Item, problem
from accord.intel.bundle_stream import iter_bundle
from accord.intel.validate import SCO_TYPES

__all__ = ["STIX1_REFUSAL", "is_stix20", "read", "stix1_problem", "upgrade"]

STIX1_REFUSAL = "STIX 1.x is not supported; convert it to STIX 2.1 first (e.g. with stix2-elevator)"
_HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_XML_START = re.compile(rb"<[?!A-Za-z_]")
_STIX1_XML = re.compile(rb"STIX_Package|stix\.mitre\.org|cybox\.mitre\.org|<stix:|<cybox:", re.IGNORECASE)
# Top-level properties of a STIX 1.x package rendered as JSON (python-stix `to_json`).
_STIX1_KEYS = frozenset(
    {"stix_header", "stix_package", "STIX_Package", "observables", "ttps", "exploit_targets", "incidents"}
)

# 2.0 `labels` held the type vocabulary of these types; 2.1 has a property for it.
_TYPES_PROPERTY = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "report": "report_types",
    "threat-actor": "threat_actor_types",
    "tool": "tool_types",
}
# Cyber-observable properties renamed in 2.1 (embedded in 2.0 observed-data `objects`).
_SCO_RENAMES: dict[str, dict[str, str]] = {
    "file": {"created": "ctime", "modified": "mtime", "accessed": "atime"},
    "directory": {"created": "ctime", "modified": "mtime", "accessed": "atime"},
    "process": {"created": "created_time", "binary_ref": "image_ref"},
    "windows-registry-key": {"modified": "modified_time"},
    "user-account": {"password_last_changed": "credential_last_changed"},
}


def is_stix20(obj: dict[str, Any]) -> bool:
    """True for a STIX 2.0 object (see the module docstring for how it is told from 2.1)."""
    version = obj.get("spec_version")
    if version == "2.0":
        return True
    if version is not None:
        return False
    typ = obj.get("type")
    if not isinstance(typ, str) or typ == "bundle" or typ in SCO_TYPES:
        return False
    extensions = obj.get("extensions")
    # Extension definitions are 2.1 only: such an object is 2.1 (a custom SCO needs no spec_version).
    return not (
        isinstance(extensions, dict) and any(k.startswith("extension-definition--") for k in extensions)
    )


def _upgrade_sco(sco: dict[str, Any]) -> dict[str, Any]:
    renames = _SCO_RENAMES.get(str(sco.get("type")))
    if not renames:
        return dict(sco)
    out: dict[str, Any] = {}
    for key, value in sco.items():
        new = renames.get(key, key)
        out[key if new in sco else new] = value  # a 2.1 name already present wins over renaming
    return out


def _relink(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every `_ref`/`_refs` naming a key of the `objects` dictionary pointing at that
    object's id instead, at any depth (extensions, multipart bodies)."""
    if isinstance(value, list):
        return [_relink(v, ids) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        if isinstance(key, str) and key.endswith("_ref") and isinstance(v, str):
            out[key] = ids.get(v, v)
        elif isinstance(key, str) and key.endswith("_refs") and isinstance(v, list):
            out[key] = [ids.get(r, r) if isinstance(r, str) else r for r in v]
        else:
            out[key] = _relink(v, ids)
    return out


def _upgrade_observed_objects(observed_id: Any, objects: dict[str, Any]) -> dict[str, Any]:
    """2.0 observed-data `objects` as 2.1 has them: each cyber-observable with an id (2.1 requires one)
    and references by id instead of by dictionary key. The ids are UUIDv5 of the observed-data's
    UUID and the key, so upgrading the same object twice gives the same result."""
    try:
        base = uuid.UUID(str(observed_id).rpartition("--")[2])
    except ValueError:
        return objects  # an invalid id: prepare() reports it; nothing to derive ids from
    scos = {key: _upgrade_sco(sco) for key, sco in objects.items() if isinstance(sco, dict)}
    ids = {
        key: sco.get("id") or f"{sco.get('type')}--{uuid.uuid5(base, key)}"
        for key, sco in scos.items()
        if isinstance(sco.get("type"), str)
    }
    out: dict[str, Any] = {}
    for key, sco in objects.items():
        if key not in ids:
            out[key] = sco
            continue
        upgraded = scos[key]
        relinked = _relink({k: v for k, v in upgraded.items() if k not in ("type", "id")}, ids)
        out[key] = {"type": upgraded["type"], "id": ids[key], **relinked}
    return out


def upgrade(obj: dict[str, Any]) -> dict[str, Any]:
    """The STIX 2.1 form of a 2.0 object (a new dict; the id and everything else kept)."""
    typ = obj.get("type")
    out: dict[str, Any] = {"type": typ, "spec_version": "2.1"}
    out.update((k, v) for k, v in obj.items() if k not in ("type", "spec_version"))
    types_property = _TYPES_PROPERTY.get(typ) if isinstance(typ, str) else None
    if types_property is not None and "labels" in out and types_property not in out:
        out[types_property] = out.pop("labels")
    if typ == "indicator":
        out.setdefault("pattern_type", "stix")
    elif typ == "malware":
        out.setdefault("is_family", True)
    elif typ == "observed-data" and isinstance(out.get("objects"), dict):
        out["objects"] = _upgrade_observed_objects(out.get("id"), out["objects"])
    return out


def stix1_problem(obj: Any, index: int) -> Problem | None:
    """A Problem if this parsed object is STIX 1.x rendered as JSON, else None."""
    if not isinstance(obj, dict):
        return None
    version = obj.get("spec_version")
    if "type" not in obj:
        version = version or obj.get("version")
        if not _STIX1_KEYS.isdisjoint(obj):
            return problem(STIX1_REFUSAL, object=f"#{index}")
    if isinstance(version, str) and version.startswith("1."):
        return problem(f"{STIX1_REFUSAL} (version {version!r})", object=f"#{index}")
    return None


def _xml_problem(head: bytes) -> Problem | None:
    text = head.removeprefix(_BOM).lstrip()
    if _XML_START.match(text) is None:
        return None
    if _STIX1_XML.search(text) is not None:
        return problem(f"{STIX1_REFUSAL} (this is STIX 1.x XML)", line=1)
    return problem("the input is XML, not STIX 2 JSON", line=1)


def _dumps(obj: dict[str, Any]) -> str:
    try:
        return orjson.dumps(obj).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates: the stdlib writes them
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _Replay:
    """The bytes already read from the head of a stream, then the rest of the stream."""

    def __init__(self, head: bytes, fp: BinaryIO) -> None:
        self.head = head
        self.fp = fp

    def read(self, size: int = -1, /) -> bytes:
        if self.head:
            if size < 0 or size >= len(self.head):
                data, self.head = self.head, b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.fp.read(size)


def read(fp: BinaryIO, options: ImportOptions) -> Iterator[Item]:
    """STIX 2.1 objects from a STIX 2.0 or 2.1 bundle, object or array (`options` is not needed:
    STIX objects carry their own ids, times and markings)."""
    head = fp.read(_HEAD_BYTES)
    refused = _xml_problem(head)
    if refused is not None:
        yield refused
        return
    try:
        for index, obj, raw in iter_bundle(_Replay(head, fp)):
            refused = stix1_problem(obj, index)
            if refused is not None:
                yield refused
                return
            if is_stix20(obj):
                upgraded = upgrade(obj)
                yield index, upgraded, _dumps(upgraded)
            else:
                yield index, obj, raw
    except InvalidInput as e:
        yield problem(e.detail, **e.where)
