"""Pushing to a peer (`--push`): what the policy lets the peer's viewer see, with provenance, once,
to a small receiver on loopback; never RED, AMBER only when it names an organisation the peer
hosts, GREEN only to community peers, and never back what the peer sent us."""

from __future__ import annotations

import json
from typing import Any

import pytest
from federation_helpers import make_world, peer_row, prov, viewer_of
from stix_factory import ip_indicator
from taxii_fake import INBOX, Behaviour, FakeTaxii, serve

from accord.federation import service
from accord.federation.client import Limits
from accord.federation.receive import receive
from accord.intel.tlp import EMIT_ID, TLP
from accord.policy import NO_SHARE, Share

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    return make_world(alliance)


def submit(app: Any, viewer: Any, objects: list[dict[str, Any]], share: Share = NO_SHARE) -> None:
    app.submit(viewer, [(i, o, json.dumps(o)) for i, o in enumerate(objects)], share=share)


def pushed(fake: FakeTaxii) -> list[tuple[str, dict[str, Any]]]:
    """(id, provenance) of every object POSTed, in order (the two arrays must line up)."""
    out = []
    for body in fake.posts:
        out += [(o["id"], p) for o, p in zip(body["objects"], body["x_accord_provenance"], strict=True)]
    return out


def test_push_sends_what_the_policy_lets_each_peer_see_once(world: Any) -> None:
    app = world.app
    with serve(FakeTaxii([])) as beta, serve(FakeTaxii([])) as gamma:
        service.add(app, "beta", url=beta.url, token="to-beta", push=True, community=True, orgs=["CERT-B"])
        service.add(app, "gamma", url=gamma.url, push=True, orgs=["CERT-G"])  # not a community peer
        ana = world.viewer("ana@home.example")
        green, clear, red = (ip_indicator(f"198.51.100.{i}", t) for i, t in ((1, TLP.GREEN), (2, TLP.CLEAR),
                                                                               (3, TLP.RED)))  # fmt: skip
        submit(app, ana, [green, clear, red])
        for_beta = ip_indicator("198.51.100.4", TLP.AMBER)
        submit(app, ana, [for_beta], app.resolve_share(ana, ["org:beta/CERT-B"]))
        home_only = ip_indicator("198.51.100.5", TLP.AMBER)
        submit(app, ana, [home_only])
        from_beta = ip_indicator("198.51.100.6", TLP.GREEN)  # beta's own: never sent back to it
        receive(app, viewer_of(app, "beta"), [from_beta], [prov(producer="CERT-B", node="beta")])

        reports = service.sync_all(app, limits=Limits(push_page=2))
        assert [(r.peer, r.status, r.pushed) for r in reports] == [("beta", "ok", 3), ("gamma", "ok", 0)]
        assert len(beta.posts) == 2 and gamma.posts == []  # pages of two; gamma may see none of it
        sent = pushed(beta)
        assert [i for i, _p in sent] == [green["id"], clear["id"], for_beta["id"]]  # in date_added order
        home = {"producer": "CERT Home", "producer_node": "accord", "producer_country": "PL"}
        assert [p for _i, p in sent] == [
            {**home, "recipients": []},
            {**home, "recipients": []},
            {**home, "recipients": ["CERT-B"]},
        ]
        amber = beta.posts[1]["objects"][0]
        assert amber["object_marking_refs"] == [EMIT_ID[TLP.AMBER]]
        assert "POST /api/collections/" + INBOX + "/objects/" in beta.requests
        assert set(beta.auth) == {"Bearer to-beta"}

        assert service.sync(app, "beta").pushed == 0 and len(beta.posts) == 2  # nothing new
        later = ip_indicator("198.51.100.7", TLP.GREEN)
        submit(app, ana, [later])
        assert service.sync(app, "beta").pushed == 1
        assert [i for i, _p in pushed(beta)][-1] == later["id"]
    assert peer_row(app, "beta").pushed == 4 and peer_row(app, "gamma").pushed == 0


def test_a_push_the_peer_refuses_is_sent_again_next_time(world: Any) -> None:
    app = world.app
    fake = FakeTaxii([], Behaviour(post_status=503))
    with serve(fake):
        service.add(app, "beta", url=fake.url, push=True, community=True)
        green = ip_indicator("198.51.100.8", TLP.GREEN)
        submit(app, world.viewer("ana@home.example"), [green])
        failed = service.sync(app, "beta")
        assert failed.status == "failed" and "answered HTTP 503: cannot store now" in (failed.error or "")
        assert peer_row(app, "beta").pushed == 0
        fake.behaviour = Behaviour()
        again = service.sync(app, "beta")
        assert (again.status, again.pushed) == ("ok", 1)
        assert [i for i, _p in pushed(fake)] == [green["id"]]


def test_a_peer_without_a_writable_collection_is_a_clear_status(world: Any) -> None:
    app = world.app
    only_read = [{"id": "0f4e0f0e-7b9e-4c55-8d0e-5f1f6b0d0a01", "title": "Fixture", "can_read": True,
                  "can_write": False}]  # fmt: skip
    with serve(FakeTaxii([], Behaviour(collections=only_read))) as fake:
        service.add(app, "beta", url=fake.url, push=True, community=True)
        submit(app, world.viewer("ana@home.example"), [ip_indicator("198.51.100.9", TLP.GREEN)])
        report = service.sync(app, "beta")
    assert report.status == "failed" and "offers no collection we may write to" in (report.error or "")
