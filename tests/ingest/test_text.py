"""The text importer: one value per line, defanged, commented, with the quirks real feeds have."""

from __future__ import annotations

import io
import re
import uuid
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data

from accord.errors import Problem
from accord.ingest import ImportOptions, Item, Skipped, org_namespace, stable_id
from accord.ingest.detect import detect
from accord.ingest.tabular import read as read_csv
from accord.ingest.text import Lines, parse_value, read
from accord.intel.prepare import Prepared, prepare
from accord.intel.timestamps import format_micros
from accord.intel.tlp import EMIT_ID, TLP

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
OBSERVED = 1_720_000_000_000_000
OPTIONS = ImportOptions(observed_us=OBSERVED, source="iocs.txt")


def read_bytes(data: bytes, options: ImportOptions = OPTIONS) -> list[Item]:
    return list(read(io.BytesIO(data), options))


def emitted(items: list[Item]) -> dict[int, dict[str, Any]]:
    return {i[0]: i[1] for i in items if isinstance(i, tuple)}


def skipped(items: list[Item]) -> dict[int, str]:
    return {i.where["line"]: i.reason for i in items if isinstance(i, Skipped)}


def fixture_items() -> list[Item]:
    return read_bytes((FIXTURES / "iocs_defanged.txt").read_bytes())


def test_fixture_lines_become_the_values_they_mean() -> None:
    """The fixture has a BOM, CRLF line ends, three comment styles and a blank line at the top."""
    patterns = {line: obj["pattern"] for line, obj in emitted(fixture_items()).items()}
    assert patterns == {
        5: "[ipv4-addr:value = '198.51.100.7']",
        6: "[url:value = 'http://evil.example/payload.exe']",
        7: "[url:value = 'https://login.bank-secure.example/verify?id=1']",
        8: "[email-addr:value = 'bad-actor@mail.example']",
        9: "[domain-name:value = 'evil.example.net']",
        10: "[ipv4-addr:value = '203.0.113.9']",  # ip:port
        11: "[url:value = 'http://malware-cdn.example/dl/stage2.bin']",  # domain/path
        12: "[domain-name:value = 'tracker.example']",  # *.domain
        13: "[domain-name:value = 'dyn.example']",  # .domain
        14: "[domain-name:value = 'blocked.example']",  # hosts file
        15: "[ipv4-addr:value ISSUBSET '192.0.2.0/24']",  # trailing comment
        16: "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        17: "[ipv4-addr:value = '198.51.100.8']",  # extra column
        23: "[ipv6-addr:value = '2001:db8::1']",
    }


def test_unusable_lines_are_skipped_with_line_and_reason() -> None:
    reasons = skipped(fixture_items())
    assert set(reasons) == {18, 19, 20, 21}
    assert "URL path without a host" in reasons[18]
    assert "not a recognised observable" in reasons[19] and "'not an indicator'" in reasons[19]
    assert reasons[20] == "duplicate of line 5 (198.51.100.7)"
    assert "octet '999'" in reasons[21]


def test_descriptions_keep_source_port_comment_and_extra_columns() -> None:
    objs = emitted(fixture_items())
    assert objs[5]["description"] == "From iocs.txt"
    assert objs[10]["description"] == "From iocs.txt; port 8443"
    assert objs[15]["description"] == "From iocs.txt; scanner network"
    assert objs[17]["description"] == "From iocs.txt; extra columns: 7"
    assert "description" not in emitted(read_bytes(b"198.51.100.1\n", ImportOptions()))[1]


def test_indicators_are_stamped_marked_and_pass_prepare() -> None:
    options = ImportOptions(observed_us=OBSERVED, tlp=TLP.GREEN, labels=("feed-x",))
    items = [
        i for i in read_bytes((FIXTURES / "iocs_defanged.txt").read_bytes(), options) if isinstance(i, tuple)
    ]
    assert len(items) == 14
    for item in items:
        obj = item[1]
        assert obj["valid_from"] == obj["created"] == format_micros(OBSERVED)
        assert obj["object_marking_refs"] == [EMIT_ID[TLP.GREEN]] and obj["labels"] == ["feed-x"]
        result = prepare(*item)
        assert isinstance(result, Prepared), result
        assert len(result.observables) == 1


def test_reading_twice_gives_identical_objects_and_ids_are_per_organisation() -> None:
    assert fixture_items() == fixture_items()
    a = emitted(read_bytes(b"198.51.100.1\n", ImportOptions(namespace=org_namespace(1), source="s")))[1]
    b = emitted(read_bytes(b"198.51.100.1\n", ImportOptions(namespace=org_namespace(2), source="s")))[1]
    c = emitted(read_bytes(b"198.51.100.1\n", ImportOptions(namespace=org_namespace(1), source="t")))[1]
    assert a["id"] == stable_id("indicator", org_namespace(1), "s|ipv4:198.51.100.1") != b["id"]
    assert c["id"] != a["id"]  # another source of the same organisation: another indicator


def test_same_value_written_differently_is_a_duplicate() -> None:
    items = read_bytes(b"evil.example\nEVIL[.]example\n*.evil.example\nhxxp://evil.example\n")
    assert list(emitted(items)) == [1, 4]
    assert skipped(items) == {
        2: "duplicate of line 1 (evil.example)",
        3: "duplicate of line 1 (evil.example)",
    }


@pytest.mark.parametrize(
    ("token", "kind", "value", "notes"),
    [
        ("[::1]:8080", "ipv6", "::1", ["port 8080"]),
        ("evil.example:8080", "domain", "evil.example", ["port 8080"]),
        ("evil.example:8080/x", "url", "http://evil.example:8080/x", []),
        ("198.51.100.1/a.sh", "url", "http://198.51.100.1/a.sh", []),
        ("198.51.100.0/24", "ipv4", "198.51.100.0/24", []),
        ("fxp://files.example/a", "url", "ftp://files.example/a", []),
    ],
)
def test_feed_quirks(token: str, kind: str, value: str, notes: list[str]) -> None:
    o, got_notes = parse_value(token)
    assert (o.kind, o.value, got_notes) == (kind, value, notes)


def test_invalid_utf8_line_is_skipped_and_the_rest_read() -> None:
    items = read_bytes(b"198.51.100.1\nbad\xff\xfe.example\n198.51.100.2\n")
    assert list(emitted(items)) == [1, 3]
    assert "not valid UTF-8" in skipped(items)[2]


def test_utf16_is_a_problem() -> None:
    items = read_bytes("198.51.100.1\n".encode("utf-16"))
    assert len(items) == 1 and isinstance(items[0], Problem) and "UTF-16" in items[0].detail


def test_overlong_line_is_skipped_with_memory_bounded() -> None:
    data = b"198.51.100.1\n" + b"a" * 5000 + b".example\n198.51.100.2"
    lines = Lines(io.BytesIO(data), max_bytes=1000)
    got = [(lines.number, text, lines.problem) for text in lines]
    assert got == [
        (1, "198.51.100.1", None),
        (2, "", "line is longer than 1000 bytes"),
        (3, "198.51.100.2", None),
    ]


def test_empty_input_yields_nothing() -> None:
    assert read_bytes(b"") == [] and read_bytes(b"\xef\xbb\xbf# only a comment\r\n\r\n") == []


# --- corpora ----------------------------------------------------------------------------------------

# What a skip may say: a feed line that is no value, a repeat, or a malformed value.
SENSIBLE_SKIP = re.compile(
    r"duplicate of line \d+|URL path without a host|is not a valid|is not a recognised observable"
)


def first_lines(paths: list[Path], count: int = 5000) -> bytes:
    out: list[bytes] = []
    for path in paths:
        with path.open("rb") as fp:
            out.extend(islice(fp, count - len(out)))
        if len(out) >= count:
            break
    return b"".join(out)


CORPORA = {
    "maltrail": ("maltrail-static-trails", "trails/static/**/*.txt"),
    "romainmarcoux-ip": ("romainmarcoux-malicious-ip", "full-aa.txt"),
    "romainmarcoux-domains": ("romainmarcoux-malicious-domains", "full-domains-aa.txt"),
    "romainmarcoux-md5": ("romainmarcoux-malicious-hash", "full-hash-md5-aa.txt"),
    "romainmarcoux-sha1": ("romainmarcoux-malicious-hash", "full-hash-sha1-aa.txt"),
    "ipsum": ("ipsum", "ipsum.txt"),
    "blocklistproject-abuse": ("blocklistproject-lists", "abuse.ip"),
    "blocklistproject-phishing": ("blocklistproject-lists", "alt-version/phishing-nl.txt"),
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPORA))
def test_corpus_feed_imports(name: str) -> None:
    folder, pattern = CORPORA[name]
    paths = sorted(shared_data(folder).glob(pattern))
    assert paths
    data = first_lines(paths)
    fmt = detect(data[: 64 * 1024], paths[0].name)
    assert fmt in ("text", "csv")
    reader = read if fmt == "text" else read_csv
    options = ImportOptions(observed_us=OBSERVED, source=name, namespace=uuid.uuid5(uuid.NAMESPACE_DNS, name))
    taken = 0
    skips: list[Skipped] = []
    for item in reader(io.BytesIO(data), options):
        assert not isinstance(item, Problem), item
        if isinstance(item, Skipped):
            skips.append(item)
            continue
        result = prepare(*item)
        assert isinstance(result, Prepared), result
        taken += 1
    assert taken >= 500
    assert len(skips) <= max(5, taken // 20), skips[:10]  # few skips: under 5%
    for s in skips:
        assert SENSIBLE_SKIP.search(s.reason), s
