"""Receiving from a peer (`receive`, what a peer's POST calls, and what a pull stores): producer from
provenance, audience from the TLP marking, RED refused, the JSON kept as sent, and what the store
refuses reported per object while the rest is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from federation_helpers import make_world, prov, rows_from, viewer_of
from sqlalchemy import select
from stix_factory import ip_indicator, malware

from accord.db.schema import org
from accord.errors import BatchRefused, Forbidden, InvalidInput
from accord.federation import service
from accord.federation.receive import RED_REFUSAL, receive
from accord.intel.query import ListFilter
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    w = make_world(alliance)
    service.add(w.app, "alpha", url="http://127.0.0.1:1/taxii2/api/", community=True, orgs=["Other-A"])
    return w


def spaced(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=3)


def test_producer_and_audience_come_from_provenance_and_the_marking(world: Any) -> None:
    app = world.app
    green = ip_indicator("203.0.113.10", TLP.GREEN)
    clear = ip_indicator("203.0.113.11", TLP.CLEAR)
    amber = ip_indicator("203.0.113.12", TLP.AMBER)
    strict = ip_indicator("203.0.113.13", TLP.AMBER_STRICT)
    red = ip_indicator("203.0.113.14", TLP.RED)
    bare = ip_indicator("203.0.113.15")
    objects = [green, clear, amber, strict, red, bare]
    origins = [prov(), prov(), prov(["CERT Home"]), prov(["CERT Home", "Nobody Here"]), prov(["CERT Home"]),
               prov(["CERT Home"])]  # fmt: skip
    result = receive(app, viewer_of(app, "alpha"), objects, origins, raw=[spaced(o) for o in objects])

    assert (result.stored, result.unchanged, result.failures) == (5, 0, [(red["id"], RED_REFUSAL)])
    assert result.orgs_created == ["alpha/CERT-A"]
    with app.db.read() as conn:
        made = conn.execute(select(org).where(org.c.name == "alpha/CERT-A")).one()
    assert (made.node, made.country, made.vetted) == ("alpha", "FR", True)
    stored = rows_from(app, "alpha")
    assert {r.producer_org_id for r in stored} == {made.id}
    assert {r.stix_id: r.content for r in stored} == {o["id"]: spaced(o) for o in objects if o is not red}

    ana, otto = world.viewer("ana@home.example"), world.viewer("otto@other.example")
    seen_by_ana = {o["object"]["id"] for o in app.list_objects(ana, ListFilter())[0]}
    assert seen_by_ana == {green["id"], clear["id"], amber["id"], strict["id"]}  # the bare one: producer only
    assert app.count(otto, ListFilter()) == 2  # GREEN and CLEAR
    assert made.id in viewer_of(app, "alpha").represents  # alpha hosts the organisation it named


def test_without_provenance_the_peer_node_is_the_producer_and_unmarked_is_amber_for_its_for_org(
    world: Any,
) -> None:
    app = world.app
    service.add(app, "plain", url="http://127.0.0.1:1/api/", for_org="CERT Other")
    green, bare = ip_indicator("203.0.113.20", TLP.GREEN), ip_indicator("203.0.113.21")
    result = receive(app, viewer_of(app, "plain"), [green, bare], None)
    assert (result.stored, result.failures) == (2, [])
    node_org = viewer_of(app, "plain").org_id
    assert {r.producer_org_id for r in rows_from(app, "plain")} == {node_org}
    otto, ana = world.viewer("otto@other.example"), world.viewer("ana@home.example")
    assert app.get_object(otto, bare["id"])["tlp"] == "amber"
    assert app.count(otto, ListFilter()) == 2 and app.count(ana, ListFilter()) == 1


def test_our_own_organisations_objects_coming_back_are_never_stored_from_a_peer(world: Any) -> None:
    app = world.app
    mine = ip_indicator("203.0.113.30", TLP.GREEN)
    app.submit(world.viewer("ana@home.example"), [(0, mine, json.dumps(mine))])
    forged = {**mine, "description": "rewritten by a peer"}
    new = ip_indicator("203.0.113.31", TLP.GREEN)
    result = receive(
        app, viewer_of(app, "alpha"), [forged, new], [prov(producer="CERT Home", node="accord")] * 2
    )
    assert (result.stored, result.unchanged, result.failed) == (0, 2, 0)
    assert rows_from(app, "alpha") == []
    assert "description" not in app.get_object(world.viewer("ana@home.example"), mine["id"])["object"]


def test_what_the_store_refuses_is_reported_per_object_and_the_rest_is_stored(world: Any) -> None:
    app = world.app
    theirs = malware("Home-grown", TLP.GREEN)
    app.submit(world.viewer("ana@home.example"), [(0, theirs, json.dumps(theirs))])
    takeover = {**theirs, "modified": "2025-01-01T00:00:00.000Z", "name": "hijacked"}
    broken = {**ip_indicator("203.0.113.39", TLP.GREEN), "valid_from": "yesterday"}
    good = ip_indicator("203.0.113.40", TLP.GREEN)
    odd_origin = ip_indicator("203.0.113.41", TLP.GREEN)
    objects: list[Any] = [takeover, broken, good, "not an object", odd_origin]
    origins = [prov(), prov(), prov(), prov(), prov(node="bad/node")]
    result = receive(app, viewer_of(app, "alpha"), objects, origins)
    reasons = dict(result.failures)
    assert result.stored == 1 and result.failed == 4, result.failures
    assert "only its producer may version it" in reasons[theirs["id"]]
    assert "valid_from" in reasons[broken["id"]]
    assert reasons["#3"] == "not a JSON object"
    assert "producer_node" in reasons[odd_origin["id"]]
    assert [r.stix_id for r in rows_from(app, "alpha")] == [good["id"]]


def test_a_revocation_arrives_as_a_new_version_and_ends_the_object(world: Any) -> None:
    app = world.app
    alpha = viewer_of(app, "alpha")
    first = malware("Shifty", TLP.GREEN)
    revoked = {**first, "modified": "2024-06-01T00:00:00.000Z", "revoked": True}
    later = {**first, "modified": "2024-07-01T00:00:00.000Z"}
    assert receive(app, alpha, [first], [prov()]).stored == 1
    assert receive(app, alpha, [revoked], [prov()]).stored == 1
    assert app.get_object(world.viewer("otto@other.example"), first["id"])["revoked"] is True
    result = receive(app, alpha, [later], [prov()])
    assert result.stored == 0 and "revoked" in result.failures[0][1]


def test_bad_calls_are_refused_whole(world: Any) -> None:
    app = world.app
    alpha = viewer_of(app, "alpha")
    one = ip_indicator("203.0.113.50", TLP.GREEN)
    with pytest.raises(InvalidInput, match="x_accord_provenance has 2 entries for 1 objects"):
        receive(app, alpha, [one], [prov(), prov()])
    with pytest.raises(Forbidden, match="only a peer node"):
        receive(app, world.viewer("ana@home.example"), [one], None)
    assert rows_from(app, "alpha") == []


def test_received_amber_reaches_only_peers_hosting_a_recipient(world: Any) -> None:
    """Never re-shared beyond its TLP: a received object's audience decides which peers see it."""
    app = world.app
    service.add(app, "beta", url="http://127.0.0.1:1/api/", community=True, orgs=["CERT-B"])
    service.add(app, "gamma", url="http://127.0.0.1:1/api/", orgs=["CERT-G"])  # not a community peer
    green = ip_indicator("203.0.113.60", TLP.GREEN)
    amber = ip_indicator("203.0.113.61", TLP.AMBER)
    strict = ip_indicator("203.0.113.62", TLP.AMBER_STRICT)
    receive(app, viewer_of(app, "alpha"), [green, amber, strict],
            [prov(), prov(["CERT Home"]), prov(["CERT Home"])])  # fmt: skip

    def seen(peer_name: str) -> set[str]:
        return {o["object"]["id"] for o in app.list_objects(viewer_of(app, peer_name), ListFilter())[0]}

    assert seen("beta") == {green["id"]}  # community: GREEN; the AMBER names none of its organisations
    assert seen("gamma") == set()  # not a community peer, and named nowhere
    assert seen("alpha") == {green["id"], amber["id"], strict["id"]}  # its own organisation produced them
    # A home member may not widen them either: versions belong to their producer.
    ana = world.viewer("ana@home.example")
    resent = {
        **amber,
        "modified": "2025-01-01T00:00:00.000Z",
        "object_marking_refs": green["object_marking_refs"],
    }
    with pytest.raises(BatchRefused, match="only its producer may version it"):
        app.submit(ana, [(0, resent, json.dumps(resent))])
