"""The migrations build exactly the schema the code declares (no drift), on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from accord.db import Database, _alembic_config
from accord.db.schema import metadata

pytestmark = pytest.mark.store


def test_migrated_schema_matches_the_declared_one(accord: Any) -> None:
    with accord.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_init_is_idempotent(accord: Any) -> None:
    first = accord.db.revision()
    head = ScriptDirectory.from_config(_alembic_config(accord.db)).get_current_head()
    assert accord.init() == first == head


def test_upgrade_from_0001_keeps_sightings_findable(tmp_path: Any) -> None:
    """A database made by 0001 gets sightings' targets filled in by 0002."""
    db = Database(f"sqlite:///{tmp_path}/old.sqlite3")
    command.upgrade(_alembic_config(db), "0001")
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO org (id, name, sector, country, vetted, created_us)"
            " VALUES (1, 'o', 'csirt', 'PL', 1, 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO user_account (id, email, name, language, platform_admin, disabled, created_us)"
            " VALUES (1, 'a@o', 'a', 'en', 0, 0, 0)"
        )
        conn.exec_driver_sql("INSERT INTO audience (id, kind, key) VALUES (1, 'public', 'public')")
        conn.exec_driver_sql(
            "INSERT INTO stix_object (pk, stix_id, type, spec_version, modified_us, revoked, is_latest,"
            " audience_id, producer_org_id, submitter_user_id, date_added_us, content_hash, content)"
            " VALUES (1, 'sighting--1', 'sighting', '2.1', 1, 0, 1, 1, 1, 1, 1, x'00',"
            ' \'{"sighting_of_ref": "indicator--2"}\')'
        )
    assert db.migrate() == ScriptDirectory.from_config(_alembic_config(db)).get_current_head()
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT target_ref FROM stix_object").scalar() == "indicator--2"
    db.dispose()


def test_upgrade_to_the_version_index_keeps_rows_that_point_at_objects(tmp_path: Any) -> None:
    """0007 rebuilds stix_object on SQLite: observables pointing at its rows must survive (foreign
    keys are off for the rebuild, not cascading), and the version key stays unique."""
    import sqlalchemy

    db = Database(f"sqlite:///{tmp_path}/old.sqlite3")
    command.upgrade(_alembic_config(db), "0006")
    with db.write() as conn:
        for sql in (
            "INSERT INTO org (id, name, sector, country, vetted, created_us)"
            " VALUES (1, 'o', 'csirt', 'PL', 1, 0)",
            "INSERT INTO user_account (id, email, name, language, platform_admin, disabled, created_us)"
            " VALUES (1, 'a@o', 'a', 'en', 0, 0, 0)",
            "INSERT INTO audience (id, kind, key) VALUES (1, 'public', 'public')",
            "INSERT INTO stix_object (pk, stix_id, type, spec_version, modified_us, revoked, is_latest,"
            " audience_id, producer_org_id, submitter_user_id, date_added_us, content_hash, content)"
            " VALUES (7, 'indicator--1', 'indicator', '2.1', 1, 0, 1, 1, 1, 1, 1, x'00', '{}')",
            "INSERT INTO observable (object_pk, kind, value) VALUES (7, 'ipv4', '192.0.2.1')",
        ):
            conn.exec_driver_sql(sql)
    assert db.migrate() == ScriptDirectory.from_config(_alembic_config(db)).get_current_head()
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT object_pk, value FROM observable").all() == [(7, "192.0.2.1")]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        names = {ix["name"] for ix in sqlalchemy.inspect(conn).get_indexes("stix_object")}
    assert {"uq_stix_object_version", "ix_stix_object_added", "ix_stix_object_target"} <= names
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO stix_object (pk, stix_id, type, spec_version, modified_us, revoked, is_latest,"
            " audience_id, producer_org_id, submitter_user_id, date_added_us, content_hash, content)"
            " VALUES (8, 'indicator--1', 'indicator', '2.1', 1, 0, 1, 1, 1, 1, 1, x'00', '{}')"
        )
    command.downgrade(_alembic_config(db), "0006")
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM observable").scalar() == 1
    db.dispose()


def test_upgrade_to_stated_severity_fills_it_in_for_stored_objects(database_url: str) -> None:
    """0008 adds stix_object.severity and .confidence and reads them from the objects already stored
    (only those whose JSON mentions either word); a confidence off the 0-100 scale is none."""
    db = Database(database_url)
    command.upgrade(_alembic_config(db), "0007")
    contents = {
        1: '{"type": "indicator", "labels": ["severity:High"], "confidence": 80}',
        2: '{"type": "indicator", "x_severity": "critical"}',
        3: '{"type": "indicator", "confidence": 101, "description": "no severity here"}',
        4: '{"type": "indicator", "name": "plain"}',
    }
    with db.write() as conn:
        for sql in (
            "INSERT INTO org (id, name, sector, country, vetted, created_us)"
            " VALUES (1, 'o', 'csirt', 'PL', true, 0)",
            "INSERT INTO user_account (id, email, name, language, platform_admin, disabled, created_us)"
            " VALUES (1, 'a@o', 'a', 'en', false, false, 0)",
            "INSERT INTO audience (id, kind, key) VALUES (1, 'public', 'public')",
        ):
            conn.exec_driver_sql(sql)
        for pk, content in contents.items():
            conn.execute(
                text(
                    "INSERT INTO stix_object (pk, stix_id, type, spec_version, modified_us, revoked,"
                    " is_latest, audience_id, producer_org_id, submitter_user_id, date_added_us,"
                    " content_hash, content)"
                    " VALUES (:pk, :id, 'indicator', '2.1', 1, false, true, 1, 1, 1, 1, :hash, :content)"
                ),
                {"pk": pk, "id": f"indicator--{pk}", "hash": b"\0", "content": content},
            )
    assert db.migrate() == ScriptDirectory.from_config(_alembic_config(db)).get_current_head()
    with db.read() as conn:
        got = conn.exec_driver_sql("SELECT pk, severity, confidence FROM stix_object ORDER BY pk").all()
    assert [tuple(r) for r in got] == [(1, 3, 80), (2, 4, None), (3, None, None), (4, None, None)]
    command.downgrade(_alembic_config(db), "0007")
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM stix_object").scalar() == 4
    db.dispose()


def test_downgrade_from_pending_counts_folds_them_into_abuse_count(database_url: str) -> None:
    """0009's downgrade adds every pending count to the row of its key before dropping the table."""
    db = Database(database_url)
    assert db.migrate() == ScriptDirectory.from_config(_alembic_config(db)).get_current_head()
    key = "day, country, asn, kind, audience_id"
    with db.write() as conn:
        conn.exec_driver_sql("INSERT INTO audience (id, kind, key) VALUES (1, 'public', 'public')")
        conn.exec_driver_sql(
            f"INSERT INTO abuse_count ({key}, operator, value_count)"
            " VALUES (1, 'PL', 8308, 'ipv4', 1, 'N', 2)"
        )
        for asn, n in ((8308, 3), (8308, 4), (12827, 1)):
            conn.exec_driver_sql(
                f"INSERT INTO abuse_count_pending ({key}, operator, value_count)"
                f" VALUES (1, 'PL', {asn}, 'ipv4', 1, NULL, {n})"
            )
    command.downgrade(_alembic_config(db), "0008")
    with db.read() as conn:
        got = conn.exec_driver_sql("SELECT asn, operator, value_count FROM abuse_count ORDER BY asn").all()
    assert [tuple(r) for r in got] == [(8308, "N", 9), (12827, None, 1)]
    command.upgrade(_alembic_config(db), "head")
    db.dispose()
