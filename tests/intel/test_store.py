"""The intelligence store: versions, producers, all-or-nothing, raw content kept, the index."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import shared_data
from sqlalchemy import select
from stix_factory import bundle, indicator, ip_indicator, malware, parsed

from accord.db.schema import observable, stix_object
from accord.errors import BatchRefused, Forbidden, NotFound
from accord.intel.bundle_stream import iter_bundle
from accord.intel.prepare import Parsed
from accord.intel.tlp import TLP
from accord.policy import Share

pytestmark = pytest.mark.store


@pytest.fixture
def two(alliance: Any) -> Any:
    alliance.org("Alpha", country="AT")
    alliance.org("Beta", country="BE")
    alliance.user("a@alpha.example", "Alpha")
    alliance.user("b@beta.example", "Beta")
    return alliance


def test_raw_text_is_kept_byte_for_byte(two: Any) -> None:
    text = (
        '{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[\n'
        '  { "id" : "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061", "type":"malware", "spec_version":"2.1",'
        '"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",'
        '"name":"Caf\\u00e9 \u00e9",'
        '"is_family":true,"x_custom_score":1.50,"object_marking_refs":'
        '["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}\n]}'
    )
    import io

    two.app.submit(two.viewer("a@alpha.example"), iter_bundle(io.BytesIO(text.encode())))
    with two.app.db.read() as conn:
        stored = conn.execute(select(stix_object.c.content)).scalar_one()
    start = text.index('{ "id"')
    assert stored == text[start : text.index("]}\n]}") + 2]
    got = two.app.get_object(two.viewer("b@beta.example"), "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061")
    assert got["object"]["x_custom_score"] == 1.5 and got["object"]["name"] == "Café é"


def test_every_version_kept_latest_marked(two: Any) -> None:
    a = two.viewer("a@alpha.example")
    v1 = malware("Amavaldo", TLP.GREEN)
    v3 = dict(v1, modified="2024-09-01T00:00:00.000Z", description="v3")
    v2 = dict(v1, modified="2024-07-01T00:00:00.000Z", description="v2")
    two.app.submit(a, parsed([v1]))
    two.app.submit(a, parsed([v3, v2]))  # out of order in one submission
    with two.app.db.read() as conn:
        rows = conn.execute(
            select(stix_object.c.modified_us, stix_object.c.is_latest).order_by(stix_object.c.modified_us)
        ).all()
    assert [r.is_latest for r in rows] == [False, False, True]
    b = two.viewer("b@beta.example")
    assert two.app.get_object(b, v1["id"])["object"]["description"] == "v3"
    assert [i["object"].get("description") for i in two.app.versions(b, v1["id"])] == [None, "v2", "v3"]


def test_another_org_may_not_version_what_it_sees(two: Any) -> None:
    original = malware("Guildma", TLP.GREEN)
    two.app.submit(two.viewer("a@alpha.example"), parsed([original]))
    b = two.viewer("b@beta.example")
    # The identical object from another organisation is a no-op ...
    assert two.app.submit(b, parsed([original])).unchanged == 1
    # ... but a newer version of it is refused: only the producer versions its objects.
    with pytest.raises(BatchRefused) as refused:
        two.app.submit(b, parsed([dict(original, modified="2025-01-01T00:00:00.000Z", name="hijacked")]))
    assert "only its producer" in refused.value.problems[0].detail
    assert two.app.get_object(b, original["id"])["object"]["name"] == "Guildma"


def test_an_org_may_not_version_an_object_it_cannot_see(two: Any) -> None:
    """Otherwise Beta could supersede what Alpha's readers get as the newest version of Alpha's object."""
    secret = ip_indicator("198.51.100.1", TLP.AMBER)
    two.app.submit(two.viewer("a@alpha.example"), parsed([secret]))
    b = two.viewer("b@beta.example")
    newer = dict(secret, modified="2025-01-01T00:00:00.000Z", name="beta's", object_marking_refs=[])
    with pytest.raises(BatchRefused) as refused:
        two.app.submit(b, parsed([newer]))
    assert "only its producer" in refused.value.problems[0].detail
    with pytest.raises(NotFound):
        two.app.get_object(b, secret["id"])
    assert "name" not in two.app.get_object(two.viewer("a@alpha.example"), secret["id"])["object"]


def test_observables_are_held_per_producer(two: Any) -> None:
    """An SCO's id is derived from its value: two organisations hold the same IP with their own TLP."""
    sco = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
    }
    amber = dict(sco, object_marking_refs=["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"])
    two.app.submit(two.viewer("a@alpha.example"), parsed([amber]))
    b = two.viewer("b@beta.example")
    with pytest.raises(NotFound):
        two.app.get_object(b, sco["id"])
    assert two.app.submit(b, parsed([sco])).stored == 1
    assert two.app.get_object(b, sco["id"])["producer"]["name"] == "Beta"
    assert two.app.get_object(two.viewer("a@alpha.example"), sco["id"])["producer"]["name"] == "Alpha"


def test_nothing_of_a_refused_submission_is_stored(two: Any) -> None:
    a = two.viewer("a@alpha.example")
    good = [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(1, 50)]
    bad = indicator("[ipv4-addr:value = '192.0.2.1'", TLP.GREEN)
    with pytest.raises(BatchRefused) as refused:
        two.app.submit(a, parsed([*good, bad]))
    assert refused.value.problems[0].where == {"object": bad["id"], "field": "pattern"}
    with two.app.db.read() as conn:
        assert conn.execute(select(stix_object.c.pk)).first() is None
        assert conn.execute(select(observable.c.value)).first() is None


def test_problems_in_late_batches_refuse_early_ones(two: Any) -> None:
    import accord.intel.prepare as prep

    a = two.viewer("a@alpha.example")
    objs = [ip_indicator(f"10.1.{i // 200}.{i % 200}", TLP.GREEN) for i in range(35)]
    objs.append(dict(malware("x"), created="not a time"))
    with pytest.raises(BatchRefused) as refused:
        two.app.submit_batches(a, prep.prepare_batches(parsed(objs), 10))
    assert refused.value.problems[0].where["field"] == "created"
    with two.app.db.read() as conn:
        assert conn.execute(select(stix_object.c.pk)).first() is None


def test_observable_index(two: Any) -> None:
    a = two.viewer("a@alpha.example")
    objs = [
        ip_indicator("2001:DB8:0:0::1", TLP.GREEN),
        indicator(
            "[domain-name:value = 'Login.Example.COM.'] OR [url:value = 'hxxp://bad[.]example/x']", TLP.GREEN
        ),
        indicator("[ipv4-addr:value ISSUBSET '192.0.2.0/24']", TLP.GREEN),
        indicator("[file:hashes.'SHA-256' = 'AA" + "b" * 62 + "']", TLP.GREEN),
        {
            "type": "email-addr",
            "spec_version": "2.1",
            "id": "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3",
            "value": "Mallory@Example.COM",
        },
    ]
    two.app.submit(a, parsed(objs))
    with two.app.db.read() as conn:
        values = {(r.kind, r.value) for r in conn.execute(select(observable.c.kind, observable.c.value))}
    assert values == {
        ("ipv6", "2001:db8::1"),
        ("domain", "login.example.com"),
        ("url", "http://bad.example/x"),
        ("ipv4", "192.0.2.0/24"),
        ("sha256", "aa" + "b" * 62),
        ("email", "Mallory@example.com"),
    }


def test_red_shared_with_named_users_only(two: Any) -> None:
    two.user("c@alpha.example", "Alpha")
    two.user("d@beta.example", "Beta")
    a = two.viewer("a@alpha.example")
    red = ip_indicator("198.51.100.200", TLP.RED)
    two.app.submit(a, parsed([red]), share=Share(user_ids=frozenset({two.users["d@beta.example"]})))
    assert two.app.get_object(two.viewer("d@beta.example"), red["id"])
    assert two.app.get_object(a, red["id"])
    for other in ("c@alpha.example", "b@beta.example"):
        with pytest.raises(NotFound):
            two.app.get_object(two.viewer(other), red["id"])


def test_readers_and_pending_orgs_cannot_submit(two: Any) -> None:
    two.user("r@alpha.example", "Alpha", role="reader")
    with pytest.raises(Forbidden):
        two.app.submit(two.viewer("r@alpha.example"), parsed([ip_indicator("192.0.2.1")]))


def _load(path: Any) -> list[Parsed]:
    with open(path, "rb") as fh:
        return list(iter_bundle(fh))


@pytest.mark.corpus
def test_attack_release_round_trips(two: Any) -> None:
    path = shared_data("mitre-attack-stix21", "ics-attack", "ics-attack-18.1.json")
    source = {o["id"]: o for _i, o, _r in _load(path)}
    result = two.app.submit(two.viewer("a@alpha.example"), _load(path), default_tlp=TLP.CLEAR)
    assert result.stored == len(source) and result.not_indexed == 0
    exported = {o["id"]: o for o in two.app.export(two.viewer("b@beta.example"))}
    clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    for stix_id, original in source.items():
        got = dict(exported[stix_id])
        # The TLP given at import is added to the markings on output.
        got["object_marking_refs"] = [r for r in got["object_marking_refs"] if r != clear]
        if not got["object_marking_refs"] and "object_marking_refs" not in original:
            del got["object_marking_refs"]
        assert got == original, stix_id


@pytest.mark.corpus
def test_attack_release_that_changes_objects_without_a_new_modified_is_refused(two: Any) -> None:
    """ATT&CK ICS 18.1 drops x_mitre_data_sources from 70 objects without bumping `modified`:
    under STIX that is a different object under an existing id and modified, so it is refused
    whole, naming the objects, and nothing of it is stored."""
    a = two.viewer("a@alpha.example")
    first = two.app.submit(a, _load(shared_data("mitre-attack-stix21", "ics-attack", "ics-attack-17.1.json")))
    with pytest.raises(BatchRefused) as refused:
        two.app.submit(a, _load(shared_data("mitre-attack-stix21", "ics-attack", "ics-attack-18.1.json")))
    problems = refused.value.problems
    assert len(problems) == 70
    assert all(
        p.detail == "a different object is already stored under this id and modified" for p in problems
    )
    assert "attack-pattern--008b8f56-6107-48be-aa9f-746f927dbb61" in {p.where["object"] for p in problems}
    with two.app.db.read() as conn:
        assert len(conn.execute(select(stix_object.c.pk)).all()) == first.stored


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["apt1.json", "poisonivy.json"])
def test_oasis_reports_import_and_export_valid_stix(two: Any, name: str) -> None:
    import stix2

    path = shared_data("oasis-stix2-json-schemas", "examples", "threat-reports", name)
    a = two.viewer("a@alpha.example")
    result = two.app.submit(a, _load(path), default_tlp=TLP.GREEN)
    assert result.stored == len(json.loads(path.read_text())["objects"])
    exported = bundle(two.app.export(two.viewer("b@beta.example")))
    parsed_back = stix2.parse(json.dumps(exported), allow_custom=True)
    assert len(parsed_back.objects) == result.stored + 1  # plus the TLP:GREEN definition
