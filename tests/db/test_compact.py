"""`accord compact` rebuilds a SQLite file made with the old 4 KiB pages into today's page size,
keeping every row, and refuses (at once) while anyone else has the database open."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from stix_factory import bundle, indicator, ip_indicator

from accord.app import Accord
from accord.cli import main
from accord.db import Database
from accord.db.engine import PAGE_SIZE
from accord.errors import Conflict, InvalidInput
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.settings import Settings


def _old_file(path: Path) -> None:
    """A database file made before 16 KiB pages were the default."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE made_before (x INTEGER)")  # the file gets its first pages
    raw.close()


@pytest.fixture
def old_app(tmp_path: Path) -> Accord:
    """An Accord store on 4 KiB pages, holding 300 indicators of one organisation."""
    path = tmp_path / "old.sqlite3"
    _old_file(path)
    app = Accord(Settings(database_url=f"sqlite:///{path}", data_dir=str(tmp_path / "data")))
    app.init()
    with app.db.write() as conn:
        org_id = app.members.add_org(conn, OPERATOR, "CERT Polska", "csirt", "PL", False)
        app.members.add_user(conn, OPERATOR, "jan@cert.pl", org_id, "analyst")
    objects = [ip_indicator(f"198.51.0.{i}", TLP.GREEN) for i in range(200)]
    objects += [indicator(f"[domain-name:value = 'h{i}.example.org']", TLP.GREEN) for i in range(100)]
    source = tmp_path / "intel.json"
    source.write_text(json.dumps(bundle(objects)))
    assert app.import_file(app.viewer("jan@cert.pl"), str(source)).result.stored == 300
    return app


def _page_size_and_journal(path: Path) -> tuple[int, str]:
    with sqlite3.connect(path) as raw:
        found = (
            raw.execute("PRAGMA page_size").fetchone()[0],
            raw.execute("PRAGMA journal_mode").fetchone()[0],
        )
    raw.close()
    return found


def _what_is_found(app: Accord) -> list[bool]:
    values = ["198.51.0.7", "198.51.0.199", "h42.example.org", "sub.h99.example.org", "203.0.113.1"]
    return [bool(found["matches"]) for found in app.lookup(app.viewer("jan@cert.pl"), values)]


def test_an_old_file_gets_todays_pages_and_keeps_every_row(old_app: Accord, tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    assert _page_size_and_journal(path) == (4096, "wal")
    assert PAGE_SIZE != 4096  # else this test would prove nothing
    found_before = _what_is_found(old_app)
    assert found_before == [True, True, True, True, False]
    with old_app.db.read() as conn:
        counts_before = [
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("stix_object", "observable")
        ]

    before, after = old_app.db.compact()

    assert (before.page_size, after.page_size) == (4096, PAGE_SIZE)
    assert before.bytes % 4096 == 0 and before.bytes >= 300 * 400  # the rows were in it
    assert after.bytes == path.stat().st_size and after.bytes % PAGE_SIZE == 0
    assert _page_size_and_journal(path) == (PAGE_SIZE, "wal")  # the write-ahead log is back
    assert _what_is_found(old_app) == found_before
    with old_app.db.read() as conn:
        counts_after = [
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("stix_object", "observable")
        ]
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert counts_after == counts_before == [300, 300]
    old_app.close()


def test_with_the_database_open_elsewhere_it_is_refused_at_once_and_nothing_changes(
    old_app: Accord, tmp_path: Path
) -> None:
    path = tmp_path / "old.sqlite3"
    other = sqlite3.connect(path)  # a server or a worker, say: open, idle
    other.execute("SELECT count(*) FROM stix_object").fetchone()
    started = time.monotonic()
    with pytest.raises(Conflict, match="open elsewhere"):
        old_app.db.compact()
    assert time.monotonic() - started < 10  # not the 30 s busy timeout
    assert _page_size_and_journal(path) == (4096, "wal")
    assert other.execute("SELECT count(*) FROM stix_object").fetchone() == (300,)
    other.close()
    assert _what_is_found(old_app) == [True, True, True, True, False]
    old_app.close()


def test_the_command_line_compacts_and_says_what_it_did(old_app: Accord, tmp_path: Path) -> None:
    old_app.close()
    path = tmp_path / "old.sqlite3"
    args = ["--database", f"sqlite:///{path}", "--data-dir", str(tmp_path / "data"), "compact"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "in 4,096-byte pages -> " in result.output and f"in {PAGE_SIZE:,}-byte pages" in result.output
    assert _page_size_and_journal(path) == (PAGE_SIZE, "wal")
    again = CliRunner().invoke(main, args, catch_exceptions=False)  # nothing left to change: harmless
    assert again.exit_code == 0 and f"{PAGE_SIZE:,}-byte pages -> " in again.output


def test_the_command_line_refusal_is_one_line_not_a_trace(old_app: Accord, tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    other = sqlite3.connect(path)
    other.execute("SELECT 1 FROM stix_object LIMIT 1").fetchone()
    args = ["--database", f"sqlite:///{path}", "--data-dir", str(tmp_path / "data"), "compact"]
    result = CliRunner().invoke(main, args)
    other.close()
    old_app.close()
    assert result.exit_code == 1
    assert "open elsewhere" in result.output and "Traceback" not in result.output
    assert _page_size_and_journal(path) == (4096, "wal")


def test_only_sqlite_files_are_compacted(tmp_path: Path) -> None:
    # No server is contacted: the refusal comes before any connection.
    with pytest.raises(InvalidInput, match="PostgreSQL"):
        Database("postgresql+psycopg://nobody@127.0.0.1:9/none").compact()
    with pytest.raises(InvalidInput, match="in memory"):
        Database("sqlite://").compact()
