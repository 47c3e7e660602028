"""Shared by the UI tests: a small alliance with intelligence at several TLP levels, and signing in
through the real log-in form (a helper module, not a conftest: see tests/taxii/taxii_serving.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from stix_factory import ip_indicator, malware, relationship

from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.web.api import create_asgi

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class World:
    alliance: Any
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.alliance.app

    def client(self) -> TestClient:
        return TestClient(create_asgi(self.app))

    def submit(self, email: str, objects: list[dict[str, Any]], org: str | None = None) -> None:
        viewer = self.alliance.viewer(email, org)
        self.app.submit(viewer, [(i, o, json.dumps(o)) for i, o in enumerate(objects)])


def build_world(alliance: Any) -> World:
    """Bank (ana, analyst; also a reader in Police) shares AMBER with nobody; Police (jan) has its own
    AMBER; CERT (eve) sees GREEN only."""
    alliance.org("Bank BR", sector="business", country="BR")
    alliance.org("Police PL", sector="law-enforcement", country="PL")
    alliance.org("CERT FR", sector="csirt", country="FR")
    alliance.user("ana@bank.example", "Bank BR", "analyst", password=PASSWORD)
    alliance.user("jan@police.example", "Police PL", "analyst", password=PASSWORD)
    alliance.user("eve@cert.example", "CERT FR", "reader", password=PASSWORD)
    with alliance.app.db.write() as conn:  # ana is also a reader at Police PL
        alliance.app.members.add_user(
            conn, OPERATOR, "ana@bank.example", alliance.orgs["Police PL"], "reader"
        )
    world = World(alliance)
    amber = ip_indicator("198.51.100.7", TLP.AMBER, name="Bank C2 server", confidence=80)
    green = ip_indicator("203.0.113.5", TLP.GREEN, name="Scanner seen by the bank")
    family = malware("Grandoreiro", TLP.AMBER, description="Banking trojan aimed at Brazil")
    link = relationship(amber["id"], family["id"], TLP.AMBER)
    police = ip_indicator("192.0.2.44", TLP.AMBER, name="Police case infrastructure")
    world.submit("ana@bank.example", [amber, green, family, link])
    world.submit("jan@police.example", [police])
    world.objects.update(amber=amber, green=green, family=family, link=link, police=police)
    return world


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no anti-forgery field"
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    form = client.get("/ui/login")
    answer = client.post(
        "/ui/login",
        data={"email": email, "password": password, "csrf": csrf_of(form.text), "next": "/ui/search"},
        follow_redirects=False,
    )
    return answer
