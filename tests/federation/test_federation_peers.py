"""`accord peer add/list/token/sync/status` and the worker: a peer's identity here (system user,
node organisation, the organisations it hosts, its node token), checked input, and syncs on schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from federation_helpers import make_world, peer_row, rows_from
from sqlalchemy import select, update
from taxii_fake import Behaviour, FakeTaxii, fixture_entries, serve

from accord.cli import main
from accord.db.schema import org, peer, user
from accord.errors import Conflict, InvalidInput, NotFound
from accord.federation import service
from accord.feeds.fetch import FetchRefused
from accord.members.auth import authenticate_token

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    return make_world(alliance)


@pytest.fixture
def cli(world: Any, database_url: str) -> Any:
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(world.app.settings.data_dir)]

    def run(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, [*base, *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.stderr)
        return result

    return run


def test_a_peer_is_a_node_organisation_a_system_user_and_a_node_token(world: Any, cli: Any) -> None:
    app = world.app
    added = cli("peer", "add", "alpha", "--url", "https://alpha.example/taxii2/api", "--token", "acc_x",
                "--community", "--orgs", "CERT-A, Bank-A", "--for", "CERT Home",
                "--country", "fr")  # fmt: skip
    token = added.stdout.strip()
    assert token.startswith("acc_") and "\n" not in token
    assert "give alpha's operator this node token" in added.stderr
    row = peer_row(app, "alpha")
    assert (row.url, row.token, row.community, row.push) == (
        "https://alpha.example/taxii2/api/",
        "acc_x",
        True,
        False,
    )
    with app.db.read() as conn:
        orgs = {r.name: r for r in conn.execute(select(org).where(org.c.node == "alpha"))}
        system = conn.execute(select(user).where(user.c.id == row.user_id)).one()
        viewer = authenticate_token(conn, token)
    assert sorted(orgs) == ["alpha", "alpha/Bank-A", "alpha/CERT-A"]
    assert all(o.vetted and o.country == "FR" for o in orgs.values())
    assert system.password_hash is None  # it never logs in with a password
    assert viewer is not None and viewer.peer_id == row.id and viewer.community
    assert viewer.represents == frozenset(o.id for o in orgs.values())

    listed = cli("peer", "list").stdout
    assert (
        "alpha  https://alpha.example/taxii2/api/  community  by hand  orgs: Bank-A, CERT-A  for CERT Home"
        in listed
    )
    assert "alpha  never synced  last -  lag -  pulled 0  pushed 0  refused 0" in cli("peer", "status").stdout

    fresh = cli("peer", "token", "alpha").stdout.strip()
    with app.db.read() as conn:
        assert authenticate_token(conn, token) is None  # the old one stopped working
        assert authenticate_token(conn, fresh) is not None


@pytest.mark.parametrize(
    ("kwargs", "error", "said"),
    [
        ({"url": "ftp://alpha.example/api/"}, FetchRefused, "only http and https"),
        ({"url": "https://me:pw@alpha.example/api/"}, FetchRefused, "credentials in URLs"),
        ({"url": "https://alpha.example/api/?x=1"}, InvalidInput, r"without \?query"),
        ({"name": "al/pha"}, InvalidInput, "a peer's name is"),
        ({"name": "accord"}, InvalidInput, "this node's own name"),
        ({"name": "CERT Home"}, InvalidInput, "a peer's name is"),
        ({"name": "taken"}, Conflict, "a peer named 'taken' exists already"),
        ({"for_org": "Nobody"}, InvalidInput, "--for must name an organisation hosted here"),
        ({"every_seconds": 10}, InvalidInput, "at most every 60 s"),
        ({"country": "XX"}, InvalidInput, "not an ISO 3166-1"),
    ],
)
def test_peer_definitions_are_checked(world: Any, kwargs: dict[str, Any], error: Any, said: str) -> None:
    app = world.app
    service.add(app, "taken", url="http://127.0.0.1:1/api/")
    args = {"name": "alpha", "url": "http://127.0.0.1:8000/taxii2/api/", **kwargs}
    with pytest.raises(error, match=said):
        service.add(app, args.pop("name"), **args)
    with app.db.read() as conn:  # nothing half-made
        assert conn.execute(select(peer.c.name)).scalars().all() == ["taken"]
        assert conn.execute(select(org.c.name).where(org.c.node.is_not(None))).scalars().all() == ["taken"]


def test_unknown_peers_are_named(world: Any, cli: Any) -> None:
    with pytest.raises(NotFound, match="no peer named 'ghost'"):
        service.sync(world.app, "ghost")
    failed = cli("peer", "token", "ghost", ok=False)
    assert failed.exit_code == 1 and "no peer named 'ghost'" in failed.stderr


def test_peer_sync_and_status_from_the_command_line(world: Any, cli: Any) -> None:
    with serve(FakeTaxii(fixture_entries())) as good, serve(FakeTaxii([], Behaviour(objects="500"))) as bad:
        cli("peer", "add", "good", "--url", good.url, "--for", "CERT Home")
        cli("peer", "add", "bad", "--url", bad.url)
        one = cli("peer", "sync", "good")
        report = json.loads(one.stdout)
        assert (report["peer"], report["status"], report["stored"], report["refused"]) == ("good", "ok", 8, 1)
        both = cli("peer", "sync", ok=False)
    assert both.exit_code == 1 and "sync failed for bad" in both.stderr
    reports = {r["peer"]: r for r in map(json.loads, both.stdout.splitlines())}
    assert reports["good"]["stored"] == 0 and "HTTP 500" in reports["bad"]["error"]
    status = cli("peer", "status").stdout.splitlines()
    assert status[0].startswith("bad  failed  last ") and "error: GET http://127.0.0.1" in status[0]
    assert status[1].startswith("good  ok  last ") and "pulled 8  pushed 0  refused 1" in status[1]
    as_json = [json.loads(line) for line in cli("peer", "status", "--json").stdout.splitlines()]
    assert as_json[1]["newest_pulled"] == "2024-05-01T10:00:05.000000Z"


def test_the_worker_syncs_due_peers_once_each(world: Any, cli: Any, tmp_path: Path) -> None:
    app = world.app
    with serve(FakeTaxii(fixture_entries())) as fake:
        cli("peer", "add", "fixture", "--url", fake.url, "--for", "CERT Home", "--every", "1m")
        cli("peer", "add", "by-hand", "--url", fake.url)  # no schedule: the worker leaves it alone
        assert "0 job(s) run, 1 peer sync(s)" in cli("worker", "--once").stdout
        assert len(rows_from(app, "fixture")) == 8 and rows_from(app, "by-hand") == []
        assert "0 job(s) run, 0 peer sync(s)" in cli("worker", "--once").stdout  # not due for a minute
        with app.db.write() as conn:
            conn.execute(update(peer).where(peer.c.name == "fixture").values(next_run_us=0))
        assert "1 peer sync(s)" in cli("worker", "--once").stdout
    assert peer_row(app, "fixture").last_status == "ok" and peer_row(app, "by-hand").last_status is None
