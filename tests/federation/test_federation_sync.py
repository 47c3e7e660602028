"""Pulling from a TAXII 2.1 peer (a tiny real server on loopback): everything once, incrementally,
resumed after a failure mid-collection without loss or duplicates, and contained when it misbehaves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from federation_helpers import count_all, make_world, peer_row, rows_from
from sqlalchemy import update
from taxii_fake import Behaviour, FakeTaxii, fixture_entries, serve

from accord.db.schema import peer
from accord.federation import service
from accord.federation.client import Limits
from accord.intel.query import ListFilter
from accord.intel.timestamps import parse_micros

pytestmark = pytest.mark.store


@pytest.fixture
def world(alliance: Any) -> Any:
    return make_world(alliance)


SMALL = Limits(page_size=3, timeout=0.5, total_timeout=3.0, max_response_bytes=1_000_000)
# The fixture: 9 versions, one TLP:RED (refused); pages of 3 split two versions added in one instant.
EXPECTED = 8


def versions(app: Any, name: str) -> list[tuple[str, int]]:
    return [(r.stix_id, r.modified_us) for r in rows_from(app, name)]


def expected_versions() -> set[tuple[str, int]]:
    out = set()
    for _added, raw in fixture_entries():
        obj = json.loads(raw)
        if "e828b379" not in raw:  # the RED one
            out.add((obj["id"], parse_micros(obj["modified"])))
    return out


def test_a_pull_stores_every_version_once_as_the_peer_sent_it(world: Any) -> None:
    app = world.app
    with serve(FakeTaxii(fixture_entries())) as fake:
        service.add(app, "fixture", url=fake.url, token="s3cret", for_org="CERT Home")
        report = service.sync(app, "fixture", limits=SMALL)
        assert report.status == "ok", report.error
        assert (report.stored, report.refused, report.pages) == (EXPECTED, 1, 3)
        assert set(fake.auth) == {"Bearer s3cret"}
        again = service.sync(app, "fixture", limits=SMALL)
        assert (again.status, again.stored, again.pages) == ("ok", 0, 1)
        last_pull = [r for r in fake.requests if "/objects/" in r][-1]
        assert "added_after=2024-05-01T10%3A00%3A05.000000Z" in last_pull

    stored = rows_from(app, "fixture")
    assert len(stored) == EXPECTED and set(versions(app, "fixture")) == expected_versions()
    served = {
        json.loads(raw)["id"] + json.loads(raw).get("modified", ""): raw for _d, raw in fixture_entries()
    }
    for row in stored:
        obj = json.loads(row.content)
        if row.stix_id.endswith("000000000009"):  # STIX 2.0 on the wire: upgraded, as an import does
            assert obj["spec_version"] == "2.1" and obj["indicator_types"] == ["malicious-activity"]
        else:  # byte for byte, markings included
            assert row.content == served[row.stix_id + obj["modified"]]
    node_org = peer_row(app, "fixture").org_id
    assert {r.producer_org_id for r in stored} == {node_org}

    # Audiences: GREEN/CLEAR for everyone here, AMBER (marked or not) for the --for organisation.
    ana, otto = world.viewer("ana@home.example"), world.viewer("otto@other.example")
    assert app.count(ana, ListFilter()) == 7
    assert app.count(otto, ListFilter()) == 4  # green, clear, the malware, the relationship
    malware = app.get_object(ana, "malware--6b6a0e4b-1c11-4a5e-9a3a-000000000001")
    assert malware["object"]["revoked"] is True  # the revocation arrived as a new version

    (listed,) = service.list_peers(app)
    assert listed["last_status"] == "ok" and listed["pulled"] == EXPECTED and listed["refused"] == 1
    assert listed["refusals"][0][1] == "TLP:RED never leaves its node"
    assert listed["newest_pulled"] == "2024-05-01T10:00:05.000000Z" and listed["lag_seconds"] > 0


def test_a_sync_broken_on_page_two_resumes_without_loss_or_duplicates(world: Any) -> None:
    app = world.app
    fake = FakeTaxii(fixture_entries(), Behaviour(objects="drop", on_request=2))
    with serve(fake):
        service.add(app, "fixture", url=fake.url, for_org="CERT Home")
        broken = service.sync(app, "fixture", limits=SMALL)
        assert broken.status == "failed" and "disconnected" in (broken.error or "")
        assert len(rows_from(app, "fixture")) == 3  # page 1 stored with its cursor; page 2 nothing
        row = peer_row(app, "fixture")
        assert row.last_status == "failed" and "GET http://127.0.0.1" in row.last_error
        saved = json.loads(row.state)["pull"]["0f4e0f0e-7b9e-4c55-8d0e-5f1f6b0d0a01"]["next"]
        assert saved.startswith("3.")

        fake.behaviour.objects = None
        resumed = service.sync(app, "fixture", limits=SMALL)
        assert resumed.status == "ok", resumed.error
        resumed_at = [r for r in fake.requests if "/objects/" in r][2]
        assert f"next={saved}" in resumed_at  # where it stopped
    assert len(rows_from(app, "fixture")) == EXPECTED
    assert set(versions(app, "fixture")) == expected_versions()
    assert peer_row(app, "fixture").pulled == EXPECTED


def test_a_page_token_the_peer_forgot_is_replaced_by_re_reading_the_last_instant(world: Any) -> None:
    """medallion keeps `next` in memory for 30 s: after a restart the saved token is refused (400)."""
    app = world.app
    fake = FakeTaxii(fixture_entries(), Behaviour(objects="500", on_request=3))
    with serve(fake):
        service.add(app, "fixture", url=fake.url, for_org="CERT Home")
        assert service.sync(app, "fixture", limits=SMALL).status == "failed"
        # Pages 1 and 2 are in; page 2 ended inside an instant (two malware versions added together).
        assert len(rows_from(app, "fixture")) == 5
        fake.behaviour = Behaviour()
        fake.forget()
        resumed = service.sync(app, "fixture", limits=SMALL)
        assert resumed.status == "ok", resumed.error
        assert any("expired" in n for n in resumed.notes)
        assert resumed.unchanged >= 1  # the instant re-read: what was here is unchanged
    assert len(rows_from(app, "fixture")) == EXPECTED
    assert set(versions(app, "fixture")) == expected_versions()


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("500", "answered HTTP 500: Internal error; database on fire"),
        ("garbage", "not a TAXII envelope: malformed JSON"),
        ("not-envelope", "'objects' must be an array"),
        ("html", "Content-Type 'text/html', not TAXII JSON"),
        ("redirect", "a redirect to http://127.0.0.1:9/elsewhere/; a peer is not followed"),
        ("slow", "timed out"),
        ("huge", "more than the limit of 1000000 bytes"),
        ("drop", "Server disconnected"),
    ],
)
def test_a_misbehaving_peer_fails_alone_with_a_clear_status(world: Any, mode: str, said: str) -> None:
    app = world.app
    with (
        serve(FakeTaxii(fixture_entries(), Behaviour(objects=mode))) as bad,
        serve(FakeTaxii(fixture_entries())) as good,
    ):
        service.add(app, "bad", url=bad.url, for_org="CERT Home")
        service.add(app, "good", url=good.url, for_org="CERT Home")
        reports = {r.peer: r for r in service.sync_all(app, limits=SMALL)}
    assert reports["bad"].status == "failed" and said in (reports["bad"].error or ""), reports["bad"].error
    assert reports["good"].status == "ok" and reports["good"].stored == EXPECTED
    assert rows_from(app, "bad") == []  # nothing partial
    assert count_all(app) == EXPECTED
    by_name = {p["name"]: p for p in service.list_peers(app)}
    assert by_name["bad"]["last_status"] == "failed" and said in by_name["bad"]["last_error"]
    assert by_name["good"]["last_status"] == "ok" and by_name["good"]["last_error"] is None


def test_garbage_on_page_two_keeps_page_one_and_its_cursor_only(world: Any) -> None:
    app = world.app
    with serve(FakeTaxii(fixture_entries(), Behaviour(objects="garbage", on_request=2))) as fake:
        service.add(app, "fixture", url=fake.url, for_org="CERT Home")
        report = service.sync(app, "fixture", limits=SMALL)
    assert report.status == "failed" and report.stored == 3
    assert len(rows_from(app, "fixture")) == 3
    assert peer_row(app, "fixture").pulled == 3


def test_a_page_is_not_stored_when_its_cursor_cannot_be_advanced(world: Any) -> None:
    """Two syncs of one peer at once: the one whose cursor moved under it stores nothing of its page."""
    app = world.app

    def another_run(n: int) -> None:
        if n == 1:
            with app.db.write() as conn:
                conn.execute(update(peer).where(peer.c.name == "fixture").values(state='{"moved": true}'))

    with serve(FakeTaxii(fixture_entries(), Behaviour(on_objects=another_run))) as fake:
        service.add(app, "fixture", url=fake.url, for_org="CERT Home")
        report = service.sync(app, "fixture", limits=SMALL)
    assert report.status == "failed" and "another sync of this peer ran at the same time" in (
        report.error or ""
    )
    assert rows_from(app, "fixture") == []
    assert json.loads(peer_row(app, "fixture").state) == {"moved": True}


def test_the_operators_peer_limits_apply_when_a_sync_names_none(world: Any) -> None:
    from dataclasses import replace

    from accord.settings import Settings

    with pytest.raises(ValueError, match="ACCORD_PEER_PAGE_SIZE must be positive"):
        Settings.from_env({"ACCORD_PEER_PAGE_SIZE": "0"})
    app = world.app
    app.settings = replace(app.settings, peer_page_size=3, peer_max_response_bytes=1_000_000)
    with serve(FakeTaxii(fixture_entries())) as fake:
        service.add(app, "fixture", url=fake.url, token="s3cret", for_org="CERT Home")
        report = service.sync(app, "fixture")
        assert (report.status, report.stored, report.pages) == ("ok", EXPECTED, 3)
        assert all("limit=3" in r for r in fake.requests if "/objects/" in r)
        app.settings = replace(app.settings, peer_page_size=5000, peer_max_response_bytes=200)
        service.add(app, "capped", url=fake.url, token="s3cret", for_org="CERT Home")
        capped = service.sync(app, "capped")
        assert capped.status == "failed" and capped.stored == 0
        assert "200" in (capped.error or ""), capped.error
