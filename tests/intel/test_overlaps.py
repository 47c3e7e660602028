"""Overlaps: recorded when values meet, read only through the policy, summarised when hot."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from stix_factory import indicator, ip_indicator, parsed

from accord.db.schema import overlap
from accord.intel.overlaps import related_values, url_host
from accord.intel.tlp import TLP
from accord.intel.warninglists import parse_list

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    """A bank in Brazil, a police unit in Poland, an outsider CERT, and a group of the first two."""
    a = alliance
    a.org("Banco Sul", "business", "BR")
    a.org("Policja CCU", "law-enforcement", "PL")
    a.org("Outsider CERT", "csirt", "NL")
    a.user("ana@banco.br", "Banco Sul")
    a.user("piotr@policja.pl", "Policja CCU")
    a.user("olaf@cert.nl", "Outsider CERT")
    return a


def submit(a: Any, email: str, objects: list[dict[str, Any]], **kw: Any) -> Any:
    return a.app.submit(a.viewer(email), parsed(objects), **kw)


def domain_indicator(domain: str, tlp: TLP | None = None) -> dict[str, Any]:
    return indicator(f"[domain-name:value = '{domain}']", tlp)


def url_indicator(url: str, tlp: TLP | None = None) -> dict[str, Any]:
    return indicator(f"[url:value = '{url}']", tlp)


def test_related_values_of_each_kind() -> None:
    assert related_values("domain", "a.b.example.org") == [
        ("a.b.example.org", "equal"),
        ("b.example.org", "subdomain"),
        ("example.org", "subdomain"),
        ("org", "subdomain"),
    ]
    assert ("evil.example.org", "url-host") in related_values("url", "http://evil.example.org:8080/x?y")
    assert ("example.org", "email-domain") in related_values("email", "boss@example.org")
    assert url_host("http://[2001:db8::1]:80/x") == "2001:db8::1"
    assert related_values("url", "http://192.0.2.1/x") == [
        ("http://192.0.2.1/x", "equal"),
        ("192.0.2.1", "url-host"),
    ]


def test_both_sides_learn_of_an_overlap_they_may_see(world: Any) -> None:
    first = ip_indicator("198.51.100.7", TLP.GREEN)
    submit(world, "piotr@policja.pl", [first])
    result = submit(world, "ana@banco.br", [ip_indicator("198.51.100.7", TLP.GREEN)])
    assert result.overlaps == 1
    for email in ("ana@banco.br", "piotr@policja.pl"):
        seen = world.app.overlaps(world.viewer(email))
        assert [(o["value"], o["match"], o["known_value"], o["producer"]) for o in seen] == [
            ("198.51.100.7", "equal", "198.51.100.7", "Banco Sul")
        ]
    # The outsider may see both objects (GREEN) but neither side is theirs.
    assert world.app.overlaps(world.viewer("olaf@cert.nl")) == []
    assert len(world.app.overlaps(world.viewer("olaf@cert.nl"), mine=False)) == 1
    # What else is known about the police unit's indicator: the bank's, by name.
    found = world.app.related(world.viewer("piotr@policja.pl"), object_id=first["id"])["related"]
    assert [(r["match"], r["holders"][0]["producer"]) for r in found] == [("equal", "Banco Sul")]


def test_an_overlap_with_a_hidden_object_stays_hidden(world: Any) -> None:
    secret = ip_indicator("198.51.100.8", TLP.AMBER)  # the police unit's alone
    submit(world, "piotr@policja.pl", [secret])
    mine = ip_indicator("198.51.100.8", TLP.GREEN)
    assert submit(world, "ana@banco.br", [mine]).overlaps == 1  # recorded: the value is known
    bank = world.viewer("ana@banco.br")
    assert world.app.overlaps(bank) == []
    assert world.app.overlaps(bank, mine=False) == []
    assert world.app.related(bank, object_id=mine["id"])["related"] == []
    [entry] = world.app.related(bank, values=["198.51.100.8"])["related"]
    assert [h["producer"] for h in entry["holders"]] == ["Banco Sul"]  # its own only
    assert entry["objects"] == 1
    # The police unit sees the bank's GREEN object meeting its own.
    police = world.viewer("piotr@policja.pl")
    assert [o["producer"] for o in world.app.overlaps(police)] == ["Banco Sul"]


def test_cidr_subdomain_and_url_host_overlaps(world: Any) -> None:
    submit(
        world,
        "piotr@policja.pl",
        [ip_indicator("203.0.113.0/24", TLP.GREEN), domain_indicator("example.org", TLP.GREEN)],
    )
    result = submit(
        world,
        "ana@banco.br",
        [
            ip_indicator("203.0.113.9", TLP.GREEN),
            domain_indicator("a.b.example.org", TLP.GREEN),
            url_indicator("http://evil.example.org/login", TLP.GREEN),
            ip_indicator("192.0.2.200", TLP.GREEN),  # meets nothing
        ],
    )
    assert result.overlaps == 3
    seen = {
        (o["value"], o["match"], o["known_value"])
        for o in world.app.overlaps(world.viewer("piotr@policja.pl"))
    }
    assert seen == {
        ("203.0.113.9", "cidr", "203.0.113.0/24"),
        ("a.b.example.org", "subdomain", "example.org"),
        ("http://evil.example.org/login", "url-host", "example.org"),
    }
    found = world.app.related(world.viewer("ana@banco.br"), values=["203.0.113.77"])["related"]
    assert [(r["match"], r["known_value"]) for r in found] == [("cidr", "203.0.113.0/24")]


def test_a_new_version_does_not_overlap_with_its_own_past(world: Any) -> None:
    first = ip_indicator("198.51.100.9", TLP.GREEN)
    submit(world, "piotr@policja.pl", [first])
    newer = dict(first, modified="2024-06-01T00:00:00.000Z", description="still active")
    assert submit(world, "piotr@policja.pl", [newer]).overlaps == 0


def test_values_within_one_submission_are_not_overlaps(world: Any) -> None:
    result = submit(
        world,
        "ana@banco.br",
        [ip_indicator("198.51.100.10", TLP.GREEN), ip_indicator("198.51.100.10", TLP.GREEN)],
    )
    assert result.overlaps == 0


def test_hot_values_are_summarised_with_counts_through_the_policy(make_accord: Any) -> None:
    from conftest import Alliance

    a = Alliance(make_accord(overlap_expand_max=2))
    for i in range(4):
        a.org(f"Org {i}")
        a.user(f"u{i}@o{i}.org", f"Org {i}")
    for i in range(3):
        a.app.submit(a.viewer(f"u{i}@o{i}.org"), parsed([ip_indicator("192.0.2.53", TLP.GREEN)]))
    a.app.submit(a.viewer("u3@o3.org"), parsed([ip_indicator("192.0.2.53", TLP.AMBER)]))
    for viewer, expected in (("u0@o0.org", 3), ("u3@o3.org", 4)):
        [entry] = a.app.related(a.viewer(viewer), values=["192.0.2.53"])["related"]
        assert entry["summarised"] is True and "holders" not in entry
        assert (entry["objects"], entry["producers"]) == (expected, expected)
    with a.app.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(overlap)).scalar() == 3  # one per new value


def test_warninglisted_values_do_not_overlap(world: Any) -> None:
    world.app.load_warninglists(
        [
            parse_list(
                {"name": "Public DNS", "version": 1, "description": "", "type": "cidr", "list": ["8.8.8.8"]}
            )
        ]
    )
    submit(world, "piotr@policja.pl", [ip_indicator("8.8.8.8", TLP.GREEN)])
    result = submit(world, "ana@banco.br", [ip_indicator("8.8.8.8", TLP.GREEN)])
    assert (result.overlaps, result.warninglisted) == (0, 1)
    assert world.app.related(world.viewer("ana@banco.br"), values=["8.8.8.8"])["related"] == []


def test_a_new_version_still_meets_other_objects(world: Any) -> None:
    mine = ip_indicator("198.51.100.12", TLP.GREEN)
    submit(world, "ana@banco.br", [mine])
    submit(world, "piotr@policja.pl", [ip_indicator("198.51.100.12", TLP.GREEN)])
    newer = dict(mine, modified="2024-06-01T00:00:00.000Z", description="seen again")
    assert submit(world, "ana@banco.br", [newer]).overlaps == 1  # the police unit's, not its own past


def test_hidden_holders_never_make_a_value_look_hot(make_accord: Any) -> None:
    from conftest import Alliance

    a = Alliance(make_accord(overlap_expand_max=2))
    for i in range(3):
        a.org(f"Org {i}")
        a.user(f"u{i}@o{i}.org", f"Org {i}")
    a.app.submit(a.viewer("u0@o0.org"), parsed([ip_indicator("192.0.2.54", TLP.GREEN)]))
    a.app.submit(a.viewer("u1@o1.org"), parsed([ip_indicator("192.0.2.54", TLP.AMBER) for _ in range(3)]))
    [entry] = a.app.related(a.viewer("u2@o2.org"), values=["192.0.2.54"])["related"]
    assert entry["summarised"] is False and [h["producer"] for h in entry["holders"]] == ["Org 0"]
    [entry] = a.app.related(a.viewer("u1@o1.org"), values=["192.0.2.54"])["related"]
    assert entry["summarised"] is True and entry["objects"] == 4


def test_only_networks_that_contain_the_address_are_related(world: Any) -> None:
    submit(
        world,
        "piotr@policja.pl",
        [ip_indicator("198.51.100.0/24", TLP.GREEN), ip_indicator("198.51.100.0/28", TLP.GREEN)],
    )
    found = world.app.related(world.viewer("ana@banco.br"), values=["198.51.100.77"])["related"]
    assert [(r["match"], r["known_value"]) for r in found] == [("cidr", "198.51.100.0/24")]
    result = submit(world, "ana@banco.br", [ip_indicator("198.51.100.77", TLP.GREEN)])
    assert result.overlaps == 1
