"""bulk_insert: rows straight to the driver, in text or binary COPY on PostgreSQL, on both engines."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    select,
)

from accord.db import Database, bulk_insert, sqlite_insert_rows

pytestmark = pytest.mark.store

_metadata = MetaData()
_sample = Table(
    "bulk_sample",
    _metadata,
    Column("big", BigInteger().with_variant(Integer, "sqlite")),
    Column("small", SmallInteger),
    Column("number", Integer),
    Column("flag", Boolean),
    Column("blob", LargeBinary),
    Column("ratio", Float),
    Column("name", String(20)),
    Column("body", Text),
)
_COLUMNS = ("big", "small", "number", "flag", "blob", "ratio", "name", "body")
# Texts a text COPY must escape (tab, line break, backslash), and values at their types' limits.
_ROWS = [
    (2**62, -(2**15), 2**31 - 1, True, b"\x00\x01\\", 0.5, "tab\there", 'a "quoted"\\ line\nbreak'),
    (None, None, None, None, None, None, None, None),
    (-1, 0, -7, False, b"", -2.25, "é中ع", "{}"),
]


@pytest.mark.parametrize("binary", [False, True])
def test_rows_arrive_as_given(database_url: str, binary: bool) -> None:
    db = Database(database_url)
    _metadata.create_all(db.engine)
    with db.write() as conn:
        bulk_insert(conn, _sample, _COLUMNS, _ROWS, binary=binary)
    with db.read() as conn:
        got = [tuple(r) for r in conn.execute(select(_sample))]
    assert sorted(got, key=repr) == sorted(_ROWS, key=repr)
    db.dispose()


def test_a_binary_copy_refuses_a_value_of_another_type_and_writes_nothing(database_url: str) -> None:
    db = Database(database_url)
    if db.engine.dialect.name != "postgresql":
        db.dispose()
        pytest.skip("binary COPY is PostgreSQL's")
    _metadata.create_all(db.engine)
    bad: list[Any] = [_ROWS[0], ("not a number", 1, 1, True, b"", 0.0, "n", "b")]
    with pytest.raises(Exception, match="int"), db.write() as conn:
        bulk_insert(conn, _sample, _COLUMNS, bad, binary=True)
    with db.read() as conn:
        assert conn.execute(select(_sample)).all() == []
    db.dispose()


@pytest.mark.parametrize("count", [1, 499, 500, 1234])
def test_rows_on_either_side_of_a_statements_worth_arrive_whole_and_in_order(
    database_url: str, count: int
) -> None:
    """On SQLite many rows share a statement (500 here); the rest go one at a time: none is lost,
    doubled or reordered, whatever the count."""
    db = Database(database_url)
    _metadata.create_all(db.engine)
    rows = [(i, i % 7, -i, i % 2 == 0, bytes([i % 256]), i / 4, f"n{i}", f"body {i}") for i in range(count)]
    with db.write() as conn:
        bulk_insert(conn, _sample, _COLUMNS, rows)
    with db.read() as conn:
        got = [tuple(r) for r in conn.execute(select(_sample).order_by(_sample.c.big))]
    assert got == rows
    db.dispose()


@pytest.mark.parametrize("variables", [None, 13])
def test_sqlite_rows_take_the_constants_of_their_group(tmp_path: Any, variables: int | None) -> None:
    """A group may name constants beside its marks (the ingest path's plain objects do); a
    statement binds no more values than the SQLite build allows (13: six rows of two)."""
    db = Database(f"sqlite:///{tmp_path}/constants.sqlite3")
    _metadata.create_all(db.engine)
    rows = [(i, f"n{i}") for i in range(1203)]
    with db.write() as conn:
        if variables is not None:
            driver = conn.connection.dbapi_connection
            assert isinstance(driver, sqlite3.Connection)
            driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variables)
        head = "INSERT INTO bulk_sample (big, name, number, flag) VALUES"
        sqlite_insert_rows(conn, head, "(?, ?, 42, 1)", rows)
    with db.read() as conn:
        columns = (_sample.c.big, _sample.c.name, _sample.c.number, _sample.c.flag)
        got = [tuple(r) for r in conn.execute(select(*columns))]
    assert sorted(got) == [(i, f"n{i}", 42, True) for i in range(1203)]
    db.dispose()
