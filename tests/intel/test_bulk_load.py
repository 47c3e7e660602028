"""A large submission into an empty store is a bulk load (SQLite: no secondary index while it runs,
repeats found in memory); it must decide exactly what the indexed path decides, and leave every
index in place whether it is stored or refused. On PostgreSQL the same submissions take the
ordinary path, so both engines must agree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, select
from stix_factory import ip_indicator, malware, parsed

import accord.intel.prepare as prep
from accord.db import REBUILD_MIN_ROWS
from accord.db.schema import observable, stix_object
from accord.errors import BatchRefused
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store

BIG = REBUILD_MIN_ROWS * 5  # what the submitter announces: large enough for a bulk load


@pytest.fixture
def alpha(alliance: Any) -> Any:
    alliance.org("Alpha", country="AT")
    alliance.user("a@alpha.example", "Alpha")
    return alliance


def _submit(alliance: Any, objects: list[dict[str, Any]], batch: int = 7) -> Any:
    viewer = alliance.viewer("a@alpha.example")
    return alliance.app.submit_batches(viewer, prep.prepare_batches(parsed(objects), batch), expected=BIG)


def _indexes(alliance: Any) -> set[str]:
    with alliance.app.db.read() as conn:
        found = set()
        for table in ("stix_object", "observable"):
            found |= {ix["name"] for ix in inspect(conn).get_indexes(table)}
    return found


DECLARED = {ix.name for ix in (*stix_object.indexes, *observable.indexes)}


def test_bulk_load_handles_repeats_and_versions_across_batches(alpha: Any) -> None:
    v1 = malware("Grandoreiro", TLP.GREEN)
    v2 = dict(v1, modified="2024-07-01T00:00:00.000Z", description="v2")
    ips = [ip_indicator(f"198.51.100.{i}", TLP.GREEN) for i in range(20)]
    # v2 and a repeat of an indicator arrive batches after what they repeat or supersede.
    result = _submit(alpha, [v1, *ips[:10], v2, ips[3], *ips[10:]])
    assert (result.stored, result.unchanged, result.observables) == (22, 1, 20)
    with alpha.app.db.read() as conn:
        rows = conn.execute(
            select(stix_object.c.modified_us, stix_object.c.is_latest)
            .where(stix_object.c.stix_id == v1["id"])
            .order_by(stix_object.c.modified_us)
        ).all()
    assert [r.is_latest for r in rows] == [False, True]
    assert _indexes(alpha) >= DECLARED
    b = alpha.viewer("a@alpha.example")
    assert alpha.app.get_object(b, v1["id"])["object"]["description"] == "v2"
    # The version index is back and unique: the same again adds nothing.
    again = _submit(alpha, [v1, v2, *ips])
    assert (again.stored, again.unchanged) == (0, 22)


def test_bulk_load_refuses_a_changed_repeat_and_restores_every_index(alpha: Any) -> None:
    ips = [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(15)]
    changed = dict(ips[2], name="changed without a new modified")
    with pytest.raises(BatchRefused) as refused:
        _submit(alpha, [*ips, changed])
    assert refused.value.problems[0].where == {"object": ips[2]["id"]}
    assert "different object" in refused.value.problems[0].detail
    with alpha.app.db.read() as conn:
        assert conn.execute(select(stix_object.c.pk)).first() is None
        assert conn.execute(select(observable.c.object_pk)).first() is None
    assert _indexes(alpha) >= DECLARED


def test_a_revoked_object_gets_no_newer_version_in_a_bulk_load(alpha: Any) -> None:
    v1 = dict(malware("Mekotio", TLP.GREEN), revoked=True)
    v2 = dict(v1, modified="2024-08-01T00:00:00.000Z", revoked=False)
    fillers = [ip_indicator(f"192.0.2.{i}", TLP.GREEN) for i in range(10)]
    with pytest.raises(BatchRefused) as refused:
        _submit(alpha, [v1, *fillers, v2])
    assert "revoked" in refused.value.problems[0].detail
