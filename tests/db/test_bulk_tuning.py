"""`tuned_for_bulk` on SQLite: the page cache a submission runs with, and the pooled connection
handed back as it was, whether the submission succeeds or fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from accord.db import (
    BULK_CACHE_KB,
    BULK_LOAD_CACHE_KB,
    REBUILD_MIN_ROWS,
    Database,
    tuned_for_bulk,
)
from accord.db.engine import CACHE_KB
from accord.db.schema import metadata


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with database.write() as conn:
        metadata.create_all(conn)
    yield database
    database.dispose()


def _cache_kb(conn: Connection) -> int:
    return -int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())


def _index_count(conn: Connection) -> int:
    sql = (
        "SELECT count(*) FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name IN ('stix_object', 'observable')"
    )
    return int(conn.exec_driver_sql(sql).scalar_one())


@pytest.mark.parametrize(
    ("expected", "empty", "bulk_load", "cache_kb"),
    [
        (REBUILD_MIN_ROWS, True, True, BULK_LOAD_CACHE_KB),  # a bulk load: rows appended, indexes at the end
        (REBUILD_MIN_ROWS, False, False, BULK_CACHE_KB),  # indexes grow as rows go in
        (10, True, False, BULK_CACHE_KB),
    ],
)
def test_the_cache_a_submission_runs_with_and_gives_back(
    db: Database, expected: int, empty: bool, bulk_load: bool, cache_kb: int
) -> None:
    assert BULK_LOAD_CACHE_KB < CACHE_KB < BULK_CACHE_KB  # else this test would tell nothing apart
    with db.write() as conn:
        indexes = _index_count(conn)
        with tuned_for_bulk(conn, expected, empty_store=empty) as bulk:
            assert bulk is bulk_load
            assert _cache_kb(conn) == cache_kb
        assert _cache_kb(conn) == CACHE_KB
        assert _index_count(conn) == indexes  # dropped for a bulk load, built again at its end


def test_a_failed_bulk_load_gives_the_connection_back_as_it_was(db: Database) -> None:
    with (
        pytest.raises(RuntimeError),
        db.write() as conn,
        tuned_for_bulk(conn, REBUILD_MIN_ROWS, empty_store=True),
    ):
        raise RuntimeError("stop")
    with db.write() as conn:  # the same pooled connection
        assert _cache_kb(conn) == CACHE_KB
        assert conn.exec_driver_sql("PRAGMA threads").scalar_one() == 0
