"""Deletions propagate: an Accord peer's `x-accord/deletions/` deletes our copies of what its
producers deleted, through `Accord.delete_object`: only copies that came through that peer, never
what our own organisations hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from federation_helpers import make_world, peer_row, prov, rows_from, viewer_of
from sqlalchemy import select
from stix_factory import ip_indicator
from taxii_fake import Behaviour, FakeTaxii, serve

from accord.db.schema import deletion
from accord.federation import service
from accord.federation.receive import receive
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    return make_world(alliance)


def gone(stix_id: str, node: str, when: str, producer: str = "CERT-A", version: str | None = None) -> Any:
    return {"id": stix_id, "version": version, "producer": producer, "producer_node": node, "deleted": when}


def test_a_peers_deletions_delete_our_copies_of_its_objects_only(world: Any) -> None:
    app = world.app
    fake = FakeTaxii([], Behaviour(deletions=[]))
    with serve(fake):
        service.add(app, "alpha", url=fake.url, community=True)
        dropped, kept = ip_indicator("192.0.2.10", TLP.GREEN), ip_indicator("192.0.2.11", TLP.GREEN)
        receive(app, viewer_of(app, "alpha"), [dropped, kept], [prov(), prov()])
        mine = ip_indicator("192.0.2.12", TLP.GREEN)
        app.submit(world.viewer("ana@home.example"), [(0, mine, json.dumps(mine))])
        service.add(app, "beta", url="http://127.0.0.1:1/api/", community=True)
        relayed = ip_indicator("192.0.2.13", TLP.GREEN)  # alpha's, but it came to us through beta
        receive(app, viewer_of(app, "beta"), [relayed], [prov()])
        fake.behaviour.deletions = [
            gone(dropped["id"], "alpha", "2024-06-01T00:00:00.000000Z"),
            gone(relayed["id"], "alpha", "2024-06-01T00:00:00.500000Z"),  # not alpha's to take back here
            gone(mine["id"], "accord", "2024-06-01T00:00:01.000000Z", producer="CERT Home"),  # ours: no
            gone("indicator--5b1b2a7e-6a7e-4d55-9a3a-0c0ffee00001", "zeta", "2024-06-01T00:00:02.000000Z"),
            gone(kept["id"], "alpha", "2024-06-01T00:00:03.000000Z", version="2020-01-01T00:00:00.000Z"),
        ]
        report = service.sync(app, "alpha")
        assert (report.status, report.deleted) == ("ok", 1), report.error
        assert [r.stix_id for r in rows_from(app, "alpha")] == [kept["id"]]
        assert [r.stix_id for r in rows_from(app, "beta")] == [relayed["id"]]
        ana = world.viewer("ana@home.example")
        assert app.get_object(ana, mine["id"])["object"]["id"] == mine["id"]
        with app.db.read() as conn:  # our own tombstone: the deletion travels on to our peers
            assert conn.execute(select(deletion.c.stix_id)).scalars().all() == [dropped["id"]]
        assert json.loads(peer_row(app, "alpha").state)["deletions"]["last"] is not None

        again = service.sync(app, "alpha")
        assert (again.status, again.deleted) == ("ok", 0)
        asked = [r for r in fake.requests if "deletions" in r][-1]
        assert "added_after=2024-06-01T00%3A00%3A03.000000Z" in asked


def test_a_garbled_deletion_list_deletes_nothing(world: Any) -> None:
    app = world.app
    fake = FakeTaxii([], Behaviour(deletions=[]))
    with serve(fake):
        service.add(app, "alpha", url=fake.url, community=True)
        first, second = ip_indicator("192.0.2.20", TLP.GREEN), ip_indicator("192.0.2.21", TLP.GREEN)
        receive(app, viewer_of(app, "alpha"), [first, second], [prov(), prov()])
        fake.behaviour.deletions = [
            gone(first["id"], "alpha", "2024-06-01T00:00:00.000000Z"),
            {"id": 42, "deleted": "2024-06-01T00:00:01.000000Z"},
        ]
        report = service.sync(app, "alpha")
    assert report.status == "failed" and "not an object id: 42" in (report.error or "")
    assert len(rows_from(app, "alpha")) == 2
