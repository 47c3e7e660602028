"""An exclusive write (a bulk load into an empty SQLite store) uses a rollback journal only when
no other connection has the database open, and leaves the write-ahead log in place after it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from stix_factory import bundle, ip_indicator
from store_probes import seen_inside_store

from accord.cli import main
from accord.db import Database
from accord.intel.tlp import TLP


def _journal(conn: Any) -> str:
    return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield database
    database.dispose()


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_alone_it_writes_with_a_rollback_journal_then_goes_back_to_the_log(db: Database) -> None:
    with db.write(exclusive=True) as conn:
        assert _journal(conn) == "delete"
        conn.execute(text("INSERT INTO t VALUES (1), (2)"))
    with db.read() as conn:
        assert _journal(conn) == "wal"
    assert _count(db) == 2
    with db.write() as conn:  # not asked for: the log, as always
        assert _journal(conn) == "wal"


def test_a_failed_exclusive_write_leaves_nothing_and_the_log_in_place(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write(exclusive=True) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("stop")
    assert _count(db) == 0
    with db.read() as conn:
        assert _journal(conn) == "wal"


def test_with_another_connection_open_it_keeps_the_log_without_waiting(db: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "x.sqlite3")
    other.execute("SELECT count(*) FROM t").fetchone()  # open, idle
    started = time.monotonic()
    with db.write(exclusive=True) as conn:
        assert _journal(conn) == "wal"
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert time.monotonic() - started < 10  # not the 30 s busy timeout
    assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
    other.close()


def _journal_during_submit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return seen_inside_store(monkeypatch, "submit_prepared", _journal)


def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's journal (PostgreSQL's bulk load is in test_exclusive_write_pg.py)")


def test_an_exclusive_import_into_an_empty_store_only(
    alliance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    _sqlite_only(database_url)
    alliance.org("CERT Polska")
    alliance.user("jan@cert.pl", "CERT Polska")
    seen = _journal_during_submit(monkeypatch)
    viewer = alliance.viewer("jan@cert.pl")
    for name, first in (("a.json", 0), ("b.json", 50)):
        path = tmp_path / name
        path.write_text(
            json.dumps(bundle([ip_indicator(f"203.0.113.{first + i}", TLP.GREEN) for i in range(40)]))
        )
        assert alliance.app.import_file(viewer, str(path), exclusive=True).result.stored == 40
    path = tmp_path / "c.json"
    path.write_text(json.dumps(bundle([ip_indicator(f"198.51.100.{i}", TLP.GREEN) for i in range(40)])))
    alliance.app.import_file(viewer, str(path))  # not asked for
    assert seen == ["delete", "wal", "wal"]  # the second found objects stored
    found = alliance.app.lookup(viewer, ["203.0.113.1", "203.0.113.51"])
    assert [bool(f["matches"]) for f in found] == [True, True]  # both imports are there


def test_the_command_line_import_asks_for_it(
    alliance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    _sqlite_only(database_url)
    alliance.org("CERT Polska")
    alliance.user("jan@cert.pl", "CERT Polska")
    alliance.app.db.engine.dispose()  # as if the command line were the only one with the database open
    seen = _journal_during_submit(monkeypatch)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(bundle([ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)])))
    data_dir = str(alliance.app.settings.data_dir)
    args = ["--database", database_url, "--data-dir", data_dir, "import", str(path), "--as", "jan@cert.pl"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["taken"]["stored"] == 40
    assert seen == ["delete"]


KILLED_MID_WRITE = """
import sys, time
from sqlalchemy import text
from accord.db import Database
db = Database(sys.argv[1])
with db.write(exclusive=True) as conn:
    conn.exec_driver_sql("PRAGMA cache_size=-100")  # 100 KB: pages spill into the file as rows go in
    conn.execute(text(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)"
        " INSERT INTO t SELECT x FROM n"
    ))
    print("written", flush=True)
    time.sleep(60)
"""


def test_a_process_killed_mid_way_leaves_nothing(db: Database, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "x.sqlite3"
    db.dispose()  # the child must be the only one with the database open
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_WRITE, db.url], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        assert path.stat().st_size > 1_000_000  # rows reached the database file itself
        child.kill()
    assert _count(db) == 0  # the hot journal is rolled back by the next reader
    with db.read() as conn:
        assert _journal(conn) == "wal"
