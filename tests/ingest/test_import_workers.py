"""Big files are read and prepared in worker processes; what they hand over is exactly what the
import would have prepared in-process, batch for batch, in the order of the file."""

from __future__ import annotations

import gzip
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from stix_factory import bundle, ip_indicator, malware

from accord.errors import InvalidInput, Problem
from accord.ingest import ImportOptions, run
from accord.ingest.detect import open_input
from accord.intel.tlp import TLP

BATCH = 4
pytestmark = pytest.mark.timeout(120)  # a batch sent to the wrong queue would be waited for forever


def in_process(path: Path, fmt: str) -> list[run.Batch]:
    with open_input(str(path)) as fp:
        return list(run.batches(run.reader(fmt)(fp, ImportOptions()), fmt in run.TIMELESS, BATCH))


def in_workers(path: Path, fmt: str, helper: bool) -> list[run.Batch]:
    return [batch for batch, _offset in run.batches_in_worker(str(path), fmt, ImportOptions(), BATCH, helper)]


def stix_objects(count: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for i in range(count):
        obj = ip_indicator(f"203.0.113.{i}", TLP.GREEN)
        if i == 5:  # an integer beyond 64 bits: JSON decoders disagree on these (orjson makes a float)
            obj["x_big"] = 123456789012345678901234567890
        if i == 6:  # invalid: a Problem, kept in its place
            obj["pattern"] = "[ipv4-addr:value = "
        objects.append(obj)
    objects.append({**malware("Emotet"), "spec_version": "2.0", "labels": ["trojan"]})  # upgraded on read
    return objects


@pytest.mark.parametrize("count", [8, 11, 15])  # batches: 3 (odd), 3, 4 (even): the end comes from either
@pytest.mark.parametrize("helper", [False, True])
def test_workers_hand_over_what_the_import_prepares_in_process(
    tmp_path: Path, count: int, helper: bool
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle(stix_objects(count)), indent=1))
    expected = in_process(path, "stix")
    got = in_workers(path, "stix", helper)
    assert got == expected
    assert len(got) == -(-(count + 1) // BATCH)
    prepared = [p for batch, _skipped in got for p in batch if isinstance(p, run.Prepared)]
    assert [p.position for p in prepared] == sorted(p.position for p in prepared)
    assert '"x_big": 123456789012345678901234567890' in prepared[5].raw
    assert any(p.type == "malware" and p.spec_version == "2.1" for p in prepared)


@pytest.mark.parametrize("helper", [False, True])
def test_skipped_lines_come_through_a_helper_with_their_reasons(tmp_path: Path, helper: bool) -> None:
    path = tmp_path / "list.txt"
    lines = [f"198.51.100.{i}" if i % 3 else f"not a value {i}" for i in range(30)]
    path.write_text("\n".join(lines) + "\n198.51.100.1\n")
    got = in_workers(path, "text", helper)
    assert got == in_process(path, "text")
    reasons = [s.reason for _batch, skipped in got for s in skipped]
    assert len(reasons) == 11 and "duplicate of line 2 (198.51.100.1)" in reasons


def outcome(read: Any) -> Any:
    """What reading gave: its batches, or the error it raised (as what and where)."""
    try:
        return read()
    except InvalidInput as exc:
        return (exc.detail, exc.where)


@pytest.mark.parametrize("good", [4, 6, 9])  # broken in the reader's batch, the helper's, or a later one
def test_broken_input_ends_the_stream_where_it_is_in_order(tmp_path: Path, good: int) -> None:
    text = json.dumps(bundle([ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(good)]), indent=1)
    malformed = tmp_path / "broken.json"
    malformed.write_text(text[: text.rindex("}", 0, len(text) - 4)] + ', "x": }]}')
    cut = tmp_path / "cut.json.gz"
    whole = gzip.compress(text.encode())
    cut.write_bytes(whole[: len(whole) * 3 // 4])  # a gzip file that ends early
    # Malformed JSON is the last item read, a Problem; a damaged gzip stream is raised.
    for path, says in ((malformed, "line"), (cut, "byte")):
        expected = outcome(lambda: in_process(path, "stix"))  # noqa: B023 (called at once)
        assert outcome(lambda: in_workers(path, "stix", True)) == expected  # noqa: B023
        last = expected[-1][0][-1] if isinstance(expected, list) else Problem(*expected)
        assert isinstance(last, Problem) and says in last.where


def test_a_helper_that_dies_is_reported_not_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle([ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(20)])))
    stream = run.batches_in_worker(str(path), "stix", ImportOptions(), BATCH, True)
    next(stream)  # the reader's first batch: both processes are up
    _reader, helper = sorted(multiprocessing.active_children(), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    helper.kill()
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        list(stream)
