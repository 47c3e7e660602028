"""The administration pages through FastAPI's test client, on the database under test: who sees
which page (404 for the rest), members, roles, passwords, sharing groups, tokens, organisations and
vetting, accounts; HTML and JSON from one handler, the anti-forgery token on every form, hostile
names escaped."""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from ui_helpers import PASSWORD, World, build_world, csrf_of, log_in

from accord.db.schema import api_token
from accord.members.model import OPERATOR
from accord.taxii.collections import ORG, collection_id

pytestmark = pytest.mark.store

PAGES = ("/ui/admin/members", "/ui/admin/groups", "/ui/admin/tokens", "/ui/admin/orgs", "/ui/admin/users")
PLATFORM_PAGES = PAGES[3:]


@pytest.fixture
def world(alliance: Any) -> World:
    """The UI world, with Bank BR's org-admin (boss), a platform administrator acting for Police PL
    (root, an analyst there) and an organisation pending vetting."""
    world = build_world(alliance)
    alliance.user("boss@bank.example", "Bank BR", "org-admin", password=PASSWORD)
    alliance.user("root@police.example", "Police PL", "analyst", password=PASSWORD, platform_admin=True)
    alliance.org("Banco Pendente", sector="business", country="BR", pending=True)
    alliance.group("Police cases", "Police PL", ["Police PL", "Bank BR"])
    alliance.group("Police only", "Police PL", ["Police PL"])
    return world


def signed_in(world: World, email: str, password: str = PASSWORD) -> TestClient:
    client = world.client()
    assert log_in(client, email, password).status_code == 303
    return client


def post(client: TestClient, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """A form sent as the page would send it: with this session's anti-forgery token."""
    token = csrf_of(client.get("/ui/lookup").text)
    return client.post(path, data={**data, "csrf": token}, follow_redirects=False, **kw)


def test_analysts_and_readers_find_no_administration(world: World) -> None:
    for email in ("ana@bank.example", "eve@cert.example"):
        client = signed_in(world, email)
        assert "/ui/admin/" not in client.get("/ui/search").text  # not in the navigation
        for path in PAGES:
            assert client.get(path).status_code == 404, path
            assert client.get(path, params={"format": "json"}).status_code == 404, path
        ana = world.alliance.users["ana@bank.example"]
        for path, data in (
            ("/ui/admin/members", {"email": "x@bank.example", "role": "org-admin"}),
            (f"/ui/admin/members/{ana}/role", {"role": "org-admin"}),
            (f"/ui/admin/members/{ana}/remove", {}),
            ("/ui/admin/groups", {"name": "mine"}),
            ("/ui/admin/tokens", {"user_id": ana, "scope": "members:admin"}),
            ("/ui/admin/orgs", {"name": "X", "sector": "csirt", "country": "FR"}),
        ):
            assert post(client, path, data).status_code == 404, path
    # An org-admin has no platform pages.
    boss = signed_in(world, "boss@bank.example")
    assert 'href="/ui/admin/members"' in boss.get("/ui/search").text
    for path in PLATFORM_PAGES:
        assert boss.get(path).status_code == 404
    assert 'href="/ui/admin/orgs"' not in boss.get("/ui/search").text


def test_a_platform_administrator_who_is_an_analyst_finds_the_platform_pages(world: World) -> None:
    root = signed_in(world, "root@police.example")
    nav = root.get("/ui/search").text
    assert 'href="/ui/admin/orgs"' in nav and 'href="/ui/admin/members"' not in nav
    assert root.get("/ui/admin/orgs").status_code == 200


def test_every_form_needs_the_anti_forgery_token(world: World) -> None:
    client = signed_in(world, "boss@bank.example")
    answer = client.post("/ui/admin/members", data={"email": "new@bank.example", "role": "reader"})
    assert answer.status_code == 403
    assert "new@bank.example" not in client.get("/ui/admin/members").text


def test_members_listed_added_changed_and_removed(world: World) -> None:
    a = world.alliance
    client = signed_in(world, "boss@bank.example")
    page = client.get("/ui/admin/members")
    assert page.status_code == 200
    assert "ana@bank.example" in page.text and "jan@police.example" not in page.text
    listed = client.get("/ui/admin/members", headers={"accept": "application/json"}).json()
    assert listed["org"]["name"] == "Bank BR"
    assert {m["email"]: m["role"] for m in listed["members"]} == {
        "ana@bank.example": "analyst",
        "boss@bank.example": "org-admin",
    }

    # A new account with a password: it can log in, acting for Bank BR.
    added = post(
        client,
        "/ui/admin/members",
        {"email": "Nuno@Bank.example", "name": "Nuno", "role": "reader", "language": "pt",
         "password": "a long password"},
    )  # fmt: skip
    assert added.status_code == 303 and added.headers["location"] == "/ui/admin/members?done=added"
    assert "The member was added." in client.get(added.headers["location"]).text
    nuno = signed_in(world, "nuno@bank.example", "a long password")
    assert 'lang="pt"' in nuno.get("/ui/search").text

    # A user of another organisation joins without anything of theirs being reset.
    joined = post(client, "/ui/admin/members", {"email": "jan@police.example", "role": "reader"})
    assert joined.status_code == 303
    refused = post(
        client,
        "/ui/admin/members",
        {"email": "eve@cert.example", "role": "reader", "password": "reset it now!"},
    )
    assert refused.status_code == 409
    assert "exists" in refused.text and 'value="eve@cert.example"' in refused.text  # the form, refilled
    assert log_in(world.client(), "eve@cert.example").status_code == 303  # eve's password is unchanged
    bad = post(client, "/ui/admin/members", {"email": "not an address", "role": "reader"})
    assert bad.status_code == 422 and "not a valid e-mail address" in bad.text
    bad_json = post(
        client,
        "/ui/admin/members",
        {"email": "x@bank.example", "role": "boss"},
        headers={"accept": "application/json"},
    )
    assert bad_json.status_code == 422 and bad_json.json()["where"]["field"] == "role"

    jan = a.users["jan@police.example"]
    changed = post(client, f"/ui/admin/members/{jan}/role", {"role": "analyst"})
    assert changed.status_code == 303
    roles = {m["email"]: m["role"] for m in client.get("/ui/admin/members?format=json").json()["members"]}
    assert roles["jan@police.example"] == "analyst"
    assert post(client, f"/ui/admin/members/{jan}/remove", {}).status_code == 303
    assert "jan@police.example" not in client.get("/ui/admin/members").text
    with world.app.db.read() as conn:  # the membership only: jan is still at Police PL
        assert [m["org"] for m in world.app.members.memberships(conn, jan)] == ["Police PL"]

    # Another organisation's people: 404, whatever the action.
    eve = a.users["eve@cert.example"]
    assert post(client, f"/ui/admin/members/{eve}/role", {"role": "org-admin"}).status_code == 404
    assert post(client, f"/ui/admin/members/{eve}/remove", {}).status_code == 404
    assert post(client, f"/ui/admin/members/{eve}/password", {"password": "taken over!!"}).status_code == 404
    assert post(client, "/ui/admin/members/999999/remove", {}).status_code == 404


def test_a_password_only_for_members_of_no_other_organisation(world: World) -> None:
    a = world.alliance
    a.user("solo@bank.example", "Bank BR", "reader", password=PASSWORD)
    client = signed_in(world, "boss@bank.example")
    set_ = post(
        client, f"/ui/admin/members/{a.users['solo@bank.example']}/password", {"password": "new long secret"}
    )
    assert set_.status_code == 303
    assert log_in(world.client(), "solo@bank.example", "new long secret").status_code == 303
    # ana is also in Police PL, which boss does not administer.
    refused = post(
        client, f"/ui/admin/members/{a.users['ana@bank.example']}/password", {"password": "new long secret"}
    )
    assert refused.status_code == 403
    assert "organisations you do not administer" in refused.text
    assert log_in(world.client(), "ana@bank.example").status_code == 303


def test_sharing_groups(world: World) -> None:
    a = world.alliance
    client = signed_in(world, "boss@bank.example")
    page = client.get("/ui/admin/groups")
    assert "Police cases" in page.text and "Police only" not in page.text  # a member's group, not others'
    created = post(
        client, "/ui/admin/groups", {"name": "LATAM fraud", "member": [a.orgs["Bank BR"], a.orgs["CERT FR"]]}
    )
    assert created.status_code == 303
    where = created.headers["location"]
    group_id = int(where.split("/")[-1].split("?")[0])
    shown = client.get(where, headers={"accept": "application/json"}).json()
    assert shown["group"]["member_org_ids"] == sorted([a.orgs["Bank BR"], a.orgs["CERT FR"]])
    assert 'id="group-members"' in client.get(where).text  # its owner may edit it
    edited = post(
        client, f"/ui/admin/groups/{group_id}", {"member": [a.orgs["Bank BR"], a.orgs["Police PL"]]}
    )
    assert edited.status_code == 303
    with world.app.db.read() as conn:
        assert world.app.members.get_group(conn, world.app.viewer("boss@bank.example"), group_id)[
            "member_org_ids"
        ] == sorted([a.orgs["Bank BR"], a.orgs["Police PL"]])
    taken = post(client, "/ui/admin/groups", {"name": "LATAM fraud"})
    assert taken.status_code == 409 and "exists already" in taken.text

    # Police's own group is not Bank's business; the one Bank is in can be seen, not edited.
    only, cases = a.groups["Police only"], a.groups["Police cases"]
    assert client.get(f"/ui/admin/groups/{only}").status_code == 404
    assert post(client, f"/ui/admin/groups/{only}", {"member": [a.orgs["Bank BR"]]}).status_code == 404
    seen = client.get(f"/ui/admin/groups/{cases}")
    assert seen.status_code == 200 and 'id="group-members"' not in seen.text
    assert post(client, f"/ui/admin/groups/{cases}", {"member": [a.orgs["Bank BR"]]}).status_code == 403


def test_tokens_created_with_scopes_and_collections_shown_once_and_revoked(world: World) -> None:
    a = world.alliance
    client = signed_in(world, "boss@bank.example")
    ana = a.users["ana@bank.example"]
    bank_collection = collection_id(world.app.settings.node_name, ORG, str(a.orgs["Bank BR"]))
    form = client.get("/ui/admin/tokens").text
    assert f'value="{bank_collection}:rw"' in form  # the collections offered
    created = post(
        client,
        "/ui/admin/tokens",
        {"user_id": ana, "label": "SIEM feed", "scope": ["intel:read"], "expires_days": 30,
         "collection": ["", f"{bank_collection}:r"]},
    )  # fmt: skip
    assert created.status_code == 201
    secret = html.unescape(created.text.split('id="new-token"')[1].split('value="')[1].split('"')[0])
    assert secret.startswith("acc_") and "shown only once" in created.text
    page = client.get("/ui/admin/tokens").text
    assert "SIEM feed" in page and secret not in page
    # The token works, with what was ticked only.
    api = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=api).json()["email"] == "ana@bank.example"
    assert (
        client.post(
            "/api/v1/objects", json={"type": "bundle", "id": "bundle--x", "objects": []}, headers=api
        ).status_code
        == 403
    )
    listed = client.get("/ui/admin/tokens?format=json").json()["tokens"]
    mine = next(t for t in listed if t["label"] == "SIEM feed")
    assert mine["user"] == "ana@bank.example" and mine["scopes"] == ["intel:read"]
    assert mine["collections"] == [f"{bank_collection}:r"] and mine["state"] == "active"
    assert mine["expires_us"] is not None

    # JSON clients get the secret in the answer, as from the API.
    as_json = post(
        client, "/ui/admin/tokens", {"user_id": ana, "scope": ["intel:read", "intel:write"]},
        headers={"accept": "application/json"},
    )  # fmt: skip
    assert as_json.status_code == 201 and as_json.json()["token"].startswith("acc_")
    # No scope ticked is refused (the service would read it as every scope).
    none = post(client, "/ui/admin/tokens", {"user_id": ana, "label": "all of it?"})
    assert none.status_code == 422 and 'value="all of it?"' in none.text

    revoked = post(client, f"/ui/admin/tokens/{mine['id']}/revoke", {})
    assert revoked.status_code == 303
    assert client.get("/api/v1/me", headers=api).status_code == 401
    # Other organisations' tokens and people: 404.
    jan_token = a.token("jan@police.example")
    with world.app.db.read() as conn:
        jan_id = conn.execute(
            select(api_token.c.id).where(api_token.c.prefix == jan_token.split("_")[1])
        ).scalar()
    assert all(
        t["user"] != "jan@police.example" for t in client.get("/ui/admin/tokens?format=json").json()["tokens"]
    )
    assert post(client, f"/ui/admin/tokens/{jan_id}/revoke", {}).status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {jan_token}"}).status_code == 200
    other = post(
        client, "/ui/admin/tokens", {"user_id": a.users["jan@police.example"], "scope": ["intel:read"]}
    )
    assert other.status_code == 404


def test_platform_administrators_add_and_vet_organisations_and_disable_accounts(world: World) -> None:
    a = world.alliance
    client = signed_in(world, "root@police.example")  # an analyst in Police PL: no members pages there…
    assert 'href="/ui/admin/members"' not in client.get("/ui/search").text
    page = client.get("/ui/admin/orgs")  # …but the platform's pages
    assert page.status_code == 200 and "Banco Pendente" in page.text and "Brasil" not in page.text
    assert "Brazil" in page.text  # countries by their name in the page's language
    pending = a.orgs["Banco Pendente"]
    vetted = post(client, f"/ui/admin/orgs/{pending}/vetting", {"vetted": "true"})
    assert vetted.status_code == 303 and vetted.headers["location"].endswith("done=vetted")
    orgs = {o["name"]: o for o in client.get("/ui/admin/orgs?format=json").json()["orgs"]}
    assert orgs["Banco Pendente"]["vetted"] is True
    assert post(client, f"/ui/admin/orgs/{pending}/vetting", {"vetted": "false"}).status_code == 303
    with world.app.db.read() as conn:
        assert world.app.members.get_org(conn, pending)["vetted"] is False
    assert post(client, "/ui/admin/orgs/999999/vetting", {"vetted": "true"}).status_code == 404

    added = post(
        client, "/ui/admin/orgs", {"name": "CERT.br", "sector": "csirt", "country": "BR", "pending": "true"}
    )
    assert added.status_code == 303
    org = next(o for o in client.get("/ui/admin/orgs?format=json").json()["orgs"] if o["name"] == "CERT.br")
    assert org["vetted"] is False and org["country"] == "BR"
    wrong = post(client, "/ui/admin/orgs", {"name": "X", "sector": "csirt", "country": "ZZ"})
    assert wrong.status_code == 422 and "ISO 3166-1" in wrong.text

    users = client.get("/ui/admin/users?format=json").json()["users"]
    assert {"ana@bank.example", "jan@police.example", "eve@cert.example"} <= {u["email"] for u in users}
    eve = a.users["eve@cert.example"]
    assert post(client, f"/ui/admin/users/{eve}/disabled", {"disabled": "true"}).status_code == 303
    assert log_in(world.client(), "eve@cert.example").status_code == 401
    assert "disabled" in client.get("/ui/admin/users").text
    assert post(client, f"/ui/admin/users/{eve}/disabled", {"disabled": "false"}).status_code == 303
    assert log_in(world.client(), "eve@cert.example").status_code == 303


def test_pages_in_arabic_and_french(world: World) -> None:
    client = signed_in(world, "root@police.example")
    post(client, "/ui/language", {"lang": "ar", "next": "/ui/admin/orgs"})
    page = client.get("/ui/admin/orgs").text
    assert 'dir="rtl"' in page and "البرازيل" in page  # Brazil, in Arabic, from Babel
    post(client, "/ui/language", {"lang": "fr"})
    assert "Brésil" in client.get("/ui/admin/orgs").text


def test_hostile_names_are_shown_escaped(world: World) -> None:
    a = world.alliance
    script = "<script>alert(1)</script>"
    svg = '<svg onload="alert(2)">'
    rlo = "\u202egnp.exe"
    a.org(f"Org {script}", sector="business", country="FR")
    a.user("<svg/onload=alert(3)>@bank.example", "Bank BR", "reader")
    with world.app.db.write() as conn:
        world.app.members.add_user(
            conn, OPERATOR, "rtl@bank.example", a.orgs["Bank BR"], "reader", name=f"Mallory {rlo} {svg}"
        )
    a.group(f"Group {svg}", "Bank BR", ["Bank BR", f"Org {script}"])
    boss = signed_in(world, "boss@bank.example")
    root = signed_in(world, "root@police.example")
    pages = [boss.get(p).text for p in ("/ui/admin/members", "/ui/admin/groups", "/ui/admin/tokens")]
    pages += [root.get(p).text for p in PLATFORM_PAGES]
    for text in pages:
        assert "<script>alert" not in text and "<svg" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]  # the member organisation's name
    assert "Group &lt;svg onload=&#34;alert(2)&#34;&gt;" in pages[1]
    assert f'<bdi dir="auto">Mallory {rlo} &lt;svg' in pages[0]  # the override is isolated in <bdi>
    assert "Org &lt;script&gt;" in pages[3]
