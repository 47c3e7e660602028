"""Deleting objects (`Accord.delete_object`, what TAXII DELETE calls): only the producer's versions
the caller may see, every dependent row explicitly, `is_latest` right for what remains, a tombstone
carrying the deleted version's audience, and an audit record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from stix_factory import ip_indicator, malware, parsed

from accord.db.schema import audit_log, deletion, observable, overlap, stix_object
from accord.errors import Forbidden, NotFound
from accord.intel.timestamps import parse_micros
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store


@pytest.fixture
def two(alliance: Any) -> Any:
    alliance.org("CERT-A", country="PL")
    alliance.org("CERT-B", country="DE")
    alliance.user("a@a.example", "CERT-A")
    alliance.user("reader@a.example", "CERT-A", role="reader")
    alliance.user("b@b.example", "CERT-B")
    return alliance


def rows(app: Any, stix_id: str) -> list[tuple[int, int, bool]]:
    """(producer, modified, is_latest) of every stored version, oldest first."""
    with app.db.read() as conn:
        return [
            (r.producer_org_id, r.modified_us, bool(r.is_latest))
            for r in conn.execute(
                select(stix_object).where(stix_object.c.stix_id == stix_id).order_by(stix_object.c.pk)
            )
        ]


def count(app: Any, table: Any, *where: Any) -> int:
    with app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_deleting_the_newest_version_makes_the_previous_one_latest(two: Any) -> None:
    app = two.app
    a = two.viewer("a@a.example")
    v1 = malware("Loader", TLP.GREEN)
    v2 = dict(v1, modified="2024-06-01T00:00:00.000Z")
    v3 = dict(v1, modified="2024-07-01T00:00:00.000Z")
    app.submit(a, parsed([v1, v2, v3]))
    org_a = two.orgs["CERT-A"]
    assert [latest for _p, _m, latest in rows(app, v1["id"])] == [False, False, True]

    assert app.delete_object(a, v1["id"], parse_micros(v3["modified"])) == 1
    assert rows(app, v1["id"]) == [
        (org_a, parse_micros(v1["modified"]), False),
        (org_a, parse_micros(v2["modified"]), True),
    ]
    assert app.get_object(two.viewer("b@b.example"), v1["id"])["object"] == v2
    with app.db.read() as conn:
        [tomb] = conn.execute(select(deletion)).all()
        audience = conn.execute(
            select(stix_object.c.audience_id).where(stix_object.c.stix_id == v1["id"]).limit(1)
        ).scalar_one()
        [audited] = conn.execute(select(audit_log).where(audit_log.c.action == "intel.delete")).all()
    assert (tomb.stix_id, tomb.modified_us, tomb.producer_org_id, tomb.audience_id) == (
        v1["id"],
        parse_micros(v3["modified"]),
        org_a,
        audience,
    )
    assert audited.actor == "user:a@a.example" and audited.target == v1["id"]
    assert app.verify_audit().ok

    # Every version: one tombstone per audience the versions had (None: all of them).
    assert app.delete_object(a, v1["id"]) == 2
    assert rows(app, v1["id"]) == []
    assert count(app, deletion, deletion.c.modified_us.is_(None)) == 1


def test_versions_of_different_audiences_leave_one_tombstone_each(two: Any) -> None:
    app = two.app
    a = two.viewer("a@a.example")
    v1 = malware("Wiper", TLP.AMBER)
    green = ip_indicator("1.2.3.4", TLP.GREEN)["object_marking_refs"]
    v2 = dict(v1, modified="2024-06-01T00:00:00.000Z", object_marking_refs=green)
    app.submit(a, parsed([v1, v2]))
    assert app.delete_object(a, v1["id"]) == 2
    with app.db.read() as conn:
        audiences = conn.execute(select(deletion.c.audience_id, deletion.c.modified_us)).all()
    assert len({aid for aid, _ in audiences}) == 2 and all(m is None for _, m in audiences)


def test_observable_and_overlap_rows_go_with_the_object(two: Any) -> None:
    app = two.app
    a, b = two.viewer("a@a.example"), two.viewer("b@b.example")
    app.submit(a, parsed([ip_indicator("203.0.113.50", TLP.GREEN)]))
    theirs = ip_indicator("203.0.113.50", TLP.GREEN)
    app.submit(b, parsed([theirs]))  # meets what CERT-A knew: one overlap row
    with app.db.read() as conn:
        pk = conn.execute(select(stix_object.c.pk).where(stix_object.c.stix_id == theirs["id"])).scalar_one()
    assert count(app, overlap, overlap.c.object_pk == pk) == 1
    assert count(app, observable, observable.c.object_pk == pk) == 1

    assert app.delete_object(b, theirs["id"]) == 1
    assert count(app, overlap) == 0
    assert count(app, observable, observable.c.object_pk == pk) == 0
    assert count(app, observable, observable.c.value == "203.0.113.50") == 1  # CERT-A's stays


def test_another_organisations_copy_of_an_sco_stays_and_becomes_latest(two: Any) -> None:
    app = two.app
    a, b = two.viewer("a@a.example"), two.viewer("b@b.example")
    green = ip_indicator("1.2.3.4", TLP.GREEN)["object_marking_refs"]
    address = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--f1e0c0b9-7c3b-5d28-9d9b-6ba8c7a0d1e2",
        "value": "203.0.113.51",
        "object_marking_refs": green,
    }
    app.submit(a, parsed([address]))
    app.submit(b, parsed([address]))  # each organisation holds its own copy of an SCO
    assert [latest for _p, _m, latest in rows(app, address["id"])] == [True, False]

    assert app.delete_object(a, address["id"]) == 1
    assert rows(app, address["id"]) == [(two.orgs["CERT-B"], 0, True)]
    assert app.get_object(a, address["id"])["producer"]["name"] == "CERT-B"
    assert app.delete_object(b, address["id"]) == 1
    assert rows(app, address["id"]) == []


def test_only_the_producer_may_delete_and_hidden_objects_do_not_exist(two: Any) -> None:
    app = two.app
    a = two.viewer("a@a.example")
    amber, green = ip_indicator("198.51.100.60", TLP.AMBER), ip_indicator("198.51.100.61", TLP.GREEN)
    app.submit(a, parsed([amber, green]))
    b = two.viewer("b@b.example")
    with pytest.raises(NotFound):
        app.delete_object(b, amber["id"])  # hidden: as if it did not exist
    with pytest.raises(Forbidden, match="only its producer"):
        app.delete_object(b, green["id"])
    with pytest.raises(Forbidden, match="intel:write"):
        app.delete_object(two.viewer("reader@a.example"), green["id"])
    with pytest.raises(NotFound, match="at that version"):
        app.delete_object(a, green["id"], parse_micros("2020-01-01T00:00:00Z"))
    assert count(app, stix_object) == 2 and count(app, deletion) == 0
