"""The STIX importer: 2.1 passes through byte for byte, 2.0 is upgraded (ids kept), 1.x is refused."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import stix2
from conftest import shared_data
from stix2.exceptions import STIXDeprecationWarning

from accord.errors import Problem
from accord.ingest import ImportOptions, Item, Skipped
from accord.ingest.stix import STIX1_REFUSAL, is_stix20, read, upgrade
from accord.intel.bundle_stream import iter_bundle
from accord.intel.prepare import Prepared, prepare

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
OPTIONS = ImportOptions()


def read_bytes(data: bytes) -> list[Item]:
    return list(read(io.BytesIO(data), OPTIONS))


def read_fixture(name: str) -> list[Item]:
    return read_bytes((FIXTURES / name).read_bytes())


def parsed(items: list[Item]) -> list[tuple[int, Any, str]]:
    assert not [i for i in items if isinstance(i, (Problem, Skipped))], items
    return [i for i in items if isinstance(i, tuple)]


def by_type(items: list[Item]) -> dict[str, dict[str, Any]]:
    return {obj["type"]: obj for _, obj, _ in parsed(items)}


# --- STIX 2.1 ---------------------------------------------------------------------------------------


def test_stix21_objects_pass_through_with_raw_text_as_received() -> None:
    text = (FIXTURES / "stix21_bundle.json").read_text("utf-8")
    items = parsed(read_fixture("stix21_bundle.json"))
    assert [i for i, _, _ in items] == [0, 1, 2]
    for _, obj, raw in items:
        assert raw in text  # the exact bytes of the object in the file, whitespace and escapes kept
        assert json.loads(raw) == obj
    malware_raw = items[0][2]
    assert (
        malware_raw.startswith('{ "id" : "malware--') and "1.50" in malware_raw and "\\u00e9" in malware_raw
    )


def test_stix21_observable_without_spec_version_is_not_upgraded() -> None:
    items = parsed(read_fixture("stix21_bundle.json"))
    _, sco, _ = items[1]
    assert sco["type"] == "ipv4-addr" and "spec_version" not in sco
    assert not is_stix20(sco)
    assert isinstance(prepare(*items[1]), Prepared)


def test_stix21_labels_stay_labels() -> None:
    indicator = by_type(read_fixture("stix21_bundle.json"))["indicator"]
    assert indicator["labels"] == ["kept-as-labels"] and "indicator_types" not in indicator


# --- STIX 2.0 upgrade -------------------------------------------------------------------------------


def test_stix20_bundle_is_upgraded_with_ids_kept() -> None:
    original = json.loads((FIXTURES / "stix20_bundle.json").read_text("utf-8"))["objects"]
    items = parsed(read_fixture("stix20_bundle.json"))
    assert [obj["id"] for _, obj, _ in items] == [o["id"] for o in original]
    for (index, obj, raw), before in zip(items, original, strict=True):
        assert obj["spec_version"] == "2.1"
        assert json.loads(raw) == obj  # the raw text is the upgraded object, re-serialised
        assert obj["created"] == before["created"] and obj.get("modified") == before.get("modified")
        result = prepare(index, obj, raw)
        assert isinstance(result, Prepared), result
        assert result.spec_version == "2.1"


def test_stix20_labels_move_to_the_21_type_vocabularies() -> None:
    objs = by_type(read_fixture("stix20_bundle.json"))
    assert objs["indicator"]["indicator_types"] == ["malicious-activity"]
    assert objs["malware"]["malware_types"] == ["remote-access-trojan"]
    assert objs["threat-actor"]["threat_actor_types"] == ["nation-state"]
    assert objs["tool"]["tool_types"] == ["remote-access"]
    assert objs["report"]["report_types"] == ["campaign"]
    assert not any("labels" in objs[t] for t in ("indicator", "malware", "threat-actor", "tool", "report"))


def test_stix20_required_21_properties_are_added() -> None:
    objs = by_type(read_fixture("stix20_bundle.json"))
    assert objs["indicator"]["pattern_type"] == "stix"
    assert objs["indicator"]["pattern"] == "[ipv4-addr:value = '198.51.100.7']"
    assert objs["malware"]["is_family"] is True


def test_stix20_custom_content_and_tlp10_markings_are_kept() -> None:
    items = parsed(read_fixture("stix20_bundle.json"))
    objs = {obj["type"]: (i, obj, raw) for i, obj, raw in items}
    _, indicator, raw = objs["indicator"]
    assert indicator["x_example_score"] == 12345678901234567890123  # beyond 64 bits: still written
    assert "12345678901234567890123" in raw
    assert objs["x-example-playbook"][1]["x_example_steps"] == ["isolate", "reimage"]
    marking = objs["marking-definition"][1]
    assert marking["definition"] == {"tlp": "green"}
    prepared = prepare(*objs["indicator"])
    assert isinstance(prepared, Prepared) and prepared.tlp == "green"
    assert [(kind, value) for kind, value, _, _ in prepared.observables] == [("ipv4", "198.51.100.7")]


def test_stix20_observed_data_objects_get_ids_refs_and_21_names() -> None:
    observed = by_type(read_fixture("stix20_bundle.json"))["observed-data"]
    objects = observed["objects"]
    assert set(objects) == {"0", "1", "2", "3"}
    base = uuid.UUID(observed["id"].split("--")[1])
    ids = {key: f"{sco['type']}--{uuid.uuid5(base, key)}" for key, sco in objects.items()}
    assert {key: sco["id"] for key, sco in objects.items()} == ids
    assert objects["0"]["ctime"] == "2015-12-21T18:59:00Z" and "created" not in objects["0"]
    assert objects["2"]["dst_ref"] == ids["1"]
    assert objects["3"]["image_ref"] == ids["0"] and "binary_ref" not in objects["3"]
    assert objects["3"]["created_time"] == "2015-12-21T19:00:00Z"
    assert objects["3"]["opened_connection_refs"] == [ids["2"]]
    # The OASIS library reads it as 2.1 (and warns that `objects` is deprecated, as 2.1 says).
    with pytest.warns(STIXDeprecationWarning):
        parsed_od = stix2.parse(observed, allow_custom=False, version="2.1")
    assert parsed_od.objects["3"].image_ref == ids["0"]


def test_upgrade_does_not_touch_its_input_and_is_deterministic() -> None:
    original = json.loads((FIXTURES / "stix20_bundle.json").read_text("utf-8"))["objects"]
    snapshot = json.dumps(original, sort_keys=True)
    first = [upgrade(o) for o in original]
    assert json.dumps(original, sort_keys=True) == snapshot
    assert first == [upgrade(o) for o in original]


def test_existing_21_vocabulary_wins_over_labels() -> None:
    obj = {
        "type": "indicator",
        "id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade",
        "labels": ["from-labels"],
        "indicator_types": ["anomalous-activity"],
        "pattern_type": "snort",
    }
    up = upgrade(obj)
    assert up["labels"] == ["from-labels"] and up["indicator_types"] == ["anomalous-activity"]
    assert up["pattern_type"] == "snort"
    assert list(up)[:2] == ["type", "spec_version"]


def test_explicit_spec_version_20_is_upgraded() -> None:
    obj = {"type": "campaign", "spec_version": "2.0", "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
    assert is_stix20(obj) and upgrade(obj)["spec_version"] == "2.1"


def test_single_stix20_object_file_is_upgraded() -> None:
    [(index, obj, raw)] = parsed(read_fixture("stix20_object.json"))
    assert index == 0 and obj["id"] == "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"
    assert obj["spec_version"] == "2.1" and obj["pattern_type"] == "stix"
    assert isinstance(prepare(index, obj, raw), Prepared)


def test_large_stix20_bundle_streams_past_the_head_buffer() -> None:
    """More than the 64 KiB the reader looks at first: the head and the rest join seamlessly."""
    objects = [
        {
            "type": "indicator",
            "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, str(i))}",
            "created": "2016-04-06T20:03:48.000Z",
            "modified": "2016-04-06T20:03:48.000Z",
            "labels": ["malicious-activity"],
            "pattern": f"[ipv4-addr:value = '10.0.{i // 256}.{i % 256}']",
            "valid_from": "2016-01-01T00:00:00Z",
        }
        for i in range(3000)
    ]
    data = json.dumps({"type": "bundle", "id": "bundle--" + str(uuid.uuid4()), "objects": objects}).encode()
    assert len(data) > 3 * 64 * 1024
    items = parsed(read_bytes(data))
    assert [obj["id"] for _, obj, _ in items] == [o["id"] for o in objects]
    assert all(isinstance(prepare(*item), Prepared) for item in items)


def test_reading_twice_gives_identical_objects() -> None:
    assert read_fixture("stix20_bundle.json") == read_fixture("stix20_bundle.json")


# --- refusals ---------------------------------------------------------------------------------------


def only_problem(items: list[Item]) -> Problem:
    assert len(items) == 1 and isinstance(items[0], Problem), items
    return items[0]


@pytest.mark.parametrize("name", ["stix1_package.xml", "stix1_package.json"])
def test_stix1_is_refused_as_such_and_not_half_read(name: str) -> None:
    p = only_problem(read_fixture(name))
    assert p.detail.startswith(STIX1_REFUSAL)
    assert "STIX 1.x" in p.detail and "stix2-elevator" in p.detail


def test_stix1_xml_after_bom_and_whitespace_is_refused() -> None:
    data = b"\xef\xbb\xbf\n  " + (FIXTURES / "stix1_package.xml").read_bytes()
    assert "STIX 1.x" in only_problem(read_bytes(data)).detail


def test_stix1_spec_version_is_refused() -> None:
    p = only_problem(read_bytes(b'{"type": "indicator", "spec_version": "1.2", "id": "x"}'))
    assert "STIX 1.x" in p.detail and "'1.2'" in p.detail


def test_other_xml_is_refused() -> None:
    p = only_problem(read_bytes(b"<html><body>not stix</body></html>"))
    assert "XML" in p.detail and "STIX 1.x" not in p.detail


def test_malformed_json_is_a_problem_with_its_place() -> None:
    items = read_bytes(
        b'{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",\n'
        b' "objects": [\n  {"a": 1,}\n]}'
    )
    p = items[-1]
    assert isinstance(p, Problem) and "malformed JSON" in p.detail
    assert p.where["line"] == 3


def test_a_problem_ends_the_reading() -> None:
    data = b'[{"type": "identity", "spec_version": "1.0", "id": "a"}, {"type": "identity"}]'
    assert len(read_bytes(data)) == 1


# --- corpora ----------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_mitre_attack_stix20_upgrades_and_every_object_passes_prepare() -> None:
    path = shared_data("mitre-cti-enterprise-stix20", "enterprise-attack-merged.stix20.json.gz")
    with gzip.open(path, "rb") as fp:
        original_ids = [obj["id"] for _, obj, _ in iter_bundle(fp)]
    per_type: Counter[str] = Counter()
    sample: list[dict[str, Any]] = []
    ids: list[str] = []
    with gzip.open(path, "rb") as fp:
        for item in read(fp, OPTIONS):
            assert isinstance(item, tuple), item
            index, obj, raw = item
            result = prepare(index, obj, raw)
            assert isinstance(result, Prepared), result
            assert obj["spec_version"] == "2.1" and json.loads(raw) == obj
            ids.append(obj["id"])
            per_type[obj["type"]] += 1
            if per_type[obj["type"]] <= 3 or index % 250 == 0:
                sample.append(obj)
    assert len(ids) == 24_771 and ids == original_ids
    assert per_type["malware"] == 696 and per_type["relationship"] == 20_048
    for obj in sample:
        stix2.parse(obj, allow_custom=True, version="2.1")
    assert {o["type"] for o in sample} >= {"attack-pattern", "malware", "tool", "relationship", "identity"}


VALIDATOR = ("oasis-stix-validator-testdata", "stix2validator", "test")
# Invalid examples and why each is refused; every one of them is, none is accepted.
INVALID = {
    "invalid_braces.json": "must be a JSON object",  # `<{ ... }>`
    "invalid_comma.json": "malformed JSON",  # a trailing comma
    "invalid_identity.json": "'modified' is required",
    "invalid_timestamp.json": "'modified' (2015-08-08T15:50:10.983Z) is earlier than 'created'",
}


@pytest.mark.corpus
@pytest.mark.parametrize("version", ["v20", "v21"])
def test_validator_examples(version: str) -> None:
    folder = shared_data(*VALIDATOR, version, "test_examples")
    checked = 0
    for path in sorted(folder.glob("*.json")):
        results: list[Prepared | Problem] = []
        for item in read_bytes(path.read_bytes()):
            assert not isinstance(item, Skipped)
            results.append(item if isinstance(item, Problem) else prepare(*item))
        problems = [r for r in results if isinstance(r, Problem)]
        if path.name in INVALID:
            assert problems, f"{path.name} was accepted"
            assert INVALID[path.name] in problems[0].detail, problems[0]
        else:
            assert results and not problems, f"{path.name}: {problems}"
            assert all(r.spec_version == "2.1" for r in results if isinstance(r, Prepared))
        checked += 1
    assert checked >= 7
