"""The CPU half of ingest: validate, extract observable values, hash — no database.

Split from the store so it can run in a worker process while the main process writes: on a
2-core machine that doubles import throughput (bench/). `Prepared` carries only what the store
needs, so little crosses the process boundary.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, NamedTuple

from accord.errors import AccordError, InvalidInput, Problem
from accord.intel import observables as obs
from accord.intel.bundle_stream import iter_bundle
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


def extract_observables(checked: Checked) -> tuple[list[obs.Observable], list[str]]:
    """Observable values an object names (SCO values, indicator patterns' values), and why any
    value of a well-formed pattern could not be indexed. An invalid SCO value is an error."""
    obj = checked.obj
    if checked.type == "indicator":
        if obj.get("pattern_type") == "stix":
            return pattern_values(obj["pattern"])
        return [], []
    return obs.from_sco(obj), []


def prepare(index: int, parsed: Any, raw: str) -> Prepared | Problem:
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
        target_ref=obj.get("target_ref") if is_rel else None,
        hash=content_hash(obj),
        raw=raw,
        observables=[(o.kind, o.value, o.ip_lo, o.ip_hi) for o in values],
        warnings=warnings,
    )


def prepare_batches(objects: Iterable[Parsed], size: int = BATCH) -> Iterator[list[Prepared | Problem]]:
    """In this process: batches of prepared objects (or the problems found in them)."""
    iterator = iter(objects)
    while batch := list(islice(iterator, size)):
        yield [prepare(i, o, r) for i, o, r in batch]


# --- in a worker process ---------------------------------------------------------------------------

_DONE = "done"


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


def _worker(path: str, out: Any, size: int) -> None:
    gc.disable()  # this process only ever does bulk work
    try:
        with open(path, "rb") as fp:
            for batch in prepare_batches(iter_bundle(fp), size):
                # Plain tuples cross the pipe: unpickling a NamedTuple calls Python code per object.
                plain = [tuple(item) if isinstance(item, Prepared) else item for item in batch]
                out.put(("batch", plain, fp.tell()))
        out.put((_DONE, None, None))
    except AccordError as exc:
        out.put(("error", (type(exc).__name__, exc.detail, exc.where), None))
    except Exception as exc:  # reported to the parent, which raises it there
        out.put(("crash", f"{type(exc).__name__}: {exc}", None))


def _as_prepared(item: Any) -> Prepared | Problem:
    return item if isinstance(item, Problem) else Prepared._make(item)


def prepare_file_in_worker(path: str, size: int = BATCH) -> Iterator[tuple[list[Prepared | Problem], int]]:
    """Prepare a bundle file in a worker process; yields (batch, bytes of the file read so far).

    A bounded queue keeps memory flat: the worker waits while the writer is behind. If the caller
    stops early (an error, an interrupt), the worker is terminated.
    """
    ctx: Any = mp.get_context("spawn" if os.name != "posix" else "forkserver")
    out = ctx.Queue(maxsize=4)
    proc = ctx.Process(target=_worker, args=(path, out, size), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, payload, offset = out.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError("the import worker stopped unexpectedly") from None
                continue
            if kind == _DONE:
                break
            if kind == "error":
                _name, detail, where = payload
                raise InvalidInput(detail, **where)
            if kind == "crash":
                raise RuntimeError(f"the import worker failed: {payload}")
            yield [_as_prepared(item) for item in payload], offset
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        out.close()
