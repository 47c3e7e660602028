"""The demo alliance: believable, complete (every sector, role and TLP level), safe and reproducible."""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
import stix2
from sqlalchemy import func, select

from accord.app import Accord
from accord.db.schema import stix_object
from accord.demo import OVERLAPS, PASSWORD, USERS, build_demo, demo_intelligence
from accord.errors import Conflict
from accord.intel.patterns import observables_of_pattern
from accord.members.auth import authenticate_password, authenticate_token
from accord.members.model import OPERATOR, Role, Sector

DOC_NETS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]
RESERVED_DOMAINS = (".example", ".test", ".example.com")

JOAO = "joao.silva@cert-br-demo.example"  # a CERT.br analyst
DIEGO = "diego.hernandez@ciberseguridad-ejemplo.example"  # an analyst of the organisation pending vetting


@pytest.mark.store
def test_demo_alliance(accord: Accord) -> None:
    reported: list[int] = []
    lines = build_demo(accord, objects=400, progress=reported.append)
    assert sum(reported) == 400

    with accord.db.read() as conn:
        orgs = accord.members.list_orgs(conn)
        users = accord.members.list_users(conn, OPERATOR)
        groups = accord.members.list_groups(conn, OPERATOR)
        by_tlp = dict(Counter(conn.execute(select(stix_object.c.tlp)).scalars()))
        revoked = conn.execute(select(func.count()).where(stix_object.c.revoked)).scalar_one()
        analyst = accord.viewer(JOAO)
        versioned = conn.execute(  # an object of João's organisation stored in two versions
            select(stix_object.c.stix_id)
            .where(stix_object.c.producer_org_id == analyst.org_id)
            .group_by(stix_object.c.stix_id)
            .having(func.count() > 1)
            .limit(1)
        ).scalar()

    # the alliance
    assert len(orgs) >= 12
    assert len({o["country"] for o in orgs}) >= 8
    assert {o["sector"] for o in orgs} == {s.value for s in Sector}
    pending = [o for o in orgs if not o["vetted"]]
    assert len(pending) == 1
    assert len(groups) >= 2 and all(len(g["member_org_ids"]) >= 2 for g in groups)
    roles = {m["role"] for u in users for m in u["memberships"]}
    assert roles == {r.value for r in Role}
    assert any(u["platform_admin"] for u in users)
    assert any(len(u["memberships"]) == 2 for u in users)
    assert len({u["language"] for u in users}) >= 5

    # intelligence at every TLP level, and none; versions and a revocation
    assert set(by_tlp) == {"clear", "green", "amber", "amber+strict", "red", None}
    assert revoked >= 1
    assert versioned is not None
    assert len(accord.versions(analyst, versioned)) == 2

    # the same values reported by two organisations, both visible to a vetted member
    for entry in accord.lookup(analyst, list(OVERLAPS)):
        producers = {m["producer"] for m in entry["matches"] if m["match"] == "exact"}
        assert len(producers) >= 2, entry
    # ... recorded as overlaps, and the first reports sighted by two more organisations
    assert {o["value"] for o in accord.overlaps(analyst, mine=False)} >= set(OVERLAPS)
    first_report = accord.lookup(analyst, [OVERLAPS[0]])[0]["matches"]
    scores = [accord.score(analyst, m["id"]) for m in first_report if m["type"] == "indicator"]
    assert max(len(s["components"]["reporting_organisations"]) for s in scores) == 2

    # the pending organisation reads TLP:CLEAR only; an analyst of a vetted one reads much more
    newcomer = accord.viewer(DIEGO)
    pending_tlp = accord.stats(newcomer)["by_tlp"]
    analyst_tlp = accord.stats(analyst)["by_tlp"]
    assert set(pending_tlp) == {"clear"}
    assert {"clear", "green", "amber"} <= set(analyst_tlp)
    assert sum(analyst_tlp.values()) > sum(pending_tlp.values())
    assert accord.lookup(newcomer, [OVERLAPS[0]])[0]["matches"] == []

    # the log-in instructions name every user; the password and the token work
    text = "\n".join(lines)
    for u in users:
        assert u["email"] in text
    assert PASSWORD in text
    token = next(word for line in lines for word in line.split() if word.startswith("acc_"))
    with accord.db.read() as conn:
        viewer = authenticate_token(conn, token)
        assert viewer is not None and viewer.role is Role.ANALYST
        assert authenticate_password(conn, JOAO, PASSWORD) is not None


@pytest.mark.store
def test_demo_needs_an_empty_database(accord: Accord) -> None:
    with accord.db.write() as conn:
        accord.members.add_org(conn, OPERATOR, "Somebody", "csirt", "PL")
    with pytest.raises(Conflict, match="empty database"):
        build_demo(accord, objects=100)


def _objects(objects: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    return [o for sub in demo_intelligence(objects, seed) for o in sub.objects]


def test_demo_intelligence_is_reproducible_and_sized() -> None:
    assert _objects() == _objects()
    assert _objects(seed=8) != _objects()
    assert len(_objects(300)) == 300
    assert len(_objects(0)) == 100  # the minimum the story needs


def test_demo_intelligence_is_valid_stix() -> None:
    for obj in _objects(300):
        stix2.parse(obj, allow_custom=False, version="2.1")


def test_demo_intelligence_names_only_documentation_addresses_and_reserved_domains() -> None:
    def safe_host(host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return host.endswith(RESERVED_DOMAINS)
        return any(ip in net for net in DOC_NETS)

    seen = Counter[str]()
    for obj in _objects(1500):
        if obj["type"] != "indicator":
            continue
        for o in observables_of_pattern(obj["pattern"]):
            seen[o.kind] += 1
            if o.kind in ("ipv4", "ipv6"):
                net = ipaddress.ip_network(o.value)
                assert any(net.network_address in d and net.broadcast_address in d for d in DOC_NETS), o
            elif o.kind == "domain":
                assert o.value.endswith(RESERVED_DOMAINS), o
            elif o.kind == "url":
                assert safe_host(urlsplit(o.value).hostname or ""), o
            elif o.kind == "email":
                assert o.value.split("@")[1].endswith(RESERVED_DOMAINS), o
    assert {"ipv4", "ipv6", "domain", "url", "sha256", "md5", "email"} <= set(seen)


def test_demo_users_cover_languages_and_scripts() -> None:
    assert {u.language for u in USERS} == {"en", "fr", "es", "ar", "zh", "ru", "pt"}
    assert any(not u.name.isascii() and "\u0600" <= u.name[0] <= "\u06ff" for u in USERS)  # Arabic
    assert any("\u4e00" <= u.name[0] <= "\u9fff" for u in USERS)  # Chinese
    assert any("\u0400" <= u.name[0] <= "\u04ff" for u in USERS)  # Cyrillic
