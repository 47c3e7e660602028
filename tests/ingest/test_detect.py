"""Format detection: what is certain is named, what is not is refused with a reason, never guessed."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from pathlib import Path

import pytest

from accord.errors import InvalidInput
from accord.ingest.detect import HEAD_BYTES, detect, open_input

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("stix20_bundle.json", "stix"),
        ("stix20_object.json", "stix"),
        ("stix21_bundle.json", "stix"),
        ("misp_event.json", "misp"),
        ("indicators.csv", "csv"),
        ("semicolon.csv", "csv"),
        ("pipe.txt", "csv"),
        ("urlhaus_style.csv", "csv"),
        ("mapped_noheader.tsv", "csv"),
        ("iocs_defanged.txt", "text"),
        ("ipsum_like.txt", "text"),
    ],
)
def test_fixtures(name: str, expected: str) -> None:
    assert detect((FIXTURES / name).read_bytes(), name) == expected


@pytest.mark.parametrize("name", ["stix1_package.xml", "stix1_package.json"])
def test_stix1_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"STIX 1\.x is not supported.*stix2-elevator"):
        detect((FIXTURES / name).read_bytes(), name)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"type": "bundle", "id": "bundle--1", "objects": []}', "stix"),
        (b'  \n{"id": "indicator--1", "type": "indicator"}', "stix"),
        (b'[{"type": "indicator", "spec_version": "2.1"}]', "stix"),
        (b'{"spec_version": "2.1"}', "stix"),
        (b'{"Event": {"info": "x", "Attribute": [{"type": "ip-dst"}]}}', "misp"),
        (b'{"response": [{"Event": {"info": "x"}}]}', "misp"),
        (b'[{"Event": {"info": "x"}}]', "misp"),
        (b'{"id": "5", "Event": {"Attribute": [{"type": "domain"}]}}', "misp"),
        (b"\xef\xbb\xbf" + b'{"type": "bundle"}', "stix"),
    ],
)
def test_json(head: bytes, expected: str) -> None:
    assert detect(head) == expected


def test_json_that_is_neither_is_refused() -> None:
    with pytest.raises(InvalidInput, match="neither STIX 2"):
        detect(b'{"hello": "world"}')


def test_malformed_json_named_json_goes_to_the_stix_reader_for_its_error() -> None:
    assert detect(b"<{\n}>", "invalid_braces.json") == "stix"


def test_other_xml_is_refused() -> None:
    with pytest.raises(InvalidInput, match="XML") as caught:
        detect(b'<?xml version="1.0"?><rss><channel/></rss>')
    assert "STIX 1.x" not in caught.value.detail


def compressed() -> list[tuple[str, bytes]]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "198.51.100.1\n")
    data = b"198.51.100.1\n"
    return [
        ("gzip", gzip.compress(data)),
        ("zip archive", archive.getvalue()),
        ("bzip2", bz2.compress(data)),
        ("xz", lzma.compress(data)),
        ("PDF", b"%PDF-1.7\n..."),
    ]


@pytest.mark.parametrize(("what", "head"), compressed())
def test_compressed_and_binary_input_is_refused_saying_what_it_is(what: str, head: bytes) -> None:
    with pytest.raises(InvalidInput, match=what):
        detect(head, "feed.txt")


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"198.51.100.1\n\x00\x01\x02", "binary"),
        (b"198.51.100.1\n\xff\xfe\xfa bad", "not UTF-8"),
        ("198.51.100.1\n".encode("utf-16"), "UTF-16"),
        (b"   \n\n", "empty"),
    ],
)
def test_undecidable_input_is_refused(head: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        detect(head)


def test_a_character_cut_by_the_end_of_the_head_is_not_an_error() -> None:
    line = "bücher.example\n".encode()
    head = line * ((HEAD_BYTES - 4) // len(line)) + "bü".encode()[:2]
    assert len(head) <= HEAD_BYTES and head[-1:] == b"\xc3"  # the first half of 'ü'
    assert detect(head) == "text"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evil.example\n198.51.100.1\nhxxp://bad[.]example/a\n", "text"),
        ("198.51.100.1\t7\n198.51.100.2\t3\n", "text"),  # ipsum: value and a count
        ("5.63.151.0/24 # scanner\n13.249.87.0/24 # other\n", "text"),  # maltrail
        ("http://a.example/x?a=1,2\nhttp://b.example/y\n", "text"),  # commas, but not a table
        ("198.51.100.1,ip-dst,2024-01-01\nevil.example,domain,2024-01-02\n", "csv"),  # no header
        ("198.51.100.1\tip-dst\t2024-01-01\nevil.example\tdomain\t2024-01-02\n", "csv"),
        ("value\n198.51.100.1\n", "csv"),  # one column, with its header
        ("ip,port\n198.51.100.1,443\n", "csv"),
        ("# comment\n\nIndicator;Type\n198.51.100.1;ip-dst\n", "csv"),
        ("198.51.100.1,ip-dst\n", "text"),  # one line, no header: not enough to call it a table
    ],
)
def test_table_or_text(text: str, expected: str) -> None:
    assert detect(text.encode()) == expected


def test_a_csv_name_settles_a_consistent_split() -> None:
    assert detect(b"198.51.100.1,ip-dst\n", "export.csv") == "csv"
    assert detect(b"198.51.100.1\t7\n198.51.100.2\t3\n", "list.tsv") == "csv"
    assert detect(b"evil.example\n", "export.csv") == "text"  # one column and no header: a list


def test_open_input_gunzips_by_magic_number(tmp_path: Path) -> None:
    data = json.dumps({"type": "bundle", "objects": []}).encode()
    packed = tmp_path / "bundle.json.gz"
    packed.write_bytes(gzip.compress(data))
    renamed = tmp_path / "bundle.dat"  # gzip without the .gz name: the magic number decides
    renamed.write_bytes(gzip.compress(data))
    plain = tmp_path / "plain.json"
    plain.write_bytes(data)
    for path in (packed, renamed, plain):
        with open_input(str(path)) as fp:
            head = fp.read(HEAD_BYTES)
            assert head == data and fp.read() == b""
        assert detect(head, path.name) == "stix"


def test_open_input_streams_large_gzip(tmp_path: Path) -> None:
    lines = b"".join(f"198.51.{i // 256}.{i % 256}\n".encode() for i in range(60_000))
    path = tmp_path / "big.txt.gz"
    path.write_bytes(gzip.compress(lines))
    with open_input(str(path)) as fp:
        assert detect(fp.read(HEAD_BYTES)) == "text"
        total = HEAD_BYTES + sum(len(chunk) for chunk in iter(lambda: fp.read(65536), b""))
    assert total == len(lines)
