"""On PostgreSQL an exclusive bulk load (the command line's import into an empty store) takes the
intelligence tables for its transaction when no one else is using them, and builds their indexes
once at the end; when someone is, it takes the usual path at once, without waiting."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, event, select
from stix_factory import bundle, ip_indicator
from store_probes import seen_inside_store

from accord.cli import main
from accord.db import Database, serialise_intel_writers
from accord.db.schema import stix_object
from accord.errors import BatchRefused
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store

ALL_INDEXES = {
    "pk_stix_object",
    "uq_stix_object_version",
    "ix_stix_object_added",
    "ix_stix_object_type_added",
    "ix_stix_object_target",
    "ix_observable_value",
    "ix_observable_network",
    "ix_observable_object",
}


@pytest.fixture(autouse=True)
def _postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's bulk load (SQLite's is in test_exclusive_write.py)")


def _indexes(conn: Connection) -> set[str]:
    sql = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        " AND tablename IN ('stix_object', 'observable')"
    )
    return set(conn.exec_driver_sql(sql).scalars())


def _indexes_during_submit(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The intelligence tables' indexes as each batch begins to be stored, seen from inside."""
    return seen_inside_store(monkeypatch, "_store_batch", _indexes)


def _file(tmp_path: Path, name: str, objects: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(bundle(objects)))
    return str(path)


def _found(alliance: Any, values: list[str]) -> list[bool]:
    return [bool(f["matches"]) for f in alliance.app.lookup(alliance.viewer("jan@cert.pl"), values)]


@pytest.fixture
def jan(alliance: Any) -> Any:
    alliance.org("CERT Polska")
    alliance.user("jan@cert.pl", "CERT Polska")
    return alliance.viewer("jan@cert.pl")


def test_alone_it_builds_the_indexes_at_the_end(
    alliance: Any, jan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _indexes_during_submit(monkeypatch)
    path = _file(tmp_path, "a.json", [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)])
    assert alliance.app.import_file(jan, path, exclusive=True).result.stored == 40
    assert seen and seen[0] == {"pk_stix_object"}  # only the primary key while rows go in
    with alliance.app.db.read() as conn:
        assert _indexes(conn) == ALL_INDEXES
    assert _found(alliance, ["203.0.113.7", "198.51.100.7"]) == [True, False]
    # Into a store that now holds data: the usual path, every index kept.
    path = _file(tmp_path, "b.json", [ip_indicator(f"198.51.100.{i}", TLP.GREEN) for i in range(40)])
    assert alliance.app.import_file(jan, path, exclusive=True).result.stored == 40
    assert seen[-1] == ALL_INDEXES
    assert _found(alliance, ["203.0.113.7", "198.51.100.7"]) == [True, True]


def test_with_the_tables_in_use_it_takes_the_usual_path_at_once(
    alliance: Any, jan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    seen = _indexes_during_submit(monkeypatch)
    path = _file(tmp_path, "a.json", [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)])
    other = Database(database_url)
    with other.read() as reading:  # a reader inside a transaction on the table
        reading.execute(select(stix_object.c.pk).limit(1)).all()
        started = time.monotonic()
        assert alliance.app.import_file(jan, path, exclusive=True).result.stored == 40
        assert time.monotonic() - started < 20  # it did not wait for the reader
    other.dispose()
    assert seen == [ALL_INDEXES]
    assert _found(alliance, ["203.0.113.7"]) == [True]


def test_a_refused_bulk_load_leaves_every_index_and_nothing_stored(
    alliance: Any, jan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _indexes_during_submit(monkeypatch)
    dropped: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("DROP INDEX"):
            dropped.append(statement)

    event.listen(alliance.app.db.engine, "before_cursor_execute", watch)
    bad = ip_indicator("203.0.113.200", TLP.GREEN, pattern="[ipv4-addr:value = ")
    objects = [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)] + [bad]
    with pytest.raises(BatchRefused):
        alliance.app.import_file(jan, _file(tmp_path, "a.json", objects), exclusive=True)
    event.remove(alliance.app.db.engine, "before_cursor_execute", watch)
    assert len(dropped) == len(ALL_INDEXES) - 1  # the bulk load's path was taken: all but the key
    with alliance.app.db.read() as conn:
        assert _indexes(conn) == ALL_INDEXES
        assert conn.exec_driver_sql("SELECT count(*) FROM stix_object").scalar() == 0


def test_it_waits_for_the_writers_turn_before_taking_the_tables(
    alliance: Any, jan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """A writer that has the turn (the writers' advisory lock) and then reads the tables must not
    meet the bulk load's table lock: the two would wait for each other."""
    seen = _indexes_during_submit(monkeypatch)
    path = _file(tmp_path, "a.json", [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)])
    outcome: dict[str, Any] = {}

    def run_import() -> None:
        try:
            outcome["stored"] = alliance.app.import_file(jan, path, exclusive=True).result.stored
        except Exception as exc:  # reported below
            outcome["error"] = exc

    other = Database(database_url)
    with other.write() as writer:
        serialise_intel_writers(writer)  # this writer has the turn
        importer = threading.Thread(target=run_import)
        importer.start()
        time.sleep(1.0)  # the import is waiting for its turn by now
        assert importer.is_alive()
        # The writer goes on to use the tables: it must not wait for the import.
        assert writer.execute(select(stix_object.c.pk).limit(1)).all() == []
    importer.join(timeout=60)
    other.dispose()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["stored"] == 40
    assert seen[0] == {"pk_stix_object"}  # then it took the tables for the bulk load


def test_the_command_line_import_takes_the_bulk_load(
    alliance: Any, jan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    seen = _indexes_during_submit(monkeypatch)
    path = _file(tmp_path, "a.json", [ip_indicator(f"203.0.113.{i}", TLP.GREEN) for i in range(40)])
    data_dir = str(alliance.app.settings.data_dir)
    args = ["--database", database_url, "--data-dir", data_dir, "import", path, "--as", "jan@cert.pl"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["taken"]["stored"] == 40
    assert seen == [{"pk_stix_object"}]
    assert _found(alliance, ["203.0.113.7"]) == [True]
