"""The routing JSON API mounted on the real HTTP app: guarded routes, problems that name the field,
and the country view through the policy."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from routing_helpers import ip_bundle, routed

from accord.intel.tlp import TLP
from accord.routing.api import router
from accord.web.api import create_asgi, current_viewer, member_viewer
from accord.web.auth import ACCESS_KEY

pytestmark = pytest.mark.store


def _client(app: Any) -> TestClient:
    asgi = create_asgi(app)
    asgi.include_router(router)
    return TestClient(asgi)


def test_every_routing_route_is_guarded() -> None:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        assert (route.openapi_extra or {}).get(ACCESS_KEY) in ("policy", "members"), route.path
        calls = {d.call for d in route.dependant.dependencies}
        stack = list(route.dependant.dependencies)
        while stack:
            dep = stack.pop()
            calls.add(dep.call)
            stack.extend(dep.dependencies)
        assert {current_viewer, member_viewer} & calls, route.path


def test_contacts_rules_and_country_view_over_http(routed: Any) -> None:
    app = routed.app
    client = _client(app)
    admin = {"Authorization": f"Bearer {routed.token('admin@cert.pl')}"}
    brazil = {"Authorization": f"Bearer {routed.token('admin@cert.br')}"}
    assert client.get("/api/v1/contacts").status_code == 401

    added = client.post(
        "/api/v1/contacts",
        json={"name": "CERT Polska night desk", "kind": "csirt", "countries": ["PL"],
              "email": "night@cert.pl", "timezone": "Europe/Warsaw"},
        headers=admin,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["org"] == "CERT Polska"
    bad = client.post(
        "/api/v1/contacts", json={"name": "x", "kind": "csirt", "countries": ["XX"], "email": "x@cert.pl"},
        headers=admin,
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["where"]["field"] == "countries"
    refused = client.post(
        "/api/v1/contacts/import?format=csv",
        content=b"name,kind,countries,email\nGood,csirt,PL,g@cert.pl\nBad,csirt,PL,nope\n",
        headers=admin,
    )
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["where"] == {"record": 2, "line": 3, "field": "email"}
    assert "Good" not in {c["name"] for c in client.get("/api/v1/contacts", headers=admin).json()["contacts"]}
    theirs = added.json()["id"]
    assert client.patch(f"/api/v1/contacts/{theirs}", json={"hours": "x"}, headers=brazil).status_code == 403

    rule = client.post(
        "/api/v1/routing/rules",
        json={"name": "PL to night desk", "match": {"countries": ["PL"]},
              "send_to": {"contacts": ["CERT Polska night desk"]}},
        headers=admin,
    )  # fmt: skip
    assert rule.status_code == 201, rule.text
    assert client.get("/api/v1/routing/rules", headers=brazil).json()["rules"] == [
        r for r in client.get("/api/v1/routing/rules", headers=brazil).json()["rules"] if r["org"] is None
    ]

    producer = routed.viewer("p@producer.example")
    share = app.resolve_share(producer, ["org:CERT Polska"])
    app.submit(producer, ip_bundle(["195.187.6.33"], TLP.AMBER), share=share)
    app.submit(producer, ip_bundle(["195.187.6.34"], TLP.GREEN))
    app.route_new_objects()
    mine = client.get("/api/v1/countries/PL", headers=admin).json()
    theirs_view = client.get("/api/v1/countries/pl?days=7", headers=brazil).json()
    assert (mine["abused"], theirs_view["abused"]) == (2, 1)
    notes = client.get("/api/v1/routing/notifications?country=PL", headers=brazil).json()["notifications"]
    assert {i["value"] for n in notes for i in n["items"]} == {"195.187.6.34"}
    assert client.get("/api/v1/countries/XX", headers=admin).status_code == 422
    assert client.delete(f"/api/v1/contacts/{theirs}", headers=admin).status_code == 204
