"""Create, edit, share and revoke through FastAPI's test client: forms and their JSON twins, the TLP
picker's rule enforced on the server, refusals shown next to their fields, and 404 for everyone but
the producer organisation's analysts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ui_helpers import PASSWORD, World, build_world, csrf_of, log_in

from accord.intel.query import ListFilter
from accord.intel.tlp import EMIT_ID, TLP

pytestmark = pytest.mark.store
JSON = {"accept": "application/json"}


@pytest.fixture
def world(alliance: Any) -> World:
    """The UI world, plus bob (another analyst of the bank), rita (a reader of the bank), a group
    the bank belongs to and one it neither owns nor belongs to."""
    w = build_world(alliance)
    alliance.user("bob@bank.example", "Bank BR", "analyst", password=PASSWORD)
    alliance.user("rita@bank.example", "Bank BR", "reader", password=PASSWORD)
    alliance.group("Fraud circle", "Police PL", ["Police PL", "Bank BR"])
    alliance.group("Police only", "Police PL", ["Police PL"])
    return w


def _client(world: World, email: str) -> Any:
    client = world.client()
    assert log_in(client, email).status_code == 303
    return client


def _csrf(client: Any) -> str:
    return csrf_of(client.get("/ui/lookup").text)


def _create(client: Any, **fields: Any) -> Any:
    data = {"kind": "indicator", "tlp": "amber", "csrf": _csrf(client), **fields}
    return client.post("/ui/new", data=data, follow_redirects=False)


def _stored(world: World) -> int:
    bank = world.alliance.viewer("ana@bank.example")
    return world.app.count(bank, ListFilter())


def test_the_create_form_and_its_json_twin(world: World) -> None:
    client = _client(world, "ana@bank.example")
    html = client.get("/ui/new").text
    assert 'name="tlp" value="red"' in html and 'data-audiences="org group"' in html
    assert 'value="org:Police PL"' in html and 'value="org:Bank BR"' not in html  # not one's own
    assert 'value="group:Fraud circle"' in html and 'value="group:Police only"' not in html
    assert 'value="user:bob@bank.example"' in html and 'value="user:jan@police.example"' not in html
    choices = client.get("/ui/new", headers=JSON).json()
    assert choices["audiences"]["allowed"] == {
        "clear": [], "green": [], "amber": ["org", "group"], "amber+strict": ["org", "group"],
        "red": ["user"],
    }  # fmt: skip
    assert [o["spec"] for o in choices["audiences"]["orgs"]] == ["org:CERT FR", "org:Police PL"]
    assert [g["spec"] for g in choices["audiences"]["groups"]] == ["group:Fraud circle"]
    assert [u["spec"] for u in choices["audiences"]["users"]] == [
        "user:bob@bank.example",
        "user:rita@bank.example",
    ]
    note = client.get("/ui/new", params={"kind": "note", "about": world.objects["amber"]["id"]}).text
    assert world.objects["amber"]["id"] in note and 'name="content"' in note
    # Readers create nothing (403: the page exists, the permission is missing).
    reader = _client(world, "rita@bank.example")
    assert reader.get("/ui/new").status_code == 403


def test_create_an_indicator_from_a_value_shared_with_an_organisation(world: World) -> None:
    client = _client(world, "ana@bank.example")
    answer = _create(
        client, value="hxxp://evil-bank-login[.]example/x", name="Phishing page", confidence="70",
        valid_from="2026-01-02T03:04", share_with=["org:Police PL"],
    )  # fmt: skip
    assert answer.status_code == 303
    url = answer.headers["location"]
    item = client.get(url, headers=JSON).json()["object"]
    obj = item["object"]
    assert obj["pattern"] == "[url:value = 'http://evil-bank-login.example/x']"
    assert obj["name"] == "Phishing page" and obj["confidence"] == 70
    assert obj["valid_from"] == "2026-01-02T03:04:00.000000Z"
    assert item["tlp"] == "amber" and obj["object_marking_refs"] == [EMIT_ID[TLP.AMBER]]
    assert _client(world, "jan@police.example").get(url).status_code == 200  # named
    assert _client(world, "eve@cert.example").get(url).status_code == 404  # not named
    # The object's page offers its producer's analysts the changes; no one else.
    page = client.get(url).text
    assert "/edit" in page and "/share" in page and "/revoke" in page
    assert "/edit" not in _client(world, "jan@police.example").get(url).text
    assert "/edit" not in _client(world, "rita@bank.example").get(url).text
    # The JSON twin of a creation.
    made = client.post(
        "/ui/new",
        data={
            "kind": "named",
            "type": "threat-actor",
            "name": "Grand Fraud",
            "tlp": "green",
            "csrf": _csrf(client),
        },
        headers=JSON,
    )
    assert made.status_code == 201 and made.json()["object"]["object"]["type"] == "threat-actor"


@pytest.mark.parametrize(
    ("tlp", "share_with", "says"),
    [
        ("amber", ["user:bob@bank.example"], "not single people"),
        ("amber+strict", ["user:bob@bank.example"], "not single people"),
        ("red", ["org:Police PL"], "not organisations or groups"),
        ("red", ["group:Fraud circle"], "not organisations or groups"),
        ("red", ["user:jan@police.example"], "only with people of your own organisation"),
        ("green", ["org:Police PL"], "names no one"),
        ("clear", ["user:bob@bank.example"], "names no one"),
        ("amber", ["group:Police only"], "no sharing group"),
        ("amber", ["org:No such org"], "no organisation"),
    ],
)
def test_the_tlp_picker_rule_is_enforced_on_the_server(
    world: World, tlp: str, share_with: list[str], says: str
) -> None:
    client = _client(world, "ana@bank.example")
    before = _stored(world)
    answer = _create(client, value="203.0.113.200", tlp=tlp, share_with=share_with)
    assert answer.status_code == 422
    assert 'id="share_with-error"' in answer.text and says in answer.text
    assert 'value="203.0.113.200"' in answer.text  # the form keeps what was typed
    assert _stored(world) == before  # nothing half-stored
    refused = client.post(
        "/ui/new",
        data={"kind": "indicator", "tlp": tlp, "value": "203.0.113.200", "share_with": share_with,
              "csrf": _csrf(client)},
        headers=JSON,
    )  # fmt: skip
    assert refused.status_code == 422 and refused.json()["where"]["field"] == "share_with"


def test_allowed_audiences_are_stored(world: World) -> None:
    client = _client(world, "ana@bank.example")
    red = _create(client, value="203.0.113.201", tlp="red", share_with=["user:bob@bank.example"])
    group = _create(client, value="203.0.113.202", tlp="amber+strict", share_with=["group:Fraud circle"])
    assert red.status_code == group.status_code == 303
    bob, rita, jan = (
        _client(world, e) for e in ("bob@bank.example", "rita@bank.example", "jan@police.example")
    )
    assert bob.get(red.headers["location"]).status_code == 200
    assert rita.get(red.headers["location"]).status_code == 404  # RED: named people only
    assert jan.get(group.headers["location"]).status_code == 200  # a member of the group
    assert _client(world, "eve@cert.example").get(group.headers["location"]).status_code == 404


def test_refusals_are_shown_next_to_their_fields(world: World) -> None:
    client = _client(world, "ana@bank.example")
    before = _stored(world)
    cases = [
        ({"value": "999.1.1.1", "value_type": "ipv4"}, "value"),
        ({"pattern": "[ipv4-addr:value = "}, "pattern"),  # the store's refusal
        ({"value": "203.0.113.9", "confidence": "150"}, "confidence"),
        ({"value": "203.0.113.9", "valid_from": "yesterday"}, "valid_from"),
        ({"value": "203.0.113.9", "tlp": "purple"}, "tlp"),
        ({"kind": "note", "content": "Seen at two banks", "about": f"indicator--{uuid.uuid4()}"}, "about"),
        ({"kind": "note", "content": "", "about": world.objects["amber"]["id"]}, "content"),
        ({"kind": "named", "type": "malware", "name": ""}, "name"),
    ]  # fmt: skip
    for fields, name in cases:
        answer = _create(client, **fields)
        assert answer.status_code == 422, (fields, answer.status_code)
        assert f'id="{name}-error"' in answer.text, fields
        assert f'aria-describedby="{name}-error"' in answer.text or f"{name}-help {name}-error" in answer.text
        assert 'role="alert"' in answer.text and f'href="#{name}"' in answer.text
    assert _stored(world) == before
    # A police object the bank cannot see is no better than an absent one as a note's subject.
    hidden = world.objects["police"]["id"]
    assert 'id="about-error"' in _create(client, kind="note", content="x", about=hidden).text


def test_edit_makes_a_new_version_with_the_same_audience(world: World) -> None:
    client = _client(world, "ana@bank.example")
    url = _create(client, value="203.0.113.50", name="First name", share_with=["org:Police PL"]).headers[
        "location"
    ]
    stix_id = url.rsplit("/", 1)[1]
    form = client.get(f"{url}/edit")
    assert form.status_code == 200 and 'value="First name"' in form.text
    twin = client.get(f"{url}/edit", headers=JSON).json()
    assert twin["object"]["share_with"] == ["org:Police PL"] and twin["object"]["object"]["id"] == stix_id
    saved = client.post(
        f"{url}/edit",
        data={"name": "Second name", "description": "Now with a description",
              "pattern": twin["object"]["object"]["pattern"], "valid_from": "2026-03-04T05:06:07",
              "confidence": "", "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == url
    versions = client.get(url, headers=JSON).json()["versions"]
    assert [v["object"]["name"] for v in versions] == ["First name", "Second name"]
    assert versions[1]["object"]["description"] == "Now with a description"
    assert "confidence" not in versions[1]["object"]
    assert versions[1]["object"]["created"] == versions[0]["object"]["created"]
    assert versions[1]["object"]["modified"] > versions[0]["object"]["modified"]
    jan = _client(world, "jan@police.example")
    assert jan.get(url, headers=JSON).json()["object"]["object"]["name"] == "Second name"
    # A refusal from the store lands next to its field, and nothing is stored.
    bad = client.post(f"{url}/edit", data={"name": "x", "pattern": "[nonsense", "csrf": csrf_of(form.text)})
    assert bad.status_code == 422 and 'id="pattern-error"' in bad.text
    assert len(client.get(url, headers=JSON).json()["versions"]) == 2


def test_share_then_revoke(world: World) -> None:
    client = _client(world, "ana@bank.example")
    url = _create(client, value="203.0.113.60", tlp="amber").headers["location"]
    jan = _client(world, "jan@police.example")
    assert jan.get(url).status_code == 404
    page = client.get(f"{url}/share")
    assert page.status_code == 200 and 'value="amber" data-audiences="org group" checked' in page.text
    refused = client.post(
        f"{url}/share", data={"tlp": "red", "share_with": ["org:Police PL"], "csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 422 and 'id="share_with-error"' in refused.text
    shared = client.post(
        f"{url}/share",
        data={"tlp": "amber", "share_with": ["org:Police PL"], "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert shared.status_code == 303
    assert jan.get(url).status_code == 200
    assert client.get(f"{url}/share", headers=JSON).json()["object"]["share_with"] == ["org:Police PL"]
    green = client.post(f"{url}/share", data={"tlp": "green", "csrf": csrf_of(page.text)}, headers=JSON)
    assert green.status_code == 200 and green.json()["object"]["tlp"] == "green"
    assert _client(world, "eve@cert.example").get(url).status_code == 200

    confirm = client.get(f"{url}/revoke")
    assert confirm.status_code == 200 and 'class="danger"' in confirm.text
    assert client.get(f"{url}/revoke", headers=JSON).json()["object"]["revoked"] is False
    revoked = client.post(f"{url}/revoke", data={"csrf": csrf_of(confirm.text)}, follow_redirects=False)
    assert revoked.status_code == 303
    item = client.get(url, headers=JSON).json()["object"]
    assert item["revoked"] is True and item["tlp"] == "green"
    assert jan.get(url, headers=JSON).json()["object"]["revoked"] is True  # its readers learn it
    # Nothing follows a revocation.
    for action in ("edit", "share", "revoke"):
        assert client.get(f"{url}/{action}").status_code == 409
    assert "/edit" not in client.get(url).text


def test_only_the_producers_analysts_reach_the_change_pages(world: World) -> None:
    green = world.objects["green"]["id"]  # the bank's GREEN indicator: everyone may read it
    amber = world.objects["amber"]["id"]
    police = world.objects["police"]["id"]
    analyst = _client(world, "ana@bank.example")
    for action in ("edit", "share", "revoke"):
        assert analyst.get(f"/ui/objects/{green}/{action}").status_code == 200
        assert analyst.get(f"/ui/objects/{police}/{action}").status_code == 404  # another org's, hidden
        for email, stix_id in (
            ("jan@police.example", green),  # visible, but another organisation's
            ("eve@cert.example", amber),  # hidden
            ("rita@bank.example", green),  # the producer's reader
        ):
            other = _client(world, email)
            assert other.get(f"/ui/objects/{stix_id}/{action}").status_code == 404, (email, action)
            answer = other.post(
                f"/ui/objects/{stix_id}/{action}", data={"csrf": _csrf(other), "tlp": "clear"}
            )
            assert answer.status_code == 404, (email, action)
    # An observable has no versions: nothing to edit, share or revoke here.
    sco = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": f"ipv4-addr--{uuid.uuid4()}",
        "value": "203.0.113.61",
    }
    world.submit("ana@bank.example", [sco])
    assert analyst.get(f"/ui/objects/{sco['id']}").status_code == 200
    assert analyst.get(f"/ui/objects/{sco['id']}/edit").status_code == 404
    # The same analyst acting for the police (where she is a reader) may change none of the bank's.
    page = analyst.get("/ui/search")
    analyst.post("/ui/org", data={"org_id": world.alliance.orgs["Police PL"], "csrf": csrf_of(page.text)})
    assert analyst.get(f"/ui/objects/{green}").status_code == 200
    assert analyst.get(f"/ui/objects/{green}/edit").status_code == 404
