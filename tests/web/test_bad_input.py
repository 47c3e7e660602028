"""Bad input gets a clear 4xx that says what and where, nothing is stored, nothing crashes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from stix_factory import bundle, indicator, ip_indicator, malware, relationship

from accord.db.schema import observable, stix_object
from accord.intel.tlp import TLP
from accord.web.api import create_asgi

pytestmark = pytest.mark.store


@pytest.fixture
def api(alliance: Any) -> dict[str, Any]:
    alliance.org("Bank", sector="business", country="BR")
    alliance.user("a@bank.example", "Bank")
    alliance.app.settings = type(alliance.app.settings)(
        **{**alliance.app.settings.__dict__, "max_body_bytes": 200_000}
    )
    client = TestClient(create_asgi(alliance.app), raise_server_exceptions=True)
    return {
        "client": client,
        "headers": {"Authorization": f"Bearer {alliance.token('a@bank.example')}"},
        "app": alliance.app,
    }


def stored(app: Any) -> tuple[int, int]:
    with app.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(stix_object)).scalar_one(),
            conn.execute(select(func.count()).select_from(observable)).scalar_one(),
        )


def submit(api: dict[str, Any], body: str | bytes, **params: Any) -> Any:
    return api["client"].post("/api/v1/objects", content=body, params=params, headers=api["headers"])


GOOD = ip_indicator("192.0.2.10", TLP.GREEN)

BAD_OBJECTS: list[tuple[str, dict[str, Any], str]] = [
    ("missing type", {k: v for k, v in GOOD.items() if k != "type"}, "type"),
    ("bad id", dict(GOOD, id="indicator--not-a-uuid"), "id"),
    ("id of another type", dict(GOOD, id="malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), "id"),
    ("bad timestamp", dict(GOOD, modified="2024-13-45T00:00:00Z"), "modified"),
    ("modified before created", dict(GOOD, modified="2020-01-01T00:00:00Z"), "modified"),
    ("wrong type for confidence", dict(GOOD, confidence="high"), "confidence"),
    ("invalid pattern", dict(GOOD, pattern="[ipv4-addr:value = '1.2.3.4'"), "pattern"),
    (
        "invalid SCO value",
        {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
            "value": "999.1.1.1",
        },
        "value",
    ),
    (
        "unknown TLP marking definition",
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": "marking-definition--11111111-2222-4333-8444-555555555555",
            "created": "2022-10-01T00:00:00.000Z",
            "definition_type": "tlp",
            "name": "TLP:ORANGE",
            "definition": {"tlp": "orange"},
        },
        "definition",
    ),
    ("bad refs", dict(GOOD, object_marking_refs=["not-a-ref"]), "object_marking_refs"),
    ("spec_version 2.0 in a 2.1 object", dict(GOOD, spec_version="2.0"), "spec_version"),
    (
        "relationship between relationships",
        relationship("relationship--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", GOOD["id"], TLP.GREEN),
        "source_ref",
    ),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD_OBJECTS, ids=[c[0] for c in BAD_OBJECTS])
def test_bad_object_refuses_the_whole_bundle(
    api: dict[str, Any], case: str, bad: dict[str, Any], field: str
) -> None:
    before = stored(api["app"])
    resp = submit(api, json.dumps(bundle([GOOD, ip_indicator("192.0.2.11"), bad])))
    assert resp.status_code == 422, (case, resp.text)
    problem = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == 422 and problem["detail"]
    where = problem["problems"][0]["where"]
    assert where.get("object") in (bad.get("id"), "#2"), (case, where)
    assert where.get("field") == field, (case, problem)
    assert stored(api["app"]) == before


MALFORMED = [
    (
        "truncated JSON",
        b'{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [{"type"',
    ),
    ("not JSON", b"hello"),
    ("invalid UTF-8", b'{"type":"bundle","objects":[{"type":"\xff"}]}'),
    ("a number", b"42"),
    (
        "objects not a list",
        b'{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":{}}',
    ),
    ("trailing garbage", json.dumps(bundle([GOOD])).encode() + b" }"),
    ("wrong top-level type", b'{"type":"report","objects":[]}'),
    ("empty body", b""),
]


@pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_bodies(api: dict[str, Any], case: str, body: bytes) -> None:
    before = stored(api["app"])
    resp = submit(api, body)
    assert 400 <= resp.status_code < 500, (case, resp.status_code, resp.text)
    assert resp.json()["detail"], case
    assert stored(api["app"]) == before


def test_malformed_json_names_line_and_column(api: dict[str, Any]) -> None:
    text = (
        '{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",\n'
        ' "objects": [\n {"a": 1,,}]}'
    )
    resp = submit(api, text)
    assert resp.status_code == 422
    where = resp.json()["where"]
    assert where["line"] == 3 and "column" in where


def test_oversize_body_is_413_and_stores_nothing(api: dict[str, Any]) -> None:
    before = stored(api["app"])
    big = bundle([ip_indicator(f"10.0.{i // 250}.{i % 250}") for i in range(2000)])
    resp = submit(api, json.dumps(big))
    assert resp.status_code == 413
    assert stored(api["app"]) == before


def test_duplicate_id_with_different_content(api: dict[str, Any]) -> None:
    first = malware("Casbaneiro", TLP.GREEN)
    assert submit(api, json.dumps(bundle([first]))).status_code == 201
    assert submit(api, json.dumps(bundle([first]))).json() == {
        "stored": 0,
        "unchanged": 1,
        "observables": 0,
        "overlaps": 0,
        "warninglisted": 0,
        "by_type": {},
    }
    before = stored(api["app"])
    changed = dict(first, description="same id and modified, different content")
    resp = submit(api, json.dumps(bundle([ip_indicator("192.0.2.50"), changed])))
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["where"]["object"] == first["id"]
    assert stored(api["app"]) == before
    # Two different objects under one id and modified inside one bundle.
    twin = malware("Twin", TLP.GREEN)
    resp = submit(api, json.dumps(bundle([twin, dict(twin, name="Other")])))
    assert resp.status_code == 422
    assert stored(api["app"]) == before


def test_revoked_object_takes_no_newer_version(api: dict[str, Any]) -> None:
    m = malware("Javali", TLP.GREEN)
    revoked = dict(m, modified="2024-06-01T00:00:00.000Z", revoked=True)
    assert submit(api, json.dumps(bundle([m, revoked]))).status_code == 201
    later = dict(m, modified="2024-07-01T00:00:00.000Z")
    resp = submit(api, json.dumps(bundle([later])))
    assert resp.status_code == 422 and "revoked" in resp.json()["detail"]


INJECTIONS = [
    "' OR 1=1 --",
    "green; DROP TABLE stix_object",
    "indicator\x00",
    "../../etc/passwd",
    "%27%20OR%201%3D1",
    "a" * 5000,
]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_in_filters_is_harmless(api: dict[str, Any], evil: str) -> None:
    assert submit(api, json.dumps(bundle([GOOD]))).status_code == 201
    client, headers = api["client"], api["headers"]
    for name in (
        "type",
        "tlp",
        "added_after",
        "modified_from",
        "producer",
        "value",
        "cursor",
        "limit",
        "revoked",
    ):
        resp = client.get("/api/v1/objects", params={name: evil}, headers=headers)
        assert resp.status_code in (200, 404, 422), (name, resp.status_code, resp.text)
        if resp.status_code == 200:
            assert resp.json()["items"] == [], name
    resp = client.get("/api/v1/objects/" + quote(evil, safe=""), headers=headers)
    assert resp.status_code in (404, 422)
    assert stored(api["app"])[0] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"tlp": "purple"},
        {"share_with": "org:Nobody"},
        {"share_with": "planet:mars"},
        {"share_with": "group:none"},
    ],
)
def test_bad_submission_parameters(api: dict[str, Any], params: dict[str, str]) -> None:
    resp = submit(api, json.dumps(bundle([GOOD])), **params)
    assert resp.status_code in (404, 422), resp.text
    assert stored(api["app"]) == (0, 0)


def test_lookup_rejects_oversize_and_wrong_types(api: dict[str, Any]) -> None:
    client, headers = api["client"], api["headers"]
    assert client.post("/api/v1/lookup", json={"values": "1.2.3.4"}, headers=headers).status_code == 422
    assert client.post("/api/v1/lookup", json={"values": ["x"] * 10001}, headers=headers).status_code == 422
    assert client.post("/api/v1/lookup", content=b"{", headers=headers).status_code == 422
    ok = client.post("/api/v1/lookup", json={"values": ["not an observable at all", ""]}, headers=headers)
    assert ok.status_code == 200
    assert [r["matches"] for r in ok.json()["results"]] == [[], []]


def test_invalid_value_in_a_valid_pattern_is_stored_not_indexed_and_reported(api: dict[str, Any]) -> None:
    """The OASIS APT1 example has `[domain-name:value = 'domain autuo.xicp.net']`: the pattern is
    well-formed STIX, the value is not a domain. Keep the object, index nothing false, say so."""
    odd = dict(
        GOOD,
        id="indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40",
        pattern="[ipv4-addr:value = '999.1.1.1'] OR [ipv4-addr:value = '192.0.2.33']",
    )
    resp = submit(api, json.dumps(bundle([odd])))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["stored"] == 1 and body["observables"] == 1 and body["not_indexed"] == 1
    assert body["warnings"][0]["object"] == odd["id"] and "'999.1.1.1'" in body["warnings"][0]["detail"]


def test_indicator_without_pattern_type_stix_is_stored_without_values(api: dict[str, Any]) -> None:
    sigma = indicator("title: x\ndetection: y", TLP.GREEN, pattern_type="sigma")
    resp = submit(api, json.dumps(bundle([sigma])))
    assert resp.status_code == 201 and resp.json()["observables"] == 0
