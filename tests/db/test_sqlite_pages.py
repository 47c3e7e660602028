"""New SQLite databases get larger pages; databases made before keep theirs and still work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from accord.db.engine import PAGE_SIZE, make_engine


def _pragma(engine_url: str, name: str) -> object:
    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()
    finally:
        engine.dispose()


def test_a_new_database_is_made_with_the_larger_pages_and_a_write_ahead_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert PAGE_SIZE != 4096  # else this test would prove nothing
    assert _pragma(url, "page_size") == PAGE_SIZE
    assert _pragma(url, "journal_mode") == "wal"


def test_a_database_made_with_other_pages_keeps_them_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE t (x INTEGER)")
        raw.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1000)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), max(x) FROM t")).one() == (1001, 1000)
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
    engine.dispose()
