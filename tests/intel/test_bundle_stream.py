"""Streaming bundles: same objects as json.loads whatever the chunk size, raw text exact, errors placed.

Tiny chunk sizes (1, 7, 64) put every token, escape and multi-byte character across a boundary
somewhere. Timing and the 200 MB memory check are scratch measurements, not tests; a small
tracemalloc check here keeps the "flat memory" property from regressing.
"""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.intel.bundle_stream import iter_bundle

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
BUNDLE_ID = "bundle--63ab8e67-acac-4817-845a-d09f0e86954c"
CHUNKS = [1, 2, 3, 7, 64, 1 << 20]

TRICKY_STRINGS = [
    "plain",
    "é and ü, ß",  # two-byte UTF-8
    "中文字符 日本語",  # three-byte
    "emoji 😀🛡️ in text",  # four-byte, and a variation selector
    'quotes " and \\ backslashes \\" and / slashes',
    "control \n\t\r\b\f and \u0001 \u001f",
    "\u2028\u2029 line separators",
    "\ufeff a BOM inside a string is content",
    "[brackets] {braces}, commas: and colons",
    "",
]


def indicator(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{i:08x}-0000-4000-8000-000000000000",
        "created": "2024-01-02T03:04:05.678Z",
        "modified": "2024-01-02T03:04:05.678Z",
        "pattern": f"[ipv4-addr:value = '198.51.100.{i % 256}']",
        "pattern_type": "stix",
        "valid_from": "2024-01-02T03:04:05Z",
        "confidence": i % 101,
        **extra,
    }


OBJECTS = [
    indicator(
        i, name=s, x_acme_numbers=[0, -1, 1.5, 1e300, 12345678901234567890, -0.0], x_acme_flags=[True, None]
    )
    for i, s in enumerate(TRICKY_STRINGS)
]


def stream(data: str | bytes, chunk_size: int = 7) -> list[tuple[int, dict[str, Any], str]]:
    fp: Any = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    return list(iter_bundle(fp, chunk_size))


def encodings(text: str) -> Iterator[str | bytes]:
    yield text
    yield text.encode("utf-8")


def serialisations(doc: Any) -> Iterator[str]:
    yield json.dumps(doc)  # ", " separators, non-ASCII escaped as \uXXXX (surrogate pairs for emoji)
    yield json.dumps(doc, ensure_ascii=False, separators=(",", ":"))  # compact, raw UTF-8
    yield json.dumps(doc, ensure_ascii=False, indent=2)
    yield json.dumps(doc, indent="\t") + "\n\n"
    yield "\r\n " + json.dumps(doc, ensure_ascii=False, indent=1).replace("\n", "\r\n") + " \r\n"


def check_raw(data: str, found: list[tuple[int, dict[str, Any], str]]) -> None:
    """Each raw text is the exact input text of its object, in order, and parses back to it."""
    at = 0
    for _, obj, raw in found:
        assert json.loads(raw) == obj
        at = data.index(raw, at) + len(raw)


@pytest.mark.parametrize("chunk_size", CHUNKS)
def test_bundle_across_chunk_boundaries(chunk_size: int) -> None:
    doc = {"type": "bundle", "id": BUNDLE_ID, "objects": OBJECTS}
    for text in serialisations(doc):
        for data in encodings(text):
            found = stream(data, chunk_size)
            assert [i for i, _, _ in found] == list(range(len(OBJECTS)))
            assert [o for _, o, _ in found] == OBJECTS
            check_raw(text, found)


@pytest.mark.parametrize("chunk_size", range(1, 17))
def test_every_split_of_escapes_and_multibyte_characters(chunk_size: int) -> None:
    escapes = '"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/\\u2028"'
    text = '{"type":"bundle","objects":[{"a":' + escapes + ',"b":"é😀中"},{"c":' + escapes + "}]}"
    expected = [{"a": 'é😀\n"\\/\u2028', "b": "é😀中"}, {"c": 'é😀\n"\\/\u2028'}]
    for data in encodings(text):
        found = stream(data, chunk_size)
        assert [o for _, o, _ in found] == expected
        check_raw(text, found)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 64])
def test_numbers_and_literals_split_across_chunks(chunk_size: int) -> None:
    # A number decoded at a buffer's end may continue in the next chunk: it must not be cut short.
    text = '{"type":"x-acme-thing","n":1234567890123,"f":-12.5e-3,"t":true,"z":null,"l":[123456,false]}'
    ((index, obj, raw),) = stream(text, chunk_size)
    assert index == 0
    assert obj == json.loads(text)
    assert raw == text


def test_keys_in_any_order_and_other_bundle_properties() -> None:
    # The stix2 library writes sorted keys: "objects" before "type".
    text = json.dumps({"id": BUNDLE_ID, "objects": OBJECTS[:2], "spec_version": "2.0", "type": "bundle"})
    assert [o for _, o, _ in stream(text)] == OBJECTS[:2]
    text = '{"objects": [{"a": 1}], "type": "bundle", "x_extra": {"objects": [1, 2]}}'
    assert [o for _, o, _ in stream(text)] == [{"a": 1}]


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "bundle", "id": "' + BUNDLE_ID + '"}',
        '{"type": "bundle", "objects": []}',
        '{"type":"bundle","objects":[ \n ]}',
        "[]",
        " [ ] ",
    ],
)
def test_nothing_to_yield(text: str) -> None:
    assert stream(text) == []


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_single_object(chunk_size: int) -> None:
    obj = OBJECTS[3]
    for text in serialisations(obj):
        for data in encodings(text):
            found = stream(data, chunk_size)
            assert [(i, o) for i, o, _ in found] == [(0, obj)]
            assert found[0][2] == text.strip(" \t\r\n")


def test_single_stix20_observed_data_with_an_objects_dict() -> None:
    obj = {"type": "observed-data", "id": "observed-data--x", "objects": {"0": {"type": "file"}}}
    assert [o for _, o, _ in stream(json.dumps(obj))] == [obj]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_array_of_objects(chunk_size: int) -> None:
    for text in serialisations(OBJECTS):
        found = stream(text, chunk_size)
        assert [o for _, o, _ in found] == OBJECTS
        check_raw(text, found)


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", "\ufeff"])
def test_byte_order_mark_tolerated(prefix: bytes | str) -> None:
    text = json.dumps({"type": "bundle", "objects": [{"a": "b"}]})
    data = prefix + text.encode() if isinstance(prefix, bytes) else prefix + text
    for chunk_size in (1, 2, 64):
        assert [o for _, o, _ in stream(data, chunk_size)] == [{"a": "b"}]


def test_empty_and_short_reads() -> None:
    class Dribble(io.RawIOBase):
        """Returns at most 3 bytes per read, as sockets and pipes may."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            out, self.data = self.data[:3], self.data[3:]
            return out

    text = json.dumps({"type": "bundle", "objects": OBJECTS}, ensure_ascii=False)
    found = list(iter_bundle(Dribble(text.encode()), 1000))
    assert [o for _, o, _ in found] == OBJECTS


# --- errors -------------------------------------------------------------------------------------


def refusal(data: str | bytes, chunk_size: int = 7) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        stream(data, chunk_size)
    return info.value


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ("", "empty input", {"line": 1, "column": 1}),
        ("  \n ", "empty input", {"line": 2, "column": 2}),
        ('"a string"', "must be a JSON object", {"line": 1, "column": 1}),
        ("42", "must be a JSON object", {"line": 1, "column": 1}),
        ("<{}>", "must be a JSON object", {"line": 1, "column": 1}),
        ("{} {}", "unexpected data after the top-level JSON value", {"line": 1, "column": 4}),
        ('{"type": "bundle", "objects": []}\n]', "unexpected data after", {"line": 2, "column": 1}),
        ("[{}] x", "unexpected data after", {"line": 1, "column": 6}),
        ('{"type": "bundle", "objects": {}}', "'objects' must be an array, not an object", {}),
        ('{"type": "bundle", "objects": "none"}', "'objects' must be an array, not a string", {}),
        ('{"objects": [{}], "type": "x-acme"}', "must be a bundle, but it has type 'x-acme'", {}),
        ('{"objects": [{}]}', "must be a bundle, but it has no 'type'", {}),
        ('{"type": "report", "objects": [{}]}', "must be a bundle, but it has type 'report'", {}),
        (
            '{"type": "bundle", "id": "bundle--1", "objects": []}',
            "the bundle's 'id' does not end in a UUID",
            {},
        ),
        ('{"type": "bundle", "id": "' + BUNDLE_ID.upper() + '"}', "the bundle's 'id' must start with", {}),
        ('{"type": "bundle", "objects": [], "objects": []}', "two 'objects'", {}),
        (
            '{"type": "bundle", "objects": [1]}',
            "objects[0] is not a JSON object but a number",
            {"object": "#0"},
        ),
        ('[{}, "x"]', "objects[1] is not a JSON object but a string", {"object": "#1"}),
        ("[{}, null]", "objects[1] is not a JSON object but null", {"object": "#1"}),
        (
            '{"type": "bundle", "objects": [\n{"a": 1},\n{"a": 1} {"b": 2}]}',
            "expecting ',' or ']', found '{'",
            {"line": 3, "column": 10, "object": "#2"},
        ),
        (
            '{"type": "bundle", "objects": [\n{"a": 1},\n{"a": 1},\n  {"a" 1}]}',
            "malformed JSON: Expecting ':' delimiter",
            {"line": 4, "column": 8, "object": "#2"},
        ),
        (
            '{"type": "bundle",\n "objects": [{"a": 1},\n]}',
            "malformed JSON: Expecting value",
            {"line": 3, "column": 1, "object": "#1"},
        ),
        ('{"type": "bundle", "objects": [{"a": 1}', "found end of input", {"object": "#1"}),
        ('{"type": "bundle", "objects": [{"a": 1},', "unexpected end of input", {"object": "#1"}),
        ('{"type": "bundle", "objects": [{"a": "open', "Unterminated string", {"object": "#0"}),
        ('{"type": "bundle", "objects": [{"a": tru}]}', "Expecting value", {"object": "#0"}),
        ('{"type": "bundle", "objects": [{"a": NaN}]}', "NaN is not valid JSON", {"object": "#0"}),
        (
            '{"type": "bundle", "objects": [{"a": -Infinity}]}',
            "-Infinity is not valid JSON",
            {"object": "#0"},
        ),
        ('{"type": "bundle", "objects": [{"a": "\\x"}]}', "Invalid \\escape", {"object": "#0"}),
        ('{"type": "bundle", "objects": [{"a": "\\u12"}]}', "Invalid \\uXXXX escape", {"object": "#0"}),
        (
            '{"type": "bundle", "objects": [{"a": "tab\there"}]}',
            "Invalid control character",
            {"object": "#0"},
        ),
        ('{"type": "bundle", "objects": [{\'a\': 1}]}', "Expecting property name", {"object": "#0"}),
        ('{"type": "bundle" "objects": []}', "expecting ',' or '}', found '\"'", {"line": 1, "column": 19}),
        ('{"type": "bundle", }', "expecting a property name in double quotes, found '}'", {"column": 20}),
        ('{"type": "bundle", "objects" []}', "expecting ':', found '['", {"line": 1, "column": 30}),
        ('{"type": "bundle", "objects": [', "unexpected end of input", {"line": 1, "column": 32}),
        ("{", "expecting a property name in double quotes, found end of input", {}),
        ('{"type": "indicator", "name": "x"', "found end of input", {}),
        ('{"type": "indicator",', "found end of input", {}),
        ("[" * 100_000, "nesting too deep", {"object": "#0"}),
    ],
)
def test_malformed_input_refused(text: str, message: str, where: dict[str, Any]) -> None:
    for data in encodings(text):
        for chunk_size in (1, 7, 1 << 20):
            err = refusal(data, chunk_size)
            assert message in err.detail
            assert where.items() <= err.where.items(), err.where
            assert {"line", "column"} <= err.where.keys()


def test_error_positions_count_lines_dropped_from_the_buffer() -> None:
    objects = ",\n".join(json.dumps({"n": i}) for i in range(5000))
    text = '{"type": "bundle",\n"objects": [\n' + objects + ',\n  {"n": 5000,, }\n]}'
    for chunk_size in (7, 64, 1 << 20):
        err = refusal(text, chunk_size)
        assert err.where == {"line": 5003, "column": 14, "object": "#5000"}
        assert str(err).startswith(
            "malformed JSON: Expecting property name enclosed in double quotes (line 5003"
        )


def outcome(data: str | bytes, chunk_size: int) -> list[Any]:
    """All that a stream gives: each (index, object, raw), then 'end' or the error and its place."""
    fp: Any = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    got: list[Any] = []
    try:
        got.extend(iter_bundle(fp, chunk_size))
    except InvalidInput as err:
        return [*got, (err.detail, err.where)]
    return [*got, "end"]


@pytest.mark.parametrize("indent", [None, 1])
def test_values_across_chunk_ends_read_ahead_alike(indent: int | None) -> None:
    # Chunks of 300 to 4096 characters end inside objects of ~260, with or without newlines before;
    # reading on before a value reaches the buffer's end must change nothing, errors included.
    objects = [indicator(i, name="x" * (i % 7)) for i in range(60)]
    text = json.dumps({"type": "bundle", "id": BUNDLE_ID, "objects": objects}, indent=indent)
    broken = [text]
    for at in range(100, len(text), len(text) // 9):
        broken.append(text[:at] + "}" + text[at + 1 :])  # a bad character
        broken.append(text[:at])  # cut short
    for data in broken:
        expected = outcome(data, 1 << 20)  # all in one read: nothing runs past the buffer's end
        for chunk_size in (300, 511, 1024, 4096):
            assert outcome(data, chunk_size) == expected
            assert outcome(data.encode(), chunk_size) == expected


def test_invalid_utf8_reported_with_byte_offset() -> None:
    good = json.dumps({"type": "bundle", "objects": [{"a": "é" * 50}]}, ensure_ascii=False).encode()
    for at in (0, 1, 40, len(good) - 2):
        bad = good[:at] + b"\xff" + good[at:]
        for chunk_size in (1, 7, 64, 1 << 20):
            err = refusal(bad, chunk_size)
            assert err.where == {"byte": at}
            assert "not valid UTF-8" in err.detail
    # A multi-byte character cut off by the end of input.
    err = refusal(b'{"a": "\xe4\xb8', 2)
    assert "not valid UTF-8" in err.detail
    assert err.where == {"byte": 7}
    err = refusal(b'{"a": "\xc3\x28"}', 3)  # a lead byte followed by ASCII
    assert err.where == {"byte": 7}


def test_utf16_named() -> None:
    for encoding in ("utf-16", "utf-16-be"):
        data = json.dumps({"type": "bundle", "objects": []}).encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        err = refusal(data, 64)
        assert "UTF-16" in err.detail


def test_objects_before_the_error_were_yielded() -> None:
    text = '{"type": "bundle", "objects": [{"a": 1}, {"a": 2}, {"a" 3}]}'
    seen = []
    with pytest.raises(InvalidInput):
        for _, obj, _ in iter_bundle(io.StringIO(text), 7):
            seen.append(obj)
    assert seen == [{"a": 1}, {"a": 2}]


def test_bad_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_bundle(io.StringIO("[]"), 0))


# --- memory ---------------------------------------------------------------------------------------


class Generated(io.RawIOBase):
    """A bundle of `count` indicators, produced on demand so the input never exists in memory."""

    def __init__(self, count: int, pad: int = 0) -> None:
        self.count = count
        self.pad = "x" * pad
        self.next = 0
        self.pending = b'{"type": "bundle", "id": "' + BUNDLE_ID.encode() + b'", "objects": [\n'
        self.size = len(self.pending)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self.pending) < len(buffer) and self.next <= self.count:
            if self.next == self.count:
                self.pending += b"\n]}\n"
            else:
                obj = indicator(self.next, description=self.pad)
                self.pending += (b",\n" if self.next else b"") + json.dumps(obj).encode()
            self.next += 1
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        self.size += n
        return n


def test_memory_stays_flat() -> None:
    source = Generated(8_000, pad=1_200)  # about 12 MB
    tracemalloc.start()
    try:
        count = 0
        for i, obj, raw in iter_bundle(io.BufferedReader(source, 1 << 16), chunk_size=1 << 16):
            assert i == count and obj["confidence"] == i % 101 and raw.startswith("{")
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8_000
    assert source.size > 10_000_000
    assert peak < 2_000_000, f"peak {peak:,} bytes while streaming {source.size:,} bytes"


def test_one_huge_object_with_small_chunks() -> None:
    # A value much larger than the chunk: read more until it is whole (reads double: linear time).
    big = "A" * 3_000_000 + "é"
    text = json.dumps(
        {"type": "bundle", "objects": [{"a": 1}, {"payload_bin": big}, {"b": 2}]}, ensure_ascii=False
    )
    found = stream(text.encode(), 1024)
    assert [o for _, o, _ in found] == [{"a": 1}, {"payload_bin": big}, {"b": 2}]
    assert found[1][2] == json.dumps({"payload_bin": big}, ensure_ascii=False)


# --- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=5), inner, max_size=4
        )
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    objects=st.lists(json_objects, max_size=6),
    chunk_size=st.integers(min_value=1, max_value=80),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 1, 2, "\t"]),
    wrap=st.sampled_from(["bundle", "array", "bundle-sorted"]),
    binary=st.booleans(),
)
def test_streaming_equals_json_loads(
    objects: list[dict[str, Any]],
    chunk_size: int,
    ensure_ascii: bool,
    indent: int | str | None,
    wrap: str,
    binary: bool,
) -> None:
    doc: Any = objects if wrap == "array" else {"type": "bundle", "id": BUNDLE_ID, "objects": objects}
    text = json.dumps(doc, ensure_ascii=ensure_ascii, indent=indent, sort_keys=wrap == "bundle-sorted")
    found = stream(text.encode() if binary else text, chunk_size)
    assert [o for _, o, _ in found] == objects
    check_raw(text, found)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=60), chunk_size=st.integers(min_value=1, max_value=16))
def test_garbage_raises_invalid_input_only(data: bytes, chunk_size: int) -> None:
    try:
        stream(data, chunk_size)
    except InvalidInput as err:
        assert err.where


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), chunk_size=st.integers(min_value=1, max_value=64))
def test_truncated_input_is_an_error_not_a_short_result(cut: int, chunk_size: int) -> None:
    text = json.dumps({"type": "bundle", "id": BUNDLE_ID, "objects": OBJECTS}, indent=1, ensure_ascii=False)
    cut = cut % len(text)
    if not text[cut:].strip():
        return
    with pytest.raises(InvalidInput):
        stream(text[:cut], chunk_size)


# --- corpora --------------------------------------------------------------------------------------


def corpus(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    return path


def expected_objects(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if doc.get("type") == "bundle":
        return list(doc.get("objects", []))
    return [doc]


@pytest.mark.corpus
@pytest.mark.parametrize(
    "parts",
    [
        ("oasis-stix-validator-testdata", "stix2validator", "test"),
        ("oasis-python-stix2-testdata", "stix2", "test"),
        ("oasis-stix2-json-schemas", "examples"),
        ("mitre-attack-stix21",),
    ],
)
def test_corpus_files_stream_like_json_load(parts: tuple[str, ...]) -> None:
    root = corpus(*parts)
    malformed = {"invalid_braces.json", "invalid_comma.json", "x-foo-bar.json"}
    checked = 0
    for path in sorted(root.rglob("*.json")):
        if path.name in malformed:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, (dict, list)) or (
            isinstance(doc, dict) and "objects" in doc and doc.get("type") != "bundle"
        ):
            continue
        with path.open("rb") as fp:
            found = list(iter_bundle(fp, 4096))
        assert [o for _, o, _ in found] == expected_objects(doc), path
        check_raw(path.read_text(encoding="utf-8"), found)
        checked += 1
    assert checked


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("parts", "message", "where"),
    [
        (
            ("stix2validator", "test", "v21", "test_examples", "invalid_braces.json"),
            "must be a JSON object",
            {"line": 1, "column": 1},
        ),
        (
            ("stix2validator", "test", "v21", "test_examples", "invalid_comma.json"),
            "expecting a property name in double quotes, found '}'",
            {"line": 9, "column": 1},
        ),
        (
            ("stix2validator", "test", "v20", "test_examples", "invalid_comma.json"),
            "expecting a property name in double quotes, found '}'",
            {"line": 8, "column": 1},
        ),
        (("stix2validator", "test", "v21", "test_schemas", "x-foo-bar.json"), "malformed JSON", {"line": 1}),
    ],
)
def test_corpus_malformed_files_refused(parts: tuple[str, ...], message: str, where: dict[str, Any]) -> None:
    path = corpus("oasis-stix-validator-testdata", *parts)
    for chunk_size in (1, 64, 1 << 20):
        with path.open("rb") as fp, pytest.raises(InvalidInput) as info:
            list(iter_bundle(fp, chunk_size))
        assert message in info.value.detail
        assert where.items() <= info.value.where.items()
