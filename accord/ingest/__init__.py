"""Importers: every shape members bring (STIX 2.0/2.1, MISP, CSV, text) turned into STIX 2.1.

Each format has one module whose `read(fp, options)` streams `Item`s from a binary file object:
- `Parsed` (index, object, raw JSON text): a STIX 2.1 object for the ordinary store pipeline
  (`accord.intel.prepare`), validated there like any submitted object;
- `Skipped`: input that is not intelligence or not usable (an unknown MISP attribute type, a text
  line that is no observable), reported to the importer with where and why; the import goes on;
- `Problem`: input that is broken (malformed JSON, an invalid STIX object): the whole import is
  refused and nothing is stored, as for any submission.

Converted objects get deterministic ids (`stable_id`), scoped to the importing organisation, so
importing the same data again changes nothing, and two organisations importing one feed each keep
their own indicators.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.errors import Problem
from accord.intel.observables import Observable
from accord.intel.timestamps import format_micros
from accord.intel.tlp import EMIT_ID, TLP

__all__ = [
    "FORMATS",
    "ImportOptions",
    "Item",
    "Skipped",
    "as_parsed",
    "indicator_for",
    "pattern_for",
    "stable_id",
]

FORMATS = ("stix", "misp", "csv", "text")
ACCORD_NAMESPACE = uuid.UUID("6f1f6a2e-5c1b-4d2b-9a57-2f1c2b1e0a11")


@dataclass(frozen=True, slots=True)
class Skipped:
    """Input left out of an import, and why; `where` names the line or object (and field)."""

    where: dict[str, Any]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.where, "reason": self.reason}


Parsed = tuple[int, Any, str]
Item = Parsed | Skipped | Problem


@dataclass(frozen=True)
class ImportOptions:
    """What a reader needs to know beyond the bytes.

    `namespace` scopes generated ids to the importing organisation (see `org_namespace`);
    `observed_us` stamps created/modified/valid_from of generated indicators that carry no time of
    their own (the caller passes the file's modification time or the feed's fetch time);
    `tlp` marks generated objects that carry no marking of their own; `column_map` maps CSV field
    names (value, type, first_seen, last_seen, description, labels, confidence, tlp) to 1-based
    column numbers; `source` names the input in generated objects' descriptions.
    """

    namespace: uuid.UUID = ACCORD_NAMESPACE
    observed_us: int = 0
    tlp: TLP | None = None
    column_map: dict[str, int] | None = None
    source: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)


def org_namespace(org_id: int) -> uuid.UUID:
    return uuid.uuid5(ACCORD_NAMESPACE, f"org:{org_id}")


def stable_id(stix_type: str, namespace: uuid.UUID, key: str) -> str:
    """A STIX id that is the same every time the same organisation imports the same thing."""
    return f"{stix_type}--{uuid.uuid5(namespace, key)}"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_PATTERN_PATHS = {
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "domain": "domain-name:value",
    "url": "url:value",
    "email": "email-addr:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "sha512": "file:hashes.'SHA-512'",
}


def pattern_for(o: Observable) -> str:
    """The STIX pattern that matches exactly this normalised value (a CIDR matches its range)."""
    if o.kind in ("ipv4", "ipv6") and o.ip_lo != o.ip_hi:
        return f"[{_PATTERN_PATHS[o.kind]} ISSUBSET {_quote(o.value)}]"
    return f"[{_PATTERN_PATHS[o.kind]} = {_quote(o.value)}]"


def indicator_for(
    o: Observable,
    options: ImportOptions,
    *,
    valid_from_us: int | None = None,
    valid_until_us: int | None = None,
    name: str | None = None,
    description: str | None = None,
    labels: list[str] | None = None,
    confidence: int | None = None,
    tlp: TLP | None = None,
) -> dict[str, Any]:
    """A STIX 2.1 indicator for one value, with a stable id, so re-imports are no-ops.

    The id derives from the importing organisation (`options.namespace`), the source (a feed's
    name, a file's name) and the value: the same source imported again yields the same indicators;
    two sources naming one value are two indicators (and an overlap), each with its own labels.

    created/modified are the import's `observed_us` (the store compares generated indicators
    without them: see `accord.intel.prepare.STAMPED_TIMES`); valid_from is the input's own first
    seen time when it has one.
    """
    stamped = _stamp(options.observed_us)
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stable_id("indicator", options.namespace, f"{options.source}|{o.kind}:{o.value}"),
        "created": stamped,
        "modified": stamped,
        "name": name or o.value,
        "indicator_types": ["malicious-activity"],
        "pattern": pattern_for(o),
        "pattern_type": "stix",
        "valid_from": format_micros(valid_from_us) if valid_from_us is not None else stamped,
    }
    if valid_until_us is not None:
        obj["valid_until"] = format_micros(valid_until_us)
    if description:
        obj["description"] = description
    all_labels = [*options.labels, *(labels or [])]
    if all_labels:
        obj["labels"] = list(dict.fromkeys(all_labels))
    if confidence is not None:
        obj["confidence"] = confidence
    marking = tlp or options.tlp
    if marking is not None:
        obj["object_marking_refs"] = [EMIT_ID[marking]]
    return obj


@functools.lru_cache(maxsize=16)
def _stamp(us: int) -> str:
    """One import stamps every generated indicator with the same time: format it once."""
    return format_micros(us)


def as_parsed(index: int, obj: dict[str, Any]) -> Parsed:
    """A converted object as the store pipeline takes it: its JSON text is what gets stored."""
    return (index, obj, orjson.dumps(obj).decode())


def problem(detail: str, **where: Any) -> Problem:
    return Problem(detail, where)
