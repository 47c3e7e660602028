"""The country view in the UI through FastAPI's test client: the ranking (/ui/countries) and a
country's page (/ui/countries/{cc}), each counting only what the viewer may see, as HTML (in the
viewer's language, right to left in Arabic) and as the same data in JSON."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from babel.dates import format_date
from country_helpers import NASK, PL_HIDDEN, PL_NASK, build_country_world
from stix_factory import ip_indicator
from ui_helpers import PASSWORD, World, csrf_of, log_in

from accord.intel.tlp import TLP
from accord.ui.i18n import Languages

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> World:
    return build_country_world(alliance)


def _client(world: World, email: str) -> Any:
    client = world.client()
    log_in(client, email)
    return client


def _json(client: Any, path: str, **params: Any) -> Any:
    answer = client.get(path, params={**params, "format": "json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _arabic(client: Any, path: str) -> str:
    page = client.get(path)
    client.post("/ui/language", data={"lang": "ar", "csrf": csrf_of(page.text), "next": path})
    return str(client.get(path).text)


def test_the_ranking_counts_only_what_the_viewer_may_see(world: World) -> None:
    police, cert, bank = (
        _client(world, e) for e in ("jan@police.example", "eve@cert.example", "ana@bank.example")
    )
    seen = {who: _json(c, "/ui/countries") for who, c in (("police", police), ("cert", cert), ("bank", bank))}
    # The JSON twin is the façade's ranking for that viewer (what /api/v1/countries answers).
    jan = world.alliance.viewer("jan@police.example")
    assert seen["police"] == {"days": 30, "countries": world.app.country_ranking(jan, days=30)}
    pl = {who: {r["country"]: r for r in data["countries"]}["PL"] for who, data in seen.items()}
    assert pl["police"]["ipv4"] == 3 and pl["cert"]["ipv4"] == 2 and pl["bank"]["ipv4"] == 2
    assert pl["police"]["per_million"] > pl["cert"]["per_million"] > 0
    assert pl["police"]["ipv4_space"] == pl["cert"]["ipv4_space"] > 0
    assert [r["country"] for r in seen["police"]["countries"]] == ["PL"]
    assert {r["country"] for r in seen["bank"]["countries"]} == {"PL", "BR"}  # only the bank sees BR

    html = police.get("/ui/countries").text
    assert 'href="/ui/countries" aria-current="page"' in html  # the navigation marks the page
    assert '<a href="/ui/countries/PL?days=30">Poland</a>' in html
    row = re.search(r'<a href="/ui/countries/PL\?days=30">.*?</tr>', html, re.S)
    assert row and re.findall(r'<td class="num">([^<]*)</td>', row.group(0))[:4] == ["3", "0", "0", "0"]
    assert 'href="/ui/countries/BR' not in html
    # The map colours Poland by its rate, titled in words.
    per_million = f"{pl['police']['per_million']:g}"
    assert re.search(
        rf'class="map-5"><title>Poland: {re.escape(per_million)} per million IPv4 addresses</title>', html
    )
    assert "<script>" not in html and " style=" not in html
    assert 'href="/ui/countries/BR?days=30"' in bank.get("/ui/countries").text
    cert_html = cert.get("/ui/countries?days=7").text
    assert re.search(r'<option value="7" selected>', cert_html)
    assert re.search(r'<a href="/ui/countries/PL\?days=7">Poland</a>', cert_html)


def test_a_country_page_counts_only_what_the_viewer_may_see(world: World) -> None:
    police, cert = _client(world, "jan@police.example"), _client(world, "eve@cert.example")
    mine = _json(police, "/ui/countries/PL")
    theirs = _json(cert, "/ui/countries/pl")  # any case
    jan = world.alliance.viewer("jan@police.example")
    assert mine == world.app.country_view(jan, "PL", days=30)  # what /api/v1/countries/PL answers
    assert (mine["country"], mine["abused"], mine["by_kind"]) == ("PL", 3, {"ipv4": 3})
    assert (theirs["country"], theirs["abused"], theirs["by_kind"]) == ("PL", 2, {"ipv4": 2})
    assert mine["by_asn"] == [{"asn": 8308, "operator": NASK, "values": 3}]
    assert sum(d["values"] for d in theirs["trend"]) == 2
    desk = {n["name"]: n for n in mine["notified"]}["CERT Polska incident desk"]
    assert (desk["values"], desk["queued"], desk["sent"], desk["channel"]) == (3, 3, 0, "email")
    assert {n["name"]: n["values"] for n in theirs["notified"]} == {"CERT Polska incident desk": 2}

    html = police.get("/ui/countries/PL").text
    assert '<h1>Poland <code dir="ltr">PL</code></h1>' in html
    assert "<dt>In all</dt><dd>3</dd>" in html and "<dt>IPv4 addresses</dt><dd>3</dd>" in html
    assert '<code dir="ltr">AS8308</code>' in html and NASK in html
    assert '<svg class="chart"' in html and "3 values in all" in html
    assert re.search(r"<title>[^<]*· Abused values: 3</title>", html)  # today's column
    assert "CERT Polska incident desk" in html and "E-mail" in html
    assert 'href="/ui/countries" aria-current="page"' in html
    assert "<script>" not in html and " style=" not in html
    other = cert.get("/ui/countries/PL").text
    assert "<dt>In all</dt><dd>2</dd>" in other and "2 values in all" in other
    # Brazil: the bank's AMBER address is nobody else's to count.
    assert _json(police, "/ui/countries/BR")["abused"] == 0
    assert "Nothing abused in this period that you may see." in police.get("/ui/countries/BR").text
    assert _json(_client(world, "ana@bank.example"), "/ui/countries/BR")["abused"] == 1


def test_who_was_notified_is_for_vetted_members_only(world: World) -> None:
    """An organisation still pending vetting (which sees CLEAR only) sees how many values were
    notified, not to whom."""
    world.submit("jan@police.example", [ip_indicator("195.187.6.36", TLP.CLEAR, name="Public scanner")])
    world.app.route_new_objects()
    world.alliance.org("Pending CERT", sector="csirt", country="PL", pending=True)
    world.alliance.user("new@pending.example", "Pending CERT", "analyst", password=PASSWORD)
    pending = _client(world, "new@pending.example")
    notified = _json(pending, "/ui/countries/PL")["notified"]
    # Its national CERT and the network's abuse desk, each sent the one value, named to nobody here.
    assert [(n["name"], n["recipient"], n["values"]) for n in notified] == [(None, None, 1)] * 2
    html = pending.get("/ui/countries/PL").text
    assert "Who was notified is shown to vetted members only." in html and "not shown" in html
    assert "CERT Polska incident desk" not in html
    vetted = _client(world, "eve@cert.example").get("/ui/countries/PL").text
    assert "CERT Polska incident desk" in vetted and "not shown" not in vetted


def test_what_came_back_is_shown_when_the_view_has_it(world: World) -> None:
    """Two organisations report sightings of a notified GREEN value, the police one of its AMBER
    value; the page shows what the view says came back, and CERT FR never learns of the AMBER one
    (a view without `came_back` is shown without that section, never an error)."""
    app, alliance = world.app, world.alliance
    for email in ("jan@police.example", "ana@bank.example"):
        app.report_sighting(alliance.viewer(email), world.objects["pl_green"]["id"], count=2)
    app.report_sighting(alliance.viewer("jan@police.example"), world.objects["pl_hidden"]["id"])
    police, cert = _client(world, "jan@police.example"), _client(world, "eve@cert.example")
    data = _json(police, "/ui/countries/PL")
    html = police.get("/ui/countries/PL").text
    if "came_back" not in data:
        assert "What came back" not in html
        return
    came = data["came_back"]
    assert came["sightings"] >= 1
    assert "What came back" in html
    assert f"<dt>Sightings</dt><dd>{came['sightings']:,}</dd>" in html
    labels = {"sighting": "Sighting", "taken-down": "Taken down", "mitigated": "Mitigated",
              "false-positive": "False positive", "not-responsible": "Not responsible"}  # fmt: skip
    for outcome, n in came["outcomes"].items():
        assert f"<dt>{labels[outcome]}</dt><dd>{n:,}</dd>" in html
    assert any(r["value"] == PL_NASK for r in came["recent"])
    for r in came["recent"]:
        assert f'<code dir="ltr">{r["value"]}</code>' in html and labels[r["outcome"]] in html
    theirs = _json(cert, "/ui/countries/PL")["came_back"]
    assert all(r["value"] != PL_HIDDEN for r in theirs["recent"])
    assert PL_HIDDEN not in cert.get("/ui/countries/PL").text


def test_the_country_pages_in_arabic_are_right_to_left_with_localised_names(world: World) -> None:
    arabic = Languages().by_id["ar"]
    police = _client(world, "jan@police.example")
    html = _arabic(police, "/ui/countries/PL")
    assert '<html lang="ar" dir="rtl">' in html
    assert '<h1>بولندا <code dir="ltr">PL</code></h1>' in html  # CLDR's name
    for text in ("Countries", "Notified to whom", "By network", "All countries"):
        assert arabic.gettext(text) in html and arabic.gettext(text) != text
    assert '<code dir="ltr">AS8308</code>' in html
    since = date.fromisoformat(_json(police, "/ui/countries/PL")["since"][:10])
    in_arabic = format_date(since, "long", locale="ar")
    assert in_arabic in html and in_arabic != format_date(since, "long", locale="en")  # the period's start
    ranking = police.get("/ui/countries").text
    assert '<a href="/ui/countries/PL?days=30">بولندا</a>' in ranking
    assert arabic.gettext("Per million IPv4 addresses") in ranking


def test_an_unknown_country_is_a_clear_not_found_in_the_viewers_language(world: World) -> None:
    police = _client(world, "jan@police.example")
    for code in ("ZZ", "POL", "p1"):
        answer = police.get(f"/ui/countries/{code}")
        assert answer.status_code == 404
        assert "<h1>Unknown country</h1>" in answer.text
        assert f"There is no country with the code {code}." in answer.text
    problem = police.get("/ui/countries/ZZ", headers={"accept": "application/json"})
    assert problem.status_code == 404 and problem.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert "unknown country 'ZZ'" in problem.json()["detail"]
    french = Languages().by_id["fr"]
    page = police.get("/ui/countries")
    police.post("/ui/language", data={"lang": "fr", "csrf": csrf_of(page.text), "next": "/ui/countries"})
    answer = police.get("/ui/countries/XX")
    assert answer.status_code == 404
    assert (
        french.gettext("Unknown country") in answer.text
        and french.gettext("Unknown country") != "Unknown country"
    )
    assert "Aucun pays n’a le code XX." in answer.text
    # A period other than the three offered is refused, naming the parameter.
    for path in ("/ui/countries?days=12", "/ui/countries/PL?days=400"):
        bad = police.get(path, headers={"accept": "application/json"})
        assert bad.status_code == 422 and "days" in bad.text


def test_anonymous_visitors_are_sent_to_log_in(world: World) -> None:
    for path in ("/ui/countries", "/ui/countries/PL"):
        answer = world.client().get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
