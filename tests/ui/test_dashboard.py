"""The dashboard through FastAPI's test client: what is new, overlaps, sightings, charts and the map,
each counting only what the viewer may see, as HTML (server-drawn SVG, no script) and as JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from stix_factory import ip_indicator
from ui_helpers import World, build_world, csrf_of, log_in

from accord.intel.tlp import TLP
from accord.ui import dashboard
from accord.ui.i18n import Languages

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> World:
    """The UI world, plus addresses the offline enrichment can place: the bank's AMBER one in
    Brazil, the police's AMBER one in the Netherlands (hidden from the bank), a GREEN one in the
    USA; and the police meeting the bank's AMBER address (an overlap) and sighting its indicator."""
    w = build_world(alliance)
    bank_br = ip_indicator("200.160.2.3", TLP.AMBER, name="Bank: Brazilian host")
    police_nl = ip_indicator("193.0.6.139", TLP.AMBER, name="Police: Dutch host")
    green_us = ip_indicator("8.8.8.8", TLP.GREEN, name="Everyone: resolver abuse")
    w.submit("ana@bank.example", [bank_br])
    w.submit("jan@police.example", [police_nl, green_us])
    meets = ip_indicator("198.51.100.7", TLP.GREEN, name="Police also saw the bank's C2")
    w.submit("jan@police.example", [meets])
    app = w.app
    app.report_sighting(alliance.viewer("jan@police.example"), w.objects["green"]["id"], count=3)
    w.objects.update(bank_br=bank_br, police_nl=police_nl, green_us=green_us, meets=meets)
    return w


def _json(client: Any, **params: Any) -> Any:
    answer = client.get("/ui/", params={**params, "format": "json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_dashboard_counts_only_what_the_viewer_may_see(world: World) -> None:
    bank = world.client()
    log_in(bank, "ana@bank.example")
    data = _json(bank)

    new_ids = {i["object"]["id"] for i in data["new"]["items"]}
    assert world.objects["bank_br"]["id"] in new_ids and world.objects["green_us"]["id"] in new_ids
    assert world.objects["police_nl"]["id"] not in new_ids and world.objects["police"]["id"] not in new_ids
    # amber, green, family, link, bank_br, green_us, meets; and the police's sighting of the bank's
    # GREEN indicator (AMBER, shared with the producer) with the police's identity (GREEN).
    assert data["new"]["count"] == 9

    # Where the addresses sit: the bank sees Brazil and the USA, never the police's Dutch host.
    infra = data["infrastructure"]
    assert infra["countries"] == {"BR": 1, "US": 1}
    assert infra["addresses"] == 4 and infra["unknown"] == 2  # documentation ranges have no country
    police = world.client()
    log_in(police, "jan@police.example")
    assert _json(police)["infrastructure"]["countries"] == {"NL": 1, "US": 1}
    cert = world.client()
    log_in(cert, "eve@cert.example")
    assert _json(cert)["infrastructure"]["countries"] == {"US": 1}

    # Overlaps with the bank's intelligence: the police's GREEN indicator meets its AMBER one.
    overlaps = data["overlaps"]
    assert [(o["object"], o["value"], o["match"]) for o in overlaps] == [
        (world.objects["meets"]["id"], "198.51.100.7", "equal")
    ]
    # The police may not see the bank's AMBER indicator: for them there is no overlap at all.
    assert _json(police)["overlaps"] == []

    # Sightings of the bank's indicators: the police saw its GREEN one three times.
    sightings = data["sightings"]
    assert [(s["indicator"]["id"], s["reported_by"], s["count"]) for s in sightings] == [
        (world.objects["green"]["id"], "Police PL", 3)
    ]
    assert _json(cert)["sightings"] == []  # CERT FR produced no indicator; and the sighting is AMBER

    # Activity: every visible object of the period, counted once, by each dimension.
    activity = data["activity"]
    totals = {dim: sum(sum(v) for v in series.values()) for dim, series in activity.items()}
    assert set(totals.values()) == {data["new"]["count"]}
    assert sum(activity["by_tlp"]["amber"]) == 5  # amber, family, link, bank_br, the sighting
    assert set(activity["by_country"]) == {"BR", "PL"}
    assert set(activity["by_sector"]) == {"business", "law-enforcement"}
    assert len(data["period"]["buckets"]) == 30 and data["period"]["bucket_days"] == 1
    assert sum(_json(cert)["activity"]["by_tlp"].get("amber", [0])) == 0


def test_the_dashboard_page_draws_charts_and_map_without_script(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    html = client.get("/ui/").text
    assert '<svg class="map"' in html and html.count('<svg class="chart"') == 4
    assert "<script>" not in html and " style=" not in html and " onload" not in html
    assert re.search(r'class="map-5"><title>Brazil: 1</title>', html)
    assert "Netherlands: 1" not in html
    assert '<code dir="ltr">198.51.100.7</code>' in html  # values left to right
    assert "Bank: Brazilian host" in html and "Police: Dutch host" not in html
    assert "By producer&#39;s sector" in html and "Law enforcement" in html
    # The start page: logging in lands here, and the navigation marks it.
    assert 'href="/ui/" aria-current="page"' in html


def test_the_dashboard_in_arabic_is_right_to_left_with_left_to_right_values(world: World) -> None:
    arabic = Languages().by_id["ar"]
    client = world.client()
    log_in(client, "ana@bank.example")
    page = client.get("/ui/")
    client.post("/ui/language", data={"lang": "ar", "csrf": csrf_of(page.text), "next": "/ui/"})
    html = client.get("/ui/").text
    assert '<html lang="ar" dir="rtl">' in html
    assert arabic.gettext("Dashboard") in html and arabic.gettext("Dashboard") != "Dashboard"
    assert arabic.gettext("Where the infrastructure is") in html
    assert "البرازيل: 1" in html  # country names from CLDR
    assert '<code dir="ltr">198.51.100.7</code>' in html


def test_the_period_and_bad_input(world: World) -> None:
    client = world.client()
    log_in(client, "ana@bank.example")
    year = _json(client, days=365)
    assert year["period"]["bucket_days"] == 7 and len(year["period"]["buckets"]) == 53
    assert sum(sum(v) for v in year["activity"]["by_type"].values()) == year["new"]["count"]
    bad = client.get("/ui/?days=12", headers={"accept": "application/json"})
    assert bad.status_code == 422 and "days" in bad.text
    assert client.get("/ui/?days=12").status_code == 422  # a page for browsers


def test_the_cache_is_per_viewer_and_short(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    bank = world.client()
    log_in(bank, "ana@bank.example")
    assert _json(bank)["infrastructure"]["countries"] == {"BR": 1, "US": 1}
    # Another address, visible to the bank: the map catches up when the cached one expires.
    world.submit("ana@bank.example", [ip_indicator("81.2.69.160", TLP.AMBER)])
    assert _json(bank)["infrastructure"]["countries"] == {"BR": 1, "US": 1}
    assert _json(bank)["new"]["count"] == 10  # lists are never cached
    cert = world.client()
    log_in(cert, "eve@cert.example")
    assert _json(cert)["infrastructure"]["countries"] == {"US": 1}  # not the bank's cached map
    monkeypatch.setattr(dashboard, "CACHE_SECONDS", 0.0)
    assert _json(bank)["infrastructure"]["countries"] == {"BR": 1, "GB": 1, "US": 1}


def test_anonymous_visitors_are_sent_to_log_in(world: World) -> None:
    answer = world.client().get("/ui/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
