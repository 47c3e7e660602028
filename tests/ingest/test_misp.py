"""The MISP importer: both input shapes, TLP from tags and distribution, skips, bad input, streaming,
idempotence, the store accepting what it emits, and agreement with misp-stix's own golden pairs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data
from stix2patterns.v21.pattern import Pattern

from accord.errors import Problem
from accord.ingest import ImportOptions, Item, Skipped, org_namespace
from accord.ingest.misp import DISTRIBUTION_TLP, misp_id, read, sco_version
from accord.intel.observables import try_normalise
from accord.intel.patterns import observables_of_pattern
from accord.intel.prepare import Prepared, prepare
from accord.intel.tlp import EMIT_ID, LEVEL_OF_ID, TLP
from accord.intel.validate import SCO_TYPES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "misp"
NS = org_namespace(7)
OPTIONS = ImportOptions(namespace=NS)
ORGC = {"name": "CERT-Example", "uuid": "11111111-2222-4333-8444-555555555555"}
EVENT_UUID = "7d9c1f4e-3b2a-4c5d-8e6f-0a1b2c3d4e5f"


def convert(data: Any, options: ImportOptions = OPTIONS) -> list[Item]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return list(read(io.BytesIO(raw), options))


def objects(items: list[Item]) -> list[dict[str, Any]]:
    return [item[1] for item in items if isinstance(item, tuple)]


def skipped(items: list[Item]) -> list[Skipped]:
    return [item for item in items if isinstance(item, Skipped)]


def problems(items: list[Item]) -> list[Problem]:
    return [item for item in items if isinstance(item, Problem)]


def event(**fields: Any) -> dict[str, Any]:
    base = {"uuid": EVENT_UUID, "info": "test", "timestamp": "1709290800", "Orgc": ORGC}
    return {"Event": {**base, **fields}}


def attribute(n: int, misp_type: str, value: str, **fields: Any) -> dict[str, Any]:
    return {"uuid": f"3c9f4a9e-0d1b-4b8e-9a51-1b7f1a2c{n:04d}", "type": misp_type, "value": value,
            "category": "Network activity", "timestamp": "1709290800", **fields}  # fmt: skip


def sid(stix_type: str, misp_uuid: str, seconds: int | None = None, level: TLP | None = None) -> str:
    """Our id for a MISP uuid; a cyber-observable's also names the MISP timestamp and TLP level."""
    return misp_id(stix_type, misp_uuid, NS, sco_version(seconds * 1_000_000, level) if seconds else "")


def levels(obj: dict[str, Any]) -> set[TLP]:
    return {LEVEL_OF_ID[ref] for ref in obj.get("object_marking_refs", [])}


def assert_prepared(items: list[Item]) -> None:
    for item in items:
        if isinstance(item, tuple):
            prepared = prepare(*item)
            assert isinstance(prepared, Prepared), (item[1]["id"], prepared)


# --------------------------------------------------------------------------------- exact outputs


@pytest.mark.parametrize("name", ["event", "response"])
def test_fixtures_convert_to_exactly_the_expected_objects(name: str) -> None:
    items = convert((FIXTURES / f"{name}.json").read_bytes())
    expected = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    assert not problems(items)
    assert objects(items) == expected["objects"]
    assert [s.as_dict() for s in skipped(items)] == expected["skipped"]
    assert_prepared(items)


def test_event_shape_maps_misp_to_stix_as_misp_stix_does() -> None:
    got = {o["id"]: o for o in objects(convert((FIXTURES / "event.json").read_bytes()))}
    ip = "3c9f4a9e-0d1b-4b8e-9a51-1b7f1a2c0001"
    grouping = got[sid("grouping", EVENT_UUID)]  # unpublished: a grouping
    creator = sid("identity", ORGC["uuid"])
    assert got[creator]["name"] == "CERT-Example" and grouping["created_by_ref"] == creator
    assert set(grouping["object_refs"]) == {
        i for i, o in got.items() if o["type"] not in ("identity", "grouping")
    }
    assert sid("threat-actor", "7cdff317-a673-4474-84ec-4f1754947823") in grouping["object_refs"]
    assert "type:OSINT" in grouping["labels"]
    assert not any(label.startswith("misp-galaxy:") for label in grouping["labels"])  # galaxy became an SDO
    indicator = got[sid("indicator", ip)]
    assert indicator["pattern"] == (
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.7']"
    )
    assert indicator["labels"] == [
        'misp:type="ip-dst"',
        'misp:category="Network activity"',
        "kill-chain:Command and Control",
    ]
    scos = [sid("network-traffic", ip, 1709290800, TLP.AMBER), sid("ipv4-addr", ip, 1709290800, TLP.AMBER)]
    assert got[sid("observed-data", ip)]["object_refs"] == scos
    relations = {
        (o["relationship_type"], o["source_ref"], o["target_ref"])
        for o in got.values()
        if o["type"] == "relationship"
    }
    malware = sid("malware", "5930509b-7793-4db9-bdfc-4edda7709d0d")
    assert ("based-on", indicator["id"], sid("observed-data", ip)) in relations
    assert ("indicates", indicator["id"], malware) in relations
    assert got[malware]["name"] == "X-Agent" and got[malware]["is_family"] is False
    sighting = got[sid("sighting", "9e7c2d1a-5b4f-4c3e-8d2a-1f0e9d8c0001")]
    assert sighting["sighting_of_ref"] == indicator["id"]
    assert sighting["observed_data_refs"] == [sid("observed-data", ip)]
    assert (sighting["count"], sighting["first_seen"], sighting["last_seen"]) == (
        1, "2024-03-01T12:00:00.000000Z", "2024-03-01T12:00:00.000000Z",
    )  # fmt: skip
    assert got[sighting["where_sighted_refs"][0]]["name"] == "CERT-Other"
    opinion = got[sid("opinion", "9e7c2d1a-5b4f-4c3e-8d2a-1f0e9d8c0002")]  # a false-positive sighting
    assert opinion["opinion"] == "strongly-disagree" and indicator["id"] in opinion["object_refs"]
    url = got[sid("url", "3c9f4a9e-0d1b-4b8e-9a51-1b7f1a2c0003", 1709291000, TLP.AMBER_STRICT)]
    assert url["value"] == "https://login.example-bank.test/verify?id=1"  # refanged, normalised
    domain_ip = got[sid("indicator", "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0001")]  # one indicator per object
    assert observables_of_pattern(domain_ip["pattern"])[0].value == "mail.example-bank.test"
    assert (
        "x_misp_text"
        in got[sid("domain-name", "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0001", 1709291100, TLP.AMBER)]
    )


def test_response_shape_a_bare_list_and_a_bare_event_give_the_same_objects() -> None:
    misp = json.loads((FIXTURES / "event.json").read_text())
    wrapped = objects(convert(misp))
    assert objects(convert({"response": [misp]})) == wrapped
    assert objects(convert([misp])) == wrapped
    assert objects(convert(misp["Event"])) == wrapped


def test_published_event_is_a_report_and_an_empty_event_gets_a_note() -> None:
    got = objects(convert((FIXTURES / "response.json").read_bytes()))
    types = {o["id"]: o["type"] for o in got}
    assert types[sid("report", "0b5e8a3c-6f1d-4e2b-9c7a-5d4e3f2a0001")] == "report"
    empty = next(o for o in got if o["id"] == sid("grouping", "0b5e8a3c-6f1d-4e2b-9c7a-5d4e3f2a0003"))
    note = next(o for o in got if o["type"] == "note")
    assert empty["object_refs"] == [note["id"]] and note["object_refs"] == [empty["id"]]
    assert sum(o["type"] == "identity" for o in got) == 1  # one creator identity for the whole import


# ------------------------------------------------------------------------------------------------- TLP


@pytest.mark.parametrize(
    ("event_tags", "event_distribution", "attribute_tags", "attribute_distribution", "expected"),
    [
        ([], "0", [], "5", TLP.AMBER_STRICT),
        ([], "1", [], "5", TLP.GREEN),
        ([], "2", [], "5", TLP.GREEN),
        ([], "3", [], "5", TLP.CLEAR),
        ([], "4", [], "5", TLP.AMBER),
        ([], "3", [], "0", TLP.AMBER_STRICT),  # the attribute shares less than its event
        ([], "0", [], "3", TLP.AMBER_STRICT),  # ... but never more
        (["tlp:white"], "3", [], None, TLP.CLEAR),
        (["tlp:clear"], "1", [], None, TLP.GREEN),  # the distribution is stricter than the tag
        (["tlp:amber+strict"], "3", [], None, TLP.AMBER_STRICT),
        (["TLP:RED"], "3", [], None, TLP.RED),
        (["tlp:green", "tlp:amber"], "3", [], None, TLP.AMBER),
        ([], "3", ["tlp:amber"], "5", TLP.AMBER),
        (["tlp:amber"], "3", ["tlp:clear"], "3", TLP.AMBER),  # the event's tag covers its attributes
        (["tlp:ex:chr"], "3", [], None, TLP.CLEAR),  # not a TLP level: a label
        ([], None, [], None, None),
    ],
)
def test_tlp_from_tags_and_distribution_the_stricter_wins(
    event_tags: list[str],
    event_distribution: str | None,
    attribute_tags: list[str],
    attribute_distribution: str | None,
    expected: TLP | None,
) -> None:
    attr = attribute(1, "ip-dst", "198.51.100.7", to_ids=True, Tag=[{"name": t} for t in attribute_tags])
    if attribute_distribution is not None:
        attr["distribution"] = attribute_distribution
    misp = event(Tag=[{"name": t} for t in event_tags], Attribute=[attr])
    if event_distribution is not None:
        misp["Event"]["distribution"] = event_distribution
    items = convert(misp)
    converted = [o for o in objects(items) if o["type"] not in ("identity", "grouping")]
    assert len(converted) == 5  # observed-data, network-traffic, ipv4-addr, indicator, relationship
    for obj in converted:
        assert levels(obj) == ({expected} if expected else set()), obj["id"]
    for item in items:
        prepared = prepare(*item) if isinstance(item, tuple) else None
        if prepared is not None and prepared.id in {o["id"] for o in converted}:
            assert isinstance(prepared, Prepared)
            assert prepared.tlp == (expected.value if expected else None)
    grouping = next(o for o in objects(items) if o["type"] == "grouping")
    assert ("tlp:ex:chr" in grouping["labels"]) == (
        "tlp:ex:chr" in event_tags
    )  # an event tag labels the event


def test_distribution_levels_and_the_default_marking() -> None:
    assert DISTRIBUTION_TLP == {
        "0": TLP.AMBER_STRICT, "1": TLP.GREEN, "2": TLP.GREEN, "3": TLP.CLEAR, "4": TLP.AMBER,
    }  # fmt: skip
    misp = event(Attribute=[attribute(1, "domain", "example.org")])
    got = objects(convert(misp, ImportOptions(namespace=NS, tlp=TLP.GREEN)))
    assert all(levels(o) == {TLP.GREEN} for o in got)
    assert all(set(o.get("object_marking_refs", [])) <= set(EMIT_ID.values()) for o in got)
    assert not any(o["type"] == "marking-definition" for o in got)


# ------------------------------------------------------------------------------------ skips, values


def test_bad_values_unconverted_types_and_deleted_attributes_are_skipped_and_the_import_goes_on() -> None:
    misp = event(
        Attribute=[
            attribute(1, "ip-dst", "foo", to_ids=True),
            attribute(2, "domain", "exa mple.org"),
            attribute(3, "ip-dst|port", "198.51.100.7|99999"),
            attribute(4, "sha256", "abc123"),
            attribute(5, "text", "a note"),
            attribute(6, "md5", "d41d8cd98f00b204e9800998ecf8427e", deleted=True),
            attribute(7, "port", "443", to_ids=False),
            attribute(8, "domain", "good.example.org"),
        ]
    )
    items = convert(misp)
    assert not problems(items)
    where = {(s.where["attribute"][-4:], s.where["field"]) for s in skipped(items)}
    assert where == {("0001", "value"), ("0002", "value"), ("0003", "value"), ("0004", "value"),
                     ("0005", "type"), ("0006", "deleted"), ("0007", "to_ids")}  # fmt: skip
    reasons = {s.where["attribute"][-4:]: s.reason for s in skipped(items)}
    assert "'foo' is not a valid IPv4 address" in reasons["0001"]
    assert "port number" in reasons["0003"] and "64 hex digits" in reasons["0004"]
    assert all(s.where["event"] == EVENT_UUID for s in skipped(items))
    assert {o["value"] for o in objects(items) if o["type"] == "domain-name"} == {"good.example.org"}
    assert_prepared(items)


def test_a_bad_attribute_inside_a_misp_object_is_skipped_the_object_still_converts() -> None:
    misp_object = {
        "uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0001", "name": "ip-port", "meta-category": "network",
        "Attribute": [
            {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0002", "object_relation": "ip", "type": "ip-dst",
             "value": "203.0.113.9", "to_ids": True},
            {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0003", "object_relation": "dst-port", "type": "port",
             "value": "http", "to_ids": False},
        ],
    }  # fmt: skip
    items = convert(
        event(Object=[misp_object, {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0009", "name": "pe"}])
    )
    assert [(s.where.get("object"), s.where.get("attribute"), s.where["field"]) for s in skipped(items)] == [
        ("b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0001", "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0003", "value"),
        ("b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0009", None, "name"),
    ]
    traffic = next(o for o in objects(items) if o["type"] == "network-traffic")
    assert traffic["dst_ref"] == sid("ipv4-addr", "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0002", 1709290800)
    assert traffic["protocols"] == ["ipv4"] and "dst_port" not in traffic
    assert_prepared(items)


def test_to_ids_defaults_to_misps_default_for_the_type() -> None:
    got = objects(convert(event(Attribute=[attribute(1, "sha256", "a" * 64), attribute(2, "AS", "AS174")])))
    indicators = {o["id"] for o in got if o["type"] == "indicator"}
    assert indicators == {sid("indicator", "3c9f4a9e-0d1b-4b8e-9a51-1b7f1a2c0001")}  # sha256 yes, AS no


def test_galaxies_not_converted_are_skipped_and_stay_labels_countries_become_locations() -> None:
    galaxies = [
        {"name": "Guidelines", "type": "guidelines",
         "GalaxyCluster": [{"uuid": "", "type": "guidelines", "value": "Leak of confidential information"}]},
        {"name": "Country", "type": "country", "description": "Country meta information",
         "GalaxyCluster": [{"uuid": "84668357-5a8c-4bdd-9f0f-6b50b2535745", "type": "country",
                            "value": "sweden", "description": "Sweden",
                            "meta": {"ISO": "SE", "Capital": "Stockholm"}}]},
    ]  # fmt: skip
    tags = [
        {"name": 'misp-galaxy:guidelines="Leak of confidential information"'},
        {"name": 'misp-galaxy:country="sweden"'},
    ]
    items = convert(event(Galaxy=galaxies, Tag=tags))
    assert [s.where["field"] for s in skipped(items)] == ["Galaxy"]
    grouping = next(o for o in objects(items) if o["type"] == "grouping")
    assert 'misp-galaxy:guidelines="Leak of confidential information"' in grouping["labels"]
    assert 'misp-galaxy:country="sweden"' not in grouping["labels"]
    location = next(o for o in objects(items) if o["type"] == "location")
    assert (location["name"], location["country"], location["x_misp_capital"]) == (
        "Sweden",
        "SE",
        "Stockholm",
    )
    assert location["id"] in grouping["object_refs"]
    assert_prepared(items)


def test_custom_properties_are_lower_case_x_misp() -> None:
    misp_object = {
        "uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0001", "name": "url", "meta-category": "network",
        "Attribute": [
            {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0002", "object_relation": "url", "type": "url",
             "value": "https://example.org/x", "to_ids": True},
            {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0003", "object_relation": "Domain-Name",
             "type": "domain", "value": "example.org", "to_ids": True},
            {"uuid": "b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c0004", "object_relation": "first_seen", "type": "text",
             "value": "last tuesday", "to_ids": False},
        ],
    }  # fmt: skip
    items = convert(event(Object=[misp_object]))
    url = next(o for o in objects(items) if o["type"] == "url")
    assert url["x_misp_domain_name"] == "example.org"
    assert url["x_misp_first_seen_text"] == "last tuesday"  # not a timestamp: no timestamp name
    indicator = next(o for o in objects(items) if o["type"] == "indicator")
    assert "url:x_misp_domain_name = 'example.org'" in indicator["pattern"]
    assert_prepared(items)


def test_sightings_of_other_types_are_skipped_and_organisation_is_optional() -> None:
    attr = attribute(1, "domain", "example.org", to_ids=True, Sighting=[
        {"uuid": "9e7c2d1a-5b4f-4c3e-8d2a-1f0e9d8c0001", "type": "0", "date_sighting": "1709294400"},
        {"uuid": "9e7c2d1a-5b4f-4c3e-8d2a-1f0e9d8c0002", "type": "2", "date_sighting": "1709294400"},
    ])  # fmt: skip
    items = convert(event(Attribute=[attr]))
    sighting = next(o for o in objects(items) if o["type"] == "sighting")
    assert "where_sighted_refs" not in sighting and sighting["count"] == 1
    assert [s.where["field"] for s in skipped(items)] == ["Sighting"]


# ------------------------------------------------------------------------------- bad input, streaming


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "empty input"),
        (b'{"Event": {"info": "x", ', "malformed JSON"),
        (b'{"response": [{"Event": {"info": "a"}}, 42]}', "element #1 of the array is not a MISP event"),
        (
            b'{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": []}',
            "STIX bundle",
        ),
        (b'{"foo": 1}', "not a MISP event: expected"),
        (b"[1, 2]", "element #0 of the array is not a MISP event"),
        (b'{"Event": {"info": "a"}} trailing', "unexpected data after the top-level JSON value"),
        (b'{"response": {"Attribute": []}}', "the 'response' holds Attribute, not a list of events"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
    ],
)
def test_broken_or_non_misp_input_is_a_problem_naming_where(data: bytes, detail: str) -> None:
    found = problems(convert(data))
    assert len(found) == 1 and detail in found[0].detail
    assert "line" in found[0].where or "byte" in found[0].where


def test_a_problem_names_line_and_column_and_ends_the_stream() -> None:
    first = b'{"Event": {"uuid": "0b5e8a3c-6f1d-4e2b-9c7a-5d4e3f2a0001", "info": "a"}}'
    data = b'{"response": [\n ' + first + b',\n {"Event": nope}]}'
    items = convert(data)
    assert isinstance(items[-1], Problem) and len(problems(items)) == 1
    assert items[-1].where["line"] == 3 and items[-1].where["column"] == 12
    assert any(
        isinstance(i, tuple) and i[1]["type"] == "grouping" for i in items
    )  # the first event came first


class _CountingReader(io.RawIOBase):
    """A binary file that counts what was read, to see the reader does not load everything."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


def test_a_large_response_is_read_event_by_event() -> None:
    padding = "x" * 2000
    events = [
        {"Event": {"uuid": f"0b5e8a3c-6f1d-4e2b-9c7a-{n:012d}", "info": padding, "timestamp": "1710000000",
                   "Attribute": [attribute(1, "domain", f"host{n}.example.org")]}}
        for n in range(2500)
    ]  # fmt: skip
    data = json.dumps({"response": events}).encode()
    reader = _CountingReader(data)
    items: Iterator[Item] = read(reader, OPTIONS)  # type: ignore[arg-type]
    first = next(items)
    assert isinstance(first, tuple)
    assert reader.consumed < len(data) // 2  # about one chunk, not the whole response


# ----------------------------------------------------------------------------------- idempotence, ids


def test_converting_twice_is_byte_identical_and_ids_are_scoped_to_the_importer() -> None:
    data = (FIXTURES / "event.json").read_bytes() + b"\n"
    first = [i[2] for i in convert(data) if isinstance(i, tuple)]
    second = [i[2] for i in convert(data) if isinstance(i, tuple)]
    assert first == second
    other = {o["id"] for o in objects(convert(data, ImportOptions(namespace=org_namespace(8))))}
    assert not other & {o["id"] for o in objects(convert(data))}


def test_drafts_without_uuids_get_stable_ids_from_their_content() -> None:
    draft = {"info": "draft", "Attribute": [{"type": "domain", "value": "example.org", "to_ids": True}]}
    once, again = objects(convert(draft)), objects(convert(draft))
    assert [o["id"] for o in once] == [o["id"] for o in again]
    changed = objects(convert({**draft, "info": "draft 2"}))
    assert {o["id"] for o in changed}.isdisjoint(o["id"] for o in once)


@pytest.mark.store
def test_the_store_accepts_the_import_and_a_second_import_changes_nothing(alliance: Any) -> None:
    alliance.org("Alpha", country="AT")
    alliance.user("a@alpha.example", "Alpha")
    viewer = alliance.viewer("a@alpha.example")
    data = (FIXTURES / "event.json").read_bytes()
    parsed = [i for i in convert(data) if isinstance(i, tuple)]
    result = alliance.app.submit(viewer, iter(parsed))
    assert result.stored == len(parsed)
    again = alliance.app.submit(viewer, iter([i for i in convert(data) if isinstance(i, tuple)]))
    assert again.stored == 0 and again.unchanged == len(parsed)
    # The event narrowed to the organisation only (MISP keeps its attributes' timestamps) and a value
    # corrected (MISP moves that attribute's timestamp): new versions and new SCOs, no conflict.
    narrowed = json.loads(data)
    narrowed["Event"]["distribution"] = "0"
    fixed = narrowed["Event"]["Attribute"][3]
    fixed.update(value="198.51.100.8", timestamp="1709300000")
    items = [i for i in convert(narrowed) if isinstance(i, tuple)]
    result = alliance.app.submit(viewer, iter(items))
    before = {raw for _, _, raw in parsed}
    assert result.stored == sum(raw not in before for _, _, raw in items) > len(items) // 2
    assert result.unchanged == sum(raw in before for _, _, raw in items)


# --------------------------------------------------------------------------------- corpus: misp-stix

GOLDEN_ORGC = {"name": "MISP-Project", "uuid": "a0c22599-9e58-4da4-96ac-7051603fa951"}
GOLDEN_EVENT = "9f2c8a68-7a36-4bd4-9a0e-6c5a7a1e1f00"
DEFAULT_NS = ImportOptions().namespace

# Golden pairs where we deliberately differ from misp-stix, and why.
NOT_CONVERTED = "object type not converted (Skipped)"
NO_CUSTOM_OBJECTS = "misp-stix emits an x-misp-* custom object; we skip what has no STIX mapping"
DIFFERENCES = {
    "attributes/sha512/224": "SHA-512/224 keeps its own hash name (misp-stix files it as SHA-224)",
    "attributes/sha512/256": "SHA-512/256 keeps its own hash name (misp-stix files it as SHA-256)",
    "attributes/filename|sha512/224": "SHA-512/224 keeps its own hash name (misp-stix: SHA-224)",
    "attributes/filename|sha512/256": "SHA-512/256 keeps its own hash name (misp-stix: SHA-256)",
    "attributes/regkey|value": "registry data quoted by STIX rules only (misp-stix also escapes '%')",
    "objects/domain-ip with the perfect domain & ip matching": (
        "every domain and IP is in the pattern (misp-stix keeps only the last of each)"
    ),
    "objects/registry-key with references to registry-key-value(s)": "referenced values are not merged",
    "objects/file with references to pe & pe-section(s)": "pe and pe-section objects are not converted",
    "objects/pe & pe-sections": "pe and pe-section objects are not converted",
    "objects/annotation": "annotation objects are not converted (misp-stix: a note)",
    **{
        f"objects/{name}": NOT_CONVERTED
        for name in (
            'Script object where state is "Malicious"',
            'Script object where state is not "Malicious"',
            "android-app",
            "cpe-asset",
            "employee",
            "hashlookup",
            "http-request",
            "identity",
            "image",
            "legal-entity",
            "lnk",
            "netflow",
            "news-agency",
            "nova-rule",
            "organization",
            "owasp-crs-rule",
            "person",
            "process",
            "wazuh-rule",
        )
    },
    **{
        f"custom_attributes/{n}": NO_CUSTOM_OBJECTS
        for n in ("btc", "http-method", "iban", "port", "size-in-bytes", "user-agent")
    },
    **{f"custom_objects/{n}": NO_CUSTOM_OBJECTS for n in ("bank-account", "btc-wallet", "person")},
}


GOLDEN_SCO_VERSION = sco_version(1603642920 * 1_000_000, None)


def mapped(stix_id: str) -> str:
    """misp-stix's id for a MISP uuid -> ours (`misp_id`: scoped by the importing organisation, and
    for cyber-observables versioned by the MISP timestamp and TLP level)."""
    stix_type, misp_uuid = stix_id.split("--", 1)
    return misp_id(stix_type, misp_uuid, DEFAULT_NS, GOLDEN_SCO_VERSION if stix_type in SCO_TYPES else "")


def comparisons(pattern: str) -> set[tuple[Any, ...]]:
    """(object type, path, operator, value) of a STIX pattern, values unescaped and normalised."""
    found = set()
    for obj_type, items in Pattern(pattern).inspect().comparisons.items():
        for path, op, literal in items:
            value = (
                literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")
                if literal.startswith("'")
                else literal
            )
            normal = try_normalise(value)
            steps = tuple(step if isinstance(step, (str, int)) else "*" for step in path)
            found.add((obj_type, steps, op, normal.value if normal else value))
    return found


def differences(expected: list[dict[str, Any]], items: list[Item], event_ids: set[str]) -> list[str]:
    """How our conversion differs from misp-stix's: object types and ids, relationships, patterns,
    TLP markings (empty: they agree)."""
    ours = [o for o in objects(items) if o["id"] not in event_ids]
    theirs = [o for o in expected if o["type"] != "marking-definition"]
    found = []
    want_ids = {mapped(o["id"]) for o in theirs if o["type"] != "relationship"}
    got_ids = {o["id"] for o in ours if o["type"] != "relationship"}
    if want_ids != got_ids:
        found.append(f"objects: missing {sorted(want_ids - got_ids)}, extra {sorted(got_ids - want_ids)}")
    want_rel = {(o["relationship_type"], mapped(o["source_ref"]), mapped(o["target_ref"]))
                for o in theirs if o["type"] == "relationship"}  # fmt: skip
    got_rel = {
        (o["relationship_type"], o["source_ref"], o["target_ref"])
        for o in ours
        if o["type"] == "relationship"
    }
    if want_rel != got_rel:
        found.append(f"relationships differ: {sorted(want_rel ^ got_rel)}")
    by_id = {o["id"]: o for o in ours}
    for want in theirs:
        got = by_id.get(mapped(want["id"]))
        if got is None:
            continue
        if want["type"] == "indicator":
            if want["pattern_type"] != got["pattern_type"]:
                found.append(f"pattern_type {want['pattern_type']} != {got['pattern_type']}")
            elif want["pattern_type"] != "stix":
                if want["pattern"].removeprefix("[").removesuffix("]") != got["pattern"]:
                    found.append(f"rule text differs in {got['id']}")
            elif comparisons(want["pattern"]) != comparisons(got["pattern"]):
                found.append(f"pattern {want['pattern']!r} != {got['pattern']!r}")
            elif observables_of_pattern(want["pattern"]) != observables_of_pattern(got["pattern"]):
                found.append(f"pattern observables differ in {got['id']}")
        if {LEVEL_OF_ID[r] for r in want.get("object_marking_refs", [])} != levels(got):
            found.append(f"TLP markings differ on {got['id']}")
    return found


def golden_cases() -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    mapping = shared_data("misp-stix-goldens", "documentation", "mapping")
    for name, kind in (("attributes", "Attribute"), ("objects", "Object"), ("galaxies", "Galaxy"),
                       ("custom_attributes", "Attribute"), ("custom_objects", "Object")):  # fmt: skip
        for case, pair in json.loads((mapping / f"misp_{name}_to_stix21.json").read_text()).items():
            misp = pair["MISP"] if isinstance(pair["MISP"], list) else [pair["MISP"]]
            expected = pair["STIX"] if isinstance(pair["STIX"], list) else [pair["STIX"]]
            if kind == "Attribute" and any(o["type"] == "indicator" for o in expected):
                # The documentation trims `to_ids` from its MISP side; the pair shows the to_ids case.
                misp = [dict(m, to_ids=m.get("to_ids", True)) for m in misp]
            misp_event = {"uuid": GOLDEN_EVENT, "info": case, "timestamp": "1603642920", "Orgc": GOLDEN_ORGC,
                          kind: misp}  # fmt: skip
            yield f"{name}/{case}", {"Event": misp_event}, expected


@pytest.mark.corpus
def test_agreement_with_misp_stix_golden_mapping_pairs() -> None:
    event_ids = {mapped(f"{t}--{GOLDEN_EVENT}") for t in ("grouping", "note")} | {
        mapped(f"identity--{GOLDEN_ORGC['uuid']}")
    }
    agree, disagree = [], {}
    for case, misp_event, expected in golden_cases():
        items = convert(misp_event, ImportOptions())
        assert not problems(items), case
        assert_prepared(items)
        found = differences(expected, items, event_ids)
        if found:
            disagree[case] = found
        else:
            agree.append(case)
    unexpected = {case: found for case, found in disagree.items() if case not in DIFFERENCES}
    assert not unexpected, unexpected
    stale = sorted(set(DIFFERENCES) - set(disagree))
    assert not stale, f"these now agree with misp-stix; drop them from DIFFERENCES: {stale}"
    assert len(agree) + len(disagree) == 172
    # 134 of misp-stix's 172 golden pairs agree (all 27 galaxies, 75 of 80 attribute types).
    assert len(agree) >= 134


@pytest.mark.corpus
def test_agreement_with_misp_stix_on_the_golden_event_collections() -> None:
    tests = shared_data("misp-stix-goldens", "tests")
    expected = json.loads((tests / "test_events_collection_stix21.json").read_text())["objects"]
    items: list[Item] = []
    for name in ("test_events_collection_1.json", "test_events_collection_2.json"):
        items += convert((tests / name).read_bytes(), ImportOptions())
    assert not problems(items) and not skipped(items)
    assert_prepared(items)
    assert differences(expected, items, set()) == []
    got = {o["id"]: o for o in objects(items)}
    for grouping in (o for o in expected if o["type"] == "grouping"):
        ours = got[mapped(grouping["id"])]
        assert ours["type"] == "grouping" and ours["name"] == grouping["name"]
        assert ours["created_by_ref"] == mapped(grouping["created_by_ref"])
        want = [mapped(r) for r in grouping["object_refs"] if not r.startswith("relationship--")]
        assert [r for r in ours["object_refs"] if not r.startswith("relationship--")] == want
        assert sum(r.startswith("relationship--") for r in ours["object_refs"]) == sum(
            r.startswith("relationship--") for r in grouping["object_refs"]
        )


# -------------------------------------------------------------------------------- corpus: PyMISP

# Files in pymisp-test-events that are not MISP events (a galaxy, a template, a STIX bundle...).
NOT_EVENTS = {
    "git-vuln-finder-quagga.json",
    "mispevent_testfiles/galaxy.json",
    "mispevent_testfiles/sighting.json",
    "mispevent_testfiles/simple.json",
    "mispevent_testfiles/overwrite_file/definition.json",
    "mispevent_testfiles/test_object_template/definition.json",
    "sharing_groups.json",
    "stix2.json",
}


@pytest.mark.corpus
def test_every_pymisp_test_event_converts_and_every_object_passes_prepare() -> None:
    root = shared_data("pymisp-test-events", "tests")
    files = sorted(root.rglob("*.json"))
    assert len(files) > 30
    converted = 0
    for path in files:
        name = path.relative_to(root).as_posix()
        items = convert(path.read_bytes())
        if name in NOT_EVENTS:
            assert len(problems(items)) == 1 and not objects(items), name
            continue
        assert not problems(items), (name, problems(items))
        assert_prepared(items)
        assert [i[2] for i in items if isinstance(i, tuple)] == [
            i[2] for i in convert(path.read_bytes()) if isinstance(i, tuple)
        ], name
        converted += len(objects(items))
    assert converted > 3000
