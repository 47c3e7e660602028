"""The HTTP API end to end through FastAPI's test client, on the database under test."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stix_factory import bundle, indicator, ip_indicator, malware, relationship, report

from accord.intel.tlp import EMIT_ID, TLP
from accord.web.api import create_asgi

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> dict[str, Any]:
    alliance.org("Bank BR", sector="business", country="BR")
    alliance.org("Police PL", sector="law-enforcement", country="PL")
    alliance.org("CERT FR", sector="csirt", country="FR")
    alliance.org("Newcomer", sector="business", country="KE", pending=True)
    alliance.user("ana@bank.example", "Bank BR", "analyst", password="correct horse battery")
    alliance.user("jan@police.example", "Police PL", "analyst")
    alliance.user("eve@cert.example", "CERT FR", "reader")
    alliance.user("new@newcomer.example", "Newcomer", "analyst")
    alliance.user("boss@bank.example", "Bank BR", "org-admin")
    alliance.group("fraud-taskforce", "Bank BR", ["Police PL"])
    client = TestClient(create_asgi(alliance.app))
    tokens = {e: alliance.token(e) for e in alliance.users}
    return {"client": client, "tokens": tokens, "alliance": alliance}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_bundle(world: dict[str, Any], who: str, objects: list[dict[str, Any]], **params: Any) -> Any:
    return world["client"].post(
        "/api/v1/objects",
        content=json.dumps(bundle(objects)),
        params=params,
        headers=auth(world["tokens"][who]),
    )


def test_submit_get_list_and_hidden_is_404(world: dict[str, Any]) -> None:
    client = world["client"]
    green = ip_indicator("198.51.100.7", TLP.GREEN)
    amber = ip_indicator("198.51.100.8", TLP.AMBER)
    red = ip_indicator("198.51.100.9", TLP.RED)
    r = post_bundle(world, "ana@bank.example", [green, amber, red], share_with=["group:fraud-taskforce"])
    assert r.status_code == 201, r.text
    assert r.json()["stored"] == 3

    jan, eve = world["tokens"]["jan@police.example"], world["tokens"]["eve@cert.example"]
    assert client.get(f"/api/v1/objects/{amber['id']}", headers=auth(jan)).json()["object"] == amber
    never_stored = "indicator--00000000-0000-4000-8000-000000000000"
    for hidden, who in ((amber, eve), (red, jan), (red, eve)):
        resp = client.get(f"/api/v1/objects/{hidden['id']}", headers=auth(who))
        absent = client.get(f"/api/v1/objects/{never_stored}", headers=auth(who))
        assert resp.status_code == absent.status_code == 404
        assert resp.headers["content-type"].startswith("application/problem+json")
        # Hidden and absent are indistinguishable.
        assert resp.text.replace(hidden["id"], never_stored) == absent.text
    listed = client.get("/api/v1/objects", headers=auth(eve)).json()
    assert [i["object"]["id"] for i in listed["items"]] == [green["id"]]
    assert client.get("/api/v1/objects/count", headers=auth(eve)).json() == {"count": 1}
    assert client.get("/api/v1/objects/count", headers=auth(jan)).json() == {"count": 2}
    assert client.get("/api/v1/objects/count", headers=auth(world["tokens"]["ana@bank.example"])).json() == {
        "count": 3
    }


def test_pending_org_sees_only_clear_and_may_not_submit(world: dict[str, Any]) -> None:
    client = world["client"]
    clear = ip_indicator("192.0.2.1", TLP.CLEAR)
    green = ip_indicator("192.0.2.2", TLP.GREEN)
    assert post_bundle(world, "ana@bank.example", [clear, green]).status_code == 201
    newbie = world["tokens"]["new@newcomer.example"]
    ids = [i["object"]["id"] for i in client.get("/api/v1/objects", headers=auth(newbie)).json()["items"]]
    assert ids == [clear["id"]]
    refused = post_bundle(world, "new@newcomer.example", [ip_indicator("192.0.2.3", TLP.GREEN)])
    assert refused.status_code == 403


def test_versions_and_version_parameter(world: dict[str, Any]) -> None:
    client = world["client"]
    v1 = malware("Grandoreiro", TLP.GREEN)
    v2 = dict(v1, modified="2024-06-01T00:00:00.000Z", description="banking trojan")
    assert post_bundle(world, "ana@bank.example", [v1]).status_code == 201
    assert post_bundle(world, "ana@bank.example", [v2]).status_code == 201
    jan = auth(world["tokens"]["jan@police.example"])
    assert (
        client.get(f"/api/v1/objects/{v1['id']}", headers=jan).json()["object"]["modified"] == v2["modified"]
    )
    old = client.get(f"/api/v1/objects/{v1['id']}", params={"version": v1["modified"]}, headers=jan).json()
    assert old["object"] == v1
    every = client.get(f"/api/v1/objects/{v1['id']}", params={"version": "all"}, headers=jan).json()["items"]
    assert [i["object"]["modified"] for i in every] == [v1["modified"], v2["modified"]]
    assert client.get(f"/api/v1/objects/{v1['id']}/versions", headers=jan).json() == {
        "versions": [v1["modified"], v2["modified"]]
    }


def test_cursor_pagination_is_stable_and_complete(world: dict[str, Any]) -> None:
    client = world["client"]
    objs = [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(1, 26)]
    for start in range(0, 25, 10):
        assert post_bundle(world, "ana@bank.example", objs[start : start + 10]).status_code == 201
    jan = auth(world["tokens"]["jan@police.example"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/objects", params=params, headers=jan).json()
        seen += [i["object"]["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [o["id"] for o in objs]


def test_filters(world: dict[str, Any]) -> None:
    client = world["client"]
    ind = ip_indicator("198.51.100.20", TLP.GREEN)
    mal = malware("Mekotio", TLP.CLEAR)
    assert post_bundle(world, "ana@bank.example", [ind, mal]).status_code == 201
    jan = auth(world["tokens"]["jan@police.example"])

    def ids(**params: Any) -> list[str]:
        resp = client.get("/api/v1/objects", params=params, headers=jan)
        assert resp.status_code == 200, resp.text
        return [i["object"]["id"] for i in resp.json()["items"]]

    assert ids(type="malware") == [mal["id"]]
    assert ids(tlp="green") == [ind["id"]]
    assert ids(tlp="TLP:CLEAR") == [mal["id"]]
    assert ids(value="198.51.100[.]20") == [ind["id"]]
    assert ids(producer="Bank BR") == [ind["id"], mal["id"]]
    assert ids(added_after="2999-01-01T00:00:00Z") == []
    assert ids(modified_from="2024-05-01T10:00:00Z", modified_to="2024-05-01T10:00:00Z") == [
        ind["id"],
        mal["id"],
    ]


def test_lookup_many_values(world: dict[str, Any]) -> None:
    client = world["client"]
    cidr = ip_indicator("10.20.0.0/16", TLP.GREEN)
    dom = indicator("[domain-name:value = 'evil.example']", TLP.GREEN)
    secret = ip_indicator("10.20.30.40", TLP.RED)
    assert post_bundle(world, "ana@bank.example", [cidr, dom, secret]).status_code == 201
    values = ["10.20.30.40", "login.evil.example", "192.0.2.200"] + [f"192.0.2.{i}" for i in range(197)]
    resp = client.post(
        "/api/v1/lookup", json={"values": values}, headers=auth(world["tokens"]["jan@police.example"])
    )
    assert resp.status_code == 200
    results = {r["value"]: r for r in resp.json()["results"]}
    assert len(results) == 200
    assert [(m["id"], m["match"]) for m in results["10.20.30.40"]["matches"]] == [(cidr["id"], "cidr")]
    assert [(m["id"], m["match"]) for m in results["login.evil.example"]["matches"]] == [
        (dom["id"], "parent-domain")
    ]
    assert results["192.0.2.200"]["matches"] == []
    assert secret["id"] not in resp.text
    mine = client.post(
        "/api/v1/lookup", json={"values": ["10.20.30.40"]}, headers=auth(world["tokens"]["ana@bank.example"])
    ).json()["results"][0]["matches"]
    assert {m["id"] for m in mine} == {cidr["id"], secret["id"]}


def test_references_to_hidden_objects_are_removed(world: dict[str, Any]) -> None:
    client = world["client"]
    hidden = malware("internal-codename", TLP.RED)
    shown = ip_indicator("198.51.100.77", TLP.GREEN)
    rel_one = relationship(shown["id"], hidden["id"], TLP.GREEN)
    rel_both = relationship(hidden["id"], hidden["id"], TLP.GREEN)
    rep = report([shown["id"], hidden["id"]], TLP.GREEN)
    assert post_bundle(world, "ana@bank.example", [hidden, shown, rel_one, rel_both, rep]).status_code == 201
    jan = auth(world["tokens"]["jan@police.example"])
    body = client.get("/api/v1/objects", headers=jan).text
    assert hidden["id"] not in body
    assert rel_both["id"] not in body
    got_rep = client.get(f"/api/v1/objects/{rep['id']}", headers=jan).json()["object"]
    assert got_rep["object_refs"] == [shown["id"]]
    got_rel = client.get(f"/api/v1/objects/{rel_one['id']}", headers=jan).json()["object"]
    assert "target_ref" not in got_rel and got_rel["source_ref"] == shown["id"]
    assert client.get(f"/api/v1/objects/{rel_both['id']}", headers=jan).status_code == 404


def test_export_is_a_bundle_with_tlp_markings(world: dict[str, Any]) -> None:
    client = world["client"]
    plain = ip_indicator("198.51.100.30")
    legacy_white = dict(
        ip_indicator("198.51.100.31"),
        object_marking_refs=["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"],
    )
    resp = post_bundle(world, "ana@bank.example", [plain], tlp="green")
    assert resp.status_code == 201
    assert post_bundle(world, "ana@bank.example", [legacy_white]).status_code == 201
    out = client.get("/api/v1/export", headers=auth(world["tokens"]["eve@cert.example"]))
    assert out.headers["content-type"].startswith("application/stix+json")
    exported = out.json()
    assert exported["type"] == "bundle"
    by_id = {o["id"]: o for o in exported["objects"]}
    assert by_id[plain["id"]]["object_marking_refs"] == [EMIT_ID[TLP.GREEN]]
    assert by_id[legacy_white["id"]]["object_marking_refs"] == [EMIT_ID[TLP.CLEAR]]  # never emit WHITE
    assert EMIT_ID[TLP.GREEN] in by_id and EMIT_ID[TLP.CLEAR] in by_id
    assert by_id[EMIT_ID[TLP.GREEN]]["name"] == "TLP:GREEN"


def test_authentication_forms(world: dict[str, Any]) -> None:
    client = world["client"]
    token = world["tokens"]["jan@police.example"]
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=auth(token)).json()["email"] == "jan@police.example"
    basic = base64.b64encode(f"anyone:{token}".encode()).decode()
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"}).json()["email"]
        == "jan@police.example"
    )
    pw = base64.b64encode(b"ana@bank.example:correct horse battery").decode()
    assert client.get("/api/v1/me", headers={"Authorization": f"Basic {pw}"}).status_code == 200
    login = client.post(
        "/api/v1/login", json={"email": "ana@bank.example", "password": "correct horse battery"}
    )
    assert login.status_code == 200
    assert client.get("/api/v1/me", headers=auth(login.json()["token"])).json()["email"] == "ana@bank.example"
    assert client.get("/api/v1/me", headers=auth(token + "x")).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic !!!"}).status_code == 401


def test_failed_logins_are_limited_whatever_the_method(world: dict[str, Any], make_accord: Any) -> None:
    client = world["client"]
    app = world["alliance"].app
    limit = app.settings.login_max_failures
    bad = base64.b64encode(b"ana@bank.example:wrong password!").decode()
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    for i in range(limit):
        resp = client.request(
            methods[i % len(methods)], "/api/v1/objects", headers={"Authorization": f"Basic {bad}"}
        )
        assert resp.status_code == 401
    # The account is now locked for this window, through any method and even with the right password.
    good = base64.b64encode(b"ana@bank.example:correct horse battery").decode()
    for method in methods:
        resp = client.request(method, "/api/v1/me", headers={"Authorization": f"Basic {good}"})
        assert resp.status_code == 429, method
    assert (
        client.post(
            "/api/v1/login", json={"email": "ana@bank.example", "password": "correct horse battery"}
        ).status_code
        == 429
    )


def test_token_scopes_expiry_and_revocation(world: dict[str, Any]) -> None:
    client = world["client"]
    alliance = world["alliance"]
    ro = alliance.token("ana@bank.example", scopes="intel:read")
    assert client.get("/api/v1/objects", headers=auth(ro)).status_code == 200
    resp = client.post(
        "/api/v1/objects", content=json.dumps(bundle([ip_indicator("192.0.2.9")])), headers=auth(ro)
    )
    assert resp.status_code == 403
    created = client.post(
        "/api/v1/tokens",
        json={"label": "ci", "expires_days": 1},
        headers=auth(world["tokens"]["ana@bank.example"]),
    )
    assert created.status_code == 201
    new = created.json()
    assert client.get("/api/v1/me", headers=auth(new["token"])).status_code == 200
    listed = client.get("/api/v1/tokens", headers=auth(world["tokens"]["ana@bank.example"])).json()["tokens"]
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    assert (
        client.delete(
            f"/api/v1/tokens/{new['id']}", headers=auth(world["tokens"]["ana@bank.example"])
        ).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=auth(new["token"])).status_code == 401
    # Another organisation's user cannot see or revoke it: 404.
    assert (
        client.delete(
            f"/api/v1/tokens/{new['id']}", headers=auth(world["tokens"]["jan@police.example"])
        ).status_code
        == 404
    )


def test_org_admin_stays_inside_their_org(world: dict[str, Any]) -> None:
    client = world["client"]
    alliance = world["alliance"]
    boss = auth(world["tokens"]["boss@bank.example"])
    jan_id = alliance.users["jan@police.example"]
    ana_id = alliance.users["ana@bank.example"]
    assert (
        client.put(
            f"/api/v1/users/{jan_id}/password", json={"password": "0123456789abc"}, headers=boss
        ).status_code
        == 404
    )
    assert client.post("/api/v1/tokens", json={"user_id": jan_id}, headers=boss).status_code == 404
    assert (
        client.put(
            f"/api/v1/users/{ana_id}/password", json={"password": "0123456789abc"}, headers=boss
        ).status_code
        == 204
    )
    made = client.post(
        "/api/v1/users",
        json={"email": "x@police.example", "org_id": alliance.orgs["Police PL"], "role": "analyst"},
        headers=boss,
    )
    assert made.status_code == 403
    made = client.post(
        "/api/v1/users",
        json={"email": "new@bank.example", "org_id": alliance.orgs["Bank BR"], "role": "reader"},
        headers=boss,
    )
    assert made.status_code == 201
    assert (
        client.post(
            "/api/v1/orgs", json={"name": "X", "sector": "business", "country": "DE"}, headers=boss
        ).status_code
        == 403
    )
    users = client.get("/api/v1/users", headers=boss).json()["users"]
    assert {u["email"] for u in users} == {"ana@bank.example", "boss@bank.example", "new@bank.example"}


def test_platform_admin_manages_but_does_not_read(world: dict[str, Any]) -> None:
    client = world["client"]
    alliance = world["alliance"]
    alliance.org("Alliance Secretariat", sector="international", country="BE")
    alliance.user("root@alliance.example", "Alliance Secretariat", "org-admin", platform_admin=True)
    admin = auth(alliance.token("root@alliance.example"))
    amber = ip_indicator("198.51.100.99", TLP.AMBER)
    assert post_bundle(world, "ana@bank.example", [amber]).status_code == 201
    assert client.get(f"/api/v1/objects/{amber['id']}", headers=admin).status_code == 404
    newcomer = alliance.orgs["Newcomer"]
    vetted = client.patch(f"/api/v1/orgs/{newcomer}", json={"vetted": True}, headers=admin)
    assert vetted.status_code == 200 and vetted.json()["vetted"] is True


def test_sharing_group_edited_only_by_owner(world: dict[str, Any]) -> None:
    client = world["client"]
    alliance = world["alliance"]
    gid = alliance.groups["fraud-taskforce"]
    jan = auth(world["tokens"]["jan@police.example"])  # a member org, not the owner
    eve = auth(world["tokens"]["eve@cert.example"])  # neither
    ana = auth(world["tokens"]["ana@bank.example"])  # owner's analyst
    assert client.get(f"/api/v1/groups/{gid}", headers=jan).status_code == 200
    assert client.get(f"/api/v1/groups/{gid}", headers=eve).status_code == 404
    assert (
        client.put(f"/api/v1/groups/{gid}/members", json={"member_org_ids": []}, headers=jan).status_code
        == 403
    )
    resp = client.put(
        f"/api/v1/groups/{gid}/members", json={"member_org_ids": [alliance.orgs["CERT FR"]]}, headers=ana
    )
    assert resp.status_code == 200
    assert resp.json()["member_org_ids"] == [alliance.orgs["CERT FR"]]


def test_openapi_and_health_are_public(world: dict[str, Any]) -> None:
    client = world["client"]
    assert client.get("/api/v1/health").json()["status"] == "ok"
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/objects" in spec["paths"] and "/api/v1/lookup" in spec["paths"]
