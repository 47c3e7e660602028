"""Warninglists, overlaps, sightings and scores from the CLI and the API, as a member uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from stix_factory import ip_indicator, parsed

from accord.cli import main
from accord.intel.tlp import TLP
from accord.web.api import create_asgi

pytestmark = pytest.mark.store
FIXTURES = Path(__file__).parent.parent / "fixtures" / "warninglists"


@pytest.fixture
def world(alliance: Any) -> Any:
    a = alliance
    a.org("CERT Polska", "csirt", "PL")
    a.org("Banco Sul", "business", "BR")
    a.org("Outsider", "csirt", "NL")
    a.user("jan@cert.pl", "CERT Polska")
    a.user("ana@banco.br", "Banco Sul")
    a.user("olaf@out.nl", "Outsider")
    return a


@pytest.fixture
def cli(world: Any, database_url: str) -> Any:
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", world.app.settings.data_dir]

    def run(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, [*base, *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (args, result.output)
        return result

    return run


def test_cli_warninglists_overlaps_sightings_and_scores(world: Any, cli: Any) -> None:
    out = cli("warninglist", "load", str(FIXTURES / "good")).stdout
    assert "warninglists" in out and "added" in out
    assert "Fixture public resolvers" in cli("warninglist", "list").stdout
    refused = cli("warninglist", "load", str(FIXTURES / "bad"), ok=True)
    assert "not loaded" in refused.stderr

    theirs = ip_indicator("198.51.100.60", TLP.GREEN)
    world.app.submit(world.viewer("jan@cert.pl"), parsed([theirs, ip_indicator("8.8.8.8", TLP.GREEN)]))
    mine = ip_indicator("198.51.100.60", TLP.GREEN)
    result = world.app.submit(
        world.viewer("ana@banco.br"), parsed([mine, ip_indicator("8.8.8.8", TLP.GREEN)])
    )
    assert (result.overlaps, result.warninglisted) == (1, 1)  # 8.8.8.8 is benign: no overlap

    lines = cli("overlaps", "--as", "jan@cert.pl").stdout.splitlines()
    assert [json.loads(line)["producer"] for line in lines] == ["Banco Sul"]
    assert cli("overlaps", "--as", "olaf@out.nl").stdout == ""
    related = json.loads(cli("related", "--as", "ana@banco.br", mine["id"]).stdout)
    assert [h["producer"] for r in related["related"] for h in r["holders"]] == ["CERT Polska"]
    by_value = json.loads(cli("related", "--as", "olaf@out.nl", "198.51.100.60").stdout)
    assert by_value["related"][0]["objects"] == 2

    sighting = json.loads(cli("sighting", "add", theirs["id"], "--as", "ana@banco.br", "--count", "4").stdout)
    assert sighting["count"] == 4 and sighting["sighting_of_ref"] == theirs["id"]
    seen = json.loads(cli("sighting", "list", theirs["id"], "--as", "jan@cert.pl").stdout)
    assert [s["reported_by"] for s in seen] == ["Banco Sul"]
    assert json.loads(cli("sighting", "list", theirs["id"], "--as", "olaf@out.nl").stdout) == []
    score = json.loads(cli("score", theirs["id"], "--as", "jan@cert.pl").stdout)
    assert score["components"]["reporting_organisations"] == ["Banco Sul"] and score["explanation"]
    bad = cli("sighting", "add", theirs["id"], "--as", "ana@banco.br", "--tlp", "purple", ok=False)
    assert bad.exit_code == 1 and "TLP" in bad.stderr


def test_api_overlaps_related_sightings_and_score(world: Any) -> None:
    client = TestClient(create_asgi(world.app))
    headers = {
        e: {"Authorization": f"Bearer {world.token(e)}"}
        for e in ("jan@cert.pl", "ana@banco.br", "olaf@out.nl")
    }
    theirs = ip_indicator("198.51.100.61", TLP.GREEN)
    hidden = ip_indicator("198.51.100.62", TLP.AMBER)
    world.app.submit(world.viewer("jan@cert.pl"), parsed([theirs, hidden]))
    mine = ip_indicator("198.51.100.61", TLP.GREEN)
    world.app.submit(world.viewer("ana@banco.br"), parsed([mine]))

    jan, ana, olaf = headers["jan@cert.pl"], headers["ana@banco.br"], headers["olaf@out.nl"]
    assert [o["value"] for o in client.get("/api/v1/overlaps", headers=jan).json()["overlaps"]] == [
        "198.51.100.61"
    ]
    assert client.get("/api/v1/overlaps", headers=olaf).json()["overlaps"] == []
    assert len(client.get("/api/v1/overlaps?all=true", headers=olaf).json()["overlaps"]) == 1
    assert client.get("/api/v1/overlaps?since=yesterday", headers=jan).status_code == 422
    related = client.get(f"/api/v1/objects/{mine['id']}/related", headers=ana).json()["related"]
    assert related[0]["holders"][0]["id"] == theirs["id"]
    assert client.get(f"/api/v1/objects/{hidden['id']}/related", headers=ana).status_code == 404
    resp = client.post("/api/v1/related", json={"values": ["198.51.100.62"]}, headers=ana)
    assert resp.status_code == 200 and resp.json()["related"] == []
    assert client.post("/api/v1/related", json={"values": []}, headers=ana).status_code == 422

    resp = client.post(f"/api/v1/objects/{theirs['id']}/sightings", json={"count": 2}, headers=ana)
    assert resp.status_code == 201 and resp.json()["type"] == "sighting"
    assert client.post(f"/api/v1/objects/{hidden['id']}/sightings", json={}, headers=ana).status_code == 404
    bad = client.post(
        f"/api/v1/objects/{theirs['id']}/sightings",
        json={"first_seen": "2024-02-01T00:00:00Z", "last_seen": "2024-01-01T00:00:00Z"},
        headers=ana,
    )
    assert bad.status_code == 422 and bad.json()["where"]["field"] == "last_seen"
    listed = client.get(f"/api/v1/objects/{theirs['id']}/sightings", headers=jan).json()["sightings"]
    assert [s["count"] for s in listed] == [2]
    assert client.get(f"/api/v1/objects/{theirs['id']}/sightings", headers=olaf).json()["sightings"] == []
    score = client.get(f"/api/v1/objects/{theirs['id']}/score", headers=jan).json()
    assert score["components"]["sightings"] == 1
    assert client.get(f"/api/v1/objects/{hidden['id']}/score", headers=ana).status_code == 404
