"""A peer node reading over TAXII: what its organisations may see (never RED), with provenance in
the envelope (only for peers), and the deletions extension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update
from stix_factory import ip_indicator, parsed
from taxii_serving import Serve, serving

from accord.db.schema import org, peer
from accord.intel.timestamps import now_micros
from accord.intel.tlp import TLP
from accord.members.auth import new_token_secret
from accord.members.model import OPERATOR
from accord.policy import Share
from accord.taxii.collections import community_id

pytestmark = pytest.mark.store


@pytest.fixture
def serve() -> Iterator[Serve]:
    with serving() as start:
        yield start


TAXII = "application/taxii+json;version=2.1"


def add_peer(app: Any, name: str, orgs: list[str], community: bool) -> tuple[str, dict[str, int]]:
    """A peer node as the federation records it: its node organisation, the remote organisations it
    hosts ("<node>/<name>"), its system user, and the token it presents to us."""
    with app.db.write() as conn:
        ids = {}
        for org_name in [name, *(f"{name}/{o}" for o in orgs)]:
            ids[org_name] = app.members.add_org(conn, OPERATOR, org_name, "csirt", "DE")
            conn.execute(update(org).where(org.c.id == ids[org_name]).values(node=name))
        user_id = app.members.add_user(conn, OPERATOR, f"peer-{name}@peers.invalid", ids[name], "analyst")
        token, prefix, digest = new_token_secret()
        conn.execute(
            insert(peer).values(
                name=name, url="http://127.0.0.1:9/taxii2/api/", token=None, push=False, community=community,
                in_token_prefix=prefix, in_token_hash=digest, user_id=user_id, org_id=ids[name], enabled=True,
                created_us=now_micros(), state="{}", pulled=0, pushed=0,
            )
        )  # fmt: skip
    return token, ids


def test_a_peer_reads_what_its_organisations_may_with_provenance(alliance: Any, serve: Any) -> None:
    alliance.org("CERT-A", country="PL")
    alliance.user("a@a.example", "CERT-A")
    app = alliance.app
    token, remote = add_peer(app, "node-b", ["CERT-X"], community=False)
    viewer = alliance.viewer("a@a.example")
    for_x = ip_indicator("198.51.100.20", TLP.AMBER)
    green = ip_indicator("198.51.100.21", TLP.GREEN)
    red = ip_indicator("198.51.100.22", TLP.RED)
    own = ip_indicator("198.51.100.23", TLP.AMBER)
    app.submit(viewer, parsed([for_x]), share=Share(org_ids=frozenset({remote["node-b/CERT-X"]})))
    app.submit(viewer, parsed([green, red, own]))
    url = serve(app)
    objects = f"{url}/taxii2/api/collections/{community_id('accord')}/objects/"

    with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept": TAXII}) as http:
        envelope = http.get(objects).json()
        # Not a community peer: no GREEN; never RED; AMBER only when addressed to an organisation it hosts.
        assert [o["id"] for o in envelope["objects"]] == [for_x["id"]]
        assert envelope["x_accord_provenance"] == [
            {
                "producer": "CERT-A",
                "producer_node": "accord",
                "producer_country": "PL",
                "recipients": ["CERT-X"],
            }
        ]
        assert http.get(f"{objects}{red['id']}/").status_code == 404
        # Its collections: the community and the organisations hosted here; no inbox or group.
        aliases = {c["alias"] for c in http.get(f"{url}/taxii2/api/collections/").json()["collections"]}
        assert aliases == {"community", "org/CERT-A"}

    with app.db.write() as conn:
        conn.execute(update(peer).where(peer.c.name == "node-b").values(community=True))
    with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept": TAXII}) as http:
        envelope = http.get(objects).json()
        assert [o["id"] for o in envelope["objects"]] == [for_x["id"], green["id"]]
        assert [p["recipients"] for p in envelope["x_accord_provenance"]] == [["CERT-X"], []]
        assert len(envelope["x_accord_provenance"]) == len(envelope["objects"])

    # Members never see the provenance member.
    with httpx.Client(headers={"Authorization": f"Bearer {alliance.token('a@a.example')}"}) as http:
        mine = http.get(objects).json()
        assert "x_accord_provenance" not in mine and len(mine["objects"]) == 4

    # A deletion reaches the peer that could see the object, and only that.
    assert app.delete_object(viewer, for_x["id"]) == 1
    assert app.delete_object(viewer, own["id"]) == 1
    with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept": TAXII}) as http:
        gone = http.get(f"{url}/taxii2/api/x-accord/deletions/").json()
    assert [(d["id"], d["producer"], d["producer_node"]) for d in gone["deletions"]] == [
        (for_x["id"], "CERT-A", "accord")
    ]
    assert gone["more"] is False
