"""Small STIX 2.1 objects for tests, made by hand so the suite needs no corpus."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from accord.intel.tlp import EMIT_ID, TLP

TS = "2024-05-01T10:00:00.000Z"


def sid(kind: str) -> str:
    return f"{kind}--{uuid.uuid4()}"


def indicator(
    value_pattern: str, tlp: TLP | None = None, *, id: str | None = None, modified: str = TS, **extra: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": id or sid("indicator"),
        "created": TS,
        "modified": modified,
        "pattern": value_pattern,
        "pattern_type": "stix",
        "valid_from": TS,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [EMIT_ID[tlp]]
    obj.update(extra)
    return obj


def ip_indicator(ip: str, tlp: TLP | None = None, **kw: Any) -> dict[str, Any]:
    kind = "ipv6-addr" if ":" in ip else "ipv4-addr"
    return indicator(f"[{kind}:value = '{ip}']", tlp, **kw)


def relationship(source: str, target: str, tlp: TLP | None = None, **kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": kw.pop("id", None) or sid("relationship"),
        "created": TS,
        "modified": kw.pop("modified", TS),
        "relationship_type": "indicates",
        "source_ref": source,
        "target_ref": target,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [EMIT_ID[tlp]]
    obj.update(kw)
    return obj


def malware(name: str, tlp: TLP | None = None, **kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "malware",
        "spec_version": "2.1",
        "id": kw.pop("id", None) or sid("malware"),
        "created": TS,
        "modified": kw.pop("modified", TS),
        "name": name,
        "is_family": True,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [EMIT_ID[tlp]]
    obj.update(kw)
    return obj


def report(refs: list[str], tlp: TLP | None = None, **kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": kw.pop("id", None) or sid("report"),
        "created": TS,
        "modified": kw.pop("modified", TS),
        "name": "case report",
        "published": TS,
        "object_refs": refs,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [EMIT_ID[tlp]]
    obj.update(kw)
    return obj


def parsed(objects: Iterable[dict[str, Any]]) -> list[tuple[int, dict[str, Any], str]]:
    """What the bundle reader yields: (index, object, raw text)."""
    return [(i, o, json.dumps(o)) for i, o in enumerate(objects)]


def bundle(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "bundle", "id": sid("bundle"), "objects": list(objects)}
