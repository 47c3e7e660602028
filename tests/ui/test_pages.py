"""The web UI through FastAPI's test client, on the database under test: sessions, headers, CSRF,
one handler for HTML and JSON, 404 for what the viewer may not see, search, upload, languages."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from stix_factory import bundle, indicator, malware
from ui_helpers import PASSWORD, World, build_world, csrf_of, log_in

from accord.db.schema import api_token, user
from accord.intel.tlp import TLP
from accord.ui.security import CSP, csrf_protect, safe_next
from accord.web.api import create_asgi

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> World:
    return build_world(alliance)


class Links(HTMLParser):
    """Every href/src/action of a page, and every tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("href", "src", "action") and v is not None]
        if tag == "script" and "src" not in found:
            self.inline_scripts += 1
        assert not any(k.startswith("on") for k, _ in attrs), f"event handler attribute on <{tag}>"
        assert "style" not in found, f"inline style on <{tag}>"


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


# --- the frame: headers, sessions, languages -------------------------------------------------------


def test_security_headers_on_every_ui_response(world: World) -> None:
    client = world.client()
    answers = [
        client.get("/", follow_redirects=False),
        client.get("/ui/search", follow_redirects=False),  # redirect to log in
        client.get("/ui/login"),
        client.get("/ui/static/accord.css"),
        client.get("/ui/no-such-page"),
    ]
    log_in(client, "ana@bank.example")
    answers += [client.get("/ui/search"), client.get("/ui/search?format=json")]
    for answer in answers:
        h = answer.headers
        assert h["content-security-policy"] == CSP, answer.url
        assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "same-origin"
    assert answers[2].headers["cache-control"] == "no-store"  # intelligence pages are not cached
    for page in (answers[2], answers[5]):
        links = parse(page.text)
        assert links.inline_scripts == 0


def test_log_in_sets_a_strict_cookie_and_log_out_revokes_the_token(world: World) -> None:
    client = world.client()
    assert log_in(client, "ana@bank.example", "wrong password!").status_code == 401
    answer = log_in(client, "ana@bank.example")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/search"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/ui" in cookie
    assert "secure" not in cookie  # plain HTTP here; over TLS it is Secure
    page = client.get("/ui/search")
    assert page.status_code == 200 and "ana@bank.example" in page.text
    token = client.cookies.get("accord_session")
    assert token
    # The session cookie is read for /ui/ only: the API wants a bearer token.
    assert client.get("/api/v1/me").status_code == 401

    assert (
        client.post("/ui/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code
        == 303
    )
    with world.app.db.read() as conn:
        revoked = conn.execute(
            select(api_token.c.revoked_us).where(api_token.c.prefix == token.split("_")[1])
        )
        assert revoked.scalar() is not None
    client.cookies.set("accord_session", token, path="/ui")  # a stolen copy of the old cookie is useless
    again = client.get("/ui/search", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")


def test_a_secure_cookie_over_tls(world: World) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_asgi(world.app), base_url="https://testserver")
    assert "secure" in log_in(client, "ana@bank.example").headers["set-cookie"].lower()


def test_switching_organisation_changes_what_is_visible(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    police_id = world.objects["police"]["id"]
    assert client.get(f"/ui/objects/{police_id}").status_code == 404
    page = client.get("/ui/search")
    switched = client.post(
        "/ui/org",
        data={"org_id": world.alliance.orgs["Police PL"], "csrf": csrf_of(page.text), "next": "/ui/search"},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert client.get(f"/ui/objects/{police_id}").status_code == 200
    assert client.get(f"/ui/objects/{world.objects['amber']['id']}").status_code == 404  # the bank's AMBER
    page = client.get("/ui/search")
    # Not a member of CERT FR: as if it did not exist.
    refused = client.post(
        "/ui/org",
        data={"org_id": world.alliance.orgs["CERT FR"], "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 404


def test_language_from_the_browser_then_from_the_user(world: World) -> None:
    client = world.client()
    cases = {"fr-CA,fr;q=0.8": ("fr", "ltr"), "zh-CN,zh;q=0.9": ("zh-Hans", "ltr"), "ar-EG": ("ar", "rtl")}
    for accept, (tag, direction) in cases.items():
        page = client.get("/ui/login", headers={"accept-language": accept})
        assert f'<html lang="{tag}" dir="{direction}">' in page.text
    assert (
        '<html lang="en" dir="ltr">' in client.get("/ui/login", headers={"accept-language": "zh-TW, xx"}).text
    )

    log_in(client, "ana@bank.example")
    page = client.get("/ui/search", headers={"accept-language": "ru"})
    assert '<html lang="en"' in page.text  # the user's own language (en) wins over the browser's
    picked = client.post(
        "/ui/language",
        data={"lang": "ar", "csrf": csrf_of(page.text), "next": "/ui/search"},
        follow_redirects=False,
    )
    assert picked.status_code == 303 and picked.headers["location"] == "/ui/search"
    assert '<html lang="ar" dir="rtl">' in client.get("/ui/search").text
    with world.app.db.read() as conn:
        stored = conn.execute(select(user.c.language).where(user.c.email == "ana@bank.example")).scalar()
    assert stored == "ar"
    other = world.client()  # another browser: remembered on the user
    log_in(other, "ana@bank.example")
    assert '<html lang="ar" dir="rtl">' in other.get("/ui/search").text
    bad = client.post("/ui/language", data={"lang": "xx", "csrf": csrf_of(page.text)})
    assert bad.status_code == 422


def test_a_language_picked_before_log_in_is_remembered(world: World) -> None:
    client = world.client()
    form = client.get("/ui/login")
    client.post("/ui/language", data={"lang": "zh_Hans", "csrf": csrf_of(form.text), "next": "/ui/login"})
    assert '<html lang="zh-Hans"' in client.get("/ui/login").text
    log_in(client, "jan@police.example")
    with world.app.db.read() as conn:
        assert (
            conn.execute(select(user.c.language).where(user.c.email == "jan@police.example")).scalar() == "zh"
        )


def test_dates_are_localised(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    page = client.get("/ui/search")
    amber = world.objects["amber"]["id"]
    for lang, created in (
        ("fr", "1 mai 2024"),
        ("zh_Hans", "2024年5月1日"),
        ("ar", "01\u200f/05\u200f/2024"),
        ("en", "May 1, 2024"),
    ):
        client.post("/ui/language", data={"lang": lang, "csrf": csrf_of(page.text)})
        page = client.get(f"/ui/objects/{amber}")
        assert f'<time datetime="2024-05-01T10:00:00.000Z">{created}' in page.text, lang


# --- CSRF and redirects ----------------------------------------------------------------------------


def test_every_state_changing_ui_route_checks_the_anti_forgery_token(world: World) -> None:
    checked = 0
    for path, route in _flatten(create_asgi(world.app).routes):
        if not isinstance(route, APIRoute) or not path.startswith("/ui"):
            continue
        if route.methods - {"GET", "HEAD"}:
            calls = {d.call for d in route.dependant.dependencies}
            assert csrf_protect in calls, path
            checked += 1
    assert checked >= 6


def _flatten(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, route) for every route, inside included routers too (as test_routes_meta does)."""
    out: list[tuple[str, Any]] = []
    for route in routes:
        if hasattr(route, "original_router"):
            out += _flatten(
                route.original_router.routes, prefix + getattr(route.include_context, "prefix", "")
            )
        else:
            out.append((prefix + route.path, route))
    return out


def test_csrf_is_refused_without_the_token(world: World) -> None:
    client = world.client()
    # Log-in itself needs the token of the pre-session (no login CSRF).
    refused = client.post("/ui/login", data={"email": "ana@bank.example", "password": PASSWORD})
    assert refused.status_code == 403
    log_in(client, "ana@bank.example")
    page = client.get("/ui/lookup")
    token = csrf_of(page.text)
    for data in ({"values": "198.51.100.7"}, {"values": "198.51.100.7", "csrf": "0" * 64}):
        assert client.post("/ui/lookup", data=data).status_code == 403
    # A token from another session is worthless here.
    other = world.client()
    log_in(other, "jan@police.example")
    theirs = csrf_of(other.get("/ui/lookup").text)
    assert client.post("/ui/lookup", data={"values": "x.example", "csrf": theirs}).status_code == 403
    assert client.post("/ui/lookup", data={"values": "x.example", "csrf": token}).status_code == 200
    assert (
        client.post("/ui/lookup", data={"values": "x.example"}, headers={"x-csrf-token": token}).status_code
        == 200
    )
    # Log-out without the token does nothing.
    assert client.post("/ui/logout", follow_redirects=False).status_code == 403
    assert client.get("/ui/search").status_code == 200


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/ui/", "/\\evil.example", "javascript:alert(1)", "/api/v1/me",
     "/ui/\\\\evil", " /ui/search", "/ui/search\r\nSet-Cookie: x=1", "http:/ui/search"],
)  # fmt: skip
def test_no_open_redirect(world: World, target: str) -> None:
    client = world.client()
    form = client.get("/ui/login")
    answer = client.post(
        "/ui/login",
        data={"email": "ana@bank.example", "password": PASSWORD, "csrf": csrf_of(form.text), "next": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    assert safe_next(target) == "/ui/"


def test_a_local_next_is_followed(world: World) -> None:
    client = world.client()
    bounced = client.get("/ui/lookup?x=1", follow_redirects=False)
    assert bounced.headers["location"] == "/ui/login?next=%2Fui%2Flookup%3Fx%3D1"
    form = client.get(bounced.headers["location"])
    answer = client.post(
        "/ui/login",
        data={
            "email": "ana@bank.example",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "/ui/lookup?x=1",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/ui/lookup?x=1"


# --- one handler, HTML and JSON; the policy decides -------------------------------------------------


def test_pages_answer_json_from_the_same_handler(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    token = world.alliance.token("ana@bank.example")
    api = {"Authorization": f"Bearer {token}"}
    amber = world.objects["amber"]["id"]

    ui_list = client.get("/ui/search", params={"type": "indicator", "format": "json"}).json()
    api_list = client.get("/api/v1/objects", params={"type": "indicator"}, headers=api).json()
    assert ui_list["items"] == api_list["items"] and ui_list["next"] == api_list["next"]

    ui_obj = client.get(f"/ui/objects/{amber}", headers={"accept": "application/json"}).json()
    assert ui_obj["object"] == client.get(f"/api/v1/objects/{amber}", headers=api).json()
    assert (
        ui_obj["versions"] == client.get(f"/api/v1/objects/{amber}?version=all", headers=api).json()["items"]
    )
    assert ui_obj["related"] == client.get(f"/api/v1/objects/{amber}/related", headers=api).json()
    assert (
        ui_obj["score"]["score"] == client.get(f"/api/v1/objects/{amber}/score", headers=api).json()["score"]
    )
    assert [r["object"]["id"] for r in ui_obj["relationships"]] == [world.objects["link"]["id"]]

    csrf = csrf_of(client.get("/ui/lookup").text)
    ui_lookup = client.post(
        "/ui/lookup",
        data={"values": "198.51.100.7 evil.example", "csrf": csrf},
        headers={"accept": "application/json"},
    ).json()
    api_lookup = client.post(
        "/api/v1/lookup", json={"values": ["198.51.100.7", "evil.example"]}, headers=api
    ).json()
    assert ui_lookup == api_lookup

    # The HTML shows the same things.
    html = client.get(f"/ui/objects/{amber}").text
    assert "Bank C2 server" in html and "Grandoreiro" in html and "198.51.100.7" in html


def test_what_the_viewer_may_not_see_is_a_404_page(world: World) -> None:
    client = world.client()
    log_in(client, "eve@cert.example")
    amber = world.objects["amber"]["id"]
    never = "indicator--00000000-0000-4000-8000-000000000000"
    hidden, absent = client.get(f"/ui/objects/{amber}"), client.get(f"/ui/objects/{never}")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.text.count(amber) == hidden.text.count(f"/ui/objects/{amber}")  # only the address asked for
    assert hidden.text.replace(amber, never) == absent.text.replace(amber, never)
    as_json = client.get(f"/ui/objects/{amber}?format=json")
    assert as_json.status_code == 404 and as_json.headers["content-type"].startswith(
        "application/problem+json"
    )
    found = client.get("/ui/search", params={"q": "198.51.100.7", "format": "json"}).json()
    assert found["items"] == []
    assert (
        client.get("/ui/search", params={"q": "Scanner", "format": "json"}).json()["items"][0]["tlp"]
        == "green"
    )
    # Another organisation's job is as absent as its objects.
    ana = world.client()
    log_in(ana, "ana@bank.example")
    job = _upload(ana, b"evil.example\n", "list.txt")
    assert ana.get(f"/ui/imports/{job}").status_code == 200
    assert client.get(f"/ui/imports/{job}").status_code == 404


def test_search_filters_free_text_and_paging(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")

    def ids(**params: Any) -> list[str]:
        return [
            i["object"]["id"]
            for i in client.get("/ui/search", params={**params, "format": "json"}).json()["items"]
        ]

    o = world.objects
    assert ids(q="grandoreiro") == [o["family"]["id"]]  # a name, any case
    assert ids(q="aimed at brazil") == [o["family"]["id"]]  # a description
    assert ids(q="198.51.100.7") == [o["amber"]["id"]]  # a value
    assert ids(q="100%") == [] and ids(q="_") == []  # LIKE wildcards are literal
    assert set(ids(type="indicator")) == {o["amber"]["id"], o["green"]["id"]}
    assert ids(tlp="green") == [o["green"]["id"]]
    assert set(ids(producer=str(world.alliance.orgs["Bank BR"]))) == {
        o[k]["id"] for k in ("amber", "green", "family", "link")
    }
    assert ids(since="2999-01-01") == []
    assert len(ids(since="2000-01-01")) == 4
    assert client.get("/ui/search", params={"since": "yesterday"}).status_code == 422

    seen: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/ui/search", params={"limit": 1, "format": "json", **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [i["object"]["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4
    html = client.get("/ui/search", params={"limit": 1}).text
    assert "cursor=" in html  # the next page's link


# --- hostile strings -------------------------------------------------------------------------------

HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload=alert(1)>'


def test_hostile_strings_from_members_and_peers_are_shown_escaped(world: World) -> None:
    evil = malware(
        HOSTILE,
        TLP.GREEN,
        description=f"</p>{HOSTILE}<a href='javascript:alert(1)'>x</a>",
        labels=[HOSTILE, "\u202eevil-rtl-override"],
        external_references=[
            {"source_name": HOSTILE, "url": "javascript:alert(document.cookie)"},
            {"source_name": "data", "url": "data:text/html,<script>alert(1)</script>"},
            {"source_name": "ok", "url": "https://example.org/report"},
        ],
    )
    pattern = indicator(
        "[domain-name:value = 'x.example']", TLP.GREEN, name=f'"><svg/onload=alert(1)>{HOSTILE}'
    )
    world.submit("jan@police.example", [evil, pattern])
    client = world.client()
    log_in(client, "ana@bank.example")
    pages = [
        client.get(f"/ui/objects/{evil['id']}"),
        client.get(f"/ui/objects/{pattern['id']}"),
        client.get("/ui/search", params={"q": "x"}),
        client.get("/ui/search", params={"q": HOSTILE}),
    ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>window" not in page.text and "<img src=x" not in page.text and "<svg" not in page.text
        links = parse(page.text)
        assert links.inline_scripts == 0
        assert "img" not in links.tags and "svg" not in links.tags
        for u in links.urls:
            assert u.startswith(("/", "#", "https://", "http://")), u
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in pages[0].text
    assert 'href="https://example.org/report"' in pages[0].text


# --- check values and upload -----------------------------------------------------------------------


def _upload(client: Any, content: bytes, name: str, **fields: str) -> int:
    form = client.get("/ui/imports")
    answer = client.post(
        "/ui/imports",
        data={"csrf": csrf_of(form.text), **fields},
        files={"file": (name, content)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def test_upload_runs_the_import_and_shows_its_report(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    job = _upload(
        client,
        b"# a list\nhxxp://evil[.]example/login\n198.51.100.7\nnot-a-value here\n",
        "iocs.txt",
        tlp="green",
    )
    report = client.get(f"/ui/imports/{job}?format=json").json()["job"]
    assert report["status"] == "done"
    assert report["report"]["taken"]["stored"] == 2 and report["report"]["skipped"]["count"] == 1
    assert report["report"]["taken"]["overlaps"] >= 1  # 198.51.100.7 was known already
    html = client.get(f"/ui/imports/{job}").text
    assert "data-poll" not in html and "line 4" in html
    # Same source again: nothing new.
    again = _upload(client, b"# a list\nhxxp://evil[.]example/login\n198.51.100.7\n", "iocs.txt", tlp="green")
    assert client.get(f"/ui/imports/{again}?format=json").json()["job"]["report"]["taken"]["stored"] == 0

    bad = bundle([{"type": "indicator", "id": "indicator--nope"}])
    refused = _upload(client, json.dumps(bad).encode(), "bad.json")
    job_json = client.get(f"/ui/imports/{refused}?format=json").json()["job"]
    assert job_json["status"] == "failed" and job_json["report"]["refused"]
    assert "Refused: nothing was stored" in client.get(f"/ui/imports/{refused}").text

    form = client.get("/ui/imports")
    for fields, files in (
        ({"tlp": "purple"}, {"file": ("a.txt", b"evil.example\n")}),
        ({"format": "docx"}, {"file": ("a.txt", b"evil.example\n")}),
        ({"share_with": "planet:Mars"}, {"file": ("a.txt", b"evil.example\n")}),
        ({}, {"file": ("empty.txt", b"")}),
    ):
        answer = client.post("/ui/imports", data={"csrf": csrf_of(form.text), **fields}, files=files)
        assert answer.status_code == 422 and 'role="alert"' in answer.text, fields


def test_readers_may_not_upload(world: World) -> None:
    client = world.client()
    log_in(client, "eve@cert.example")
    assert client.get("/ui/imports").status_code == 403
    assert "/ui/imports" not in client.get("/ui/search").text  # not offered in the navigation


def test_check_values_box(world: World) -> None:
    client = world.client()
    log_in(client, "jan@police.example")
    form = client.get("/ui/lookup")
    answer = client.post(
        "/ui/lookup",
        data={"values": "203.0.113.5, 198.51.100.7\nsub.evil.example", "csrf": csrf_of(form.text)},
    )
    assert answer.status_code == 200
    assert "Scanner seen by the bank" not in answer.text  # names are not shown: ids and values
    results = client.post(
        "/ui/lookup",
        data={"values": "203.0.113.5 198.51.100.7", "csrf": csrf_of(form.text)},
        headers={"accept": "application/json"},
    ).json()["results"]
    assert [len(r["matches"]) for r in results] == [1, 0]  # GREEN seen, the bank's AMBER not
    empty = client.post("/ui/lookup", data={"values": " ", "csrf": csrf_of(form.text)})
    assert empty.status_code == 422


def test_static_files_and_nothing_else(world: World) -> None:
    client = world.client()
    css = client.get("/ui/static/accord.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/accord.js").headers["content-type"].startswith("text/javascript")
    for path in (
        "../render.py",
        "..%2Frender.py",
        "%2e%2e/render.py",
        ".hidden.css",
        "nope.css",
        "accord.py",
    ):
        assert client.get(f"/ui/static/{path}").status_code == 404, path
