"""Every route is either guarded (policy or members) or on the short public list below; and every
guarded route — JSON API and TAXII alike — probed for a hidden object, answers as if it did not exist."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from stix_factory import bundle, ip_indicator

from accord.intel.tlp import TLP
from accord.taxii.collections import community_id
from accord.web.api import create_asgi, current_viewer, member_viewer
from accord.web.auth import ACCESS_KEY

PUBLIC_ROUTES = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/login"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    # The web UI: the root redirect, the log-in form, picking a language before log-in, static files.
    ("GET", "/"),
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("POST", "/ui/language"),
    ("GET", "/ui/static/{path:path}"),
}


def _dependency_calls(route: APIRoute) -> set[Any]:
    found: set[Any] = set()
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call is not None:
            found.add(dep.call)
        stack.extend(dep.dependencies)
    return found


def _flatten(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, route) for every route, looking inside included routers (FastAPI keeps them
    as `_IncludedRouter` entries that point at the original router and its prefix)."""
    out: list[tuple[str, Any]] = []
    for route in routes:
        if hasattr(route, "original_router"):
            inner = prefix + getattr(route.include_context, "prefix", "")
            out += _flatten(route.original_router.routes, inner)
        else:
            out.append((prefix + route.path, route))
    return out


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for path, route in _flatten(app.routes):
        methods = getattr(route, "methods", None)
        assert methods, f"route {path} has no methods: a mount or websocket escapes this test"
        for method in sorted(methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            out.append((method, path, route))
    return out


@pytest.mark.store
def test_every_route_is_guarded_or_explicitly_public(accord: Any) -> None:
    app = create_asgi(accord)
    unguarded = []
    for method, path, route in _routes(app):
        if (method, path) in PUBLIC_ROUTES:
            if isinstance(route, APIRoute):
                assert (route.openapi_extra or {}).get(ACCESS_KEY) == "public", path
            continue
        if not isinstance(route, APIRoute):
            unguarded.append((method, path, "not an API route"))
            continue
        access = (route.openapi_extra or {}).get(ACCESS_KEY)
        calls = _dependency_calls(route)
        if access not in ("policy", "members") or not ({current_viewer, member_viewer} & calls):
            unguarded.append((method, path, access))
    assert unguarded == [], f"routes neither guarded nor on the public list: {unguarded}"
    # The public list names only routes that exist, so it cannot go stale.
    existing = {(m, p) for m, p, _ in _routes(app)}
    assert existing >= PUBLIC_ROUTES


@pytest.mark.store
def test_every_guarded_get_route_hides_what_the_viewer_may_not_see(alliance: Any) -> None:
    alliance.org("Producer", country="DE")
    alliance.org("Outsider", country="JP")
    alliance.user("p@producer.example", "Producer")
    alliance.user("o@outsider.example", "Outsider")
    client = TestClient(create_asgi(alliance.app))
    secret = ip_indicator("198.51.100.66", TLP.AMBER)
    producer = {"Authorization": f"Bearer {alliance.token('p@producer.example')}"}
    outsider = {"Authorization": f"Bearer {alliance.token('o@outsider.example')}"}
    assert (
        client.post("/api/v1/objects", content=json.dumps(bundle([secret])), headers=producer).status_code
        == 201
    )

    probed = 0
    for method, path, _route in _routes(create_asgi(alliance.app)):
        if method != "GET" or (method, path) in PUBLIC_ROUTES:
            continue
        url = path.replace("{stix_id}", secret["id"]).replace("{object_id}", secret["id"])
        url = url.replace("{collection_id}", community_id(alliance.app.settings.node_name))
        url = url.replace("{status_id}", "00000000-0000-0000-0000-000000000000")
        for name in ("org_id", "group_id", "user_id", "token_id"):
            url = url.replace("{" + name + "}", "1")
        params = {"value": "198.51.100.66"} if "{" not in path else {}
        as_outsider = client.get(url, params=params, headers=outsider)
        probed += 1
        assert secret["id"] not in as_outsider.text or as_outsider.status_code == 404, (url, as_outsider.text)
        if "{stix_id}" in path or "{object_id}" in path:
            assert as_outsider.status_code == 404, url
            assert client.get(url, headers=producer).status_code == 200, url
    assert probed >= 8 + 9  # the JSON API's and the TAXII server's
    # The lookup (a POST read path) too.
    hits = client.post("/api/v1/lookup", json={"values": ["198.51.100.66"]}, headers=outsider).json()
    assert hits["results"][0]["matches"] == []
