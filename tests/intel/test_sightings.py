"""Sightings reach the producer within the policy; scores follow age, sightings and confidence."""

from __future__ import annotations

from typing import Any

import pytest
from stix_factory import ip_indicator, malware, parsed

from accord.errors import InvalidInput, NotFound
from accord.intel.sightings import CORROBORATION_PER_ORG, DEFAULT_CONFIDENCE
from accord.intel.timestamps import now_micros, parse_micros
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store
DAY = 86_400_000_000


@pytest.fixture
def world(alliance: Any) -> Any:
    a = alliance
    for name, country in (("Producer CERT", "DE"), ("Bank", "BR"), ("Telco", "PL"), ("Outsider", "NL")):
        a.org(name, "csirt", country)
    a.user("p@cert.de", "Producer CERT")
    a.user("b@bank.br", "Bank")
    a.user("t@telco.pl", "Telco")
    a.user("o@out.nl", "Outsider")
    return a


def test_a_sighting_reaches_the_producer_and_no_one_else(world: Any) -> None:
    ind = ip_indicator("198.51.100.20", TLP.GREEN)
    world.app.submit(world.viewer("p@cert.de"), parsed([ind]))
    obj = world.app.report_sighting(world.viewer("b@bank.br"), ind["id"], count=3)
    assert obj["sighting_of_ref"] == ind["id"] and obj["count"] == 3
    for email, expected in (("p@cert.de", ["Bank"]), ("b@bank.br", ["Bank"]), ("o@out.nl", [])):
        assert [s["reported_by"] for s in world.app.sightings(world.viewer(email), ind["id"])] == expected
    # The sighting is an ordinary STIX object under the policy.
    assert world.app.get_object(world.viewer("p@cert.de"), obj["id"])["object"]["count"] == 3
    with pytest.raises(NotFound):
        world.app.get_object(world.viewer("o@out.nl"), obj["id"])


def test_only_visible_indicators_can_be_sighted(world: Any) -> None:
    hidden = ip_indicator("198.51.100.21", TLP.AMBER)
    world.app.submit(world.viewer("p@cert.de"), parsed([hidden]))
    with pytest.raises(NotFound):
        world.app.report_sighting(world.viewer("b@bank.br"), hidden["id"])
    thing = malware("Grandoreiro", TLP.GREEN)
    world.app.submit(world.viewer("p@cert.de"), parsed([thing]))
    with pytest.raises(InvalidInput, match="sightings are of indicators"):
        world.app.report_sighting(world.viewer("b@bank.br"), thing["id"])


def test_bad_sighting_input_is_refused(world: Any) -> None:
    ind = ip_indicator("198.51.100.22", TLP.GREEN)
    world.app.submit(world.viewer("p@cert.de"), parsed([ind]))
    with pytest.raises(InvalidInput, match="last_seen"):
        world.app.report_sighting(
            world.viewer("b@bank.br"), ind["id"], first_seen_us=2 * DAY, last_seen_us=DAY
        )
    with pytest.raises(InvalidInput, match="count"):
        world.app.report_sighting(world.viewer("b@bank.br"), ind["id"], count=-1)
    assert world.app.sightings(world.viewer("p@cert.de"), ind["id"]) == []


def test_score_follows_confidence_age_and_sightings(world: Any) -> None:
    now = now_micros()
    fresh = ip_indicator("198.51.100.23", TLP.GREEN, confidence=80)
    fresh["valid_from"] = fresh["created"] = fresh["modified"] = _iso(now - 1000)
    old = ip_indicator("198.51.100.24", TLP.GREEN)
    old["valid_from"] = old["created"] = old["modified"] = _iso(now - 90 * DAY)
    world.app.submit(world.viewer("p@cert.de"), parsed([fresh, old]))

    s_fresh = world.app.score(world.viewer("o@out.nl"), fresh["id"])
    assert s_fresh["components"]["confidence"] == 80 and s_fresh["score"] == 80
    s_old = world.app.score(world.viewer("o@out.nl"), old["id"])
    assert s_old["components"]["confidence"] == DEFAULT_CONFIDENCE
    assert s_old["score"] == 25  # 50 × 0.5 after one half-life
    assert any("half-life 90 days" in line for line in s_old["explanation"])

    # Two organisations saw the old one today: fresh again, and corroborated.
    world.app.report_sighting(world.viewer("b@bank.br"), old["id"], last_seen_us=now)
    world.app.report_sighting(world.viewer("t@telco.pl"), old["id"], last_seen_us=now, tlp=TLP.GREEN)
    producer_view = world.app.score(world.viewer("p@cert.de"), old["id"])
    assert producer_view["components"]["reporting_organisations"] == ["Bank", "Telco"]
    assert producer_view["score"] == round(DEFAULT_CONFIDENCE * (1 + 2 * CORROBORATION_PER_ORG))
    # The outsider sees only the GREEN sighting: its score differs, by the policy.
    outsider_view = world.app.score(world.viewer("o@out.nl"), old["id"])
    assert outsider_view["components"]["reporting_organisations"] == ["Telco"]
    assert outsider_view["score"] == round(DEFAULT_CONFIDENCE * (1 + CORROBORATION_PER_ORG))


def test_expired_and_revoked_indicators_score_zero(world: Any) -> None:
    expired = ip_indicator("198.51.100.25", TLP.GREEN, valid_until="2024-05-02T00:00:00Z")
    world.app.submit(world.viewer("p@cert.de"), parsed([expired]))
    result = world.app.score(world.viewer("b@bank.br"), expired["id"])
    assert result["score"] == 0 and "expired" in result["explanation"][-1]
    live = ip_indicator("198.51.100.26", TLP.GREEN)
    world.app.submit(world.viewer("p@cert.de"), parsed([live]))
    world.app.submit(
        world.viewer("p@cert.de"), parsed([dict(live, modified="2024-06-01T00:00:00.000Z", revoked=True)])
    )
    assert world.app.score(world.viewer("b@bank.br"), live["id"])["score"] == 0


def _iso(us: int) -> str:
    from accord.intel.timestamps import format_micros

    text = format_micros(us)
    assert parse_micros(text) == us
    return text
