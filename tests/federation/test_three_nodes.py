"""Three Accord nodes on loopback, each a real `accord serve` with its own database (node-a and
node-b on SQLite, node-c on PostgreSQL), one organisation and its analyst each, joined as
community peers with `accord peer add` and synced with `accord peer sync`, read back through
each node's TAXII server with the OASIS `taxii2-client` and straight from its database:
GREEN reaches every node with its markings and producer, AMBER only the node hosting its
recipient (never relayed), RED stays home, a revocation and a deletion propagate, a push
arrives without the receiver pulling, and a sync killed midway catches up without loss or
duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import requests
from federation_helpers import viewer_of
from loopback_nodes import Node, postgres_schema, sqlite_node
from sqlalchemy import select
from stix_factory import indicator, ip_indicator, malware

from accord.app import Accord
from accord.db.schema import org, stix_object
from accord.federation.client import split_envelope
from accord.intel.tlp import EMIT_ID, TLP
from accord.settings import Settings
from accord.taxii.collections import community_id

# No `store` marker: the nodes are built here, each on its own database, not by the shared fixtures.
pytestmark = pytest.mark.timeout(300)

PAGE = 100  # node-a serves pages of at most this many objects, so a large pull takes many pages
MANY = 3000  # objects pulled by the sync that is killed midway


@dataclass
class Federation:
    a: Node
    b: Node
    c: Node | None  # on PostgreSQL: None when it is not reachable
    no_c: str  # why there is no node-c


def join(a: Node, b: Node, c: Node | None) -> None:
    """Peer the nodes through the CLI. Every node registers the others as community peers with the
    organisations they host; a node pulls from a peer with the node token that peer printed when
    it added this node. node-b pulls from node-a, which also pushes to node-b; node-c pulls from
    both (so what it gets from node-b is a relay of node-a's)."""

    def add(at: Node, other: Node, *extra: str) -> str:
        url = ["--url", other.api_root, "--community", "--orgs", other.org]
        return at.cli("peer", "add", other.name, *url, *extra).stdout.strip()

    b_at_a = add(a, b, "--push")
    a_at_b = add(b, a, "--token", b_at_a)
    a.cli("peer", "set", b.name, "--token", a_at_b)  # node-a learns its token only now
    if c is not None:
        c_at_a, c_at_b = add(a, c), add(b, c)
        add(c, a, "--token", c_at_a)
        add(c, b, "--token", c_at_b)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    home = tmp_path_factory.mktemp("federation")
    a = sqlite_node("node-a", home / "a", ACCORD_PAGE_SIZE_MAX=str(PAGE))
    b = sqlite_node("node-b", home / "b")
    nodes = [a, b]
    with postgres_schema() as (pg_url, why):
        c = None
        if pg_url is not None:
            (home / "c").mkdir()
            c = Node("node-c", home / "c", pg_url)
            nodes.append(c)
        people = [("CERT-A", "PL", "ana@a.example"), ("CERT-B", "DE", "ben@b.example"),
                  ("CERT-C", "JP", "chie@c.example")]  # fmt: skip

        def build(node: Node, person: tuple[str, str, str]) -> None:
            node.set_up(*person)
            node.start()

        try:
            with ThreadPoolExecutor(len(nodes)) as pool:
                list(pool.map(build, nodes, people))
            join(a, b, c)
            yield Federation(a, b, c, why)
        finally:
            for node in nodes:
                node.close()


def post(node: Node, *objects: dict[str, Any]) -> None:
    """The node's analyst adds objects to their organisation's TAXII collection."""
    status = node.collection(f"org/{node.org}").add_objects({"objects": list(objects)})
    assert (status.status, status.success_count, status.failure_count) == ("complete", len(objects), 0)


def held(node: Node, stix_id: str) -> list[Any]:
    """Every version of an object in the node's database, oldest first, with its producer."""
    return node.rows(
        "SELECT s.modified_us, s.revoked, s.content, o.name AS producer, o.node AS producer_node"
        " FROM stix_object s JOIN org o ON o.id = s.producer_org_id"
        " WHERE s.stix_id = :id ORDER BY s.modified_us",
        id=stix_id,
    )


def served_text(node: Node, stix_id: str) -> str:
    """The exact JSON text of an object in the node's TAXII answer to its own analyst."""
    with node.http() as api:
        answer = api.get(f"{node.api_root}collections/{community_id(node.name)}/objects/{stix_id}/",
                         headers={"Accept": "application/taxii+json;version=2.1"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    _members, items = split_envelope(answer.text)
    ((_obj, text),) = items
    return text


def taxii_404(node: Node, stix_id: str) -> bool:
    try:
        node.collection("community").get_object(stix_id)
    except requests.HTTPError as exc:
        return exc.response is not None and exc.response.status_code == 404
    return False


def peer_counters(node: Node, peer: str) -> tuple[int | None, int, dict[str, Any]]:
    """(last sync, objects pulled, cursor state) of `peer` in the node's own peer table."""
    row = node.rows("SELECT last_sync_us, pulled, state FROM peer WHERE name = :n", n=peer)[0]
    return row.last_sync_us, int(row.pulled), orjson.loads(row.state)


def test_green_everywhere_amber_to_its_recipient_red_home_revocation_and_deletion(
    federation: Federation,
) -> None:
    a, b, c = federation.a, federation.b, federation.c
    if c is None:
        pytest.skip(f"node-c runs on PostgreSQL: {federation.no_c}")
    green = ip_indicator("198.51.100.10", TLP.GREEN)
    doomed = malware("Doomed RAT", TLP.GREEN)
    red = ip_indicator("198.51.100.12", TLP.RED)
    post(a, green, doomed, red)
    amber = ip_indicator("198.51.100.11", TLP.AMBER)
    with a.http() as api:  # the JSON API's share_with: AMBER for CERT-B, as node-a names it
        sent = api.post("objects", params={"share_with": f"org:{b.name}/{b.org}"}, json=amber)
    assert sent.status_code == 201, sent.text

    b.sync(a.name)
    from_a, from_b = c.sync()  # node-c pulls node-a, then node-b (which now holds the AMBER)
    assert (from_a["peer"], from_b["peer"]) == (a.name, b.name)
    assert from_b["stored"] == 0  # all node-b relays is node-a's, which node-c has already

    # 1. GREEN reaches both as node-a serves it, byte for byte (node-a stored the client's text and
    # serves it rendered, compact), markings and all, produced by node-a's organisation.
    (original,) = held(a, green["id"])
    assert orjson.loads(original.content) == green
    served = served_text(a, green["id"])
    for node in (b, c):
        (copy,) = held(node, green["id"])
        assert copy.content == served and orjson.loads(copy.content) == green
        assert '"object_marking_refs":["' + EMIT_ID[TLP.GREEN] + '"]' in copy.content
        assert (copy.producer, copy.producer_node) == (f"{a.name}/{a.org}", a.name)
        assert node.collection("community").get_object(green["id"])["objects"] == [green]
    assert (original.producer, original.producer_node) == (a.org, None)

    # 2. AMBER for CERT-B reaches node-b, readable by its analyst, and never node-c.
    (copy,) = held(b, amber["id"])
    assert copy.content == served_text(a, amber["id"]) and orjson.loads(copy.content) == amber
    assert (copy.producer, copy.producer_node) == (f"{a.name}/{a.org}", a.name)
    assert b.collection("community").get_object(amber["id"])["objects"] == [amber]
    inbox = b.collection(f"inbox/{b.org}").get_objects()["objects"]
    assert [o["id"] for o in inbox] == [amber["id"]]
    assert held(c, amber["id"]) == [] and taxii_404(c, amber["id"])
    c.sync(b.name)  # once more, straight from the node that holds it: still not
    assert held(c, amber["id"]) == []

    # 3. RED stays on node-a.
    assert len(held(a, red["id"])) == 1
    for node in (b, c):
        assert node.scalar("SELECT count(*) FROM stix_object WHERE stix_id = :id", id=red["id"]) == 0

    # 4. A revocation (a new version) and a TAXII DELETE propagate.
    revoked = {**green, "modified": "2024-06-01T00:00:00.000Z", "revoked": True}
    post(a, revoked)
    a.collection(f"org/{a.org}").delete_object(doomed["id"])
    assert held(a, doomed["id"]) == []
    for node in (b, c):
        assert len(held(node, doomed["id"])) == 1
    b.sync(a.name)
    reports = c.sync()
    assert [r.get("deleted", 0) for r in reports] == [1, 0]  # node-a takes back its own; node-b cannot
    for node in (b, c):
        assert [(v.revoked, orjson.loads(v.content)) for v in held(node, green["id"])] == [
            (False, green),
            (True, revoked),
        ]
        assert node.collection("community").get_object(green["id"])["objects"] == [revoked]
        assert held(node, doomed["id"]) == [] and taxii_404(node, doomed["id"])


def test_a_push_arrives_without_the_receiver_pulling(federation: Federation) -> None:
    a, b = federation.a, federation.b
    before = peer_counters(b, a.name)
    pushed = ip_indicator("198.51.100.20", TLP.GREEN)
    post(a, pushed)
    (report,) = a.sync(b.name)  # node-a pulls from node-b (nothing of its own comes back), pushes
    assert report["stored"] == 0 and report["pushed"] >= 1
    (copy,) = held(b, pushed["id"])
    assert copy.content == served_text(a, pushed["id"]) and orjson.loads(copy.content) == pushed
    assert (copy.producer, copy.producer_node) == (f"{a.name}/{a.org}", a.name)
    assert b.collection("community").get_object(pushed["id"])["objects"] == [pushed]
    assert peer_counters(b, a.name) == before  # node-b never synced node-a meanwhile
    (again,) = a.sync(b.name)
    assert "pushed" not in again  # nothing new to push: none sent twice


def a_objects_b_may_hold(a: Node, b: Node) -> set[tuple[str, int]]:
    """(id, version) of every object of node-a's organisation that node-a's policy lets node-b see."""
    app = Accord(Settings(database_url=a.database_url, data_dir=str(a.home / "data"), node_name=a.name))
    try:
        viewer = viewer_of(app, b.name)
        with app.db.read() as conn:
            home = select(org.c.id).where(org.c.name == a.org, org.c.node.is_(None)).scalar_subquery()
            rows = conn.execute(
                select(stix_object.c.stix_id, stix_object.c.modified_us).where(
                    app.policy.visible(viewer), stix_object.c.producer_org_id == home
                )
            )
            return {(r.stix_id, int(r.modified_us)) for r in rows}
    finally:
        app.close()


def test_a_sync_killed_midway_catches_up_without_loss_or_duplicates(federation: Federation) -> None:
    a, b = federation.a, federation.b
    b.sync(a.name)  # caught up: what follows is this test's objects only
    many = [indicator(f"[domain-name:value = 'n{i}.killed-sync.example']", TLP.GREEN) for i in range(MANY)]
    with a.http() as api:
        sent = api.post("objects", json={"type": "bundle", "id": "bundle--" + many[0]["id"][11:],
                                         "objects": many})  # fmt: skip
    assert sent.status_code == 201, sent.text
    ours = "SELECT {what} FROM stix_object WHERE content LIKE '%.killed-sync.example%'"
    _last, pulled_before, _state = peer_counters(b, a.name)

    # Its own process group: the kill takes the sync and any helper process it started, like a crash.
    sync = subprocess.Popen(
        b.command("peer", "sync", a.name), env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert sync.poll() is None, "the sync ended before a page was seen stored: pages too large?"
            _last, pulled, state = peer_counters(b, a.name)
            if pulled > pulled_before:
                break
            assert time.monotonic() < deadline, "node-b's cursor never moved"
            time.sleep(0.005)
        os.killpg(sync.pid, signal.SIGKILL)
    finally:
        if sync.poll() is None:
            os.killpg(sync.pid, signal.SIGKILL)
        sync.wait(30)
    assert sync.returncode == -signal.SIGKILL
    cursor = next(iter(state["pull"].values()))
    assert cursor.get("next"), f"killed after the last page, not midway: {cursor}"
    kept = int(b.scalar(ours.format(what="count(*)")))
    assert 0 < kept < MANY, kept

    (resumed,) = b.sync(a.name)
    assert resumed["stored"] == MANY - kept
    assert b.scalar(ours.format(what="count(*)")) == MANY
    assert b.scalar(ours.format(what="count(DISTINCT stix_id)")) == MANY
    assert peer_counters(b, a.name)[1] == pulled_before + MANY  # each object counted once

    # Every object of node-a's that node-b may hold, and each version once.
    versions = b.rows(
        "SELECT s.stix_id, s.modified_us FROM stix_object s JOIN org o ON o.id = s.producer_org_id"
        " WHERE o.name = :producer",
        producer=f"{a.name}/{a.org}",
    )
    assert len(versions) == len(set(versions))
    assert {(r.stix_id, int(r.modified_us)) for r in versions} == a_objects_b_may_hold(a, b)

    total = b.scalar("SELECT count(*) FROM stix_object")
    (third,) = b.sync(a.name)
    assert (third["stored"], b.scalar("SELECT count(*) FROM stix_object")) == (0, total)
