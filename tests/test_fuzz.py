"""Fuzzing every importer and the log-match input: whatever bytes arrive, Accord answers with a
report or a refusal that says where, never a crash, and a refused import stores nothing.

Inputs come from structured strategies per format (STIX bundles with mutated fields, MISP events
with odd attributes, CSV with odd delimiters and quotes, text lists with defanged and garbage
lines, Zeek/CSV/JSON/text logs), from random bytes, and from mutated seeds (tests/fixtures/fuzz,
the importers' fixtures, and ../shared/data for the `corpus` tests); each is then wrapped the ways
files really arrive (BOMs, CRLF, gzip, invalid UTF-8, NUL bytes, truncation). Runs are
derandomized and keep no example database, so CI sees the same examples every time; on PostgreSQL
(ACCORD_TEST_DATABASE_URL) the database tests run a third of the examples.

Every import goes through `Harness.check_import`, which holds the invariants:
- only `AccordError` subclasses escape `Accord.import_file`;
- a refusal stores nothing (stix_object and observable rows are counted before and after) and each
  problem names a place (line, object, field, byte, ...) or is about the input as a whole;
- a report's counts are the rows added, every skipped item names its line or object and a reason,
  and line numbers lie within the input;
- importing the same input again stores nothing (for CSV and text lists even a day later).
Log input: the reader never raises but for UTF-16, counts every line (unreadable ones too) and its
hits are exactly the matcher's hits of the candidate values it offers.

Each bug the fuzzing found (damaged gzip, MISP list fields holding scalars, a carriage return in a
CSV comment, a broken Zeek `#separator` escape, bare MISP events and header-less STIX 1.x JSON
detected wrongly) was fixed and keeps a named regression test here.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accord.app import Accord
from accord.db.schema import observable, stix_object
from accord.errors import AccordError, BatchRefused, InvalidInput, Problem
from accord.ingest import ImportOptions, run, tabular
from accord.ingest import misp as misp_reader
from accord.ingest.detect import detect
from accord.intel import loginput
from accord.intel.matcher import Hit, Matcher
from accord.intel.observables import KINDS, normalise
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.model import Viewer
from accord.web.api import create_asgi

FIXTURES = Path(__file__).parent / "fixtures"
ON_POSTGRES = bool(os.environ.get("ACCORD_TEST_DATABASE_URL"))
DAY_US = 86_400_000_000
# Formats whose lines carry no time: the same list imported a day later must add nothing (DESIGN).
TIMELESS = frozenset({"csv", "text"})


def fuzz(examples: int) -> settings:
    """Bounded, reproducible settings; no deadline (every example writes to the database)."""
    return settings(
        max_examples=max(4, examples // 3) if ON_POSTGRES else examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one app per test on purpose; counts are compared
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# ------------------------------------------------------------------------------------ the invariants

# Keys of `where` that name a place in the input.
PLACES = frozenset({"line", "column", "byte", "object", "field", "event", "attribute"})
# A problem without a place must be about the input as a whole (these are the ones there are).
WHOLE_INPUT = re.compile(r"^the (input|request body) is empty|^the input is XML, which no importer reads")
GZIP_MAGIC = b"\x1f\x8b"


def physical_lines(data: bytes) -> int:
    """Lines as the readers count them (split on LF), gunzipped first as `open_input` does."""
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return 1 << 62  # unreadable: no bound to check
    return data.count(b"\n") + 1


def assert_says_where(exc: AccordError) -> None:
    problems = exc.problems if isinstance(exc, BatchRefused) else [Problem(exc.detail, exc.where)]
    assert problems, "a refusal lists its problems"
    for p in problems:
        assert p.detail.strip(), f"an empty problem: {p.where}"
        assert PLACES & p.where.keys() or WHOLE_INPUT.search(p.detail), f"no place in: {p}"


def assert_report_is_sound(report: dict[str, Any], data: bytes) -> None:
    skipped = report["skipped"]
    assert len(skipped["first"]) == min(skipped["count"], run.MAX_SKIPPED_LISTED)
    last_line = physical_lines(data)
    for s in skipped["first"]:
        assert isinstance(s.get("reason"), str) and s["reason"].strip(), f"a skip without a reason: {s}"
        assert {"line", "object", "attribute", "event"} & s.keys(), f"a skip that names no place: {s}"
        if "line" in s:
            assert isinstance(s["line"], int) and 1 <= s["line"] <= last_line, f"line out of the input: {s}"


CSV_COMMENT_WITH_CR = re.compile(rb"(?m)^[^\S\n]*#[^\n]*\r[^\n]")


@dataclass
class Harness:
    """One organisation importing fuzzed files into one app; rows are counted around each import."""

    app: Accord
    viewer: Viewer
    folder: Path

    def counts(self) -> tuple[int, int]:
        with self.app.db.read() as conn:
            return (
                conn.execute(select(func.count()).select_from(stix_object)).scalar_one(),
                conn.execute(select(func.count()).select_from(observable)).scalar_one(),
            )

    def check_fuzzed(self, data: bytes, fmt: str | None, **kw: Any) -> dict[str, Any] | AccordError:
        """`check_import` for generated input, passing over inputs that hit a known bug."""
        return self.check_import(data, fmt, **kw)

    def check_import(
        self,
        data: bytes,
        fmt: str | None,
        name: str = "upload",
        column_map: dict[str, int] | None = None,
    ) -> dict[str, Any] | AccordError:
        """Import `data` (then again), asserting the invariants; the report, or the refusal."""
        path = self.folder / name
        path.write_bytes(data)
        before = self.counts()
        try:
            report = self.app.import_file(self.viewer, str(path), fmt=fmt, column_map=column_map)
        except AccordError as exc:  # anything else is a crash and fails the test
            assert self.counts() == before, f"refused ({exc}), yet rows were stored"
            assert_says_where(exc)
            return exc
        taken = report.as_dict()
        assert self.counts() == (
            before[0] + report.result.stored,
            before[1] + report.result.observables,
        ), f"the report does not count what was stored: {taken['taken']}"
        assert_report_is_sound(taken, data)
        # Again: nothing new. Lines without times of their own are compared without the import's time.
        later = int(path.stat().st_mtime * 1_000_000) + DAY_US if report.format in TIMELESS else None
        try:
            again = self.app.import_file(
                self.viewer, str(path), fmt=fmt, column_map=column_map, observed_us=later
            )
        except AccordError as exc:
            raise AssertionError(
                f"the first import was taken, the same input again is refused: {exc}"
            ) from exc
        assert again.format == report.format
        assert again.result.stored == 0, f"a second import stored more: {again.as_dict()['taken']}"
        assert self.counts() == (before[0] + report.result.stored, before[1] + report.result.observables)
        assert again.skipped.count == report.skipped.count
        return taken


@pytest.fixture
def harness(alliance: Any, tmp_path: Path) -> Harness:
    alliance.org("Fuzz CERT", "csirt", "PL")
    alliance.user("fuzz@cert.example", "Fuzz CERT")
    folder = tmp_path / "inputs"
    folder.mkdir()
    return Harness(alliance.app, alliance.viewer("fuzz@cert.example"), folder)


# --------------------------------------------------------------------------------- value strategies

GOOD_VALUES = [
    "198.51.100.7", "203.0.113.0/24", "2001:db8::1", "2001:db8::/32", "::ffff:198.51.100.8", "0.0.0.0/0",
    "evil.example", "EVIL.Example.", "xn--caf-dma.example", "café.example", "*.tracker.example",
    "http://evil.example/a?b=c", "https://[2001:db8::1]:8443/x", "HTTP://Evil.Example:80/", "ftp://f.example/",
    "bad-actor@mail.example", "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "a" * 128,
]  # fmt: skip
ODD_VALUES = [
    "", " ", "\t", "999.1.1.1", "1.2.3.4/33", "1.2.3", "01.02.03.04", "::1::", "fe80::1%eth0", "[::1]",
    "localhost", "a..b", "-a.example", "a" * 64 + ".example", "x." * 130 + "example", "http://", "http:///x",
    "//x.example", "/wp-admin/shell.php", "mailto:x@y", "@example", "x@", "g" * 32, "0" * 31,
    "\u202eexample.com", "exa\u200bmple.com", "ex\x00ample.com", "example.com\r", "\ufeff1.2.3.4",
    "hxxp://evil[.]example", "evil(dot)example", "x[at]y[.]example", "203.0.113.9:8443", "[2001:db8::2]:53",
    "0.0.0.0 blocked.example", "1.2.3.4 # note", "1.2.3.4\t7", "'quoted.example'", '"dq.example"',
    "%00", "${jndi:ldap://x.example/a}", "<script>", "../../etc/passwd", "1e400", "-0", "NaN", "😀.example",
    "\ud800.example",  # a lone surrogate: escaped in JSON, invalid UTF-8 when written raw
]  # fmt: skip
domains = st.from_regex(
    r"[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z0-9]{1,6}){0,2}\.(example|test|com|pl)", fullmatch=True
)
# Values an importer should take, fresh ones (so later examples are not all repeats of earlier ones).
valid_values = st.one_of(
    st.ip_addresses().map(str),
    st.builds(
        lambda ip, bits: str(ipaddress.ip_network((ip, bits), strict=False)),
        st.ip_addresses(v=4),
        st.integers(8, 32),
    ),
    domains,
    domains.map(lambda d: f"http://{d}/x?id=1"),
    domains.map(lambda d: f"user@{d}"),
    st.sampled_from([16, 20, 32, 64]).flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(bytes.hex),
)
values = st.one_of(
    valid_values,
    valid_values,
    st.sampled_from(GOOD_VALUES),
    st.sampled_from(ODD_VALUES),
    st.text(max_size=40),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,8}){1,3}", fullmatch=True),
)
TIMES = [
    "2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456Z", "2024-05-01",
    "2024-05-01 10:00:00", "2024-05-01T10:00:00+02:00", "2024-13-45T00:00:00Z", "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "1714557600", "1714557600000", "yesterday", "",
]  # fmt: skip
times = st.sampled_from(TIMES)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities too: the stdlib writes them, and the bundle reader reads them
    st.text(max_size=20),
    values,
    times,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def dumps(draw: st.DrawFn, doc: Any) -> bytes:
    """JSON text as producers write it: compact or indented, ASCII-escaped or not."""
    text = json.dumps(
        doc,
        indent=draw(st.sampled_from([None, None, 1, 2])),
        ensure_ascii=draw(st.booleans()),
        sort_keys=draw(st.booleans()),
    )
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate, unescaped: invalid UTF-8


@st.composite
def arrive(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` as files really arrive: mostly as is, else cut, re-encoded, compressed or corrupted."""
    how = draw(
        st.sampled_from(
            ["as is"] * 6 + ["bom", "crlf", "cr", "utf-16", "nul", "bad byte", "gzip", "cut", "blank lines"]
        )
    )
    at = draw(st.integers(0, len(data)))
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "crlf":
        return data.replace(b"\n", b"\r\n")
    if how == "cr":
        return data.replace(b"\n", b"\r")
    if how == "utf-16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if how == "nul":
        return data[:at] + b"\x00" + data[at:]
    if how == "bad byte":
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]))
        return data[:at] + bad + data[at:]
    if how == "gzip":
        packed = gzip.compress(data, mtime=0)
        return packed[: draw(st.integers(len(packed) // 2, len(packed)))]  # sometimes cut short
    if how == "cut":
        return data[:at]
    if how == "blank lines":
        return b"\n\n  \n" + data + b"\n\n"
    return data


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed with a few byte-level edits: flips, insertions, deletions, duplications."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "token"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif op == "token":
            token = draw(
                st.sampled_from([b'"', b",", b"{", b"}", b"[", b"]", b":", b"\\", b"\n", b"null", b"1e999"])
            )
            data[at:at] = token
    return bytes(data)


# ------------------------------------------------------------------------------------------- STIX


def stix_id(draw: st.DrawFn, typ: str) -> str:
    return f"{typ}--{draw(st.uuids(version=4))}"


PATTERNS = [
    "[ipv4-addr:value = '198.51.100.1']", "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    "[ipv6-addr:value = '2001:db8::7']", "[domain-name:value = 'evil.example']",
    "[url:value = 'http://evil.example/a']", "[email-addr:value = 'x@mail.example']",
    "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", "[file:hashes.'SHA-256' = 'zz']",
    "[ipv4-addr:value = '999.1.1.1']", "[domain-name:value = 'a.example'] AND [url:value = 'http://b.example/']",
    "[network-traffic:dst_port = 443] FOLLOWEDBY [domain-name:value = 'c.example'] WITHIN 5 SECONDS",
    "[ipv4-addr:value = ", "ipv4-addr:value = '1.2.3.4'", "[x-custom:prop MATCHES '^a.*']", "", "[]",
]  # fmt: skip


def stix_templates(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One object of each common shape (2.1 and 2.0), with fresh ids."""
    ts = "2024-05-01T10:00:00.000Z"
    common = {"spec_version": "2.1", "created": ts, "modified": ts}

    def sid(typ: str) -> str:
        return stix_id(draw, typ)

    ind, mal = sid("indicator"), sid("malware")
    ip = f"ipv4-addr--{uuid.uuid5(uuid.NAMESPACE_URL, draw(st.text(max_size=8)))}"
    pattern = draw(st.sampled_from(PATTERNS) | st.text(max_size=30))
    return [
        {"type": "indicator", "id": ind, **common, "pattern": pattern, "pattern_type": "stix",
         "valid_from": ts, "object_marking_refs": [EMIT_ID[TLP.GREEN]]},
        {"type": "indicator", "id": sid("indicator"), "created": ts, "modified": ts,
         "labels": ["malicious-activity"], "pattern": pattern, "valid_from": ts},
        {"type": "malware", "id": mal, **common, "name": draw(st.text(max_size=12)), "is_family": True},
        {"type": "malware", "id": sid("malware"), "created": ts, "modified": ts, "name": "m",
         "labels": ["trojan"]},
        {"type": "relationship", "id": sid("relationship"), **common, "relationship_type": "indicates",
         "source_ref": ind, "target_ref": mal},
        {"type": "sighting", "id": sid("sighting"), **common, "sighting_of_ref": ind, "count": 2},
        {"type": "report", "id": sid("report"), **common, "name": "r", "published": ts,
         "object_refs": [ind, mal]},
        {"type": "ipv4-addr", "id": ip, "value": draw(values)},
        {"type": "domain-name", "id": sid("domain-name"), "spec_version": "2.1", "value": draw(values)},
        {"type": "file", "id": sid("file"), "hashes": {"MD5": draw(values), "SHA-256": draw(values)}},
        {"type": "observed-data", "id": sid("observed-data"), "created": ts, "modified": ts,
         "first_observed": ts, "last_observed": ts, "number_observed": 1,
         "objects": {"0": {"type": "file", "name": "a.exe", "created": ts},
                     "1": {"type": "process", "created": ts, "binary_ref": "0"},
                     "2": {"type": "ipv4-addr", "value": draw(values)}}},
        {"type": "marking-definition", "id": sid("marking-definition"), "spec_version": "2.1",
         "created": ts, "definition_type": "statement", "definition": {"statement": "fuzz"}},
        {"type": "x-fuzz-thing", "id": sid("x-fuzz-thing"), **common, "x_anything": draw(json_values)},
        {"type": "attack-pattern", "id": sid("attack-pattern"), **common, "name": "ap",
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]},
    ]  # fmt: skip


STIX_KEYS = [
    "type", "id", "spec_version", "created", "modified", "pattern", "pattern_type", "valid_from",
    "valid_until", "object_marking_refs", "granular_markings", "created_by_ref", "revoked", "confidence",
    "lang", "labels", "external_references", "extensions", "source_ref", "target_ref", "object_refs",
    "value", "hashes", "objects", "x_custom", "",
]  # fmt: skip


@st.composite
def stix_objects(draw: st.DrawFn) -> list[Any]:
    """A few template objects, some of them with fields set, removed or retyped."""
    templates = stix_templates(draw)
    objects: list[Any] = draw(st.lists(st.sampled_from(templates), min_size=1, max_size=6))
    objects = [dict(o) for o in objects]
    for _ in range(draw(st.integers(0, 4)) if objects else 0):
        i = draw(st.integers(0, len(objects) - 1))
        obj = objects[i]
        if not isinstance(obj, dict):
            continue
        key = draw(st.sampled_from(sorted(obj) + STIX_KEYS) | st.text(max_size=8))
        op = draw(st.sampled_from(["set", "set", "delete", "retype", "replace object"]))
        if op == "set":
            obj[key] = draw(json_values | times | st.sampled_from(PATTERNS))
        elif op == "delete":
            obj.pop(key, None)
        elif op == "retype" and key in obj:
            obj[key] = draw(st.sampled_from([[obj[key]], str(obj[key]), {"v": obj[key]}, 1, None]))
        elif op == "replace object":
            objects[i] = draw(json_values)
    return objects


@st.composite
def stix_inputs(draw: st.DrawFn) -> bytes:
    objects = draw(stix_objects())
    shape = draw(st.sampled_from(["bundle", "bundle", "bundle 2.0", "object", "array", "odd bundle"]))
    bundle_id = stix_id(draw, "bundle")
    doc: Any
    if shape == "bundle":
        doc = {"type": "bundle", "id": bundle_id, "objects": objects}
    elif shape == "bundle 2.0":
        doc = {"type": "bundle", "id": bundle_id, "spec_version": "2.0", "objects": objects}
    elif shape == "object":
        doc = objects[0] if objects else {}
    elif shape == "array":
        doc = objects
    else:
        doc = {"type": "bundle", "id": draw(json_values), "objects": draw(json_values)}
    return draw(arrive(dumps(draw, doc)))


# ------------------------------------------------------------------------------------------- MISP


def reader_table(module: Any, name: str, fallback: list[str]) -> list[str]:
    """The names an importer's table knows (so new ones get fuzzed), or `fallback` if it was renamed."""
    return sorted(getattr(module, name, None) or fallback)


MISP_TYPES = sorted(
    {
        *reader_table(misp_reader, "_OBSERVABLES", ["ip-dst", "ip-src", "domain", "url", "md5", "sha256"]),
        *reader_table(misp_reader, "_PATTERN_ONLY", ["port", "user-agent"]),
        *reader_table(misp_reader, "_RULE_TYPES", ["yara", "snort"]),
        *["vulnerability", "campaign-name", "text", "comment", "other", "float", "datetime", "domain|ip"],
    }
)
MISP_OBJECTS = reader_table(misp_reader, "_OBJECTS", ["file", "domain-ip", "ip-port", "email", "x509"])
GALAXY_TYPES = reader_table(misp_reader, "_GALAXY_TYPES", ["mitre-attack-pattern", "country", "tool"])
RELATIONS = [
    "ip", "ip-src", "ip-dst", "src-port", "dst-port", "domain", "hostname", "url", "uri", "md5", "sha1",
    "sha256", "filename", "size-in-bytes", "from", "to", "subject", "email-body", "username", "latitude",
    "longitude", "countrycode", "region", "key", "data", "last-modified", "yara", "sigma", "suricata",
    "reference", "attachment", "malware-sample", "payload_bin", "path", "mime-type", "name", "version",
    "comment", "id", "text", "first-seen", "last-seen", "description", "subject-key-identifier",
    "x509-fingerprint-sha1", "pubkey-info-algorithm",
]  # fmt: skip
TAGS = [
    "tlp:clear", "tlp:white", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red", "TLP:RED",
    "tlp:purple", "tlp:", "type:OSINT", 'misp-galaxy:mitre-attack-pattern="Phishing - T1566"', "", " ",
]  # fmt: skip
distributions: st.SearchStrategy[Any] = st.sampled_from(
    ["0", "1", "2", "3", "4", "5", 0, 5, "7", -1, "x", None, 3.5, [], {}]
)
flags: st.SearchStrategy[Any] = st.sampled_from(
    [True, False, "1", "0", 1, 0, "true", "yes", None, [], "False"]
)
misp_times = st.sampled_from(["1714557600", 1714557600, "0", "-5", "99999999999999", "x", None, 1.5]) | times


# What MISP list fields (Attribute, Object, Tag, Galaxy, Sighting) hold when they are no list.
not_a_list = st.one_of(
    st.none(),
    st.sampled_from([0, 1, 1.5, False, True, "", "tlp:red"]),
    st.text(max_size=6),
    st.dictionaries(st.text(max_size=6), json_scalars, max_size=3),
    st.lists(json_scalars, max_size=3),
)


uuid4s = st.uuids(version=4).map(str)
short_text = st.text(max_size=10)


def maybe(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """Some of the fields, each drawn from its strategy."""
    return {k: draw(s) for k, s in fields.items() if draw(st.integers(0, 2))}


def misp_uuid(draw: st.DrawFn) -> Any:
    return draw(st.uuids(version=4).map(str) | st.sampled_from(["", "not-a-uuid", None, 7, "5e6b3c1a"]))


def misp_tags(draw: st.DrawFn) -> Any:
    tag = st.sampled_from(TAGS).map(lambda n: {"name": n}) | st.sampled_from(TAGS) | json_scalars
    return draw(st.lists(tag, max_size=3) | not_a_list)


def misp_galaxies(draw: st.DrawFn) -> Any:
    cluster_type = draw(st.sampled_from(GALAXY_TYPES) | st.text(max_size=10))
    meta_keys = st.sampled_from(["ISO", "synonyms", "kill_chain", "external_id", "refs", "first_seen", "x"])
    cluster = {
        "uuid": misp_uuid(draw),
        "type": cluster_type,
        "value": draw(st.sampled_from(["Phishing - T1566", "x", ""])),
        **maybe(draw, {"description": short_text, "tag_name": short_text,
                       "meta": st.dictionaries(meta_keys, json_values, max_size=3)}),
    }  # fmt: skip
    galaxy = {"type": cluster_type, "name": draw(st.text(max_size=8)), "GalaxyCluster": [cluster]}
    return draw(st.just([galaxy]) | not_a_list)


def misp_attribute(draw: st.DrawFn, relation: bool = False) -> Any:
    attribute: dict[str, Any] = {
        "uuid": misp_uuid(draw),
        "type": draw(st.sampled_from(MISP_TYPES) | st.text(max_size=10)),
        "value": draw(values | st.sampled_from(["a|b", "a.example|192.0.2.1", "|", "f|zz"]) | json_scalars),
        **maybe(draw, {"to_ids": flags, "distribution": distributions, "category": short_text,
                       "comment": short_text, "first_seen": misp_times, "last_seen": misp_times,
                       "timestamp": misp_times, "deleted": flags}),
    }  # fmt: skip
    if relation:
        attribute["object_relation"] = draw(st.sampled_from(RELATIONS) | st.text(max_size=8))
    if draw(st.integers(0, 3)) == 0:
        attribute["Tag"] = misp_tags(draw)
    if draw(st.integers(0, 5)) == 0:
        attribute["Galaxy"] = misp_galaxies(draw)
    if draw(st.integers(0, 5)) == 0:
        attribute["Sighting"] = [
            {"uuid": misp_uuid(draw), "type": draw(st.sampled_from(["0", "1", "2", 0, None])),
             "date_sighting": draw(misp_times), "Organisation": {"name": draw(st.text(max_size=6))}}
        ]  # fmt: skip
    return attribute if draw(st.integers(0, 15)) else draw(json_values)


def misp_object(draw: st.DrawFn) -> Any:
    obj: dict[str, Any] = {
        "uuid": misp_uuid(draw),
        "name": draw(st.sampled_from(MISP_OBJECTS) | st.text(max_size=10)),
        "Attribute": [misp_attribute(draw, relation=True) for _ in range(draw(st.integers(0, 4)))],
        **maybe(draw, {"meta-category": st.text(max_size=8), "distribution": distributions, "deleted": flags,
                       "comment": st.text(max_size=8), "timestamp": misp_times}),
    }  # fmt: skip
    return obj if draw(st.integers(0, 15)) else draw(json_values)


@st.composite
def misp_inputs(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = {
        **maybe(draw, {"uuid": uuid4s | json_scalars, "info": short_text | json_scalars,
                       "date": times | json_scalars, "timestamp": misp_times, "publish_timestamp": misp_times,
                       "published": flags, "distribution": distributions,
                       "Orgc": st.fixed_dictionaries({"name": short_text, "uuid": uuid4s}) | json_scalars}),
        "Attribute": [misp_attribute(draw) for _ in range(draw(st.integers(0, 5)))],
    }  # fmt: skip
    if draw(st.booleans()):
        event["Object"] = [misp_object(draw) for _ in range(draw(st.integers(0, 3)))]
    if draw(st.integers(0, 2)) == 0:
        event["Tag"] = misp_tags(draw)
    if draw(st.integers(0, 3)) == 0:
        event["Galaxy"] = misp_galaxies(draw)
    for key in draw(st.lists(st.sampled_from(["Attribute", "Object", "Tag", "Galaxy"]), max_size=1)):
        event[key] = draw(not_a_list)  # the wrong shape entirely
    shape = draw(st.sampled_from(["event", "event", "response", "list", "bare", "odd response"]))
    doc: Any
    if shape == "event":
        doc = {"Event": event}
    elif shape == "response":
        doc = {"response": [{"Event": event}, {"Event": dict(event, uuid=str(draw(st.uuids(version=4))))}]}
    elif shape == "list":
        doc = [{"Event": event}]
    elif shape == "bare":
        doc = event
    else:
        doc = {"response": draw(json_values)}
    return draw(arrive(dumps(draw, doc)))


# -------------------------------------------------------------------------------------------- CSV

# Header names per field, as feeds spell them (the importer's own alias tables, so new ones are fuzzed).
_ALIASES: dict[str, str] = getattr(tabular, "_ALIASES", {})
HEADERS: dict[str, list[str]] = {
    name: [name, *sorted(alias for alias, field in _ALIASES.items() if field == name)]
    for name in tabular.FIELDS
}
HEADERS["value"] += [
    *reader_table(tabular, "_KIND_HEADERS", ["ip", "domain", "url", "sha256"]),
    *["Value", "IOC", "#ioc", "Indicator Value"],
]
HEADERS["junk"] = ["", "x", "count", "First  Seen", "\ufeffvalue"]
CELLS_BY_FIELD: dict[str, st.SearchStrategy[str]] = {
    "value": values,
    "type": st.just("")  # inferred: most rows of real feeds
    | st.sampled_from([*MISP_TYPES[:25], *KINDS, "ipv4-addr", "domain-name", "registry-key", "IP"]),
    "first_seen": times,
    "last_seen": times,
    "description": st.text(st.characters(exclude_characters="\r\n"), max_size=12),
    "labels": st.sampled_from(["botnet;c2", "a|b,c", "elf,mirai", "", ";;"]),
    "confidence": st.sampled_from(["80", "100", "101", "-1", "high", "50%", "1e2", "0.5", "", " "]),
    "tlp": st.sampled_from(["amber", "TLP:RED", "tlp:amber+strict", "purple", "clear", "white", ""]),
    "junk": st.text(st.characters(exclude_characters="\r\n"), max_size=12),
}
any_cell = st.one_of(*CELLS_BY_FIELD.values())


def csv_cell(draw: st.DrawFn, cell: str, delimiter: str) -> str:
    """A cell written plainly or quoted, now and then with a broken quote or a stray delimiter."""
    how = draw(st.sampled_from(["plain"] * 8 + ["quoted"] * 3 + ["open quote", "stray quote", "delimiter"]))
    if how == "quoted":
        return '"' + cell.replace('"', '""') + '"'
    if how == "open quote":
        return '"' + cell
    if how == "stray quote":
        return cell[:1] + '"' + cell[1:]
    if how == "delimiter":
        return cell + delimiter + cell
    return cell


@st.composite
def csv_inputs(draw: st.DrawFn) -> bytes:
    """A header naming some fields (mostly with a value column), rows of cells fit for each field,
    some cells out of place, ragged rows, comments and blank lines."""
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t", "|", ":", " "]))
    fields = draw(st.lists(st.sampled_from(sorted(CELLS_BY_FIELD)), min_size=1, max_size=6, unique=True))
    if "value" not in fields and draw(st.integers(0, 4)):
        fields.insert(draw(st.integers(0, len(fields))), "value")
    lines: list[str] = []
    if draw(st.integers(0, 5)):
        header = [draw(st.sampled_from(HEADERS[f])) for f in fields]
        lines.append(("# " if draw(st.integers(0, 5)) == 0 else "") + delimiter.join(header))
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["row"] * 8 + ["comment", "blank", "ragged", "odd cells"]))
        if kind == "comment":
            lines.append(draw(st.sampled_from(["#", "# ", "#value,type"])) + draw(st.text(max_size=20)))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
        else:
            row = [draw(CELLS_BY_FIELD[f] if kind != "odd cells" else any_cell) for f in fields]
            if kind == "ragged":
                row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(any_cell, max_size=3))
            lines.append(delimiter.join(csv_cell(draw, cell, delimiter) for cell in row))
    ending = draw(st.sampled_from(["\n"] * 6 + ["\r\n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    return draw(arrive(text.encode("utf-8", "surrogatepass")))


column_map_texts = st.one_of(
    st.just("value=1,type=2,first_seen=3"),
    st.lists(
        st.tuples(
            st.sampled_from([*tabular.FIELDS, "nope"]), st.sampled_from(["1", "2", "3", "9", "0", "x", ""])
        ),
        max_size=4,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
    st.text(max_size=16),
)


# ------------------------------------------------------------------------------------------- text


def defang(draw: st.DrawFn, value: str) -> str:
    for plain, fanged in draw(
        st.lists(
            st.sampled_from(
                [(".", "[.]"), (".", "(dot)"), ("http", "hxxp"), ("://", "[:]//"), ("@", "[at]")]
            ),
            max_size=3,
        )
    ):
        value = value.replace(plain, fanged)
    return value


def text_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["value"] * 4 + ["defanged", "comment", "hosts", "port", "noted", "garbage"]))
    value = draw(values)
    if kind == "defanged":
        return defang(draw, value)
    if kind == "comment":
        return draw(st.sampled_from(["#", "//", ";"])) + draw(st.text(max_size=20))
    if kind == "hosts":
        return draw(st.sampled_from(["0.0.0.0", "127.0.0.1", "::1", "0"])) + " " + value  # noqa: S104
    if kind == "port":
        return f"{value}:{draw(st.integers(-1, 70000))}"
    if kind == "noted":
        return value + draw(st.sampled_from(["\t7", " # scanner", "  extra columns here", " #"]))
    if kind == "garbage":
        return draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
    return value


@st.composite
def text_inputs(draw: st.DrawFn) -> bytes:
    lines = [text_line(draw) for _ in range(draw(st.integers(0, 12)))]
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    return draw(arrive(text.encode("utf-8", "surrogatepass")))


# ------------------------------------------------------------------------------- bytes and seeds

PREFIXES = [
    b"", b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"{", b"[", b"<", b'{"Event": ',
    b'{"type": "bundle", "objects": [', GZIP_MAGIC, b"PK\x03\x04", b"%PDF-", b"BZh", b"#", b"\n" * 3,
]  # fmt: skip
random_bytes = st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=600)).map(b"".join)

# Seeds: this file's own (tests/fixtures/fuzz) and the importers' fixtures, whatever they hold now.
SEEDS = {
    path.relative_to(FIXTURES).as_posix(): path.read_bytes()
    for folder in ("fuzz", "ingest", "misp")
    if (FIXTURES / folder).is_dir()
    for path in sorted((FIXTURES / folder).iterdir())
    if path.is_file()
}
seeded = st.sampled_from(sorted(SEEDS)).flatmap(lambda name: mutated(SEEDS[name]))

FORMAT_ARGS = [None, "stix", "misp", "csv", "text"]


def formats(own: str) -> st.SearchStrategy[str | None]:
    """Mostly the input's own format or detection, sometimes another importer's (cross-feeding)."""
    return st.sampled_from([own, own, None, None, *FORMAT_ARGS])


# -------------------------------------------------------------------------------- importer tests

store = pytest.mark.store  # the fuzz tests touch the database; the reproducers below do not


@store
@fuzz(120)
@given(data=stix_inputs(), fmt=formats("stix"))
def test_stix_inputs_are_taken_or_refused_cleanly(harness: Harness, data: bytes, fmt: str | None) -> None:
    harness.check_fuzzed(data, fmt, name="bundle.json")


@store
@fuzz(120)
@given(data=misp_inputs(), fmt=formats("misp"))
def test_misp_inputs_are_taken_or_refused_cleanly(harness: Harness, data: bytes, fmt: str | None) -> None:
    harness.check_fuzzed(data, fmt, name="event.json")


@store
@fuzz(100)
@given(data=csv_inputs(), fmt=formats("csv"), name=st.sampled_from(["feed.csv", "feed.tsv", "upload"]))
def test_csv_inputs_are_taken_or_refused_cleanly(
    harness: Harness, data: bytes, fmt: str | None, name: str
) -> None:
    harness.check_fuzzed(data, fmt, name=name)


@store
@fuzz(40)
@given(data=csv_inputs(), map_text=column_map_texts)
def test_csv_column_maps_are_taken_or_refused_cleanly(harness: Harness, data: bytes, map_text: str) -> None:
    try:
        column_map = tabular.parse_column_map(map_text)
    except InvalidInput as exc:
        assert exc.where == {"field": "column_map"} and exc.detail
        return
    harness.check_fuzzed(data, "csv", name="feed.csv", column_map=column_map)


@store
@fuzz(100)
@given(data=text_inputs(), fmt=formats("text"), name=st.sampled_from(["list.txt", "upload"]))
def test_text_lists_are_taken_or_refused_cleanly(
    harness: Harness, data: bytes, fmt: str | None, name: str
) -> None:
    harness.check_fuzzed(data, fmt, name=name)


@store
@fuzz(80)
@given(data=random_bytes, fmt=st.sampled_from(FORMAT_ARGS))
def test_random_bytes_are_refused_or_skipped_cleanly(harness: Harness, data: bytes, fmt: str | None) -> None:
    harness.check_fuzzed(data, fmt)


@store
@fuzz(120)
@given(
    data=seeded, fmt=st.sampled_from(FORMAT_ARGS), name=st.sampled_from(["upload", "seed.json", "seed.csv"])
)
def test_mutated_seeds_are_taken_or_refused_cleanly(
    harness: Harness, data: bytes, fmt: str | None, name: str
) -> None:
    harness.check_fuzzed(data, fmt, name=name)


@store
def test_the_unmutated_seeds_import_cleanly(harness: Harness) -> None:
    """The seeds themselves hold the invariants; this file's own are taken (so that mutations start
    near valid input) and STIX 1.x packages are refused as such."""
    for name, data in SEEDS.items():
        outcome = harness.check_import(data, None, name=Path(name).name)
        if "stix1" in name:
            assert isinstance(outcome, InvalidInput) and "STIX 1" in outcome.detail, name
        elif name.startswith("fuzz/"):
            assert isinstance(outcome, dict), f"{name} was refused: {outcome}"
            assert outcome["taken"]["stored"] + outcome["taken"]["unchanged"] > 0, name


EDGE_INPUTS = {
    "empty": b"",
    "blank": b" \n\t\r\n",
    "BOM only": b"\xef\xbb\xbf",
    "UTF-16 BOM": b"\xff\xfe1\x002\x00",
    "UTF-16 BE BOM": b"\xfe\xff\x001\x002",
    "NUL only": b"\x00",
    "lone CR": b"\r",
    "invalid UTF-8 line": b"198.51.100.1\n\xff\xfe\xfd\n198.51.100.2\n",
    "a surrogate": b"\xed\xa0\x80.example\n",
    "huge text line": b"x" * (1 << 20) + b".example\n198.51.100.3\n",
    "huge line at the end": b"198.51.100.4\n" + b"7" * ((1 << 20) + 5),
    "huge CSV cell": b"value,type\n" + b"a" * ((1 << 20) + 1) + b",domain\nok.example,domain\n",
    "open quote to the end": b'value\n"' + b"x," * 70_000 + b"\n",
    "huge JSON string": json.dumps(
        {"type": "bundle", "objects": [{"type": "note", "content": "x" * (2 << 20)}]}
    ).encode(),
    "deep JSON": b"[" * 5000 + b"]" * 5000,
    "deep MISP": b'{"Event": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "JSON number overflow": b'{"type": "indicator", "spec_version": "2.1", "confidence": 1e999}',
    "NaN": b'{"type": "indicator", "spec_version": "2.1", "confidence": NaN}',
    "two documents": b'{"type": "bundle", "objects": []}{"type": "bundle", "objects": []}',
    "gzip of nothing": gzip.compress(b"", mtime=0),
    "gzip of gzip": gzip.compress(gzip.compress(b"198.51.100.6\n", mtime=0), mtime=0),
    "XML": b"<?xml version='1.0'?><feed><entry>1.2.3.4</entry></feed>",
    "HTML": b"<!DOCTYPE html><html><body>198.51.100.7</body></html>",
    "CSV header only": b"indicator,type\n",
    "MISP empty response": b'{"response": []}',
    "MISP empty event": b'{"Event": {}}',
    "STIX empty bundle": b'{"type": "bundle", "id": "bundle--0f3e1d2c-3b4a-4596-8877-665544332211", '
    b'"objects": []}',
}


@store
@pytest.mark.parametrize("fmt", FORMAT_ARGS)
def test_edge_inputs_are_taken_or_refused_cleanly(harness: Harness, fmt: str | None) -> None:
    failures = []
    for name, data in EDGE_INPUTS.items():
        try:
            harness.check_import(data, fmt)
        except Exception as exc:  # every input is tried; all failures are reported together
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    assert not failures, "\n".join(failures)


_GZIPPED_LIST = gzip.compress(b"198.51.100.5\n" * 100, mtime=0)
DAMAGED_GZIP = {
    "cut short": _GZIPPED_LIST[:30],
    "magic number only": GZIP_MAGIC,
    "CRC damaged": _GZIPPED_LIST[:-8] + bytes([_GZIPPED_LIST[-8] ^ 1]) + _GZIPPED_LIST[-7:],
    "junk after the member": _GZIPPED_LIST + b"junk",
}


def read_through(folder: Path, data: bytes, fmt: str | None) -> list[Problem]:
    """The read half of an import (detect, read, prepare) without a database: the problems that
    would refuse it, whether raised or read. Reproducers of reader bugs use it (no database, so
    they are cheap); once a bug is fixed, the fuzz tests check the whole import again."""
    path = folder / "input"
    path.write_bytes(data)
    try:
        fmt = fmt or run.detect_format(str(path))
        return [
            item
            for batch, _skipped in run.file_batches(str(path), fmt, ImportOptions(), None)
            for item in batch
            if isinstance(item, Problem)
        ]
    except AccordError as exc:
        return exc.problems if isinstance(exc, BatchRefused) else [Problem(exc.detail, exc.where)]


@pytest.mark.parametrize("fmt", [None, "text"])
@pytest.mark.parametrize("name", sorted(DAMAGED_GZIP))
def test_a_damaged_gzip_file_is_refused_cleanly(tmp_path: Path, name: str, fmt: str | None) -> None:
    problems = read_through(tmp_path, DAMAGED_GZIP[name], fmt)
    assert problems, "a damaged gzip file was read as if whole"
    assert_says_where(BatchRefused(problems))


MISP_ATTRIBUTE = {"uuid": "6a1e1c0e-0b1d-4a7e-8c33-2a1f3b4c5d60", "type": "ip-dst", "value": "198.51.100.60"}
MISP_LIST_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "Event.Attribute": lambda v: {"Event": {"Attribute": v}},
    "Event.Object": lambda v: {"Event": {"Object": v}},
    "Event.Tag": lambda v: {"Event": {"Tag": v, "Attribute": [MISP_ATTRIBUTE]}},
    "Event.Galaxy": lambda v: {"Event": {"Galaxy": v, "Attribute": [MISP_ATTRIBUTE]}},
    "Attribute.Tag": lambda v: {"Event": {"Attribute": [dict(MISP_ATTRIBUTE, Tag=v)]}},
    "Attribute.Galaxy": lambda v: {"Event": {"Attribute": [dict(MISP_ATTRIBUTE, Galaxy=v)]}},
    "Attribute.Sighting": lambda v: {"Event": {"Attribute": [dict(MISP_ATTRIBUTE, Sighting=v)]}},
    "Object.Attribute": lambda v: {"Event": {"Object": [{"name": "file", "Attribute": v}]}},
    "Galaxy.GalaxyCluster": lambda v: {"Event": {"Galaxy": [{"type": "country", "GalaxyCluster": v}]}},
}


@pytest.mark.parametrize("number", [1, True, 1.5])
@pytest.mark.parametrize("place", sorted(MISP_LIST_FIELDS))
def test_a_misp_list_field_holding_a_number_is_skipped_or_refused(
    tmp_path: Path, place: str, number: Any
) -> None:
    problems = read_through(tmp_path, json.dumps(MISP_LIST_FIELDS[place](number)).encode(), "misp")
    if problems:
        assert_says_where(BatchRefused(problems))


@pytest.mark.parametrize("data", [b"# a\rb\n198.51.100.7\n", b"# ioc,type\r# v2\n198.51.100.7,ip-dst\n"])
def test_a_csv_comment_holding_a_carriage_return_is_read(tmp_path: Path, data: bytes) -> None:
    read_through(tmp_path, data, "csv")


BARE_MISP_EVENT = b'{"info": "bare", "Attribute": [{"type": "ip-dst", "value": "198.51.100.61"}]}'


def test_a_bare_misp_event_is_detected_as_misp(tmp_path: Path) -> None:
    assert read_through(tmp_path, BARE_MISP_EVENT, "misp") == []  # the MISP reader takes it ...
    assert detect(BARE_MISP_EVENT) == "misp"  # ... detection does not send it there


STIX1_XML = (FIXTURES / "ingest" / "stix1_package.xml").read_bytes()
STIX1_JSON = (FIXTURES / "ingest" / "stix1_package.json").read_bytes()
STIX1_WITHOUT_HEADER = (
    b'{"id": "example:Package-1", "version": "1.2", "indicators": [{"id": "example:indicator-1"}]}'
)


@st.composite
def stix1_inputs(draw: st.DrawFn) -> bytes:
    """STIX 1.x packages as they come: XML with or without a declaration and prefixes, or JSON."""
    kind = draw(st.sampled_from(["fixture xml", "xml", "fixture json", "json"]))
    if kind == "fixture xml":
        data = STIX1_XML
    elif kind == "fixture json":
        data = STIX1_JSON
    elif kind == "xml":
        prefix = draw(st.sampled_from(["stix:", ""]))
        declaration = draw(st.sampled_from(['<?xml version="1.0" encoding="UTF-8"?>\n', "", "<!-- c -->\n"]))
        version = draw(st.sampled_from(["1.0", "1.1.1", "1.2"]))
        namespace = draw(
            st.sampled_from(
                ['xmlns:stix="http://stix.mitre.org/stix-1"', 'xmlns="http://stix.mitre.org/stix-1"']
            )
        )
        data = (
            f'{declaration}<{prefix}STIX_Package {namespace} version="{version}">'
            f"<{prefix}STIX_Header><{prefix}Title>{draw(st.text(alphabet='abc <>&', max_size=10))}"
            f"</{prefix}Title></{prefix}STIX_Header></{prefix}STIX_Package>"
        ).encode()
    else:
        package = {
            "id": f"example:Package-{draw(st.uuids(version=4))}",
            "version": draw(st.sampled_from(["1.0", "1.1.1", "1.2"])),
            "stix_header": draw(json_values),  # without one, detection misses it: STIX1_WITHOUT_HEADER
            draw(st.sampled_from(["indicators", "observables", "ttps"])): draw(json_values),
        }
        data = dumps(draw, draw(st.sampled_from([package, [package], {"stix_package": package}])))
    lead = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n  ", b"\r\n"]))
    return lead + data


def test_stix1_json_without_a_header_is_refused_as_stix1(tmp_path: Path) -> None:
    [by_reader] = read_through(tmp_path, STIX1_WITHOUT_HEADER, "stix")
    assert "STIX 1" in by_reader.detail  # the STIX reader names it; detection does not:
    [by_detection] = read_through(tmp_path, STIX1_WITHOUT_HEADER, None)
    assert "STIX 1" in by_detection.detail, by_detection


@store
@fuzz(25)
@given(data=stix1_inputs(), fmt=st.sampled_from([None, "stix"]))
def test_stix1_is_refused_as_such(harness: Harness, data: bytes, fmt: str | None) -> None:
    outcome = harness.check_import(data, fmt, name="package")
    assert isinstance(outcome, InvalidInput), f"STIX 1.x was taken: {outcome}"
    assert "STIX 1" in outcome.detail, outcome.detail


@store
def test_the_worker_process_path_holds_the_same_invariants(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big files are read in a worker process; a sample of inputs goes that way too."""
    monkeypatch.setattr(run, "IN_PROCESS_BELOW", 0)
    sample = {
        "a STIX bundle": SEEDS["fuzz/stix21_mixed_bundle.json"],
        "a MISP event": SEEDS["fuzz/misp_rich_event.json"],
        "a text list": b"198.51.100.70\nhxxp://worker[.]example/a\nnot a value\n",
        "malformed JSON": SEEDS["fuzz/stix21_mixed_bundle.json"][:700],
        "STIX 1.x": STIX1_XML,
        "invalid UTF-8": EDGE_INPUTS["invalid UTF-8 line"],
        "a CSV without a header": b"198.51.100.71;ip-dst;2024-05-01\n198.51.100.72;ip-dst;2024-05-02\n",
    }
    outcomes = {name: harness.check_import(data, None) for name, data in sample.items()}
    assert isinstance(outcomes["a STIX bundle"], dict) and isinstance(outcomes["a text list"], dict)
    assert isinstance(outcomes["STIX 1.x"], InvalidInput) and "STIX 1" in outcomes["STIX 1.x"].detail


# ----------------------------------------------------------------------------------------- corpus


@pytest.fixture
def corpus_seeds() -> list[tuple[str, bytes]]:
    """Real MISP events and STIX examples (the small ones) from ../shared/data."""
    files = [
        path
        for folder in ("pymisp-test-events", "oasis-stix-validator-testdata")
        for path in sorted(shared_data(folder).rglob("*.json"))
        if path.stat().st_size < 60_000
    ]
    return [(path.name, path.read_bytes()) for path in files]


@store
@pytest.mark.corpus
def test_real_misp_and_stix_files_are_taken_or_refused_cleanly(
    harness: Harness, corpus_seeds: list[tuple[str, bytes]]
) -> None:
    for name, data in corpus_seeds:
        for fmt in (None, "misp", "stix"):
            harness.check_import(data, fmt, name=name)


@store
@pytest.mark.corpus
@fuzz(60)
@given(pick=st.data(), fmt=st.sampled_from(FORMAT_ARGS))
def test_mutated_real_files_are_taken_or_refused_cleanly(
    harness: Harness, corpus_seeds: list[tuple[str, bytes]], pick: st.DataObject, fmt: str | None
) -> None:
    name, seed = pick.draw(st.sampled_from(corpus_seeds), label="seed")
    harness.check_fuzzed(pick.draw(mutated(seed), label="mutated"), fmt, name=name)


# ------------------------------------------------------------------------------------------- HTTP

any_upload = st.one_of(stix_inputs(), misp_inputs(), csv_inputs(), text_inputs(), random_bytes, seeded)


@pytest.fixture
def web(harness: Harness, alliance: Any) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(create_asgi(harness.app), raise_server_exceptions=True)
    return client, {"Authorization": f"Bearer {alliance.token('fuzz@cert.example')}"}


def assert_problem_document(resp: Any) -> None:
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == resp.status_code and body["detail"], body


@store
@fuzz(60)
@given(data=any_upload, fmt=st.sampled_from(FORMAT_ARGS))
def test_http_uploads_never_answer_5xx(
    harness: Harness, web: tuple[TestClient, dict[str, str]], data: bytes, fmt: str | None
) -> None:
    client, headers = web
    before = harness.counts()
    resp = client.post(
        "/api/v1/imports", content=data, params={"format": fmt} if fmt else {}, headers=headers
    )
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert_problem_document(resp)
        assert harness.counts() == before
    else:
        assert resp.status_code == 201, resp.text
        taken = resp.json()
        assert harness.counts() == (
            before[0] + taken["taken"]["stored"],
            before[1] + taken["taken"]["observables"],
        )


# ----------------------------------------------------------------------------------------- matching

MATCH_VALUES = [
    "198.51.100.7", "203.0.113.0/24", "2001:db8::/48", "2001:db8:1::5", "evil.example", "bad.example",
    "http://evil.example/a", "x@mail.example", "d41d8cd98f00b204e9800998ecf8427e", "::ffff:192.0.2.0/120",
]  # fmt: skip
MATCH_ROWS = [
    (o.kind, o.value, o.ip_lo, o.ip_hi, f"indicator--{uuid.UUID(int=i)}")
    for i, o in enumerate(normalise(v) for v in MATCH_VALUES)
]
MATCHER = Matcher(MATCH_ROWS)
NEAR_HITS = [
    "198.51.100.7", "203.0.113.77", "::ffff:203.0.113.9", "2001:db8:0:ffff::1", "2001:db8:1::5",
    "192.0.2.200", "evil.example", "a.b.bad.example", "http://evil.example/a", "https://sub.evil.example/x",
    "x@mail.example", "y@bad.example", "d41d8cd98f00b204e9800998ecf8427e", "http://[2001:db8::1]/",
    "http://203.0.113.1:8080/",
]  # fmt: skip


@st.composite
def near_hits(draw: st.DrawFn) -> str:
    """A value that hits (or nearly hits) an indexed indicator, written the ways logs write it."""
    value = draw(st.sampled_from(NEAR_HITS))
    for change in draw(
        st.lists(st.sampled_from(["upper", "space", "defang", "dot", "port", "cut"]), max_size=2)
    ):
        if change == "upper":
            value = value.upper()
        elif change == "space":
            value = f" {value}\t"
        elif change == "defang":
            value = defang(draw, value)
        elif change == "dot":
            value += "."
        elif change == "port":
            value += ":443"
        else:
            value = value[: draw(st.integers(0, len(value)))]
    return value


log_values = st.one_of(
    near_hits(),
    values,
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "replace")),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


def fuzz_no_db(examples: int) -> settings:
    """Settings for the fuzz tests that need no database (they run everywhere, quickly)."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None)


@fuzz_no_db(400)
@given(value=log_values, others=st.lists(log_values, max_size=5))
def test_matcher_never_raises_and_its_filters_never_drop_a_hit(value: str, others: list[str]) -> None:
    """`_hits` (normalise, then look up) is the truth; the fast filters of `match` and of the
    batch paths (`match_many`, `match_values`) may only skip values that have no hit."""
    truth = MATCHER._hits(value)
    assert all(isinstance(h, Hit) and h.input == value for h in truth)
    assert {h.indicator_id for h in truth} <= {row[4] for row in MATCH_ROWS}
    assert sorted(MATCHER.match(value)) == sorted(truth), "match() dropped or invented a hit"
    batch = [value, *others, value]
    by_value = MATCHER.match_values(batch)
    assert sorted(by_value.get(value, [])) == sorted(truth), "match_values() dropped or invented a hit"
    assert all(hits for hits in by_value.values()), "match_values() lists a value without hits"
    assert sorted(MATCHER.match_many(batch)) == sorted(h for v in batch for h in MATCHER._hits(v))


@fuzz_no_db(100)
@given(rows=st.lists(st.one_of(st.tuples(*[json_scalars] * 5), json_values), max_size=4))
def test_matcher_rows_are_indexed_or_refused_with_the_row(rows: list[Any]) -> None:
    try:
        Matcher(rows)
    except InvalidInput as exc:
        assert "row" in exc.where and 1 <= exc.where["row"] <= len(rows)


# --------------------------------------------------------------------------------------- log input

LOG_SEEDS = {path.name: path.read_bytes() for path in sorted((FIXTURES / "fuzz" / "logs").iterdir())}
ZEEK_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query", "answers", "host",
    "uri", "referrer", "server_name", "mailfrom", "rcptto", "md5", "sha256", "san.dns", "tx_hosts", "x",
]  # fmt: skip
ZEEK_TYPES = ["time", "string", "addr", "port", "enum", "vector[string]", "set[addr]", "subnet", "count", ""]
ZEEK_SEPARATORS = ["\\x09", "\\x09", "\\x2c", "\\x7c", ",", "\\x", "\\xZZ", "\\", "\\u0009", "\\N{TAB}", ""]


@st.composite
def free_text_line(draw: st.DrawFn) -> str:
    words = draw(
        st.lists(log_values | st.sampled_from(["from", "to", "GET", "port", "-", "[", "]"]), max_size=8)
    )
    return " ".join(words)


@st.composite
def values_logs(draw: st.DrawFn) -> str:
    lines = draw(st.lists(log_values | st.sampled_from(["#", "# comment", "", "a b", "a,b"]), max_size=12))
    return "\n".join(lines)


@st.composite
def csv_logs(draw: st.DrawFn) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 6))
    names = ["src_ip", "dst_ip", "query", "url", "host", "time", "action", "x y", "1.2.3.4", ""]
    lines = [delimiter.join(draw(st.lists(st.sampled_from(names), min_size=width, max_size=width)))]
    for _ in range(draw(st.integers(0, 10))):
        n = width if draw(st.integers(0, 4)) else draw(st.integers(0, width + 2))
        lines.append(delimiter.join(csv_cell(draw, draw(log_values), delimiter) for _ in range(n)))
    return "\n".join(lines)


@st.composite
def zeek_logs(draw: st.DrawFn) -> str:
    separator = draw(st.sampled_from(ZEEK_SEPARATORS))
    fields = draw(st.lists(st.sampled_from(ZEEK_FIELDS), min_size=1, max_size=8, unique=True))
    types = [draw(st.sampled_from(ZEEK_TYPES)) for _ in fields]
    lines = []
    if draw(st.integers(0, 5)):
        lines.append(f"#separator {separator}")
    lines += ["#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tfuzz"]
    if draw(st.integers(0, 5)):
        lines.append("#fields\t" + "\t".join(fields))
    if draw(st.integers(0, 2)):
        lines.append("#types\t" + "\t".join(types[: draw(st.integers(0, len(types)))]))
    for _ in range(draw(st.integers(0, 8))):
        n = len(fields) if draw(st.integers(0, 4)) else draw(st.integers(0, len(fields) + 2))
        cells = draw(
            st.lists(
                log_values | st.sampled_from(["-", "(empty)", "a,b,c", "1714557600.1"]),
                min_size=n,
                max_size=n,
            )
        )
        lines.append("\t".join(cells))
        if draw(st.integers(0, 8)) == 0:
            lines.append(draw(st.sampled_from(["#close\t2024", "#fields\tquery", "#types", "", "#"])))
    return "\n".join(lines)


@st.composite
def zeek_json_logs(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["record"] * 6 + ["nested", "not an object", "broken", "blank"]))
        record: Any = {"uid": "C1", "ts": 1714557600.1}
        for name in draw(st.lists(st.sampled_from(ZEEK_FIELDS), max_size=5)):
            record[name] = draw(log_values | st.lists(log_values, max_size=3) | json_scalars)
        if kind == "nested":
            record["id"] = {"orig_h": draw(log_values), "resp_h": draw(log_values | json_scalars)}
        elif kind == "not an object":
            record = draw(json_values)
        text = json.dumps(record)
        if kind == "broken":
            text = text[: draw(st.integers(0, len(text)))]
        lines.append("" if kind == "blank" else text)
    return "\n".join(lines)


log_texts = st.one_of(
    values_logs(),
    csv_logs(),
    zeek_logs(),
    zeek_json_logs(),
    st.lists(free_text_line(), max_size=8).map("\n".join),
)
log_inputs = st.one_of(
    log_texts.flatmap(lambda text: arrive(text.encode("utf-8", "surrogatepass"))),
    random_bytes,
    st.sampled_from(sorted(LOG_SEEDS)).flatmap(lambda name: mutated(LOG_SEEDS[name])),
)
LOG_FORMAT_ARGS = ["auto", *loginput.FORMATS]




def log_lines(data: bytes) -> tuple[int, int]:
    """(physical lines, lines that are not UTF-8) as the log reader counts them, or (-1, -1) for
    input it unpacks first (gzip)."""
    if data.startswith(GZIP_MAGIC):
        return -1, -1
    if not data:
        return 0, 0
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    not_utf8 = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
    return len(lines), not_utf8


@fuzz_no_db(300)
@given(data=log_inputs, fmt=st.sampled_from(LOG_FORMAT_ARGS))
def test_log_input_never_crashes_and_counts_what_it_cannot_read(data: bytes, fmt: str) -> None:
    summary = loginput.Summary()
    try:
        hits = list(loginput.match_stream(MATCHER, io.BytesIO(data), fmt, summary=summary))
    except InvalidInput as exc:  # documented: UTF-16 input (and unknown formats, not sent here)
        assert data.startswith((b"\xff\xfe", b"\xfe\xff")) or data.startswith(GZIP_MAGIC), exc
        assert exc.where.get("line") == 1, exc
        return
    assert summary.format in loginput.FORMATS
    assert summary.hits == len(hits) == sum(summary.hits_by_kind.values())
    assert summary.unreadable >= len(summary.unreadable_lines) == min(summary.unreadable, loginput.MAX_LISTED)
    lines, not_utf8 = log_lines(data)
    if lines >= 0:
        assert summary.lines == lines, "lines were lost or invented"
        assert summary.unreadable >= not_utf8, "a line that is not UTF-8 was not counted as unreadable"
        for number, why in summary.unreadable_lines:
            assert 1 <= number <= max(lines, 1) and why, (number, why)
    for hit in hits:
        assert 1 <= hit["line"] <= max(summary.lines, 1), hit
        assert hit["indicator_id"] in {row[4] for row in MATCH_ROWS}, hit
    # The hits are exactly those of the candidate values the same reader offers, line by line.
    offered = list(loginput.candidates(io.BytesIO(data), summary.format))
    assert [n for n, _v in offered] == sorted(n for n, _v in offered), "candidates out of line order"
    expected = sorted((n, h.indicator_id, h.matched) for n, v in offered for h in MATCHER._hits(v))
    assert sorted((h["line"], h["indicator_id"], h["matched"]) for h in hits) == expected


@fuzz_no_db(200)
@given(head=log_inputs)
def test_log_format_detection_always_answers(head: bytes) -> None:
    assert loginput.detect_format(head) in loginput.FORMATS


def test_an_overlong_log_line_is_counted_not_raised() -> None:
    # The limit is checked per chunk read: a line is surely overlong one chunk past it.
    overlong = loginput.MAX_LINE_BYTES + loginput.CHUNK_BYTES + 10
    data = b"198.51.100.7\n" + b"x" * overlong + b"\nevil.example\n"
    summary = loginput.Summary()
    hits = list(loginput.match_stream(MATCHER, io.BytesIO(data), "values", summary=summary))
    assert [(h["line"], h["input"]) for h in hits] == [(1, "198.51.100.7"), (3, "evil.example")]
    assert summary.unreadable == 1 and summary.unreadable_lines[0][0] == 2


@pytest.mark.parametrize("separator", ["\\x", "\\xZZ", "\\", "\\N{NOPE}"])
def test_a_zeek_separator_with_a_broken_escape_is_read(separator: str) -> None:
    data = f"#separator {separator}\n#fields\tquery\nevil.example\n".encode()
    try:
        list(loginput.match_stream(MATCHER, io.BytesIO(data), "zeek"))
    except InvalidInput as exc:
        assert exc.where, exc


@pytest.fixture
def match_web(web: tuple[TestClient, dict[str, str]], harness: Harness) -> tuple[TestClient, dict[str, str]]:
    """The HTTP face with a few indicators stored, so that logs have something to hit."""
    if not hasattr(Accord, "match"):
        pytest.skip("Accord.match (behind POST /api/v1/match) is not written yet")
    harness.check_import(LOG_SEEDS["values.txt"], "text", name="indicators.txt")
    return web


@store
@fuzz(40)
@given(data=log_inputs, fmt=st.sampled_from(LOG_FORMAT_ARGS))
def test_http_match_never_answers_5xx(
    match_web: tuple[TestClient, dict[str, str]], data: bytes, fmt: str
) -> None:
    client, headers = match_web
    resp = client.post("/api/v1/match", content=data, params={"format": fmt}, headers=headers)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert_problem_document(resp)
        return
    assert resp.status_code == 200, resp.text
    *hits, last = [json.loads(line) for line in resp.content.splitlines()]
    summary = last["summary"]
    assert summary["hits"] == len(hits) and summary["unreadable"] >= len(summary["unreadable_lines"])
    assert all(isinstance(h["line"], int) and h["indicator_id"] for h in hits), hits


@pytest.mark.parametrize("name", sorted(DAMAGED_GZIP))
def test_a_damaged_gzip_log_sent_for_matching_is_counted_or_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "log"
    path.write_bytes(DAMAGED_GZIP[name])
    summary = loginput.Summary()
    with open(path, "rb") as fp:  # as the /match route reads its body
        list(loginput.match_stream(MATCHER, fp, "auto", summary=summary))
    assert summary.unreadable >= 1
