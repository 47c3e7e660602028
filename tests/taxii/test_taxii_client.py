"""The OASIS `taxii2-client` library against a running Accord server (uvicorn on loopback): the whole
TAXII 2.1 flow — discovery, API root, collections, add objects, status, paging, filters, versions,
manifest, delete — as users of different organisations, each seeing exactly what the policy allows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import requests
from sqlalchemy import select
from stix_factory import TS, ip_indicator, malware, relationship
from taxii2client.exceptions import AccessError
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from taxii_serving import Serve, serving

from accord.db.schema import api_token
from accord.errors import Forbidden, InvalidInput
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.model import OPERATOR
from accord.taxii.collections import GROUP, INBOX, ORG, collection_id, community_id

pytestmark = pytest.mark.store


@pytest.fixture
def serve() -> Iterator[Serve]:
    with serving() as start:
        yield start


TAXII = "application/taxii+json;version=2.1"
A, A2, B, C = "a@a.example", "a2@a.example", "b@b.example", "c@c.example"


@dataclass
class Node:
    url: str
    alliance: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def server(self, email: str) -> Server:
        return Server(f"{self.url}/taxii2/", user=email, password=self.tokens[email])

    def root(self, email: str) -> ApiRoot:
        return ApiRoot(f"{self.url}/taxii2/api/", user=email, password=self.tokens[email])

    def collection(self, email: str, alias: str) -> Collection:
        found = [c for c in self.root(email).collections if c.alias == alias]
        assert found, f"{email} has no collection {alias}"
        return found[0]

    def http(self, email: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/taxii2/api/",
            headers={"Authorization": f"Bearer {self.tokens[email]}", "Accept": TAXII},
        )


@pytest.fixture
def node(alliance: Any, serve: Any) -> Node:
    alliance.org("CERT-A", country="PL")
    alliance.org("CERT-B", country="DE")
    alliance.org("CERT-C", country="JP")
    alliance.user(A, "CERT-A")
    alliance.user(A2, "CERT-A")
    alliance.user(B, "CERT-B")
    alliance.user(C, "CERT-C", role="reader")
    alliance.group("AB", "CERT-A", ["CERT-A", "CERT-B"])
    return Node(serve(alliance.app), alliance, {email: alliance.token(email) for email in alliance.users})


def all_objects(collection: Collection, per_request: int = 2, **filters: Any) -> list[dict[str, Any]]:
    """Every object through `as_pages`, checking that no page is larger than asked."""
    out: list[dict[str, Any]] = []
    for answer in as_pages(collection.get_objects, per_request=per_request, **filters):
        page = answer.get("objects", [])
        assert len(page) <= per_request
        out += page
    return out


def ids(objects: list[dict[str, Any]]) -> set[str]:
    return {o["id"] for o in objects}


def envelope(objects: Any) -> dict[str, Any]:
    """A TAXII 2.1 envelope (what clients post; no bundle)."""
    return {"objects": list(objects)}


def everything_but(name: dict[str, str], *left_out: str) -> set[str]:
    return set(name.values()) - set(left_out)


def status_of(error: pytest.ExceptionInfo[requests.HTTPError]) -> int:
    return int(error.value.response.status_code)


@pytest.fixture
def posted(node: Node) -> dict[str, dict[str, Any]]:
    """CERT-A's analyst posts one object of each TLP level (and a relationship) to CERT-A."""
    amber = ip_indicator("198.51.100.1", TLP.AMBER)
    family = malware("ShadowPad", TLP.AMBER)
    objects = {
        "amber": amber,
        "green": ip_indicator("198.51.100.2", TLP.GREEN),
        "clear": ip_indicator("198.51.100.3", TLP.CLEAR),
        "red": ip_indicator("198.51.100.4", TLP.RED),
        "unmarked": ip_indicator("198.51.100.5"),
        "malware": family,
        "rel": relationship(amber["id"], family["id"], TLP.AMBER),
    }
    status = node.collection(A, "org/CERT-A").add_objects(envelope(objects.values()))
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (7, 7, 0)
    assert {s["id"] for s in status.successes} == {o["id"] for o in objects.values()}
    return objects


def test_discovery_api_root_and_the_collections_each_organisation_may_use(node: Node) -> None:
    server = node.server(A)
    assert server.title == "Accord accord"
    assert [r.url for r in server.api_roots] == [f"{node.url}/taxii2/api/"]
    assert server.default is not None and server.default.url == f"{node.url}/taxii2/api/"
    root = server.api_roots[0]
    assert root.versions == [TAXII]
    assert root.max_content_length == node.alliance.app.settings.max_body_bytes

    orgs = node.alliance.orgs
    mine = {c.alias: c for c in node.root(A).collections}
    assert set(mine) == {"community", "org/CERT-A", "org/CERT-B", "org/CERT-C", "group/AB", "inbox/CERT-A"}
    assert {a for a, c in mine.items() if c.can_write} == {"org/CERT-A", "group/AB"}
    assert all(c.can_read and c.media_types == ["application/stix+json;version=2.1"] for c in mine.values())
    # Ids are UUIDv5 of (node, kind, key): the same in every process and after restarts.
    assert mine["community"].id == community_id("accord")
    assert mine["org/CERT-A"].id == collection_id("accord", ORG, str(orgs["CERT-A"]))
    assert mine["group/AB"].id == collection_id("accord", GROUP, str(node.alliance.groups["AB"]))
    assert mine["inbox/CERT-A"].id == collection_id("accord", INBOX, str(orgs["CERT-A"]))

    # CERT-C is in no group, has its own inbox; its reader may write nowhere.
    theirs = {c.alias: c for c in node.root(C).collections}
    assert set(theirs) == {"community", "org/CERT-A", "org/CERT-B", "org/CERT-C", "inbox/CERT-C"}
    assert not any(c.can_write for c in theirs.values())
    # A collection one may not read does not exist for them.
    hidden = Collection(
        f"{node.url}/taxii2/api/collections/{mine['group/AB'].id}/", user=C, password=node.tokens[C]
    )
    with pytest.raises(requests.HTTPError) as err:
        hidden.refresh()
    assert status_of(err) == 404


def test_add_objects_status_and_paging_show_each_viewer_what_the_policy_allows(
    node: Node, posted: dict[str, dict[str, Any]]
) -> None:
    everything = {o["id"] for o in posted.values()}
    name = {o["id"]: k for k, o in posted.items()}
    community = "community"

    seen_by_a = all_objects(node.collection(A, community))
    assert ids(seen_by_a) == everything  # the producer's analyst who posted it sees all, RED included
    # Stored byte for byte, sent with TLP 2.0 markings.
    by_id = {o["id"]: o for o in seen_by_a}
    assert by_id[posted["amber"]["id"]] == posted["amber"]
    assert by_id[posted["unmarked"]["id"]] == posted["unmarked"]  # no marking: AMBER+STRICT for CERT-A

    assert {name[i] for i in ids(all_objects(node.collection(A2, community)))} == everything_but(name, "red")
    assert {name[i] for i in ids(all_objects(node.collection(B, community)))} == {"green", "clear"}
    assert {name[i] for i in ids(all_objects(node.collection(C, "org/CERT-A")))} == {"green", "clear"}

    # Hidden objects are 404 one by one, and absent from manifests.
    b_community = node.collection(B, community)
    for hidden in ("amber", "red", "unmarked", "malware", "rel"):
        with pytest.raises(requests.HTTPError) as err:
            b_community.get_object(posted[hidden]["id"])
        assert status_of(err) == 404
    assert {m["id"] for m in b_community.get_manifest()["objects"]} == {
        posted["green"]["id"],
        posted["clear"]["id"],
    }
    red = node.collection(A2, community)
    with pytest.raises(requests.HTTPError) as err:
        red.get_object(posted["red"]["id"])
    assert status_of(err) == 404
    assert node.collection(A, community).get_object(posted["red"]["id"])["objects"] == [posted["red"]]

    # The status is the poster's only.
    first = node.collection(A, "org/CERT-A").add_objects(envelope([ip_indicator("198.51.100.9", TLP.GREEN)]))
    again = node.root(A).get_status(first.id)
    assert (again.status, again.success_count, again.total_count) == ("complete", 1, 1)
    with pytest.raises(requests.HTTPError) as err:
        node.root(B).get_status(first.id)
    assert status_of(err) == 404


def test_filters_versions_and_manifest(node: Node, posted: dict[str, dict[str, Any]]) -> None:
    coll = node.collection(A, "org/CERT-A")
    family = posted["malware"]
    manifest = coll.get_manifest()["objects"]
    assert {m["id"] for m in manifest} == {o["id"] for o in posted.values()}
    record = next(m for m in manifest if m["id"] == family["id"])
    assert record["version"] == "2024-05-01T10:00:00.000000Z"
    assert record["media_type"] == "application/stix+json;version=2.1"
    first_added = record["date_added"]

    newer = dict(family, modified="2024-06-01T00:00:00.000Z", description="now with a loader")
    assert coll.add_objects(envelope([newer])).success_count == 1

    assert coll.get_object(family["id"])["objects"] == [newer]  # default: the last version
    assert coll.get_object(family["id"], version="first")["objects"] == [family]
    assert coll.get_object(family["id"], version="all")["objects"] == [family, newer]
    assert coll.get_object(family["id"], version=TS)["objects"] == [family]
    assert coll.get_object(family["id"], version="2024-06-01T00:00:00Z")["objects"] == [newer]
    assert coll.object_versions(family["id"])["versions"] == [
        "2024-05-01T10:00:00.000000Z",
        "2024-06-01T00:00:00.000000Z",
    ]

    assert ids(all_objects(coll, type="malware")) == {family["id"]}
    assert all_objects(coll, type="malware", version="all") == [family, newer]
    assert ids(all_objects(coll, id=[posted["green"]["id"], posted["clear"]["id"]])) == {
        posted["green"]["id"],
        posted["clear"]["id"],
    }
    assert ids(all_objects(coll, type=["indicator", "relationship"], spec_version="2.1")) == {
        posted[k]["id"] for k in ("amber", "green", "clear", "red", "unmarked", "rel")
    }
    assert all_objects(coll, spec_version="2.0") == []
    # added_after: when the server added it, not STIX dates: only the newer version came later.
    assert all_objects(coll, added_after=first_added) == [newer]
    # The date-added headers frame each page.
    with node.http(A) as http:
        response = http.get(f"collections/{coll.id}/objects/", params={"limit": 3})
        page = response.json()
        assert response.headers["content-type"] == TAXII
        assert response.headers["X-TAXII-Date-Added-First"] == first_added
        assert page["more"] is True and len(page["objects"]) == 3
        rest = http.get(f"collections/{coll.id}/objects/", params={"limit": 100, "next": page["next"]}).json()
        assert rest["more"] is False and "next" not in rest
        assert len(page["objects"]) + len(rest["objects"]) == 7


def test_a_group_collection_addresses_the_group_and_fills_the_members_inboxes(
    node: Node, posted: dict[str, dict[str, Any]]
) -> None:
    unmarked = ip_indicator("203.0.113.7")
    status = node.collection(A, "group/AB").add_objects(envelope([unmarked]))
    assert status.success_count == 1
    as_amber = dict(unmarked, object_marking_refs=[EMIT_ID[TLP.AMBER]])  # no marking: AMBER for the group

    assert all_objects(node.collection(B, "group/AB")) == [as_amber]
    assert all_objects(node.collection(B, "inbox/CERT-B")) == [as_amber]
    assert unmarked["id"] in ids(all_objects(node.collection(B, "community")))
    assert unmarked["id"] not in ids(all_objects(node.collection(C, "community")))
    assert all_objects(node.collection(A, "inbox/CERT-A")) == []  # its own objects are not its mail

    reply = ip_indicator("203.0.113.8", TLP.AMBER)
    node.collection(B, "group/AB").add_objects(envelope([reply]))
    assert ids(all_objects(node.collection(A, "inbox/CERT-A"))) == {reply["id"]}
    assert ids(all_objects(node.collection(A, "group/AB"))) == {unmarked["id"], reply["id"]}


def test_delete_removes_the_producers_versions_and_tells_who_could_see_them(
    node: Node, posted: dict[str, dict[str, Any]]
) -> None:
    mine = node.collection(A, "org/CERT-A")
    amber, green = posted["amber"]["id"], posted["green"]["id"]

    # Another organisation: a hidden object is 404, a visible one not its own is 403.
    theirs = node.collection(B, "org/CERT-A")
    with pytest.raises(AccessError):
        theirs.delete_object(green)  # the client itself sees can_write is false
    with node.http(B) as http:
        refused = http.delete(f"collections/{theirs.id}/objects/{green}/")
        assert refused.status_code == 403 and refused.headers["content-type"] == TAXII
        assert refused.json()["http_status"] == "403"
        assert http.delete(f"collections/{theirs.id}/objects/{amber}/").status_code == 404
        own = node.collection(B, "org/CERT-B").id
        not_theirs = http.delete(f"collections/{own}/objects/{green}/")
        assert not_theirs.status_code == 404  # not in CERT-B's collection at all

    mine.delete_object(amber)
    with pytest.raises(requests.HTTPError) as err:
        mine.get_object(amber)
    assert status_of(err) == 404
    assert amber not in {m["id"] for m in mine.get_manifest()["objects"]}
    mine.delete_object(green)
    assert green not in ids(all_objects(node.collection(B, "community")))

    # The extension feed of deletions: each reader learns only of what it could see.
    with node.http(A) as http:
        gone = http.get("x-accord/deletions/").json()["deletions"]
    assert [(d["id"], d["version"], d["producer"], d["producer_node"]) for d in gone] == [
        (amber, None, "CERT-A", "accord"),
        (green, None, "CERT-A", "accord"),
    ]
    with node.http(B) as http:
        response = http.get("x-accord/deletions/", params={"limit": 1})
    assert [d["id"] for d in response.json()["deletions"]] == [green]
    assert response.headers["X-TAXII-Date-Added-First"] == gone[1]["deleted"]


def test_objects_the_store_refuses_are_reported_while_the_others_are_stored(
    node: Node, posted: dict[str, dict[str, Any]]
) -> None:
    family = posted["malware"]
    hijack = dict(family, modified="2024-07-01T00:00:00.000Z", name="renamed")
    own = ip_indicator("192.0.2.77", TLP.GREEN)
    status = node.collection(B, "org/CERT-B").add_objects(envelope([hijack, own]))
    counts = (status.total_count, status.success_count, status.failure_count, status.pending_count)
    assert counts == (2, 1, 1, 0)
    assert status.successes == [{"id": own["id"], "version": "2024-05-01T10:00:00.000000Z"}]
    [failure] = status.failures
    assert failure["id"] == family["id"] and failure["version"] == "2024-07-01T00:00:00.000000Z"
    assert "another organisation" in failure["message"]
    assert ids(all_objects(node.collection(B, "org/CERT-B"))) == {own["id"]}
    assert node.collection(A, "org/CERT-A").get_object(family["id"])["objects"] == [family]


def limited_token(node: Node, email: str, collections: str) -> str:
    """A token of the user limited to some collections ("id:r,id2:rw"), made as the CLI does."""
    app = node.alliance.app
    with app.db.write() as conn:
        return app.members.create_token(
            conn, OPERATOR, node.alliance.users[email], None, collections=collections
        ).token


def test_a_token_never_gives_more_collections_than_the_token_that_made_it(node: Node) -> None:
    app = node.alliance.app
    org_a = collection_id("accord", ORG, str(node.alliance.orgs["CERT-A"]))
    user = node.alliance.users[A]
    maker = app.viewer(A)
    maker = replace(maker, collections=((org_a, "r"),))
    with app.db.write() as conn:
        with pytest.raises(Forbidden, match="may not use collection"):
            app.members.create_token(conn, maker, user, None, collections=f"{community_id('accord')}:r")
        made = app.members.create_token(conn, maker, user, None, collections=f"{org_a}:rw")
        inherited = app.members.create_token(conn, maker, user, None)
        with pytest.raises(InvalidInput, match="COLLECTION:r or COLLECTION:rw") as bad:
            app.members.create_token(conn, OPERATOR, user, None, collections=f"{org_a}:write")
    assert bad.value.where == {"field": "collections"}
    with app.db.read() as conn:
        rows = {r.prefix: r.collections for r in conn.execute(select(api_token))}
    assert rows[made.token.split("_")[1]] == f"{org_a}:r"  # asked rw, the maker may only read
    assert rows[inherited.token.split("_")[1]] == f"{org_a}:r"


def test_token_collection_limits(node: Node, posted: dict[str, dict[str, Any]]) -> None:
    org_a = collection_id("accord", ORG, str(node.alliance.orgs["CERT-A"]))
    base = f"{node.url}/taxii2/api/collections/"
    envelope = json.dumps({"objects": [ip_indicator("192.0.2.1")]})
    for mode, can_write in (("r", False), ("rw", True)):
        token = limited_token(node, A, f"{org_a}:{mode}")
        [only] = ApiRoot(f"{node.url}/taxii2/api/", user=A, password=token).collections
        assert (only.id, only.can_read, only.can_write) == (org_a, True, can_write)
        with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept": TAXII}) as http:
            assert http.get(f"{base}{community_id('accord')}/objects/").status_code == 404
            assert http.get(f"{base}{org_a}/objects/").status_code == 200
            post = http.post(f"{base}{org_a}/objects/", content=envelope, headers={"Content-Type": TAXII})
            assert post.status_code == (202 if can_write else 403), post.text
            # Deletions span every collection: not for a token limited to some.
            assert http.get(f"{node.url}/taxii2/api/x-accord/deletions/").status_code == 403
