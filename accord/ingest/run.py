"""One import, whatever its format: detect, read, prepare (in a worker process), store, report.

The CLI (`accord import`), the API upload and feed runs all come through `run_import`, so every
import is one transaction (a failed one leaves nothing), is idempotent (generated ids are stable),
is recorded as a job, and ends with the same report: what was taken, what was skipped and why, and
— when refused — every problem with its line, object and field.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import queue
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any, BinaryIO

from accord.errors import AccordError, InvalidInput, Problem
from accord.ingest import FORMATS, ImportOptions, Item, Skipped
from accord.ingest.detect import detect, open_input
from accord.intel.prepare import BATCH, Prepared, prepare
from accord.intel.store import SubmitResult
from accord.workers import exit_with_parent

_READERS = {
    "stix": "accord.ingest.stix",
    "misp": "accord.ingest.misp",
    "csv": "accord.ingest.tabular",
    "text": "accord.ingest.text",
}
# Formats whose indicators are generated from lines that carry no time of their own.
TIMELESS = frozenset({"csv", "text"})
MAX_SKIPPED_LISTED = 100
IN_PROCESS_BELOW = 4 * 1024 * 1024  # smaller inputs are not worth a worker process


def reader(fmt: str) -> Callable[[BinaryIO, ImportOptions], Iterator[Item]]:
    if fmt not in _READERS:
        raise InvalidInput(f"unknown import format {fmt!r} (use one of {', '.join(FORMATS)})", field="format")
    module = importlib.import_module(_READERS[fmt])
    read: Callable[[BinaryIO, ImportOptions], Iterator[Item]] = module.read
    return read


def _position(fp: IO[bytes]) -> int:
    """Bytes of the file on disk read so far (for a gzip file: of the compressed file)."""
    inner = getattr(fp, "fileobj", None)
    return int((inner or fp).tell())


def detect_format(path: str) -> str:
    with open_input(path) as fp:
        head = fp.read(64 * 1024)
    return detect(head, os.path.basename(path))


@dataclass
class Skips:
    """What an import left out: a count, how many per reason, and the first ones in full."""

    count: int = 0
    first: list[dict[str, Any]] = field(default_factory=list)

    def add(self, items: Iterable[Skipped]) -> None:
        for s in items:
            self.count += 1
            if len(self.first) < MAX_SKIPPED_LISTED:
                self.first.append(s.as_dict())


@dataclass
class Report:
    format: str
    result: SubmitResult
    skipped: Skips
    job: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "format": self.format,
            "taken": self.result.as_dict(),
            "skipped": {"count": self.skipped.count, "first": self.skipped.first},
        }


Batch = tuple[list[Prepared | Problem], list[Skipped]]


def batches(items: Iterable[Item], timeless: bool, size: int | None = None) -> Iterator[Batch]:
    """Items in batches: Parsed prepared (validated, values extracted, hashed), Skipped set aside."""
    size = size or BATCH
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        out: list[Prepared | Problem] = []
        skipped: list[Skipped] = []
        for item in chunk:
            if isinstance(item, Skipped):
                skipped.append(item)
            elif isinstance(item, Problem):
                out.append(item)
            else:
                out.append(prepare(item[0], item[1], item[2], timeless))
        yield out, skipped


# --- in a worker process ---------------------------------------------------------------------------


def _worker(path: str, fmt: str, options: ImportOptions, out: Any, size: int | None, parent: int) -> None:
    import gc

    exit_with_parent(parent)
    gc.disable()  # this process only ever does bulk work
    try:
        read = reader(fmt)
        with open_input(path) as fp:
            for prepared, skipped in batches(read(fp, options), fmt in TIMELESS, size):
                # Plain tuples cross the pipe: unpickling a NamedTuple calls Python code per object.
                plain = [tuple(p) if isinstance(p, Prepared) else p for p in prepared]
                out.put(("batch", (plain, skipped), _position(fp)))
        out.put(("done", None, None))
    except AccordError as exc:
        out.put(("error", (exc.detail, exc.where), None))
    except Exception as exc:  # reported to the parent, which raises it there
        out.put(("crash", f"{type(exc).__name__}: {exc}", None))


def _as_prepared(plain: list[Any]) -> list[Prepared | Problem]:
    """The worker's plain tuples as Prepared again (tuple.__new__: `_make` costs twice as much)."""
    new = tuple.__new__
    return [item if isinstance(item, Problem) else new(Prepared, item) for item in plain]


def batches_in_worker(
    path: str, fmt: str, options: ImportOptions, size: int | None = None
) -> Iterator[tuple[Batch, int]]:
    """Read and prepare a file in a worker process while this one writes (two cores: about twice
    the speed); yields (batch, bytes of the file read so far). A bounded queue keeps memory flat;
    if the caller stops early (an error, an interrupt) the worker is terminated."""
    ctx: Any = mp.get_context("spawn" if os.name != "posix" else "forkserver")
    out = ctx.Queue(maxsize=4)
    proc = ctx.Process(
        target=_worker, args=(path, fmt, options, out, size or BATCH, os.getpid()), daemon=True
    )
    proc.start()
    try:
        while True:
            try:
                kind, payload, offset = out.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError("the import worker stopped unexpectedly") from None
                continue
            if kind == "done":
                break
            if kind == "error":
                detail, where = payload
                raise InvalidInput(detail, **where)
            if kind == "crash":
                raise RuntimeError(f"the import worker failed: {payload}")
            plain, skipped = payload
            yield (_as_prepared(plain), skipped), offset
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        out.close()


def file_batches(
    path: str, fmt: str, options: ImportOptions, progress: Callable[[int], None] | None
) -> Iterator[Batch]:
    """Batches of a file, from a worker process when the file is big enough to be worth one;
    `progress` receives bytes of the file read."""
    done = 0
    if os.path.getsize(path) < IN_PROCESS_BELOW:
        with open_input(path) as fp:
            for batch in batches(reader(fmt)(fp, options), fmt in TIMELESS):
                if progress is not None:
                    position = _position(fp)
                    progress(position - done)
                    done = position
                yield batch
        return
    for batch, offset in batches_in_worker(path, fmt, options):
        if progress is not None:
            progress(offset - done)
        done = offset
        yield batch
