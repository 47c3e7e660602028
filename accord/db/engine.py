"""Build the engine for a URL; SQLite gets WAL and the pragmas that make bulk writes fast and safe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from accord.errors import InvalidInput

CACHE_KB = 64_000  # SQLite page cache per connection (64 MB); bulk imports raise it for their transaction
# Pages of a new SQLite database (an existing one keeps the size it was made with). SQLite's 4 KiB
# default costs a bulk import a quarter more time than 16 KiB (bench/RESULTS.md): four times the
# page writes, splits and log frames for the same rows, and a deeper tree under each index.
PAGE_SIZE = 16_384


def _no_nul(params: Any) -> None:
    values = params.values() if isinstance(params, dict) else params
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("text may not contain NUL characters")
        if isinstance(value, (list, tuple)):
            _no_nul(value)


def _refuse_nul(engine: Engine) -> None:
    """PostgreSQL cannot store NUL in text; refuse it the same way on both engines, as bad input.

    Single statements are checked here (they carry names, filters, ids from requests); bulk
    `executemany` rows come only from the ingest path, whose values are validated JSON text.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
    ) -> None:
        if not executemany and parameters:
            _no_nul(parameters)


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception:
        raise InvalidInput(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (pysqlite's legacy implicit BEGIN is off).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL: a no-op once the file has pages
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA cache_size=-{CACHE_KB}")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock up front (IMMEDIATE): one writer, no failing read->write upgrades;
            # readers stay deferred so they never wait for a writer under WAL.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("writer") else "BEGIN")

        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        parsed = _without_jit(parsed)
        engine = create_engine(parsed, pool_pre_ping=True)
        _refuse_nul(engine)
        return engine
    raise InvalidInput(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql+psycopg://…")


_SETS_JIT = re.compile(r"(?:^|\s)(?:-c\s*|--)jit=")  # "-c jit=…", "-cjit=…", "--jit=…"


def _without_jit(url: URL) -> URL:
    """PostgreSQL sessions with JIT compilation off, unless the URL's `options` say otherwise.

    Every read filters through the policy's subqueries, whose estimated cost passes `jit_above_cost`
    on a large store, so PostgreSQL compiled each such query before running it: 50-70 ms of
    compiling for a lookup that then ran in 1-3 ms (200 values against 1M objects). Our queries are
    short index probes; JIT pays off only for long CPU-bound scans."""
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    if _SETS_JIT.search(options):
        return url
    return url.update_query_dict({"options": f"{options} -c jit=off".strip()})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
