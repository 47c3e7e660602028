"""One import, whatever its format: detect, read, prepare (in a worker process), store, report.

The CLI (`accord import`), the API upload and feed runs all come through `run_import`, so every
import is one transaction (a failed one leaves nothing), is idempotent (generated ids are stable),
is recorded as a job, and ends with the same report: what was taken, what was skipped and why, and
— when refused — every problem with its line, object and field.
"""

from __future__ import annotations

import importlib
import io
import itertools
import multiprocessing as mp
import os
import pickle
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


def _prepared(chunk: list[Item], timeless: bool) -> Batch:
    """A chunk of read items as a batch: Parsed prepared (validated, values extracted, hashed),
    Skipped set aside, Problems kept in place."""
    out: list[Prepared | Problem] = []
    skipped: list[Skipped] = []
    for item in chunk:
        if isinstance(item, Skipped):
            skipped.append(item)
        elif isinstance(item, Problem):
            out.append(item)
        else:
            out.append(prepare(item[0], item[1], item[2], timeless))
    return out, skipped


def batches(items: Iterable[Item], timeless: bool, size: int | None = None) -> Iterator[Batch]:
    """Items in batches (`_prepared`), in this process."""
    size = size or BATCH
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield _prepared(chunk, timeless)


# --- in worker processes ---------------------------------------------------------------------------
#
# A big file is read by one worker process while this one writes. The reading (JSON scanning) and
# the preparing cost that worker more than the writing costs this process, so for the biggest
# files a helper process prepares every other batch: the reader sends it those batches' objects as
# their raw text (cheap to send; decoding them again costs less than preparing them) and the helper
# sends them on prepared. Batch k comes from the reader's queue when k is even and from the
# helper's when it is odd, so they arrive in the order of the file. Whatever ends the stream (done,
# an error) goes where the next batch would have.
HELPER_FROM = 64 * 1024 * 1024  # bytes of file from which a helper process prepares half the batches
Message = tuple[str, Any, int | None]  # (kind, payload, bytes of the file read so far)


def _pickled(value: Any) -> bytes:
    """`value` as pickle bytes, made without the pickler's memo: for a batch of thousands of small
    tuples that is half the time of `pickle.dumps` (nothing in a batch refers to itself)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return buffer.getvalue()


def _sendable(batch: Batch) -> bytes:
    """Plain tuples cross the pipe: unpickling a NamedTuple calls Python code per object."""
    prepared, skipped = batch
    return _pickled(([tuple(p) if isinstance(p, Prepared) else p for p in prepared], skipped))


def _unparsed(item: Item) -> Any:
    """What the helper needs of a read item: a Parsed object as (index, raw text), the rest as is."""
    return (item[0], item[2]) if type(item) is tuple else item


def _failure(exc: Exception) -> Message:
    if isinstance(exc, AccordError):
        return ("error", (exc.detail, exc.where), None)
    return ("crash", f"{type(exc).__name__}: {exc}", None)  # reported to the parent, raised there


def _reader(path: str, fmt: str, options: ImportOptions, outs: list[Any], size: int, parent: int) -> None:
    """Read and prepare the file; with a helper (`outs[1]`, its inbox), send it every odd batch."""
    import gc

    exit_with_parent(parent)
    gc.disable()  # this process only ever does bulk work
    timeless = fmt in TIMELESS
    sent = 0
    try:
        with open_input(path) as fp:
            iterator = reader(fmt)(fp, options)
            while chunk := list(islice(iterator, size)):
                if sent % len(outs):
                    outs[1].put(("raw", _pickled([_unparsed(item) for item in chunk]), _position(fp)))
                else:
                    outs[0].put(("batch", _sendable(_prepared(chunk, timeless)), _position(fp)))
                sent += 1
        message: Message = ("done", None, None)
    except Exception as exc:
        message = _failure(exc)
    outs[sent % len(outs)].put(message)


def _helper(inbox: Any, out: Any, timeless: bool, parent: int) -> None:
    """Prepare the batches the reader sends, in the order it sends them; pass on how it ended."""
    import gc

    from accord.intel.bundle_stream import decode_object

    exit_with_parent(parent)
    gc.disable()
    while True:
        kind, payload, position = inbox.get()
        if kind != "raw":
            out.put((kind, payload, position))
            return
        try:
            chunk = [
                (item[0], decode_object(item[1]), item[1]) if type(item) is tuple else item
                for item in pickle.loads(payload)  # noqa: S301 (from our own reader process)
            ]
            out.put(("batch", _sendable(_prepared(chunk, timeless)), position))
        except Exception as exc:
            out.put(_failure(exc))
            return


def _as_prepared(plain: list[Any]) -> list[Prepared | Problem]:
    """The worker's plain tuples as Prepared again (tuple.__new__: `_make` costs twice as much)."""
    new = tuple.__new__
    return [item if isinstance(item, Problem) else new(Prepared, item) for item in plain]


def _receive(source: Any, process: Any, upstream: Any | None) -> Message:
    """The next message of `source`, which `process` fills (from what `upstream` sends it)."""
    while True:
        try:
            message: Message = source.get(timeout=1.0)
            return message
        except queue.Empty:
            pass
        stopped = not process.is_alive() or (
            upstream is not None and not upstream.is_alive() and upstream.exitcode != 0
        )
        if stopped:
            try:  # what it sent just before it stopped
                message = source.get(timeout=0.5)
                return message
            except queue.Empty:
                raise RuntimeError("the import worker stopped unexpectedly") from None


def batches_in_worker(
    path: str, fmt: str, options: ImportOptions, size: int | None = None, helper: bool = False
) -> Iterator[tuple[Batch, int]]:
    """Read and prepare a file in a worker process (and, with `helper`, a second one) while this
    one writes; yields (batch, bytes of the file read so far). Bounded queues keep memory flat; if
    the caller stops early (an error, an interrupt) the workers are terminated."""
    ctx: Any = mp.get_context("spawn" if os.name != "posix" else "forkserver")
    parent = os.getpid()
    sources = [ctx.Queue(maxsize=4)]  # where prepared batches come from: the reader, the helper
    outs = [sources[0]]  # where the reader sends batches: prepared to us, raw to the helper
    if helper:
        outs.append(ctx.Queue(maxsize=4))
        sources.append(ctx.Queue(maxsize=4))
    procs = [ctx.Process(target=_reader, args=(path, fmt, options, outs, size or BATCH, parent), daemon=True)]
    if helper:
        args = (outs[1], sources[1], fmt in TIMELESS, parent)
        procs.append(ctx.Process(target=_helper, args=args, daemon=True))
    for proc in procs:
        proc.start()
    try:
        for k in itertools.count():
            turn = k % len(sources)
            kind, payload, offset = _receive(sources[turn], procs[turn], procs[0] if turn else None)
            if kind == "done":
                break
            if kind == "error":
                detail, where = payload
                raise InvalidInput(detail, **where)
            if kind == "crash":
                raise RuntimeError(f"the import worker failed: {payload}")
            plain, skipped = pickle.loads(payload)  # noqa: S301 (from our own worker processes)
            assert offset is not None
            yield (_as_prepared(plain), skipped), offset
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
        for source in {*sources, *outs}:
            source.close()


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
    helper = os.path.getsize(path) >= HELPER_FROM and (os.cpu_count() or 1) > 1
    for batch, offset in batches_in_worker(path, fmt, options, helper=helper):
        if progress is not None:
            progress(offset - done)
        done = offset
        yield batch
