"""The CPU half of ingest: validate, extract observable values, hash — no database.

Split from the store so it can run in a worker process while the main process writes
(`accord.ingest.run`): on a 2-core machine that doubles import throughput (bench/). `Prepared`
carries only what the store needs, so little crosses the process boundary.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, NamedTuple

from accord.errors import InvalidInput, Problem
from accord.intel import observables as obs
from accord.intel.patterns import pattern_values
from accord.intel.validate import Checked, check_object, content_hash

Parsed = tuple[int, Any, str]  # (index in the input, parsed object, raw JSON text as received)
ObservableRow = tuple[str, str, bytes | None, bytes | None]  # kind, value, ip_lo, ip_hi
BATCH = 5000


class Prepared(NamedTuple):
    """A NamedTuple, not a dataclass: it crosses the process boundary by the thousand, and tuples
    pickle several times faster."""

    position: int  # index of the object in the input
    id: str
    type: str
    spec_version: str
    created_us: int | None
    modified_us: int  # 0 for unversioned objects (SCOs)
    revoked: bool
    tlp: str | None
    source_ref: str | None
    target_ref: str | None
    hash: bytes
    raw: str
    observables: list[ObservableRow]
    warnings: list[str]  # why some values were not indexed (the object itself is fine)
    # Generated from a feed line (CSV, text): `hash` leaves out the times the import stamped on it,
    # so the same line imported again later is recognised as the same indicator, not a new version.
    timeless: bool = False


# The times an importer stamps on an indicator generated from a feed line that carries none.
STAMPED_TIMES = ("created", "modified", "valid_from")


def extract_observables(checked: Checked) -> tuple[list[obs.Observable], list[str]]:
    """Observable values an object names (SCO values, indicator patterns' values), and why any
    value of a well-formed pattern could not be indexed. An invalid SCO value is an error."""
    obj = checked.obj
    if checked.type == "indicator":
        if obj.get("pattern_type") == "stix":
            return pattern_values(obj["pattern"])
        return [], []
    return obs.from_sco(obj), []


def prepare(index: int, parsed: Any, raw: str, timeless: bool = False) -> Prepared | Problem:
    checked: Checked | None = None
    try:
        checked = check_object(parsed, index)
        values, warnings = extract_observables(checked)
    except InvalidInput as exc:
        where: dict[str, Any] = {"object": checked.id if checked is not None else f"#{index}", **exc.where}
        if checked is not None and "field" not in where:
            where["field"] = "pattern" if checked.type == "indicator" else "value"
        return Problem(exc.detail, where)
    obj = checked.obj
    is_rel = checked.type == "relationship"
    # A sighting points at what was seen: kept like a relationship's target, so "sightings of X"
    # is an index lookup.
    target = (
        obj.get("target_ref")
        if is_rel
        else obj.get("sighting_of_ref")
        if checked.type == "sighting"
        else None
    )
    return Prepared(
        position=index,
        id=checked.id,
        type=checked.type,
        spec_version=checked.spec_version,
        created_us=checked.created_us,
        modified_us=checked.modified_us or 0,
        revoked=checked.revoked,
        tlp=checked.tlp.value if checked.tlp is not None else None,
        source_ref=obj.get("source_ref") if is_rel else None,
        target_ref=target,
        hash=content_hash({k: v for k, v in obj.items() if k not in STAMPED_TIMES} if timeless else obj),
        raw=raw,
        observables=[(o.kind, o.value, o.ip_lo, o.ip_hi) for o in values],
        warnings=warnings,
        timeless=timeless,
    )


def prepare_batches(
    objects: Iterable[Parsed], size: int = BATCH, timeless: bool = False
) -> Iterator[list[Prepared | Problem]]:
    """In this process: batches of prepared objects (or the problems found in them)."""
    iterator = iter(objects)
    while batch := list(islice(iterator, size)):
        yield [prepare(i, o, r, timeless) for i, o, r in batch]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk ingest allocates millions of acyclic objects; the cyclic collector's passes over them
    cost a third of import time and free nothing. Pause it for the bulk work, then collect once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
