"""The database: one engine per app, schema in schema.py, migrations under migrations/."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    CursorResult,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    inspect,
)
from sqlalchemy.exc import OperationalError

from accord.db.engine import CACHE_KB, PAGE_SIZE, is_sqlite, make_engine
from accord.db.schema import observable, stix_object
from accord.errors import Conflict, InvalidInput

BULK_CACHE_KB = 400_000  # 400 MB while a large import grows the random-order indexes
# A bulk load into an empty store appends rows and builds each index once at the end: a large cache
# only holds pages it never reads again, and CREATE INDEX sorts in cache-sized runs, which sort
# quicker small (and on the other core, with PRAGMA threads) than as one 400 MB run (bench/).
BULK_LOAD_CACHE_KB = 16_000
REBUILD_MIN_ROWS = 200_000  # below this, rebuilding an index costs more than it saves
PG_INDEX_BUILD_MEMORY = "256MB"  # maintenance_work_mem for a bulk load's index builds on PostgreSQL
BULK_LOCK = "bulk_lock"  # Connection.info key: this PostgreSQL transaction holds the intelligence tables
_SQLITE_ROWS_PER_INSERT = 500  # rows per INSERT statement (2,000 or 5,000 measured no different)

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = [
    "Database",
    "DatabaseFile",
    "bulk_insert",
    "is_bulk_load",
    "is_sqlite",
    "make_engine",
    "new_id",
    "sqlite_insert_rows",
    "tuned_for_bulk",
]


def new_id(result: CursorResult[object]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def serialise_intel_writers(conn: Connection) -> None:
    """Make intelligence writers take turns, so rows become visible in `date_added` order.

    Readers page by `date_added` (TAXII `added_after`, peers' cursors). If a writer stamped earlier
    could commit after a reader had paged past its stamp, that reader would never see its rows.
    SQLite writers already take turns (BEGIN IMMEDIATE); on PostgreSQL this transaction-scoped
    advisory lock does it. Call it before taking the time stamp."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7310)")


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    binary: bool = False,
) -> None:
    """Rows (tuples in `columns` order) straight to the driver: COPY on PostgreSQL, many rows to an
    INSERT statement on SQLite (`sqlite_insert_rows`). SQLAlchemy's per-row parameter processing
    would cost more than the database's own insert on the ingest path. Values must be what the
    driver takes (str, int, bool, bytes, None).
    `binary`: PostgreSQL's binary COPY, with each column's type from the table: no text to escape
    and parse (half the client's time, and less of the server's, on large texts); every value must
    then be of its column's exact Python type (an int for an integer column, a bool for a boolean)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(
            f'COPY "{table.name}" ({names}) FROM STDIN{" (FORMAT BINARY)" if binary else ""}'
        ) as copy:
            if binary:
                copy.set_types([_binary_type(table.c[c].type) for c in columns])
            for row in rows:
                copy.write_row(row)
        return
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    sqlite_insert_rows(conn, f'INSERT INTO "{table.name}" ({names}) VALUES', f"({marks})", rows)


def sqlite_insert_rows(conn: Connection, head: str, group: str, rows: list[tuple[Any, ...]]) -> None:
    """SQLite: `rows` inserted by `head` ("INSERT INTO t (a, b) VALUES") with `group` per row
    ("(?, ?)", constants allowed), hundreds of rows to a statement. A statement per row costs
    SQLite a step and the interpreter a lock hand-over per row: a third of the time of an insert of
    small rows, and more beside threads that want the interpreter."""
    if not rows:
        return
    driver = conn.connection.dbapi_connection
    assert isinstance(driver, sqlite3.Connection)
    variables = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # 32,766 since SQLite 3.32
    per = max(1, min(_SQLITE_ROWS_PER_INSERT, variables // max(1, group.count("?"))))
    full = len(rows) - len(rows) % per
    cursor = driver.cursor()
    try:
        if full:
            sql = f"{head} {', '.join([group] * per)}"
            flat = [list(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)]
            cursor.executemany(sql, flat)
        if full < len(rows):
            cursor.executemany(f"{head} {group}", rows[full:])
    finally:
        cursor.close()


def _binary_type(column_type: Any) -> str:
    """The PostgreSQL type a binary COPY sends a column's values as."""
    for sa_type, name in (
        (BigInteger, "int8"),
        (SmallInteger, "int2"),
        (Integer, "int4"),
        (Boolean, "bool"),
        (LargeBinary, "bytea"),
        (Float, "float8"),
        (String, "text"),  # varchar and text columns both take text
    ):
        if isinstance(column_type, sa_type):
            return name
    raise TypeError(f"no binary COPY type for {column_type!r}")


def is_bulk_load(expected_rows: int, empty_store: bool) -> bool:
    """Whether a submission of about `expected_rows` objects is a bulk load: large, into an empty
    intelligence store (`tuned_for_bulk`; `Database.write(exclusive=True)` is for these). On
    PostgreSQL it is one only when the transaction also holds the tables (`BULK_LOCK`)."""
    return empty_store and expected_rows >= REBUILD_MIN_ROWS


@contextmanager
def tuned_for_bulk(conn: Connection, expected_rows: int = 0, *, empty_store: bool = False) -> Iterator[bool]:
    """Settings for one bulk write transaction; yields True for a bulk load into an empty store.

    SQLite: a larger page cache while the random-order indexes (ids, values) grow. A large
    submission into an empty store is a bulk load: every secondary index of the intelligence
    tables (the unique version index included) is dropped and built once at the end, sorted, which
    costs a fraction of a million random insertions; the caller then finds repeats in memory, as
    no index can; it needs no large cache (`BULK_LOAD_CACHE_KB`). Otherwise, when the submission
    is larger than what is stored already, only the observable-value index is dropped and rebuilt.
    DDL is transactional in SQLite, so a failed import restores every index; other connections
    keep reading their snapshot, indexes included.
    PostgreSQL: rows inserted in this transaction have no statistics yet, so the planner would
    seq-scan a growing table for every batch's "which of these ids exist" (quadratic); index scans
    are always right for those lookups. A bulk load is one only when the transaction holds the
    intelligence tables alone (`BULK_LOCK`): dropping an index there locks out every reader until
    the commit, where SQLite's readers keep reading their snapshot.
    """
    bulk_load = is_bulk_load(expected_rows, empty_store)
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_LOAD_CACHE_KB if bulk_load else BULK_CACHE_KB}")
    else:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        bulk_load = bulk_load and bool(conn.info.get(BULK_LOCK))
        if bulk_load:  # the memory PostgreSQL's index builds sort in
            conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_BUILD_MEMORY}'")
    rebuild: list[Index] = []
    if bulk_load:
        rebuild = [*stix_object.indexes, *observable.indexes]
    elif sqlite and expected_rows >= REBUILD_MIN_ROWS:
        stored = conn.exec_driver_sql("SELECT max(rowid) FROM observable").scalar() or 0
        if expected_rows > stored:
            rebuild = [ix for ix in observable.indexes if ix.name == "ix_observable_value"]
    for index in rebuild:
        index.drop(conn)
    try:
        yield bulk_load
        if sqlite:  # the sorter behind CREATE INDEX may use helper threads; the other core is idle
            conn.exec_driver_sql(f"PRAGMA threads={min(4, os.cpu_count() or 1)}")
        for index in rebuild:
            index.create(conn)
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA threads=0")
            conn.exec_driver_sql(f"PRAGMA cache_size=-{CACHE_KB}")


class Database:
    """The engine plus the two ways in: `read()` and `write()` transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, exclusive: bool = False) -> Iterator[Connection]:
        """One transaction: everything in it is stored, or nothing is.

        `exclusive` (for a bulk load into an empty store). SQLite: if no other connection has the
        database open, this transaction writes with a rollback journal instead of the write-ahead
        log, so each page is written once, not twice (the log, then the checkpoint into the
        database file): a 1,000,000-object import commits in 1 s instead of 4. Connections opened
        meanwhile wait for it (the busy timeout). If another connection has it open, nothing
        changes. The journal is as atomic as the log: a crash mid-way leaves nothing.
        PostgreSQL: if no other transaction is using the intelligence tables, this one takes them
        alone (`BULK_LOCK`), so `tuned_for_bulk` may build their indexes once at the end; readers
        that come meanwhile wait for the commit. If another is using them, nothing changes."""
        with self.engine.connect() as conn:
            journal = exclusive and self.sqlite and _rollback_journal(conn)
            conn.info["writer"] = True
            try:
                with conn.begin():
                    if exclusive and not self.sqlite:
                        conn.info[BULK_LOCK] = _lock_intelligence(conn)
                    yield conn
            finally:
                conn.info.pop("writer", None)
                conn.info.pop(BULK_LOCK, None)
                if journal:
                    _write_ahead_log(conn)

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest migration; returns the revision."""
        from alembic import command

        cfg = _alembic_config(self)
        with self.engine.connect() as conn:
            # SQLite rebuilds a table to change a constraint; with foreign keys on, dropping the old
            # table would cascade to the rows pointing at it. Off for the upgrade (the pragma only
            # works outside a transaction), checked before commit, on again after.
            driver = conn.connection.driver_connection if self.sqlite else None
            if driver is not None:
                driver.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    if driver is not None and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise RuntimeError("the upgrade left rows pointing at rows that do not exist")
            finally:
                if driver is not None:
                    driver.execute("PRAGMA foreign_keys=ON")
        return self.revision() or "?"

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def compact(self) -> tuple[DatabaseFile, DatabaseFile]:
        """SQLite: rebuild the database file (VACUUM). Free pages go back to the disk, and the pages
        take today's size (`PAGE_SIZE`): a file otherwise keeps the size it was made with (4 KiB
        before 16 KiB became the default, which bulk loads and routing run quicker on).

        Changing the page size means leaving the write-ahead log for the time, so this needs the
        database to itself: while another connection has it open (a server, a worker, another
        command) it is refused at once, not waited for. The rebuild is one transaction: if it fails
        (say the disk fills: it needs free space up to twice the file), the file is as it was.
        Returns the file before and after."""
        if not self.sqlite:
            raise InvalidInput("compact is for SQLite; on PostgreSQL, the server's own VACUUM does this")
        path = self.engine.url.database
        if not path or path == ":memory:":
            raise InvalidInput("compact needs a database file, not one in memory")
        self.engine.dispose()  # this process's idle pooled connections are not "another connection"
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            before = DatabaseFile(driver.execute("PRAGMA page_size").fetchone()[0], os.path.getsize(path))
            if not _rollback_journal(conn):
                raise Conflict(
                    "the database is open elsewhere (a server, a worker, another command): stop them first"
                )
            try:
                driver.execute(f"PRAGMA page_size={PAGE_SIZE}")
                # The rebuilt copy goes to a temporary file, not memory: it is as large as the database.
                driver.execute("PRAGMA temp_store=FILE")
                driver.execute("VACUUM")
                page_size = driver.execute("PRAGMA page_size").fetchone()[0]
            finally:
                driver.execute("PRAGMA temp_store=MEMORY")
                _write_ahead_log(conn)
        self.engine.dispose()
        return before, DatabaseFile(page_size, os.path.getsize(path))

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class DatabaseFile:
    """A SQLite database file, as `Database.compact` reports it before and after."""

    page_size: int
    bytes: int


def _rollback_journal(conn: Connection) -> bool:
    """SQLite, outside a transaction: switch this connection to a rollback journal if no other
    connection has the database open (asked without waiting); True if it did."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    timeout = driver.execute("PRAGMA busy_timeout").fetchone()[0]
    driver.execute("PRAGMA busy_timeout=0")
    try:
        mode = driver.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.OperationalError:  # "database is locked": someone else has it open
        return False
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(timeout)}")
    return str(mode).lower() == "delete"


def _lock_intelligence(conn: Connection) -> bool:
    """PostgreSQL, at the start of a transaction: take the intelligence tables for this transaction
    alone if no other transaction is using them now (asked without waiting); True if it did.
    Writers take their turn first, as every intelligence writer does: holding the tables while
    waiting for the turn could deadlock with a writer that has the turn and wants the tables."""
    serialise_intel_writers(conn)
    try:
        with conn.begin_nested():  # a refusal rolls back to here, not the whole transaction
            conn.exec_driver_sql("LOCK TABLE stix_object, observable IN ACCESS EXCLUSIVE MODE NOWAIT")
    except OperationalError:  # lock_not_available: someone is reading or writing them
        return False
    return True


def _write_ahead_log(conn: Connection) -> None:
    """Back to the write-ahead log after an exclusive write. Should that fail, the connection is
    dropped rather than pooled in the wrong mode (the next one opened switches the file back)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    try:
        mode = driver.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    except sqlite3.OperationalError:
        mode = None
    if str(mode).lower() != "wal":
        conn.invalidate()


def _alembic_config(db: Database) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg
