"""The CPU half of ingest: validate, extract observable values, hash — no database.

Split from the store so it can run in a worker process while the main process writes
(`accord.ingest.run`): on a 2-core machine that doubles import throughput (bench/). `Prepared`
carries only what the store needs, so little crosses the process boundary.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, NamedTuple

from accord.errors import InvalidInput, Problem
from accord.intel import observables as obs
from accord.intel.patterns import pattern_rows, pattern_values
from accord.intel.severity import confidence_of, severity_of
from accord.intel.tlp import TLP
from accord.intel.validate import Checked, check_object_fields, content_hash

Parsed = tuple[int, Any, str]  # (index in the input, parsed object, raw JSON text as received)
ObservableRow = obs.ObservableRow  # kind, value, ip_lo, ip_hi
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
    severity: int | None  # what the object states (accord/intel/severity.py); None: none
    confidence: int | None
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


_new_prepared = tuple.__new__  # Prepared(...) with keywords costs more than all the rest of `prepare`
# A level's `.value`, looked up: on an Enum, `.value` is a property that runs Python code.
_TLP_VALUE: dict[TLP | None, str | None] = {None: None, **{level: level.value for level in TLP}}


def prepare(index: int, parsed: Any, raw: str, timeless: bool = False) -> Prepared | Problem:
    typ: str | None = None  # set once the object is valid
    try:
        obj, oid, typ, spec_version, created_us, modified_us, revoked, tlp, _ = check_object_fields(
            parsed, index
        )
        # `extract_observables`, as the rows Prepared keeps.
        if typ == "indicator":
            if obj.get("pattern_type") == "stix":
                rows, warnings = pattern_rows(obj["pattern"])
            else:
                rows, warnings = [], []
        else:
            rows = [(o.kind, o.value, o.ip_lo, o.ip_hi) for o in obs.from_sco(obj)]
            warnings = []
    except InvalidInput as exc:
        where: dict[str, Any] = {"object": oid if typ is not None else f"#{index}", **exc.where}
        if typ is not None and "field" not in where:
            where["field"] = "pattern" if typ == "indicator" else "value"
        return Problem(exc.detail, where)
    # A sighting points at what was seen: kept like a relationship's target, so "sightings of X"
    # is an index lookup.
    if typ == "relationship":
        source: str | None = obj.get("source_ref")
        target: str | None = obj.get("target_ref")
    else:
        source = None
        target = obj.get("sighting_of_ref") if typ == "sighting" else None
    # The fields of Prepared, in its order.
    return _new_prepared(
        Prepared,
        (
            index,
            oid,
            typ,
            spec_version,
            created_us,
            modified_us or 0,
            revoked,
            _TLP_VALUE[tlp],
            source,
            target,
            content_hash({k: v for k, v in obj.items() if k not in STAMPED_TIMES} if timeless else obj),
            raw,
            rows,
            warnings,
            severity_of(obj),
            confidence_of(obj),
            timeless,
        ),
    )


def prepare_batches(
    objects: Iterable[Parsed], size: int = BATCH, timeless: bool = False
) -> Iterator[list[Prepared | Problem]]:
    """In this process: batches of prepared objects (or the problems found in them)."""
    iterator = iter(objects)
    while batch := list(islice(iterator, size)):
        yield [prepare(i, o, r, timeless) for i, o, r in batch]


_gc_lock = threading.Lock()
_gc_pausers = 0  # threads inside `gc_paused` now
_gc_was_enabled = False  # whether the collector ran before the first of them paused it


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk ingest allocates millions of acyclic objects; the cyclic collector's passes over them
    cost a third of import time and free nothing. Pause it for the bulk work. Threads may overlap
    (routing reads the next batch while it routes this one): the collector runs again when the
    last of them is done, if it ran before the first began."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()
