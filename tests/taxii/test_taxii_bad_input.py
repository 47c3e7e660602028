"""Malformed TAXII requests get the spec's status codes with a TAXII error resource saying what was
wrong and where; a refused POST stores nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from stix_factory import indicator, ip_indicator, malware

from accord.db.schema import observable, stix_object, taxii_status
from accord.intel.query import encode_cursor
from accord.intel.tlp import TLP
from accord.taxii.collections import ORG, collection_id, community_id
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

TAXII = "application/taxii+json;version=2.1"
COMMUNITY = community_id("accord")
ROOT = "/taxii2/api/"


class Api:
    def __init__(self, alliance: Any) -> None:
        self.alliance = alliance
        self.app = alliance.app
        self.client = TestClient(create_asgi(self.app))
        self.tokens = {email: alliance.token(email) for email in alliance.users}

    def headers(self, email: str = "a@a.example", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}", "Accept": TAXII, **extra}

    def org_collection(self, name: str) -> str:
        return collection_id("accord", ORG, str(self.alliance.orgs[name]))

    def post(self, body: str | bytes, collection: str | None = None, **headers: str) -> Any:
        url = f"{ROOT}collections/{collection or self.org_collection('CERT-A')}/objects/"
        return self.client.post(
            url, content=body, headers={**self.headers(), "Content-Type": TAXII, **headers}
        )

    def stored(self) -> tuple[int, int, int]:
        with self.app.db.read() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (stix_object, observable, taxii_status)
            )


@pytest.fixture
def api(alliance: Any) -> Api:
    alliance.org("CERT-A", country="PL")
    alliance.org("CERT-B", country="DE")
    alliance.user("a@a.example", "CERT-A")
    alliance.user("r@a.example", "CERT-A", role="reader")
    alliance.user("b@b.example", "CERT-B")
    alliance.app.settings = replace(alliance.app.settings, max_body_bytes=20_000)
    return Api(alliance)


def taxii_error(response: Any, status: int) -> dict[str, Any]:
    """The response is a TAXII 2.1 error resource with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status)
    assert body["title"] and body["description"]
    return body


OBJECTS = f"{ROOT}collections/{COMMUNITY}/objects/"
BAD_PARAMETERS = [
    ("match[version]", "yesterday", "first, last, all or a timestamp"),
    ("match[version]", "last,", "empty value"),
    ("added_after", "2024-13-01T00:00:00Z", "month 13"),
    ("added_after", "2024-05-01 10:00:00", "not a timestamp"),
    ("next", "not-a-token", "not a token this server issued"),
    ("limit", "0", "positive whole number"),
    ("limit", "ten", "positive whole number"),
    ("limit", "-3", "positive whole number"),
    ("match[type]", "Indicator", "not a STIX type"),
    ("match[id]", "indicator--nope", "match[id]"),
    ("match[spec_version]", "two", "not a STIX version"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD_PARAMETERS)
@pytest.mark.parametrize("endpoint", ["objects/", "manifest/"])
def test_bad_filters_limits_and_next_are_400(
    api: Api, endpoint: str, name: str, value: str, says: str
) -> None:
    url = f"{ROOT}collections/{COMMUNITY}/{endpoint}"
    body = taxii_error(api.client.get(url, params={name: value}, headers=api.headers()), 400)
    assert says in body["description"]
    assert body["details"]["parameter"] == name


def test_bad_parameters_on_single_objects_versions_and_deletions_are_400(api: Api) -> None:
    one = ip_indicator("192.0.2.1", TLP.GREEN)
    assert api.post(json.dumps({"objects": [one]})).status_code == 202
    base = f"{OBJECTS}{one['id']}/"
    for url, params in [
        (base, {"match[version]": "2024"}),
        (base + "versions/", {"added_after": "soon"}),
        (base + "versions/", {"next": "Zm9v"}),
        (f"{ROOT}x-accord/deletions/", {"limit": "many"}),
    ]:
        taxii_error(api.client.get(url, params=params, headers=api.headers()), 400)
    # A next token from another page still only positions the page: it never widens what is seen.
    token = encode_cursor(0, 0)
    page = api.client.get(OBJECTS, params={"next": token}, headers=api.headers("b@b.example"))
    assert page.status_code == 200 and [o["id"] for o in page.json()["objects"]] == [one["id"]]


def test_unauthenticated_is_401_with_a_taxii_error(api: Api) -> None:
    for headers in ({"Accept": TAXII}, {"Accept": TAXII, "Authorization": "Bearer acc_000000000000_wrong"}):
        for url in ("/taxii2/", ROOT, OBJECTS):
            response = api.client.get(url, headers=headers)
            taxii_error(response, 401)
            assert "Basic" in response.headers["www-authenticate"]
    # HTTP Basic with the token as the password (what TAXII tools speak) works.
    response = api.client.get(
        ROOT, auth=("a@a.example", api.tokens["a@a.example"]), headers={"Accept": TAXII}
    )
    assert response.status_code == 200


def test_what_does_not_exist_or_is_hidden_is_404(api: Api) -> None:
    secret = ip_indicator("192.0.2.2", TLP.AMBER)
    assert api.post(json.dumps({"objects": [secret]})).status_code == 202
    as_b = api.headers("b@b.example")
    for url in (
        f"{ROOT}collections/00000000-0000-0000-0000-000000000000/",
        f"{ROOT}collections/00000000-0000-0000-0000-000000000000/objects/",
        f"{OBJECTS}{secret['id']}/",
        f"{OBJECTS}{secret['id']}/versions/",
        f"{ROOT}collections/{api.org_collection('CERT-A')}/objects/{secret['id']}/",
        f"{ROOT}status/00000000-0000-0000-0000-000000000000/",
        f"{ROOT}no-such-thing/",
    ):
        taxii_error(api.client.get(url, headers=as_b), 404)
    taxii_error(api.client.delete(f"{OBJECTS}{secret['id']}/", headers=as_b), 404)
    taxii_error(api.client.put(OBJECTS, headers=as_b), 405)


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/json", "application/taxii+json;version=2.0", "application/taxii+json;q=0"],
)
def test_an_accept_header_we_cannot_serve_is_406(api: Api, accept: str) -> None:
    body = taxii_error(api.client.get(OBJECTS, headers=api.headers(Accept=accept)), 406)
    assert body["details"] == {"header": "Accept"}
    taxii_error(api.post(json.dumps({"objects": [ip_indicator("192.0.2.3")]}), Accept=accept), 406)
    assert api.stored() == (0, 0, 0)


@pytest.mark.parametrize(
    "accept",
    [
        TAXII,
        "application/taxii+json",
        "application/stix+json;version=2.1",
        "application/stix+json",
        "*/*",
        "application/*",
        "text/html, application/taxii+json; version=2.1",
        "",
    ],
)
def test_the_taxii_and_stix_media_types_with_or_without_version_are_accepted(api: Api, accept: str) -> None:
    response = api.client.get(OBJECTS, headers=api.headers(Accept=accept))
    assert response.status_code == 200 and response.headers["content-type"] == TAXII
    assert response.json() == {"more": False}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "application/taxii+json;version=2.0", "application/xml", ""],
)
def test_a_post_that_is_not_taxii_or_stix_json_is_415(api: Api, content_type: str) -> None:
    body = json.dumps({"objects": [ip_indicator("192.0.2.4")]})
    response = taxii_error(api.post(body, **{"Content-Type": content_type}), 415)
    assert response["details"] == {"header": "Content-Type"}
    assert api.stored() == (0, 0, 0)
    ok = api.post(body, **{"Content-Type": "application/stix+json"})
    assert ok.status_code == 202


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(api: Api) -> None:
    many = [ip_indicator(f"192.0.2.{i}", TLP.GREEN) for i in range(1, 100)]
    body = json.dumps({"objects": many})
    assert len(body) > 20_000
    taxii_error(api.post(body), 413)

    def chunks() -> Any:  # no Content-Length: counted while streaming
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096].encode()

    taxii_error(api.post(chunks()), 413)  # type: ignore[arg-type]
    assert api.stored() == (0, 0, 0)


def test_invalid_objects_are_422_naming_each_object_and_field_and_nothing_is_stored(api: Api) -> None:
    good = ip_indicator("192.0.2.5", TLP.GREEN)
    bad_pattern = indicator("[ipv4-addr:value = '192.0.2.6'", TLP.GREEN)
    bad_time = malware("Loader", TLP.GREEN, modified="2024-02-30T00:00:00Z")
    no_type = {k: v for k, v in ip_indicator("192.0.2.7").items() if k != "type"}
    body = taxii_error(api.post(json.dumps({"objects": [good, bad_pattern, bad_time, no_type]})), 422)
    problems = body["details"]["problems"]
    assert [(p["object"], p["field"]) for p in problems] == [
        (bad_pattern["id"], "pattern"),
        (bad_time["id"], "modified"),
        ("#3", "type"),
    ]
    assert "February" in problems[1]["detail"]
    assert api.stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"not json", "TAXII envelope"),
        (b"[]", "TAXII envelope"),
        (b'{"objects": {"type": "indicator"}}', "must be an array"),
        (b'{"objects": [1]}', "not a JSON object"),
        (b'{"objects": []} trailing', "after the envelope"),
        (b'{"objects": [], "objects": []}', "two 'objects'"),
        (b'{"objects": [{"type": "indicator"', "malformed JSON"),
    ],
)
def test_a_body_that_is_no_envelope_is_400(api: Api, body: bytes, says: str) -> None:
    error = taxii_error(api.post(body), 400)
    assert says in error["description"]
    assert api.stored() == (0, 0, 0)


def test_an_empty_envelope_is_accepted_with_nothing_to_report(api: Api) -> None:
    response = api.post(b'{"more": false}')
    assert response.status_code == 202
    assert response.json()["total_count"] == 0


def test_collections_one_may_not_write_are_403(api: Api) -> None:
    body = json.dumps({"objects": [ip_indicator("192.0.2.8")]})
    taxii_error(api.post(body, collection=COMMUNITY), 403)
    taxii_error(api.post(body, collection=api.org_collection("CERT-B")), 403)
    taxii_error(api.post(body, Authorization=f"Bearer {api.tokens['r@a.example']}"), 403)
    assert api.stored() == (0, 0, 0)


def test_the_public_feed_serves_clear_only_read_only(alliance: Any, make_accord: Any) -> None:
    alliance = type(alliance)(make_accord(public_feed=True))  # the same builder, on a public-feed node
    alliance.org("CERT-A")
    alliance.user("a@a.example", "CERT-A")
    api = Api(alliance)
    clear, green = ip_indicator("192.0.2.9", TLP.CLEAR), ip_indicator("192.0.2.10", TLP.GREEN)
    assert api.post(json.dumps({"objects": [clear, green]})).status_code == 202
    anonymous = TestClient(create_asgi(alliance.app))
    collections = anonymous.get(f"{ROOT}collections/", headers={"Accept": TAXII}).json()["collections"]
    assert [(c["alias"], c["can_write"]) for c in collections] == [("community", False)]
    page = anonymous.get(OBJECTS, headers={"Accept": TAXII}).json()
    assert [o["id"] for o in page["objects"]] == [clear["id"]]
    refused = anonymous.post(
        OBJECTS,
        content=json.dumps({"objects": [ip_indicator("192.0.2.11")]}),
        headers={"Content-Type": TAXII},
    )
    taxii_error(refused, 403)
